//! Shared state behind narrow seams: what the bid path reads and the event
//! and admin paths change. One trait per kind of state, each documented
//! with its consistency promise (what may be stale, by how much, what is
//! never lost); today's atomics, copy-on-write tables and SQLite are the
//! embedded implementations, and each seam has a small in-memory double
//! its tests use.
//!
//! | seam | hot path (synchronous, in memory) | cold path |
//! |---|---|---|
//! | [`budget::Budgets`] | `check`, `try_reserve` | settle, release, tick |
//! | [`frequency::FrequencyCounts`] | `seen` / `allows` | `record` |
//! | [`audience::Audiences`] | `table().snapshot()` lookups | member writes, moves, sweeps |
//! | [`event_log::EventLog`] | | `record` a batch, once per bid and kind |
//! | [`reports::ReportSink`] | `bid`, `no_bid` (never block) | `flush` |
//! | [`catalog::CatalogSource`] | | `load`, `changed` → subscribers |
//! | [`clock::Clock`] | `now` | `now` |
//!
//! ```text
//!            bid path                         event / admin path
//!   decide ──reads──▶ Account::check     settle/release ──▶ Account
//!   commit ─────────▶ Account::try_reserve
//!   decide ──reads──▶ FrequencyCounts    record ──────────▶ FrequencyCounts
//!   resolve ─reads──▶ Audiences::table   put/advance ─────▶ Audiences ─▶ store
//!   answer ─────────▶ ReportSink         record ──────────▶ EventLog ──▶ store
//!   snapshot ◀── CatalogSource::changed ◀── admin commit ─▶ store
//! ```
//!
//! Hot-path methods stay synchronous and in memory, so an implementation
//! over a network (Redis, for a fleet) answers them from local state it
//! refreshes in the background.

pub mod audience;
pub mod budget;
pub mod calendar;
pub mod catalog;
pub mod clock;
pub mod event_log;
pub mod frequency;
pub mod reports;

use crate::store::StoreError;

/// Why shared state could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The embedded store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The backing service cannot be reached now; nothing was changed.
    #[error("unavailable: {0}")]
    Unavailable(String),
}
