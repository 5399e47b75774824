//! Audiences: who a user is to each advertiser.
//!
//! This crate owns the funnel [`Stage`] and the per-stage bid multipliers
//! campaigns carry ([`StageMultipliers`]), and decides from a request's
//! privacy signals whether it may be personalized at all ([`consent`]),
//! hashes the user identifiers a request carries ([`keys`]) and holds every
//! user's funnel stages in a lock-free snapshot table ([`table`]).
//!
//! # Layout
//! - `stage`: the funnel stages, in order, and per-stage bid multipliers.
//! - [`consent`]: COPPA, limit-ad-tracking, GDPR (IAB TCF v2.2 TC strings,
//!   decoded without allocating) and US Privacy strings.
//! - [`keys`]: user identifiers to keyed-hash [`keys::UserKey`]s.
//! - [`table`]: the sharded, copy-on-write audience table readers never
//!   wait on.
//! - [`upload`]: rows of the CSV and NDJSON files buyers upload.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod consent;
pub mod keys;
mod stage;
pub mod table;
pub mod upload;

pub use stage::{Stage, StageError, StageMultipliers};
