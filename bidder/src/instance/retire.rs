//! Where replaced bid snapshots are freed: on a thread of their own under
//! `SCHED_IDLE` ([`crate::cold_path::idle_priority`]), not in the admin
//! write that replaced them. Freeing a snapshot releases every campaign it held (at 10,000 campaigns, 10,000
//! reference counts in as many heap blocks), which would otherwise add to
//! the latency of the write that published its successor.
//!
//! - Each snapshot is held until the next one arrives, so its last
//!   reference is never a bid thread's: by then no request still reads it.
//! - Bounded: at most [`DEPTH`] snapshots wait to be freed; a publish that
//!   finds the queue full waits for the thread, so a burst of writes cannot
//!   pile up old snapshots in memory.
//! - Never on the bid path: only the snapshot builder (cold path) sends.

use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};

use crate::bid::Snapshot;

/// Snapshots that may wait to be freed before a publish waits.
pub(crate) const DEPTH: usize = 2;

/// Hands replaced snapshots to the thread that frees them.
pub(crate) struct Retirer {
    /// The freeing thread's queue; `None` when it could not be started.
    queue: Option<SyncSender<Arc<Snapshot>>>,
    /// Without the thread: the last replaced snapshot, freed here at the
    /// next publish.
    held: Option<Arc<Snapshot>>,
}

impl Retirer {
    /// Starts the freeing thread; it ends when the `Retirer` is dropped.
    /// Where no thread can be started, snapshots are freed by the caller
    /// of [`Retirer::retire`], one publish later.
    pub(crate) fn start() -> Retirer {
        let (queue, arrivals) = sync_channel::<Arc<Snapshot>>(DEPTH);
        let started = std::thread::Builder::new()
            .name("snapshot-retire".into())
            .spawn(move || {
                crate::cold_path::idle_priority();
                let mut held = None;
                for snapshot in arrivals {
                    // Frees the one before it.
                    held = Some(snapshot);
                }
                drop(held);
            });
        if let Err(e) = &started {
            tracing::warn!(error = %e, "no thread to free snapshots on; the publisher frees them");
        }
        Retirer {
            queue: started.is_ok().then_some(queue),
            held: None,
        }
    }

    /// `snapshot` was replaced: freed once the next one is.
    pub(crate) fn retire(&mut self, snapshot: Arc<Snapshot>) {
        let undelivered = match &self.queue {
            Some(queue) => queue.send(snapshot).err().map(|e| e.0),
            None => Some(snapshot),
        };
        if let Some(snapshot) = undelivered {
            self.held = Some(snapshot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bid::Settings;
    use crate::bid::fx::FxRates;
    use crate::model::{Catalog, UnixTime};
    use crate::state::budget::Ledger;

    fn snapshot() -> Arc<Snapshot> {
        let settings = Settings {
            public_url: "http://bidder.test".into(),
            fx: FxRates::default(),
            bid_ttl_secs: None,
            creative: Default::default(),
            move_ttl_secs: 60,
            privacy_url: None,
        };
        let budgets = Ledger::new(600, None);
        Arc::new(Snapshot::build(
            &Catalog::default(),
            &settings,
            &budgets,
            UnixTime(0),
        ))
    }

    #[test]
    fn a_retired_snapshot_is_held_until_the_next_and_then_freed() {
        let mut retirer = Retirer::start();
        let (first, second) = (snapshot(), snapshot());
        let (weak_first, weak_second) = (Arc::downgrade(&first), Arc::downgrade(&second));
        retirer.retire(first);
        retirer.retire(second);
        // The thread frees the first once it has taken the second; the
        // second waits for a third.
        let freed = (0..1_000).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(1));
            weak_first.strong_count() == 0
        });
        assert!(freed, "the first is freed after the second arrives");
        assert_eq!(weak_second.strong_count(), 1, "the second is held");
        drop(retirer);
        let gone = (0..1_000).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(1));
            weak_second.strong_count() == 0
        });
        assert!(gone, "and freed when the retirer goes");
    }
}
