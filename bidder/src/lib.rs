//! The bidder (module map filled in as modules land).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod error;
pub mod model;
