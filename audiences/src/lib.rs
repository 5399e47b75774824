//! Audiences: who a user is to each advertiser.
//!
//! This crate owns the funnel [`Stage`] and the per-stage bid multipliers
//! campaigns carry ([`StageMultipliers`]), and decides from a request's
//! privacy signals whether it may be personalized at all ([`consent`]).
//! User keys and snapshot tables land here next.
//!
//! # Layout
//! - `stage`: the funnel stages, in order, and per-stage bid multipliers.
//! - [`consent`]: COPPA, limit-ad-tracking, GDPR (IAB TCF v2.2 TC strings,
//!   decoded without allocating) and US Privacy strings.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod consent;
mod stage;

pub use stage::{Stage, StageError, StageMultipliers};
