//! The bidder: an OpenRTB 2.5/2.6 exchange endpoint answering from
//! immutable campaign snapshots, with an embedded store and an admin API.
//!
//! # Layout
//! Folders by role, bottom to top; each imports only from those above it
//! in this list.
//! - [`model`]: the media buyer's world as stored (advertisers, campaigns,
//!   creatives, fragments, funnels, events, no-bid reasons, token roles).
//!   Plain data.
//! - [`config`]: defaults, TOML file, flags and environment, checked.
//! - [`store`]: the embedded SQLite store and its migrations (cold path).
//! - [`state`]: shared state behind narrow seams (budgets, frequency
//!   counts, audiences, event log, reports, catalog source, clock), each
//!   with its consistency promise and its embedded implementation.
//! - [`bid`]: the hot path. The compiled [`bid::snapshot`], the pure
//!   [`bid::decision`], the commit step that reserves and signs, and the
//!   exchange [`bid::endpoint`].
//! - [`events`]: the loop closing: notice and tracker endpoints, signed
//!   tokens, and the worker that counts each event once and applies it.
//! - [`control`]: the cold path people use: the typed service layer (roles,
//!   validation, publish after commit), the admin API and the console as
//!   its HTTP adapters, auth, audience uploads, demo data and the upload
//!   client.
//! - [`fleet`]: the state seams over Redis, for many instances sharing
//!   budgets, frequency counts, audiences, events and the catalog; the
//!   control and bid instances' background threads.
//! - [`instance`]: one running bidder wired together: state, snapshot,
//!   workers, chores.
//! - [`server`]: the listener, arrival stamps, admission, routes, shutdown.
//!   Start here: [`run`] serves an [`Instance`] on any listener.
//! - Small pieces, one concept each: [`error`] (every error mapped to HTTP
//!   in one place), [`metrics`], [`live`] (the last minute of those
//!   counters, for the console's live view), [`cold_path`] (background threads give way
//!   to the bid path), [`percent_decoding`], [`vast`] (reading a VAST
//!   document's shape).
#![deny(missing_docs)]
// Two modules need system calls without safe wrappers ([`cold_path`]:
// thread priority; [`server::arrival`]: receive timestamps); each says so
// with its own `allow`. Everything else stays safe.
#![deny(unsafe_code)]

pub mod bid;
pub mod cold_path;
pub mod config;
pub mod control;
pub mod error;
pub mod events;
pub mod fleet;
pub mod instance;
pub mod live;
pub mod metrics;
pub mod model;
pub mod percent_decoding;
pub mod server;
pub mod state;
pub mod store;
pub mod vast;

pub use config::Config;
pub use instance::Instance;
pub use server::run;
