//! Audiences across a fleet. Every member write goes through the control
//! instance, which persists it in SQLite as an embedded bidder does
//! (single-user writes, uploads, funnel moves from the events it
//! consumes) and then publishes it: into a copy of the member set in
//! Redis and onto a change stream. A bid instance loads the whole copy
//! at start and then follows the stream into the table its bid path
//! reads. Users are keyed hashes (the control's secret) in every key,
//! field and entry: never a raw id.
//!
//! The copy is versioned by generation: the control instance writes a
//! complete new generation at start (and once a [`REPUBLISH_EVERY`], or
//! after its queue overflowed while Redis was away), switches
//! `{a}:gen` to it with a marker on the stream in one step, and deletes
//! the old one. A generation is a hash per funnel and bucket (the top
//! byte of the user hash, [`BUCKETS`] of them), every funnel's hash of a
//! bucket in one cluster slot: a bid instance reads bucket after bucket,
//! each with one pipeline of `HSCAN`s, so the rows come in key order and
//! feed [`Table::load`] without holding the whole set in memory twice.
//!
//! # Consistency promise
//! - **A member change is visible on every instance within 2 s** while
//!   Redis is up: the control hands it to its publisher at once; a bid
//!   instance's blocking stream read returns as it lands.
//! - **Durable before published, whole or not at all.** A change reaches
//!   Redis only after its SQLite commit; a bid instance applies a stream
//!   entry (up to [`PER_ENTRY`] changes) in one table update and swaps a
//!   loaded generation in whole, so the bid path never sees half a load.
//! - **Start-up**: a bid instance reads the generation and the stream's
//!   last id in one step, loads that generation, then applies every entry
//!   after that id: the control writes a change's hashes before its
//!   entry, so every change is in the copy or after the id (applied
//!   twice at most, in order: idempotent). `/readyz` says 200 only once
//!   the first load is in. Ten million members load within 60 s in a
//!   release build (28 s measured, `loadtest/fleet_ab.sh ready`; see
//!   docs/PERFORMANCE.md).
//! - **Redis down**: bid instances keep their table; the control queues
//!   changes (at most [`MAX_QUEUED`]; past that it drops the queue and
//!   writes a new generation once Redis answers). A bid instance that
//!   fell behind the capped stream ([`KEEP`] entries) notices (the
//!   stream's deleted-entry mark passed its position) and reloads.
//! - **The control instance down**: bid instances keep the members they
//!   hold; nothing changes them until it returns and writes a new
//!   generation, which they load.
//! - Expired members read as absent everywhere from their expiry; they
//!   leave Redis with the next generation.
//! - A value under our keys that does not read (a foreign or corrupt
//!   member, stream entry or generation) is logged, counted
//!   (`bidder_redis_bad_values_total`) and skipped; never a panic.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use audiences::Stage;
use audiences::keys::{KeyHasher, UserKey};
use audiences::table::{Change, Entry, FunnelId, Shards, Table};

use super::client::{Batch, Redis};
use super::keys;
use crate::state::StateError;
use crate::state::audience::{Audience, Audiences};
use crate::state::clock::SharedClock;
use crate::store::Member;

/// Buckets of a generation: the top byte of the keyed user hash.
pub const BUCKETS: usize = 256;
/// Stream entries kept (approximately: Redis trims in whole nodes).
pub const KEEP: u64 = 10_000;
/// Most changes in one stream entry.
pub const PER_ENTRY: usize = 1_000;
/// Most changes the control publishes in one go.
const BATCH: usize = 50_000;
/// Most changes the control queues while Redis is away; past that it
/// writes a new generation once Redis answers.
pub const MAX_QUEUED: usize = 2_000_000;
/// How often the control writes a new generation (dropping expired
/// members from Redis).
pub const REPUBLISH_EVERY: Duration = Duration::from_secs(24 * 3_600);
/// Fields asked for per `HSCAN`.
const SCAN_COUNT: usize = 2_000;
/// Funnels scanned per pipeline.
const SCANS_PER_PIPELINE: usize = 64;
/// Members written per `HSET` of a generation.
const FIELDS_PER_HSET: usize = 1_000;
/// Members written per round of a generation.
const FIELDS_PER_ROUND: usize = 100_000;
/// Stream entries read at once.
const READ_COUNT: usize = 100;
/// How often a bid instance checks how far behind the stream it is (and
/// that it has not fallen behind its cap).
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Pause after an error.
const RETRY_AFTER: Duration = Duration::from_millis(250);

/// The bucket of `key`.
pub fn bucket(key: UserKey) -> usize {
    (key.0 >> 56) as usize
}

/// A member's value in a generation's hash: stage, updated, expires.
fn member_value(e: &Entry) -> [u8; 9] {
    let mut v = [0u8; 9];
    v[0] = e.stage as u8;
    v[1..5].copy_from_slice(&e.updated.to_be_bytes());
    v[5..9].copy_from_slice(&e.expires.to_be_bytes());
    v
}

