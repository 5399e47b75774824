//! Budget leases: a central ledger per campaign and per day in Redis
//! (`{c:<id>}:lease:<day>`), from which each instance leases a slice of
//! what is left, through one Lua script that never grants past the
//! day's limit. The bid path spends the slice with atomics
//! ([`crate::state::budget::lease`]); a background thread here renews it
//! before it runs out or expires, sized from the instance's recent
//! spend rate, and hands back what is unused: at a renewal (a smaller
//! slice), when it stops (graceful shutdown) and, for an instance that
//! stopped renewing, when the ledger reclaims its expired lease. Nothing
//! here runs on the bid path.
//!
//! # The ledger
//! `granted` is the money of the day no longer free: every instance's
//! limit (what it may have used: its own booked spend plus what its
//! bids in flight hold plus what is left of its slice) and what expired
//! or returned leases had used. Each instance's entry holds its limit,
//! what it had used at its last renewal and when the lease expires
//! (Redis's clock). A script call:
//! 1. reclaims expired leases: their unused part (limit less used)
//!    leaves `granted`;
//! 2. grants this instance at most the free room (the day's limit less
//!    `granted`, plus what is left of its own slice): its desired slice,
//!    at least 1/[`FLOOR_DIVISOR`] of that room. When the limit fell
//!    below `granted` (a budget lowered), the excess comes out of the
//!    slices of the instances renewing;
//! 3. or, on a hand-back, takes its unused part out of `granted`.
//!
//! The day's limit is the daily budget, or the total budget less what
//! was booked before the day (the control's published spend, same slot),
//! whichever is less. A ledger made when the day has spend already
//! (Redis lost its data) starts with `granted` at the fleet's booked
//! spend of the day.
//!
//! # Consistency promise
//! - **The fleet never books more than the budget plus the sum of
//!   outstanding leases.** `granted` never grows past the day's limit by
//!   a grant; what is booked was first held within a lease, and counts
//!   in the lease of the instance that bid wherever its bill arrived
//!   ([`super::settles`]). The excess
//!   can only come from money used within a lease that the ledger no
//!   longer counts: an instance killed after its last renewal (what it
//!   used since, at most its lease), and, as embedded, bills clearing
//!   above what their bids reserved and late wins
//!   ([`crate::state::budget`]).
//! - **A dead instance strands at most its own lease, until it expires**
//!   ([`LEASE_TTL_SECS`] after its last renewal); the next call of any
//!   instance on that campaign day then reclaims it.
//! - **An idle instance does not strand a budget.** It asks for no slice
//!   (its rate is zero) and holds only the floor of the room left, which
//!   shrinks at each of its renewals as others spend the room.
//! - **Redis down:** leases are not renewed; each instance bids from what
//!   is left of its slices until they expire, then no-bids budgeted
//!   campaigns until Redis is back.
//! - **Round trips:** one batch per [`TICK`] at most, only when a lease
//!   is due (running out, expiring within
//!   [`RENEW_BEFORE_SECS`](crate::state::budget::lease::RENEW_BEFORE_SECS),
//!   or far more than needed): independent of the request rate.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::client::{Batch, Redis};
use super::keys;
use crate::model::CampaignId;
use crate::state::StateError;
use crate::state::budget::lease::{FLOOR_DIVISOR, LEASE_TTL_SECS, Rate, desired, due, local_until};
use crate::state::budget::{Leased, Ledger, Limits};
use crate::state::clock::SharedClock;

/// How often the renewal thread looks at every lease.
pub const TICK: Duration = Duration::from_millis(100);

/// How long a day's ledger outlives its day (late bills of the day are
/// still counted against it by nobody: it is kept for inspection).
const KEEP_MS: i64 = 2 * 86_400 * 1_000;

/// The ledger's step. KEYS: the day's ledger, the campaign's spend.
/// ARGV: instance, day start, daily budget, total budget (0 = none),
/// used, desired slice, ttl ms, `renew` or `return`, floor divisor,
/// keep ms. Returns {limit, granted, day's limit}.
const SCRIPT: &str = r"
local function n(x) return string.format('%.0f', x) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local day = ARGV[2]
local daily, total = tonumber(ARGV[3]), tonumber(ARGV[4])
local used, desired = tonumber(ARGV[5]), tonumber(ARGV[6])
local s = redis.call('HMGET', KEYS[2], 'day_start', 'day', 'total')
local booked_day, before = 0, 0
local all_spend = tonumber(s[3] or '')
if all_spend then
  if s[1] == day then
    booked_day = tonumber(s[2] or '') or 0
    before = all_spend - booked_day
  else
    before = all_spend
  end
