//! The HTTP server: the accept loop and connection limits ([`listener`]),
//! kernel receive stamps ([`arrival`]), load shedding ([`admission`]), which
//! handler answers which path ([`routes`]), the body timeout that costs
//! nothing when the body is already there ([`lazy_timeout`]) and the
//! shutdown signal ([`shutdown`]).
//!
//! Owns sockets and HTTP; never decides a bid or touches the store itself.

pub mod admission;
pub mod arrival;
pub mod lazy_timeout;
pub mod listener;
pub mod routes;
pub mod shutdown;

pub use listener::run;
