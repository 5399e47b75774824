//! Events across a fleet. A notice may reach any instance; each is
//! counted once fleet-wide and reaches the control instance's SQLite
//! reports, learning counts and spend through a Redis Stream.
//!
//! # Consistency promise
//! - **Once per bid and kind, fleet-wide.** One script on the bid's shard
//!   (`{ev:N}`, one slot) marks the (bid, kind) in the bid's hash and, only
//!   when it is new, appends the event to the shard's stream; it also
//!   tells whether the event settles the bid (its first billing point or
//!   loss) and whether it contradicts the bid's first outcome, as the
//!   embedded event log does.
//! - **Durable before answered.** A notice is answered once its script
//!   ran (Redis configured with an append-only file) or, when Redis
//!   cannot be reached, once it is in the instance's spool (`spool.db` in
//!   its data dir, fsynced). The spool drains by itself, oldest first, as
//!   soon as Redis answers; a spooled event that Redis already holds is
//!   recognised as a replay.
//! - **Into SQLite exactly once.** The control instance reads the streams
//!   with a consumer group, records each batch in SQLite (which counts a
//!   (bid, kind) once, whatever Redis said) and acknowledges it only
//!   after the commit: a crash re-reads what was not acknowledged.
//! - A stream entry that does not read as an event is logged, counted,
//!   acknowledged and skipped.

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use audiences::Stage;
use creative::assembly::{ComboKey, FragmentId};
use openrtb::Micros;
use serde::{Deserialize, Serialize};

use super::client::{Batch, Redis};
use super::keys;
use crate::model::{CampaignId, EventKind, EventRecord, UnixTime};
use crate::state::StateError;
use crate::state::event_log::EventLog;
use crate::store::Recorded;

/// Marks (bid, kind) and, when new, appends the event to the stream.
/// KEYS: the bid's hash, the shard's stream, its impression stream, the
/// bidder's settle stream ([`super::settles`]). ARGV: kind, outcome
/// (`w`, `l` or empty), settles (`1`/`0`), ttl seconds, the event, its
/// impression entry (or empty), impressions kept, the settle to forward
/// (or empty), settles kept.
const RECORD: &str = r"
if redis.call('HSETNX', KEYS[1], 'k:' .. ARGV[1], 1) == 0 then
  return {0, 0, 0}
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
local conflict = 0
if ARGV[2] ~= '' then
  local first = redis.call('HGET', KEYS[1], 'outcome')
  if first and first ~= ARGV[2] then
    conflict = 1
  elseif not first then
    redis.call('HSET', KEYS[1], 'outcome', ARGV[2])
  end
end
local settles = 0
if conflict == 0 and ARGV[3] == '1' then
  settles = redis.call('HSETNX', KEYS[1], 'settled', 1)
end
redis.call('XADD', KEYS[2], '*', 'e', ARGV[5])
if ARGV[6] ~= '' then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], '*', 'i', ARGV[6])
end
if settles == 1 and ARGV[8] ~= '' then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[9], '*', 's', ARGV[8])
  redis.call('EXPIRE', KEYS[4], ARGV[4])
end
return {1, settles, conflict}
";

/// An event as it travels in the stream and waits in the spool.
#[derive(Debug, Serialize, Deserialize)]
struct Wire {
    bid: String,
    kind: String,
    campaign: i64,
    exchange: String,
    stage: Option<String>,
    combo: Option<ComboKey>,
    user: Option<u64>,
    bid_price: i64,
    price: Option<i64>,
    cost: i64,
    /// What the bid reserved, for the settle forwarded at a drain.
    #[serde(default)]
    reserved: i64,
    /// Until when, Unix seconds.
    #[serde(default)]
    held_until: i64,
    issued: i64,
    at: i64,
    settles: bool,
    country: String,
    device_type: u8,
}

