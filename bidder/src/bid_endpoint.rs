//! The exchange endpoint, `POST /openrtb2/bid[/{exchange}]`: body limits,
//! gzip, parsing, the `tmax` deadline, the decision and the answer.
//!
//! Must never block, lock or do I/O beyond reading its own request body:
//! per-request buffers are thread-local and reused, the campaigns come from
//! the published snapshot. Answers are `200` with a BidResponse, `204` (or
//! `200` with `nbr`, per exchange) for no bid, `400` naming the bad field,
//! `413` over the size limit, `415` for an encoding other than gzip or a
//! content type that is not JSON, `408` for a body slower than
//! `body_read_timeout`, and `204` at once when the server is too far behind
//! to answer in time ([`crate::admission`]).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use openrtb::body::{Gzipper, gunzip_capped};
use openrtb::{BidResponse, Currency, Parser};

use crate::app::App;
use crate::decision::{BidContext, NoBidReason, Outcome, Scratch, UserView, decide, origin};
use crate::error::{ApiError, Body};
use crate::metrics::ExchangeCounters;
use crate::model::UnixTime;

/// The header exchanges use to say which OpenRTB version they speak; echoed.
const OPENRTB_VERSION: &str = "x-openrtb-version";

/// Buffers reused by every request handled on one worker thread. The
/// synchronous part of a request (parse, decide, write) runs without an
/// `.await`, so the `RefCell` is never borrowed twice.
#[derive(Default)]
struct Buffers {
    inflated: Vec<u8>,
    parser: Parser,
    out: Vec<u8>,
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

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

/// The request's content type when it is one that cannot carry an OpenRTB
/// document. Absent is accepted (many exchanges send none), as are
/// `application/json`, any `+json` type and `text/plain`, which some
/// exchanges use for JSON.
pub(crate) fn non_json_content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?;
    let text = String::from_utf8_lossy(value.as_bytes());
    let essence = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let json = essence == "application/json"
        || essence == "text/plain"
        || essence == "text/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    (!json).then(|| text.into_owned())
}

/// What the request asked of the answer, read from its headers before the
/// body is consumed.
struct Wants {
    version: Option<HeaderValue>,
    gzip: bool,
}

/// Answers one bid request for the exchange at `exchange` in the config.
pub async fn handle(
    app: &Arc<App>,
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
        version: parts.headers.get(OPENRTB_VERSION).cloned(),
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
    let body = match tokio::time::timeout(app.config.body_read_timeout, read).await {
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
    app: &App,
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
    app: &App,
    exchange: usize,
    body: &[u8],
    gzipped: bool,
    accept_gzip: bool,
    arrived: Instant,
    buffers: &mut Buffers,
) -> Response<Body> {
    let counters = app.metrics.exchange(exchange);
    let Buffers {
        inflated,
        parser,
        out,
        compressed,
        decision,
    } = buffers;

    let input: &[u8] = if gzipped {
        match gunzip_capped(body, app.config.max_inflated_body_bytes, inflated) {
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

    let tmax = req
        .tmax
        .filter(|&ms| ms > 0)
        .map(|ms| Duration::from_millis(u64::from(ms)))
        .unwrap_or(app.config.default_tmax);
    let deadline = arrived + tmax.saturating_sub(app.config.network_margin);
    let now = UnixTime::now();
    let origin = origin(&req, &app.exchanges[exchange]);
    let no_bid = |reason: NoBidReason, out: &mut Vec<u8>, compressed: &mut Compressed| {
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
        json(out, compressed, accept_gzip)
    };
    if Instant::now() >= deadline {
        return no_bid(NoBidReason::Deadline, out, compressed);
    }

    let snapshot = app.snapshot.load();
    let user = UserView::resolve(
        &req,
        &app.audience.table.snapshot(),
        &app.audience.hasher,
        app.config.tcf_vendor_id,
        snapshot.uses_audiences,
        now.0.clamp(0, i64::from(u32::MAX)) as u32,
    );
    counters.personalization.record(user.personalization);
    let ctx = BidContext {
        exchange: &app.exchanges[exchange],
        now,
        user: &user,
    };
    match decide(&req, &snapshot, &ctx, decision) {
        // Deciding is far below a millisecond, but a stalled thread must
        // still not turn into a late answer the exchange would discard.
        _ if Instant::now() >= deadline => no_bid(NoBidReason::Deadline, out, compressed),
        Outcome::NoBid(reason) => no_bid(reason, out, compressed),
        Outcome::Bid(decision) => {
            out.clear();
            decision.write_into(out);
            ExchangeCounters::inc(&counters.bids);
            for fact in &decision.facts {
                app.reports.bid(now, origin, *fact);
            }
            json(out, compressed, accept_gzip)
        }
    }
}

/// A `200` JSON answer from `out`, gzipped into `compressed` when asked.
fn json(out: &[u8], compressed: &mut Compressed, gzip_it: bool) -> Response<Body> {
    let mut resp = if gzip_it {
        compressed.bytes.clear();
        compressed.gzipper.gzip(out, &mut compressed.bytes);
        let mut r = Response::new(Full::new(Bytes::copy_from_slice(&compressed.bytes)));
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        Response::new(Full::new(Bytes::copy_from_slice(out)))
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
    fn gzip_is_accepted_when_listed_without_zero_quality() {
        assert!(accepts_gzip(&headers("gzip")));
        assert!(accepts_gzip(&headers("br, gzip;q=0.8")));
        assert!(accepts_gzip(&headers("*")));
        assert!(!accepts_gzip(&headers("gzip;q=0")));
        assert!(!accepts_gzip(&headers("br, deflate")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
