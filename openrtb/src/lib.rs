//! OpenRTB 2.5/2.6 and Native 1.2 for a bidder: the request model borrowed
//! from the request buffer, parsing with simd-json, normalisation of 2.5
//! spellings, the spec's validation rules, gzip bodies, response writing and
//! notice-URL macros.
//!
//! This crate does no I/O and knows nothing of HTTP servers: it turns bytes
//! into a checked [`BidRequest`] and a [`BidResponse`] into bytes.
//!
//! # Layout
//! - `money`: [`Micros`] and [`Currency`], where wire floats meet integer money.
//! - `request`: the BidRequest model ([`BidRequest`], [`Imp`], ...).
//! - `native`: Native 1.2 request and response.
//! - `response`: the BidResponse model and no-bid reason codes.
//! - `enums`: named values of the spec's open enumerations.
//! - `parse`: bytes to a normalised, validated request, read leniently when
//!   it must be; errors (only for what no answer can do without) with a JSON path.
//! - `repair`: what a request's reading left out or converted, the imps it
//!   cannot serve and why ([`Repairs`]).
//! - `depth`: how deeply a request may nest, and the check refusing deeper bodies.
//! - `normalize`: 2.5 spellings moved into their 2.6 places.
//! - `validate`: what no answer can do without; which imps, or whether any
//!   part of the request, can be served.
//! - `body`: gzip request bodies, decompressed under a size cap.
//! - `write`: BidResponse to JSON into a reusable buffer ([`BidResponse::write_into`]).
//! - `error`: [`Error`], every way a body can be refused, with its JSON path.
//! - `macros`: the `${AUCTION_*}` substitution macros.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod body;
mod borrow;
mod depth;
pub mod enums;
pub mod error;
pub mod macros;
pub mod money;
pub mod native;
pub mod normalize;
pub mod parse;
pub mod repair;
pub mod request;
pub mod response;
mod tape;
pub mod validate;
mod write;

pub use error::Error;
pub use money::{Currency, Micros};
pub use parse::{Parser, parse_request};
pub use repair::{Action, FieldRepair, Repairs, SkipReason, Skipped, Unservable};
pub use request::*;
pub use response::{Bid, BidResponse, SeatBid};
