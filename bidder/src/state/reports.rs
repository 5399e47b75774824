//! Counting bids and no-bids for reports. The seam is [`ReportSink`]; the
//! embedded implementation ([`ChannelReports`]) hands each answer's facts
//! to a bounded channel (never blocking, never allocating), and one worker
//! thread adds them up
//! per minute in memory (emptying the channel every 20 ms, without ever
//! being woken by a send) and writes the sums to the store every
//! `report_flush` (5 s by default). Events (wins, spend, impressions, clicks, conversions) are
//! added to the same rows by the store as it records them.
//!
//! # Consistency promise
//! - Reports may show fewer bids and no-bids than were answered (a full
//!   channel drops the fact and counts it,
//!   `bidder_report_facts_dropped_total`), never more.
//! - Sums are written within `report_flush` (5 s by default) and on
//!   shutdown; a crash loses at most that much of them.
//! - Spend is never counted here: it is the event log's.
//!
//! Why `dyn`: one indirect call per answer, next to a channel send.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use audiences::Stage;
use creative::assembly::ComboKey;

use crate::model::NoBidReason;
use crate::model::{CampaignId, UnixTime};
use crate::store::{NoBidKey, ReportKey, Store};

/// Where a request came from, as reports group it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The exchange's index in the configuration.
    pub exchange: u8,
    /// ISO-3166-1 alpha-3, uppercase, or zeros.
    pub country: [u8; 3],
    /// OpenRTB device type, or 0.
    pub device_type: u8,
}

/// One bid sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BidFact {
    /// The campaign.
    pub campaign: CampaignId,
    /// The user's stage, when known.
    pub stage: Option<Stage>,
    /// The assembled creative's combination.
    pub combo: Option<ComboKey>,
}

#[derive(Debug)]
enum Fact {
    Bid(UnixTime, Origin, BidFact),
    NoBid(UnixTime, Origin, NoBidReason),
    /// Write what has been summed now, then say so.
    Flush(std::sync::mpsc::SyncSender<()>),
}

/// Where the bid path counts what it answered.
pub trait ReportSink: Send + Sync {
    /// Counts a bid. Never blocks.
    fn bid(&self, at: UnixTime, origin: Origin, fact: BidFact);

    /// Counts a no-bid. Never blocks.
    fn no_bid(&self, at: UnixTime, origin: Origin, reason: NoBidReason);

    /// Writes every fact counted so far and returns once it is written (or
    /// after `within`). Blocks: for shutdown, never the bid path.
    fn flush(&self, within: Duration) -> bool;

    /// Facts dropped because they could not be kept up with.
    fn dropped(&self) -> u64;
}

/// The embedded sink: a bounded channel to a worker thread that sums per
/// minute and writes the sums to the store.
pub struct ChannelReports {
    tx: SyncSender<Fact>,
    /// Facts dropped because the channel was full.
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for ChannelReports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelReports").finish_non_exhaustive()
    }
}

