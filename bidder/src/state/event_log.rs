//! The event log: where every accepted notice and tracker call is recorded
//! and counted once. The seam is [`EventLog`]; the embedded implementation
//! is the SQLite store's event table.
//!
//! # Consistency promise
//! - **Durable when it returns.** `record` commits the batch (and the
//!   report counts, spend and learning counts it adds to) before it
//!   returns; an event it returned `Ok` for survives `kill -9`.
//! - **Exactly once per bid and kind.** A second record of the same bid
//!   and kind (a replayed notice, a retried batch) is kept out of every
//!   count and says so: [`Recorded::fresh`] is false for it.
//! - Whole batch or nothing: an error means none of the batch was
//!   recorded, and the caller may retry it.

use crate::model::EventRecord;
use crate::state::StateError;
use crate::store::{Recorded, Store};

/// Where events are recorded, once each.
pub trait EventLog: Send + Sync {
    /// Records `batch`, in order; per event, whether it was new and
    /// whether it settles a bid.
    fn record(&self, batch: &[EventRecord]) -> Result<Vec<Recorded>, StateError>;
}

impl EventLog for Store {
    fn record(&self, batch: &[EventRecord]) -> Result<Vec<Recorded>, StateError> {
        Ok(self.record_events(batch)?)
    }
}

/// An event log in memory for tests: counts each (bid, kind) once, keeps
/// everything recorded, and can be told to fail.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct MemoryLog {
    /// Every event recorded, and whether it was a conflict.
    seen: std::sync::Mutex<Vec<(EventRecord, bool)>>,
    /// When set, every `record` fails (a store that went away).
    pub failing: std::sync::atomic::AtomicBool,
}

#[cfg(test)]
impl MemoryLog {
    /// Every event recorded, replays included, in order.
    pub fn recorded(&self) -> Vec<EventRecord> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.iter().map(|(e, _)| e.clone()).collect()
    }
}

#[cfg(test)]
impl EventLog for MemoryLog {
    fn record(&self, batch: &[EventRecord]) -> Result<Vec<Recorded>, StateError> {
        use crate::model::EventKind;
        use std::sync::atomic::Ordering;
        if self.failing.load(Ordering::Relaxed) {
            return Err(StateError::Unavailable("the memory log is failing".into()));
        }
        // Won (win, bill) or lost; other kinds are no outcome.
        let won = |k: EventKind| match k {
            EventKind::Win | EventKind::Bill => Some(true),
            EventKind::Loss => Some(false),
            _ => None,
        };
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::with_capacity(batch.len());
        for e in batch {
            let earlier = |f: &dyn Fn(&EventRecord) -> bool| {
                seen.iter()
                    .any(|(s, conflict)| !conflict && s.bid == e.bid && f(s))
            };
            let fresh = !seen.iter().any(|(s, _)| s.bid == e.bid && s.kind == e.kind);
            let conflict =
                fresh && won(e.kind).is_some_and(|w| earlier(&|s| won(s.kind) == Some(!w)));
            let settles = fresh && !conflict && e.settles && !earlier(&|s| s.settles);
            seen.push((
                EventRecord {
                    settles,
                    ..e.clone()
                },
                conflict,
            ));
            out.push(Recorded {
                fresh,
                settles,
                conflict,
            });
        }
        Ok(out)
    }
}
