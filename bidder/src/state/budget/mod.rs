//! Budgets: per campaign, what it has booked, what its bids in flight have
//! reserved, and how much of its day's budget it may have used by now
//! (pacing). The seam is two traits: [`Budgets`], every campaign's
//! account, and [`Account`], one campaign's; [`ledger`] is the embedded
//! implementation (atomics, spend loaded from SQLite).
//!
//! # Consistency promise
//! - **A bid reserves what it is expected to cost.** Before a bid is sent
//!   its account reserves the bid's price (one impression, in the
//!   campaign's currency) times the campaign's measured win rate, never
//!   less than [`RESERVE_FLOOR`] of the price: a campaign that wins one
//!   bid in fifty does not hold fifty prices for every impression it buys.
//!   The amount reserved travels in the bid's signed token, so the
//!   outcome releases exactly what was reserved. The reservation is added
//!   first and the limits are checked after, with the addition visible:
//!   two bids racing for the last room both see each other and one (or
//!   both) backs out, so booked spend plus live reservations never
//!   exceeds a budget.
//! - **By how much spend can overshoot.** A bid that wins books its
//!   clearing price, which can be more than it reserved. So booked spend
//!   can pass a budget by at most what the bids in flight when it ran out
//!   may book beyond their reservations: the sum over those bids of
//!   (price - reserved), at most (1 - [`RESERVE_FLOOR`]) of their prices,
//!   plus the late wins below. With full reservations (a win rate of 1)
//!   this term is zero.
//! - **Reservations expire by the exchange's notice habit.** A reservation
//!   is held for its exchange's notice window (`notice_window_secs`; short
//!   where the exchange sends no loss notices, since every loss then
//!   waits for expiry) and at most one slot of the ring longer; then it is
//!   released whether or not its outcome came. A win or bill that arrives
//!   after that is still booked and counted as late: late wins are the
//!   other spend by which a budget can be exceeded, at most the bids of
//!   one window.
//! - **In a fleet, within a lease.** Each account with a budget also
//!   bids only within the lease the fleet's central ledger granted this
//!   instance ([`lease`], [`crate::fleet::lease`]): the fleet never books
//!   more than the budget plus the sum of outstanding leases, beyond the
//!   two terms above.
//! - **Stale by at most one tick.** Booked spend is exact (each billing
//!   point adds to it when it is recorded); the day rolls at the
//!   campaign's own midnight, and the win rate is measured again, on the
//!   first [`Budgets::tick`] after it.
//!
//! # Hot and cold
//! The bid path calls [`Account::check`] (a read) in the pure decision and
//! [`Account::try_reserve`] in the commit step: atomics only, never
//! blocking, never allocating. Everything else is cold path: booking spend
//! when an event settles a bid, releasing on a loss, rolling days,
//! measuring win rates, and checkpointing reservations so that a crash
//! errs on the side of underspending.
//!
//! Why `dyn`: the snapshot holds each campaign's account as
//! `Arc<dyn Account>`, so the decision reaches it without a lookup and the
//! Redis implementation can hand out its own kind of account; the call is
//! an indirect jump per candidate that reaches the budget check, a few
//! nanoseconds against microseconds per request.

pub mod lease;
pub mod ledger;
mod pacing;

#[cfg(test)]
pub mod doubles;

use std::sync::Arc;

use openrtb::{Currency, Micros};
use serde::Serialize;

use crate::model::{Campaign, CampaignId, PacingMode, UnixTime};

pub use ledger::{Leased, Ledger};
pub use pacing::allowed;

/// A campaign's limits, as compiled into the bid snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Per campaign day; 0 = none.
    pub daily: Micros,
    /// In all; 0 = none.
    pub total: Micros,
    /// The day's spending curve.
    pub mode: PacingMode,
}

impl Limits {
    /// The limits of `c`.
    pub fn of(c: &Campaign) -> Limits {
        Limits {
            daily: c.daily_budget_micros,
            total: c.total_budget_micros,
            mode: c.pacing.mode,
        }
    }

    /// Whether there is a budget at all (a daily or a total one).
    pub fn budgeted(&self) -> bool {
        self.daily.0 > 0 || self.total.0 > 0
    }
}

/// Why a reservation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The daily or total budget has no room for this bid.
    Exhausted,
    /// Spending is ahead of the day's curve: this bid was throttled.
    Paced,
}

/// What one bid holds: the amount its account reserved and until when.
/// Carried in the bid's token, so that its outcome releases exactly this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// Reserved, micros of the campaign's currency.
    pub amount: Micros,
    /// When the reservation lapses (the bid's time plus its exchange's
    /// notice window), Unix seconds.
    pub until: UnixTime,
}

/// The least share of a bid's price its reservation holds, whatever the
/// campaign's win rate: 1/10.
pub const RESERVE_FLOOR: (i64, i64) = (1, 10);

/// How an event that settles a bid found its reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Still held, now released.
    OnTime,
    /// Already expired (or lost to a restart): booked all the same.
    Late,
}