/// A member read back from `funnel`'s hash; none when it does not read.
fn read_member(funnel: FunnelId, field: &[u8], value: &[u8]) -> Option<(UserKey, Entry)> {
    let key = UserKey(u64::from_be_bytes(field.try_into().ok()?));
    let value: &[u8; 9] = value.try_into().ok()?;
    let stage = *Stage::ALL.get(usize::from(value[0]))?;
    Some((
        key,
        Entry {
            funnel,
            stage,
            updated: u32::from_be_bytes(value[1..5].try_into().ok()?),
            expires: u32::from_be_bytes(value[5..9].try_into().ok()?),
        },
    ))
}

/// One member change, as the control instance publishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// The user is in the entry's funnel, as the entry says.
    Put(UserKey, Entry),
    /// The user left the funnel.
    Remove(FunnelId, UserKey),
    /// Every member left the funnel (it was deleted).
    Clear(FunnelId),
}

/// Bytes of one encoded [`Op`].
const OP_LEN: usize = 22;

/// `ops` as a stream entry carries them: per op a tag (`p`, `r`, `c`),
/// the funnel, the key, stage, updated and expires (big-endian).
pub fn encode(ops: &[Op]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ops.len() * OP_LEN);
    for op in ops {
        let (tag, funnel, key, value) = match *op {
            Op::Put(key, e) => (b'p', e.funnel, key, member_value(&e)),
            Op::Remove(funnel, key) => (b'r', funnel, key, [0; 9]),
            Op::Clear(funnel) => (b'c', funnel, UserKey(0), [0; 9]),
        };
        out.push(tag);
        out.extend_from_slice(&funnel.0.to_be_bytes());
        out.extend_from_slice(&key.0.to_be_bytes());
        out.extend_from_slice(&value);
    }
    out
}

/// What [`encode`] wrote; none when `bytes` are not that.
pub fn decode(bytes: &[u8]) -> Option<Vec<Op>> {
    if !bytes.len().is_multiple_of(OP_LEN) {
        return None;
    }
    bytes
        .chunks_exact(OP_LEN)
        .map(|b| {
            let funnel = FunnelId(u32::from_be_bytes(b[1..5].try_into().ok()?));
            if funnel.0 >= FunnelId::LIMIT {
                return None;
            }
            match b[0] {
                b'p' => read_member(funnel, &b[5..13], &b[13..22]).map(|(k, e)| Op::Put(k, e)),
                b'r' => Some(Op::Remove(
                    funnel,
                    UserKey(u64::from_be_bytes(b[5..13].try_into().ok()?)),
                )),
                b'c' => Some(Op::Clear(funnel)),
                _ => None,
            }
        })
        .collect()
}

/// Applies `ops` to `table` in order, in as few updates as keep that
/// order (a funnel cleared after changes to it starts a new update).
pub fn apply_ops(table: &Table, ops: &[Op], now: u32) {
    let mut clear: Vec<FunnelId> = Vec::new();
    let mut changes: Vec<Change> = Vec::new();
    for op in ops {
        match *op {
            Op::Clear(funnel) => {
                if !changes.is_empty() {
                    table.apply(&clear, &changes, now);
                    clear.clear();
                    changes.clear();
                }
                clear.push(funnel);
            }
            Op::Put(key, entry) => changes.push(Change::Upsert { key, entry }),
            Op::Remove(funnel, key) => changes.push(Change::Remove { key, funnel }),
        }
    }
    if !clear.is_empty() || !changes.is_empty() {
        table.apply(&clear, &changes, now);
    }
}

/// The changes `removed` and `changes` (as [`Audiences::apply`] takes
/// them) stand for, in the order the table applies them.
fn ops_of(removed: &[FunnelId], changes: &[Change]) -> Vec<Op> {
    removed
        .iter()
        .map(|&f| Op::Clear(f))
        .chain(changes.iter().map(|c| match *c {
            Change::Upsert { key, entry } => Op::Put(key, entry),
            Change::Remove { key, funnel } => Op::Remove(funnel, key),
        }))
        .collect()
}

/// Changes waiting for the publisher.
#[derive(Default)]
struct Outbox {
    ops: Vec<Op>,
    /// Write a whole new generation (at start, or the queue overflowed).
    republish: bool,
}

/// The control instance's audiences: the embedded ones, every change
/// published to Redis after its commit.
pub struct ControlAudiences {
    inner: Audience,
    /// Held across each write and its queueing, so a copy of the table
    /// taken under it holds exactly the changes taken out of the queue.
    outbox: Mutex<Outbox>,
    wake: Condvar,
}

impl ControlAudiences {
    /// `inner`, and the publisher thread that writes a first generation
    /// of its members to Redis and then every change.
    pub fn start(inner: Audience, redis: Redis) -> std::io::Result<Arc<ControlAudiences>> {
        let me = Arc::new(ControlAudiences {
            inner,
            outbox: Mutex::new(Outbox {
                ops: Vec::new(),
                republish: true,
            }),
            wake: Condvar::new(),
        });
        let publisher = Arc::clone(&me);
        std::thread::Builder::new()
            .name("audience-publisher".into())
            .spawn(move || publisher.publish_forever(redis))?;
        Ok(me)
    }

