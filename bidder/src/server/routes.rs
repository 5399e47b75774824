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

use crate::bid::endpoint;
use crate::control::console::{self, ConsoleRequest};
use crate::error::{ApiError, Body};
use crate::instance::Instance;

/// Answers one request that `waited` this long since the kernel received it.
pub async fn handle(
    app: &Arc<Instance>,
    req: Request<Incoming>,
    peer: SocketAddr,
    waited: std::time::Duration,
) -> Response<Body> {
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
            Some(index) => endpoint::handle(app, index, req, peer, waited).await,
            None => ApiError::NotFound.into_response(),
        };
    }
    match (method, path) {
        (Method::GET, "/healthz") => text(StatusCode::OK, "ok\n"),
        (Method::GET, p) if p.starts_with(crate::control::demo_assets::PREFIX) => {
            crate::control::demo_assets::response(p)
        }
        (Method::GET, "/events/click") => crate::events::click(app, req.uri().query()).await,
        (Method::GET, "/events/clicktrack") => {
            crate::events::click_track(app, req.uri().query()).await
        }
        (Method::GET, p) if p.starts_with("/events/") => {
            match crate::model::EventKind::parse(&p["/events/".len()..]) {
                Some(kind) => crate::events::notice(app, kind, req.uri().query()).await,
                None => ApiError::NotFound.into_response(),
            }
        }
        (Method::GET, "/readyz") if app.is_ready() => text(StatusCode::OK, "ready\n"),
        (Method::GET, "/readyz") if app.is_draining() => {
            text(StatusCode::SERVICE_UNAVAILABLE, "draining\n")
        }
        (Method::GET, "/readyz") => text(StatusCode::SERVICE_UNAVAILABLE, "no catalog yet\n"),
        (Method::GET, "/metrics") => {
            let body = app.metrics.render(&app.metrics_state());
            let mut resp = Response::new(Full::new(Bytes::from(body)));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            resp
        }
        (_, p) if app.is_bid_only() && (p == "/api/v1" || p.starts_with("/api/v1/")) => {
            control_elsewhere(app)
        }
        (m, p) if p == "/api/v1" || p.starts_with("/api/v1/") => {
            let started = std::time::Instant::now();
            let path = p.to_owned();
            let resp = match crate::control::admin::Admin::upload_route(p) {
                Some(funnel) if m == Method::POST => upload(app, req, funnel).await,
                _ => admin(app, req).await,
            };
            access_log(&m, &path, resp.status(), started.elapsed());
            resp
        }
        (m, p) if p == console::PREFIX || p.starts_with("/console/") => {
            let started = std::time::Instant::now();
            let path = p.to_owned();
            let resp = console(app, req, peer).await;
            access_log(&m, &path, resp.status(), started.elapsed());
            resp
        }
        (_, "/healthz" | "/readyz" | "/metrics") => ApiError::MethodNotAllowed.into_response(),
        _ => ApiError::NotFound.into_response(),
    }
}

/// One line per admin API request: writes at `info` (an audit trail of
/// who-changed-what pairs with the store's versions), reads at `debug`.
/// Only method, path and status: the query may carry cursors and the
/// headers carry bearer tokens, which never reach a log.
fn access_log(method: &Method, path: &str, status: StatusCode, took: std::time::Duration) {
    let micros = took.as_micros() as u64;
    if method == Method::GET || method == Method::HEAD {
        tracing::debug!(target: "bidder::access", %method, path, status = status.as_u16(), micros, "admin request");
    } else {
        tracing::info!(target: "bidder::access", %method, path, status = status.as_u16(), micros, "admin request");
    }
}

/// Reads the body under the admin size limit and hands the request to the
/// admin API on the blocking pool.
async fn admin(app: &Arc<Instance>, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    if let Some(other) = endpoint::non_json_content_type(&parts.headers) {
        return ApiError::UnsupportedMediaType(other).into_response();
    }
    let read = Limited::new(body, app.config.max_admin_body_bytes).collect();
    let body = match tokio::time::timeout(app.config.body_read_timeout, read).await {
        Err(_) => return ApiError::RequestTimeout.into_response(),
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return ApiError::PayloadTooLarge {
                limit: app.config.max_admin_body_bytes,
            }
            .into_response();
        }
        Ok(Err(_)) => {
            return ApiError::BadRequest {
                path: "$".into(),
                message: "request body could not be read".into(),
            }
            .into_response();
        }
    };
    let app = Arc::clone(app);
    let answer = crate::cold_path::spawn_blocking(move || {
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

/// Reads a console form under its size limit and hands the request to the
/// console on the blocking pool. Only form bodies are taken.
async fn console(app: &Arc<Instance>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let (parts, body) = req.into_parts();
    // Audience uploads are the one file form; every other form is small.
    let file_form = console::is_upload_path(parts.uri.path());
    let limit = if file_form {
        console::MAX_UPLOAD_BYTES
    } else {
        MAX_CONSOLE_FORM_BYTES
    };
    if parts.method == Method::POST {
        let (expected, name) = if file_form {
            ("multipart/form-data", "a file form (multipart/form-data)")
        } else {
            (
                "application/x-www-form-urlencoded",
                "a form (application/x-www-form-urlencoded)",
            )
        };
        let form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(expected));
        if !form {
            return ApiError::UnsupportedMediaType(name.into()).into_response();
        }
    }
    let read = Limited::new(body, limit).collect();
    let body = match tokio::time::timeout(app.config.body_read_timeout, read).await {
        Err(_) => return ApiError::RequestTimeout.into_response(),
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(_)) => return ApiError::PayloadTooLarge { limit }.into_response(),
    };
    let app = Arc::clone(app);
    let answer = crate::cold_path::spawn_blocking(move || {
        app.console.handle(
            &app.admin,
            &ConsoleRequest {
                method: &parts.method,
                path: parts.uri.path(),
                query: parts.uri.query(),
                headers: &parts.headers,
                authority: parts.uri.authority().map(|a| a.as_str()),
                body: &body,
                peer: peer.ip(),
            },
        )
    })
    .await;
    answer.unwrap_or_else(|join| {
        ApiError::Internal(format!("console handler panicked: {join}")).into_response()
    })
}

