//! The audience table: user key -> the funnels the user is in, with stage,
//! update time and expiry. Read on every bid request, written in batches.
//!
//! Design (see docs/ARCHITECTURE.md, "Audience table"): the table is 256
//! shards, each an immutable hash map behind an `Arc`, and the list of
//! shards is itself one immutable value behind an `ArcSwap`.
//! - A reader loads the list once per request (`Table::snapshot`): no lock,
//!   no allocation, and every lookup of that request sees the same
//!   published state.
//! - A writer groups a batch by shard, copies only the shards it touches,
//!   applies the batch to the copies, and publishes a new list that shares
//!   every untouched shard. Cost: O(batch + touched shards), never a copy of
//!   the whole table; a reader sees the whole batch or none of it.
//! - Expired entries read as absent; they are dropped whenever their shard
//!   is rewritten, and by [`Table::compact`].

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex};

use arc_swap::{ArcSwap, Guard};
use smallvec::SmallVec;

use crate::keys::UserKey;
use crate::stage::Stage;

/// Number of shards; a power of two (the top key bits pick the shard).
const SHARDS: usize = 256;

/// A funnel: one advertiser's view of the user's journey.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FunnelId(pub u32);

/// One funnel membership.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The funnel.
    pub funnel: FunnelId,
    /// The user's stage in it.
    pub stage: Stage,
    /// Unix seconds of the last change.
    pub updated: u32,
    /// Unix seconds from which the entry reads as absent; 0 = never.
    pub expires: u32,
}

impl Entry {
    /// Whether the entry is still valid at `now`.
    pub fn live(&self, now: u32) -> bool {
        self.expires == 0 || now < self.expires
    }
}

/// Keys are already keyed hashes: use them as their own hash.
#[derive(Default)]
struct KeyIsHash(u64);

impl Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type Entries = SmallVec<[Entry; 1]>;
type Shard = HashMap<u64, Entries, BuildHasherDefault<KeyIsHash>>;

/// One published state of the whole table.
#[derive(Clone)]
pub struct Shards {
    shards: Vec<Arc<Shard>>,
}

impl Shards {
    fn shard_of(key: UserKey) -> usize {
        (key.0 >> 56) as usize % SHARDS
    }

    /// The live entries of `key` at `now`.
    pub fn lookup(&self, key: UserKey, now: u32) -> impl Iterator<Item = &Entry> {
        self.shards[Shards::shard_of(key)]
            .get(&key.0)
            .into_iter()
            .flat_map(|e| e.iter())
            .filter(move |e| e.live(now))
    }

    /// The stage of `key` in `funnel`, if live.
    pub fn stage(&self, key: UserKey, funnel: FunnelId, now: u32) -> Option<Stage> {
        self.lookup(key, now)
            .find(|e| e.funnel == funnel)
            .map(|e| e.stage)
    }

    /// Users with at least one entry (live or not yet compacted).
    pub fn users(&self) -> usize {
        self.shards.iter().map(|s| s.len()).sum()
    }
}

/// A change to the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Put the user in the funnel at a stage (replacing any earlier entry).
    Upsert {
        /// Who.
        key: UserKey,
        /// The membership.
        entry: Entry,
    },
    /// Take the user out of the funnel.
    Remove {
        /// Who.
        key: UserKey,
        /// Which funnel.
        funnel: FunnelId,
    },
}

impl Change {
    fn key(&self) -> UserKey {
        match self {
            Change::Upsert { key, .. } | Change::Remove { key, .. } => *key,
        }
    }
}

/// The audience table.
pub struct Table {
    current: ArcSwap<Shards>,
    /// Serialises writers; readers never touch it.
    writer: Mutex<()>,
}

impl Default for Table {
    fn default() -> Table {
        Table::new()
    }
}

impl Table {
    /// An empty table.
    pub fn new() -> Table {
        let empty = Arc::new(Shard::default());
        Table {
            current: ArcSwap::from_pointee(Shards {
                shards: vec![empty; SHARDS],
            }),
            writer: Mutex::new(()),
        }
    }

    /// The current state, for the duration of one request.
    pub fn snapshot(&self) -> Guard<Arc<Shards>> {
        self.current.load()
    }

    /// Applies `batch` atomically: readers see all of it or none. Also
    /// drops `funnels_to_clear` entirely first (a "replace" upload clears
    /// its funnel and adds the new members in one batch), and drops expired
    /// entries of every shard it rewrites.
    pub fn apply(&self, funnels_to_clear: &[FunnelId], batch: &[Change], now: u32) {
        let _writer = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let old = self.current.load_full();
        let mut shards = old.shards.clone();
        let mut touched = [false; SHARDS];
        if !funnels_to_clear.is_empty() {
            touched = [true; SHARDS];
        }
        for c in batch {
            touched[Shards::shard_of(c.key())] = true;
        }
        // Group by shard without sorting the batch: one pass per touched
        // shard over a per-shard index list.
        let mut by_shard: Vec<Vec<usize>> = vec![Vec::new(); SHARDS];
        for (i, c) in batch.iter().enumerate() {
            by_shard[Shards::shard_of(c.key())].push(i);
        }
        for s in (0..SHARDS).filter(|s| touched[*s]) {
            let mut shard: Shard = (*shards[s]).clone();
            if !funnels_to_clear.is_empty() {
                for entries in shard.values_mut() {
                    entries.retain(|e| !funnels_to_clear.contains(&e.funnel));
                }
            }
            for &i in &by_shard[s] {
                match batch[i] {
                    Change::Upsert { key, entry } => {
                        let entries = shard.entry(key.0).or_default();
                        match entries.iter_mut().find(|e| e.funnel == entry.funnel) {
                            Some(e) => *e = entry,
                            None => entries.push(entry),
                        }
                    }
                    Change::Remove { key, funnel } => {
                        if let Some(entries) = shard.get_mut(&key.0) {
                            entries.retain(|e| e.funnel != funnel);
                        }
                    }
                }
            }
            shard.retain(|_, entries| {
                entries.retain(|e| e.live(now));
                !entries.is_empty()
            });
            shards[s] = Arc::new(shard);
        }
        self.current.store(Arc::new(Shards { shards }));
    }

