//! What a counted impression or click changes beyond the event log, on
//! the cold path: a bounded channel and one worker thread that counts
//! impressions for frequency caps (their single writer), makes the
//! funnel moves they call for ([`Effects`]) and, when impressions or
//! clicks taught the learner something, republishes the bid snapshot, at
//! most once per `learning_republish`.
//!
//! Events reach it only once they are recorded ([`super::writer`]: the
//! endpoint answers after that), so it never writes the event log and a
//! full channel never loses an event: sending never blocks, and when the
//! channel is full the effects of that event are dropped and counted
//! (`bidder_events_dropped_total`); the event itself stays counted.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use super::apply::{Effects, Reaction};
use crate::metrics::EventCounters;
use crate::model::{EventKind, EventRecord};
use crate::state::catalog::CatalogSource;

/// Most events applied in one go.
const BATCH: usize = 1024;

/// How long the worker lets events gather after the first of a group:
/// this delays only their effects (one impression's frequency count on
/// this instance included), by at most this much.
const GATHER: Duration = Duration::from_millis(10);

/// What travels to the worker.
enum Message {
    Event(EventRecord),
    /// Apply everything sent before this, then say so.
    Flush(SyncSender<()>),
}

/// The sending end; cheap to share.
pub struct EventSink {
    tx: SyncSender<Message>,
    counters: Arc<EventCounters>,
}

impl EventSink {
    /// Starts the worker. It runs until every sender is dropped, then
    /// applies what is left and publishes once more if needed.
    pub fn start(
        capacity: usize,
        learning_republish: Duration,
        catalog: Arc<dyn CatalogSource>,
        counters: Arc<EventCounters>,
        effects: Arc<Effects>,
    ) -> EventSink {
        let (tx, rx) = sync_channel(capacity);
        let worker = Worker {
            rx,
            effects,
            learning_republish,
            catalog,
            counters: Arc::clone(&counters),
        };
        std::thread::Builder::new()
            .name("events".into())
            .spawn(move || worker.run())
            .expect("spawn the event worker");
        EventSink { tx, counters }
    }

    /// Applies every event queued so far and returns once done (or after
    /// `within`). Blocks: for shutdown, never a request.
    pub fn flush(&self, within: Duration) -> bool {
        let (done, wait) = sync_channel(1);
        if self.tx.send(Message::Flush(done)).is_err() {
            return false;
        }
        wait.recv_timeout(within).is_ok()
    }

    /// Queues the effects of `event`, recorded and counted for the first
    /// time; `false` when the channel was full (its effects are dropped
    /// and counted) or the worker is gone.
    pub fn send(&self, event: EventRecord) -> bool {
        // Counted before sending so the worker's decrement cannot run first.
        self.counters.depth.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(Message::Event(event)) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.counters.depth.fetch_sub(1, Ordering::Relaxed);
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }
}

struct Worker {
    rx: Receiver<Message>,
    effects: Arc<Effects>,
    learning_republish: Duration,
    catalog: Arc<dyn CatalogSource>,
    counters: Arc<EventCounters>,
}

