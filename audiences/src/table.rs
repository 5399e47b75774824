//! The audience table: user key -> the funnels the user is in, with stage,
//! update time and expiry. Read on every bid request, written in batches.
//!
//! Design (see docs/ARCHITECTURE.md, "Audience table"):
//! - The table is 1,024 shards (by the top bits of the key), each an
//!   immutable sorted array behind an `Arc`; the list of shards is itself
//!   one immutable value behind an `ArcSwap`.
//! - A reader loads the list once per request ([`Table::snapshot`]): no
//!   lock, no allocation, and every lookup of that request sees the same
//!   published state.
//! - A writer groups a batch by shard, merges each touched shard with its
//!   part of the batch into a new array and publishes a new list that
//!   shares every untouched shard. Cost: O(batch + touched shards), never
//!   a copy of the whole table; a reader sees the whole batch or none.
//! - Memory and cache misses are what matter at ten million users, so a
//!   shard is one sorted array with gaps (a user's key and first entry in
//!   24 bytes, found from its home slot in one cache line) plus an array of
//!   further entries: about 32 bytes per user with 1.5 entries each,
//!   rather than a hash map of small vectors (about 70).
//! - Expired entries read as absent; they are dropped whenever their shard
//!   is rewritten, and by [`Table::compact`].
//!
//! Never blocks readers; writers are serialised by a mutex only writers take.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::{ArcSwap, Guard};

use crate::keys::UserKey;
use crate::stage::Stage;

/// log2 of the number of shards; the top key bits pick the shard.
const SHARD_BITS: u32 = 10;
const SHARDS: usize = 1 << SHARD_BITS;

/// A funnel: one advertiser's view of the user's journey. Ids must be below
/// [`FunnelId::LIMIT`]: the stage shares the entry's word.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct FunnelId(pub u32);

impl FunnelId {
    /// Funnel ids are below 2^29.
    pub const LIMIT: u32 = 1 << 29;
}

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

/// An [`Entry`] in 12 bytes: funnel id and stage share one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Packed {
    funnel_stage: u32,
    updated: u32,
    expires: u32,
}

impl Packed {
    fn pack(e: Entry) -> Packed {
        Packed {
            funnel_stage: (e.funnel.0 & (FunnelId::LIMIT - 1)) << 3 | e.stage as u32,
            updated: e.updated,
            expires: e.expires,
        }
    }

    fn funnel(self) -> FunnelId {
        FunnelId(self.funnel_stage >> 3)
    }

    fn unpack(self) -> Entry {
        Entry {
            funnel: self.funnel(),
            // Only `pack` writes the low bits, from a valid stage.
            stage: Stage::ALL[(self.funnel_stage & 7) as usize % Stage::ALL.len()],
            updated: self.updated,
            expires: self.expires,
        }
    }

    fn live(self, now: u32) -> bool {
        self.expires == 0 || now < self.expires
    }
}

/// Extra entries a user may have beyond the first: a user is in at most 32
/// funnels; past that, an upsert drops the least recently updated entry.
const MAX_EXTRA: usize = 31;

/// One user in a shard: the key, the first entry inline and where the
/// others are (`extra`: index << 5 | count, or [`Slot::EMPTY`]).
#[derive(Clone, Copy, Debug)]
struct Slot {
    key: u64,
    first: Packed,
    extra: u32,
}

impl Slot {
    const EMPTY: u32 = u32::MAX;
    const VACANT: Slot = Slot {
        key: 0,
        first: Packed {
            funnel_stage: 0,
            updated: 0,
            expires: 0,
        },
        extra: Slot::EMPTY,
    };

    fn is_empty(&self) -> bool {
        self.extra == Slot::EMPTY
    }
}

/// One shard: a sorted array with gaps. Each key sits at its home slot
/// (its bits below the shard bits scaled to the array length) or, when
/// that is taken, right after the key before it, so the array stays sorted
/// and the run from a key's home to the key has no gap. A lookup reads
/// from the home slot until it finds the key, a larger key or a gap: at
/// load 0.92 usually the first or second slot, one cache line. Users with
/// more than one entry keep the others in `overflow`.
#[derive(Default)]
struct Shard {
    slots: Box<[Slot]>,
    /// Home slots are `0..homes`; later slots take the spill of the last.
    homes: usize,
    overflow: Box<[Packed]>,
}

