//! The embedded budget: one [`LocalAccount`] of atomics per campaign,
//! booked spend loaded from the store when an account is made and at each
//! new day, reservations held in a ring of 32 buckets by the time they
//! lapse (each bid's exchange sets its own notice window). A bucket is
//! recycled when its time comes round again, which releases the
//! reservations of bids whose outcome never came. A running sum of the
//! buckets answers "how much is held" without reading all 32: the first
//! reader in a new slot takes the buckets that lapsed out of it.
//!
//! The hot-path methods ([`Account::check`], [`Account::try_reserve`]) are
//! atomics only; the rule (currency, limits, zone) sits behind a mutex that
//! only the cold path takes, and so does the win-rate measurement.
//!
//! In a fleet ([`Ledger::lease_mode`]) every account with a budget also
//! holds a [`Lease`] from the fleet's central ledger, and bids only within
//! it; the fleet's booked spend comes in through [`Ledger::set_booked`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use jiff::tz::TimeZone;
use openrtb::{Currency, Micros};

use super::lease::{Lease, LeaseState};
use super::pacing::{Curve, day_bounds};
use super::{Account, BudgetState, Budgets, Held, Limits, RESERVE_FLOOR, Refused, Settled};
use crate::model::{Campaign, CampaignId, PacingMode, UnixTime};
use crate::store::Store;

/// Reservation buckets per account, by the slot in which they lapse.
const BUCKETS: usize = 32;
const _: () = assert!(BUCKETS.is_power_of_two());
/// The longest hold spans at most this many slots (the ring holds the
/// current slot, the hold, and one slot of rounding).
const HOLD_SLOTS: u64 = BUCKETS as u64 - 3;
/// The low 48 bits of a bucket hold micros; the high 16 the slot's tag.
const AMOUNT: u64 = (1 << 48) - 1;

