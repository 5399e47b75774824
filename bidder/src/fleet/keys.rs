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
//! | `{ev:N}:settles:<instance>` | stream | shard N's settles of that instance's bids taken by other instances, capped (token window + 1 h) |
//! | `{c:<id>}:spend` | hash | a campaign's booked spend: `day_start`, `day`, `total` |
//! | `{c:<id>}:lease:<day>` | hash | a campaign day's central ledger: `granted`, and per instance `i:<id>` -> `limit:used:expires_ms` |
//! | `{cfg}:live` | sorted set | instances with bids in flight, scored by their last beat |
//! | `{a}:gen` | string | the generation of the audience copy bid instances load |
//! | `{a}:next` | string | the last generation number handed out |
//! | `{a}:changes` | stream | member changes of the control instance, capped, by generation |
//! | `{a:G:B}:F` | hash | generation G's members of funnel F whose keyed user hash has top byte B: key (8 bytes) -> stage, updated, expires |
//! | `{a:G}:funnels` | set | the funnels generation G has members of |

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

/// The stream of shard `shard`'s settles forwarded to `instance` (the
/// hex process id that starts its bid ids).
pub fn settles(shard: usize, instance: &str) -> String {
    format!("{{ev:{shard}}}:settles:{instance}")
}

/// A campaign's spend as the control instance's SQLite has it.
pub fn spend(campaign: i64) -> String {
    format!("{{c:{campaign}}}:spend")
}

/// A campaign day's central budget ledger (same slot as its spend, which
/// the lease script reads too). `day` is the day's start, Unix seconds.
pub fn lease(campaign: i64, day: i64) -> String {
    format!("{{c:{campaign}}}:lease:{day}")
}

/// The generation of the audience copy in Redis.
pub const AUDIENCE_GEN: &str = "{a}:gen";
/// The last audience generation number handed out.
pub const AUDIENCE_NEXT: &str = "{a}:next";
/// The stream of member changes (same slot as the generation, so both
/// are read in one step).
pub const AUDIENCE_CHANGES: &str = "{a}:changes";

/// Generation `generation`'s members of `funnel` in `bucket` (the top
/// byte of the keyed user hash): every funnel's hash of one bucket
/// shares a slot, so one pipeline reads a bucket.
pub fn audience_members(generation: u64, bucket: usize, funnel: u32) -> String {
    format!("{{a:{generation}:{bucket}}}:{funnel}")
}

/// The funnels generation `generation` has members of.
pub fn audience_funnels(generation: u64) -> String {
    format!("{{a:{generation}}}:funnels")
}