    /// Rewrites every shard without its expired entries.
    pub fn compact(&self, now: u32) {
        let _writer = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let old = self.current.load_full();
        let shards = old
            .shards
            .iter()
            .map(|s| {
                let mut shard: Shard = (**s).clone();
                shard.retain(|_, entries| {
                    entries.retain(|e| e.live(now));
                    !entries.is_empty()
                });
                Arc::new(shard)
            })
            .collect();
        self.current.store(Arc::new(Shards { shards }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> UserKey {
        // Spread over shards like real hashes do.
        UserKey(i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    fn upsert(i: u64, funnel: u32, stage: Stage, expires: u32) -> Change {
        Change::Upsert {
            key: key(i),
            entry: Entry {
                funnel: FunnelId(funnel),
                stage,
                updated: 100,
                expires,
            },
        }
    }

    #[test]
    fn upserts_are_found_per_funnel_and_replace_earlier_stages() {
        let t = Table::new();
        t.apply(
            &[],
            &[
                upsert(1, 7, Stage::Awareness, 0),
                upsert(1, 8, Stage::Intent, 0),
            ],
            100,
        );
        t.apply(&[], &[upsert(1, 7, Stage::Customer, 0)], 100);
        let s = t.snapshot();
        assert_eq!(s.stage(key(1), FunnelId(7), 100), Some(Stage::Customer));
        assert_eq!(s.stage(key(1), FunnelId(8), 100), Some(Stage::Intent));
        assert_eq!(s.stage(key(2), FunnelId(7), 100), None);
        assert_eq!(s.users(), 1);
    }

    #[test]
    fn removed_and_expired_entries_read_as_absent() {
        let t = Table::new();
        t.apply(
            &[],
            &[
                upsert(1, 7, Stage::Intent, 0),
                upsert(2, 7, Stage::Intent, 150),
            ],
            100,
        );
        t.apply(
            &[],
            &[Change::Remove {
                key: key(1),
                funnel: FunnelId(7),
            }],
            100,
        );
        let s = t.snapshot();
        assert_eq!(s.stage(key(1), FunnelId(7), 100), None);
        assert_eq!(s.stage(key(2), FunnelId(7), 149), Some(Stage::Intent));
        assert_eq!(s.stage(key(2), FunnelId(7), 150), None);
        t.compact(200);
        assert_eq!(t.snapshot().users(), 0);
    }

    #[test]
    fn replacing_a_funnel_clears_its_old_members_only() {
        let t = Table::new();
        t.apply(
            &[],
            &[
                upsert(1, 7, Stage::Intent, 0),
                upsert(2, 7, Stage::Intent, 0),
                upsert(2, 9, Stage::Loyal, 0),
            ],
            100,
        );
        t.apply(&[FunnelId(7)], &[upsert(3, 7, Stage::Awareness, 0)], 100);
        let s = t.snapshot();
        assert_eq!(s.stage(key(1), FunnelId(7), 100), None);
        assert_eq!(s.stage(key(2), FunnelId(7), 100), None);
        assert_eq!(s.stage(key(2), FunnelId(9), 100), Some(Stage::Loyal));
        assert_eq!(s.stage(key(3), FunnelId(7), 100), Some(Stage::Awareness));
    }

    #[test]
    fn a_held_snapshot_is_unchanged_by_later_batches() {
        let t = Table::new();
        t.apply(&[], &[upsert(1, 7, Stage::Intent, 0)], 100);
        let before = t.snapshot();
        t.apply(&[], &[upsert(1, 7, Stage::Customer, 0)], 100);
        assert_eq!(before.stage(key(1), FunnelId(7), 100), Some(Stage::Intent));
        assert_eq!(
            t.snapshot().stage(key(1), FunnelId(7), 100),
            Some(Stage::Customer)
        );
    }

    #[test]
    fn concurrent_readers_see_a_whole_batch_or_none_of_it() {
        // Each batch moves all 2,000 users (spread over every shard) to one
        // stage; a reader that saw a mix would have seen half a batch.
        let t = Arc::new(Table::new());
        let users: Vec<u64> = (0..2_000).collect();
        let stages = [
            Stage::Awareness,
            Stage::Consideration,
            Stage::Intent,
            Stage::Customer,
        ];
        let batch =
            |stage| -> Vec<Change> { users.iter().map(|&u| upsert(u, 1, stage, 0)).collect() };
        t.apply(&[], &batch(Stage::Awareness), 100);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (t, stop, users) = (Arc::clone(&t), Arc::clone(&stop), users.clone());
                std::thread::spawn(move || {
                    let mut checks = 0;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let s = t.snapshot();
                        let first = s.stage(key(users[0]), FunnelId(1), 100);
                        for &u in &users {
                            assert_eq!(s.stage(key(u), FunnelId(1), 100), first, "mixed batches");
                        }
                        checks += 1;
                    }
                    checks
                })
            })
            .collect();
        for round in 0..40 {
            t.apply(&[], &batch(stages[round % stages.len()]), 100);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for r in readers {
            assert!(r.join().unwrap() > 0);
        }
    }
}