/// The largest console form: a campaign's fields twice (as edited and as
/// opened), or a bid request pasted into the explain page, percent-encoded
/// (which can triple its size).
const MAX_CONSOLE_FORM_BYTES: usize = 96 * 1024;

/// `POST /api/v1/funnels/{id}/uploads`: checks access and opens the job,
/// then streams the body through a bounded channel into the job on the
/// blocking pool, so an upload of any size holds a few frames at a time.
/// Answers `201` with the finished job and its `Location`.
async fn upload(app: &Arc<Instance>, req: Request<Incoming>, funnel: u32) -> Response<Body> {
    let (parts, mut body) = req.into_parts();
    let start = {
        let app = Arc::clone(app);
        let (headers, query) = (parts.headers.clone(), parts.uri.query().map(str::to_owned));
        crate::cold_path::spawn_blocking(move || {
            app.admin.start_upload(&headers, funnel, query.as_deref())
        })
        .await
    };
    let (job, names, opts) = match start {
        Ok(Ok(started)) => started,
        Ok(Err(e)) => return e.into_response(),
        Err(join) => {
            return ApiError::Internal(format!("upload start panicked: {join}")).into_response();
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(16);
    let worker = {
        let app = Arc::clone(app);
        crate::cold_path::spawn_blocking(move || {
            let reader = ChannelReader {
                rx,
                current: Bytes::new(),
            };
            let target = crate::control::uploads::Target {
                store: app.admin.store(),
                audience: &**app.admin.audience(),
            };
            crate::control::uploads::run_upload(target, &job, &names, opts, reader)
        })
    };
    loop {
        // An upload may take minutes; what is bounded is each pause, so a
        // stalled client cannot hold the job (and its connection) forever.
        let frame = match tokio::time::timeout(app.config.body_read_timeout, body.frame()).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(_) => {
                let _ = tx
                    .send(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the client stopped sending the upload",
                    )))
                    .await;
                break;
            }
        };
        let item = match frame {
            Ok(f) => match f.into_data() {
                Ok(data) => Ok(data),
                Err(_) => continue,
            },
            Err(e) => Err(std::io::Error::other(e)),
        };
        let failed = item.is_err();
        if tx.send(item).await.is_err() || failed {
            break;
        }
    }
    drop(tx);
    match worker.await {
        Ok(Ok(done)) => {
            let location = format!("/api/v1/jobs/{}", done.id.0);
            let mut resp = match serde_json::to_vec(&done) {
                Ok(bytes) => Response::new(Full::new(Bytes::from(bytes))),
                Err(e) => return ApiError::Internal(e.to_string()).into_response(),
            };
            *resp.status_mut() = StatusCode::CREATED;
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            if let Ok(loc) = header::HeaderValue::from_str(&location) {
                resp.headers_mut().insert(header::LOCATION, loc);
            }
            resp
        }
        Ok(Err(e)) => ApiError::from(e).into_response(),
        Err(join) => ApiError::Internal(format!("upload job panicked: {join}")).into_response(),
    }
}

/// The upload body as `Read`, for the job on the blocking pool.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
    current: Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(data)) => self.current = data,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        bytes::Buf::advance(&mut self.current, n);
        Ok(n)
    }
}

/// A fleet's bid instance has no admin API: 503 naming the control
/// instance, whose URL is also in `Location`.
fn control_elsewhere(app: &Instance) -> Response<Body> {
    let url = app.fleet.as_ref().map_or("", |f| f.control_url.as_str());
    let body = serde_json::json!({
        "error": "bid_instance",
        "message": "this is a bid instance of a fleet; the admin API is served by the control instance",
        "control_url": url,
    });
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = header::HeaderValue::from_str(url) {
        h.insert(header::LOCATION, v);
    }
    resp
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
