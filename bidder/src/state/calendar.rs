//! The calendar a frequency cap counts in: where its clock hours, days and
//! weeks (from Monday) begin in one time zone, daylight saving included.
//!
//! A campaign's caps count in its `pacing.time_zone`, so that "3 a day"
//! resets at the same midnight as its daily budget; an advertiser's caps,
//! spanning campaigns of any zone, count in the advertiser's own
//! `time_zone` (UTC by default).
//!
//! The bid path asks for window numbers. A zone's UTC offsets over the
//! weeks around the snapshot build are kept in a table of a few spans, so
//! asking never searches the tz database (about 40 ns a lookup for a zone
//! with daylight saving, against a few for the table); times outside it
//! ask jiff. Never allocates, never blocks.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::model::{CapWindow, UnixTime};

/// How far before the build the table reaches: the frequency table replays
/// a week of impressions at start, and an entry's last impression may be
/// that old.
const BEHIND_SECS: i64 = 8 * 86_400;
/// How far after the build: snapshots are rebuilt on every catalog change,
/// but a quiet catalog may stand for months.
const AHEAD_SECS: i64 = 400 * 86_400;

/// Where one zone's windows begin.
#[derive(Clone, Debug)]
pub enum Calendar {
    /// UTC: hours, days and weeks of Unix time.
    Utc,
    /// A zone, with its offsets around the build precomputed.
    Zone(Box<Offsets>),
}

/// A zone's UTC offsets from `spans[0].0` to `until`, and the zone itself
/// for any time outside.
#[derive(Clone, Debug)]
pub struct Offsets {
    /// (first second, offset in seconds east of UTC), ascending.
    spans: Box<[(i64, i32)]>,
    until: i64,
    zone: TimeZone,
}

impl Calendar {
    /// The calendar of `zone` for a snapshot built at `now`.
    pub fn new(zone: TimeZone, now: UnixTime) -> Calendar {
        let (from, until) = (now.0 - BEHIND_SECS, now.0 + AHEAD_SECS);
        let (Ok(start), Ok(_)) = (Timestamp::from_second(from), Timestamp::from_second(until))
        else {
            return Calendar::Zone(Box::new(Offsets {
                spans: Box::new([]),
                until: i64::MIN,
                zone,
            }));
        };
        let mut spans = vec![(from, zone.to_offset(start).seconds())];
        for t in zone.following(start) {
            let at = t.timestamp().as_second();
            if at >= until {
                break;
            }
            spans.push((at, t.offset().seconds()));
        }
        if let [(_, 0)] = spans[..] {
            // UTC under any name, for the whole span.
            return Calendar::Utc;
        }
        Calendar::Zone(Box::new(Offsets {
            spans: spans.into_boxed_slice(),
            until,
            zone,
        }))
    }

    /// The calendar of the IANA zone `name`, UTC if the tz database does
    /// not know it (the admin API refuses such names; this is a database
    /// that lost one).
    pub fn named(name: &str, now: UnixTime) -> Calendar {
        Calendar::new(TimeZone::get(name).unwrap_or(TimeZone::UTC), now)
    }

    /// Seconds east of UTC at `t`.
    fn offset(&self, t: i64) -> i64 {
        match self {
            Calendar::Utc => 0,
            Calendar::Zone(z) => {
                if let Some(&(from, _)) = z.spans.first()
                    && t >= from
                    && t < z.until
                {
                    let i = z.spans.partition_point(|&(at, _)| at <= t);
                    return i64::from(z.spans[i - 1].1);
                }
                Timestamp::from_second(t).map_or(0, |ts| i64::from(z.zone.to_offset(ts).seconds()))
            }
        }
    }

    /// The numbers of the windows holding `t` (Unix seconds): equal for two
    /// times exactly when they fall in the same window. One offset lookup
    /// for all three.
    pub fn windows(&self, t: u32) -> Windows {
        let t = i64::from(t);
        let offset = self.offset(t);
        let day = (t + offset).div_euclid(86_400);
        Windows {
            // Real hours, on the zone's clock minutes: a half-hour zone's
            // hours start at :30 UTC, and the hour a fall-back repeats on
            // the clock is two windows, not one.
            hour: (t + offset.rem_euclid(3_600)).div_euclid(3_600),
            day,
            // 1970-01-01 was a Thursday: shift so that weeks start on Monday.
            week: (day + 3).div_euclid(7),
        }
    }

    /// The number of the `window` holding `t`.
    pub fn window_of(&self, window: CapWindow, t: u32) -> i64 {
        self.windows(t).get(window)
    }
}

/// The numbers of the hour, day and week holding one time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Windows {
    /// The hour's.
    pub hour: i64,
    /// The day's.
    pub day: i64,
    /// The week's.
    pub week: i64,
}

