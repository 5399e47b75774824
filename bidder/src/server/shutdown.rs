//! The shutdown signal: resolves on SIGTERM or SIGINT (Ctrl-C).
//!
//! Kept apart from the server so that tests pass any future (a oneshot
//! receiver) to `server::run` and the binary passes this one.

/// Waits for SIGINT or, on Unix, SIGTERM. If a handler cannot be installed
/// the error is logged and that signal is simply not awaited: a bidder that
/// cannot be stopped gracefully is still better than one that does not start.
pub async fn signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        _ = term => tracing::info!("SIGTERM received, shutting down"),
    }
}
