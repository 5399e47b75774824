//! One account's lease in a fleet: the slice of a campaign's day that
//! the central ledger in Redis ([`crate::fleet::lease`]) granted this
//! instance, and how it is sized. The bid path spends the lease with
//! atomics; a background thread renews it before it runs out or
//! expires. Never any I/O here.
//!
//! # Promise
//! - **An instance never commits past its lease.** What it has used of
//!   a campaign's day (what its own bids booked today, wherever their
//!   bills arrived, plus what its bids in flight hold) plus a new
//!   reservation must fit in the lease's limit, or the bid is refused as
//!   if the budget were exhausted. A bill for its bid taken by another
//!   instance reaches it forwarded ([`crate::fleet::settles`]); until
//!   then the bid's reservation stands for it.
//! - **Never past its expiry.** A lease is used until a second before
//!   the ledger would reclaim it ([`LEASE_TTL_SECS`], counted from before
//!   the request was sent); an instance cut off from Redis stops bidding
//!   on budgeted campaigns then, so the money the ledger takes back is
//!   never spent twice.
//! - **Sized from the spend rate.** A renewal asks to hold what the
//!   instance's bids asked to reserve in the last [`HORIZON_SECS`]
//!   (those the lease refused included, so a lease that is too small
//!   grows to the demand; at least the largest bid refused); the ledger
//!   adds a floor of the room left ([`FLOOR_DIVISOR`]), so an idle
//!   instance holds little of a small budget and hands the rest back at
//!   its next renewal.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// How long the ledger keeps a lease that is not renewed, seconds: what
/// a dead instance can strand, and for how long.
pub const LEASE_TTL_SECS: i64 = 5;
/// A lease is renewed when it has this long left.
pub const RENEW_BEFORE_SECS: i64 = 2;
/// How many seconds of its recent demand an instance asks to hold.
pub const HORIZON_SECS: f64 = 2.0;
/// The ledger grants at least this share (1/this) of the room left, so
/// that a quiet instance can bid at once and a busy one warms up fast.
pub const FLOOR_DIVISOR: i64 = 16;

/// A campaign day's lease on one instance. All zero until the first
/// grant: every bid on a budgeted campaign is refused until then.
#[derive(Debug, Default)]
pub struct Lease {
    /// The campaign day (its start, Unix seconds) the lease is for.
    day: AtomicI64,
    /// What this instance may have used of that day: the ledger's limit
    /// for it (its own booked spend plus reservations), micros.
    limit: AtomicI64,
    /// Unix seconds (local clock) from which it may no longer be used.
    until: AtomicI64,
    /// What this instance's bids booked on the account's current day.
    own_day: AtomicI64,
    /// Amounts asked to reserve since start (reserved, or refused for
    /// want of lease): the demand a lease is sized from.
    taken: AtomicU64,
    /// The largest reservation refused for want of lease since the last
    /// renewal.
    want: AtomicI64,
}

/// What a lease holds now, for the renewal thread and `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LeaseState {
    /// The day it is for (0: none granted yet).
    pub day: i64,
    /// The limit granted, micros.
    pub limit: i64,
    /// Used of it: own booked spend today plus reservations, micros.
    pub used: i64,
    /// Until when it may be used, Unix seconds.
    pub until: i64,
    /// Amounts asked to reserve since start.
    pub taken: u64,
    /// The largest reservation refused for want of lease.
    pub want: i64,
}

impl LeaseState {
    /// What is left to reserve (never negative).
    pub fn left(&self) -> i64 {
        self.limit.saturating_sub(self.used).max(0)
    }
}

impl Lease {
    /// Hot path: whether `need` more (what other bids hold plus this
    /// one's reservation) fits in the lease of day `day` at `now`. On a
    /// refusal, notes `cost` for the next renewal: in the demand, and in
    /// the largest refused (a relaxed max).
    pub fn admits(&self, day: i64, now: i64, need: i64, cost: i64) -> bool {
        let ok = self.day.load(Ordering::Acquire) == day
            && now < self.until.load(Ordering::Acquire)
            && self.own_day.load(Ordering::Acquire).saturating_add(need)
                <= self.limit.load(Ordering::Acquire);
        if !ok {
            self.took(cost);
            // A read first: refused bids of one campaign do not all write.
            if self.want.load(Ordering::Relaxed) < cost {
                self.want.fetch_max(cost, Ordering::Relaxed);
            }
        }
        ok
    }

    /// Hot path: counts a reservation, for the demand.
    pub fn took(&self, amount: i64) {
        self.taken
            .fetch_add(amount.max(0) as u64, Ordering::Relaxed);
    }

    /// Adds what one of this instance's bids booked on the current day.
    pub fn booked(&self, cost: i64) {
        let _ = self
            .own_day
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.saturating_add(cost))
            });
    }

    /// A new campaign day: nothing booked on it yet, no lease for it.
    pub fn new_day(&self) {
        self.own_day.store(0, Ordering::Release);
    }

    /// The ledger granted `limit` for day `day`, usable until `until`.
    pub fn grant(&self, day: i64, limit: i64, until: i64) {
        self.limit.store(limit, Ordering::Release);
        self.until.store(until, Ordering::Release);
        self.day.store(day, Ordering::Release);
        self.want.store(0, Ordering::Relaxed);
    }

    /// Stops the lease being used (shutdown, before it is handed back).
    pub fn revoke(&self) {
        self.until.store(0, Ordering::Release);
    }

    /// What it holds now, with `reserved` held for bids in flight.
    pub fn state(&self, reserved: i64) -> LeaseState {
        LeaseState {
            day: self.day.load(Ordering::Acquire),
            limit: self.limit.load(Ordering::Acquire),
            used: self
                .own_day
                .load(Ordering::Acquire)
                .saturating_add(reserved),
            until: self.until.load(Ordering::Acquire),
            taken: self.taken.load(Ordering::Relaxed),
            want: self.want.load(Ordering::Relaxed),
        }
    }
}

