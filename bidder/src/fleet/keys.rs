//! Every Redis key the fleet uses, in one place. Keys that one script
//! touches together share a hash tag (`{...}`), so that each script works
//! on one slot of a Redis Cluster; nothing on a path that runs per request
//! or per event lists keys (no `KEYS`, no `SCAN`).
//!
//! | key | type | what |
//! |---|---|---|
//! | `{cat}:version` | string | catalog version, incremented per publish |
//! | `{cat}:blob` | string | the catalog of that version (JSON) |
//! | `{cfg}:control` | hash | the control instance's URL, token keys, audience secret |
//! | `{ev:N}:b:<bid>` | hash | a bid's events: kinds seen, first outcome, settled (token window + 1 h) |
//! | `{ev:N}:stream` | stream | shard N's new events, read by the control's group `control` |
//! | `{ev:N}:imps` | stream | shard N's impressions for every instance's caps (keyed user hash), capped |
//! | `{c:<id>}:spend` | hash | a campaign's booked spend: `day_start`, `day`, `total` |
//! | `{cfg}:live` | sorted set | instances with bids in flight, scored by their last beat |

/// The catalog's version counter.
pub const CATALOG_VERSION: &str = "{cat}:version";
/// The catalog itself, as JSON.
pub const CATALOG_BLOB: &str = "{cat}:blob";
/// What the control instance tells every instance at start.
pub const CONTROL: &str = "{cfg}:control";

/// The instances that bid now, by their last beat.
pub const LIVE: &str = "{cfg}:live";

/// Longest wait of a blocking stream read, milliseconds.
pub const BLOCK_MS: u64 = 1_000;

/// Shards of the event streams: a bid's events go to the shard of its
/// number, each shard one slot (`{ev:N}`).
pub const EVENT_SHARDS: usize = 4;

/// The hash of one bid's events (kinds seen, first outcome, settled).
pub fn event_bid(shard: usize, bid: &str) -> String {
    format!("{{ev:{shard}}}:b:{bid}")
}

/// The stream of one shard's events.
pub fn event_stream(shard: usize) -> String {
    format!("{{ev:{shard}}}:stream")
}

/// The stream of one shard's impressions, for frequency caps.
pub fn impressions(shard: usize) -> String {
    format!("{{ev:{shard}}}:imps")
}

/// A campaign's spend as the control instance's SQLite has it.
pub fn spend(campaign: i64) -> String {
    format!("{{c:{campaign}}}:spend")
}