impl Shard {
    /// Fraction of home slots filled (in 1/100).
    const LOAD_PERCENT: usize = 92;

    fn home(key: u64, homes: usize) -> usize {
        (((key << SHARD_BITS) as u128 * homes as u128) >> 64) as usize
    }

    fn find(&self, key: u64) -> Option<&Slot> {
        let from = Shard::home(key, self.homes);
        for slot in self.slots.get(from..)? {
            if slot.is_empty() || slot.key > key {
                return None;
            }
            if slot.key == key {
                return Some(slot);
            }
        }
        None
    }

    /// The entries of `slot` (first, then the overflow).
    fn entries<'s>(&'s self, slot: &'s Slot) -> impl Iterator<Item = Packed> + 's {
        let n = (slot.extra & 31) as usize;
        let at = (slot.extra >> 5) as usize;
        std::iter::once(slot.first).chain(self.overflow[at..at + n].iter().copied())
    }

    fn occupied(&self) -> impl Iterator<Item = &Slot> {
        self.slots.iter().filter(|s| !s.is_empty())
    }

    fn users(&self) -> usize {
        self.occupied().count()
    }

    fn bytes(&self) -> usize {
        std::mem::size_of_val(&*self.slots) + std::mem::size_of_val(&*self.overflow)
    }

    /// Adds every entry's (funnel, stage) to `counts`, with `sign`.
    fn count_into(&self, counts: &mut HashMap<FunnelId, [i64; 6]>, sign: i64) {
        for slot in self.occupied() {
            for p in self.entries(slot) {
                counts.entry(p.funnel()).or_default()[(p.funnel_stage & 7) as usize % 6] += sign;
            }
        }
    }
}

/// Builds shards from users pushed in ascending key order. One builder is
/// reused for every shard of a load or a batch: its buffers grow once, and
/// each shard then gets exactly-sized arrays, so rebuilding ten million
/// users leaves no freed garbage behind for the allocator to hold on to.
#[derive(Default)]
struct ShardBuilder {
    sorted: Vec<Slot>,
    overflow: Vec<Packed>,
}

impl ShardBuilder {
    /// Adds `key` with `entries` (skipped when empty; at most 32).
    fn push(&mut self, key: u64, entries: &[Packed]) {
        let Some((&first, rest)) = entries.split_first() else {
            return;
        };
        let extra = if rest.is_empty() {
            0
        } else {
            let at = self.overflow.len() as u32;
            self.overflow.extend_from_slice(rest);
            at << 5 | rest.len() as u32
        };
        self.sorted.push(Slot { key, first, extra });
    }

    /// Adds `slot` of `shard` with its entries as they are.
    fn push_copy(&mut self, shard: &Shard, slot: &Slot) {
        let n = (slot.extra & 31) as usize;
        let extra = if n == 0 {
            0
        } else {
            let at = (slot.extra >> 5) as usize;
            let to = self.overflow.len() as u32;
            self.overflow.extend_from_slice(&shard.overflow[at..at + n]);
            to << 5 | n as u32
        };
        self.sorted.push(Slot { extra, ..*slot });
    }

    /// The shard of the users pushed since the last call; empties the
    /// builder.
    fn finish(&mut self) -> Shard {
        let n = self.sorted.len();
        let homes = n * 100 / Shard::LOAD_PERCENT + usize::from(n > 0);
        // Allocate the exact length up front: a shrinking reallocation would
        // leave a shard-sized hole behind for every shard.
        let len = self
            .sorted
            .iter()
            .fold(0, |next, s| Shard::home(s.key, homes).max(next) + 1)
            .max(homes);
        let mut slots = Vec::with_capacity(len);
        for s in self.sorted.drain(..) {
            let at = Shard::home(s.key, homes).max(slots.len());
            slots.resize(at, Slot::VACANT);
            slots.push(s);
        }
        slots.resize(slots.len().max(homes), Slot::VACANT);
        let overflow = Box::from(self.overflow.as_slice());
        self.overflow.clear();
        Shard {
            slots: slots.into_boxed_slice(),
            homes,
            overflow,
        }
    }
}

