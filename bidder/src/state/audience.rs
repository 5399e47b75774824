//! The bidder's audiences: the in-memory table the bid path reads, and the
//! writes that change it. The seam is [`Audiences`]; [`Audience`] is the
//! embedded implementation, the table kept equal to the members in the
//! SQLite store.
//!
//! # Consistency promise
//! - **Reads never wait.** The bid path reads a snapshot of the table
//!   ([`Table::snapshot`]): no lock, and every lookup of one request sees
//!   the same state; a writer's batch is seen whole or not at all.
//! - **Durable before visible.** Every change is committed to the store
//!   first and then applied to the table, so a member the bid path sees
//!   survives `kill -9`; a change is visible to the next request after
//!   its write returns.
//! - Expired members read as absent from the second they expire, and are
//!   swept from the store and the table every sweep.
//!
//! At start the table is rebuilt from the store in key order. The user
//! keys are hashed with a secret the store makes once, so keys in the store
//! and in requests agree across restarts. Expiry is read from the injected
//! clock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use audiences::keys::{KeyHasher, UserKey};
use audiences::table::{Change, Entry, FunnelId, Table};

use crate::state::StateError;
use crate::state::clock::SharedClock;
use crate::store::{Member, Store, StoreError};

/// The audiences the bid path reads and the cold path writes.
pub trait Audiences: Send + Sync {
    /// Hot path: the table (take one [`Table::snapshot`] per request).
    fn table(&self) -> &Table;

    /// How user ids become keys.
    fn hasher(&self) -> &KeyHasher;

    /// Unix seconds now, as the table counts them (expiry).
    fn now_secs(&self) -> u32;

    /// Puts one user in `funnel` (durable, then visible).
    fn put_member(&self, funnel: FunnelId, m: &Member) -> Result<(), StateError>;

    /// Takes one user out of `funnel`; false if it was not in it.
    fn delete_member(&self, funnel: FunnelId, key: UserKey) -> Result<bool, StateError>;

    /// Moves users forward in funnels: each `(funnel, key, stage)` puts the
    /// user at `stage` unless already there or further along. A new member
    /// stays `ttl_secs`. Returns how many moved.
    fn advance(
        &self,
        moves: &[(FunnelId, UserKey, audiences::Stage)],
        ttl_secs: u32,
    ) -> Result<usize, StateError>;

    /// After `removed` funnels and `changes` were committed elsewhere (an
    /// upload's chunk): makes them visible.
    fn apply(&self, removed: &[FunnelId], changes: &[Change]);

    /// Deletes expired members; how many.
    fn sweep(&self) -> Result<u64, StateError>;
}

/// What rebuilding the table at start found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    /// Users in the table.
    pub users: usize,
    /// Expired members deleted from the store first.
    pub expired: u64,
    /// Upload jobs the previous run left running, now marked interrupted.
    pub interrupted_jobs: u64,
    /// How long it took.
    pub took: Duration,
}

/// The audience table and the store behind it.
pub struct Audience {
    table: Arc<Table>,
    hasher: KeyHasher,
    store: Arc<Store>,
    clock: SharedClock,
}

impl std::fmt::Debug for Audience {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audience").finish_non_exhaustive()
    }
}

impl Audience {
    /// Rebuilds the table from `store`: marks jobs the last run left
    /// running as interrupted, drops expired members, and loads the rest
    /// in key order.
    pub fn open(store: Arc<Store>, clock: SharedClock) -> Result<(Audience, Loaded), StoreError> {
        let started = Instant::now();
        let hasher = KeyHasher::new(store.audience_secret()?);
        let interrupted_jobs = store.interrupt_running_jobs()?;
        let now = clock.now_secs();
        let expired = store.delete_expired_members(now)?;
        let table = Table::new();
        let users = store
            .load_audience(now, |rows| table.load(rows, now))?
            .map_err(|_unsorted| {
                // Only a schema without its primary key could do this.
                StoreError::Corrupt("audience_members does not read back in key order")
            })?;
        Ok((
            Audience {
                table: Arc::new(table),
                hasher,
                store,
                clock,
            },
            Loaded {
                users,
                expired,
                interrupted_jobs,
                took: started.elapsed(),
            },
        ))
    }

