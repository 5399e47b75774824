//! The event endpoints: notices from exchanges (`/events/win`, `/bill`,
//! `/loss`) and the trackers the bid path puts in creatives (`/events/imp`,
//! a 1x1 GIF, in all of them; `/events/click`, a 302 to the landing page,
//! in assembled creatives, fixed native ads and fixed HTML that asks for it
//! with `${CLICK_URL}`; `/events/clicktrack`, the same count answered with
//! the pixel, in VAST's `<ClickTracking>`).
//!
//! Every call must carry the token its URL was handed out with ([`token`]);
//! a forged, altered or malformed token gets `403` and is counted, an
//! expired one too (a click with an expired token still lands: a person
//! clicked, but nothing is counted). Every accepted event is recorded in
//! the event log ([`writer`]: the store, or in a fleet Redis or the
//! instance's spool) before it is answered, so an acknowledged one is
//! never lost; counting (exactly once per bid and kind) happens there.
//! A notice that could not be recorded gets an error, for the exchange
//! to send again; a click still lands (a person clicked) but is counted
//! as a store error. What a counted impression or click changes next
//! (caps, funnels, learning) follows on the cold path
//! ([`worker::EventSink`]).
//!
//! The landing page of a click is looked up in the live snapshot by
//! campaign and `crid`, never read from the URL, so the endpoint cannot be
//! used as an open redirect.

pub mod apply;
pub mod price;
pub mod token;
pub mod worker;
pub mod writer;

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use openrtb::Micros;

use crate::error::{ApiError, Body};
use crate::instance::Instance;
use crate::metrics::{EventCounters, Refusal};
use crate::model::{EventKind, EventRecord, UnixTime};
use crate::state::budget::impression_cost;
use price::Clearing;
use token::{Claims, TokenError, auction_hash};

/// The query parameters an event call carries that matter.
#[derive(Default)]
struct Params<'q> {
    token: Option<&'q str>,
    price: Option<&'q str>,
    auction: Option<&'q str>,
    imp: Option<&'q str>,
    cid: Option<&'q str>,
    crid: Option<&'q str>,
}

impl<'q> Params<'q> {
    fn of(query: Option<&'q str>) -> Params<'q> {
        let mut p = Params::default();
        for pair in query.unwrap_or("").split('&') {
            let Some((k, v)) = pair.split_once('=') else {
                continue;
            };
            match k {
                "t" => p.token = Some(v),
                "price" => p.price = Some(v),
                "auction" => p.auction = Some(v),
                "imp" => p.imp = Some(v),
                "cid" => p.cid = Some(v),
                "crid" => p.crid = Some(v),
                _ => {}
            }
        }
        p
    }
}

impl Params<'_> {
    /// Whether the exchange filled in the auction and imp ids.
    fn names_its_auction(&self) -> bool {
        let filled = |v: Option<&str>| v.is_some_and(|v| !v.is_empty() && !unsubstituted(v));
        filled(self.auction) && filled(self.imp)
    }
}

/// A macro the exchange left as it was (it substitutes only some).
fn unsubstituted(v: &str) -> bool {
    v.starts_with("${") || v.starts_with("%24%7B") || v.starts_with("%24%7b")
}

/// The token's claims, checked against the auction the exchange names.
fn verified(app: &Instance, p: &Params<'_>, now: UnixTime) -> Result<Claims, Refusal> {
    let text = p.token.ok_or(Refusal::Malformed)?;
    let claims = app
        .signer
        .verify(text, now.0.clamp(0, i64::from(u32::MAX)) as u32)
        .map_err(|e| match e {
            TokenError::Malformed => Refusal::Malformed,
            TokenError::Forged => Refusal::Forged,
            TokenError::Expired => Refusal::Expired,
        })?;
    // Checked where the exchange filled the macros (trackers carry none).
    // Where it did not, the token alone ties the notice to its auction:
    // it names one bid, which counts once per kind, at most at its own
    // price.
    if let (Some(a), Some(i)) = (p.auction, p.imp)
        && p.names_its_auction()
    {
        let (a, i) = (
            crate::percent_decoding::decode(a).ok_or(Refusal::Malformed)?,
            crate::percent_decoding::decode(i).ok_or(Refusal::Malformed)?,
        );
        if auction_hash(&a, &i) != claims.auction {
            return Err(Refusal::Forged);
        }
    }
    Ok(claims)
}

