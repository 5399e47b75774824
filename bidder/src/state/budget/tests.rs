use std::sync::atomic::AtomicU64;

use std::sync::atomic::Ordering;

use super::pacing::Curve;
use super::*;
use crate::model::{AdvertiserId, CampaignStatus, Pacing};

/// 2026-11-23 00:00:00 UTC, a Monday.
const DAY: i64 = 1_795_392_000;

fn campaign(daily: i64, total: i64, mode: PacingMode, zone: &str) -> Campaign {
    Campaign {
        id: CampaignId(1),
        advertiser_id: AdvertiserId(1),
        name: "c".into(),
        status: CampaignStatus::Active,
        flight_start: None,
        flight_end: None,
        total_budget_micros: Micros(total),
        daily_budget_micros: Micros(daily),
        currency: Currency::USD,
        base_cpm_micros: Micros(1_000_000),
        max_cpm_micros: Micros(1_000_000),
        adomain: vec![],
        cat: vec![],
        attr: vec![],
        app_bundle: None,
        language: None,
        targeting: Default::default(),
        stage_multipliers: Default::default(),
        fragment_sets: vec![],
        pacing: Pacing {
            mode,
            time_zone: zone.into(),
        },
        frequency: Default::default(),
        learning: Default::default(),
        version: 1,
        created_at: UnixTime(0),
        updated_at: UnixTime(0),
    }
}

/// xorshift64*: reproducible draws for the throttle.
fn draws(seed: u64) -> impl FnMut() -> u32 {
    let mut x = seed | 1;
    move || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }
}

#[test]
fn many_threads_winning_at_once_never_book_more_than_the_budget() {
    let budget = 5_000_000; // 5.00
    let ledger = Ledger::new(600, None);
    let c = campaign(0, budget, PacingMode::Asap, "UTC");
    let account = ledger.account(&c, UnixTime(DAY));
    let limits = Limits::of(&c);
    let now = UnixTime(DAY + 100);
    let won = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..8u64 {
            let (account, won) = (&account, &won);
            s.spawn(move || {
                let mut u = draws(t + 1);
                let mut refused_in_a_row = 0;
                while refused_in_a_row < 2_000 {
                    // Bids at CPM 1.00 to 3.00: 1,000 to 3,000 micros each.
                    let cost = Micros(1_000 + i64::from(u() % 2_001));
                    match account.try_reserve(&limits, cost, now, u(), 600) {
                        Ok(held) => {
                            refused_in_a_row = 0;
                            if u().is_multiple_of(3) {
                                account.release(held, now);
                            } else {
                                // Second price: the clearing price is at most the bid.
                                let clearing = Micros(cost.0 - i64::from(u() % 500));
                                assert_eq!(account.settle(held, clearing, now), Settled::OnTime);
                                won.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(Refused::Exhausted) => refused_in_a_row += 1,
                        Err(Refused::Paced) => unreachable!("asap is never paced"),
                    }
                }
            });
        }
    });
    let state = account.state(now);
    assert!(
        state.spent_total_micros.0 <= budget,
        "booked {} of {budget}",
        state.spent_total_micros.0
    );
    // And the budget was used: less than one bid's price is left.
    assert!(state.spent_total_micros.0 > budget - 3_000, "{state:?}");
    assert_eq!(state.reserved_micros, Micros(0));
    assert!(won.load(Ordering::Relaxed) > 1_000);
}

#[test]
fn a_late_win_is_booked_and_counted_and_is_the_only_overspend() {
    let ledger = Ledger::new(60, None);
    let c = campaign(0, 10_000, PacingMode::Asap, "UTC");
    let account = ledger.account(&c, UnixTime(DAY));
    let limits = Limits::of(&c);
    let sent = UnixTime(DAY + 10);
    let first = account
        .try_reserve(&limits, Micros(1_000), sent, 0, 60)
        .unwrap();
    for _ in 1..10 {
        account
            .try_reserve(&limits, Micros(1_000), sent, 0, 60)
            .unwrap();
    }
    assert_eq!(
        account.try_reserve(&limits, Micros(1_000), sent, 0, 60),
        Err(Refused::Exhausted)
    );
    // The notices never came; after the reservation lifetime the room is
    // back, and new bids take it.
    let later = UnixTime(sent.0 + 70);
    for _ in 0..10 {
        account
            .try_reserve(&limits, Micros(1_000), later, 0, 60)
            .unwrap();
    }
    // Then a first bid's win arrives after all: booked, counted as late.
    assert_eq!(account.settle(first, Micros(900), later), Settled::Late);
    let s = account.state(later);
    assert_eq!(s.late_wins, 1);
    assert_eq!(s.late_micros, Micros(900));
    assert_eq!(s.spent_total_micros, Micros(900));
    assert_eq!(s.state, "total_exhausted");
}

