//! The embedded budget: one [`LocalAccount`] of atomics per campaign,
//! booked spend loaded from the store when an account is made and at each
//! new day, reservations held in 16 time buckets covering
//! `reservation_ttl`. A bucket is recycled when its time comes round again,
//! which releases the reservations of bids whose outcome never came.
//!
//! The hot-path methods ([`Account::check`], [`Account::try_reserve`]) are
//! atomics only; the rule (currency, limits, zone) sits behind a mutex that
//! only the cold path takes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use jiff::tz::TimeZone;
use openrtb::{Currency, Micros};

use super::pacing::{Curve, day_bounds};
use super::{Account, BudgetState, Budgets, Limits, Refused, Settled};
use crate::model::{Campaign, CampaignId, PacingMode, UnixTime};
use crate::store::Store;

/// Reservation buckets per account.
const BUCKETS: usize = 16;
/// The low 48 bits of a bucket hold micros; the high 16 the slot's tag.
const AMOUNT: u64 = (1 << 48) - 1;

/// Every campaign's account. Accounts outlive snapshots: a rebuilt
/// snapshot gets the same account for the same campaign.
pub struct Ledger {
    accounts: Mutex<HashMap<CampaignId, Arc<LocalAccount>>>,
    slot_secs: i64,
    store: Option<Arc<Store>>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("slot_secs", &self.slot_secs)
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// A ledger whose reservations live at least `reservation_ttl_secs`,
    /// loading booked spend from `store` (none: every account starts at
    /// zero, for benchmarks and tests).
    pub fn new(reservation_ttl_secs: u32, store: Option<Arc<Store>>) -> Ledger {
        // A reservation lives between 15 and 16 slots.
        let slot_secs = u64::from(reservation_ttl_secs.max(15)).div_ceil(BUCKETS as u64 - 1) as i64;
        Ledger {
            accounts: Mutex::new(HashMap::new()),
            slot_secs,
            store,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CampaignId, Arc<LocalAccount>>> {
        self.accounts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// [`Budgets::account`], as the concrete account.
    pub fn local(&self, c: &Campaign, now: UnixTime) -> Arc<LocalAccount> {
        let mut accounts = self.lock();
        let account = accounts.entry(c.id).or_insert_with(|| {
            Arc::new(LocalAccount::new(
                c.id,
                self.slot_secs,
                c.currency,
                Limits::of(c),
            ))
        });
        let account = Arc::clone(account);
        drop(accounts);
        let zone_changed = account.set_rule(c);
        if zone_changed || !account.loaded.load(Ordering::Acquire) {
            account.roll(now, self.store.as_deref(), true);
        }
        account
    }

    fn sorted(&self) -> Vec<Arc<LocalAccount>> {
        let mut all: Vec<_> = self.lock().values().cloned().collect();
        all.sort_by_key(|a| a.id);
        all
    }
}

impl Budgets for Ledger {
    fn account(&self, c: &Campaign, now: UnixTime) -> Arc<dyn Account> {
        self.local(c, now)
    }

    fn get(&self, id: CampaignId) -> Option<Arc<dyn Account>> {
        self.lock()
            .get(&id)
            .map(|a| Arc::clone(a) as Arc<dyn Account>)
    }

    fn accounts(&self) -> Vec<Arc<dyn Account>> {
        self.sorted()
            .into_iter()
            .map(|a| a as Arc<dyn Account>)
            .collect()
    }

    fn tick(&self, now: UnixTime) {
        for a in self.sorted() {
            let due = now.0 >= a.day_end.load(Ordering::Acquire);
            if due || !a.loaded.load(Ordering::Acquire) {
                a.roll(
                    now,
                    self.store.as_deref(),
                    !a.loaded.load(Ordering::Acquire),
                );
            }
        }
    }

    fn reservations(&self, now: UnixTime) -> Vec<(CampaignId, Micros)> {
        self.sorted()
            .iter()
            .map(|a| (a.id, a.reserved(a.slot(now.0))))
            .filter(|(_, m)| m.0 > 0)
            .collect()
    }

    fn restore(&self, held: &[(CampaignId, Micros)], now: UnixTime) {
        for (id, m) in held {
            if let Some(a) = self.lock().get(id).cloned() {
                a.add(a.slot(now.0), m.0);
            }
        }
    }
}

/// One campaign's money: booked spend, reservations, its current day.
pub struct LocalAccount {
    /// The campaign.
    pub id: CampaignId,
    slot_secs: i64,
    buckets: [AtomicU64; BUCKETS],
    booked_day: AtomicI64,
    booked_total: AtomicI64,
    day_start: AtomicI64,
    day_end: AtomicI64,
    loaded: AtomicBool,
    late: AtomicU64,
    late_micros: AtomicI64,
    /// Cold path only: what the admin API last said.
    rule: Mutex<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    currency: Currency,
    limits: Limits,
    zone_name: String,
    zone: TimeZone,
}

impl std::fmt::Debug for LocalAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl LocalAccount {
    fn new(id: CampaignId, slot_secs: i64, currency: Currency, limits: Limits) -> LocalAccount {
        LocalAccount {
            id,
            slot_secs,
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            booked_day: AtomicI64::new(0),
            booked_total: AtomicI64::new(0),
            day_start: AtomicI64::new(0),
            // Until the first roll, every bid is refused (see `loaded`).
            day_end: AtomicI64::new(0),
            loaded: AtomicBool::new(false),
            late: AtomicU64::new(0),
            late_micros: AtomicI64::new(0),
            rule: Mutex::new(Rule {
                currency,
                limits,
                zone_name: "UTC".into(),
                zone: TimeZone::UTC,
            }),
        }
    }

    fn rule(&self) -> Rule {
        self.rule.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Takes `c`'s currency, limits and zone; whether the zone changed.
    fn set_rule(&self, c: &Campaign) -> bool {
        let mut r = self.rule.lock().unwrap_or_else(|e| e.into_inner());
        r.currency = c.currency;
        r.limits = Limits::of(c);
        if r.zone_name == c.pacing.time_zone {
            return false;
        }
        // Validated by the admin API; an unknown zone (a tz database
        // change) falls back to UTC rather than stopping the campaign.
        r.zone = TimeZone::get(&c.pacing.time_zone).unwrap_or(TimeZone::UTC);
        r.zone_name = c.pacing.time_zone.clone();
        true
    }

    fn slot(&self, now: i64) -> i64 {
        now.div_euclid(self.slot_secs)
    }

    /// Sets the current day to the one holding `now` and, when `reload`
    /// (or a new day began), takes booked spend from the store.
    fn roll(&self, now: UnixTime, store: Option<&Store>, reload: bool) {
        let rule = self.rule();
        let (start, end) = day_bounds(&rule.zone, now);
        let new_day = start != self.day_start.load(Ordering::Acquire);
        if !new_day && !reload {
            return;
        }
        let spent = match store {
            Some(s) => s.spend_since(self.id, UnixTime(start)),
            None => Ok((
                Micros(if new_day {
                    0
                } else {
                    self.booked_day.load(Ordering::Acquire)
                }),
                Micros(self.booked_total.load(Ordering::Acquire)),
            )),
        };
        match spent {
            Ok((day, total)) => {
                self.day_start.store(start, Ordering::Release);
                self.day_end.store(end, Ordering::Release);
                self.booked_day.store(day.0, Ordering::Release);
                self.booked_total.store(total.0, Ordering::Release);
                self.loaded.store(true, Ordering::Release);
            }
            Err(e) => {
                // Bidding without knowing what was spent could overspend.
                self.loaded.store(false, Ordering::Release);
                tracing::error!(campaign = self.id.0, error = %e, "spend not loaded; not bidding");
            }
        }
    }

    /// The verdict on a bid of `cost` at `now` in `slot`, reading only.
    fn admits(
        &self,
        limits: &Limits,
        cost: Micros,
        now: UnixTime,
        slot: i64,
        u: u32,
    ) -> Result<(), Refused> {
        if !self.loaded.load(Ordering::Acquire) {
            return Err(Refused::Exhausted);
        }
        let day = self.booked_day.load(Ordering::Acquire);
        let total = self.booked_total.load(Ordering::Acquire);
        let reserved = self.reserved(slot).0;
        let with = |booked: i64| booked.saturating_add(reserved).saturating_add(cost.0);
        if !fits(limits, with(day), with(total)) {
            return Err(Refused::Exhausted);
        }
        if limits.mode != PacingMode::Asap && limits.daily.0 > 0 {
            let curve = self.curve(limits, now);
            if !curve.lets_through(day.saturating_add(reserved), u) {
                return Err(Refused::Paced);
            }
        }
        Ok(())
    }

    /// The curve's allowance at `now`.
    fn curve(&self, limits: &Limits, now: UnixTime) -> Curve {
        let (start, end) = (
            self.day_start.load(Ordering::Acquire),
            self.day_end.load(Ordering::Acquire),
        );
        Curve::at(limits, start, end, now.0)
    }

    /// Held for bids in flight at `slot`.
    fn reserved(&self, slot: i64) -> Micros {
        let mut sum = 0i64;
        for (i, b) in self.buckets.iter().enumerate() {
            let live = slot - (slot - i as i64).rem_euclid(BUCKETS as i64);
            let v = b.load(Ordering::Acquire);
            if v >> 48 == tag(live) {
                sum += (v & AMOUNT) as i64;
            }
        }
        Micros(sum)
    }

    fn add(&self, slot: i64, amount: i64) {
        let b = &self.buckets[slot.rem_euclid(BUCKETS as i64) as usize];
        let amount = amount.max(0) as u64;
        let _ = b.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
            Some(if v >> 48 == tag(slot) {
                (v & !AMOUNT) | ((v & AMOUNT) + amount).min(AMOUNT)
            } else {
                (tag(slot) << 48) | amount.min(AMOUNT)
            })
        });
    }

    /// Takes `amount` out of `slot`'s bucket; false when that bucket has
    /// been recycled since (the reservation had expired).
    fn remove(&self, slot: i64, amount: i64) -> bool {
        let b = &self.buckets[slot.rem_euclid(BUCKETS as i64) as usize];
        let amount = amount.max(0) as u64;
        b.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
            (v >> 48 == tag(slot)).then(|| (v & !AMOUNT) | (v & AMOUNT).saturating_sub(amount))
        })
        .is_ok()
    }

