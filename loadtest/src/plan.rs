//! What a run is asked to do ([`Plan`]): the request bodies as they go on
//! the wire ([`Payload`]), where they go, how they are paced ([`Mode`]),
//! over how many connections, for how long, and whether notices follow.
//!
//! Description only: never opens a connection, never sends, never
//! measures. [`crate::send`] runs a plan; [`crate::report`] holds what it
//! measured.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Uri;

use crate::notices::Closing;

/// One request body as it goes on the wire.
#[derive(Clone)]
pub struct Payload {
    /// The bytes sent.
    pub body: Bytes,
    /// Whether `body` is gzip (sent with `Content-Encoding: gzip`).
    pub gzip: bool,
    /// The request's `tmax`, for counting late answers.
    pub tmax: Option<Duration>,
}

impl Payload {
    /// A payload; when `gzip`, `json` is compressed first. `tmax` is read
    /// from the JSON.
    pub fn new(json: &[u8], gzip: bool) -> Payload {
        let tmax = tmax_of(json);
        let body = if gzip {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            // Writing to a Vec cannot fail.
            let _ = enc.write_all(json);
            Bytes::from(enc.finish().unwrap_or_default())
        } else {
            Bytes::copy_from_slice(json)
        };
        Payload { body, gzip, tmax }
    }
}

/// `tmax` of a bid request, if it has one.
fn tmax_of(json: &[u8]) -> Option<Duration> {
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    v.get("tmax")?.as_u64().map(Duration::from_millis)
}

/// How requests are paced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// Next request as soon as the previous answer arrived.
    Closed,
    /// A fixed rate, requests per second over all connections.
    Open {
        /// Requests per second.
        rate: u64,
    },
}

/// What to send, where, how hard and how long.
pub struct Plan {
    /// The endpoint, e.g. `http://127.0.0.1:8080/openrtb2/bid`.
    pub url: Uri,
    /// Bodies, sent round-robin.
    pub payloads: Arc<Vec<Payload>>,
    /// Concurrent connections.
    pub connections: usize,
    /// How long to send.
    pub duration: Duration,
    /// Pacing.
    pub mode: Mode,
    /// Stop after this many requests (else only the duration bounds it).
    pub max_requests: Option<u64>,
    /// Follow up bids with notices, and how.
    pub closing: Option<Closing>,
    /// Seed of the follow-up choices (which bids win, which get clicked).
    pub seed: u64,
    /// Print a progress line to stderr every second.
    pub progress: bool,
    /// Open loop only: act like an exchange whose auction closes. A
    /// request still waiting for a free connection half its `tmax` after
    /// it was due is not sent (counted as given up), instead of being sent
    /// late; the queue then stays at the exchange's side instead of in
    /// every later latency.
    pub give_up: bool,
    /// Keep the generator's thread busy for the whole run: it polls its
    /// sockets instead of sleeping until an answer arrives. On one machine
    /// a sleeping generator makes the *server's* core pay to wake it on
    /// every answer (the loopback send runs the receiver's wake-up, an
    /// inter-processor interrupt, a VM exit on a virtual machine), and
    /// the slower server, leaving the generator idle more often, pays it
    /// more often. An exchange on another machine costs a bidder nothing
    /// of the kind. For comparing servers (`compare.sh`); the
    /// generator's own core is spent polling.
    pub busy_poll: bool,
}
