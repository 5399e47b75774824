//! A frequency double for tests: every count in a map behind a mutex, and
//! a count of reads, so a test can tell what the code under test looked at
//! and prove it wrote nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use audiences::keys::UserKey;

use super::{FrequencyCounts, Seen, Subject, clamp};
use crate::model::UnixTime;
use crate::state::calendar::Calendar;

/// Counts in a map; reads counted.
#[derive(Debug, Default)]
pub struct MapCounts {
    seen: Mutex<HashMap<(u64, Subject), Seen>>,
    /// Calls of [`FrequencyCounts::seen`].
    pub reads: AtomicU64,
    /// Calls of [`FrequencyCounts::record`].
    pub writes: AtomicU64,
}

impl FrequencyCounts for MapCounts {
    fn seen(&self, user: UserKey, subject: Subject) -> Seen {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let map = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(user.0, subject)).copied().unwrap_or_default()
    }

    fn record(&self, user: UserKey, subject: Subject, at: UnixTime, cal: &Calendar) {
        self.writes.fetch_add(1, Ordering::Relaxed);
        let mut map = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry((user.0, subject)).or_default();
        *entry = entry.plus_one(clamp(at), cal);
    }
}
