//! The bidder (module map filled in as modules land).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod admin;
pub mod auth;
pub mod demo;
pub mod error;
pub mod model;
pub mod store;