/// One published state of the whole table.
#[derive(Clone)]
pub struct Shards {
    shards: Vec<Arc<Shard>>,
    /// Entries per funnel and stage (live or not yet compacted).
    counts: Arc<HashMap<FunnelId, [i64; 6]>>,
}

impl Shards {
    fn shard_of(key: UserKey) -> usize {
        (key.0 >> (64 - SHARD_BITS)) as usize
    }

    /// The live entries of `key` at `now`.
    pub fn lookup(&self, key: UserKey, now: u32) -> impl Iterator<Item = Entry> + '_ {
        let shard = &self.shards[Shards::shard_of(key)];
        shard
            .find(key.0)
            .into_iter()
            .flat_map(|slot| shard.entries(slot))
            .filter(move |p| p.live(now))
            .map(|p| p.unpack())
    }

    /// The stage of `key` in `funnel`, if live.
    pub fn stage(&self, key: UserKey, funnel: FunnelId, now: u32) -> Option<Stage> {
        self.lookup(key, now)
            .find(|e| e.funnel == funnel)
            .map(|e| e.stage)
    }

    /// Users with at least one entry (live or not yet compacted).
    pub fn users(&self) -> usize {
        self.shards.iter().map(|s| s.users()).sum()
    }

    /// Every live entry at `now`, in ascending key order (a user's
    /// entries one after the other): what a copy of the table needs.
    pub fn entries(&self, now: u32) -> impl Iterator<Item = (UserKey, Entry)> + '_ {
        self.shards.iter().flat_map(move |shard| {
            shard.occupied().flat_map(move |slot| {
                shard
                    .entries(slot)
                    .filter(move |p| p.live(now))
                    .map(move |p| (UserKey(slot.key), p.unpack()))
            })
        })
    }

    /// Members of `funnel` per stage, in funnel order (expired entries count
    /// until their shard is next rewritten).
    pub fn counts(&self, funnel: FunnelId) -> [u64; 6] {
        self.counts
            .get(&funnel)
            .map(|c| c.map(|n| n.max(0) as u64))
            .unwrap_or_default()
    }

    /// Bytes held by the shards' arrays.
    pub fn heap_bytes(&self) -> usize {
        self.shards.iter().map(|s| s.bytes()).sum()
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
    /// Snapshots published so far (for `/metrics`).
    published: std::sync::atomic::AtomicU64,
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
                counts: Arc::default(),
            }),
            published: Default::default(),
            writer: Mutex::new(()),
        }
    }

    /// The current state, for the duration of one request.
    pub fn snapshot(&self) -> Guard<Arc<Shards>> {
        self.current.load()
    }

    /// How many snapshots have been published since the table was made.
    pub fn version(&self) -> u64 {
        self.published.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Applies `batch` atomically: readers see all of it or none; of two
    /// changes to the same user and funnel the later one wins. Also drops
    /// `funnels_to_clear` entirely first (a funnel that is deleted, or
    /// replaced by the members in `batch`), and drops expired entries of
    /// every shard it rewrites.
    pub fn apply(&self, funnels_to_clear: &[FunnelId], batch: &[Change], now: u32) {
        let _writer = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let old = self.current.load_full();
        // Sorting indices (stable) groups the batch by shard and by key
        // while keeping batch order within a key.
        let mut order: Vec<u32> = (0..batch.len() as u32).collect();
        order.sort_by_key(|&i| batch[i as usize].key().0);
        let mut shards = old.shards.clone();
        let mut counts = (*old.counts).clone();
        let mut rest = order.as_slice();
        let mut builder = ShardBuilder::default();
        for (s, shard) in shards.iter_mut().enumerate() {
            let n = rest
                .iter()
                .take_while(|&&i| Shards::shard_of(batch[i as usize].key()) == s)
                .count();
            let (mine, tail) = rest.split_at(n);
            rest = tail;
            if mine.is_empty() && funnels_to_clear.is_empty() {
                continue;
            }
            let merged = Arc::new(merge(
                &mut builder,
                shard,
                Pending {
                    batch,
                    order: mine,
                    clear: funnels_to_clear,
                    now,
                },
                &mut counts,
            ));
            *shard = merged;
        }
        counts.retain(|_, c| c.iter().any(|&n| n != 0));
        self.published
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.current.store(Arc::new(Shards {
            shards,
            counts: Arc::new(counts),
        }));
    }

    /// Replaces the whole content with `rows`, which must come in ascending
    /// key order (as the store reads them). Builds each shard once, so a
    /// start-up load of millions of users leaves no garbage behind; of two
    /// rows for the same user and funnel the later wins; expired rows are
    /// skipped. Returns the number of users.
    pub fn load(
        &self,
        rows: impl IntoIterator<Item = (UserKey, Entry)>,
        now: u32,
    ) -> Result<usize, Unsorted> {
        let _writer = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut shards: Vec<Arc<Shard>> = Vec::with_capacity(SHARDS);
        let mut counts = HashMap::new();
        let mut builder = ShardBuilder::default();
        let mut user: Vec<Packed> = Vec::with_capacity(MAX_EXTRA + 2);
        let mut pending: Option<u64> = None;
        let mut users = 0;
        let finish = |builder: &mut ShardBuilder,
                      shards: &mut Vec<Arc<Shard>>,
                      counts: &mut HashMap<FunnelId, [i64; 6]>| {
            let shard = builder.finish();
            shard.count_into(counts, 1);
            shards.push(Arc::new(shard));
        };
        for (key, entry) in rows {
            if let Some(prev) = pending {
                if key.0 < prev {
                    return Err(Unsorted);
                }
                if key.0 != prev {
                    users += usize::from(!user.is_empty());
                    push_user(&mut builder, prev, &mut user);
                }
            }
            while shards.len() < Shards::shard_of(key) {
                finish(&mut builder, &mut shards, &mut counts);
            }
            pending = Some(key.0);
            if entry.live(now) {
                let packed = Packed::pack(entry);
                match user.iter_mut().find(|p| p.funnel() == entry.funnel) {
                    Some(p) => *p = packed,
                    None => user.push(packed),
                }
            }
        }
        if let Some(prev) = pending {
            users += usize::from(!user.is_empty());
            push_user(&mut builder, prev, &mut user);
        }
        finish(&mut builder, &mut shards, &mut counts);
        while shards.len() < SHARDS {
            shards.push(Arc::new(Shard::default()));
        }
        self.published
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.current.store(Arc::new(Shards {
            shards,
            counts: Arc::new(counts),
        }));
        Ok(users)
    }

    /// Publishes `other`'s whole content as this table's: a table built
    /// aside (a copy loaded from elsewhere) replaces this one at once, or
    /// not at all if the build failed.
    pub fn replace_with(&self, other: Table) {
        let _writer = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.published
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.current.store(other.current.load_full());
    }

    /// Rewrites every shard without its expired entries.
    pub fn compact(&self, now: u32) {
        let _writer = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let old = self.current.load_full();
        let mut counts = (*old.counts).clone();
        let mut builder = ShardBuilder::default();
        let shards = old
            .shards
            .iter()
            .map(|s| {
                let nothing = Pending {
                    batch: &[],
                    order: &[],
                    clear: &[],
                    now,
                };
                Arc::new(merge(&mut builder, s, nothing, &mut counts))
            })
            .collect();
        counts.retain(|_, c| c.iter().any(|&n| n != 0));
        self.published
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.current.store(Arc::new(Shards {
            shards,
            counts: Arc::new(counts),
        }));
    }
}