impl ChannelReports {
    /// Starts the worker; `exchanges` names the exchanges by index. It
    /// runs until every sender is dropped, then writes what is left.
    pub fn start(
        store: Arc<Store>,
        exchanges: Vec<String>,
        capacity: usize,
        flush_every: Duration,
    ) -> ChannelReports {
        let (tx, rx) = sync_channel(capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        let worker = Worker {
            rx,
            store,
            exchanges,
            flush_every,
        };
        std::thread::Builder::new()
            .name("reports".into())
            .spawn(move || worker.run())
            .expect("spawn the report worker");
        ChannelReports { tx, dropped }
    }

    fn send(&self, fact: Fact) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(fact) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl ReportSink for ChannelReports {
    fn bid(&self, at: UnixTime, origin: Origin, fact: BidFact) {
        self.send(Fact::Bid(at, origin, fact));
    }

    fn flush(&self, within: Duration) -> bool {
        let (done, wait) = std::sync::mpsc::sync_channel(1);
        if self.tx.send(Fact::Flush(done)).is_err() {
            return false;
        }
        wait.recv_timeout(within).is_ok()
    }

    fn no_bid(&self, at: UnixTime, origin: Origin, reason: NoBidReason) {
        self.send(Fact::NoBid(at, origin, reason));
    }

    fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Reports kept in memory, for tests: every fact in order.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct MemoryReports {
    /// Bids counted, with when and where.
    pub bids: std::sync::Mutex<Vec<(UnixTime, Origin, BidFact)>>,
    /// No-bids counted.
    pub no_bids: std::sync::Mutex<Vec<(UnixTime, Origin, NoBidReason)>>,
}

#[cfg(test)]
impl ReportSink for MemoryReports {
    fn bid(&self, at: UnixTime, origin: Origin, fact: BidFact) {
        self.bids.lock().unwrap().push((at, origin, fact));
    }

    fn no_bid(&self, at: UnixTime, origin: Origin, reason: NoBidReason) {
        self.no_bids.lock().unwrap().push((at, origin, reason));
    }

    fn flush(&self, _within: Duration) -> bool {
        true
    }

    fn dropped(&self) -> u64 {
        0
    }
}

struct Worker {
    rx: Receiver<Fact>,
    store: Arc<Store>,
    exchanges: Vec<String>,
    flush_every: Duration,
}

/// How often the worker empties the channel: at 65,536 facts of capacity,
/// enough for over a million bids a second.
const DRAIN_EVERY: Duration = Duration::from_millis(20);

type BidSums = HashMap<(i64, Origin, BidFact), i64>;
type NoBidSums = HashMap<(i64, Origin, NoBidReason), i64>;

impl Worker {
    fn run(self) {
        crate::cold_path::lower_priority();
        let mut bids = BidSums::new();
        let mut no_bids = NoBidSums::new();
        let mut last = Instant::now();
        loop {
            // Polls rather than waits on the channel: a receiver parked on
            // it would make every bid's send a wake-up system call.
            std::thread::sleep(DRAIN_EVERY);
            let open = loop {
                match self.rx.try_recv() {
                    Ok(Fact::Bid(at, o, f)) => {
                        *bids.entry((at.0.div_euclid(60), o, f)).or_default() += 1
                    }
                    Ok(Fact::NoBid(at, o, r)) => {
                        *no_bids.entry((at.0.div_euclid(60), o, r)).or_default() += 1
                    }
                    Ok(Fact::Flush(done)) => {
                        self.flush(&mut bids, &mut no_bids);
                        last = Instant::now();
                        let _ = done.send(());
                    }
                    Err(TryRecvError::Empty) => break true,
                    Err(TryRecvError::Disconnected) => break false,
                }
            };
            if last.elapsed() >= self.flush_every || !open {
                self.flush(&mut bids, &mut no_bids);
                last = Instant::now();
            }
            if !open {
                return;
            }
        }
    }

    fn exchange(&self, i: u8) -> String {
        self.exchanges
            .get(usize::from(i))
            .cloned()
            .unwrap_or_else(|| i.to_string())
    }

    fn flush(&self, bids: &mut BidSums, no_bids: &mut NoBidSums) {
        if bids.is_empty() && no_bids.is_empty() {
            return;
        }
        let country = |c: [u8; 3]| {
            if c == [0; 3] {
                String::new()
            } else {
                String::from_utf8_lossy(&c).into_owned()
            }
        };
        let b: Vec<(ReportKey, i64)> = bids
            .drain()
            .map(|((minute, o, f), n)| {
                (
                    ReportKey {
                        minute,
                        campaign: f.campaign,
                        stage: f.stage,
                        combo: f.combo,
                        exchange: self.exchange(o.exchange),
                        country: country(o.country),
                        device_type: o.device_type,
                    },
                    n,
                )
            })
            .collect();
        let nb: Vec<(NoBidKey, i64)> = no_bids
            .drain()
            .map(|((minute, o, r), n)| {
                (
                    NoBidKey {
                        minute,
                        exchange: self.exchange(o.exchange),
                        country: country(o.country),
                        device_type: o.device_type,
                        reason: r.as_str(),
                    },
                    n,
                )
            })
            .collect();
        if let Err(e) = self.store.add_bid_counts(&b, &nb) {
            tracing::error!(error = %e, rows = b.len() + nb.len(), "report counts not written");
        }
    }
}