end
local cap = -1
if daily > 0 then cap = daily end
if total > 0 and (cap < 0 or total - before < cap) then cap = total - before end
local granted = tonumber(redis.call('HGET', KEYS[1], 'granted') or '') or booked_day
local fields = redis.call('HGETALL', KEYS[1])
local key = 'i:' .. ARGV[1]
local prev = used
for i = 1, #fields, 2 do
  local f = fields[i]
  if string.sub(f, 1, 2) == 'i:' then
    local l, u, e = string.match(fields[i + 1], '^(%-?%d+):(%-?%d+):(%d+)$')
    if l then
      l, u, e = tonumber(l), tonumber(u), tonumber(e)
      if e <= now then
        granted = granted - math.max(l - u, 0)
        redis.call('HDEL', KEYS[1], f)
      elseif f == key then
        prev = l
      end
    else
      redis.call('HDEL', KEYS[1], f)
    end
  end
end
local left = prev - used
local limit = used
if ARGV[8] == 'return' then
  granted = granted - math.max(left, 0)
  redis.call('HDEL', KEYS[1], key)
  limit = 0
else
  local room = math.max(cap - granted + math.max(left, 0), 0)
  local give = math.max(desired, math.floor(room / tonumber(ARGV[9])))
  give = math.max(math.min(give, room), 0)
  limit = used + give
  granted = granted + (limit - prev)
  redis.call('HSET', KEYS[1], key, n(limit) .. ':' .. n(used) .. ':' .. n(now + tonumber(ARGV[7])))
end
redis.call('HSET', KEYS[1], 'granted', n(granted))
redis.call('PEXPIRE', KEYS[1], ARGV[10])
return {limit, granted, cap}
";

/// What the ledger answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Granted {
    /// This instance's limit now (0 after a hand-back).
    pub limit: i64,
    /// The day's money no longer free, fleet-wide.
    pub granted: i64,
    /// The day's limit.
    pub cap: i64,
}

/// Renew a lease, or hand it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Renew, wishing to have this much left.
    Renew {
        /// The slice wished for, micros.
        desired: i64,
    },
    /// Hand back what is unused.
    Return,
}

/// One call of the ledger script: instance `instance`'s lease on
/// campaign `id`'s day `day` (its start) under `limits`, having used
/// `used` of it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The instance.
    pub instance: &'a str,
    /// The campaign.
    pub id: CampaignId,
    /// Its current day's start, Unix seconds.
    pub day: i64,
    /// Its budgets.
    pub limits: Limits,
    /// Its own booked spend today plus what its bids in flight hold.
    pub used: i64,
    /// Renew or return.
    pub step: Step,
}

impl Call<'_> {
    fn keys(&self) -> [String; 2] {
        [keys::lease(self.id.0, self.day), keys::spend(self.id.0)]
    }

    fn args(&self) -> [String; 10] {
        let (mode, desired) = match self.step {
            Step::Renew { desired } => ("renew", desired),
            Step::Return => ("return", 0),
        };
        [
            self.instance.to_string(),
            self.day.to_string(),
            self.limits.daily.0.to_string(),
            self.limits.total.0.to_string(),
            self.used.to_string(),
            desired.to_string(),
            (LEASE_TTL_SECS * 1_000).to_string(),
            mode.to_string(),
            FLOOR_DIVISOR.to_string(),
            KEEP_MS.to_string(),
        ]
    }

    /// As a command of a batch (the script by its hash).
    fn cmd(&self, script: &redis::Script) -> redis::Cmd {
        let mut c = redis::cmd("EVALSHA");
        c.arg(script.get_hash()).arg(2);
        for k in self.keys() {
            c.arg(k);
        }
        for a in self.args() {
            c.arg(a);
        }
        c
    }

    /// Runs the script alone (loading it where the node lacks it).
    pub fn run(&self, redis: &mut Redis) -> Result<Granted, StateError> {
        let script = redis::Script::new(SCRIPT);
        let row: Vec<i64> = redis.call(|c| {
            let mut inv = script.prepare_invoke();
            for k in self.keys() {
                inv.key(k);
            }
            for a in self.args() {
                inv.arg(a);
            }
            inv.invoke(c)
        })?;
        granted(&row).ok_or_else(|| StateError::Unavailable("lease script reply".into()))
    }
}

fn granted(row: &[i64]) -> Option<Granted> {
    match *row {
        [limit, granted, cap] => Some(Granted {
            limit,
            granted,
            cap,
        }),
        _ => None,
    }
}

