//! The live view's figures: the bid path's own counters (the atomics
//! `/metrics` renders), read once a second by the cold path and kept for
//! the last minute, so that a reader can tell requests per second, the
//! bid rate, latency percentiles and the no-bid reasons of that minute.
//!
//! The bid path never calls this module: it increments its counters as
//! ever. A reading is a relaxed load of each counter, summed over the
//! exchanges; the ring of readings belongs to the cold path (the
//! one-second chore writes it, the console reads it), so its lock is
//! never taken by a bid thread.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::metrics::{LATENCY_BOUNDS_US, Metrics};
use crate::model::NoBidReason;

/// Readings kept: a minute of seconds, and the one before it.
pub const KEPT: usize = 61;

/// The percentiles the view gives.
pub const PERCENTILES: [u32; 3] = [50, 90, 99];

/// The counters at one moment, summed over the exchanges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reading {
    /// Bid requests received.
    pub requests: u64,
    /// Answers with a bid.
    pub bids: u64,
    /// No-bids, in [`NoBidReason::ALL`] order.
    pub no_bids: [u64; NoBidReason::ALL.len()],
    /// Answers per latency bucket ([`LATENCY_BOUNDS_US`]).
    pub latency: [u64; LATENCY_BOUNDS_US.len()],
    /// Answers timed, beyond the last bucket too.
    pub timed: u64,
}

impl Reading {
    /// Reads `m`'s counters now.
    pub fn of(m: &Metrics) -> Reading {
        let mut r = Reading::default();
        for c in m.exchanges() {
            r.requests += c.requests.load(std::sync::atomic::Ordering::Relaxed);
            r.bids += c.bids.load(std::sync::atomic::Ordering::Relaxed);
            for (sum, (_, n)) in r.no_bids.iter_mut().zip(c.no_bids.snapshot()) {
                *sum += n;
            }
        }
        let (buckets, timed) = m.latency.counts();
        r.latency = buckets;
        r.timed = timed;
        r
    }

    /// What was counted between `earlier` and this one.
    fn since(&self, earlier: &Reading) -> Reading {
        let mut d = Reading {
            requests: self.requests.saturating_sub(earlier.requests),
            bids: self.bids.saturating_sub(earlier.bids),
            timed: self.timed.saturating_sub(earlier.timed),
            ..Reading::default()
        };
        for (d, (a, b)) in d
            .no_bids
            .iter_mut()
            .zip(self.no_bids.iter().zip(&earlier.no_bids))
        {
            *d = a.saturating_sub(*b);
        }
        for (d, (a, b)) in d
            .latency
            .iter_mut()
            .zip(self.latency.iter().zip(&earlier.latency))
        {
            *d = a.saturating_sub(*b);
        }
        d
    }

    /// The upper bound, microseconds, of the bucket holding the `p`th
    /// percentile answer; `None` past the last bucket. Nothing when
    /// nothing was timed.
    fn percentile(&self, p: u32) -> Option<Option<u64>> {
        if self.timed == 0 {
            return None;
        }
        let rank = (self.timed * u64::from(p)).div_ceil(100).max(1);
        let mut seen = 0;
        for (n, bound) in self.latency.iter().zip(LATENCY_BOUNDS_US) {
            seen += n;
            if seen >= rank {
                return Some(Some(bound));
            }
        }
        Some(None)
    }
}

/// The last minute of readings. See the module documentation.
#[derive(Debug, Default)]
pub struct Traffic {
    readings: Mutex<VecDeque<(Instant, Reading)>>,
}

/// What the live view shows: the traffic between the oldest reading kept
/// and the newest.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficView {
    /// The time between them (zero before two readings).
    pub span: Duration,
    /// Requests received in it.
    pub requests: u64,
    /// Answers with a bid in it.
    pub bids: u64,
    /// `(p, upper bound µs)` for each of [`PERCENTILES`]; the bound is
    /// `None` past the last bucket. Empty when nothing was timed.
    pub latency: Vec<(u32, Option<u64>)>,
    /// Answers timed in it.
    pub timed: u64,
    /// No-bid reasons counted in it, most first.
    pub no_bids: Vec<(&'static str, u64)>,
    /// Requests in each second, oldest first.
    pub per_second: Vec<u64>,
}

