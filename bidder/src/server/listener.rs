//! The accept loop: HTTP/1.1 with keep-alive and cleartext HTTP/2 (h2c) on
//! one listener, one task per connection, and graceful shutdown.
//!
//! Limits that keep slow or many clients from starving the others: headers
//! (and the wait for the next request of an idle keep-alive connection)
//! within `header_read_timeout`, bodies within `body_read_timeout` (read by
//! the handlers), at most `max_connections` at once (further clients wait
//! in the listen backlog), and at most [`H2_MAX_STREAMS`] requests at once
//! on one HTTP/2 connection.
//!
//! Takes any bound `TcpListener` and any shutdown future, so tests run the
//! real server on port 0 and stop it with a oneshot channel; the binary
//! passes [`crate::server::shutdown::signal`].

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::error::Body;
use crate::instance::Instance;
use crate::server::arrival::StampedStream;
use crate::server::routes;

/// Concurrent requests one HTTP/2 client may have in flight.
pub const H2_MAX_STREAMS: u32 = 256;

/// Counts one open connection for `/metrics` while it lives.
struct Open(Arc<Instance>);

impl Open {
    fn new(app: &Arc<Instance>) -> Open {
        app.connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Open(Arc::clone(app))
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0
            .connections
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting, lets in-flight requests finish (up to the configured grace
/// period) and returns.
pub async fn run(
    listener: TcpListener,
    app: Arc<Instance>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(app.config.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_STREAMS)
        .keep_alive_interval(Some(app.config.header_read_timeout))
        .keep_alive_timeout(app.config.header_read_timeout);
    let slots = Arc::new(Semaphore::new(app.config.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    let chores = crate::instance::chores::spawn(Arc::clone(&app));

    loop {
        // Taking a slot before accepting leaves clients beyond the cap in
        // the kernel's backlog instead of accepting and starving them.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Running out of file descriptors must not end the
                    // server: log, pause briefly, keep accepting.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Bid answers are small and latency-bound: never wait for Nagle.
        let _ = stream.set_nodelay(true);
        let open = Open::new(&app);
        let first_byte_within = app.config.header_read_timeout;
        let app = Arc::clone(&app);
        let (stream, stamp) = StampedStream::new(stream);
        let service = service_fn(move |req: Request<Incoming>| {
            let app = Arc::clone(&app);
            // The request's head was the last thing read on this connection.
            let waited = stamp.waited();
            async move {
                Ok::<Response<Body>, Infallible>(routes::handle(&app, req, peer, waited).await)
            }
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _held = (slot, open);
            // hyper's header timer starts only once the protocol is known,
            // and telling HTTP/1 from h2c needs the first bytes: a client
            // that connects and sends nothing would hold its slot forever.
            let mut first = [0u8; 1];
            match tokio::time::timeout(first_byte_within, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            let conn = builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }

    app.start_draining();
    chores.abort();
    drop(listener);
    tracing::info!(
        connections = graceful.count(),
        "draining in-flight requests"
    );
    if tokio::time::timeout(app.config.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("grace period over; closing remaining connections");
    }
    // Counters live in the cold path's queues until their workers write
    // them; write them now, before the process can exit.
    let flushing = Arc::clone(&app);
    let grace = app.config.shutdown_grace;
    if let Err(e) = tokio::task::spawn_blocking(move || flushing.flush(grace)).await {
        tracing::warn!(error = %e, "flush at shutdown panicked");
    }
    Ok(())
}