impl Wire {
    fn of(e: &EventRecord) -> Wire {
        Wire {
            bid: e.bid.clone(),
            kind: e.kind.as_str().into(),
            campaign: e.campaign.0,
            exchange: e.exchange.clone(),
            stage: e.stage.map(|s| s.as_str().into()),
            combo: e.combo,
            user: e.user_key,
            bid_price: e.bid_price.0,
            price: e.price.map(|p| p.0),
            cost: e.cost.0,
            reserved: e.reserved.0,
            held_until: e.held_until.0,
            issued: e.issued.0,
            at: e.at.0,
            settles: e.settles,
            country: e.country.clone(),
            device_type: e.device_type,
        }
    }

    fn event(self) -> Option<EventRecord> {
        let stage = match self.stage {
            None => None,
            Some(s) => Some(*Stage::ALL.iter().find(|x| x.as_str() == s)?),
        };
        Some(EventRecord {
            bid: self.bid,
            kind: EventKind::parse(&self.kind)?,
            campaign: CampaignId(self.campaign),
            exchange: self.exchange,
            stage,
            combo: self.combo.filter(|c| c.message != FragmentId(0)),
            user_key: self.user,
            bid_price: Micros(self.bid_price),
            price: self.price.map(Micros),
            cost: Micros(self.cost.max(0)),
            reserved: Micros(self.reserved.max(0)),
            held_until: UnixTime(self.held_until),
            // Read back from Redis or the spool: any instance's bid.
            held_here: false,
            issued: UnixTime(self.issued),
            at: UnixTime(self.at),
            settles: self.settles,
            country: self.country,
            device_type: self.device_type,
        })
    }
}

/// The shard of a bid (`{process:x}-{n:x}`): by its counter, so that one
/// instance's bids spread over every shard.
pub fn shard(bid: &str) -> usize {
    let n = bid
        .rsplit('-')
        .next()
        .and_then(|n| u64::from_str_radix(n, 16).ok())
        .unwrap_or(0);
    (n % keys::EVENT_SHARDS as u64) as usize
}

/// Events waiting for Redis on this instance's disk.
pub struct Spool {
    conn: Mutex<rusqlite::Connection>,
    /// Events in it now.
    pub depth: AtomicI64,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("depth", &self.depth.load(Ordering::Relaxed))
            .finish()
    }
}

impl Spool {
    /// The spool in `dir` (made if need be).
    pub fn open(dir: &Path) -> Result<Spool, StateError> {
        let fail = |e: rusqlite::Error| StateError::Unavailable(format!("spool: {e}"));
        std::fs::create_dir_all(dir).map_err(|e| StateError::Unavailable(e.to_string()))?;
        let conn = rusqlite::Connection::open(dir.join("spool.db")).map_err(fail)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(fail)?;
        conn.execute(
            "CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY, event TEXT NOT NULL)",
            [],
        )
        .map_err(fail)?;
        let depth: i64 = conn
            .query_row("SELECT COUNT(*) FROM spool", [], |r| r.get(0))
            .map_err(fail)?;
        Ok(Spool {
            conn: Mutex::new(conn),
            depth: AtomicI64::new(depth),
        })
    }

    fn push(&self, events: &[&EventRecord]) -> Result<(), StateError> {
        let fail = |e: rusqlite::Error| StateError::Unavailable(format!("spool: {e}"));
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.transaction().map_err(fail)?;
        for e in events {
            let text = serde_json::to_string(&Wire::of(e)).unwrap_or_default();
            tx.execute("INSERT INTO spool (event) VALUES (?1)", [text])
                .map_err(fail)?;
        }
        tx.commit().map_err(fail)?;
        self.depth.fetch_add(events.len() as i64, Ordering::Relaxed);
        Ok(())
    }