/// Every campaign's account. Accounts outlive snapshots: a rebuilt
/// snapshot gets the same account for the same campaign.
pub struct Ledger {
    accounts: Mutex<HashMap<CampaignId, Arc<LocalAccount>>>,
    slot_secs: i64,
    max_hold_secs: u32,
    store: Option<Arc<Store>>,
    /// How many instances of a fleet bid now (1 when embedded), as
    /// counted by [`crate::fleet::members`]; shown, not used in a verdict.
    sharers: AtomicU32,
    /// In a fleet: accounts with a budget bid only within their lease.
    leased: Arc<AtomicBool>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("slot_secs", &self.slot_secs)
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// A ledger whose reservations are held at most `max_hold_secs` (the
    /// longest notice window of any exchange), loading booked spend from
    /// `store` (none: every account starts at zero, for benchmarks and
    /// tests).
    pub fn new(max_hold_secs: u32, store: Option<Arc<Store>>) -> Ledger {
        let max_hold_secs = max_hold_secs.max(1);
        let slot_secs = u64::from(max_hold_secs).div_ceil(HOLD_SLOTS) as i64;
        Ledger {
            accounts: Mutex::new(HashMap::new()),
            slot_secs,
            max_hold_secs,
            store,
            sharers: AtomicU32::new(1),
            leased: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Fleet mode: from now on every account with a budget bids only
    /// within the lease the fleet's central ledger granted it
    /// ([`crate::fleet::lease`]); until the first grant, not at all.
    pub fn lease_mode(&self) {
        self.leased.store(true, Ordering::Release);
    }

    /// Notes how many instances of a fleet bid now (at least 1).
    pub fn set_sharers(&self, n: u32) {
        self.sharers.store(n.max(1), Ordering::Release);
    }

    /// How many instances of the fleet bid now, as last counted.
    pub fn sharers(&self) -> u32 {
        self.sharers.load(Ordering::Acquire)
    }

    /// Every account with a budget, its limits, current day and lease at
    /// `now` (for the renewal thread and `/metrics`).
    pub fn leases(&self, now: UnixTime) -> Vec<Leased> {
        self.sorted()
            .into_iter()
            .filter(|a| a.loaded.load(Ordering::Acquire))
            .filter_map(|a| {
                let limits = a.rule().limits;
                limits.budgeted().then(|| Leased {
                    id: a.id,
                    day: a.day_start.load(Ordering::Acquire),
                    limits,
                    lease: a.lease.state(a.reserved(a.slot(now.0)).0),
                })
            })
            .collect()
    }

    /// The central ledger granted campaign `id` a lease of `limit` for
    /// day `day`, usable until `until` (local Unix seconds). Ignored if
    /// the account has moved to another day since.
    pub fn grant(&self, id: CampaignId, day: i64, limit: i64, until: i64) {
        if let Some(a) = self.lock().get(&id).cloned()
            && a.day_start.load(Ordering::Acquire) == day
        {
            a.lease.grant(day, limit, until);
        }
    }

    /// The outcome of one of this instance's bids on campaign `id`,
    /// taken by another instance and forwarded
    /// ([`LocalAccount::settled_elsewhere`]); none when the campaign has
    /// no account here.
    pub fn settled_elsewhere(
        &self,
        id: CampaignId,
        held: Held,
        cost: Option<Micros>,
        at: UnixTime,
    ) -> Option<Settled> {
        let a = self.lock().get(&id).cloned()?;
        Some(a.settled_elsewhere(held, cost, at))
    }

    /// Stops every lease being used (before they are handed back).
    pub fn revoke_leases(&self) {
        for a in self.sorted() {
            a.lease.revoke();
        }
    }

    /// Whether every account with a budget has been granted a lease
    /// once (always, outside a fleet).
    pub fn leases_granted(&self) -> bool {
        !self.leased.load(Ordering::Acquire)
            || self.sorted().iter().all(|a| {
                !a.loaded.load(Ordering::Acquire)
                    || !a.rule().limits.budgeted()
                    || a.lease.state(0).day != 0
            })
    }

    /// Whether any campaign holds reservations at `now` (this instance
    /// has bids in flight).
    pub fn holds_any(&self, now: UnixTime) -> bool {
        self.sorted()
            .iter()
            .any(|a| a.reserved(a.slot(now.0)).0 > 0)
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
                (self.slot_secs, self.max_hold_secs),
                c.currency,
                Limits::of(c),
                Arc::clone(&self.leased),
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

    /// Takes campaign `id`'s booked spend from the store again (after
    /// events were recorded elsewhere, as a fleet's control instance
    /// does); its day's start, the day's spend and all spend, if the
    /// campaign has an account.
    pub fn reload(&self, id: CampaignId, now: UnixTime) -> Option<(i64, i64, i64)> {
        let a = self.lock().get(&id).cloned()?;
        a.roll(now, self.store.as_deref(), true);
        Some(a.booked())
    }

    /// Raises campaign `id`'s booked spend to what the fleet booked (day
    /// `day_start`'s spend `day`, all spend `total`; the day's only when
    /// `day_start` is the account's current day). Never lowers it: spend
    /// only grows, and a bill this instance booked a moment ago may not
    /// be in the fleet's figure yet.
    pub fn set_booked(&self, id: CampaignId, day_start: i64, day: i64, total: i64) {
        let Some(a) = self.lock().get(&id).cloned() else {
            return;
        };
        if a.day_start.load(Ordering::Acquire) == day_start {
            a.booked_day.fetch_max(day, Ordering::AcqRel);
        }
        a.booked_total.fetch_max(total, Ordering::AcqRel);
    }

    /// Every campaign with an account.
    pub fn ids(&self) -> Vec<CampaignId> {
        let mut ids: Vec<_> = self.lock().keys().copied().collect();
        ids.sort();
        ids
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
            a.rate.measure();
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
                let until = UnixTime(now.0 + i64::from(self.max_hold_secs));
                a.add(a.lapses(until), m.0);
            }
        }
    }
}

/// An account with a budget, as the lease renewal thread sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Leased {
    /// The campaign.
    pub id: CampaignId,
    /// Its current day's start, Unix seconds.
    pub day: i64,
    /// Its limits.
    pub limits: Limits,
    /// Its lease now.
    pub lease: LeaseState,
}

