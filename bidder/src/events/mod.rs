//! The tracker endpoints assembled creatives point at: `GET /events/click`
//! redirects to the landing page, `GET /events/imp` answers a 1x1 GIF.
//!
//! The landing page is looked up in the live snapshot by campaign and
//! `crid`, never read from the URL, so the endpoint cannot be used as an
//! open redirect. Counting these events (signed tokens, deduplication,
//! learning and funnel moves) belongs to the event loop; this module only
//! answers. Never blocks: reads the snapshot and nothing else.

pub mod token;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

use crate::app::App;
use crate::error::{ApiError, Body};

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

/// `GET /events/click?cid=..&crid=..`: 302 to the landing page of that
/// creative; 404 when the snapshot has no such creative.
pub fn click(app: &App, query: Option<&str>) -> Response<Body> {
    let (mut cid, mut crid) = (None, None);
    for pair in query.unwrap_or("").split('&') {
        match pair.split_once('=') {
            Some(("cid", v)) => cid = Some(v),
            Some(("crid", v)) => crid = Some(v),
            _ => {}
        }
    }
    let (Some(cid), Some(crid)) = (cid, crid) else {
        return ApiError::NotFound.into_response();
    };
    let snap = app.snapshot.load();
    let landing = snap.campaigns.iter().find(|c| c.cid == cid).and_then(|c| {
        let assembled = c.plan.as_deref().and_then(|p| {
            p.items()
                .iter()
                .find(|i| &*i.crid == crid)
                .map(|i| i.landing_url.to_string())
        });
        assembled.or_else(|| {
            c.natives
                .iter()
                .find(|n| n.crid == crid)
                .map(|n| n.assets.landing_url.clone())
        })
    });
    let Some(Ok(location)) = landing.map(|l| HeaderValue::from_str(&l)) else {
        return ApiError::NotFound.into_response();
    };
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::FOUND;
    resp.headers_mut().insert(header::LOCATION, location);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
