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

/// The catalog's version counter.
pub const CATALOG_VERSION: &str = "{cat}:version";
/// The catalog itself, as JSON.
pub const CATALOG_BLOB: &str = "{cat}:blob";
/// What the control instance tells every instance at start.
pub const CONTROL: &str = "{cfg}:control";

/// Longest wait of a blocking stream read, milliseconds.
pub const BLOCK_MS: u64 = 1_000;
