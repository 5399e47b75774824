//! Who bids in the fleet. Every instance with bids in flight says so
//! once a [`BEAT_EVERY`] in one sorted set (`{cfg}:live`, scored by
//! Redis's own clock, so hosts' clocks need not agree) and learns how
//! many instances bid, shown on `/metrics` as `bidder_fleet_sharers`.
//! Budgets are not split by this count: each instance bids within the
//! lease the central ledger granted it ([`super::lease`]).
//!
//! # Consistency promise
//! - An instance that starts bidding counts itself at once and is
//!   counted by the others within one beat; one that stops (or is
//!   killed) leaves the count after [`LIVE_FOR_SECS`].
//! - Redis down: each instance keeps the last count it read.

use std::sync::Arc;
use std::time::Duration;

use super::client::Redis;
use super::keys;
use crate::state::budget::Ledger;
use crate::state::clock::SharedClock;

/// How often an instance beats.
pub const BEAT_EVERY: Duration = Duration::from_secs(1);
/// How long a beat counts: an instance silent this long is gone.
pub const LIVE_FOR_SECS: i64 = 3;

/// Forgets stale members, adds (or removes) this one, counts them.
/// KEYS: the set. ARGV: member id, `1` if it bids, seconds a beat lasts.
const BEAT: &str = r"
local now = tonumber(redis.call('TIME')[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
if ARGV[2] == '1' then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return redis.call('ZCARD', KEYS[1])
";

/// How many instances share the room, as seen by one that `bids` when
/// the set (after its beat) holds `members`: itself always counts.
pub fn sharers(members: u64, bids: bool) -> u32 {
    let others = if bids {
        members.saturating_sub(1)
    } else {
        members
    };
    u32::try_from(others.saturating_add(1)).unwrap_or(u32::MAX)
}

/// Starts the thread that beats for this instance (`id`) and notes the
/// count in `ledger`.
pub fn start(
    mut redis: Redis,
    id: String,
    ledger: Arc<Ledger>,
    clock: SharedClock,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("fleet-members".into())
        .spawn(move || {
            crate::cold_path::lower_priority();
            let script = redis::Script::new(BEAT);
            loop {
                let bids = ledger.holds_any(clock.now());
                let counted = redis.call(|c| {
                    script
                        .key(keys::LIVE)
                        .arg(&id)
                        .arg(if bids { "1" } else { "0" })
                        .arg(LIVE_FOR_SECS)
                        .invoke::<u64>(c)
                });
                // Redis down: the last count stands.
                if let Ok(members) = counted {
                    ledger.set_sharers(sharers(members, bids));
                }
                std::thread::sleep(BEAT_EVERY);
            }
        })
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_counts_itself_once_whether_or_not_it_is_in_the_set() {
        assert_eq!(sharers(0, false), 1);
        assert_eq!(sharers(1, true), 1);
        assert_eq!(sharers(2, false), 3);
        assert_eq!(sharers(3, true), 3);
        // A set Redis says is empty while we bid (it was flushed): still 1.
        assert_eq!(sharers(0, true), 1);
    }
}