    fn outbox(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn queue(&self, out: &mut Outbox, ops: Vec<Op>) {
        if ops.is_empty() {
            return;
        }
        if out.ops.len() + ops.len() > MAX_QUEUED {
            tracing::warn!(
                queued = out.ops.len(),
                "audience changes not published in time; a new generation follows"
            );
            out.ops = Vec::new();
            out.republish = true;
        } else {
            out.ops.extend(ops);
        }
        self.wake.notify_one();
    }

    fn publish_forever(&self, mut redis: Redis) {
        crate::cold_path::lower_priority();
        let mut generation: Option<u64> = None;
        let mut written = Instant::now();
        loop {
            let (ops, copy) = {
                let mut out = self.outbox();
                while !out.republish && out.ops.is_empty() && written.elapsed() < REPUBLISH_EVERY {
                    out = self
                        .wake
                        .wait_timeout(out, Duration::from_secs(60))
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                if out.republish || generation.is_none() || written.elapsed() >= REPUBLISH_EVERY {
                    out.republish = false;
                    out.ops.clear();
                    let copy: Arc<Shards> = Arc::clone(&self.inner.table().snapshot());
                    (Vec::new(), Some(copy))
                } else {
                    let n = out.ops.len().min(BATCH);
                    (out.ops.drain(..n).collect::<Vec<Op>>(), None)
                }
            };
            if let Some(copy) = copy {
                generation = Some(self.write_generation(&mut redis, &copy));
                written = Instant::now();
                continue;
            }
            let Some(g) = generation else { continue };
            loop {
                match publish(&mut redis, g, &ops) {
                    Ok(true) => break,
                    Ok(false) => {
                        tracing::warn!(
                            generation = g,
                            "the audience copy in Redis is not ours any more; writing it again"
                        );
                        self.outbox().republish = true;
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "audience changes not published; retrying");
                        if self.outbox().republish {
                            // The new generation will hold them.
                            break;
                        }
                        std::thread::sleep(RETRY_AFTER);
                    }
                }
            }
        }
    }

    /// Writes `copy` as a new generation and switches to it, retrying
    /// until Redis answers; its number.
    fn write_generation(&self, redis: &mut Redis, copy: &Shards) -> u64 {
        let started = Instant::now();
        let now = self.inner.now_secs();
        let g =
            retry(|| redis.call(|c| redis::cmd("INCR").arg(keys::AUDIENCE_NEXT).query::<u64>(c)));
        let members = retry(|| write_members(redis, g, copy, now));
        let old = retry(|| switch(redis, g));
        if let Some(old) = old.filter(|&o| o != g)
            && let Err(e) = delete_generation(redis, old)
        {
            tracing::warn!(error = %e, generation = old, "old audience copy not deleted");
        }
        tracing::info!(
            generation = g,
            members,
            took_ms = started.elapsed().as_millis() as u64,
            "audience copy written to Redis"
        );
        g
    }
}

/// Writes every live member of `copy` at `now` into a new generation
/// and switches bid instances to it, without retrying (the control's
/// publisher retries each step instead); the generation and how many
/// members. Deletes the generation it replaces.
pub fn write_copy(redis: &mut Redis, copy: &Shards, now: u32) -> Result<(u64, usize), StateError> {
    let g = redis.call(|c| redis::cmd("INCR").arg(keys::AUDIENCE_NEXT).query::<u64>(c))?;
    let members = write_members(redis, g, copy, now)?;
    if let Some(old) = switch(redis, g)?.filter(|&o| o != g) {
        delete_generation(redis, old)?;
    }
    Ok((g, members))
}

/// `f` until it succeeds, pausing after each error.
fn retry<T>(mut f: impl FnMut() -> Result<T, StateError>) -> T {
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) => {
                tracing::warn!(error = %e, "audience copy: Redis did not answer; retrying");
                std::thread::sleep(RETRY_AFTER);
            }
        }
    }
}

/// An `HSET` of `members` (key, value) into one hash.
fn hset(key: &str, members: &[(u64, [u8; 9])]) -> redis::Cmd {
    let mut c = redis::cmd("HSET");
    c.arg(key);
    for (k, v) in members {
        c.arg(&k.to_be_bytes()[..]).arg(&v[..]);
    }
    c
}

/// Members waiting to be written, by (bucket, funnel): key and value.
type ByHash = BTreeMap<(usize, u32), Vec<(u64, [u8; 9])>>;

/// Writes every live member of `copy` into generation `g`; how many.
fn write_members(redis: &mut Redis, g: u64, copy: &Shards, now: u32) -> Result<usize, StateError> {
    let mut by_hash: ByHash = BTreeMap::new();
    let mut held = 0;
    let mut total = 0;
    let flush = |redis: &mut Redis, by_hash: &mut ByHash| {
        if by_hash.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::new();
        let mut funnels = redis::cmd("SADD");
        funnels.arg(keys::audience_funnels(g));
        for (&(b, f), members) in by_hash.iter() {
            let key = keys::audience_members(g, b, f);
            for part in members.chunks(FIELDS_PER_HSET) {
                batch.add_ignored(hset(&key, part));
            }
            funnels.arg(f);
        }
        batch.add_ignored(funnels);
        by_hash.clear();
        redis.batch::<()>(&batch)
    };
    for (key, entry) in copy.entries(now) {
        by_hash
            .entry((bucket(key), entry.funnel.0))
            .or_default()
            .push((key.0, member_value(&entry)));
        held += 1;
        total += 1;
        if held >= FIELDS_PER_ROUND {
            flush(redis, &mut by_hash)?;
            held = 0;
        }
    }
    flush(redis, &mut by_hash)?;
    Ok(total)
}