/// What an instance's bids on one campaign asked to reserve in the last
/// [`HORIZON_SECS`], tick by tick: the demand a lease is sized from. A
/// window rather than a decayed sum, so that traffic in bursts (a
/// second's bids in a tenth of it, then quiet) is sized by its bursts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rate {
    last: u64,
    window: std::collections::VecDeque<u64>,
    sum: u64,
}

impl Rate {
    /// Folds in the counter `taken` as read every `every` seconds.
    pub fn update(&mut self, taken: u64, every: f64) {
        let delta = taken.saturating_sub(self.last);
        self.last = taken;
        let ticks = (HORIZON_SECS / every.max(1e-3)).ceil().max(1.0) as usize;
        self.window.push_back(delta);
        self.sum = self.sum.saturating_add(delta);
        while self.window.len() > ticks {
            let old = self.window.pop_front().unwrap_or(0);
            self.sum = self.sum.saturating_sub(old);
        }
    }

    /// Micros asked per second, over the window.
    pub fn per_sec(&self) -> f64 {
        self.sum as f64 / HORIZON_SECS
    }
}

/// What an instance asks to have left after a renewal: [`HORIZON_SECS`]
/// of its recent rate, and at least the bid it last had to refuse.
pub fn desired(rate_per_sec: f64, want: i64) -> i64 {
    ((rate_per_sec * HORIZON_SECS).round() as i64)
        .max(want)
        .max(0)
}

/// Whether the lease `s` should be renewed at `now` (Unix seconds) for
/// day `day`, the instance wishing to hold `desired`.
pub fn due(s: &LeaseState, day: i64, now: i64, desired: i64) -> bool {
    // Granted at least a second ago.
    let aged = s.until - now <= LEASE_TTL_SECS - 2;
    s.day != day
        || s.until - now <= RENEW_BEFORE_SECS
        || s.want > s.left()
        // A quarter of the demand's horizon used: topped up before a
        // burst can spend the rest in less than a renewal's time.
        || s.left() < desired / 4 * 3
        // Much more than it needs: the rest goes back, once a second.
        || (aged && s.left() > 4 * desired.max(1) && s.left() > 1_000)
}

/// The local expiry of a lease requested at `sent` (Unix seconds, before
/// the request left): a second before the ledger's own.
pub fn local_until(sent: i64) -> i64 {
    sent + LEASE_TTL_SECS - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bid_fits_only_in_the_lease_of_its_day_before_expiry() {
        let lease = Lease::default();
        // Nothing granted: nothing fits.
        assert!(!lease.admits(100, 100, 1, 1));
        lease.grant(100, 1_000, 104);
        assert!(lease.admits(100, 100, 1_000, 10));
        assert!(!lease.admits(100, 100, 1_001, 10));
        lease.booked(600);
        assert!(lease.admits(100, 103, 400, 10));
        assert!(!lease.admits(100, 103, 401, 10));
        // Expired, or another day's: refused.
        assert!(!lease.admits(100, 104, 1, 1));
        assert!(!lease.admits(200, 101, 1, 1));
        // The refused bid is remembered for the renewal.
        assert_eq!(lease.state(0).want, 10);
        lease.new_day();
        assert_eq!(lease.state(7).used, 7);
    }

    #[test]
    fn a_lease_is_sized_from_the_rate_and_renewed_before_it_runs_out() {
        let mut rate = Rate::default();
        // 1,000 micros reserved every 0.1 s: 10,000 a second.
        for i in 1..=100 {
            rate.update(i * 1_000, 0.1);
        }
        assert!((rate.per_sec() - 10_000.0).abs() < 100.0, "{rate:?}");
        let want = desired(rate.per_sec(), 0);
        assert!((19_000..=21_000).contains(&want), "{want}");
        // Idle: the rate decays to nothing.
        for _ in 0..200 {
            rate.update(100_000, 0.1);
        }
        assert_eq!(desired(rate.per_sec(), 0), 0);
        assert_eq!(desired(0.0, 700), 700);

        let s = |limit, used, until, want| LeaseState {
            day: 1,
            limit,
            used,
            until,
            taken: 0,
            want,
        };
        assert!(!due(&s(3_000, 1_000, 10, 0), 1, 5, 2_000));
        assert!(due(&s(3_000, 1_000, 10, 0), 2, 5, 2_000), "a new day");
        assert!(due(&s(3_000, 1_000, 7, 0), 1, 5, 2_000), "expiring");
        assert!(due(&s(3_000, 2_500, 10, 0), 1, 5, 2_000), "running out");
        assert!(due(&s(3_000, 1_000, 10, 2_500), 1, 5, 2_000), "refused");
        assert!(due(&s(90_000, 0, 8, 0), 1, 5, 2_000), "too much held");
        assert!(!due(&s(90_000, 0, 9, 0), 1, 5, 2_000), "just granted");
    }
}
