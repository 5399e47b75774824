//! The exchange endpoint, `POST /openrtb2/bid[/{exchange}]`: body limits,
//! gzip, parsing, the `tmax` deadline, the decision and the answer.
//!
//! Must never block, lock or do I/O beyond reading its own request body:
//! per-request buffers are thread-local and reused, the campaigns come from
//! the published snapshot. Answers are `200` with a BidResponse, `204` (or
//! `200` with `nbr`, per exchange) for no bid, `400` naming the field only
//! for a body that is not JSON or lacks what no answer can be built
//! without (`id`, `imp`, an imp's `id`), `413` over the size limit, `415`
//! for an encoding other than gzip or a content type that is not JSON,
//! `408` for a body slower than `body_read_timeout`, and `204` at once when
//! the server is too far behind to answer in time
//! ([`crate::server::admission`]).
//!
//! Any other request it can read gets a bid or a no-bid: the parser leaves
//! out fields of the wrong type and skips imps it cannot serve
//! ([`openrtb::Repairs`], counted in `/metrics` by field path and by
//! reason), and a request nothing of which can be served is a no-bid for
//! [`NoBidReason::InvalidRequest`] (`nbr` 2).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use creative::learning::Draws;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use openrtb::body::{Gunzipper, Gzipper};
use openrtb::{BidResponse, Currency, Parser};

use crate::bid::{BidContext, Outcome, Scratch, UserView, commit, decide, origin};
use crate::error::{ApiError, Body};
use crate::instance::Instance;
use crate::metrics::ExchangeCounters;
use crate::model::NoBidReason;
use crate::server::lazy_timeout;

/// The header exchanges use to say which OpenRTB version they speak; echoed.
/// A constant name, so that reading and writing it hashes no string.
const OPENRTB_VERSION: HeaderName = HeaderName::from_static("x-openrtb-version");

/// Buffers reused by every request handled on one worker thread. The
/// synchronous part of a request (parse, decide, write) runs without an
/// `.await`, so the `RefCell` is never borrowed twice.
#[derive(Default)]
struct Buffers {
    gunzipper: Gunzipper,
    inflated: Vec<u8>,
    parser: Parser,
    out: Vec<u8>,
    answers: Answers,
    compressed: Compressed,
    decision: Scratch,
}

/// The gzip form of an answer, for exchanges that accept it, and the
/// compressor that writes it.
#[derive(Default)]
struct Compressed {
    bytes: Vec<u8>,
    gzipper: Gzipper,
}

/// Where answer bodies live until hyper has written them: one block per
/// worker thread, reused from its start once the answers in it are gone.
///
/// A fresh allocation per answer came from wherever the allocator's free
/// lists pointed, cold in the cache: the kernel's copy of the answer into
/// the socket (`_copy_from_iter` under `writev`) took 3.3 % of the core at
/// saturation, 0.7 % from this block (perf, demo catalog, closed loop).
/// An answer a slow client has not taken yet keeps its block alive, and
/// the next answers go to a new one: at most a block per such connection.
struct Answers(BytesMut);

impl Default for Answers {
    fn default() -> Self {
        Answers(BytesMut::with_capacity(ANSWER_BLOCK))
    }
}

const ANSWER_BLOCK: usize = 16 * 1024;

impl Answers {
    /// `body` as the `Bytes` of an answer. Answers still being written
    /// keep their part of the block; once all are dropped, `reserve` takes
    /// the block back from its start.
    fn copy(&mut self, body: &[u8]) -> Bytes {
        self.0.reserve(body.len());
        self.0.extend_from_slice(body);
        self.0.split().freeze()
    }
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

/// The request's content type when it is one that cannot carry an OpenRTB
/// document. Absent is accepted (many exchanges send none), as are
/// `application/json`, any `+json` type and `text/plain`, which some
/// exchanges use for JSON.
pub(crate) fn non_json_content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.as_bytes();
    let essence = value
        .split(|&b| b == b';')
        .next()
        .unwrap_or(b"")
        .trim_ascii();
    let is = |name: &[u8]| essence.eq_ignore_ascii_case(name);
    let json = is(b"application/json")
        || is(b"text/plain")
        || is(b"text/json")
        || (essence.len() >= b"application/+json".len()
            && essence[..b"application/".len()].eq_ignore_ascii_case(b"application/")
            && essence[essence.len() - b"+json".len()..].eq_ignore_ascii_case(b"+json"));
    (!json).then(|| String::from_utf8_lossy(value).into_owned())
}

