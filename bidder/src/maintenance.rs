//! Periodic cold-path chores, on a timer while the server runs: today,
//! deleting expired audience members from the store and compacting them
//! out of the table (until then they read as absent but still count in
//! funnel listings and memory).
//!
//! Runs the blocking work on tokio's blocking pool; never touches the bid
//! path other than by publishing a compacted table.

use std::sync::Arc;
use std::time::Duration;

use crate::app::App;

/// How often expired members are swept.
pub const SWEEP_EVERY: Duration = Duration::from_secs(10 * 60);

/// Starts the chores; they stop when the returned handle is aborted.
pub fn spawn(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        // The first tick is immediate, and start-up has just swept.
        tick.tick().await;
        loop {
            tick.tick().await;
            let app = Arc::clone(&app);
            match tokio::task::spawn_blocking(move || app.audience.sweep()).await {
                Ok(Ok(n)) if n > 0 => tracing::info!(expired = n, "audience members swept"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "audience sweep failed"),
                Err(e) => tracing::warn!(error = %e, "audience sweep panicked"),
            }
        }
    })
}
