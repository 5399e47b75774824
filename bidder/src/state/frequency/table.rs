//! The embedded frequency counts: a fixed-size, open-addressed table of
//! atomics keyed by (user key, campaign) and (user key, advertiser).
//!
//! The bid path only reads: a few atomic loads, no lock, no allocation.
//! One thread writes (the event worker, on counted impressions, and the
//! rebuild from the event log at start). When the probe window is full,
//! the entry seen longest ago is replaced.

use std::sync::atomic::{AtomicU64, Ordering};

use audiences::keys::UserKey;

use super::{FrequencyCounts, Seen, Subject};
use crate::model::UnixTime;
use crate::state::calendar::Calendar;

const EMPTY: u64 = 0;
/// A slot being rewritten: readers skip it, and do not stop there.
const BUSY: u64 = 1;
/// Slots probed per key.
const PROBE: usize = 8;

struct Slot {
    key: AtomicU64,
    data: AtomicU64,
}

/// The table.
pub struct Frequency {
    slots: Box<[Slot]>,
    mask: usize,
}

impl std::fmt::Debug for Frequency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frequency")
            .field("slots", &self.slots.len())
            .finish()
    }
}

fn key_of(user: UserKey, subject: Subject) -> u64 {
    let code = match subject {
        Subject::Campaign(c) => (c.0 as u64) << 1,
        Subject::Advertiser(a) => ((a.0 as u64) << 1) | 1,
    };
    // splitmix64 of the pair, so neighbouring campaigns spread out.
    let mut z = user.0 ^ code.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    if z <= BUSY { z + 2 } else { z }
}

impl Frequency {
    /// A table of at least `capacity` entries (rounded up to a power of
    /// two; 16 bytes each).
    pub fn new(capacity: usize) -> Frequency {
        let n = capacity.max(PROBE).next_power_of_two();
        Frequency {
            slots: (0..n)
                .map(|_| Slot {
                    key: AtomicU64::new(EMPTY),
                    data: AtomicU64::new(0),
                })
                .collect(),
            mask: n - 1,
        }
    }

    /// Entries the table holds at most.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }
}

impl FrequencyCounts for Frequency {
    /// What `user` has been shown of `subject`. Never blocks.
    fn seen(&self, user: UserKey, subject: Subject) -> Seen {
        let key = key_of(user, subject);
        let start = key as usize & self.mask;
        for i in 0..PROBE {
            let slot = &self.slots[(start + i) & self.mask];
            let k = slot.key.load(Ordering::Acquire);
            if k == EMPTY {
                break;
            }
            if k == key {
                let data = slot.data.load(Ordering::Acquire);
                // The writer marks a slot BUSY before reusing it: the data
                // read belongs to `key` only if the key is still there.
                if slot.key.load(Ordering::Acquire) == key {
                    return Seen::unpack(data);
                }
                break;
            }
        }
        Seen::default()
    }