/// What the request asked of the answer, read from its headers before the
/// body is consumed.
struct Wants {
    version: Option<HeaderValue>,
    gzip: bool,
}

/// Answers one bid request for the exchange at `exchange` in the config.
pub async fn handle(
    app: &Arc<Instance>,
    exchange: usize,
    req: Request<Incoming>,
    peer: SocketAddr,
    waited: Duration,
) -> Response<Body> {
    // The deadline counts from when the kernel received the request, not
    // from when this handler got to it.
    let now = Instant::now();
    let arrived = now.checked_sub(waited).unwrap_or(now);
    let counters = app.metrics.exchange(exchange);
    ExchangeCounters::inc(&counters.requests);
    let (parts, body) = req.into_parts();
    let wants = Wants {
        version: parts.headers.get(&OPENRTB_VERSION).cloned(),
        gzip: accepts_gzip(&parts.headers),
    };

    if !app.config.exchanges[exchange]
        .allowed_sources
        .allows(peer.ip())
    {
        ExchangeCounters::inc(&counters.forbidden);
        return finish(ApiError::Forbidden.into_response(), &wants);
    }
    let limit = app.config.max_body_bytes;
    if content_length(&parts.headers).is_some_and(|n| n > limit) {
        ExchangeCounters::inc(&counters.too_large);
        return finish(ApiError::PayloadTooLarge { limit }.into_response(), &wants);
    }
    let gzipped = match parts
        .headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.as_bytes())
    {
        None => false,
        Some(v) if v.eq_ignore_ascii_case(b"identity") => false,
        Some(v) if v.eq_ignore_ascii_case(b"gzip") || v.eq_ignore_ascii_case(b"x-gzip") => true,
        Some(v) => {
            let name = String::from_utf8_lossy(v).into_owned();
            return finish(ApiError::UnsupportedMediaType(name).into_response(), &wants);
        }
    };
    if let Some(other) = non_json_content_type(&parts.headers) {
        ExchangeCounters::inc(&counters.invalid);
        return finish(
            ApiError::UnsupportedMediaType(other).into_response(),
            &wants,
        );
    }
    let read = Limited::new(body, limit).collect();
    let body = match lazy_timeout::within(now, app.config.body_read_timeout, read).await {
        Err(_) => {
            ExchangeCounters::inc(&counters.invalid);
            return finish(ApiError::RequestTimeout.into_response(), &wants);
        }
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            ExchangeCounters::inc(&counters.too_large);
            return finish(ApiError::PayloadTooLarge { limit }.into_response(), &wants);
        }
        Ok(Err(_)) => {
            // The client went away or broke framing mid-body: nobody is
            // waiting for a meaningful answer.
            ExchangeCounters::inc(&counters.invalid);
            return finish(bad_request("$", "request body could not be read"), &wants);
        }
    };
    // Shedding comes after the body (the connection stays usable) and
    // before the parse (the part worth saving). The request id is not
    // known yet, so even exchanges configured for `nbr` get a plain 204,
    // which OpenRTB allows every exchange.
    if !app.admission.admit(arrived.elapsed()) {
        counters.no_bid(NoBidReason::Overloaded);
        app.metrics.latency.observe(arrived.elapsed());
        return finish(empty(StatusCode::NO_CONTENT), &wants);
    }

    let resp = respond(app, exchange, &body, gzipped, wants.gzip, arrived);
    app.metrics.latency.observe(arrived.elapsed());
    finish(resp, &wants)
}

/// The synchronous part of the endpoint, for a body already read: inflate,
/// parse, check the deadline, decide, write. Public so that the in-process
/// benchmark measures exactly what a request costs, minus the network.
pub fn respond(
    app: &Instance,
    exchange: usize,
    body: &[u8],
    gzipped: bool,
    accept_gzip: bool,
    arrived: Instant,
) -> Response<Body> {
    BUFFERS.with_borrow_mut(|buffers| {
        answer(app, exchange, body, gzipped, accept_gzip, arrived, buffers)
    })
}