/// Simulates a day of demand far above the budget (10 bids a second at
/// CPM 1.00, each winning at once): returns spend at the end of each hour.
fn simulate_day(mode: PacingMode) -> Vec<i64> {
    let daily = 100_000_000; // 100.00 a day, demand is 864.00
    let ledger = Ledger::new(600, None);
    let c = campaign(daily, 0, mode, "UTC");
    let account = ledger.account(&c, UnixTime(DAY));
    let limits = Limits::of(&c);
    let mut u = draws(7);
    let mut hourly = Vec::new();
    for second in 0..86_400 {
        let now = UnixTime(DAY + second);
        for _ in 0..10 {
            if let Ok(held) = account.try_reserve(&limits, Micros(1_000), now, u(), 600) {
                account.settle(held, Micros(1_000), now);
            }
        }
        if (second + 1) % 3600 == 0 {
            hourly.push(account.state(now).spent_today_micros.0);
        }
    }
    hourly
}

#[test]
fn even_pacing_spreads_the_daily_budget_across_the_day() {
    let daily = 100_000_000;
    let slack = daily / 48;
    let hourly = simulate_day(PacingMode::Even);
    for (h, spent) in hourly.iter().enumerate() {
        let curve = daily * (h as i64 + 1) / 24;
        assert!(
            (curve - slack..=curve + slack).contains(spent),
            "hour {h}: spent {spent}, curve {curve}"
        );
    }
    assert!(hourly[23] <= daily && hourly[23] > daily - slack);
}

#[test]
fn front_loaded_pacing_spends_three_quarters_by_midday() {
    let daily = 100_000_000;
    let hourly = simulate_day(PacingMode::FrontLoaded);
    let midday = hourly[11];
    assert!(
        (daily * 70 / 100..=daily * 80 / 100).contains(&midday),
        "{midday}"
    );
    assert!(hourly[23] <= daily);
}

#[test]
fn asap_spends_the_budget_as_soon_as_demand_allows() {
    let daily = 100_000_000;
    let hourly = simulate_day(PacingMode::Asap);
    // Demand is 36.00 an hour: the budget is gone within the third hour.
    assert!(hourly[2] >= daily - 1_000, "{hourly:?}");
    assert!(hourly[23] <= daily);
}

#[test]
fn throttling_is_smooth_between_the_curve_and_the_slack() {
    let limits = Limits {
        daily: Micros(48_000),
        total: Micros(0),
        mode: PacingMode::Even,
    };
    let curve = Curve::at(&limits, 0, 86_400, 43_200);
    assert_eq!(curve.allowed, 24_000);
    assert_eq!(curve.slack, 1_000);
    assert_eq!(curve.share(24_000), 1.0);
    assert_eq!(curve.share(24_500), 0.5);
    assert_eq!(curve.share(25_000), 0.0);
    let mut u = draws(3);
    let through = (0..10_000)
        .filter(|_| curve.lets_through(24_500, u()))
        .count();
    assert!((4_500..=5_500).contains(&through), "{through}");
}

#[test]
fn a_campaign_day_starts_at_its_own_midnight() {
    let ledger = Ledger::new(600, None);
    let c = campaign(1_000, 0, PacingMode::Even, "Europe/Berlin");
    let a = ledger.local(&c, UnixTime(DAY + 3_600 * 12));
    let s = a.state(UnixTime(DAY + 3_600 * 12));
    // Berlin is UTC+1 in November: its day began at 23:00 UTC.
    assert_eq!(s.day_start, UnixTime(DAY - 3_600));
    assert_eq!(s.day_end, UnixTime(DAY + 23 * 3_600));
    assert_eq!(s.time_zone, "Europe/Berlin");
    // And spend from before its midnight does not count for today.
    a.book(Micros(5), UnixTime(DAY - 3_601));
    a.book(Micros(7), UnixTime(DAY - 3_599));
    let s = a.state(UnixTime(DAY + 3_600 * 12));
    assert_eq!(s.spent_today_micros, Micros(7));
    assert_eq!(s.spent_total_micros, Micros(12));
}