/// Sets the generation and marks the switch on the stream; returns the
/// generation replaced. KEYS: generation, stream. ARGV: the new
/// generation, entries kept.
const SWITCH: &str = r"
local old = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'g', ARGV[1])
return old
";

/// The generation and the stream's newest id (`0-0` when empty), read
/// together. KEYS: generation, stream.
const HEAD: &str = r"
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local id = '0-0'
if last[1] then id = last[1][1] end
return {redis.call('GET', KEYS[1]) or '', id}
";

/// Makes `g` the generation bid instances load, with a marker on the
/// stream, in one step; the generation it replaces.
fn switch(redis: &mut Redis, g: u64) -> Result<Option<u64>, StateError> {
    let script = redis::Script::new(SWITCH);
    let old: Option<String> = redis.call(|c| {
        script
            .key(keys::AUDIENCE_GEN)
            .key(keys::AUDIENCE_CHANGES)
            .arg(g)
            .arg(KEEP)
            .invoke(c)
    })?;
    Ok(old.and_then(|o| o.parse().ok()))
}

/// Deletes generation `g`'s hashes and funnel set.
fn delete_generation(redis: &mut Redis, g: u64) -> Result<(), StateError> {
    let names: Vec<String> = redis.call(|c| {
        redis::cmd("SMEMBERS")
            .arg(keys::audience_funnels(g))
            .query(c)
    })?;
    let funnels: Vec<u32> = names.iter().filter_map(|n| n.parse().ok()).collect();
    let mut batch = Batch::new();
    for b in 0..BUCKETS {
        // One slot per bucket: one command deletes its funnels' hashes.
        for part in funnels.chunks(500) {
            let mut c = redis::cmd("UNLINK");
            for &f in part {
                c.arg(keys::audience_members(g, b, f));
            }
            batch.add_ignored(c);
        }
    }
    let mut set = redis::cmd("UNLINK");
    set.arg(keys::audience_funnels(g));
    batch.add_ignored(set);
    redis.batch::<()>(&batch)
}

/// Writes `ops` into generation `g` and then onto the stream; whether
/// `g` is still the generation bid instances load (not so after Redis
/// lost its data, or another control instance wrote a newer one).
fn publish(redis: &mut Redis, g: u64, ops: &[Op]) -> Result<bool, StateError> {
    // In op order: a batch keeps each node's commands in order, and every
    // change to one user and funnel goes to one hash.
    let mut hashes = Batch::new();
    let mut funnels: BTreeMap<u32, bool> = BTreeMap::new();
    for op in ops {
        match *op {
            Op::Put(key, e) => {
                let mut c = redis::cmd("HSET");
                c.arg(keys::audience_members(g, bucket(key), e.funnel.0))
                    .arg(&key.0.to_be_bytes()[..])
                    .arg(&member_value(&e)[..]);
                hashes.add_ignored(c);
                funnels.insert(e.funnel.0, true);
            }
            Op::Remove(funnel, key) => {
                let mut c = redis::cmd("HDEL");
                c.arg(keys::audience_members(g, bucket(key), funnel.0))
                    .arg(&key.0.to_be_bytes()[..]);
                hashes.add_ignored(c);
            }
            Op::Clear(funnel) => {
                for b in 0..BUCKETS {
                    let mut c = redis::cmd("UNLINK");
                    c.arg(keys::audience_members(g, b, funnel.0));
                    hashes.add_ignored(c);
                }
                funnels.insert(funnel.0, false);
            }
        }
    }
    let set = keys::audience_funnels(g);
    for (f, has) in funnels {
        let mut c = redis::cmd(if has { "SADD" } else { "SREM" });
        c.arg(&set).arg(f);
        hashes.add_ignored(c);
    }
    redis.batch::<()>(&hashes)?;
    let mut stream = Batch::new();
    for part in ops.chunks(PER_ENTRY) {
        let mut c = redis::cmd("XADD");
        c.arg(keys::AUDIENCE_CHANGES)
            .arg("MAXLEN")
            .arg("~")
            .arg(KEEP)
            .arg("*")
            .arg("g")
            .arg(g)
            .arg("c")
            .arg(encode(part));
        stream.add_ignored(c);
    }
    let mut current = redis::cmd("GET");
    current.arg(keys::AUDIENCE_GEN);
    stream.add(current);
    let (current,): (Option<String>,) = redis.batch(&stream)?;
    Ok(current.and_then(|c| c.parse::<u64>().ok()) == Some(g))
}

impl Audiences for ControlAudiences {
    fn table(&self) -> &Table {
        self.inner.table()
    }

    fn hasher(&self) -> &KeyHasher {
        self.inner.hasher()
    }

    fn now_secs(&self) -> u32 {
        self.inner.now_secs()
    }