    /// Counts one impression of `subject` to `user` at `at`, in the windows
    /// of `cal` (the calendar its caps are read in). Only one thread may
    /// call this at a time (the event worker).
    fn record(&self, user: UserKey, subject: Subject, at: UnixTime, cal: &Calendar) {
        let key = key_of(user, subject);
        let at = super::clamp(at);
        let start = key as usize & self.mask;
        let mut victim: Option<(usize, u32)> = None;
        for i in 0..PROBE {
            let idx = (start + i) & self.mask;
            let slot = &self.slots[idx];
            let k = slot.key.load(Ordering::Acquire);
            if k == key {
                let seen = Seen::unpack(slot.data.load(Ordering::Acquire));
                slot.data
                    .store(seen.plus_one(at, cal).pack(), Ordering::Release);
                return;
            }
            if k == EMPTY {
                slot.data
                    .store(Seen::default().plus_one(at, cal).pack(), Ordering::Release);
                slot.key.store(key, Ordering::Release);
                return;
            }
            let last = Seen::unpack(slot.data.load(Ordering::Acquire)).last;
            if victim.is_none_or(|(_, l)| last < l) {
                victim = Some((idx, last));
            }
        }
        if let Some((idx, _)) = victim {
            let slot = &self.slots[idx];
            slot.key.store(BUSY, Ordering::Release);
            slot.data
                .store(Seen::default().plus_one(at, cal).pack(), Ordering::Release);
            slot.key.store(key, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AdvertiserId, CampaignId, CapWindow, FrequencyCap, FrequencyRules};

    const UTC: &Calendar = &Calendar::Utc;

    const MONDAY: i64 = 1_763_337_600; // 2025-11-17 00:00 UTC

    fn rules(caps: &[(u32, CapWindow)], gap: u32) -> FrequencyRules {
        FrequencyRules {
            caps: caps
                .iter()
                .map(|&(impressions, window)| FrequencyCap {
                    impressions,
                    window,
                })
                .collect(),
            min_gap_secs: gap,
        }
    }

    #[test]
    fn three_a_day_allows_three_then_none_until_the_next_day() {
        let f = Frequency::new(1024);
        let (u, s) = (UserKey(42), Subject::Campaign(CampaignId(1)));
        let r = rules(&[(3, CapWindow::Day)], 0);
        for i in 0..3 {
            let t = UnixTime(MONDAY + 3600 * i);
            assert!(f.allows(u, s, &r, t, UTC), "impression {i}");
            f.record(u, s, t, UTC);
        }
        assert!(!f.allows(u, s, &r, UnixTime(MONDAY + 86_399), UTC));
        assert!(f.allows(u, s, &r, UnixTime(MONDAY + 86_400), UTC));
        // Other users and other campaigns are counted apart.
        assert!(f.allows(UserKey(43), s, &r, UnixTime(MONDAY + 10), UTC));
        assert!(f.allows(
            u,
            Subject::Campaign(CampaignId(2)),
            &r,
            UnixTime(MONDAY + 10),
            UTC
        ));
        assert!(f.allows(
            u,
            Subject::Advertiser(AdvertiserId(1)),
            &r,
            UnixTime(MONDAY + 10),
            UTC
        ));
    }

    #[test]
    fn a_campaign_in_new_york_counts_its_day_from_new_yorks_midnight() {
        let f = Frequency::new(1024);
        let ny = Calendar::named("America/New_York", UnixTime(MONDAY));
        let (u, s) = (UserKey(42), Subject::Campaign(CampaignId(1)));
        let r = rules(&[(1, CapWindow::Day)], 0);
        // Seen at 18:00 on Sunday in New York (23:00 UTC).
        f.record(u, s, UnixTime(MONDAY - 3_600), &ny);
        // 20:00 the same evening is 01:00 UTC on Monday: a new UTC day, but
        // the same New York day, so still capped.
        assert!(!f.allows(u, s, &r, UnixTime(MONDAY + 3_600), &ny));
        assert!(f.allows(u, s, &r, UnixTime(MONDAY + 3_600), UTC));
        // New York's Monday begins at 05:00 UTC.
        assert!(!f.allows(u, s, &r, UnixTime(MONDAY + 5 * 3_600 - 1), &ny));
        assert!(f.allows(u, s, &r, UnixTime(MONDAY + 5 * 3_600), &ny));
    }

    #[test]
    fn a_weekly_cap_spans_days_and_resets_on_monday() {
        let f = Frequency::new(1024);
        let (u, s) = (UserKey(7), Subject::Advertiser(AdvertiserId(3)));
        let r = rules(&[(3, CapWindow::Day), (4, CapWindow::Week)], 0);
        for day in 0..4 {
            let t = UnixTime(MONDAY + 86_400 * day);
            assert!(f.allows(u, s, &r, t, UTC));
            f.record(u, s, t, UTC);
        }
        assert!(!f.allows(u, s, &r, UnixTime(MONDAY + 86_400 * 6 + 86_399), UTC));
        assert!(f.allows(u, s, &r, UnixTime(MONDAY + 86_400 * 7), UTC));
    }

    #[test]
    fn recency_needs_the_gap_since_the_last_impression() {
        let f = Frequency::new(64);
        let (u, s) = (UserKey(9), Subject::Campaign(CampaignId(5)));
        let r = rules(&[], 600);
        f.record(u, s, UnixTime(MONDAY), UTC);
        assert!(!f.allows(u, s, &r, UnixTime(MONDAY + 599), UTC));
        assert!(f.allows(u, s, &r, UnixTime(MONDAY + 600), UTC));
    }

    #[test]
    fn a_full_table_forgets_the_user_seen_longest_ago() {
        let f = Frequency::new(8);
        let r = rules(&[(1, CapWindow::Week)], 0);
        let s = Subject::Campaign(CampaignId(1));
        for u in 0..100u64 {
            f.record(UserKey(u), s, UnixTime(MONDAY + u as i64), UTC);
        }
        // The most recent users are still capped; the table stayed at 8.
        assert!(!f.allows(UserKey(99), s, &r, UnixTime(MONDAY + 200), UTC));
        let capped = (0..100u64)
            .filter(|u| !f.allows(UserKey(*u), s, &r, UnixTime(MONDAY + 200), UTC))
            .count();
        assert!((1..=8).contains(&capped), "{capped}");
    }

    #[test]
    fn readers_never_see_another_keys_counts_while_one_thread_writes() {
        let f = std::sync::Arc::new(Frequency::new(16));
        let r = rules(&[(1, CapWindow::Week)], 0);
        let writer = {
            let f = std::sync::Arc::clone(&f);
            std::thread::spawn(move || {
                for u in 1..20_000u64 {
                    f.record(
                        UserKey(u),
                        Subject::Campaign(CampaignId(1)),
                        UnixTime(MONDAY),
                        UTC,
                    );
                }
            })
        };
        // User 0 is never recorded: whatever the writer does, reading it
        // must never find counts.
        while !writer.is_finished() {
            assert!(f.allows(
                UserKey(0),
                Subject::Campaign(CampaignId(1)),
                &r,
                UnixTime(MONDAY),
                UTC
            ));
        }
        writer.join().unwrap();
    }
}
