//! Per-user impression counts for frequency caps and recency, per
//! (user, campaign) and (user, advertiser). The seam is
//! [`FrequencyCounts`]; `table` ([`Frequency`]) is the embedded implementation, a
//! fixed-size table of atomics.
//!
//! # Consistency promise
//! - A read ([`FrequencyCounts::seen`]) never blocks and sees every
//!   impression recorded before it on this instance.
//! - Counts may only err low, never high: an entry forgotten (a full table
//!   replaces the entry seen longest ago) or an impression not yet
//!   propagated lets a user be shown once more than the cap, never fewer.
//! - Only users whose consent allows per-user state have a key at all.
//!
//! Windows are calendar windows: the clock hour, the day, the week from
//! Monday, in the [`Calendar`] the caller names (the campaign's or the
//! advertiser's time zone). One entry keeps the time of the last
//! impression and the counts of the hour, day and week it fell in.
//!
//! Why `dyn`: the decision reads through `&dyn FrequencyCounts` for the
//! candidates that reach the cap check (those with a user key), one
//! indirect call each; the Redis implementation keeps a local table
//! refreshed from the fleet and answers from it the same way.

mod table;

#[cfg(test)]
pub mod doubles;

use audiences::keys::UserKey;

use crate::model::{AdvertiserId, CampaignId, CapWindow, FrequencyRules, UnixTime};
use crate::state::calendar::Calendar;

pub use table::Frequency;

/// Whose impressions are counted for a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    /// One campaign.
    Campaign(CampaignId),
    /// All of an advertiser's campaigns.
    Advertiser(AdvertiserId),
}

/// What one user has been shown of one subject.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    /// When last, Unix seconds (0: never).
    pub last: u32,
    /// In the hour of `last`.
    pub hour: u8,
    /// In the day of `last`.
    pub day: u8,
    /// In the week of `last`.
    pub week: u8,
}

impl Seen {
    pub(super) fn pack(self) -> u64 {
        (u64::from(self.last) << 32)
            | (u64::from(self.hour) << 16)
            | (u64::from(self.day) << 8)
            | u64::from(self.week)
    }

    pub(super) fn unpack(v: u64) -> Seen {
        Seen {
            last: (v >> 32) as u32,
            hour: (v >> 16) as u8,
            day: (v >> 8) as u8,
            week: v as u8,
        }
    }

    /// The entry as of `now`: the counts of windows of `cal` that have
    /// passed since the last impression are zero.
    fn current(self, now: u32, cal: &Calendar) -> Seen {
        if self.last == 0 {
            return Seen::default();
        }
        let (then, now) = (cal.windows(self.last), cal.windows(now));
        let kept = |same: bool, n: u8| if same { n } else { 0 };
        Seen {
            last: self.last,
            hour: kept(then.hour == now.hour, self.hour),
            day: kept(then.day == now.day, self.day),
            week: kept(then.week == now.week, self.week),
        }
    }

    /// Impressions in `window` of `cal` as of `now` (zero once the window
    /// of the last impression has passed).
    pub fn count(&self, window: CapWindow, now: u32, cal: &Calendar) -> u32 {
        self.current(now, cal).get(window)
    }

    fn get(&self, window: CapWindow) -> u32 {
        u32::from(match window {
            CapWindow::Hour => self.hour,
            CapWindow::Day => self.day,
            CapWindow::Week => self.week,
        })
    }

    /// The entry after one more impression at `at`.
    pub(super) fn plus_one(self, at: u32, cal: &Calendar) -> Seen {
        let c = self.current(at, cal);
        Seen {
            last: at.max(self.last),
            hour: c.hour.saturating_add(1),
            day: c.day.saturating_add(1),
            week: c.week.saturating_add(1),
        }
    }

    /// Whether `rules`, counted in `cal`, allow one more impression at
    /// `now`.
    pub fn allows(&self, rules: &FrequencyRules, now: u32, cal: &Calendar) -> bool {
        if self.last == 0 {
            return true;
        }
        if rules.min_gap_secs > 0 && now.saturating_sub(self.last) < rules.min_gap_secs {
            return false;
        }
        let c = self.current(now, cal);
        rules
            .caps
            .iter()
            .all(|cap| c.get(cap.window) < cap.impressions)
    }
}

/// Impression counts per user and subject.
pub trait FrequencyCounts: Send + Sync {
    /// Hot path: what `user` has been shown of `subject`. Never blocks.
    fn seen(&self, user: UserKey, subject: Subject) -> Seen;

    /// Cold path: counts one impression of `subject` to `user` at `at`, in
    /// the windows of `cal` (the calendar its caps are read in). Only one
    /// thread calls this at a time (the event worker).
    fn record(&self, user: UserKey, subject: Subject, at: UnixTime, cal: &Calendar);

    /// Whether `user` may be shown a campaign with `rules`, counted in
    /// `cal`, at `now`.
    fn allows(
        &self,
        user: UserKey,
        subject: Subject,
        rules: &FrequencyRules,
        now: UnixTime,
        cal: &Calendar,
    ) -> bool {
        rules.is_empty() || self.seen(user, subject).allows(rules, clamp(now), cal)
    }
}

/// `t` as the `u32` seconds entries keep.
pub(crate) fn clamp(t: UnixTime) -> u32 {
    t.0.clamp(0, i64::from(u32::MAX)) as u32
}