#[test]
fn a_new_day_starts_from_zero_at_the_tick() {
    let ledger = Ledger::new(600, None);
    let c = campaign(10_000, 0, PacingMode::Asap, "UTC");
    let a = ledger.account(&c, UnixTime(DAY + 100));
    let limits = Limits::of(&c);
    for _ in 0..10 {
        let held = a
            .try_reserve(&limits, Micros(1_000), UnixTime(DAY + 100), 0, 600)
            .unwrap();
        a.settle(held, Micros(1_000), UnixTime(DAY + 100));
    }
    let next = UnixTime(DAY + 86_400 + 5);
    assert_eq!(
        a.try_reserve(&limits, Micros(1_000), next, 0, 600),
        Err(Refused::Exhausted),
        "until the tick, yesterday still counts: never more"
    );
    ledger.tick(next);
    assert!(a.try_reserve(&limits, Micros(1_000), next, 0, 600).is_ok());
    assert_eq!(a.state(next).spent_total_micros, Micros(10_000));
}

#[test]
fn restored_reservations_hold_room_after_a_restart() {
    let ledger = Ledger::new(600, None);
    let c = campaign(0, 10_000, PacingMode::Asap, "UTC");
    let a = ledger.account(&c, UnixTime(DAY));
    ledger.restore(&[(CampaignId(1), Micros(9_500))], UnixTime(DAY));
    let limits = Limits::of(&c);
    assert_eq!(
        a.try_reserve(&limits, Micros(1_000), UnixTime(DAY + 1), 0, 600),
        Err(Refused::Exhausted)
    );
    assert_eq!(
        ledger.reservations(UnixTime(DAY + 1)),
        vec![(CampaignId(1), Micros(9_500))]
    );
}

#[test]
fn a_reservation_holds_the_measured_win_rate_of_the_price_never_below_the_floor() {
    let ledger = Ledger::new(600, None);
    let c = campaign(0, 0, PacingMode::Asap, "UTC");
    let a = ledger.local(&c, UnixTime(DAY));
    let limits = Limits::of(&c);
    let now = UnixTime(DAY + 10);
    // Nothing measured yet: the full price.
    let first = a.try_reserve(&limits, Micros(2_000), now, 0, 600).unwrap();
    assert_eq!(first.amount, Micros(2_000));
    assert_eq!(first.until, UnixTime(now.0 + 600));
    // One bid in four wins, over a few minutes of ticks.
    for t in 0..300 {
        let at = UnixTime(now.0 + t);
        for i in 0..4 {
            let held = a.try_reserve(&limits, Micros(2_000), at, 0, 600).unwrap();
            if i == 0 {
                a.settle(held, Micros(1_500), at);
            }
        }
        ledger.tick(at);
    }
    let rate = a.state(now).win_rate;
    assert!((0.24..0.30).contains(&rate), "{rate}");
    let held = a.try_reserve(&limits, Micros(2_000), now, 0, 600).unwrap();
    assert!((480..=600).contains(&held.amount.0), "{held:?}");
    // A campaign that never wins still holds a tenth of each price.
    let c2 = Campaign {
        id: CampaignId(2),
        ..c
    };
    let b = ledger.local(&c2, UnixTime(DAY));
    for t in 0..300 {
        let at = UnixTime(now.0 + t);
        b.try_reserve(&limits, Micros(2_000), at, 0, 600).unwrap();
        ledger.tick(at);
    }
    let floor = b.try_reserve(&limits, Micros(2_000), now, 0, 600).unwrap();
    assert_eq!(floor.amount, Micros(200));
}

#[test]
fn settling_removes_exactly_what_the_bid_held_and_a_short_window_lapses_first() {
    let ledger = Ledger::new(600, None);
    let c = campaign(0, 0, PacingMode::Asap, "UTC");
    let a = ledger.local(&c, UnixTime(DAY));
    let limits = Limits::of(&c);
    let now = UnixTime(DAY + 10);
    let long = a.try_reserve(&limits, Micros(3_000), now, 0, 600).unwrap();
    let short = a.try_reserve(&limits, Micros(1_000), now, 0, 60).unwrap();
    assert_eq!(a.state(now).reserved_micros, Micros(4_000));
    // The short window lapses after 60 s (and within one slot more); the
    // long one still holds.
    let after = UnixTime(now.0 + 60 + 21);
    assert_eq!(a.state(after).reserved_micros, Micros(3_000));
    assert_eq!(a.settle(short, Micros(900), after), Settled::Late);
    assert_eq!(a.state(after).reserved_micros, Micros(3_000));
    assert_eq!(a.settle(long, Micros(2_500), after), Settled::OnTime);
    assert_eq!(a.state(after).reserved_micros, Micros(0));
}

