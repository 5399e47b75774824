//! A budget double for tests: accounts that admit every bid unless told to
//! refuse, and that count each call, so a test can prove what the code
//! under test reserved (or that it reserved nothing).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use openrtb::{Currency, Micros};

use super::{Account, BudgetState, Budgets, Held, Limits, Refused, Settled};
use crate::model::{Campaign, CampaignId, PacingMode, UnixTime};

/// Accounts made on demand; every one counts its calls.
#[derive(Debug, Default)]
pub struct Counting {
    accounts: Mutex<HashMap<CampaignId, Arc<CountingAccount>>>,
}

impl Counting {
    /// The account of `id`, as the double's own type.
    pub fn of(&self, id: CampaignId) -> Option<Arc<CountingAccount>> {
        self.accounts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }
}

/// One campaign's account in the double.
#[derive(Debug)]
pub struct CountingAccount {
    id: CampaignId,
    currency: Currency,
    /// What every check and reservation answers; `None` admits.
    pub refuse: Mutex<Option<Refused>>,
    /// Calls of [`Account::check`].
    pub checks: AtomicU64,
    /// Reservations made (and not refused).
    pub reserved: AtomicU64,
    /// Settlements and releases.
    pub settled: AtomicU64,
}

impl CountingAccount {
    fn verdict(&self) -> Result<(), Refused> {
        match *self.refuse.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(r) => Err(r),
            None => Ok(()),
        }
    }
}

impl Budgets for Counting {
    fn account(&self, c: &Campaign, _now: UnixTime) -> Arc<dyn Account> {
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        let a = accounts.entry(c.id).or_insert_with(|| {
            Arc::new(CountingAccount {
                id: c.id,
                currency: c.currency,
                refuse: Mutex::new(None),
                checks: AtomicU64::new(0),
                reserved: AtomicU64::new(0),
                settled: AtomicU64::new(0),
            })
        });
        Arc::clone(a) as Arc<dyn Account>
    }

    fn get(&self, id: CampaignId) -> Option<Arc<dyn Account>> {
        self.of(id).map(|a| a as Arc<dyn Account>)
    }

    fn accounts(&self) -> Vec<Arc<dyn Account>> {
        let accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        accounts
            .values()
            .map(|a| Arc::clone(a) as Arc<dyn Account>)
            .collect()
    }

    fn tick(&self, _now: UnixTime) {}

    fn restore(&self, _held: &[(CampaignId, Micros)], _now: UnixTime) {}
}

impl Account for CountingAccount {
    fn id(&self) -> CampaignId {
        self.id
    }

    fn currency(&self) -> Currency {
        self.currency
    }

    fn check(&self, _: &Limits, _: Micros, _: UnixTime, _: u32) -> Result<(), Refused> {
        self.checks.fetch_add(1, Ordering::Relaxed);
        self.verdict()
    }

    fn try_reserve(
        &self,
        _: &Limits,
        cost: Micros,
        now: UnixTime,
        _: u32,
        hold_secs: u32,
    ) -> Result<Held, Refused> {
        self.verdict()?;
        self.reserved.fetch_add(1, Ordering::Relaxed);
        Ok(Held {
            amount: cost,
            until: UnixTime(now.0 + i64::from(hold_secs)),
        })
    }

    fn settle(&self, _: Held, _: Micros, _: UnixTime) -> Settled {
        self.settled.fetch_add(1, Ordering::Relaxed);
        Settled::OnTime
    }

    fn release(&self, _: Held, _: UnixTime) {
        self.settled.fetch_add(1, Ordering::Relaxed);
    }

    fn book_elsewhere(&self, _: Micros, _: UnixTime) {
        self.settled.fetch_add(1, Ordering::Relaxed);
    }

    fn state(&self, now: UnixTime) -> BudgetState {
        BudgetState {
            currency: self.currency,
            daily_budget_micros: Micros(0),
            total_budget_micros: Micros(0),
            spent_today_micros: Micros(0),
            spent_total_micros: Micros(0),
            reserved_micros: Micros(0),
            time_zone: "UTC".into(),
            day_start: now,
            day_end: now,
            pacing: PacingMode::Asap,
            allowed_now_micros: Micros(0),
            bid_share: 1.0,
            state: "on_pace",
            late_wins: 0,
            late_micros: Micros(0),
            win_rate: 1.0,
        }
    }
}