/// The synchronous heart of the endpoint: bytes in, response out.
fn answer(
    app: &Instance,
    exchange: usize,
    body: &[u8],
    gzipped: bool,
    accept_gzip: bool,
    arrived: Instant,
    buffers: &mut Buffers,
) -> Response<Body> {
    let counters = app.metrics.exchange(exchange);
    let Buffers {
        gunzipper,
        inflated,
        parser,
        out,
        answers,
        compressed,
        decision,
    } = buffers;

    let input: &[u8] = if gzipped {
        match gunzipper.gunzip(body, app.config.max_inflated_body_bytes, inflated) {
            Ok(()) => inflated,
            Err(openrtb::Error::TooLarge { limit }) => {
                ExchangeCounters::inc(&counters.too_large);
                return ApiError::PayloadTooLarge { limit }.into_response();
            }
            Err(e) => {
                ExchangeCounters::inc(&counters.invalid);
                return bad_request(e.path(), &e.message());
            }
        }
    } else {
        body
    };

    let mut req = openrtb::BidRequest::default();
    if let Err(e) = parser.parse_into(input, &mut req) {
        ExchangeCounters::inc(&counters.invalid);
        return bad_request(e.path(), &e.message());
    }
    if !req.repairs.is_empty() {
        counters.repairs(&req.repairs);
    }

    let max_imps = app.exchanges[exchange].max_imps;
    if req.imp.len() > max_imps {
        counters
            .imps_over_cap
            .fetch_add((req.imp.len() - max_imps) as u64, Ordering::Relaxed);
    }
    let tmax = req
        .tmax
        .filter(|&ms| ms > 0)
        .map(|ms| Duration::from_millis(u64::from(ms)))
        .unwrap_or(app.config.default_tmax);
    let deadline = arrived + tmax.saturating_sub(app.config.network_margin);
    let now = app.clock.now();
    let origin = origin(&req, &app.exchanges[exchange]);
    let no_bid = |reason: NoBidReason,
                  out: &mut Vec<u8>,
                  answers: &mut Answers,
                  compressed: &mut Compressed| {
        counters.no_bid(reason);
        app.reports.no_bid(now, origin, reason);
        if !app.config.exchanges[exchange].nbr_on_no_bid {
            return empty(StatusCode::NO_CONTENT);
        }
        out.clear();
        BidResponse {
            id: &req.id,
            bidid: None,
            cur: Currency::USD,
            seatbid: &[],
            nbr: Some(reason.nbr_code()),
        }
        .write_into(out);
        json(out, answers, compressed, accept_gzip)
    };
    if req.repairs.unservable.is_some() {
        return no_bid(NoBidReason::InvalidRequest, out, answers, compressed);
    }
    if Instant::now() >= deadline {
        return no_bid(NoBidReason::Deadline, out, answers, compressed);
    }

    // One relaxed load and a branch, but once a second (cold, below).
    app.samples.offer(now, exchange, input);
    let snapshot = app.snapshot.load();
    let user = UserView::resolve(
        &req,
        &app.audience.table().snapshot(),
        app.audience.hasher(),
        app.config.tcf_vendor_id,
        snapshot.uses_audiences,
        now.0.clamp(0, i64::from(u32::MAX)) as u32,
    );
    counters.personalization.record(user.personalization);
    let ctx = BidContext {
        exchange: &app.exchanges[exchange],
        now,
        user: &user,
        frequency: &*app.frequency,
        seed: request_seed(snapshot.settings.creative.seed),
    };
    let outcome = match decide(&req, &snapshot, &ctx, decision) {
        Err(reason) => Outcome::NoBid(reason),
        Ok(_) => commit(&req, &snapshot, &ctx, &app.signer, decision),
    };
    match outcome {
        // Deciding is far below a millisecond, but a stalled thread must
        // still not turn into a late answer the exchange would discard.
        // (The reservations it made expire like those of lost bids.)
        _ if Instant::now() >= deadline => no_bid(NoBidReason::Deadline, out, answers, compressed),
        Outcome::NoBid(reason) => no_bid(reason, out, answers, compressed),
        Outcome::Bid(decision) => {
            out.clear();
            decision.write_into(out);
            ExchangeCounters::inc(&counters.bids);
            for fact in &decision.facts {
                app.reports.bid(now, origin, *fact);
            }
            json(out, answers, compressed, accept_gzip)
        }
    }
}

