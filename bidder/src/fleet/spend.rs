//! Booked spend across a fleet. The control instance books every
//! billing point into SQLite as it consumes the event streams, and
//! publishes each touched campaign's spend; bid instances read it once a
//! second into their accounts, whose reservations stay their own.
//!
//! # Consistency promise
//! - A bid instance's view of a campaign's spend lags the fleet's by the
//!   stream lag plus at most [`SYNC_EVERY`]; it books nothing itself, so
//!   a restart loses nothing.
//! - What a bid instance books between two reads (a bill it answered)
//!   counts in its account at once and is replaced by the fleet's
//!   figure at the next read. What each instance may commit is bounded
//!   by its lease ([`super::lease`]), whose ledger reads this spend to
//!   know what was booked before the day.

use std::sync::Arc;
use std::time::Duration;

use super::client::{Batch, Redis};
use super::keys;
use crate::model::{CampaignId, UnixTime};
use crate::state::StateError;
use crate::state::budget::Ledger;

/// How often a bid instance reads the fleet's spend.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);

/// Control instance: takes campaign `id`'s spend from SQLite into its
/// account and publishes it.
pub fn publish(
    redis: &mut Redis,
    ledger: &Ledger,
    id: CampaignId,
    now: UnixTime,
) -> Result<(), StateError> {
    let Some((day_start, day, total)) = ledger.reload(id, now) else {
        return Ok(());
    };
    redis.call(|c| {
        redis::cmd("HSET")
            .arg(keys::spend(id.0))
            .arg("day_start")
            .arg(day_start)
            .arg("day")
            .arg(day)
            .arg("total")
            .arg(total)
            .query::<()>(c)
    })
}

/// Bid instance: reads every account's published spend once a
/// [`SYNC_EVERY`], in one pipeline.
pub fn start_sync(mut redis: Redis, ledger: Arc<Ledger>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("spend-sync".into())
        .spawn(move || {
            crate::cold_path::lower_priority();
            loop {
                std::thread::sleep(SYNC_EVERY);
                let ids = ledger.ids();
                if ids.is_empty() {
                    continue;
                }
                type Row = (Option<i64>, Option<i64>, Option<i64>);
                let mut reads = Batch::new();
                for id in &ids {
                    let mut c = redis::cmd("HMGET");
                    c.arg(keys::spend(id.0))
                        .arg("day_start")
                        .arg("day")
                        .arg("total");
                    reads.add(c);
                }
                let rows = redis.batch::<Vec<Row>>(&reads);
                let Ok(rows) = rows else { continue };
                for (id, row) in ids.iter().zip(rows) {
                    if let (Some(start), Some(day), Some(total)) = row {
                        if day < 0 || total < 0 {
                            redis.bad_value(&keys::spend(id.0), "negative spend");
                            continue;
                        }
                        ledger.set_booked(*id, start, day, total);
                    }
                }
            }
        })
        .map(|_| ())
}