impl Windows {
    /// The number of `window`.
    pub fn get(&self, window: CapWindow) -> i64 {
        match window {
            CapWindow::Hour => self.hour,
            CapWindow::Day => self.day,
            CapWindow::Week => self.week,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2025-11-17 00:00 UTC, a Monday.
    const MONDAY: u32 = 1_763_337_600;
    const HOUR: u32 = 3_600;

    fn new_york() -> Calendar {
        Calendar::named("America/New_York", UnixTime(i64::from(MONDAY)))
    }

    #[test]
    fn a_new_york_day_begins_at_new_yorks_midnight_not_utcs() {
        let ny = new_york();
        // 18:00 and 20:00 EST on Sunday the 16th: 23:00 and 01:00 UTC, two
        // UTC days, one New York day.
        let (six_pm, eight_pm) = (MONDAY - HOUR, MONDAY + HOUR);
        assert_eq!(
            ny.window_of(CapWindow::Day, six_pm),
            ny.window_of(CapWindow::Day, eight_pm)
        );
        assert_ne!(
            Calendar::Utc.window_of(CapWindow::Day, six_pm),
            Calendar::Utc.window_of(CapWindow::Day, eight_pm)
        );
        // New York's Monday begins at 05:00 UTC.
        let before = ny.window_of(CapWindow::Day, MONDAY + 5 * HOUR - 1);
        let after = ny.window_of(CapWindow::Day, MONDAY + 5 * HOUR);
        assert_eq!(after, before + 1);
    }

    #[test]
    fn a_week_begins_at_the_zones_monday_midnight() {
        let ny = new_york();
        let sunday_night = ny.window_of(CapWindow::Week, MONDAY + 5 * HOUR - 1);
        let monday = ny.window_of(CapWindow::Week, MONDAY + 5 * HOUR);
        assert_eq!(monday, sunday_night + 1);
        // 01:00 UTC Monday is still Sunday in New York: last week.
        assert_eq!(ny.window_of(CapWindow::Week, MONDAY + HOUR), sunday_night);
        assert_eq!(
            Calendar::Utc.window_of(CapWindow::Week, MONDAY + HOUR),
            Calendar::Utc.window_of(CapWindow::Week, MONDAY)
        );
    }

    #[test]
    fn daylight_saving_days_last_23_and_25_hours() {
        // Built in November 2025, the table holds 2026's switches.
        let ny = new_york();
        // A day starting at `start` lasts `hours`: one window until then,
        // the next one from then.
        let lasts = |start: u32, hours: u32| {
            let end = start + hours * HOUR;
            let seen: std::collections::BTreeSet<_> = (start..end)
                .step_by(60)
                .map(|t| ny.window_of(CapWindow::Day, t))
                .collect();
            assert_eq!(seen.len(), 1, "from {start}");
            assert_eq!(ny.window_of(CapWindow::Day, end), seen.first().unwrap() + 1);
        };
        // 2026-03-08, New York springs forward: the day runs from 05:00 UTC
        // to 04:00 UTC the next day.
        lasts(1_772_928_000 + 5 * HOUR, 23);
        // 2026-11-01, it falls back: 04:00 UTC to 05:00 UTC the next day.
        let nov1 = 1_793_491_200 + 4 * HOUR;
        lasts(nov1, 25);
        // The clock's repeated 01:00-02:00 is two hours, not one.
        let first_one_am = nov1 + HOUR;
        assert_ne!(
            ny.window_of(CapWindow::Hour, first_one_am),
            ny.window_of(CapWindow::Hour, first_one_am + HOUR)
        );
    }

    #[test]
    fn a_half_hour_zones_hours_start_at_half_past_utc() {
        let kolkata = Calendar::named("Asia/Kolkata", UnixTime(i64::from(MONDAY)));
        let at = |m: u32| kolkata.window_of(CapWindow::Hour, MONDAY + m * 60);
        assert_eq!(at(0), at(29));
        assert_eq!(at(30), at(0) + 1);
        assert_eq!(at(30), at(89));
    }

    #[test]
    fn the_table_agrees_with_the_tz_database_inside_and_outside_its_span() {
        let ny = new_york();
        let zone = TimeZone::get("America/New_York").unwrap();
        // Three years in steps of a little over an hour: before, through
        // and after the precomputed span.
        let start = MONDAY - 400 * 86_400;
        for t in (start..start + 3 * 365 * 86_400).step_by(3_671) {
            let ts = Timestamp::from_second(i64::from(t)).unwrap();
            let expected = ts.to_zoned(zone.clone()).date();
            let day = ny.window_of(CapWindow::Day, t);
            let epoch = jiff::civil::date(1970, 1, 1);
            assert_eq!(day, i64::from((expected - epoch).get_days()), "at {t}");
        }
    }

    #[test]
    fn utc_and_an_unknown_zone_count_in_unix_time() {
        let unknown = Calendar::named("Not/A_Zone", UnixTime(i64::from(MONDAY)));
        assert!(matches!(unknown, Calendar::Utc));
        assert!(matches!(Calendar::named("UTC", UnixTime(0)), Calendar::Utc));
        assert_eq!(
            Calendar::Utc.window_of(CapWindow::Day, MONDAY),
            i64::from(MONDAY / 86_400)
        );
    }
}