/// Every campaign's account. Accounts outlive snapshots: a rebuilt
/// snapshot gets the same account for the same campaign.
pub trait Budgets: Send + Sync {
    /// The account of `c`, made (and loaded) on first use; its currency,
    /// time zone and limits updated to `c`'s. Cold path (snapshot builds).
    fn account(&self, c: &Campaign, now: UnixTime) -> Arc<dyn Account>;

    /// The account of campaign `id`, if a snapshot ever compiled it.
    fn get(&self, id: CampaignId) -> Option<Arc<dyn Account>>;

    /// Every account, by campaign id.
    fn accounts(&self) -> Vec<Arc<dyn Account>>;

    /// Once a second or so: starts a new day for every account whose
    /// midnight has passed, and retries loading those that failed.
    fn tick(&self, now: UnixTime);

    /// What every account holds in reservations now (for the checkpoint).
    fn reservations(&self, now: UnixTime) -> Vec<(CampaignId, Micros)> {
        self.accounts()
            .iter()
            .map(|a| (a.id(), a.state(now).reserved_micros))
            .filter(|(_, m)| m.0 > 0)
            .collect()
    }

    /// After a restart: holds what the last checkpoint found reserved, as
    /// if those bids had just been sent (their outcomes arrive as late
    /// events), so that a crash cannot make room for more spend.
    fn restore(&self, held: &[(CampaignId, Micros)], now: UnixTime);
}

/// One campaign's money.
pub trait Account: Send + Sync + std::fmt::Debug {
    /// The campaign.
    fn id(&self) -> CampaignId;

    /// The campaign's currency (of every amount here).
    fn currency(&self) -> Currency;

    /// Hot path, a read: whether a bid costing `cost` at `now` would be
    /// reserved, the pacing throttle drawing `u`. Changes nothing.
    fn check(&self, limits: &Limits, cost: Micros, now: UnixTime, u: u32) -> Result<(), Refused>;

    /// Hot path: reserves what a bid costing `cost` at `now` is expected
    /// to cost (see [`RESERVE_FLOOR`]), held for `hold_secs`, if the budgets
    /// have room and pacing lets it through (the same verdict as
    /// [`check`] unless another bid took the room in between). Returns
    /// what is held, for the bid's token.
    ///
    /// [`check`]: Account::check
    fn try_reserve(
        &self,
        limits: &Limits,
        cost: Micros,
        now: UnixTime,
        u: u32,
        hold_secs: u32,
    ) -> Result<Held, Refused>;

    /// The billing point of a bid that holds `held`: books `cost` (at
    /// `at`) and releases the reservation.
    fn settle(&self, held: Held, cost: Micros, at: UnixTime) -> Settled;

    /// A loss: releases the reservation `held` of a bid.
    fn release(&self, held: Held, now: UnixTime);

    /// The billing point of a bid another instance of a fleet made, and
    /// whose reservation that instance holds: books `cost` (at `at`) in
    /// the campaign's spend as this instance sees it, and nothing in this
    /// instance's lease (the settle is forwarded to the bidder, whose
    /// lease counts it).
    fn book_elsewhere(&self, cost: Micros, at: UnixTime);

    /// The account as the API and `/metrics` show it.
    fn state(&self, now: UnixTime) -> BudgetState;
}

/// An account as the API and `/metrics` show it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BudgetState {
    /// Currency of every amount.
    pub currency: Currency,
    /// The campaign's daily budget (0 = none).
    pub daily_budget_micros: Micros,
    /// Its lifetime budget (0 = none).
    pub total_budget_micros: Micros,
    /// Booked on the current campaign day.
    pub spent_today_micros: Micros,
    /// Booked in all.
    pub spent_total_micros: Micros,
    /// Held for bids in flight.
    pub reserved_micros: Micros,
    /// Time zone of the campaign day.
    pub time_zone: String,
    /// When the current day began and ends (Unix seconds).
    pub day_start: UnixTime,
    /// End of the current day.
    pub day_end: UnixTime,
    /// Pacing curve.
    pub pacing: PacingMode,
    /// What the curve allows to have been spent by now.
    pub allowed_now_micros: Micros,
    /// Share of bids pacing lets through now, 0 to 1.
    pub bid_share: f64,
    /// `on_pace`, `throttled`, `paused_by_pacing`, `daily_exhausted`,
    /// `total_exhausted`.
    pub state: &'static str,
    /// Wins booked after their reservation had expired.
    pub late_wins: u64,
    /// What those late wins booked.
    pub late_micros: Micros,
    /// The share of bids that win, as measured (1 until enough bids have
    /// been seen); what a reservation holds of a bid's price.
    pub win_rate: f64,
}

/// The reservation for a bid at CPM `price` in the campaign's currency:
/// one impression, rounded up.
pub fn impression_cost(price: Micros) -> Micros {
    Micros((price.0.max(0) as u64).div_ceil(1000) as i64)
}

#[cfg(test)]
mod tests;
