//! Audiences: who a user is to each advertiser.
//!
//! For now this crate owns the funnel [`Stage`] and the per-stage bid
//! multipliers campaigns carry ([`StageMultipliers`]); user keys, snapshot
//! tables and consent land here next.
//!
//! # Layout
//! - `stage`: the funnel stages, in order, and per-stage bid multipliers.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod stage;

pub use stage::{Stage, StageError, StageMultipliers};
