//! The day's spending curve: how much of a daily budget may have been spent
//! by a moment of the campaign's day (even, front-loaded or as soon as
//! possible), and the smooth throttle around it. Pure arithmetic.

use jiff::tz::TimeZone;
use openrtb::Micros;

use super::Limits;

use crate::model::{PacingMode, UnixTime};

/// Where the campaign day's curve stands at one moment.
#[derive(Debug, Clone, Copy)]
pub(super) struct Curve {
    /// What may have been spent by now.
    pub(super) allowed: i64,
    /// Spend beyond `allowed` over which bids are throttled from all to
    /// none: half an hour of an even day.
    pub(super) slack: i64,
}

impl Curve {
    pub(super) fn at(limits: &Limits, start: i64, end: i64, now: i64) -> Curve {
        Curve {
            allowed: allowed(limits, start, end, now).0,
            slack: (limits.daily.0 / 48).max(1),
        }
    }

    /// Whether a bid drawn `u` passes when `committed` is booked or held
    /// today: all pass up to the curve, none `slack` beyond it, and in
    /// between a share falling in proportion (smooth throttling rather
    /// than stop and start).
    pub(super) fn lets_through(&self, committed: i64, u: u32) -> bool {
        let room = self.allowed + self.slack - committed;
        if room >= self.slack {
            return true;
        }
        if room <= 0 {
            return false;
        }
        // u / 2^32 < room / slack
        (i128::from(u) * i128::from(self.slack)) < (i128::from(room) << 32)
    }

    pub(super) fn share(&self, committed: i64) -> f64 {
        let room = self.allowed + self.slack - committed;
        (room as f64 / self.slack as f64).clamp(0.0, 1.0)
    }
}

/// What `limits`' curve allows to have been spent at `now` of the day
/// from `start` to `end` (Unix seconds): what pacing compares spend with,
/// and what a pacing chart draws.
pub fn allowed(limits: &Limits, start: i64, end: i64, now: i64) -> Micros {
    let daily = i128::from(limits.daily.0);
    let len = i128::from((end - start).max(1));
    let t = i128::from((now - start).clamp(0, (end - start).max(0)));
    let allowed = match limits.mode {
        // In i64 when the product fits (every day's budget below ~1e8 USD
        // does), which spares the bid path a 128-bit division.
        PacingMode::Even => match limits.daily.0.checked_mul(t as i64) {
            Some(p) => i128::from(p / (len as i64)),
            None => daily * t / len,
        },
        // 1 - (1 - t)^2 = t (2 - t)
        PacingMode::FrontLoaded => daily * t * (2 * len - t) / (len * len),
        PacingMode::Asap => daily,
    };
    Micros(allowed as i64)
}

/// Start and end (Unix seconds) of the day in `zone` holding `now`.
pub(super) fn day_bounds(zone: &TimeZone, now: UnixTime) -> (i64, i64) {
    let fallback = (
        now.0.div_euclid(86_400) * 86_400,
        now.0.div_euclid(86_400) * 86_400 + 86_400,
    );
    let Ok(ts) = jiff::Timestamp::from_second(now.0) else {
        return fallback;
    };
    let zoned = ts.to_zoned(zone.clone());
    let bounds = zoned.start_of_day().and_then(|start| {
        let end = start.tomorrow()?.start_of_day()?;
        Ok((start.timestamp().as_second(), end.timestamp().as_second()))
    });
    bounds.unwrap_or(fallback)
}