/// Runs `calls` in one batch (one round trip per node); where a node
/// lacks the script, one by one, which loads it.
fn run_all(
    redis: &mut Redis,
    script: &redis::Script,
    calls: &[Call<'_>],
) -> Vec<Result<Granted, StateError>> {
    let mut batch = Batch::new();
    for c in calls {
        batch.add(c.cmd(script));
    }
    match redis.batch::<Vec<Vec<i64>>>(&batch) {
        Ok(rows) if rows.len() == calls.len() => rows
            .iter()
            .map(|r| granted(r).ok_or_else(|| StateError::Unavailable("lease reply".into())))
            .collect(),
        Err(StateError::Unavailable(e)) if e.to_lowercase().contains("script") => {
            calls.iter().map(|c| c.run(redis)).collect()
        }
        Ok(_) => calls
            .iter()
            .map(|_| Err(StateError::Unavailable("lease replies".into())))
            .collect(),
        Err(e) => calls
            .iter()
            .map(|_| Err(StateError::Unavailable(e.to_string())))
            .collect(),
    }
}

/// This instance's leases: the renewal thread, and the hand-back at
/// shutdown.
pub struct Leases {
    instance: String,
    ledger: Arc<Ledger>,
    clock: SharedClock,
    script: redis::Script,
    /// Taken for a round or the hand-back, so none overlaps another.
    redis: Mutex<Redis>,
    stopped: AtomicBool,
}

impl std::fmt::Debug for Leases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leases")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl Leases {
    /// Puts `ledger` in lease mode and starts the thread that renews its
    /// leases for instance `instance` every [`TICK`].
    pub fn start(
        redis: Redis,
        instance: String,
        ledger: Arc<Ledger>,
        clock: SharedClock,
    ) -> std::io::Result<Arc<Leases>> {
        ledger.lease_mode();
        let leases = Arc::new(Leases {
            instance,
            ledger,
            clock,
            script: redis::Script::new(SCRIPT),
            redis: Mutex::new(redis),
            stopped: AtomicBool::new(false),
        });
        let me = Arc::clone(&leases);
        std::thread::Builder::new()
            .name("fleet-leases".into())
            .spawn(move || {
                crate::cold_path::lower_priority();
                let mut rates = HashMap::new();
                while !me.stopped.load(Ordering::Acquire) {
                    me.round(&mut rates);
                    std::thread::sleep(TICK);
                }
            })?;
        Ok(leases)
    }

    /// One look at every lease: those due are renewed in one batch.
    fn round(&self, rates: &mut HashMap<CampaignId, Rate>) {
        let mut redis = self.redis.lock().unwrap_or_else(|e| e.into_inner());
        if self.stopped.load(Ordering::Acquire) {
            return;
        }
        let now = self.clock.now();
        let all = self.ledger.leases(now);
        rates.retain(|id, _| all.iter().any(|l| l.id == *id));
        let mut calls = Vec::new();
        for l in &all {
            let rate = rates.entry(l.id).or_default();
            rate.update(l.lease.taken, TICK.as_secs_f64());
            let wish = desired(rate.per_sec(), l.lease.want);
            if due(&l.lease, l.day, now.0, wish) {
                calls.push(self.call(l, Step::Renew { desired: wish }));
            }
        }
        if calls.is_empty() {
            return;
        }
        let until = local_until(now.0);
        for (c, r) in calls.iter().zip(run_all(&mut redis, &self.script, &calls)) {
            match r {
                Ok(g) => self.ledger.grant(c.id, c.day, g.limit, until),
                // Redis away: the lease runs out or expires, and then
                // the campaign no-bids until it is back.
                Err(e) => {
                    tracing::debug!(campaign = c.id.0, error = %e, "lease not renewed");
                }
            }
        }
    }

    fn call<'a>(&'a self, l: &Leased, step: Step) -> Call<'a> {
        Call {
            instance: &self.instance,
            id: l.id,
            day: l.day,
            limits: l.limits,
            used: l.lease.used,
            step,
        }
    }

    /// Graceful shutdown: stops renewing, stops bidding on leases, and
    /// hands back what every lease has unused. Blocking; one batch.
    pub fn hand_back(&self) {
        self.stopped.store(true, Ordering::Release);
        self.ledger.revoke_leases();
        let mut redis = self.redis.lock().unwrap_or_else(|e| e.into_inner());
        let all: Vec<Leased> = self
            .ledger
            .leases(self.clock.now())
            .into_iter()
            .filter(|l| l.lease.day == l.day)
            .collect();
        let calls: Vec<Call<'_>> = all.iter().map(|l| self.call(l, Step::Return)).collect();
        if calls.is_empty() {
            return;
        }
        let failed = run_all(&mut redis, &self.script, &calls)
            .iter()
            .filter(|r| r.is_err())
            .count();
        if failed > 0 {
            tracing::warn!(
                failed,
                "leases not handed back; they return when they expire"
            );
        }
    }
}
