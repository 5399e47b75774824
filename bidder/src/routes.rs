//! Request routing: which handler answers which method and path.
//!
//! The exchange endpoint stays on the async worker (it never blocks); the
//! admin API, which writes SQLite, runs on the blocking pool so a slow disk
//! never stalls a bid.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};

use crate::app::App;
use crate::bid_endpoint;
use crate::error::{ApiError, Body};

/// Answers one request.
pub async fn handle(app: &Arc<App>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let path = req.uri().path();
    let method = req.method().clone();
    if path == "/openrtb2/bid" || path.starts_with("/openrtb2/bid/") {
        if method != Method::POST {
            return ApiError::MethodNotAllowed.into_response();
        }
        let exchange = match path.strip_prefix("/openrtb2/bid/") {
            None => Some(app.config.default_exchange),
            Some(name) => app.exchange_index(name),
        };
        return match exchange {
            Some(index) => bid_endpoint::handle(app, index, req, peer).await,
            None => ApiError::NotFound.into_response(),
        };
    }
    match (method, path) {
        (Method::GET, "/healthz") => text(StatusCode::OK, "ok\n"),
        (Method::GET, "/readyz") if app.is_ready() => text(StatusCode::OK, "ready\n"),
        (Method::GET, "/readyz") => text(StatusCode::SERVICE_UNAVAILABLE, "draining\n"),
        (Method::GET, "/metrics") => {
            let body = app.metrics.render(app.snapshot.load().campaign_count());
            let mut resp = Response::new(Full::new(Bytes::from(body)));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            resp
        }
        (_, p) if p == "/api/v1" || p.starts_with("/api/v1/") => admin(app, req).await,
        (_, "/healthz" | "/readyz" | "/metrics") => ApiError::MethodNotAllowed.into_response(),
        _ => ApiError::NotFound.into_response(),
    }
}

/// Reads the body under the admin size limit and hands the request to the
/// admin API on the blocking pool.
async fn admin(app: &Arc<App>, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, app.config.max_admin_body_bytes)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return ApiError::PayloadTooLarge {
                limit: app.config.max_admin_body_bytes,
            }
            .into_response();
        }
        Err(_) => {
            return ApiError::BadRequest {
                path: "$".into(),
                message: "request body could not be read".into(),
            }
            .into_response();
        }
    };
    let app = Arc::clone(app);
    let answer = tokio::task::spawn_blocking(move || {
        app.admin.handle(
            &parts.method,
            parts.uri.path(),
            parts.uri.query(),
            &parts.headers,
            &body,
        )
    })
    .await;
    match answer {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => e.into_response(),
        Err(join) => ApiError::Internal(format!("admin handler panicked: {join}")).into_response(),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
