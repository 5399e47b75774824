//! Spec conformance of a bidder's answers, checked by rules this project
//! writes from the specs: OpenRTB 2.6 (with the 2.5 forms it still
//! accepts), Native 1.2 and VAST 4.x, with the AdCOM 1.0 lists they refer
//! to.
//!
//! It owns the judgement "is this answer to this request what the specs
//! allow?": [`check_answer`] for an HTTP answer to a bid request,
//! [`check_vast`] for a VAST document, [`check_native`] for native markup.
//! Each returns every [`Violation`] it finds, with a path into the answer
//! and the [`Rule`] broken, so a test can list them all.
//!
//! It never does I/O, never calls the bidder, and never shares code with
//! it: it reads plain JSON values and XML text, so the bidder cannot pass
//! by agreeing with itself. It does not validate requests (the bidder's
//! parser does) and does not replace the IAB's schemas; it states the
//! rules a player or an exchange applies.
//!
//! # Layout
//! - `answer`: status, body, response and bids against the request ([`check_answer`], [`Verdict`]).
//! - `request`: what a request allows, read with the spec's defaults.
//! - `native`: Native 1.2 markup against the native request ([`check_native`]).
//! - `vast`: what a player needs of a VAST document ([`check_vast`]).
//! - `violation`: [`Violation`] and the [`Rule`]s.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod answer;
mod native;
mod request;
mod vast;
mod violation;

pub use answer::{Verdict, check_answer};
pub use native::check_native;
pub use vast::check_vast;
pub use violation::{Rule, Violation};