/// One campaign's money: booked spend, reservations, its current day.
pub struct LocalAccount {
    /// The campaign.
    pub id: CampaignId,
    slot_secs: i64,
    max_hold_secs: u32,
    /// The measured win rate, what a reservation holds of a bid's price.
    pub rate: WinRate,
    buckets: [AtomicU64; BUCKETS],
    /// The sum of the buckets' amounts, lapsed ones included until the
    /// sweep of a later slot takes them out: never less than what is live.
    held: AtomicI64,
    /// The latest slot swept: `held` counts no bucket lapsed by then.
    swept: AtomicI64,
    booked_day: AtomicI64,
    booked_total: AtomicI64,
    day_start: AtomicI64,
    day_end: AtomicI64,
    loaded: AtomicBool,
    late: AtomicU64,
    late_micros: AtomicI64,
    /// Whether the ledger is in fleet mode (budgets bid within leases).
    leased: Arc<AtomicBool>,
    /// In a fleet: the slice of the day the central ledger granted.
    pub lease: Lease,
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
    fn new(
        id: CampaignId,
        (slot_secs, max_hold_secs): (i64, u32),
        currency: Currency,
        limits: Limits,
        leased: Arc<AtomicBool>,
    ) -> LocalAccount {
        LocalAccount {
            id,
            slot_secs,
            max_hold_secs,
            rate: WinRate::default(),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            held: AtomicI64::new(0),
            swept: AtomicI64::new(i64::MIN),
            booked_day: AtomicI64::new(0),
            booked_total: AtomicI64::new(0),
            day_start: AtomicI64::new(0),
            // Until the first roll, every bid is refused (see `loaded`).
            day_end: AtomicI64::new(0),
            loaded: AtomicBool::new(false),
            late: AtomicU64::new(0),
            late_micros: AtomicI64::new(0),
            leased,
            lease: Lease::default(),
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

    /// The slot after which a reservation held until `until` has lapsed:
    /// it is live while the current slot is before it.
    fn lapses(&self, until: UnixTime) -> i64 {
        self.slot(until.0) + 1
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
                if new_day {
                    self.lease.new_day();
                }
                self.loaded.store(true, Ordering::Release);
            }
            Err(e) => {
                // Bidding without knowing what was spent could overspend.
                self.loaded.store(false, Ordering::Release);
                tracing::error!(campaign = self.id.0, error = %e, "spend not loaded; not bidding");
            }
        }
    }

    /// Its day's start, the day's booked spend and all booked spend.
    fn booked(&self) -> (i64, i64, i64) {
        (
            self.day_start.load(Ordering::Acquire),
            self.booked_day.load(Ordering::Acquire),
            self.booked_total.load(Ordering::Acquire),
        )
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
        self.verdict(limits, self.reserved(slot).0, cost.0, now, u)
    }