impl Worker {
    fn run(self) {
        crate::cold_path::lower_priority();
        let mut batch = Vec::with_capacity(BATCH);
        // Since when learnt counts wait to be published.
        let mut pending: Option<Instant> = None;
        let mut open = true;
        while open {
            let wait = match pending {
                Some(since) => self.learning_republish.saturating_sub(since.elapsed()),
                None => Duration::from_secs(3600),
            };
            // Flush requests wait for the batch they arrived behind.
            let mut flushed = Vec::new();
            match self.rx.recv_timeout(wait) {
                Ok(Message::Event(e)) => {
                    batch.push(e);
                    // Let a group gather: one transaction (one fsync) per
                    // GATHER instead of one per event, and no wake-up per
                    // send while this thread sleeps.
                    std::thread::sleep(GATHER);
                }
                Ok(Message::Flush(done)) => flushed.push(done),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
            while batch.len() < BATCH {
                match self.rx.try_recv() {
                    Ok(Message::Event(e)) => batch.push(e),
                    Ok(Message::Flush(done)) => {
                        flushed.push(done);
                        break;
                    }
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                self.counters
                    .depth
                    .fetch_sub(batch.len() as i64, Ordering::Relaxed);
                if self.apply(&batch) {
                    pending.get_or_insert_with(Instant::now);
                }
                batch.clear();
            }
            let due = pending.is_some_and(|since| since.elapsed() >= self.learning_republish);
            if (due || !open || !flushed.is_empty()) && pending.take().is_some() {
                // The learning counts are in the catalog: publishing it
                // hands the snapshot what the events taught.
                if let Err(e) = self.catalog.changed() {
                    tracing::error!(error = %e, "learnt counts not published");
                }
            }
            for done in flushed {
                let _ = done.send(());
            }
        }
    }

    /// Applies `batch`, each counted for the first time; whether it
    /// taught the learner something new.
    fn apply(&self, batch: &[EventRecord]) -> bool {
        let mut learnt = false;
        let mut moves = Vec::new();
        for e in batch {
            learnt |=
                matches!(e.kind, EventKind::Impression | EventKind::Click) && e.combo.is_some();
            self.effects.count_impression(e);
            let reaction = match e.kind {
                EventKind::Impression => Reaction::Impression,
                EventKind::Click => Reaction::Click,
                _ => continue,
            };
            if let (Some(user), Some(adv)) = (e.user_key, self.effects.advertiser(e.campaign)) {
                self.effects
                    .moves_for(adv, audiences::keys::UserKey(user), reaction, &mut moves);
            }
        }
        self.effects.advance(&moves);
        learnt
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use arc_swap::ArcSwap;
    use audiences::Stage;

    use super::*;
    use crate::bid::{FxRates, Settings, Snapshot};
    use crate::model::UnixTime;
    use crate::state::audience::MemoryAudiences;
    use crate::state::budget::doubles::Counting;
    use crate::state::catalog::MemoryCatalog;
    use crate::state::frequency::doubles::MapCounts;

    #[test]
    fn a_counted_impression_moves_its_user_and_is_counted_for_caps() {
        let store = crate::store::Store::open_in_memory().unwrap();
        crate::control::demo::seed_if_empty(&store, "http://bidder.test").unwrap();
        let catalog = store.load_catalog().unwrap();
        let campaign = catalog.campaigns[0].id;
        let funnels: Vec<u32> = catalog
            .funnels
            .iter()
            .filter(|f| f.advertiser_id == catalog.campaigns[0].advertiser_id)
            .map(|f| f.id.0)
            .collect();
        assert!(!funnels.is_empty(), "the demo advertiser has a funnel");
        let now = UnixTime::now();
        let settings = Settings {
            public_url: "http://bidder.test".into(),
            fx: FxRates::default(),
            bid_ttl_secs: None,
            creative: Default::default(),
            move_ttl_secs: 3_600,
            privacy_url: None,
        };
        let budgets = Arc::new(Counting::default());
        let snapshot = Snapshot::build(&catalog, &settings, &*budgets, now);
        let audience = Arc::new(MemoryAudiences::at(now.0 as u32));
        let frequency = Arc::new(MapCounts::default());
        let effects = Arc::new(Effects {
            snapshot: Arc::new(ArcSwap::from_pointee(snapshot)),
            audience: Arc::clone(&audience) as _,
            budgets,
            frequency: Arc::clone(&frequency) as _,
            move_ttl_secs: 3_600,
            late: AtomicU64::new(0),
            moved: AtomicU64::new(0),
        });
        let sink = EventSink::start(
            16,
            Duration::from_secs(60),
            Arc::new(MemoryCatalog::default()),
            Arc::new(EventCounters::default()),
            Arc::clone(&effects),
        );
        let shown = EventRecord::test_impression(campaign, 42, now);
        assert!(sink.send(shown));
        assert!(sink.flush(Duration::from_secs(5)));

        let members = audience.members.lock().unwrap();
        for f in funnels {
            assert_eq!(members[&(f, 42)].stage, Stage::Awareness, "funnel {f}");
        }
        assert_eq!(effects.moved.load(Ordering::Relaxed), members.len() as u64);
        // Once for the campaign's caps and once for its advertiser's.
        assert_eq!(frequency.writes.load(Ordering::Relaxed), 2);
    }
}
