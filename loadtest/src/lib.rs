//! An exchange simulator for measuring the bidder.
//!
//! - [`traffic`]: a seeded generator of OpenRTB 2.6 requests shaped like an
//!   exchange's mix (formats, sizes, countries, devices, consent, users
//!   who come back), with TC strings from `audiences::consent::tc_writer`.
//! - `plan`: what a run is asked to do: the bodies, the endpoint, the
//!   pacing ([`send::Mode`]), connections and bounds; re-exported by
//!   [`send`], which runs it.
//! - [`send`]: sends bid requests round-robin over keep-alive HTTP/1.1
//!   connections, closed or open loop, bounded in time and count, and
//!   records every latency.
//! - [`notices`]: closes the loop like an exchange: win, billing, loss,
//!   impression and click notices for a share of the bids.
//! - [`seed`]: loads a catalog of campaigns and an audience of users into
//!   a bidder through its admin API, from the generator's vocabulary.
//! - [`writes`]: campaign writes at a steady rate through the admin API,
//!   to see what the cold path's publishes cost the bid path.
//! - `api`: the admin API client the seeder and the writes share.
//! - [`report`]: what a run measured: throughput, status counts, latency
//!   percentiles.
//! - [`ceiling`]: the smallest hyper server that reads a body and answers a
//!   fixed ~300-byte bid response; the bidder's throughput is reported as a
//!   ratio to it, measured in the same run on the same machine, because
//!   shared machines are too noisy for absolute figures. With
//!   [`ceiling::Work::Parse`] it also parses each request with the
//!   bidder's parser: the floor of any bidder on this stack and parser.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod api;
pub mod ceiling;
pub mod notices;
mod plan;
pub mod report;
pub mod seed;
pub mod send;
pub mod traffic;
pub mod writes;