    /// Adds booked spend (already in the store) at `at`.
    pub fn book(&self, cost: Micros, at: UnixTime) {
        saturating_add(&self.booked_total, cost.0);
        if at.0 >= self.day_start.load(Ordering::Acquire) {
            saturating_add(&self.booked_day, cost.0);
        }
    }
}

impl Account for LocalAccount {
    fn id(&self) -> CampaignId {
        self.id
    }

    /// The campaign's currency.
    fn currency(&self) -> Currency {
        self.rule().currency
    }

    fn check(&self, limits: &Limits, cost: Micros, now: UnixTime, u: u32) -> Result<(), Refused> {
        self.admits(limits, cost, now, self.slot(now.0), u)
    }

    fn try_reserve(
        &self,
        limits: &Limits,
        cost: Micros,
        now: UnixTime,
        u: u32,
    ) -> Result<(), Refused> {
        let slot = self.slot(now.0);
        self.admits(limits, cost, now, slot, u)?;
        self.add(slot, cost.0);
        // Checked again with our own reservation in: of bids racing for
        // the last room, none that sees the limit crossed keeps its
        // reservation.
        let reserved = self.reserved(slot).0;
        let (day, total) = (
            self.booked_day.load(Ordering::Acquire),
            self.booked_total.load(Ordering::Acquire),
        );
        if !fits(
            limits,
            day.saturating_add(reserved),
            total.saturating_add(reserved),
        ) {
            self.remove(slot, cost.0);
            return Err(Refused::Exhausted);
        }
        Ok(())
    }