    /// The verdict on a bid of `cost` while `others` is held for the
    /// other bids in flight: the limits with both held, the lease (in a
    /// fleet) with both, the pacing curve with the others'.
    fn verdict(
        &self,
        limits: &Limits,
        others: i64,
        cost: i64,
        now: UnixTime,
        u: u32,
    ) -> Result<(), Refused> {
        let day = self.booked_day.load(Ordering::Acquire);
        let total = self.booked_total.load(Ordering::Acquire);
        let held = others.saturating_add(cost);
        let with = |booked: i64| booked.saturating_add(held);
        if !fits(limits, with(day), with(total)) {
            return Err(Refused::Exhausted);
        }
        if self.leased.load(Ordering::Relaxed)
            && limits.budgeted()
            && !self
                .lease
                .admits(self.day_start.load(Ordering::Acquire), now.0, held, cost)
        {
            return Err(Refused::Exhausted);
        }
        if limits.mode != PacingMode::Asap && limits.daily.0 > 0 {
            let curve = self.curve(limits, now);
            if !curve.lets_through(day.saturating_add(others), u) {
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

    /// Held for bids in flight in `slot`: the buckets of reservations
    /// lapsing in the slots after it. Read from the running sum; in a slot
    /// later than the last swept, the lapsed buckets are taken out first.
    /// A clock that goes back reads the sum as it is: what it holds may
    /// include reservations lapsed by then, never less than is live.
    fn reserved(&self, slot: i64) -> Micros {
        if self.swept.load(Ordering::Acquire) < slot {
            self.sweep(slot);
        }
        Micros(self.held.load(Ordering::Acquire).max(0))
    }

    /// Takes out of the sum the buckets that lapsed by `slot`. One thread
    /// per slot sweeps; the others read the sum meanwhile, which may still
    /// hold what lapsed (too much, never too little).
    #[cold]
    #[inline(never)]
    fn sweep(&self, slot: i64) {
        let seen = self.swept.load(Ordering::Acquire);
        if seen >= slot
            || self
                .swept
                .compare_exchange(seen, slot, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return;
        }
        // Bucket `live % BUCKETS` stands for slot `live`, for `live` from
        // `slot + 1` on (BUCKETS is a power of two, so the two's-complement
        // mask is that remainder). A bucket tagged for an earlier slot has
        // lapsed; one tagged for a later slot than its `live` (a clock
        // that went back) stays counted.
        for live in slot + 1..slot + 1 + BUCKETS as i64 {
            let b = &self.buckets[(live as usize) & (BUCKETS - 1)];
            let lapsed = |v: u64| {
                let behind = tag(live).wrapping_sub(v >> 48) & 0xffff;
                behind != 0 && behind < 0x8000 && v & AMOUNT != 0
            };
            if let Ok(v) = b.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                lapsed(v).then_some(v & !AMOUNT)
            }) {
                self.held.fetch_sub((v & AMOUNT) as i64, Ordering::AcqRel);
            }
        }
    }

    fn add(&self, slot: i64, amount: i64) {
        let b = &self.buckets[slot.rem_euclid(BUCKETS as i64) as usize];
        let amount = amount.max(0) as u64;
        let Ok(v) = b.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
            Some(if v >> 48 == tag(slot) {
                (v & !AMOUNT) | ((v & AMOUNT) + amount).min(AMOUNT)
            } else {
                (tag(slot) << 48) | amount.min(AMOUNT)
            })
        }) else {
            return;
        };
        // What the bucket gained; a recycled bucket's lapsed amount, not
        // yet swept, leaves the sum with it.
        let delta = if v >> 48 == tag(slot) {
            ((v & AMOUNT) + amount).min(AMOUNT) as i64 - (v & AMOUNT) as i64
        } else {
            amount.min(AMOUNT) as i64 - (v & AMOUNT) as i64
        };
        self.held.fetch_add(delta, Ordering::AcqRel);
    }

    /// Takes `amount` out of the bucket of reservations lapsing at `slot`;
    /// false when that bucket has been recycled since (the reservation had
    /// lapsed).
    fn remove(&self, slot: i64, amount: i64) -> bool {
        let b = &self.buckets[slot.rem_euclid(BUCKETS as i64) as usize];
        let amount = amount.max(0) as u64;
        match b.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
            (v >> 48 == tag(slot)).then(|| (v & !AMOUNT) | (v & AMOUNT).saturating_sub(amount))
        }) {
            Ok(v) => {
                // A swept bucket gives back nothing more.
                let taken = (v & AMOUNT).min(amount);
                self.held.fetch_sub(taken as i64, Ordering::AcqRel);
                true
            }
            Err(_) => false,
        }
    }

    /// Adds booked spend (already in the store) at `at`; whether it
    /// falls on the account's current day.
    pub fn book(&self, cost: Micros, at: UnixTime) -> bool {
        saturating_add(&self.booked_total, cost.0);
        let today = at.0 >= self.day_start.load(Ordering::Acquire);
        if today {
            saturating_add(&self.booked_day, cost.0);
        }
        today
    }

    /// The outcome of one of this instance's bids: a billing point's
    /// `cost` (none for a loss) counts in its lease when it falls on the
    /// current day, and the reservation `held` is released if it is
    /// still live at `at`.
    fn outcome(&self, held: Held, cost: Option<Micros>, at: UnixTime) -> Settled {
        let Some(cost) = cost else {
            let lapses = self.lapses(held.until);
            if self.slot(at.0) < lapses {
                self.remove(lapses, held.amount.0);
            }
            return Settled::OnTime;
        };
        if at.0 >= self.day_start.load(Ordering::Acquire) {
            self.lease.booked(cost.0);
        }
        self.rate.wins.fetch_add(1, Ordering::Relaxed);
        let lapses = self.lapses(held.until);
        let live = self.slot(at.0) < lapses;
        if live && self.remove(lapses, held.amount.0) {
            Settled::OnTime
        } else {
            self.late.fetch_add(1, Ordering::Relaxed);
            saturating_add(&self.late_micros, cost.0);
            Settled::Late
        }
    }

    /// In a fleet: the outcome of one of this instance's bids that
    /// another instance took and forwarded ([`crate::fleet::settles`]).
    /// A billing point's `cost` (none for a loss) was booked there and
    /// reaches this account's spend with the fleet's figure; here it
    /// counts in the lease, and the reservation `held` is released.
    pub fn settled_elsewhere(&self, held: Held, cost: Option<Micros>, at: UnixTime) -> Settled {
        self.outcome(held, cost, at)
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
        let held = self.rate.expected(cost);
        self.admits(limits, held, now, self.slot(now.0), u)
    }

    fn try_reserve(
        &self,
        limits: &Limits,
        cost: Micros,
        now: UnixTime,
        u: u32,
        hold_secs: u32,
    ) -> Result<Held, Refused> {
        if !self.loaded.load(Ordering::Acquire) {
            return Err(Refused::Exhausted);
        }
        let slot = self.slot(now.0);
        let amount = self.rate.expected(cost);
        let until = UnixTime(now.0 + i64::from(hold_secs.min(self.max_hold_secs)));
        let lapses = self.lapses(until);
        // Held first, then checked with our own reservation in: of bids
        // racing for the last room, none that sees the limit crossed keeps
        // its reservation. One pass over the buckets gives what the others
        // hold.
        self.add(lapses, amount.0);
        let others = self.reserved(slot).0.saturating_sub(amount.0).max(0);
        if let Err(r) = self.verdict(limits, others, amount.0, now, u) {
            self.remove(lapses, amount.0);
            return Err(r);
        }
        self.rate.bids.fetch_add(1, Ordering::Relaxed);
        if self.leased.load(Ordering::Relaxed) {
            self.lease.took(amount.0);
        }
        Ok(Held { amount, until })
    }

    /// The billing point of a bid that holds `held`: books `cost` (at
    /// `at`) and releases the reservation. Booked before released, so the
    /// two never both miss.
    fn settle(&self, held: Held, cost: Micros, at: UnixTime) -> Settled {
        self.book(cost, at);
        self.outcome(held, Some(cost), at)
    }

    /// A loss: releases the reservation `held` of a bid.
    fn release(&self, held: Held, now: UnixTime) {
        self.outcome(held, None, now);
    }

    /// Another instance's billing point: the campaign's spend only.
    fn book_elsewhere(&self, cost: Micros, at: UnixTime) {
        self.book(cost, at);
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
            win_rate: self.rate.share(),
        }
    }
}

