//! Counters of the exchange endpoint, per exchange, and their Prometheus
//! text rendering for `GET /metrics`.
//!
//! The bid path only increments relaxed atomics here: never a lock, never an
//! allocation (but once per field path ever, when a path is first counted,
//! see [`FieldCounters`]). Rendering (cold path) reads them without stopping
//! anyone.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use audiences::consent::Contextual;
use openrtb::{Action, Repairs, SkipReason};

use crate::model::EventKind;
use crate::model::NoBidReason;

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
    /// Impressions past the exchange's `max_imps`, not bid on.
    pub imps_over_cap: AtomicU64,
    /// Decided requests, by whether personalization was allowed.
    pub personalization: PersonalizationCounters,
    /// Request fields the parser left out or converted, by path.
    pub fields: FieldCounters,
    /// Imps left out of requests otherwise answered, by
    /// [`SkipReason`].
    pub skipped_imps: [AtomicU64; SkipReason::ALL.len()],
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

    /// Counts what reading one request repaired, and the imps it skipped.
    pub fn repairs(&self, repairs: &Repairs) {
        for field in &repairs.fields {
            self.fields.record(&field.path, field.action);
        }
        for imp in &repairs.skipped {
            Self::inc(&self.skipped_imps[imp.reason.index()]);
        }
    }
}

/// One path's counts, for rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldRow<'a> {
    /// The normalised path, or `other`.
    pub path: &'a str,
    /// Times left out.
    pub dropped: u64,
    /// Times read as what it plainly meant.
    pub coerced: u64,
}

/// How many distinct field paths each exchange counts under their own
/// name; paths met after these are counted under `other`.
pub const FIELD_PATHS: usize = 64;

/// Request fields left out or converted, counted per normalised path
/// (`imp[].banner.mimes`). Paths are built only from the model's own keys,
/// so a few dozen can exist; the cap keeps the label set bounded whatever
/// traffic brings. Lock-free: a path claims an empty slot once (a
/// `OnceLock`, which allocates the label), after which counting it is a
/// relaxed add after comparing the slots before it.
#[derive(Debug)]
pub struct FieldCounters {
    slots: [FieldSlot; FIELD_PATHS],
    other: FieldCounts,
}

#[derive(Debug, Default)]
struct FieldSlot {
    path: OnceLock<Box<str>>,
    counts: FieldCounts,
}

#[derive(Debug, Default)]
struct FieldCounts {
    /// Left out: the wrong type, a repeated key, or `null`.
    dropped: AtomicU64,
    /// Read as what it plainly means.
    coerced: AtomicU64,
}

impl Default for FieldCounters {
    fn default() -> Self {
        FieldCounters {
            slots: std::array::from_fn(|_| FieldSlot::default()),
            other: FieldCounts::default(),
        }
    }
}

impl FieldCounters {
    /// Counts one field at `path`.
    pub fn record(&self, path: &str, action: Action) {
        let counts = self
            .slots
            .iter()
            .find(|slot| &**slot.path.get_or_init(|| path.into()) == path)
            .map_or(&self.other, |slot| &slot.counts);
        let counter = match action {
            Action::Dropped | Action::Null => &counts.dropped,
            Action::Coerced => &counts.coerced,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Every path counted, `other` last (when anything was).
    pub fn snapshot(&self) -> Vec<FieldRow<'_>> {
        let read = |c: &FieldCounts| {
            (
                c.dropped.load(Ordering::Relaxed),
                c.coerced.load(Ordering::Relaxed),
            )
        };
        let mut rows: Vec<FieldRow<'_>> = self
            .slots
            .iter()
            .filter_map(|slot| {
                let (dropped, coerced) = read(&slot.counts);
                slot.path.get().map(|path| FieldRow {
                    path,
                    dropped,
                    coerced,
                })
            })
            .collect();
        let (dropped, coerced) = read(&self.other);
        if dropped + coerced > 0 {
            rows.push(FieldRow {
                path: "other",
                dropped,
                coerced,
            });
        }
        rows
    }
}

/// Picks one counter out of an exchange's counters.
type CounterOf = fn(&ExchangeCounters) -> &AtomicU64;

/// Picks one count out of a field path's row.
type CountOf = fn(&FieldRow) -> u64;

/// Every exchange's counters, in the order of the configuration.
#[derive(Debug)]
pub struct Metrics {
    names: Vec<String>,
    exchanges: Vec<ExchangeCounters>,
    /// Notices and trackers; shared with the event worker.
    pub events: std::sync::Arc<EventCounters>,
    /// Time from a bid request's arrival to its answer.
    pub latency: Histogram,
}

/// A Prometheus histogram of durations with fixed buckets; lock-free.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BOUNDS_US.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

/// Upper bounds of the latency buckets, microseconds.
pub const LATENCY_BOUNDS_US: [u64; 12] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
];