    /// The store (for upload jobs).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }
}

impl Audiences for Audience {
    fn table(&self) -> &Table {
        &self.table
    }

    fn hasher(&self) -> &KeyHasher {
        &self.hasher
    }

    fn now_secs(&self) -> u32 {
        self.clock.now_secs()
    }

    fn put_member(&self, funnel: FunnelId, m: &Member) -> Result<(), StateError> {
        self.store.put_member(funnel, m)?;
        self.apply(
            &[],
            &[Change::Upsert {
                key: m.key,
                entry: entry(funnel, m),
            }],
        );
        Ok(())
    }

    /// Of several moves of one user in one funnel, the furthest counts; an
    /// existing member keeps its expiry. All moves are written in one
    /// transaction, then published to the table in one batch: one `fsync`
    /// and one table update however many moves a burst of events brings.
    fn advance(
        &self,
        moves: &[(FunnelId, UserKey, audiences::Stage)],
        ttl_secs: u32,
    ) -> Result<usize, StateError> {
        let now = self.now_secs();
        let mut furthest: Vec<(FunnelId, UserKey, audiences::Stage)> = moves.to_vec();
        furthest.sort_unstable_by_key(|&(f, k, s)| (f.0, k.0, std::cmp::Reverse(s)));
        furthest.dedup_by_key(|&mut (f, k, _)| (f.0, k.0));
        let table = self.table.snapshot();
        let mut members = Vec::new();
        for (funnel, key, to) in furthest {
            if table.stage(key, funnel, now).is_some_and(|s| s >= to) {
                continue;
            }
            let expires = match self.store.member(funnel, key)? {
                Some(m) if m.expires == 0 || m.expires > now => m.expires,
                _ => now.saturating_add(ttl_secs),
            };
            let member = Member {
                key,
                stage: to,
                updated: now,
                expires,
            };
            members.push((funnel, member));
        }
        if members.is_empty() {
            return Ok(0);
        }
        self.store.put_members(&members)?;
        let changes: Vec<Change> = members
            .iter()
            .map(|(funnel, m)| Change::Upsert {
                key: m.key,
                entry: entry(*funnel, m),
            })
            .collect();
        self.table.apply(&[], &changes, now);
        Ok(members.len())
    }

    fn delete_member(&self, funnel: FunnelId, key: UserKey) -> Result<bool, StateError> {
        let found = self.store.delete_member(funnel, key)?;
        self.apply(&[], &[Change::Remove { key, funnel }]);
        Ok(found)
    }

    fn apply(&self, removed: &[FunnelId], changes: &[Change]) {
        self.table.apply(removed, changes, self.now_secs());
    }

    fn sweep(&self) -> Result<u64, StateError> {
        let now = self.now_secs();
        let n = self.store.delete_expired_members(now)?;
        self.table.compact(now);
        Ok(n)
    }
}

/// The table entry of a stored member.
pub fn entry(funnel: FunnelId, m: &Member) -> Entry {
    Entry {
        funnel,
        stage: m.stage,
        updated: m.updated,
        expires: m.expires,
    }
}

/// Audiences in memory for tests: the table and a map of members, no
/// store; every write is kept so a test can see what the code under test
/// moved.
#[cfg(test)]
pub struct MemoryAudiences {
    table: Table,
    hasher: KeyHasher,
    now: u32,
    /// Every member, by funnel and key.
    pub members: std::sync::Mutex<std::collections::HashMap<(u32, u64), Member>>,
}

#[cfg(test)]
impl MemoryAudiences {
    /// Empty audiences whose clock stands at `now`.
    pub fn at(now: u32) -> MemoryAudiences {
        MemoryAudiences {
            table: Table::new(),
            hasher: KeyHasher::new([7; 16]),
            now,
            members: Default::default(),
        }
    }

    fn put(&self, funnel: FunnelId, m: Member) {
        self.table.apply(
            &[],
            &[Change::Upsert {
                key: m.key,
                entry: entry(funnel, &m),
            }],
            self.now,
        );
        self.members.lock().unwrap().insert((funnel.0, m.key.0), m);
    }
}

#[cfg(test)]
impl Audiences for MemoryAudiences {
    fn table(&self) -> &Table {
        &self.table
    }