/// Keeps the 32 most recently updated of one user's entries.
fn keep_most_recent(user: &mut Vec<Packed>) {
    if user.len() > MAX_EXTRA + 1 {
        user.sort_by_key(|p| std::cmp::Reverse(p.updated));
        user.truncate(MAX_EXTRA + 1);
    }
}

/// Pushes one user's entries (at most 32, the most recently updated) and
/// empties `user`.
fn push_user(out: &mut ShardBuilder, key: u64, user: &mut Vec<Packed>) {
    keep_most_recent(user);
    out.push(key, user);
    user.clear();
}

/// [`Table::load`] was given keys out of order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("audience rows must come in ascending key order")]
pub struct Unsorted;

/// What [`merge`] applies to one shard.
#[derive(Clone, Copy)]
struct Pending<'a> {
    /// The whole batch.
    batch: &'a [Change],
    /// The indices into `batch` of this shard's changes, sorted by key
    /// (batch order within a key).
    order: &'a [u32],
    /// Funnels whose every entry is dropped.
    clear: &'a [FunnelId],
    /// Entries expired at this time are dropped.
    now: u32,
}

/// `old` with `pending` applied, without the funnels it clears and without
/// entries expired at its `now`. Moves `counts` by what changed only: a
/// user the batch does not name, with every entry live and kept, is copied
/// as it is and costs no count update, so a small batch into a large shard
/// costs a copy of the shard rather than a recount of every entry.
fn merge(
    out: &mut ShardBuilder,
    old: &Shard,
    pending: Pending<'_>,
    counts: &mut HashMap<FunnelId, [i64; 6]>,
) -> Shard {
    let Pending {
        batch,
        order,
        clear,
        now,
    } = pending;
    let mut olds = old.occupied().peekable();
    let mut user: Vec<Packed> = Vec::with_capacity(MAX_EXTRA + 2);
    let mut j = 0;
    loop {
        let old_key = olds.peek().map(|s| s.key);
        let new_key = order.get(j).map(|&k| batch[k as usize].key().0);
        let key = match (old_key, new_key) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => break,
        };
        user.clear();
        if old_key == Some(key)
            && let Some(slot) = olds.next()
        {
            let kept = |p: &Packed| p.live(now) && !clear.contains(&p.funnel());
            if new_key != Some(key) && old.entries(slot).all(|p| kept(&p)) {
                out.push_copy(old, slot);
                continue;
            }
            for p in old.entries(slot) {
                count(counts, p, -1);
                if kept(&p) {
                    user.push(p);
                }
            }
        }
        while let Some(&k) = order.get(j) {
            let change = &batch[k as usize];
            if change.key().0 != key {
                break;
            }
            match *change {
                Change::Upsert { entry, .. } => {
                    let packed = Packed::pack(entry);
                    match user.iter_mut().find(|p| p.funnel() == entry.funnel) {
                        Some(p) => *p = packed,
                        None => user.push(packed),
                    }
                }
                Change::Remove { funnel, .. } => user.retain(|p| p.funnel() != funnel),
            }
            j += 1;
        }
        user.retain(|p| p.live(now));
        keep_most_recent(&mut user);
        for &p in &user {
            count(counts, p, 1);
        }
        out.push(key, &user);
    }
    out.finish()
}