impl Histogram {
    /// Counts one observation.
    pub fn observe(&self, d: std::time::Duration) {
        let us = d.as_micros().min(u128::from(u64::MAX)) as u64;
        if let Some(i) = LATENCY_BOUNDS_US.iter().position(|b| us <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// The count of each bucket (not cumulative) and of all
    /// observations, read now.
    pub fn counts(&self) -> ([u64; LATENCY_BOUNDS_US.len()], u64) {
        let buckets = std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed));
        (buckets, self.count.load(Ordering::Relaxed))
    }

    fn render(&self, name: &str, help: &str, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (b, n) in LATENCY_BOUNDS_US.iter().zip(&self.buckets) {
            cumulative += n.load(Ordering::Relaxed);
            let le = *b as f64 / 1e6;
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// The campaigns past `metrics_campaigns`, summed in one currency.
#[derive(Debug, Clone, PartialEq)]
pub struct OtherBudgets {
    /// Their currency.
    pub currency: openrtb::Currency,
    /// How many campaigns.
    pub campaigns: usize,
    /// Spend booked on each campaign's current day, summed.
    pub spent_today: openrtb::Micros,
    /// Spend booked in all, summed.
    pub spent_total: openrtb::Micros,
    /// Held for bids in flight, summed.
    pub reserved: openrtb::Micros,
}

impl State {
    /// `all` budgets split as `/metrics` shows them: the `top` campaigns
    /// that spent most today one by one (by id), the others summed per
    /// currency. So the label set stays bounded however many campaigns
    /// there are; every campaign's figures stay in the budget API.
    pub fn split_budgets(
        mut all: Vec<(i64, crate::state::budget::BudgetState)>,
        top: usize,
    ) -> (
        Vec<(i64, crate::state::budget::BudgetState)>,
        Vec<OtherBudgets>,
    ) {
        if all.len() <= top {
            return (all, Vec::new());
        }
        all.sort_by(|(a, x), (b, y)| {
            y.spent_today_micros
                .cmp(&x.spent_today_micros)
                .then(a.cmp(b))
        });
        let rest = all.split_off(top);
        all.sort_by_key(|(id, _)| *id);
        let mut other: Vec<OtherBudgets> = Vec::new();
        for (_, b) in rest {
            let at = match other.iter().position(|o| o.currency == b.currency) {
                Some(i) => i,
                None => {
                    other.push(OtherBudgets {
                        currency: b.currency,
                        campaigns: 0,
                        spent_today: openrtb::Micros(0),
                        spent_total: openrtb::Micros(0),
                        reserved: openrtb::Micros(0),
                    });
                    other.len() - 1
                }
            };
            let o = &mut other[at];
            o.campaigns += 1;
            o.spent_today = o.spent_today.saturating_add(b.spent_today_micros);
            o.spent_total = o.spent_total.saturating_add(b.spent_total_micros);
            o.reserved = o.reserved.saturating_add(b.reserved_micros);
        }
        other.sort_by_key(|o| o.currency);
        (all, other)
    }
}

/// What `/metrics` shows beyond the counters: budgets, snapshot versions,
/// the cold path's queues.
#[derive(Debug, Default)]
pub struct State {
    /// Campaigns in the bid snapshot.
    pub campaigns: usize,
    /// Bid snapshots published.
    pub catalog_version: u64,
    /// Audience table snapshots published.
    pub audience_version: u64,
    /// Per campaign id, its budget account.
    pub budgets: Vec<(i64, crate::state::budget::BudgetState)>,
    /// The other campaigns, summed per currency.
    pub budgets_other: Vec<OtherBudgets>,
    /// Report facts dropped (channel full).
    pub report_facts_dropped: u64,
    /// Settling events booked after their reservation expired.
    pub late_settlements: u64,
    /// Users moved forward in a funnel by events.
    pub funnel_moves: u64,
    /// Connections open now.
    pub connections: u64,
    /// The runtime's estimated queueing delay.
    pub queue_delay: std::time::Duration,
    /// In a fleet: what this instance sees of it.
    pub fleet: Option<FleetState>,
}

/// What a fleet instance shows on `/metrics`: a fixed set of series,
/// and its budget leases for the campaigns the budget series show one by
/// one (the others summed per currency), so the page stays bounded.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FleetState {
    /// Calls to Redis (a pipeline or a script is one).
    pub round_trips: u64,
    /// Calls that failed.
    pub errors: u64,
    /// Values under our keys that could not be read (ignored).
    pub bad_values: u64,
    /// Events in this instance's spool, waiting for Redis.
    pub spool: i64,
    /// Control instance: events left in the streams after its last read.
    pub event_lag: i64,
    /// Instances with bids in flight, as this one last counted them.
    pub sharers: u32,
    /// Leases of the campaigns shown one by one: id, currency, lease.
    pub leases: Vec<(
        i64,
        openrtb::Currency,
        crate::state::budget::lease::LeaseState,
    )>,
    /// Leases of the other campaigns, summed per currency.
    pub leases_other: Vec<(openrtb::Currency, crate::state::budget::lease::LeaseState)>,
    /// Bid instance: how far its audience table trails the control's
    /// change stream, milliseconds of the stream's clock.
    pub audience_lag_ms: i64,
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
    /// Counted events whose effects were dropped because the channel to
    /// the cold path was full.
    pub dropped: AtomicU64,
    /// Events waiting in the channel.
    pub depth: std::sync::atomic::AtomicI64,
    /// Batches the store failed to record (their events are lost and
    /// logged).
    pub store_errors: AtomicU64,
    /// Billing points whose clearing price was above the bid's own by more
    /// than the rounding tolerance (booked at the bid price).
    pub over_bid: AtomicU64,
    /// Outcomes that contradicted their bid's first one (a loss after a
    /// win, a win after a loss): kept, counted for nothing.
    pub conflicts: AtomicU64,
    /// Notices whose `auction`/`imp` were absent or left as macros, so
    /// that only the token tied them to their auction.
    pub unverified_auction: AtomicU64,
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
                "Counted events whose effects (caps, funnel moves, learning) were dropped because the channel to the cold path was full; the events stay counted.",
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
            (
                "bidder_events_over_bid_total",
                "counter",
                "Billing points priced above the bid (booked at the bid price).",
                self.over_bid.load(Ordering::Relaxed) as i64,
            ),
            (
                "bidder_events_conflicts_total",
                "counter",
                "Outcomes contradicting their bid's first outcome (counted for nothing).",
                self.conflicts.load(Ordering::Relaxed) as i64,
            ),
            (
                "bidder_events_unverified_auction_total",
                "counter",
                "Notices without a filled auction or imp id (tied to their auction by the token).",
                self.unverified_auction.load(Ordering::Relaxed) as i64,
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
            latency: Histogram::default(),
        }
    }

    /// The counters of the exchange at `index` in the configuration.
    pub fn exchange(&self, index: usize) -> &ExchangeCounters {
        &self.exchanges[index]
    }

    /// Every exchange's counters, in configuration order.
    pub fn exchanges(&self) -> &[ExchangeCounters] {
        &self.exchanges
    }

    /// Prometheus text exposition format, version 0.0.4.
    pub fn render(&self, state: &State) -> String {
        let campaigns = state.campaigns;
        let mut out = String::with_capacity(4096);
        let simple: [(&str, &str, CounterOf); 6] = [
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
            (
                "bidder_imps_over_cap_total",
                "Impressions past the exchange's max_imps, not bid on.",
                |c| &c.imps_over_cap,
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
        let name = "bidder_imps_skipped_total";
        let _ = writeln!(
            out,
            "# HELP {name} Imps left out of requests (not bid on), by reason.\n# TYPE {name} counter"
        );
        for (ex, c) in self.names.iter().zip(&self.exchanges) {
            for (reason, n) in SkipReason::ALL.iter().zip(&c.skipped_imps) {
                let _ = writeln!(
                    out,
                    "{name}{{exchange=\"{ex}\",reason=\"{}\"}} {}",
                    reason.as_str(),
                    n.load(Ordering::Relaxed)
                );
            }
        }
        self.render_fields(&mut out);
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
        self.latency.render(
            "bidder_bid_latency_seconds",
            "Time from a bid request's arrival to its answer.",
            &mut out,
        );
        render_state(state, &mut out);
        out
    }
}

impl Metrics {
    /// The request fields left out and converted, per exchange and path.
    fn render_fields(&self, out: &mut String) {
        let kinds: [(&str, &str, CountOf); 2] = [
            (
                "bidder_request_fields_dropped_total",
                "Bid request fields left out (wrong type, repeated key, null), by path; array positions as [], paths past the first 64 as other.",
                |r| r.dropped,
            ),
            (
                "bidder_request_fields_coerced_total",
                "Bid request fields read as what they plainly mean (a number in a string, one value for a list, a native request encoded twice), by path.",
                |r| r.coerced,
            ),
        ];
        let rows: Vec<_> = self.exchanges.iter().map(|c| c.fields.snapshot()).collect();
        for (name, help, count) in kinds {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (ex, rows) in self.names.iter().zip(&rows) {
                for row in rows.iter().filter(|r| count(r) > 0) {
                    let _ = writeln!(
                        out,
                        "{name}{{exchange=\"{ex}\",path=\"{}\"}} {}",
                        label(row.path),
                        count(row)
                    );
                }
            }
        }
    }
}

/// `value` escaped for a Prometheus label (backslash, quote, newline).
fn label(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains(['\\', '"', '\n']) {
        return value.into();
    }
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .into()
}

fn render_state(s: &State, out: &mut String) {
    let name = "bidder_snapshot_version";
    let _ = writeln!(
        out,
        "# HELP {name} Snapshots published since start, per table.\n# TYPE {name} counter\n{name}{{table=\"campaigns\"}} {}\n{name}{{table=\"audiences\"}} {}",
        s.catalog_version, s.audience_version
    );
    let counter = |out: &mut String, name: &str, help: &str, v: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
        );
    };
    counter(
        out,
        "bidder_report_facts_dropped_total",
        "Bid and no-bid facts dropped before reaching reports (channel full).",
        s.report_facts_dropped,
    );
    counter(
        out,
        "bidder_late_settlements_total",
        "Wins and bills booked after their budget reservation had expired.",
        s.late_settlements,
    );
    counter(
        out,
        "bidder_funnel_moves_total",
        "Users moved forward in a funnel by impressions, clicks and conversions.",
        s.funnel_moves,
    );
    let gauge = |out: &mut String, name: &str, help: &str, v: f64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
    };
    gauge(
        out,
        "bidder_connections_open",
        "Client connections open now (capped by max_connections).",
        s.connections as f64,
    );
    gauge(
        out,
        "bidder_queue_delay_seconds",
        "Estimated wait of a request for the runtime; bid requests are shed above max_queue_delay_ms.",
        s.queue_delay.as_secs_f64(),
    );
    if let Some(f) = &s.fleet {
        counter(
            out,
            "bidder_redis_round_trips_total",
            "Calls to the fleet's Redis (a pipeline or a script is one).",
            f.round_trips,
        );
        counter(
            out,
            "bidder_redis_errors_total",
            "Calls to the fleet's Redis that failed.",
            f.errors,
        );
        counter(
            out,
            "bidder_redis_bad_values_total",
            "Values under the fleet's keys that could not be read (ignored).",
            f.bad_values,
        );
        gauge(
            out,
            "bidder_spool_depth",
            "Events in this instance's spool, waiting for Redis.",
            f.spool as f64,
        );
        gauge(
            out,
            "bidder_event_stream_lag",
            "Control instance: events left in the fleet's streams after its last read.",
            f.event_lag as f64,
        );
        gauge(
            out,
            "bidder_fleet_sharers",
            "Instances of the fleet with bids in flight, as this one last counted them.",
            f64::from(f.sharers),
        );
        gauge(
            out,
            "bidder_audience_stream_lag_seconds",
            "Bid instance: how far its audience table trails the control's change stream.",
            f.audience_lag_ms as f64 / 1_000.0,
        );
        render_leases(f, out);
    }
    type Get = fn(&crate::state::budget::BudgetState) -> f64;
    let per_campaign: [(&str, &str, Get); 5] = [
        (
            "bidder_budget_spent_today_micros",
            "Spend booked on the campaign's current day, micros of its currency.",
            |b| b.spent_today_micros.0 as f64,
        ),
        (
            "bidder_budget_spent_total_micros",
            "Spend booked in all, micros of the campaign's currency.",
            |b| b.spent_total_micros.0 as f64,
        ),
        (
            "bidder_budget_reserved_micros",
            "Budget held for bids in flight, micros of the campaign's currency.",
            |b| b.reserved_micros.0 as f64,
        ),
        (
            "bidder_pacing_allowed_micros",
            "What the pacing curve allows to have been spent by now today.",
            |b| b.allowed_now_micros.0 as f64,
        ),
        (
            "bidder_pacing_bid_share",
            "Share of bids pacing lets through now (0 to 1).",
            |b| b.bid_share,
        ),
    ];
    type Summed = fn(&OtherBudgets) -> Option<f64>;
    let summed: [Summed; 5] = [
        |o| Some(o.spent_today.0 as f64),
        |o| Some(o.spent_total.0 as f64),
        |o| Some(o.reserved.0 as f64),
        |_| None,
        |_| None,
    ];
    for ((name, help, get), sum) in per_campaign.into_iter().zip(summed) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (id, b) in &s.budgets {
            let _ = writeln!(
                out,
                "{name}{{campaign=\"{id}\",currency=\"{}\"}} {}",
                b.currency,
                get(b)
            );
        }
        for o in &s.budgets_other {
            if let Some(v) = sum(o) {
                let _ = writeln!(
                    out,
                    "{name}{{campaign=\"other\",currency=\"{}\"}} {v}",
                    o.currency
                );
            }
        }
    }
    let name = "bidder_budget_other_campaigns";
    let _ = writeln!(
        out,
        "# HELP {name} Campaigns summed under campaign=\"other\" (past metrics_campaigns).\n# TYPE {name} gauge"
    );
    for o in &s.budgets_other {
        let _ = writeln!(out, "{name}{{currency=\"{}\"}} {}", o.currency, o.campaigns);
    }
}