impl TrafficView {
    /// Requests per second over the span.
    pub fn rate(&self) -> f64 {
        let secs = self.span.as_secs_f64();
        if secs > 0.0 {
            self.requests as f64 / secs
        } else {
            0.0
        }
    }

    /// Bids per request, 0 to 1.
    pub fn bid_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.bids as f64 / self.requests as f64
        }
    }
}

impl Traffic {
    /// No readings yet.
    pub fn new() -> Traffic {
        Traffic::default()
    }

    /// Keeps `r`, read at `at`; the oldest goes past [`KEPT`].
    pub fn record(&self, at: Instant, r: Reading) {
        let mut kept = self.readings.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() == KEPT {
            kept.pop_front();
        }
        kept.push_back((at, r));
    }

    /// The traffic between the oldest reading kept and the newest.
    pub fn view(&self) -> TrafficView {
        let kept = self.readings.lock().unwrap_or_else(PoisonError::into_inner);
        let (Some((t0, first)), Some((t1, last))) = (kept.front(), kept.back()) else {
            return TrafficView {
                span: Duration::ZERO,
                requests: 0,
                bids: 0,
                latency: Vec::new(),
                timed: 0,
                no_bids: Vec::new(),
                per_second: Vec::new(),
            };
        };
        let d = last.since(first);
        let mut no_bids: Vec<(&'static str, u64)> = NoBidReason::ALL
            .iter()
            .zip(d.no_bids)
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| (r.as_str(), n))
            .collect();
        no_bids.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let latency = PERCENTILES
            .iter()
            .filter_map(|p| d.percentile(*p).map(|b| (*p, b)))
            .collect();
        let per_second = kept
            .iter()
            .zip(kept.iter().skip(1))
            .map(|((_, a), (_, b))| b.requests.saturating_sub(a.requests))
            .collect();
        TrafficView {
            span: t1.saturating_duration_since(*t0),
            requests: d.requests,
            bids: d.bids,
            latency,
            timed: d.timed,
            no_bids,
            per_second,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(requests: u64, bids: u64, paced: u64, fast: u64, slow: u64) -> Reading {
        let mut r = Reading {
            requests,
            bids,
            timed: fast + slow,
            ..Reading::default()
        };
        r.no_bids[NoBidReason::Paced.index()] = paced;
        r.no_bids[NoBidReason::BelowFloor.index()] = paced / 2;
        r.latency[0] = fast;
        r.latency[4] = slow;
        r
    }

    #[test]
    fn the_view_is_the_difference_between_the_oldest_and_newest_readings() {
        let t = Traffic::new();
        let start = Instant::now();
        assert_eq!(t.view().requests, 0);
        t.record(start, reading(100, 10, 4, 50, 0));
        t.record(start + Duration::from_secs(1), reading(150, 20, 8, 80, 10));
        t.record(
            start + Duration::from_secs(2),
            reading(300, 40, 24, 150, 40),
        );
        let v = t.view();
        assert_eq!(v.span, Duration::from_secs(2));
        assert_eq!((v.requests, v.bids, v.timed), (200, 30, 140));
        assert_eq!(v.rate(), 100.0);
        assert_eq!(v.bid_rate(), 0.15);
        assert_eq!(v.no_bids, vec![("paced", 20), ("below_floor", 10)]);
        assert_eq!(v.per_second, vec![50, 150]);
        // 100 answers within 50 µs, 40 within 1 ms: the median is in the
        // first bucket, the 90th and 99th in the fifth.
        assert_eq!(
            v.latency,
            vec![(50, Some(50)), (90, Some(1_000)), (99, Some(1_000))]
        );
    }

    #[test]
    fn a_minute_is_kept_and_answers_past_the_last_bucket_are_told() {
        let t = Traffic::new();
        let start = Instant::now();
        for s in 0..100u64 {
            let mut r = reading(s * 10, 0, 0, 0, 0);
            r.timed = s;
            t.record(start + Duration::from_secs(s), r);
        }
        let v = t.view();
        assert_eq!(v.span, Duration::from_secs(KEPT as u64 - 1));
        assert_eq!(v.requests, 600);
        assert_eq!(v.per_second.len(), KEPT - 1);
        assert_eq!(v.latency, vec![(50, None), (90, None), (99, None)]);
    }
}