/// The seed of one request's random draws, from this thread's generator
/// (seeded by `seed` when the configuration fixes one, for tests).
fn request_seed(seed: Option<u64>) -> u64 {
    thread_local! {
        static DRAWS: std::cell::Cell<Option<Draws>> = const { std::cell::Cell::new(None) };
    }
    DRAWS.with(|d| {
        let mut draws = d
            .take()
            .unwrap_or_else(|| Draws::new(seed.unwrap_or_else(creative::learning::random_seed)));
        let s = (u64::from(draws.next_u32()) << 32) | u64::from(draws.next_u32());
        d.set(Some(draws));
        s
    })
}

/// A `200` JSON answer from `out`, gzipped into `compressed` when asked.
fn json(
    out: &[u8],
    answers: &mut Answers,
    compressed: &mut Compressed,
    gzip_it: bool,
) -> Response<Body> {
    let mut resp = if gzip_it {
        compressed.bytes.clear();
        compressed.gzipper.gzip(out, &mut compressed.bytes);
        let mut r = Response::new(Full::new(answers.copy(&compressed.bytes)));
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        Response::new(Full::new(answers.copy(out)))
    };
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = status;
    resp
}

fn bad_request(path: &str, message: &str) -> Response<Body> {
    ApiError::BadRequest {
        path: path.to_string(),
        message: message.to_string(),
    }
    .into_response()
}

/// Adds the headers every answer of this endpoint carries.
fn finish(mut resp: Response<Body>, wants: &Wants) -> Response<Body> {
    let version = wants
        .version
        .clone()
        .unwrap_or_else(|| HeaderValue::from_static("2.6"));
    resp.headers_mut().insert(OPENRTB_VERSION, version);
    resp
}

fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether `Accept-Encoding` lists gzip with a non-zero quality.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(accept).unwrap(),
        );
        h
    }

    #[test]
    fn answer_bodies_reuse_one_block_once_written() {
        let mut answers = Answers::default();
        let first = answers.copy(b"{\"id\":\"1\"}");
        let start = first.as_ptr();
        // While the first is still being written, the next goes beside it.
        let second = answers.copy(b"{\"id\":\"2\"}");
        assert_eq!(&first[..], b"{\"id\":\"1\"}");
        assert_eq!(&second[..], b"{\"id\":\"2\"}");
        assert_ne!(second.as_ptr(), start);
        drop((first, second));
        // Both written: a body too big for the rest of the block takes the
        // block back from its start instead of allocating another.
        let big = vec![b'x'; ANSWER_BLOCK - 8];
        let third = answers.copy(&big);
        assert_eq!(third.as_ptr(), start);
        assert_eq!(&third[..], &big[..]);
        // An answer larger than the block still gets all its bytes.
        drop(third);
        let huge = vec![b'y'; ANSWER_BLOCK * 3];
        assert_eq!(&answers.copy(&huge)[..], &huge[..]);
    }

    #[test]
    fn json_content_types_are_told_from_others_in_any_case() {
        let check = |ct: &[u8]| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_bytes(ct).unwrap());
            non_json_content_type(&h)
        };
        for json in [
            &b"application/json"[..],
            b"Application/JSON; charset=utf-8",
            b" text/plain ",
            b"text/json",
            b"application/vnd.openrtb+json",
            b"APPLICATION/LD+JSON;v=2",
        ] {
            assert_eq!(check(json), None, "{}", String::from_utf8_lossy(json));
        }
        for other in [
            &b"application/x-www-form-urlencoded"[..],
            b"text/csv",
            b"image/json+png",
            b"application/jsonx",
            b"+json",
            b"multipart/form-data; boundary=+json",
        ] {
            assert_eq!(
                check(other).as_deref(),
                Some(String::from_utf8_lossy(other).as_ref()),
                "the unsupported type is named as sent"
            );
        }
        assert_eq!(non_json_content_type(&HeaderMap::new()), None);
    }

    #[test]
    fn gzip_is_accepted_when_listed_without_zero_quality() {
        assert!(accepts_gzip(&headers("gzip")));
        assert!(accepts_gzip(&headers("br, gzip;q=0.8")));
        assert!(accepts_gzip(&headers("*")));
        assert!(!accepts_gzip(&headers("gzip;q=0")));
        assert!(!accepts_gzip(&headers("br, deflate")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