/// A fleet instance's budget leases: per campaign shown, then summed.
fn render_leases(f: &FleetState, out: &mut String) {
    use crate::state::budget::lease::LeaseState;
    type Get = fn(&LeaseState) -> f64;
    let series: [(&str, &str, Get); 2] = [
        (
            "bidder_lease_limit_micros",
            "This instance's budget lease for the campaign's day: what it may have used (own booked spend plus reservations).",
            |l| l.limit as f64,
        ),
        (
            "bidder_lease_left_micros",
            "What is left of this instance's budget lease to reserve.",
            |l| l.left() as f64,
        ),
    ];
    for (name, help, get) in series {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (id, cur, l) in &f.leases {
            let _ = writeln!(
                out,
                "{name}{{campaign=\"{id}\",currency=\"{cur}\"}} {}",
                get(l)
            );
        }
        for (cur, l) in &f.leases_other {
            let _ = writeln!(
                out,
                "{name}{{campaign=\"other\",currency=\"{cur}\"}} {}",
                get(l)
            );
        }
    }
}

/// One counter per reason; lock-free.
#[derive(Debug, Default)]
pub struct NoBidCounters {
    counts: [AtomicU64; NoBidReason::ALL.len()],
}

impl NoBidCounters {
    /// Counts one no-bid.
    pub fn record(&self, reason: NoBidReason) {
        self.counts[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Every reason with its count, in [`NoBidReason::ALL`] order.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        NoBidReason::ALL
            .iter()
            .map(|r| (r.as_str(), self.counts[r.index()].load(Ordering::Relaxed)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(currency: openrtb::Currency, today: i64) -> crate::state::budget::BudgetState {
        crate::state::budget::BudgetState {
            currency,
            daily_budget_micros: openrtb::Micros(0),
            total_budget_micros: openrtb::Micros(0),
            spent_today_micros: openrtb::Micros(today),
            spent_total_micros: openrtb::Micros(today * 10),
            reserved_micros: openrtb::Micros(1),
            time_zone: "UTC".into(),
            day_start: crate::model::UnixTime(0),
            day_end: crate::model::UnixTime(0),
            pacing: crate::model::PacingMode::Even,
            allowed_now_micros: openrtb::Micros(0),
            bid_share: 1.0,
            win_rate: 1.0,
            state: "on_pace",
            late_wins: 0,
            late_micros: openrtb::Micros(0),
        }
    }

    #[test]
    fn past_the_top_campaigns_budgets_are_summed_per_currency() {
        use openrtb::Currency;
        let all = (1..=1_000)
            .map(|id| {
                let cur = if id % 2 == 0 {
                    Currency::EUR
                } else {
                    Currency::USD
                };
                (id, budget(cur, id))
            })
            .collect();
        let (top, other) = State::split_budgets(all, 3);
        let ids: Vec<i64> = top.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, [998, 999, 1_000], "the three that spent most, by id");
        assert_eq!(other.len(), 2);
        assert_eq!(other.iter().map(|o| o.campaigns).sum::<usize>(), 997);
        let usd = other.iter().find(|o| o.currency == Currency::USD).unwrap();
        assert_eq!(
            usd.spent_today.0,
            (1..=997).filter(|i| i % 2 == 1).sum::<i64>()
        );
        let text = Metrics::new(vec!["a".into()]).render(&State {
            budgets: top,
            budgets_other: other,
            ..State::default()
        });
        assert!(
            text.contains("bidder_budget_spent_today_micros{campaign=\"other\",currency=\"EUR\"}"),
            "{text}"
        );
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains("campaign=\""))
            .count();
        // Five series per campaign shown; three summed ones per currency.
        assert_eq!(samples, 5 * 3 + 3 * 2);
    }

    #[test]
    fn a_fleet_instance_with_ten_thousand_campaigns_shows_a_bounded_page() {
        use openrtb::Currency;
        let all = (1..=10_000)
            .map(|id| (id, budget(Currency::USD, id)))
            .collect();
        let (top, other) = State::split_budgets(all, 20);
        let lease = crate::state::budget::lease::LeaseState {
            limit: 5_000,
            used: 2_000,
            ..Default::default()
        };
        let text = Metrics::new(vec!["a".into()]).render(&State {
            fleet: Some(FleetState {
                round_trips: 7,
                errors: 1,
                sharers: 3,
                audience_lag_ms: 1_500,
                leases: top
                    .iter()
                    .map(|(id, _)| (*id, Currency::USD, lease))
                    .collect(),
                leases_other: vec![(Currency::USD, lease)],
                ..FleetState::default()
            }),
            budgets: top,
            budgets_other: other,
            ..State::default()
        });
        for row in [
            "bidder_redis_round_trips_total 7",
            "bidder_redis_errors_total 1",
            "bidder_fleet_sharers 3",
            "bidder_audience_stream_lag_seconds 1.5",
            "bidder_spool_depth 0",
            "bidder_lease_left_micros{campaign=\"other\",currency=\"USD\"} 3000",
        ] {
            assert!(text.contains(row), "{row} in\n{text}");
        }
        let per_campaign = text
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains("campaign=\""))
            .count();
        assert_eq!(
            per_campaign,
            (5 + 2) * 20 + 3 + 2,
            "the top 20, then one sum"
        );
        assert!(text.len() < 64 * 1024, "{} bytes", text.len());
    }

    #[test]
    fn counters_count_per_reason() {
        let c = NoBidCounters::default();
        c.record(NoBidReason::BelowFloor);
        c.record(NoBidReason::BelowFloor);
        c.record(NoBidReason::Deadline);
        let snap = c.snapshot();
        assert!(snap.contains(&("below_floor", 2)));
        assert!(snap.contains(&("deadline", 1)));
        assert!(snap.contains(&("language", 0)));
    }

    #[test]
    fn render_shows_each_counter_per_exchange() {
        let m = Metrics::new(vec!["a".into(), "b".into()]);
        ExchangeCounters::inc(&m.exchange(1).requests);
        ExchangeCounters::inc(&m.exchange(1).requests);
        m.exchange(0).no_bid(NoBidReason::BelowFloor);
        m.exchange(0)
            .personalization
            .record(Err(Contextual::GdprVendor));
        let text = m.render(&State {
            campaigns: 3,
            ..State::default()
        });
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

    #[test]
    fn repaired_fields_are_counted_by_path_and_skipped_imps_by_reason() {
        let m = Metrics::new(vec!["a".into()]);
        let field = |path: &str, action| openrtb::FieldRepair {
            path: path.into(),
            imp: Some(0),
            action,
        };
        let repairs = Repairs {
            fields: vec![
                field("imp[].banner.mimes", Action::Dropped),
                field("site.cat", Action::Null),
                field("imp[].bidfloor", Action::Coerced),
            ],
            skipped: vec![openrtb::Skipped {
                index: 1,
                reason: SkipReason::DuplicateId,
            }],
            unservable: None,
        };
        m.exchange(0).repairs(&repairs);
        m.exchange(0).repairs(&repairs);
        let text = m.render(&State::default());
        for row in [
            "bidder_request_fields_dropped_total{exchange=\"a\",path=\"imp[].banner.mimes\"} 2",
            "bidder_request_fields_dropped_total{exchange=\"a\",path=\"site.cat\"} 2",
            "bidder_request_fields_coerced_total{exchange=\"a\",path=\"imp[].bidfloor\"} 2",
            "bidder_imps_skipped_total{exchange=\"a\",reason=\"duplicate_id\"} 2",
            "bidder_imps_skipped_total{exchange=\"a\",reason=\"floor\"} 0",
        ] {
            assert!(text.contains(row), "{row} in\n{text}");
        }
        assert!(!text.contains("path=\"imp[].bidfloor\"} 0"), "{text}");
    }

    #[test]
    fn paths_past_the_cap_are_counted_as_other() {
        let c = FieldCounters::default();
        for i in 0..FIELD_PATHS + 3 {
            c.record(&format!("f{i}"), Action::Dropped);
        }
        c.record("f0", Action::Dropped);
        c.record("we\"ird", Action::Dropped);
        let rows = c.snapshot();
        assert_eq!(rows.len(), FIELD_PATHS + 1);
        let row = |path, dropped| FieldRow {
            path,
            dropped,
            coerced: 0,
        };
        assert_eq!(rows[0], row("f0", 2));
        assert_eq!(rows[FIELD_PATHS], row("other", 4));
        assert_eq!(label("we\"ird"), "we\\\"ird");
    }
}