/// Adds `sign` to the count of `p`'s funnel and stage.
fn count(counts: &mut HashMap<FunnelId, [i64; 6]>, p: Packed, sign: i64) {
    counts.entry(p.funnel()).or_default()[(p.funnel_stage & 7) as usize % 6] += sign;
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
    fn every_live_entry_comes_out_in_key_order_and_loads_into_an_equal_copy() {
        let t = Table::new();
        let batch: Vec<Change> = (0..500)
            .flat_map(|i| {
                [
                    upsert(i, 7, Stage::Awareness, 0),
                    upsert(
                        i,
                        8 + (i % 3) as u32,
                        Stage::Loyal,
                        if i % 5 == 0 { 150 } else { 0 },
                    ),
                ]
            })
            .collect();
        t.apply(&[], &batch, 100);
        let now = 200;
        let out: Vec<(UserKey, Entry)> = t.snapshot().entries(now).collect();
        assert!(out.windows(2).all(|w| w[0].0 <= w[1].0), "key order");
        assert_eq!(out.len(), 500 + 400, "expired entries left out");
        let copy = Table::new();
        copy.load(out.iter().copied(), now).unwrap();
        let target = Table::new();
        target.apply(&[], &[upsert(9_999, 1, Stage::Intent, 0)], now);
        target.replace_with(copy);
        let (a, b) = (t.snapshot(), target.snapshot());
        for i in 0..500 {
            let mine: Vec<Entry> = a.lookup(key(i), now).collect();
            assert_eq!(b.lookup(key(i), now).collect::<Vec<_>>(), mine);
        }
        assert_eq!(
            b.stage(key(9_999), FunnelId(1), now),
            None,
            "replaced whole"
        );
        assert_eq!(b.counts(FunnelId(7))[Stage::Awareness.index()], 500);
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
    fn counts_follow_upserts_moves_removals_and_replacements() {
        let t = Table::new();
        t.apply(
            &[],
            &[
                upsert(1, 7, Stage::Intent, 0),
                upsert(2, 7, Stage::Intent, 0),
                upsert(3, 7, Stage::Loyal, 0),
                upsert(3, 9, Stage::Awareness, 0),
            ],
            100,
        );
        assert_eq!(t.snapshot().counts(FunnelId(7)), [0, 0, 0, 2, 0, 1]);
        t.apply(
            &[],
            &[
                upsert(1, 7, Stage::Customer, 0),
                Change::Remove {
                    key: key(2),
                    funnel: FunnelId(7),
                },
            ],
            100,
        );
        assert_eq!(t.snapshot().counts(FunnelId(7)), [0, 0, 0, 0, 1, 1]);
        t.apply(&[FunnelId(7)], &[], 100);
        assert_eq!(t.snapshot().counts(FunnelId(7)), [0; 6]);
        assert_eq!(t.snapshot().counts(FunnelId(9)), [0, 1, 0, 0, 0, 0]);
    }

    #[test]
    fn counts_equal_a_recount_after_batches_expiries_and_clears() {
        let t = Table::new();
        let recount = |t: &Table| {
            let s = t.snapshot();
            let mut counts = HashMap::new();
            for shard in &s.shards {
                shard.count_into(&mut counts, 1);
            }
            counts.retain(|_, c: &mut [i64; 6]| c.iter().any(|&n| n != 0));
            counts
        };
        // Users in two funnels, some expiring at 150, then batches that
        // move, remove and add users as time passes the expiry.
        for (round, now) in [(0u64, 100), (1, 120), (2, 160), (3, 170)] {
            let batch: Vec<Change> = (0..3_000u64)
                .filter(|i| (i + round) % 4 != 0)
                .map(|i| match (i + round) % 7 {
                    0 => Change::Remove {
                        key: key(i),
                        funnel: FunnelId(1),
                    },
                    n => upsert(
                        i,
                        1 + (n % 2) as u32,
                        Stage::ALL[(n as usize + round as usize) % 6],
                        if i % 5 == 0 { 150 } else { 0 },
                    ),
                })
                .collect();
            t.apply(&[], &batch[..batch.len() / 2], now);
            t.apply(&[], &batch[batch.len() / 2..], now);
            assert_eq!(*t.snapshot().counts, recount(&t), "round {round}");
        }
        t.apply(&[FunnelId(2)], &[upsert(1, 1, Stage::Loyal, 0)], 170);
        assert_eq!(*t.snapshot().counts, recount(&t));
        assert_eq!(t.snapshot().counts(FunnelId(2)), [0; 6]);
        t.compact(170);
        assert_eq!(*t.snapshot().counts, recount(&t));
    }

    #[test]
    fn the_last_change_to_a_user_in_a_batch_wins() {
        let t = Table::new();
        t.apply(
            &[],
            &[
                upsert(5, 7, Stage::Intent, 0),
                upsert(5, 7, Stage::Loyal, 0),
                Change::Remove {
                    key: key(6),
                    funnel: FunnelId(7),
                },
                upsert(6, 7, Stage::Awareness, 0),
            ],
            100,
        );
        let s = t.snapshot();
        assert_eq!(s.stage(key(5), FunnelId(7), 100), Some(Stage::Loyal));
        assert_eq!(s.stage(key(6), FunnelId(7), 100), Some(Stage::Awareness));
    }

    #[test]
    fn every_key_of_a_large_table_is_found_and_no_other() {
        // Enough users per shard for a multi-bucket directory.
        let t = Table::new();
        let batch: Vec<Change> = (0..50_000)
            .map(|i| upsert(i, 1 + (i % 3) as u32, Stage::ALL[(i % 6) as usize], 0))
            .collect();
        t.apply(&[], &batch, 100);
        let s = t.snapshot();
        for i in 0..50_000 {
            assert_eq!(
                s.stage(key(i), FunnelId(1 + (i % 3) as u32), 100),
                Some(Stage::ALL[(i % 6) as usize])
            );
        }
        for i in 50_000..60_000 {
            assert_eq!(s.lookup(key(i), 100).count(), 0);
        }
        assert_eq!(s.users(), 50_000);
        // A 24-byte slot per user at load 0.92, no overflow here.
        assert!(s.heap_bytes() < 50_000 * 30, "{} bytes", s.heap_bytes());
    }

    #[test]
    fn a_sorted_load_equals_the_same_rows_applied_as_a_batch() {
        let rows: Vec<(UserKey, Entry)> = {
            let mut r: Vec<(UserKey, Entry)> = (0..20_000u64)
                .flat_map(|i| {
                    let e = |f: u32, exp: u32| Entry {
                        funnel: FunnelId(f),
                        stage: Stage::ALL[(i % 6) as usize],
                        updated: 100,
                        expires: exp,
                    };
                    [
                        (key(i), e(1, 0)),
                        (key(i), e(2, if i % 5 == 0 { 50 } else { 0 })),
                    ]
                })
                .collect();
            r.sort_by_key(|(k, _)| k.0);
            r
        };
        let loaded = Table::new();
        assert_eq!(loaded.load(rows.iter().copied(), 100), Ok(20_000));
        let applied = Table::new();
        let batch: Vec<Change> = rows
            .iter()
            .map(|&(key, entry)| Change::Upsert { key, entry })
            .collect();
        applied.apply(&[], &batch, 100);
        let (a, b) = (loaded.snapshot(), applied.snapshot());
        for i in 0..21_000 {
            let la: Vec<Entry> = a.lookup(key(i), 100).collect();
            let lb: Vec<Entry> = b.lookup(key(i), 100).collect();
            assert_eq!(la, lb, "user {i}");
        }
        assert_eq!(a.counts(FunnelId(2)), b.counts(FunnelId(2)));
        assert_eq!(a.users(), b.users());

        let mut unsorted = rows.clone();
        unsorted.swap(0, 1000);
        assert_eq!(Table::new().load(unsorted, 100), Err(Unsorted));
    }

    #[test]
    fn a_user_keeps_the_32_most_recently_updated_funnels() {
        let t = Table::new();
        let batch: Vec<Change> = (0..40u32)
            .map(|f| Change::Upsert {
                key: key(1),
                entry: Entry {
                    funnel: FunnelId(f),
                    stage: Stage::Intent,
                    updated: 1_000 + f,
                    expires: 0,
                },
            })
            .collect();
        t.apply(&[], &batch, 100);
        let s = t.snapshot();
        assert_eq!(s.lookup(key(1), 100).count(), 32);
        assert_eq!(s.stage(key(1), FunnelId(7), 100), None);
        assert_eq!(s.stage(key(1), FunnelId(39), 100), Some(Stage::Intent));
    }

    #[test]
    fn entries_pack_and_unpack_unchanged() {
        for stage in Stage::ALL {
            let e = Entry {
                funnel: FunnelId(FunnelId::LIMIT - 1),
                stage,
                updated: u32::MAX,
                expires: 12,
            };
            assert_eq!(Packed::pack(e).unpack(), e);
        }
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