    fn put_member(&self, funnel: FunnelId, m: &Member) -> Result<(), StateError> {
        let mut out = self.outbox();
        self.inner.put_member(funnel, m)?;
        let entry = crate::state::audience::entry(funnel, m);
        self.queue(&mut out, vec![Op::Put(m.key, entry)]);
        Ok(())
    }

    fn delete_member(&self, funnel: FunnelId, key: UserKey) -> Result<bool, StateError> {
        let mut out = self.outbox();
        let found = self.inner.delete_member(funnel, key)?;
        self.queue(&mut out, vec![Op::Remove(funnel, key)]);
        Ok(found)
    }

    /// Publishes each moved user's entry as the table holds it after
    /// the move.
    fn advance(
        &self,
        moves: &[(FunnelId, UserKey, Stage)],
        ttl_secs: u32,
    ) -> Result<usize, StateError> {
        let mut out = self.outbox();
        let moved = self.inner.advance(moves, ttl_secs)?;
        if moved == 0 {
            return Ok(0);
        }
        let now = self.now_secs();
        let table = self.inner.table().snapshot();
        let mut seen: HashMap<(u32, u64), ()> = HashMap::with_capacity(moves.len());
        let ops = moves
            .iter()
            .filter(|&&(f, k, _)| seen.insert((f.0, k.0), ()).is_none())
            .filter_map(|&(f, k, _)| {
                table
                    .lookup(k, now)
                    .find(|e| e.funnel == f)
                    .map(|e| Op::Put(k, e))
            })
            .collect();
        self.queue(&mut out, ops);
        Ok(moved)
    }

    fn apply(&self, removed: &[FunnelId], changes: &[Change]) {
        let mut out = self.outbox();
        self.inner.apply(removed, changes);
        self.queue(&mut out, ops_of(removed, changes));
    }

    /// Expired members read as absent on every instance; they leave
    /// Redis with the next generation.
    fn sweep(&self) -> Result<u64, StateError> {
        self.inner.sweep()
    }
}

/// A bid instance's audiences: a table loaded from the control
/// instance's copy in Redis and kept up to date from its change stream,
/// keyed with the control's secret so that user keys agree across the
/// fleet. Every write goes through the control instance.
pub struct FollowAudiences {
    table: Arc<Table>,
    hasher: KeyHasher,
    clock: SharedClock,
    ready: Arc<AtomicBool>,
    lag: Arc<AtomicI64>,
}

impl FollowAudiences {
    /// An empty table hashing keys with the fleet's `secret`, and the
    /// thread that loads the copy in `redis` into it and follows it.
    pub fn start(
        secret: [u8; 16],
        clock: SharedClock,
        redis: Redis,
    ) -> std::io::Result<FollowAudiences> {
        let me = FollowAudiences {
            table: Arc::new(Table::new()),
            hasher: KeyHasher::new(secret),
            clock,
            ready: Arc::default(),
            lag: Arc::default(),
        };
        let (table, clock, ready, lag) = (
            Arc::clone(&me.table),
            Arc::clone(&me.clock),
            Arc::clone(&me.ready),
            Arc::clone(&me.lag),
        );
        std::thread::Builder::new()
            .name("audience-follower".into())
            .spawn(move || follow_forever(redis, &table, &clock, &ready, &lag))?;
        Ok(me)
    }

    /// How far the table trails the change stream, milliseconds (for
    /// `/metrics`).
    pub fn lag(&self) -> Arc<AtomicI64> {
        Arc::clone(&self.lag)
    }

    /// True from the first generation loaded on (for `/readyz`).
    pub fn ready(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.ready)
    }
}

fn follow_forever(
    mut redis: Redis,
    table: &Table,
    clock: &SharedClock,
    ready: &AtomicBool,
    lag: &AtomicI64,
) {
    crate::cold_path::lower_priority();
    let mut waiting = 0u32;
    loop {
        let (g, from) = match head(&mut redis) {
            Ok(Some(head)) => head,
            Ok(None) => {
                if waiting.is_multiple_of(40) {
                    tracing::info!("waiting for the control instance's audience copy");
                }
                waiting += 1;
                std::thread::sleep(RETRY_AFTER);
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "audience copy not read");
                std::thread::sleep(RETRY_AFTER);
                continue;
            }
        };
        let started = Instant::now();
        let copy = Table::new();
        let users = match load(&mut redis, &copy, g, clock.now_secs()) {
            Ok(users) => users,
            Err(e) => {
                tracing::warn!(error = %e, generation = g, "audience copy not loaded; retrying");
                std::thread::sleep(RETRY_AFTER);
                continue;
            }
        };
        // A generation replaced during the load may have been deleted
        // under it: load the new one instead.
        if !matches!(head(&mut redis), Ok(Some((now, _))) if now == g) {
            continue;
        }
        table.replace_with(copy);
        ready.store(true, Ordering::Release);
        tracing::info!(
            generation = g,
            users,
            took_ms = started.elapsed().as_millis() as u64,
            "audiences loaded"
        );
        follow(&mut redis, table, clock, lag, g, from);
    }
}