    fn hasher(&self) -> &KeyHasher {
        &self.hasher
    }

    fn now_secs(&self) -> u32 {
        self.now
    }

    fn put_member(&self, funnel: FunnelId, m: &Member) -> Result<(), StateError> {
        self.put(funnel, *m);
        Ok(())
    }

    fn delete_member(&self, funnel: FunnelId, key: UserKey) -> Result<bool, StateError> {
        self.table
            .apply(&[], &[Change::Remove { key, funnel }], self.now);
        Ok(self
            .members
            .lock()
            .unwrap()
            .remove(&(funnel.0, key.0))
            .is_some())
    }

    fn advance(
        &self,
        moves: &[(FunnelId, UserKey, audiences::Stage)],
        ttl_secs: u32,
    ) -> Result<usize, StateError> {
        let mut moved = 0;
        for &(funnel, key, to) in moves {
            let current = self
                .members
                .lock()
                .unwrap()
                .get(&(funnel.0, key.0))
                .copied();
            if current.is_some_and(|m| m.stage >= to) {
                continue;
            }
            let expires = current.map_or(self.now.saturating_add(ttl_secs), |m| m.expires);
            self.put(
                funnel,
                Member {
                    key,
                    stage: to,
                    updated: self.now,
                    expires,
                },
            );
            moved += 1;
        }
        Ok(moved)
    }

    fn apply(&self, removed: &[FunnelId], changes: &[Change]) {
        self.table.apply(removed, changes, self.now);
    }

    fn sweep(&self) -> Result<u64, StateError> {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::clock::SystemClock;
    use audiences::Stage;

    #[test]
    fn a_sweep_drops_expired_members_from_store_table_and_counts() {
        let store = Arc::new(Store::open_in_memory().unwrap());
        let (_, funnel) = store.test_funnel();
        let (aud, _) = Audience::open(Arc::clone(&store), Arc::new(SystemClock)).unwrap();
        let now = aud.now_secs();
        let member = |k, expires| Member {
            key: UserKey(k),
            stage: Stage::Intent,
            updated: now,
            expires,
        };
        aud.put_member(funnel, &member(1, now - 1)).unwrap();
        aud.put_member(funnel, &member(2, 0)).unwrap();
        assert_eq!(aud.table.snapshot().stage(UserKey(1), funnel, now), None);
        assert_eq!(aud.sweep().unwrap(), 1);
        assert!(store.member(funnel, UserKey(1)).unwrap().is_none());
        assert_eq!(
            aud.table.snapshot().counts(funnel)[Stage::Intent.index()],
            1
        );
    }

    #[test]
    fn a_burst_of_moves_goes_forward_only_in_one_batch_and_on_disk() {
        let store = Arc::new(Store::open_in_memory().unwrap());
        let (_, funnel) = store.test_funnel();
        let (aud, _) = Audience::open(Arc::clone(&store), Arc::new(SystemClock)).unwrap();
        let now = aud.now_secs();
        aud.put_member(
            funnel,
            &Member {
                key: UserKey(3),
                stage: Stage::Customer,
                updated: now,
                expires: 0,
            },
        )
        .unwrap();
        let version = aud.table.version();
        let moves = [
            (funnel, UserKey(1), Stage::Awareness),
            (funnel, UserKey(1), Stage::Consideration),
            (funnel, UserKey(1), Stage::Awareness),
            (funnel, UserKey(2), Stage::Awareness),
            // Never back: user 3 is a customer already.
            (funnel, UserKey(3), Stage::Awareness),
        ];
        assert_eq!(aud.advance(&moves, 3_600).unwrap(), 2);
        assert_eq!(aud.table.version(), version + 1, "one table update");
        let table = aud.table.snapshot();
        assert_eq!(
            table.stage(UserKey(1), funnel, now),
            Some(Stage::Consideration)
        );
        assert_eq!(table.stage(UserKey(2), funnel, now), Some(Stage::Awareness));
        assert_eq!(table.stage(UserKey(3), funnel, now), Some(Stage::Customer));
        let on_disk = store.member(funnel, UserKey(1)).unwrap().unwrap();
        assert_eq!(on_disk.stage, Stage::Consideration);
        assert_eq!(on_disk.expires, now + 3_600);
    }
}