/// A campaign's measured win rate: bids reserved and billing points
/// counted by the hot and event paths (relaxed atomics), turned into a
/// share once a tick with the counts of the last few minutes weighing
/// most. Until a few dozen bids are seen it stays near 1 (full
/// reservations), and it never holds less than [`RESERVE_FLOOR`].
#[derive(Debug)]
pub struct WinRate {
    /// Bids reserved since start.
    pub bids: AtomicU64,
    /// Billing points (wins) booked since start.
    pub wins: AtomicU64,
    /// The share, parts per million, that reservations hold.
    ppm: AtomicU64,
    /// Cold path: the decayed counts and the raw counts last seen.
    seen: Mutex<Decayed>,
}

#[derive(Debug, Default)]
struct Decayed {
    bids: f64,
    wins: f64,
    last: (u64, u64),
}

impl Default for WinRate {
    fn default() -> WinRate {
        WinRate {
            bids: AtomicU64::new(0),
            wins: AtomicU64::new(0),
            ppm: AtomicU64::new(1_000_000),
            seen: Mutex::new(Decayed::default()),
        }
    }
}

/// What a tick keeps of the counts before it: a memory of about 100
/// ticks (seconds).
const DECAY: f64 = 0.99;
/// Bids (all won) assumed before any are seen: a new campaign reserves
/// full prices, and a few dozen bids move it to its measured rate.
const PRIOR: f64 = 10.0;

impl WinRate {
    /// Hot path: what a bid costing `cost` reserves.
    pub fn expected(&self, cost: Micros) -> Micros {
        let cost = cost.0.max(0);
        let ppm = self.ppm.load(Ordering::Relaxed) as i64;
        let (num, den) = RESERVE_FLOOR;
        let floor = cost.saturating_mul(num).saturating_add(den - 1) / den;
        // Both factors are non-negative; 128 bits only for prices past
        // nine million a bid, so the usual case never divides in software.
        let share = match cost.checked_mul(ppm) {
            Some(p) => p / 1_000_000,
            None => (i128::from(cost) * i128::from(ppm) / 1_000_000) as i64,
        };
        Micros(share.saturating_add(1).max(floor).min(cost))
    }