/// A day of demand above a small budget (10.00) from an exchange that
/// sends no loss notices: 5 bids a second at CPM 3.00, one in a hundred
/// winning and billed at once, losses never heard of. Spend at the end of
/// each hour.
fn simulate_quiet_exchange(hold_secs: u32, ticks: bool) -> Vec<i64> {
    let daily = 10_000_000;
    let ledger = Ledger::new(600, None);
    let c = campaign(daily, 0, PacingMode::Even, "UTC");
    let account = ledger.account(&c, UnixTime(DAY));
    let limits = Limits::of(&c);
    let mut u = draws(11);
    let mut hourly = Vec::new();
    for second in 0..86_400 {
        let now = UnixTime(DAY + second);
        for _ in 0..5 {
            if let Ok(held) = account.try_reserve(&limits, Micros(3_000), now, u(), hold_secs)
                && u().is_multiple_of(100)
            {
                account.settle(held, Micros(3_000), now);
            }
        }
        if ticks {
            ledger.tick(now);
        }
        if (second + 1) % 3600 == 0 {
            hourly.push(account.state(now).spent_today_micros.0);
        }
    }
    hourly
}

#[test]
fn an_exchange_that_never_sends_loss_notices_keeps_a_paced_campaign_on_pace() {
    let daily = 10_000_000;
    let slack = daily / 48;
    // Expected-cost reservations held for the quiet exchange's window.
    let hourly = simulate_quiet_exchange(crate::config::NO_LOSS_NOTICE_WINDOW_SECS, true);
    for (h, spent) in hourly.iter().enumerate() {
        let curve = daily * (h as i64 + 1) / 24;
        assert!(
            (curve - slack..=curve + slack).contains(spent),
            "hour {h}: spent {spent}, curve {curve}"
        );
    }
    // The way it was: full prices held ten minutes. The losing bids'
    // reservations add up to more than half the day's budget, and
    // delivery falls far behind the curve.
    let before = simulate_quiet_exchange(600, false);
    assert!(before[23] < daily / 2, "{before:?}");
}

#[test]
fn in_a_fleet_an_account_bids_only_within_its_lease_and_before_it_expires() {
    let ledger = Ledger::new(60, None);
    ledger.lease_mode();
    let c = campaign(0, 10_000, PacingMode::Asap, "UTC");
    let limits = Limits::of(&c);
    let now = UnixTime(DAY + 10);
    let account = ledger.account(&c, now);
    ledger.tick(now);
    // No lease yet: nothing goes out, and the instance is not ready.
    assert_eq!(
        account.try_reserve(&limits, Micros(1_000), now, 0, 60),
        Err(Refused::Exhausted)
    );
    assert!(!ledger.leases_granted());
    ledger.grant(c.id, DAY, 3_000, now.0 + 4);
    assert!(ledger.leases_granted());
    let mut held = Vec::new();
    while let Ok(h) = account.try_reserve(&limits, Micros(1_000), now, 0, 60) {
        held.push(h);
    }
    assert_eq!(held.len(), 3, "three bids of 1,000 in a lease of 3,000");
    // A bill booked here stays used; a loss frees its part.
    account.settle(held[0], Micros(1_000), now);
    assert!(account.check(&limits, Micros(1_000), now, 0).is_err());
    account.release(held[1], now);
    assert!(account.check(&limits, Micros(1_000), now, 0).is_ok());
    let lease = ledger.leases(now)[0].lease;
    assert_eq!((lease.limit, lease.used), (3_000, 2_000));
    // The bid the lease refused is what the next renewal asks for.
    ledger.grant(c.id, DAY, 2_000, now.0 + 4);
    assert!(account.check(&limits, Micros(1_000), now, 0).is_err());
    assert_eq!(ledger.leases(now)[0].lease.want, 1_000);
    // Expired (not renewed: Redis away): refused though room is left.
    ledger.grant(c.id, DAY, 9_000, now.0 + 4);
    assert!(account.check(&limits, Micros(1_000), now, 0).is_ok());
    let later = UnixTime(now.0 + 4);
    assert!(account.check(&limits, Micros(1_000), later, 0).is_err());
}

