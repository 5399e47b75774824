//! What one replay run measured.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Counts and latencies of a run.
pub struct Report {
    /// Wall time the run lasted.
    pub elapsed: Duration,
    /// Answers by HTTP status; `0` counts transport errors.
    pub statuses: BTreeMap<u16, u64>,
    /// Latency of every answered request, microseconds.
    pub latency_us: Histogram<u64>,
}

impl Report {
    /// Requests answered (any status).
    pub fn answered(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(s, _)| **s != 0)
            .map(|(_, n)| n)
            .sum()
    }

    /// Answered requests per second.
    pub fn per_second(&self) -> f64 {
        self.answered() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Latency at quantile `q` (0..=1), microseconds.
    pub fn latency(&self, q: f64) -> u64 {
        self.latency_us.value_at_quantile(q)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} answers in {:.1} s = {:.0} req/s",
            self.answered(),
            self.elapsed.as_secs_f64(),
            self.per_second()
        )?;
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        writeln!(f, "status {}", statuses.join(", "))?;
        write!(
            f,
            "latency us p50 {} p90 {} p99 {} p99.9 {} max {}",
            self.latency(0.5),
            self.latency(0.9),
            self.latency(0.99),
            self.latency(0.999),
            self.latency_us.max()
        )
    }
}