    /// The share reservations hold now.
    pub fn share(&self) -> f64 {
        self.ppm.load(Ordering::Relaxed) as f64 / 1e6
    }

    /// Cold path, once a tick: folds the counts since the last tick into
    /// the decayed ones and sets the share.
    pub fn measure(&self) {
        let mut d = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let (bids, wins) = (
            self.bids.load(Ordering::Relaxed),
            self.wins.load(Ordering::Relaxed),
        );
        let (db, dw) = (bids.saturating_sub(d.last.0), wins.saturating_sub(d.last.1));
        d.last = (bids, wins);
        d.bids = d.bids * DECAY + db as f64;
        d.wins = d.wins * DECAY + dw as f64;
        let share = ((d.wins + PRIOR) / (d.bids + PRIOR)).clamp(0.0, 1.0);
        self.ppm.store((share * 1e6) as u64, Ordering::Relaxed);
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

#[cfg(test)]
mod held_sum {
    use proptest::prelude::*;

    use super::*;

    /// What the buckets hold for bids in flight in `slot`, read bucket by
    /// bucket: the reference for the running sum.
    fn scanned(a: &LocalAccount, slot: i64) -> i64 {
        (slot + 1..slot + 1 + BUCKETS as i64)
            .map(|live| {
                let v = a.buckets[(live as usize) & (BUCKETS - 1)].load(Ordering::Acquire);
                if v >> 48 == tag(live) {
                    (v & AMOUNT) as i64
                } else {
                    0
                }
            })
            .sum()
    }

    fn account() -> LocalAccount {
        LocalAccount::new(
            CampaignId(1),
            (20, 600),
            Currency::USD,
            Limits {
                daily: Micros(0),
                total: Micros(0),
                mode: PacingMode::Asap,
            },
            Arc::new(AtomicBool::new(false)),
        )
    }

    #[derive(Debug, Clone)]
    enum Step {
        /// Reserve `amount` for `slots` slots from now.
        Add { slots: i64, amount: i64 },
        /// Release the `nth` reservation still held, if any.
        Remove { nth: usize },
        /// Time moves on by `slots`.
        Pass { slots: i64 },
        /// The clock goes back by `slots`.
        Back { slots: i64 },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (1..=HOLD_SLOTS as i64 + 1, 1..1_000_000i64)
                .prop_map(|(slots, amount)| Step::Add { slots, amount }),
            3 => (0..64usize).prop_map(|nth| Step::Remove { nth }),
            2 => (0..40i64).prop_map(|slots| Step::Pass { slots }),
            1 => (0..4i64).prop_map(|slots| Step::Back { slots }),
        ]
    }

    proptest! {
        /// In any order of reservations, releases and time (forward, and
        /// now and then back), what the running sum says is held is never
        /// less than the buckets hold, and equals it in every slot later
        /// than any before (where the sweep runs).
        #[test]
        fn the_running_sum_is_what_a_scan_of_the_buckets_reads(
            steps in proptest::collection::vec(step(), 1..120)
        ) {
            let a = account();
            let mut slot = 1_000i64;
            let mut latest = slot;
            let mut live: Vec<(i64, i64)> = Vec::new();
            for s in steps {
                match s {
                    Step::Add { slots, amount } => {
                        a.add(slot + slots, amount);
                        live.push((slot + slots, amount));
                    }
                    Step::Remove { nth } => {
                        if !live.is_empty() {
                            let (lapses, amount) = live.remove(nth % live.len());
                            a.remove(lapses, amount);
                        }
                    }
                    Step::Pass { slots } => slot += slots,
                    Step::Back { slots } => slot -= slots,
                }
                let (sum, scan) = (a.reserved(slot).0, scanned(&a, slot));
                prop_assert!(sum >= scan, "sum {sum} < scan {scan} at slot {slot}");
                if slot > latest {
                    prop_assert_eq!(sum, scan, "at slot {}", slot);
                }
                latest = latest.max(slot);
            }
        }
    }
}