#[test]
fn a_bid_settled_on_another_instance_counts_once_in_the_bidders_lease() {
    // Two instances of a fleet, each with its own ledger and lease.
    let (bidder, other) = (Ledger::new(60, None), Ledger::new(60, None));
    let c = campaign(0, 10_000, PacingMode::Asap, "UTC");
    let limits = Limits::of(&c);
    let now = UnixTime(DAY + 10);
    let (a, b) = (bidder.account(&c, now), other.account(&c, now));
    for l in [&bidder, &other] {
        l.lease_mode();
        l.tick(now);
        l.grant(c.id, DAY, 3_000, now.0 + 4);
    }
    let used = |l: &Ledger| l.leases(now)[0].lease.used;
    let held: Vec<_> = (0..2)
        .map(|_| a.try_reserve(&limits, Micros(1_000), now, 0, 60).unwrap())
        .collect();
    assert_eq!(used(&bidder), 2_000);
    // The bill of the first bid reaches the other instance: it books the
    // campaign's spend there, and nothing in that instance's lease.
    b.book_elsewhere(Micros(1_200), now);
    assert_eq!(b.state(now).spent_today_micros, Micros(1_200));
    assert_eq!(used(&other), 0, "not the other instance's money");
    // Forwarded to the bidder: its reservation goes, the cost stays.
    let settled = bidder.settled_elsewhere(c.id, held[0], Some(Micros(1_200)), now);
    assert_eq!(settled, Some(Settled::OnTime));
    assert_eq!(a.state(now).reserved_micros, Micros(1_000));
    assert_eq!(used(&bidder), 2_200, "the cost once, the reservation gone");
    // A forwarded loss frees the second bid's part.
    bidder.settled_elsewhere(c.id, held[1], None, now);
    assert_eq!(used(&bidder), 1_200);
    assert!(a.check(&limits, Micros(1_000), now, 0).is_ok());
    // A forward after the reservation lapsed still counts the cost.
    let late = a.try_reserve(&limits, Micros(1_000), now, 0, 60).unwrap();
    let after = UnixTime(now.0 + 200);
    assert_eq!(
        bidder.settled_elsewhere(c.id, late, Some(Micros(900)), after),
        Some(Settled::Late)
    );
    assert_eq!(bidder.leases(after)[0].lease.used, 2_100);
}

#[test]
fn in_a_fleet_a_campaign_without_a_budget_needs_no_lease() {
    let ledger = Ledger::new(60, None);
    ledger.lease_mode();
    let c = campaign(0, 0, PacingMode::Asap, "UTC");
    let now = UnixTime(DAY + 10);
    let account = ledger.account(&c, now);
    ledger.tick(now);
    assert!(ledger.leases_granted());
    assert!(ledger.leases(now).is_empty());
    assert!(
        account
            .try_reserve(&Limits::of(&c), Micros(1_000), now, 0, 60)
            .is_ok()
    );
}

#[test]
fn the_fleet_figure_raises_booked_spend_but_never_lowers_it() {
    let ledger = Ledger::new(60, None);
    let c = campaign(0, 10_000, PacingMode::Asap, "UTC");
    let now = UnixTime(DAY + 10);
    let account = ledger.account(&c, now);
    ledger.tick(now);
    let limits = Limits::of(&c);
    let held = account
        .try_reserve(&limits, Micros(1_000), now, 0, 60)
        .unwrap();
    // A bill this instance answered: booked here at once.
    account.settle(held, Micros(1_000), now);
    // The fleet's figure from before that bill reached the control.
    ledger.set_booked(c.id, DAY, 400, 400);
    assert_eq!(account.state(now).spent_total_micros, Micros(1_000));
    // Once the fleet's figure passes it, it is taken.
    ledger.set_booked(c.id, DAY, 3_000, 5_000);
    let state = account.state(now);
    assert_eq!(state.spent_today_micros, Micros(3_000));
    assert_eq!(state.spent_total_micros, Micros(5_000));
    // Another day's figure leaves today's alone.
    ledger.set_booked(c.id, DAY - 86_400, 9_000, 5_000);
    assert_eq!(account.state(now).spent_today_micros, Micros(3_000));
}
