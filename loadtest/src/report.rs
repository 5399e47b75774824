//! What one run measured: answers by status, bids and no-bids, answers
//! later than the request's `tmax`, errors by kind, and every latency in an
//! HDR histogram (no sampling, 3 significant digits).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::notices::Tally;
use crate::plan::Mode;

/// Counts and latencies of a run (or of one connection's share).
pub struct Report {
    /// How requests were paced.
    pub mode: Mode,
    /// Wall time the run lasted.
    pub elapsed: Duration,
    /// Answers by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// Answers that arrived after the request's `tmax`.
    pub late: u64,
    /// Open loop with give-up: requests not sent because no connection was
    /// free within half their `tmax` (an exchange's closed auctions).
    pub given_up: u64,
    /// Bytes of answer bodies, all answers together (what the server wrote,
    /// before any compression the client asked for).
    pub answer_bytes: u64,
    /// Requests that got no HTTP answer, by what failed.
    pub errors: BTreeMap<&'static str, u64>,
    /// Latency of every answered request, microseconds (from the due time
    /// in open-loop mode).
    pub latency_us: Histogram<u64>,
    /// What the notices sent to close the loop got back.
    pub notices: Tally,
}

impl Report {
    /// An empty report.
    pub fn new(mode: Mode) -> anyhow::Result<Report> {
        Ok(Report {
            mode,
            elapsed: Duration::ZERO,
            statuses: BTreeMap::new(),
            late: 0,
            given_up: 0,
            answer_bytes: 0,
            errors: BTreeMap::new(),
            // Up to a minute, 3 significant digits; anything slower is
            // recorded as a minute rather than lost.
            latency_us: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            notices: Tally::default(),
        })
    }

    /// Records one answer; true when it came after the request's `tmax`.
    pub fn answer(&mut self, status: u16, latency: Duration, tmax: Option<Duration>) -> bool {
        *self.statuses.entry(status).or_insert(0) += 1;
        self.latency_us
            .saturating_record(latency.as_micros() as u64);
        let late = tmax.is_some_and(|t| latency > t);
        self.late += u64::from(late);
        late
    }

    /// Records a request that got no answer.
    pub fn error(&mut self, kind: &'static str) {
        *self.errors.entry(kind).or_insert(0) += 1;
    }

    /// Adds another report's counts (a connection's share) to this one.
    pub fn merge(&mut self, other: Report) -> anyhow::Result<()> {
        self.merge_copy(&other)
    }

    /// Adds another report's counts to this one, keeping it.
    pub fn merge_copy(&mut self, other: &Report) -> anyhow::Result<()> {
        for (k, v) in &other.statuses {
            *self.statuses.entry(*k).or_insert(0) += v;
        }
        for (k, v) in &other.errors {
            *self.errors.entry(*k).or_insert(0) += v;
        }
        self.late += other.late;
        self.given_up += other.given_up;
        self.answer_bytes += other.answer_bytes;
        self.latency_us.add(&other.latency_us)?;
        self.notices.merge(other.notices.clone());
        Ok(())
    }

    /// Requests answered (any status).
    pub fn answered(&self) -> u64 {
        self.statuses.values().sum()
    }

    /// Answers with a bid (`200`).
    pub fn bids(&self) -> u64 {
        self.statuses.get(&200).copied().unwrap_or(0)
    }

    /// Answers without a bid (`204`).
    pub fn no_bids(&self) -> u64 {
        self.statuses.get(&204).copied().unwrap_or(0)
    }

    /// Answered requests per second.
    pub fn per_second(&self) -> f64 {
        self.answered() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Latency at quantile `q` (0..=1), microseconds.
    pub fn latency(&self, q: f64) -> u64 {
        self.latency_us.value_at_quantile(q)
    }

    /// The report as JSON, for scripts.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "mode": match self.mode { Mode::Closed => "closed".to_string(), Mode::Open { rate } => format!("open:{rate}") },
            "elapsed_s": self.elapsed.as_secs_f64(),
            "answered": self.answered(),
            "per_second": self.per_second(),
            "bids": self.bids(),
            "no_bids": self.no_bids(),
            "statuses": self.statuses.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>(),
            "late": self.late,
            "given_up": self.given_up,
            "mean_answer_bytes": self.answer_bytes / self.answered().max(1),
            "errors": self.errors,
            "latency_us": {
                "p50": self.latency(0.5), "p90": self.latency(0.9), "p99": self.latency(0.99),
                "p999": self.latency(0.999), "max": self.latency_us.max(),
            },
            "notices": {
                "statuses": self.notices.statuses.iter()
                    .map(|((kind, status), n)| (format!("{kind} {status}"), *n))
                    .collect::<BTreeMap<_, _>>(),
                "errors": self.notices.errors.iter()
                    .map(|(kind, n)| (kind.to_string(), *n))
                    .collect::<BTreeMap<_, _>>(),
                "dropped": self.notices.dropped,
                "charged_micros": self.notices.charged.iter()
                    .map(|((cid, cur), n)| (format!("{cid} {cur}"), *n))
                    .collect::<BTreeMap<_, _>>(),
            },
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            Mode::Closed => "closed loop".to_string(),
            Mode::Open { rate } => format!("open loop at {rate}/s"),
        };
        writeln!(
            f,
            "{} answers in {:.1} s = {:.0} req/s ({mode})",
            self.answered(),
            self.elapsed.as_secs_f64(),
            self.per_second()
        )?;
        let n = self.answered().max(1) as f64;
        writeln!(
            f,
            "bids {} ({:.1} %), no-bids {} ({:.1} %), late (after tmax) {}, given up {}, mean answer {} bytes",
            self.bids(),
            100.0 * self.bids() as f64 / n,
            self.no_bids(),
            100.0 * self.no_bids() as f64 / n,
            self.late,
            self.given_up,
            self.answer_bytes / self.answered().max(1)
        )?;
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        let errors: Vec<String> = self
            .errors
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        writeln!(
            f,
            "status {}; errors {}",
            statuses.join(", "),
            if errors.is_empty() {
                "none".to_string()
            } else {
                errors.join(", ")
            }
        )?;
        write!(
            f,
            "latency us p50 {} p90 {} p99 {} p99.9 {} max {}",
            self.latency(0.5),
            self.latency(0.9),
            self.latency(0.99),
            self.latency(0.999),
            self.latency_us.max()
        )?;
        let n = &self.notices;
        if n.answered() + n.dropped + n.errors.values().sum::<u64>() > 0 {
            let statuses: Vec<String> = n
                .statuses
                .iter()
                .map(|((kind, status), c)| format!("{kind} {status}: {c}"))
                .collect();
            let errors: Vec<String> = n.errors.iter().map(|(k, c)| format!("{k}: {c}")).collect();
            write!(
                f,
                "\nnotices {}; errors {}; dropped {}; charged {} micros",
                statuses.join(", "),
                if errors.is_empty() {
                    "none".to_string()
                } else {
                    errors.join(", ")
                },
                n.dropped,
                n.charged.values().sum::<u64>()
            )?;
        }
        Ok(())
    }
}