    fn oldest(&self, n: usize) -> Vec<(i64, String)> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let Ok(mut q) = conn.prepare("SELECT id, event FROM spool ORDER BY id LIMIT ?1") else {
            return Vec::new();
        };
        q.query_map([n as i64], |r| Ok((r.get(0)?, r.get(1)?)))
            .map(|rows| rows.filter_map(Result::ok).collect())
            .unwrap_or_default()
    }

    fn remove(&self, id: i64) {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if conn
            .execute("DELETE FROM spool WHERE id = ?1", [id])
            .is_ok()
        {
            self.depth.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The fleet's event log: Redis first, the spool when Redis is away.
pub struct FleetLog {
    redis: Mutex<Redis>,
    spool: Arc<Spool>,
    ttl_secs: u32,
    /// This instance, as impression entries name it.
    origin: String,
}

impl FleetLog {
    /// A log on `redis` spooling into `spool`; a (bid, kind) is known
    /// `ttl_secs` (the token window: older notices are refused anyway).
    pub fn new(redis: Redis, spool: Arc<Spool>, ttl_secs: u32) -> FleetLog {
        FleetLog {
            redis: Mutex::new(redis),
            spool,
            ttl_secs,
            origin: format!("{:x}", crate::bid::process_id()),
        }
    }

    /// The record script's keys and arguments for `e`, taken by this
    /// instance `me` and counted locally by instance `origin` when it is
    /// new (empty: by none).
    fn record_call(
        e: &EventRecord,
        ttl_secs: u32,
        (me, origin): (&str, &str),
    ) -> ([String; 4], [String; 9]) {
        let impression = super::impressions::entry(origin, e).unwrap_or_default();
        let forward = super::settles::entry(me, e).unwrap_or_default();
        let bidder = super::settles::bidder(&e.bid).unwrap_or("-");
        let outcome = match e.kind {
            EventKind::Win | EventKind::Bill => "w",
            EventKind::Loss => "l",
            _ => "",
        };
        let payload = serde_json::to_string(&Wire::of(e)).unwrap_or_default();
        let s = shard(&e.bid);
        let keys = [
            keys::event_bid(s, &e.bid),
            keys::event_stream(s),
            keys::impressions(s),
            keys::settles(s, bidder),
        ];
        let args = [
            e.kind.as_str().to_string(),
            outcome.to_string(),
            if e.settles { "1" } else { "0" }.to_string(),
            (u64::from(ttl_secs) + 3_600).to_string(),
            payload,
            impression,
            super::impressions::KEEP.to_string(),
            forward,
            super::settles::KEEP.to_string(),
        ];
        (keys, args)
    }

    /// Runs the record script for `e` (see [`FleetLog::record_call`]),
    /// loading it where Redis lacks it.
    fn put(
        redis: &mut Redis,
        e: &EventRecord,
        ttl_secs: u32,
        me_origin: (&str, &str),
    ) -> Result<Recorded, StateError> {
        let (keys, args) = Self::record_call(e, ttl_secs, me_origin);
        let script = redis::Script::new(RECORD);
        let row = redis.call(|c| {
            let mut inv = script.prepare_invoke();
            for k in &keys {
                inv.key(k);
            }
            for a in &args {
                inv.arg(a);
            }
            inv.invoke(c)
        })?;
        Ok(recorded(row))
    }

    /// Runs the record script for every event of `batch` in one round
    /// trip (per node, on a cluster); `None` when that did not answer for
    /// all of them (Redis away, or lacking the script, which the first
    /// [`FleetLog::put`] loads), and the caller goes one by one (the
    /// script counts an event once, so one a failed batch recorded reads
    /// back as a replay).
    fn put_all(
        redis: &mut Redis,
        batch: &[EventRecord],
        ttl_secs: u32,
        me_origin: (&str, &str),
    ) -> Option<Vec<Recorded>> {
        let hash = redis::Script::new(RECORD).get_hash().to_string();
        let mut cmds = Batch::new();
        for e in batch {
            let (keys, args) = Self::record_call(e, ttl_secs, me_origin);
            let mut c = redis::cmd("EVALSHA");
            c.arg(&hash).arg(keys.len()).arg(&keys[..]).arg(&args[..]);
            cmds.add(c);
        }
        match redis.batch::<Vec<(i64, i64, i64)>>(&cmds) {
            Ok(rows) if rows.len() == batch.len() => Some(rows.into_iter().map(recorded).collect()),
            _ => None,
        }
    }

    /// Sends what waits in the spool to Redis, oldest first; how many.
    pub fn drain(&self) -> usize {
        let mut sent = 0;
        loop {
            let batch = self.spool.oldest(256);
            if batch.is_empty() {
                return sent;
            }
            let mut redis = self.redis.lock().unwrap_or_else(|e| e.into_inner());
            for (id, text) in batch {
                let Some(e) = serde_json::from_str::<Wire>(&text)
                    .ok()
                    .and_then(Wire::event)
                else {
                    tracing::error!(id, "unreadable spooled event dropped");
                    self.spool.remove(id);
                    continue;
                };
                // Spooled events were counted nowhere: every instance,
                // this one too, counts what they teach.
                if FleetLog::put(&mut redis, &e, self.ttl_secs, (&self.origin, "")).is_err() {
                    return sent;
                }
                self.spool.remove(id);
                sent += 1;
            }
        }
    }
}

impl EventLog for FleetLog {
    /// Each event by its script; the ones Redis did not take go to the
    /// spool, reported as not counted yet (the drain counts them) but a
    /// billing point as settling, to be booked locally. An error only
    /// when neither took them.
    fn record(&self, batch: &[EventRecord]) -> Result<Vec<Recorded>, StateError> {
        let mut out = Vec::with_capacity(batch.len());
        let mut spooled = Vec::new();
        {
            let mut redis = self.redis.lock().unwrap_or_else(|e| e.into_inner());
            if batch.len() > 1 && self.spool.depth.load(Ordering::Relaxed) == 0 {
                let me = (self.origin.as_str(), self.origin.as_str());
                if let Some(all) = Self::put_all(&mut redis, batch, self.ttl_secs, me) {
                    return Ok(all);
                }
            }
            for e in batch {
                // Once Redis failed in this batch, the rest go to the spool
                // at once, behind what waits there already (order kept).
                let sent = if spooled.is_empty() && self.spool.depth.load(Ordering::Relaxed) == 0 {
                    FleetLog::put(&mut redis, e, self.ttl_secs, (&self.origin, &self.origin)).ok()
                } else {
                    None
                };
                match sent {
                    Some(r) => out.push(r),
                    None => {
                        spooled.push(e);
                        // A billing point is booked here at once (this
                        // instance's account only, so that it stops at
                        // its share of the room while Redis is away); a
                        // replay of one Redis already holds is booked
                        // twice here, erring on underspend, until the
                        // fleet's figure returns.
                        out.push(Recorded {
                            fresh: false,
                            settles: e.settles && e.kind != EventKind::Loss,
                            conflict: false,
                        });
                    }
                }
            }
        }
        if !spooled.is_empty() {
            self.spool.push(&spooled)?;
        }
        Ok(out)
    }
}

/// The record script's reply: (new, settles its bid, conflicts).
fn recorded((fresh, settles, conflict): (i64, i64, i64)) -> Recorded {
    Recorded {
        fresh: fresh == 1,
        settles: settles == 1,
        conflict: conflict == 1,
    }
}

/// Starts the thread that drains `log`'s spool once a second.
pub fn start_drain(log: Arc<FleetLog>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("spool-drain".into())
        .spawn(move || {
            crate::cold_path::lower_priority();
            loop {
                std::thread::sleep(Duration::from_millis(500));
                if log.spool.depth.load(Ordering::Relaxed) > 0 {
                    let n = log.drain();
                    if n > 0 {
                        tracing::info!(events = n, "spooled events sent to Redis");
                    }
                }
            }
        })
        .map(|_| ())
}

/// Reads one stream entry reply into (id, event or None when unreadable).
type Entries = Vec<(String, Option<EventRecord>)>;

/// Takes the entries of an `XREADGROUP` reply.
fn entries(reply: redis::streams::StreamReadReply) -> Entries {
    let mut out = Vec::new();
    for key in reply.keys {
        for id in key.ids {
            let event = id
                .map
                .get("e")
                .and_then(|v| redis::from_redis_value::<String>(v).ok())
                .and_then(|t| serde_json::from_str::<Wire>(&t).ok())
                .and_then(Wire::event);
            out.push((id.id, event));
        }
    }
    out
}

/// The control instance's side: reads every shard's stream with the
/// consumer group `control` and hands each batch to `apply`, which
/// commits it; acknowledges after. Runs on its own thread, for ever.
pub fn start_consumer(
    mut redis: Redis,
    lag: Arc<AtomicI64>,
    mut apply: impl FnMut(&[EventRecord]) -> Result<(), StateError> + Send + 'static,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("event-consumer".into())
        .spawn(move || {
            crate::cold_path::lower_priority();
            // Entries read but not acknowledged before a restart first.
            let mut from: Vec<&'static str> = vec!["0"; keys::EVENT_SHARDS];
            let mut grouped = [false; keys::EVENT_SHARDS];
            loop {
                let mut idle = true;
                for s in 0..keys::EVENT_SHARDS {
                    let stream = keys::event_stream(s);
                    if !grouped[s] {
                        let made = redis.call(|c| {
                            redis::cmd("XGROUP")
                                .arg("CREATE")
                                .arg(&stream)
                                .arg("control")
                                .arg("0")
                                .arg("MKSTREAM")
                                .query::<()>(c)
                        });
                        match made {
                            Ok(()) => grouped[s] = true,
                            Err(e) if e.to_string().contains("BUSYGROUP") => grouped[s] = true,
                            Err(_) => continue,
                        }
                    }
                    let read = redis.call(|c| {
                        redis::cmd("XREADGROUP")
                            .arg("GROUP")
                            .arg("control")
                            .arg("control")
                            .arg("COUNT")
                            .arg(512)
                            .arg("STREAMS")
                            .arg(&stream)
                            .arg(from[s])
                            .query::<redis::streams::StreamReadReply>(c)
                    });
                    let batch = match read {
                        Ok(reply) => entries(reply),
                        Err(_) => continue,
                    };
                    if batch.is_empty() {
                        // Nothing pending left: new entries from now on.
                        from[s] = ">";
                        continue;
                    }
                    idle = false;
                    let events: Vec<EventRecord> =
                        batch.iter().filter_map(|(_, e)| e.clone()).collect();
                    if events.len() < batch.len() {
                        redis.bad_value(&stream, "an entry is not an event");
                    }
                    if let Err(e) = apply(&events) {
                        tracing::error!(error = %e, "fleet events not recorded; retrying");
                        from[s] = "0";
                        std::thread::sleep(Duration::from_millis(500));
                        continue;
                    }
                    let ids: Vec<&str> = batch.iter().map(|(id, _)| id.as_str()).collect();
                    let mut ack = Batch::new();
                    let (mut xack, mut xdel, mut xlen) =
                        (redis::cmd("XACK"), redis::cmd("XDEL"), redis::cmd("XLEN"));
                    xack.arg(&stream).arg("control").arg(&ids);
                    xdel.arg(&stream).arg(&ids);
                    xlen.arg(&stream);
                    ack.add_ignored(xack).add_ignored(xdel).add(xlen);
                    let acked = redis.batch::<(i64,)>(&ack);
                    if let Ok((left,)) = acked {
                        lag.store(left, Ordering::Relaxed);
                    }
                }
                if idle {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        })
        .map(|_| ())
}