/// The generation to load and the stream id to follow from, read in one
/// step; none before the control instance wrote a generation.
fn head(redis: &mut Redis) -> Result<Option<(u64, String)>, StateError> {
    let script = redis::Script::new(HEAD);
    let (g, from): (String, String) = redis.call(|c| {
        script
            .key(keys::AUDIENCE_GEN)
            .key(keys::AUDIENCE_CHANGES)
            .invoke(c)
    })?;
    if g.is_empty() {
        return Ok(None);
    }
    let Ok(g) = g.parse::<u64>() else {
        redis.bad_value(keys::AUDIENCE_GEN, "not a generation number");
        return Ok(None);
    };
    Ok(Some((g, from)))
}

/// Loads generation `g` from `redis` into `into` (replacing what it
/// held), bucket after bucket; how many users.
pub fn load(redis: &mut Redis, into: &Table, g: u64, now: u32) -> Result<usize, StateError> {
    let set = keys::audience_funnels(g);
    let names: Vec<String> = redis.call(|c| redis::cmd("SMEMBERS").arg(&set).query(c))?;
    let mut funnels = Vec::with_capacity(names.len());
    for n in names {
        match n.parse::<u32>() {
            Ok(f) if f < FunnelId::LIMIT => funnels.push(f),
            _ => redis.bad_value(&set, "a member is not a funnel id"),
        }
    }
    let mut failed = None;
    let mut buckets = 0..BUCKETS;
    let rows = std::iter::from_fn(|| {
        if failed.is_some() {
            return None;
        }
        let b = buckets.next()?;
        match read_bucket(redis, g, b, &funnels) {
            Ok(rows) => Some(rows),
            Err(e) => {
                failed = Some(e);
                None
            }
        }
    })
    .flatten();
    let users = into.load(rows, now);
    if let Some(e) = failed {
        return Err(e);
    }
    users.map_err(|e| StateError::Unavailable(e.to_string()))
}

/// Every member of bucket `b` of generation `g`, in key order.
fn read_bucket(
    redis: &mut Redis,
    g: u64,
    b: usize,
    funnels: &[u32],
) -> Result<Vec<(UserKey, Entry)>, StateError> {
    let mut rows = Vec::new();
    for part in funnels.chunks(SCANS_PER_PIPELINE) {
        let mut cursors: Vec<(u32, u64)> = part.iter().map(|&f| (f, 0)).collect();
        while !cursors.is_empty() {
            let mut scans = Batch::new();
            for &(f, cursor) in &cursors {
                let mut c = redis::cmd("HSCAN");
                c.arg(keys::audience_members(g, b, f))
                    .arg(cursor)
                    .arg("COUNT")
                    .arg(SCAN_COUNT);
                scans.add(c);
            }
            let replies: Vec<(String, Vec<Vec<u8>>)> = redis.batch(&scans)?;
            let mut next = Vec::new();
            for (&(f, _), (cursor, flat)) in cursors.iter().zip(replies) {
                let key = keys::audience_members(g, b, f);
                for pair in flat.chunks(2) {
                    match pair {
                        [field, value] => match read_member(FunnelId(f), field, value) {
                            Some(row) if bucket(row.0) == b => rows.push(row),
                            _ => redis.bad_value(&key, "a field is not a member"),
                        },
                        _ => redis.bad_value(&key, "a field without a value"),
                    }
                }
                match cursor.parse::<u64>() {
                    Ok(0) => {}
                    Ok(c) => next.push((f, c)),
                    Err(_) => redis.bad_value(&key, "HSCAN cursor unreadable"),
                }
            }
            cursors = next;
        }
    }
    rows.sort_unstable_by_key(|(k, e)| (k.0, e.funnel.0));
    Ok(rows)
}

/// A stream id as numbers, for comparing.
fn stream_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// Where the stream stands against `from`: whether it was trimmed past
/// it (entries after it lost), and how far its newest entry is ahead,
/// milliseconds.
fn behind(redis: &mut Redis, from: &str) -> Result<(bool, i64), StateError> {
    let info: Option<HashMap<String, redis::Value>> = redis.call(|c| {
        match redis::cmd("XINFO")
            .arg("STREAM")
            .arg(keys::AUDIENCE_CHANGES)
            .query(c)
        {
            Ok(v) => Ok(Some(v)),
            // No stream yet: nothing was trimmed.
            Err(e) if e.kind() == redis::ErrorKind::ResponseError => Ok(None),
            Err(e) => Err(e),
        }
    })?;
    let id_of = |field: &str| {
        info.as_ref()
            .and_then(|i| i.get(field))
            .and_then(|v| redis::from_redis_value::<String>(v).ok())
            .and_then(|id| stream_id(&id))
    };
    let (deleted, last, from) = (
        id_of("max-deleted-entry-id"),
        id_of("last-generated-id"),
        stream_id(from),
    );
    let trimmed = matches!((deleted, from), (Some(d), Some(f)) if d > f);
    let lag = match (last, from) {
        (Some(l), Some(f)) if l > f => i64::try_from(l.0.saturating_sub(f.0)).unwrap_or(i64::MAX),
        _ => 0,
    };
    Ok((trimmed, lag))
}