/// The event log's record of an accepted call.
fn record(
    app: &Instance,
    kind: EventKind,
    claims: &Claims,
    price: Clearing,
    now: UnixTime,
) -> EventRecord {
    let exchange = app.exchanges.get(usize::from(claims.exchange));
    // Spend is booked once per impression: on the billing notice where
    // the exchange sends one, else on the win.
    let books = match exchange {
        Some(e) if e.sends_burl => kind == EventKind::Bill,
        _ => kind == EventKind::Win,
    };
    let effects = &app.effects;
    let own = effects.currency(claims.campaign).unwrap_or(claims.currency);
    let fx = &app.snapshot.load().settings.fx;
    // What the auction said, never above the bid (price::booked_cpm);
    // without a reported price the bid price: never below what the
    // exchange can charge (first price), so errors fall on underspending;
    // converted and rounded up for the same reason.
    let cost = if books {
        let (cpm, over_bid) = price::booked_cpm(price, claims.price);
        if over_bid {
            app.metrics
                .events
                .over_bid
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        impression_cost(fx.convert_up(cpm, claims.currency, own).unwrap_or(cpm))
    } else {
        Micros(0)
    };
    let price = match price {
        Clearing::Price(p) => Some(p),
        Clearing::Unknown => None,
    };
    let country = if claims.country == [0; 3] {
        String::new()
    } else {
        String::from_utf8_lossy(&claims.country).into_owned()
    };
    let issued = UnixTime(i64::from(claims.issued));
    let (reserved, held_until) = match claims.reserved {
        Some(r) => (r.amount, UnixTime(issued.0 + i64::from(r.hold_secs))),
        // A token from before version 3: its bid reserved the full price
        // for its exchange's window.
        None => (
            effects.reserved(claims.campaign, claims.price, claims.currency),
            UnixTime(issued.0 + i64::from(exchange.map_or(0, |e| e.notice_window_secs))),
        ),
    };
    // In a fleet a notice may reach another instance than the one that
    // bid (the bid id's first part names it): the reservation is that
    // instance's, and the settle is forwarded to it.
    let held_here = app.fleet.is_none() || claims.bid.0 == crate::bid::process_id();
    EventRecord {
        bid: format!("{:x}-{:x}", claims.bid.0, claims.bid.1),
        kind,
        campaign: claims.campaign,
        exchange: exchange.map_or_else(|| claims.exchange.to_string(), |e| e.name.clone()),
        stage: claims.stage,
        combo: claims.combo,
        user_key: claims.user.map(|k| k.0),
        bid_price: claims.price,
        price,
        cost,
        reserved,
        held_until,
        held_here,
        issued,
        at: now,
        settles: books || kind == EventKind::Loss,
        country,
        device_type: claims.device_type,
    }
}

fn refused(counters: &EventCounters, why: Refusal) -> Response<Body> {
    counters.refuse(why);
    match why {
        Refusal::BadPrice => ApiError::BadRequest {
            path: "price".into(),
            message: "not a decimal CPM nor a known encrypted price".into(),
        }
        .into_response(),
        _ => ApiError::Forbidden.into_response(),
    }
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Records `event` in the event log (with whatever else waits, see
/// [`writer`]) and returns once it is durable; then books what it settles
/// and hands a first count of an impression or click to the cold path.
async fn write(app: &Instance, event: EventRecord) -> Result<(), crate::state::StateError> {
    let counters = &app.metrics.events;
    let kind = event.kind;
    let (r, event) = match app.writer.write(event).await {
        Ok(written) => written,
        Err(e) => {
            counters
                .store_errors
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(e);
        }
    };
    app.effects.settle(&event, r);
    if r.conflict {
        counters
            .conflicts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    } else if r.fresh {
        EventCounters::inc(&counters.counted, kind);
        if matches!(kind, EventKind::Impression | EventKind::Click) {
            app.events.send(event);
        }
    } else {
        EventCounters::inc(&counters.replays, kind);
    }
    Ok(())
}

/// `GET /events/{win,bill,loss,imp}`.
pub async fn notice(app: &Arc<Instance>, kind: EventKind, query: Option<&str>) -> Response<Body> {
    let counters = &app.metrics.events;
    let now = app.clock.now();
    let p = Params::of(query);
    let claims = match verified(app, &p, now) {
        Ok(c) => c,
        Err(why) => return refused(counters, why),
    };
    let price = match price::clearing(p.price, &[]) {
        Ok(c) => c,
        Err(_) => return refused(counters, Refusal::BadPrice),
    };
    EventCounters::inc(&counters.accepted, kind);
    let outcome = matches!(kind, EventKind::Win | EventKind::Bill | EventKind::Loss);
    if outcome && !p.names_its_auction() {
        counters
            .unverified_auction
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let event = record(app, kind, &claims, price, now);
    if let Err(e) = write(app, event).await {
        return ApiError::from(e).into_response();
    }
    match kind {
        EventKind::Impression => impression(),
        _ => empty(StatusCode::OK),
    }
}

/// The smallest transparent GIF (1x1).
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// `GET /events/imp`: the pixel, never cached.
pub fn impression() -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from_static(PIXEL)));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/gif"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// What a click call proves: the claims to count, or none where a person
/// clicked an ad whose token has expired (counted as refused here); else
/// why the call is refused.
fn click_claims(app: &Instance, p: &Params<'_>, now: UnixTime) -> Result<Option<Claims>, Refusal> {
    let counted = match verified(app, p, now) {
        Ok(claims) => Some(claims),
        Err(Refusal::Expired) => {
            app.metrics.events.refuse(Refusal::Expired);
            None
        }
        Err(why) => return Err(why),
    };
    // The token names the campaign: a valid one moved to another
    // campaign's creative would land the person on the wrong page.
    if let Some(claims) = &counted
        && p.cid.and_then(|c| c.parse::<i64>().ok()) != Some(claims.campaign.0)
    {
        return Err(Refusal::Forged);
    }
    Ok(counted)
}

/// Records a click; an error when it could not be.
async fn count_click(
    app: &Instance,
    claims: &Claims,
    now: UnixTime,
) -> Result<(), crate::state::StateError> {
    EventCounters::inc(&app.metrics.events.accepted, EventKind::Click);
    let event = record(app, EventKind::Click, claims, Clearing::Unknown, now);
    write(app, event).await
}

/// `GET /events/clicktrack?cid=..&crid=..&t=..`: the pixel, never a
/// redirect; counted like `/events/click` when the token is valid. For
/// VAST's `<ClickTracking>`, which the player pings beside opening the
/// ad's own click-through: a redirect there would load the landing page
/// as an image.
pub async fn click_track(app: &Instance, query: Option<&str>) -> Response<Body> {
    let now = app.clock.now();
    let p = Params::of(query);
    match click_claims(app, &p, now) {
        Ok(counted) => {
            if let Some(claims) = counted
                && let Err(e) = count_click(app, &claims, now).await
            {
                return ApiError::from(e).into_response();
            }
            impression()
        }
        Err(why) => refused(&app.metrics.events, why),
    }
}

/// `GET /events/click?cid=..&crid=..&t=..`: 302 to the landing page of
/// that creative (404 when the snapshot has none); counted when the token
/// is valid, before it answers. A click that could not be recorded still
/// lands (a person clicked; the count is the store error's).
pub async fn click(app: &Instance, query: Option<&str>) -> Response<Body> {
    let now = app.clock.now();
    let p = Params::of(query);
    let counted = match click_claims(app, &p, now) {
        Ok(counted) => counted,
        Err(why) => return refused(&app.metrics.events, why),
    };
    let (Some(cid), Some(crid)) = (p.cid, p.crid) else {
        return ApiError::NotFound.into_response();
    };
    let cid = cid.parse::<i64>().ok().map(crate::model::CampaignId);
    let snap = app.snapshot.load();
    let campaign = cid.and_then(|id| snap.by_id.get(&id));
    let landing = campaign.and_then(|c| {
        let assembled = c.plan.as_deref().and_then(|p| {
            p.items()
                .iter()
                .find(|i| &*i.crid == crid)
                .map(|i| i.landing_url.to_string())
        });
        let native = || {
            c.natives
                .iter()
                .find(|n| n.crid == crid)
                .map(|n| n.assets.landing_url.clone())
        };
        let banner = || {
            c.banners
                .iter()
                .find(|b| b.crid == crid)
                .and_then(|b| b.landing_url.clone())
        };
        assembled.or_else(native).or_else(banner)
    });
    // A counted click hands the advertiser its click id (`bclid`, the bid
    // id), which a conversion postback can name.
    let landing = landing.map(|l| match &counted {
        Some(c) => {
            let sep = if l.contains('?') { '&' } else { '?' };
            format!("{l}{sep}bclid={:x}-{:x}", c.bid.0, c.bid.1)
        }
        None => l,
    });
    let Some(Ok(location)) = landing.map(|l| HeaderValue::from_str(&l)) else {
        return ApiError::NotFound.into_response();
    };
    if let Some(claims) = counted {
        // Counted in `bidder_events_store_errors_total` when it fails.
        let _ = count_click(app, &claims, now).await;
    }
    let mut resp = empty(StatusCode::FOUND);
    resp.headers_mut().insert(header::LOCATION, location);
    resp
}
