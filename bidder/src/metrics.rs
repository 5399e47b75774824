//! Counters of the exchange endpoint, per exchange, and their Prometheus
//! text rendering for `GET /metrics`.
//!
//! The bid path only increments relaxed atomics here: never a lock, never an
//! allocation. Rendering (cold path) reads them without stopping anyone.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use audiences::consent::Contextual;

use crate::decision::{NoBidCounters, NoBidReason};
use crate::model::EventKind;

/// Why requests were or were not personalized: one counter for "allowed"
/// and one per [`Contextual`] reason.
#[derive(Default, Debug)]
pub struct PersonalizationCounters {
    allowed: AtomicU64,
    contextual: [AtomicU64; Contextual::ALL.len()],
}

impl PersonalizationCounters {
    /// Counts one request's verdict.
    pub fn record(&self, verdict: Result<(), Contextual>) {
        let counter = match verdict {
            Ok(()) => &self.allowed,
            Err(reason) => {
                let i = Contextual::ALL
                    .iter()
                    .position(|r| *r == reason)
                    .unwrap_or(0);
                &self.contextual[i]
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// `(reason label, count)`, "personalized" first.
    pub fn snapshot(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        std::iter::once(("personalized", self.allowed.load(Ordering::Relaxed))).chain(
            Contextual::ALL
                .iter()
                .zip(&self.contextual)
                .map(|(r, n)| (r.as_str(), n.load(Ordering::Relaxed))),
        )
    }
}

/// What happened to the requests of one exchange.
#[derive(Default, Debug)]
pub struct ExchangeCounters {
    /// Bid requests received (before any check).
    pub requests: AtomicU64,
    /// Answers carrying at least one bid.
    pub bids: AtomicU64,
    /// No-bids, by reason.
    pub no_bids: NoBidCounters,
    /// Requests refused with 400 (malformed or invalid).
    pub invalid: AtomicU64,
    /// Requests refused with 413.
    pub too_large: AtomicU64,
    /// Requests refused because the peer is not an allowed source.
    pub forbidden: AtomicU64,
    /// Decided requests, by whether personalization was allowed.
    pub personalization: PersonalizationCounters,
}

impl ExchangeCounters {
    /// Counts one event; relaxed ordering is enough for counters that are
    /// only ever summed for reporting.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a no-bid.
    pub fn no_bid(&self, reason: NoBidReason) {
        self.no_bids.record(reason);
    }
}

/// Picks one counter out of an exchange's counters.
type CounterOf = fn(&ExchangeCounters) -> &AtomicU64;

/// Every exchange's counters, in the order of the configuration.
#[derive(Debug)]
pub struct Metrics {
    names: Vec<String>,
    exchanges: Vec<ExchangeCounters>,
    /// Notices and trackers; shared with the event worker.
    pub events: std::sync::Arc<EventCounters>,
}

/// Why an event was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No token, or not a token.
    Malformed,
    /// The signature matches no key, or the auction is not the token's.
    Forged,
    /// Older than the token window.
    Expired,
    /// A price that is neither decimal nor a known encrypted form.
    BadPrice,
}

impl Refusal {
    /// Every reason, in metric order.
    pub const ALL: [Refusal; 4] = [
        Refusal::Malformed,
        Refusal::Forged,
        Refusal::Expired,
        Refusal::BadPrice,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::Forged => "forged",
            Refusal::Expired => "expired",
            Refusal::BadPrice => "bad_price",
        }
    }
}

/// What became of notices and tracker calls, per event kind.
#[derive(Default, Debug)]
pub struct EventCounters {
    /// Calls with a valid token.
    pub accepted: [AtomicU64; EventKind::ALL.len()],
    /// Events counted for the first time.
    pub counted: [AtomicU64; EventKind::ALL.len()],
    /// Replays of events counted before.
    pub replays: [AtomicU64; EventKind::ALL.len()],
    /// Refused calls, by [`Refusal`].
    pub refused: [AtomicU64; Refusal::ALL.len()],
    /// Events dropped because the channel to the cold path was full.
    pub dropped: AtomicU64,
    /// Events waiting in the channel.
    pub depth: std::sync::atomic::AtomicI64,
    /// Batches the store failed to record (their events are lost and
    /// logged).
    pub store_errors: AtomicU64,
}

impl EventCounters {
    /// Adds one to `kind`'s entry of `counters`.
    pub fn inc(counters: &[AtomicU64; EventKind::ALL.len()], kind: EventKind) {
        let i = EventKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        counters[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a refusal.
    pub fn refuse(&self, why: Refusal) {
        let i = Refusal::ALL.iter().position(|r| *r == why).unwrap_or(0);
        self.refused[i].fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String) {
        let per_kind: [(&str, &str, &[AtomicU64; EventKind::ALL.len()]); 3] = [
            (
                "bidder_events_accepted_total",
                "Notices and tracker calls with a valid token, by kind.",
                &self.accepted,
            ),
            (
                "bidder_events_counted_total",
                "Events counted (spend, learning) for the first time, by kind.",
                &self.counted,
            ),
            (
                "bidder_events_replayed_total",
                "Replays of events already counted, by kind.",
                &self.replays,
            ),
        ];
        for (name, help, counters) in per_kind {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (kind, n) in EventKind::ALL.iter().zip(counters) {
                let _ = writeln!(
                    out,
                    "{name}{{kind=\"{}\"}} {}",
                    kind.as_str(),
                    n.load(Ordering::Relaxed)
                );
            }
        }
        let name = "bidder_events_refused_total";
        let _ = writeln!(
            out,
            "# HELP {name} Refused notices and tracker calls, by reason.\n# TYPE {name} counter"
        );
        for (why, n) in Refusal::ALL.iter().zip(&self.refused) {
            let _ = writeln!(
                out,
                "{name}{{reason=\"{}\"}} {}",
                why.as_str(),
                n.load(Ordering::Relaxed)
            );
        }
        let singles = [
            (
                "bidder_events_dropped_total",
                "counter",
                "Events dropped because the channel to the cold path was full.",
                self.dropped.load(Ordering::Relaxed) as i64,
            ),
            (
                "bidder_events_channel_depth",
                "gauge",
                "Events waiting for the cold path.",
                self.depth.load(Ordering::Relaxed),
            ),
            (
                "bidder_events_store_errors_total",
                "counter",
                "Event batches the store failed to record.",
                self.store_errors.load(Ordering::Relaxed) as i64,
            ),
        ];
        for (name, kind, help, v) in singles {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        }
    }
}

impl Metrics {
    /// Counters for the exchanges named, in order.
    pub fn new(names: Vec<String>) -> Metrics {
        let exchanges = names.iter().map(|_| ExchangeCounters::default()).collect();
        Metrics {
            names,
            exchanges,
            events: Default::default(),
        }
    }

    /// The counters of the exchange at `index` in the configuration.
    pub fn exchange(&self, index: usize) -> &ExchangeCounters {
        &self.exchanges[index]
    }

    /// Prometheus text exposition format, version 0.0.4.
    pub fn render(&self, campaigns: usize) -> String {
        let mut out = String::with_capacity(4096);
        let simple: [(&str, &str, CounterOf); 5] = [
            ("bidder_bid_requests_total", "Bid requests received.", |c| {
                &c.requests
            }),
            (
                "bidder_bids_total",
                "Answers carrying at least one bid.",
                |c| &c.bids,
            ),
            (
                "bidder_invalid_requests_total",
                "Requests refused with 400.",
                |c| &c.invalid,
            ),
            (
                "bidder_oversized_requests_total",
                "Requests refused with 413.",
                |c| &c.too_large,
            ),
            (
                "bidder_forbidden_requests_total",
                "Requests from a source address the exchange does not allow.",
                |c| &c.forbidden,
            ),
        ];
        for (name, help, get) in simple {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (ex, c) in self.names.iter().zip(&self.exchanges) {
                let _ = writeln!(
                    out,
                    "{name}{{exchange=\"{ex}\"}} {}",
                    get(c).load(Ordering::Relaxed)
                );
            }
        }
        let name = "bidder_no_bids_total";
        let _ = writeln!(
            out,
            "# HELP {name} No-bid answers, by reason.\n# TYPE {name} counter"
        );
        for (ex, c) in self.names.iter().zip(&self.exchanges) {
            for (reason, n) in c.no_bids.snapshot() {
                let _ = writeln!(out, "{name}{{exchange=\"{ex}\",reason=\"{reason}\"}} {n}");
            }
        }
        let name = "bidder_personalization_total";
        let _ = writeln!(
            out,
            "# HELP {name} Decided requests by whether consent allowed personalization, and if not why.\n# TYPE {name} counter"
        );
        for (ex, c) in self.names.iter().zip(&self.exchanges) {
            for (reason, n) in c.personalization.snapshot() {
                let _ = writeln!(out, "{name}{{exchange=\"{ex}\",reason=\"{reason}\"}} {n}");
            }
        }
        let name = "bidder_campaigns_bidding";
        let _ = writeln!(
            out,
            "# HELP {name} Campaigns in the current bid snapshot.\n# TYPE {name} gauge\n{name} {campaigns}"
        );
        self.events.render(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_shows_each_counter_per_exchange() {
        let m = Metrics::new(vec!["a".into(), "b".into()]);
        ExchangeCounters::inc(&m.exchange(1).requests);
        ExchangeCounters::inc(&m.exchange(1).requests);
        m.exchange(0).no_bid(NoBidReason::BelowFloor);
        m.exchange(0)
            .personalization
            .record(Err(Contextual::GdprVendor));
        let text = m.render(3);
        assert!(
            text.contains("bidder_personalization_total{exchange=\"a\",reason=\"gdpr_vendor\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("bidder_bid_requests_total{exchange=\"b\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("bidder_bid_requests_total{exchange=\"a\"} 0"),
            "{text}"
        );
        let below = format!(
            "bidder_no_bids_total{{exchange=\"a\",reason=\"{}\"}} 1",
            NoBidReason::BelowFloor.as_str()
        );
        assert!(text.contains(&below), "{text}");
        assert!(text.contains("bidder_campaigns_bidding 3"), "{text}");
    }
}
