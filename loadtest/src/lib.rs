//! An exchange simulator for measuring the bidder.
//!
//! - [`replay`]: sends a set of bid requests round-robin over keep-alive
//!   HTTP/1.1 connections for a fixed time and records every latency.
//! - [`report`]: what a run measured: throughput, status counts, latency
//!   percentiles.
//! - [`ceiling`]: the smallest hyper server that reads a body and answers a
//!   fixed ~300-byte bid response; the bidder's throughput is reported as a ratio to it, measured
//!   in the same run on the same machine, because shared machines are too
//!   noisy for absolute figures.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod ceiling;
pub mod replay;
pub mod report;
