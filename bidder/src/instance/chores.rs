//! Periodic cold-path chores, on timers while the server runs:
//! - every [`SWEEP_EVERY`]: deleting expired audience members from the
//!   store and compacting them out of the table (until then they read as
//!   absent but still count in funnel listings and memory), and deleting
//!   events older than the event log keeps them ([`event_log_keep`]);
//! - every [`BUDGET_EVERY`]: starting campaign days at their midnight, and
//!   checkpointing the reservations of bids in flight, so that a crash
//!   loses at most that much of them (see docs/RELIABILITY.md); and
//!   reading the counters for the live view ([`crate::live`]) and
//!   stripping the recent request the bid path took
//!   ([`crate::bid::sample`]).
//!
//! Runs the blocking work on tokio's blocking pool; never touches the bid
//! path other than by publishing a compacted table.

use std::sync::Arc;
use std::time::Duration;

use crate::instance::Instance;

/// How often expired members are swept.
pub const SWEEP_EVERY: Duration = Duration::from_secs(10 * 60);

/// How often budgets roll their day and reservations are checkpointed.
pub const BUDGET_EVERY: Duration = Duration::from_secs(1);

/// How long events stay in the log: the token window (replays inside it
/// must be recognised) or a week (conversions are attributed to clicks
/// and impressions of the last seven days; frequency caps are rebuilt
/// from a week of impressions), whichever is longer.
pub fn event_log_keep(app: &Instance) -> i64 {
    i64::from(app.config.events.token_ttl_secs).max(7 * 86_400)
}

/// Starts the chores; they stop when the returned handle is aborted.
pub fn spawn(app: Arc<Instance>) -> tokio::task::JoinHandle<()> {
    let budgets = Arc::clone(&app);
    let budget_chore = tokio::spawn(async move {
        let mut tick = tokio::time::interval(BUDGET_EVERY);
        loop {
            tick.tick().await;
            let app = Arc::clone(&budgets);
            let done = crate::cold_path::spawn_blocking(move || {
                app.traffic.record(
                    std::time::Instant::now(),
                    crate::live::Reading::of(&app.metrics),
                );
                app.samples.drain();
                app.budgets.tick(app.clock.now());
                app.checkpoint_reservations();
            })
            .await;
            if let Err(e) = done {
                tracing::warn!(error = %e, "budget chore panicked");
            }
        }
    });
    tokio::spawn(async move {
        // Dropping this task (abort) must stop the budget chore too.
        struct AbortOnDrop(tokio::task::JoinHandle<()>);
        impl Drop for AbortOnDrop {
            fn drop(&mut self) {
                self.0.abort();
            }
        }
        let _budget = AbortOnDrop(budget_chore);
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        // The first tick is immediate, and start-up has just swept.
        tick.tick().await;
        loop {
            tick.tick().await;
            let pruned = {
                let app = Arc::clone(&app);
                crate::cold_path::spawn_blocking(move || {
                    let before = app.clock.now().0 - event_log_keep(&app);
                    app.store.prune_events(crate::model::UnixTime(before))
                })
                .await
            };
            match pruned {
                Ok(Ok(n)) if n > 0 => tracing::info!(events = n, "old events pruned"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "event pruning failed"),
                Err(e) => tracing::warn!(error = %e, "event pruning panicked"),
            }
            let app = Arc::clone(&app);
            match crate::cold_path::spawn_blocking(move || app.audience.sweep()).await {
                Ok(Ok(n)) if n > 0 => tracing::info!(expired = n, "audience members swept"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "audience sweep failed"),
                Err(e) => tracing::warn!(error = %e, "audience sweep panicked"),
            }
        }
    })
}