/// Applies generation `g`'s stream entries after `from` as they come,
/// keeping `lag` (ms behind the stream's newest entry); returns when a
/// reload is due (another generation, or entries lost).
fn follow(
    redis: &mut Redis,
    table: &Table,
    clock: &SharedClock,
    lag: &AtomicI64,
    g: u64,
    mut from: String,
) {
    let mut checked: Option<Instant> = None;
    loop {
        if checked.is_none_or(|t| t.elapsed() >= CHECK_EVERY) {
            match behind(redis, &from) {
                Ok((false, ms)) => {
                    lag.store(ms, Ordering::Relaxed);
                    checked = Some(Instant::now());
                }
                Ok((true, _)) => {
                    tracing::warn!("audience changes lost behind the stream's cap; reloading");
                    return;
                }
                Err(_) => {
                    std::thread::sleep(RETRY_AFTER);
                    continue;
                }
            }
        }
        let read = redis.call(|c| {
            redis::cmd("XREAD")
                .arg("COUNT")
                .arg(READ_COUNT)
                .arg("BLOCK")
                .arg(keys::BLOCK_MS)
                .arg("STREAMS")
                .arg(keys::AUDIENCE_CHANGES)
                .arg(&from)
                .query::<Option<redis::streams::StreamReadReply>>(c)
        });
        let reply = match read {
            Ok(Some(reply)) => reply,
            Ok(None) => continue,
            Err(_) => {
                // Away for a while: check nothing was lost once back.
                checked = None;
                std::thread::sleep(RETRY_AFTER);
                continue;
            }
        };
        let mut ops = Vec::new();
        let mut switched = false;
        for id in reply.keys.into_iter().flat_map(|k| k.ids) {
            from = id.id;
            let generation = id
                .map
                .get("g")
                .and_then(|v| redis::from_redis_value::<String>(v).ok())
                .and_then(|v| v.parse::<u64>().ok());
            match generation {
                None => redis.bad_value(keys::AUDIENCE_CHANGES, "an entry without a generation"),
                // Past the id read with the generation, every entry is of
                // that generation until the control switches: another one
                // (newer, or a restarted count after Redis lost its data)
                // means a new copy to load.
                Some(n) if n != g => {
                    switched = true;
                    break;
                }
                Some(_) => match id.map.get("c") {
                    // The marker of the switch to this generation.
                    None => {}
                    Some(v) => match redis::from_redis_value::<Vec<u8>>(v)
                        .ok()
                        .and_then(|b| decode(&b))
                    {
                        Some(more) => ops.extend(more),
                        None => redis
                            .bad_value(keys::AUDIENCE_CHANGES, "an entry's changes do not read"),
                    },
                },
            }
        }
        apply_ops(table, &ops, clock.now_secs());
        if switched {
            return;
        }
    }
}

fn control_only() -> StateError {
    StateError::Unavailable("audience writes go through the control instance".into())
}

impl Audiences for FollowAudiences {
    fn table(&self) -> &Table {
        &self.table
    }

    fn hasher(&self) -> &KeyHasher {
        &self.hasher
    }

    fn now_secs(&self) -> u32 {
        self.clock.now_secs()
    }

    fn put_member(&self, _: FunnelId, _: &Member) -> Result<(), StateError> {
        Err(control_only())
    }

    fn delete_member(&self, _: FunnelId, _: UserKey) -> Result<bool, StateError> {
        Err(control_only())
    }

    /// Nothing here: the control instance moves users as it consumes the
    /// fleet's events, and publishes the moves.
    fn advance(&self, _: &[(FunnelId, UserKey, Stage)], _: u32) -> Result<usize, StateError> {
        Ok(0)
    }

    fn apply(&self, removed: &[FunnelId], changes: &[Change]) {
        self.table.apply(removed, changes, self.now_secs());
    }

    fn sweep(&self) -> Result<u64, StateError> {
        self.table.compact(self.now_secs());
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: u64, funnel: u32, stage: Stage) -> Op {
        Op::Put(
            UserKey(key),
            Entry {
                funnel: FunnelId(funnel),
                stage,
                updated: 1_795_392_000,
                expires: 0,
            },
        )
    }

