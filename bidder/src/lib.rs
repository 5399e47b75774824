//! The bidder: an OpenRTB 2.5/2.6 exchange endpoint answering from
//! immutable campaign snapshots, with an embedded store and an admin API.
//!
//! # Layout
//! - [`server`]: the accept loop, HTTP/1.1 + h2c, graceful shutdown. Start
//!   here: [`run`] serves an [`App`] on any listener.
//! - [`routes`]: which handler answers which path.
//! - [`bid_endpoint`]: `POST /openrtb2/bid`: limits, gzip, parse, deadline,
//!   decide, answer. The hot path.
//! - [`admission`]: load shedding by how long a request waited;
//!   [`arrival`] reads when the kernel received it.
//! - [`decision`]: campaign snapshots, the targeting index, filters, pricing.
//! - [`app`]: the shared state: config, published snapshot, admin, counters.
//! - [`config`]: defaults, TOML file, flags and environment, checked.
//! - [`store`]: the embedded SQLite store and its migrations (cold path).
//! - [`audience`]: the audience table kept equal to the store; uploads.
//! - [`admin`]: the `/api/v1/` JSON API over the store; [`auth`] its tokens.
//! - [`events`]: the notice endpoints and the trackers of assembled
//!   creatives; signed tokens; the worker that counts events once.
//! - [`budget`]: per-campaign spend, reservations of bids in flight, pacing.
//! - [`frequency`]: per-user impression counts for frequency caps;
//!   [`calendar`] where their windows begin in a campaign's time zone.
//! - [`reports`]: per-minute aggregates of bids and no-bids; the report API.
//! - [`demo`]: demo advertisers and campaigns for `--demo`.
//! - [`upload_client`]: `bidder audiences upload`, the terminal client.
//! - [`vast`]: the shape of a VAST upload, read from a parsed document.
//! - [`model`]: advertisers, campaigns, creatives as stored.
//! - [`metrics`], [`allowlist`], [`shutdown`], [`error`], [`maintenance`],
//!   [`background`]: small pieces, one concept each.
#![deny(missing_docs)]
// Two modules need system calls without safe wrappers ([`background`]:
// thread priority; [`arrival`]: receive timestamps); each says so with its
// own `allow`. Everything else stays safe.
#![deny(unsafe_code)]

pub mod admin;
pub mod admission;
pub mod allowlist;
pub mod app;
pub mod arrival;
pub mod audience;
pub mod auth;
pub mod background;
pub mod bid_endpoint;
pub mod budget;
pub mod calendar;
pub mod config;
pub mod decision;
pub mod demo;
pub mod error;
pub mod events;
pub mod frequency;
pub mod lazy_timeout;
pub mod maintenance;
pub mod metrics;
pub mod model;
pub mod percent;
pub mod reports;
pub mod routes;
pub mod server;
pub mod shutdown;
pub mod store;
pub mod upload_client;
pub mod vast;

pub use app::App;
pub use config::Config;
pub use server::run;