    /// The billing point of a bid made at `issued` that reserved
    /// `reserved`: books `cost` (at `at`) and releases the reservation.
    /// Booked before released, so the two never both miss.
    fn settle(&self, issued: UnixTime, reserved: Micros, cost: Micros, at: UnixTime) -> Settled {
        self.book(cost, at);
        let slot = self.slot(issued.0);
        let live = self.slot(at.0) - slot < BUCKETS as i64;
        if live && self.remove(slot, reserved.0) {
            Settled::OnTime
        } else {
            self.late.fetch_add(1, Ordering::Relaxed);
            saturating_add(&self.late_micros, cost.0);
            Settled::Late
        }
    }

    /// A loss: releases the reservation of a bid made at `issued`.
    fn release(&self, issued: UnixTime, reserved: Micros, now: UnixTime) {
        let slot = self.slot(issued.0);
        if self.slot(now.0) - slot < BUCKETS as i64 {
            self.remove(slot, reserved.0);
        }
    }

    /// The account as the API shows it.
    fn state(&self, now: UnixTime) -> BudgetState {
        let rule = self.rule();
        let limits = rule.limits;
        let day = Micros(self.booked_day.load(Ordering::Acquire));
        let total = Micros(self.booked_total.load(Ordering::Acquire));
        let reserved = self.reserved(self.slot(now.0));
        let curve = self.curve(&limits, now);
        let committed = day.0.saturating_add(reserved.0);
        let paced = limits.mode != PacingMode::Asap && limits.daily.0 > 0;
        let bid_share = if paced { curve.share(committed) } else { 1.0 };
        let state = if limits.total.0 > 0 && total.0.saturating_add(reserved.0) >= limits.total.0 {
            "total_exhausted"
        } else if limits.daily.0 > 0 && committed >= limits.daily.0 {
            "daily_exhausted"
        } else if bid_share <= 0.0 {
            "paused_by_pacing"
        } else if bid_share < 1.0 {
            "throttled"
        } else {
            "on_pace"
        };
        BudgetState {
            currency: rule.currency,
            daily_budget_micros: limits.daily,
            total_budget_micros: limits.total,
            spent_today_micros: day,
            spent_total_micros: total,
            reserved_micros: reserved,
            time_zone: rule.zone_name,
            day_start: UnixTime(self.day_start.load(Ordering::Acquire)),
            day_end: UnixTime(self.day_end.load(Ordering::Acquire)),
            pacing: limits.mode,
            allowed_now_micros: Micros(if paced { curve.allowed } else { limits.daily.0 }),
            bid_share,
            state,
            late_wins: self.late.load(Ordering::Relaxed),
            late_micros: Micros(self.late_micros.load(Ordering::Relaxed)),
        }
    }
}

/// Adds `amount` to a sum of money, stopping at the largest value rather
/// than wrapping to a negative one.
fn saturating_add(sum: &AtomicI64, amount: i64) {
    let _ = sum.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
        Some(v.saturating_add(amount))
    });
}

fn tag(slot: i64) -> u64 {
    (slot as u64) & 0xffff
}

fn fits(limits: &Limits, day: i64, total: i64) -> bool {
    (limits.daily.0 == 0 || day <= limits.daily.0)
        && (limits.total.0 == 0 || total <= limits.total.0)
}