    #[test]
    fn changes_read_back_as_written_and_foreign_bytes_do_not_read() {
        let ops = vec![
            put(u64::MAX, 3, Stage::Loyal),
            Op::Remove(FunnelId(3), UserKey(42)),
            Op::Clear(FunnelId(FunnelId::LIMIT - 1)),
            put(1, 0, Stage::Unaware),
        ];
        assert_eq!(decode(&encode(&ops)), Some(ops.clone()));
        assert_eq!(decode(&[]), Some(Vec::new()));
        let good = encode(&ops[..1]);
        for bad in [
            b"hello".to_vec(),
            good[..OP_LEN - 1].to_vec(),
            [&good[..], b"x"].concat(),
            {
                let mut b = good.clone();
                b[0] = b'x';
                b
            },
            {
                // Stage 6 does not exist.
                let mut b = good.clone();
                b[13] = 6;
                b
            },
            {
                // A funnel id past the limit.
                let mut b = good.clone();
                b[1] = 0xff;
                b
            },
        ] {
            assert_eq!(decode(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_member_value_reads_back_and_a_foreign_one_does_not() {
        let e = Entry {
            funnel: FunnelId(9),
            stage: Stage::Intent,
            updated: 7,
            expires: 1_900_000_000,
        };
        let key = UserKey(0xfeed_0000_0000_0001);
        assert_eq!(
            read_member(FunnelId(9), &key.0.to_be_bytes(), &member_value(&e)),
            Some((key, e))
        );
        assert_eq!(read_member(FunnelId(9), b"short", &member_value(&e)), None);
        assert_eq!(
            read_member(FunnelId(9), &key.0.to_be_bytes(), b"1 2 3"),
            None
        );
        assert_eq!(bucket(key), 0xfe);
    }

    #[test]
    fn a_funnel_cleared_after_changes_to_it_leaves_only_the_later_ones() {
        let table = Table::new();
        let now = 1_795_392_100;
        apply_ops(
            &table,
            &[
                put(1, 5, Stage::Intent),
                put(2, 5, Stage::Intent),
                put(2, 6, Stage::Loyal),
                Op::Clear(FunnelId(5)),
                put(3, 5, Stage::Customer),
                Op::Remove(FunnelId(6), UserKey(2)),
            ],
            now,
        );
        let t = table.snapshot();
        assert_eq!(t.stage(UserKey(1), FunnelId(5), now), None);
        assert_eq!(t.stage(UserKey(2), FunnelId(5), now), None);
        assert_eq!(t.stage(UserKey(2), FunnelId(6), now), None);
        assert_eq!(t.stage(UserKey(3), FunnelId(5), now), Some(Stage::Customer));
    }

    #[test]
    fn the_tables_changes_become_ops_in_the_order_the_table_applies_them() {
        let e = Entry {
            funnel: FunnelId(2),
            stage: Stage::Awareness,
            updated: 1,
            expires: 0,
        };
        let ops = ops_of(
            &[FunnelId(2)],
            &[
                Change::Upsert {
                    key: UserKey(8),
                    entry: e,
                },
                Change::Remove {
                    key: UserKey(9),
                    funnel: FunnelId(2),
                },
            ],
        );
        assert_eq!(
            ops,
            vec![
                Op::Clear(FunnelId(2)),
                Op::Put(UserKey(8), e),
                Op::Remove(FunnelId(2), UserKey(9)),
            ]
        );
    }

    /// The control's audiences on an in-memory store, no publisher.
    fn control() -> (ControlAudiences, FunnelId) {
        let store = Arc::new(crate::store::Store::open_in_memory().unwrap());
        let (_, funnel) = store.test_funnel();
        let clock: SharedClock = Arc::new(crate::state::clock::SystemClock);
        let (inner, _) = Audience::open(store, clock).unwrap();
        let me = ControlAudiences {
            inner,
            outbox: Mutex::default(),
            wake: Condvar::new(),
        };
        (me, funnel)
    }

    #[test]
    fn every_write_on_the_control_is_queued_as_the_table_holds_it() {
        let (aud, funnel) = control();
        let now = aud.now_secs();
        let m = Member {
            key: UserKey(5),
            stage: Stage::Intent,
            updated: now,
            expires: 0,
        };
        aud.put_member(funnel, &m).unwrap();
        aud.advance(&[(funnel, UserKey(6), Stage::Awareness)], 60)
            .unwrap();
        let moved = aud.table().snapshot().lookup(UserKey(6), now).next();
        // Not a move: user 5 is further along already.
        aud.advance(&[(funnel, UserKey(5), Stage::Awareness)], 60)
            .unwrap();
        aud.delete_member(funnel, UserKey(5)).unwrap();
        aud.apply(&[funnel], &[]);
        let ops = std::mem::take(&mut aud.outbox().ops);
        assert_eq!(
            ops,
            vec![
                Op::Put(UserKey(5), crate::state::audience::entry(funnel, &m)),
                Op::Put(UserKey(6), moved.unwrap()),
                Op::Remove(funnel, UserKey(5)),
                Op::Clear(funnel),
            ]
        );
        assert_eq!(moved.unwrap().expires, now + 60);
    }

    #[test]
    fn past_the_queue_limit_the_control_writes_a_new_generation_instead() {
        let (aud, funnel) = control();
        let put = |k| Change::Upsert {
            key: UserKey(k),
            entry: Entry {
                funnel,
                stage: Stage::Loyal,
                updated: 1,
                expires: 0,
            },
        };
        let batch: Vec<Change> = (0..1_000).map(put).collect();
        {
            let mut out = aud.outbox();
            out.ops = vec![Op::Clear(funnel); MAX_QUEUED - 500];
        }
        aud.apply(&[], &batch);
        let out = aud.outbox();
        assert!(out.ops.is_empty(), "the queue is dropped");
        assert!(out.republish, "a new generation holds the changes");
    }

    #[test]
    fn stream_ids_compare_as_numbers() {
        assert!(stream_id("1700000000000-10") > stream_id("1700000000000-9"));
        assert!(stream_id("0-0") < stream_id("1-0"));
        assert_eq!(stream_id("5"), Some((5, 0)));
        assert_eq!(stream_id("x-1"), None);
    }
}
