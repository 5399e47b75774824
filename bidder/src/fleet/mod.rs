//! A fleet: many instances sharing budgets, caps, events, audiences and
//! the catalog through Redis (7, or Valkey; Redis Cluster in production),
//! each seam of [`crate::state`] implemented over it. One instance, the
//! **control instance**, owns the SQLite catalog: it serves the admin
//! API, commits as an embedded bidder does, and publishes every change.
//! **Bid
//! instances** keep no catalog of their own; they answer bids and
//! notices from local state that background threads keep up to date, so
//! nothing on the bid path waits for Redis.
//!
//! # Layout
//! - [`client`]: a blocking connection (server or cluster), made again
//!   after errors, every call counted.
//! - [`keys`]: every key name, with the hash tags that keep each script
//!   on one cluster slot.
//! - [`catalog`]: the control instance publishes each catalog version;
//!   bid instances follow it.
//! - [`audience`]: the control instance publishes every member change
//!   (a copy by generation plus a change stream); bid instances load the
//!   copy at start and follow the stream.
//! - [`events`]: each notice counted once fleet-wide, streamed to the
//!   control instance, spooled to disk while Redis is away.
//! - [`impressions`]: every impression to every instance, for caps;
//!   the same reads bring each instance its [`settles`].
//! - [`settles`]: the outcome of a bid taken by another instance,
//!   forwarded to the one that bid, which holds its reservation.
//! - [`spend`]: booked spend from the control's SQLite to every instance.
//! - [`lease`]: budget leases: a central ledger per campaign and day,
//!   slices leased by each instance, renewed and handed back.
//! - [`members`]: how many instances bid (shown on `/metrics`).
//!
//! ```text
//!            admin ──▶ control instance ──▶ SQLite
//!                          │ publish
//!                          ▼
//!                        Redis ◀── poll ── bid instance ◀── exchange
//!                                 ◀── poll ── bid instance ◀── exchange
//! ```

pub mod audience;
pub mod catalog;
pub mod client;
pub mod events;
pub mod impressions;
pub mod keys;
pub mod lease;
pub mod members;
pub mod settles;
pub mod spend;

use std::sync::Arc;
use std::time::Duration;

use crate::config::Role;
use crate::state::StateError;
use client::{Redis, RedisStats};

/// What the control instance tells every instance of the fleet.
#[derive(Clone, PartialEq, Eq)]
pub struct ControlInfo {
    /// Its admin URL.
    pub url: String,
    /// The keys that sign and verify event tokens, the signing one first:
    /// a notice is verified by whichever instance it reaches.
    pub token_keys: Vec<[u8; 32]>,
    /// The secret user ids are hashed with: audiences and caps are keyed
    /// alike on every instance.
    pub audience_secret: [u8; 16],
}

impl std::fmt::Debug for ControlInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets.
        f.debug_struct("ControlInfo")
            .field("url", &self.url)
            .field("token_keys", &self.token_keys.len())
            .finish_non_exhaustive()
    }
}

/// Writes `info` for every instance to read.
pub fn publish_control(redis: &mut Redis, info: &ControlInfo) -> Result<(), StateError> {
    let keys: Vec<String> = info.token_keys.iter().map(hex::encode).collect();
    redis.call(|c| {
        redis::cmd("HSET")
            .arg(keys::CONTROL)
            .arg("url")
            .arg(&info.url)
            .arg("token_keys")
            .arg(keys.join(","))
            .arg("audience_secret")
            .arg(hex::encode(info.audience_secret))
            .query::<()>(c)
    })
}

/// What the control instance published, if it did and it reads.
pub fn read_control(redis: &mut Redis) -> Result<Option<ControlInfo>, StateError> {
    let (url, keys, secret): (Option<String>, Option<String>, Option<String>) =
        redis.call(|c| {
            redis::cmd("HMGET")
                .arg(keys::CONTROL)
                .arg("url")
                .arg("token_keys")
                .arg("audience_secret")
                .query(c)
        })?;
    let (Some(url), Some(keys), Some(secret)) = (url, keys, secret) else {
        return Ok(None);
    };
    let token_keys: Option<Vec<[u8; 32]>> = keys
        .split(',')
        .map(|k| hex::decode(k).ok().and_then(|b| b.try_into().ok()))
        .collect();
    let secret: Option<[u8; 16]> = hex::decode(secret).ok().and_then(|b| b.try_into().ok());
    match (token_keys, secret) {
        (Some(token_keys), Some(audience_secret)) if !token_keys.is_empty() => {
            Ok(Some(ControlInfo {
                url,
                token_keys,
                audience_secret,
            }))
        }
        _ => {
            redis.bad_value(keys::CONTROL, "token keys or audience secret unreadable");
            Ok(None)
        }
    }
}

/// Waits until the control instance has published what every instance
/// needs (a bid instance cannot verify notices nor key users before).
pub fn wait_for_control(redis: &mut Redis) -> ControlInfo {
    let mut tries = 0u32;
    loop {
        match read_control(redis) {
            Ok(Some(info)) => return info,
            Ok(None) if tries.is_multiple_of(20) => {
                tracing::info!("waiting for the control instance to publish to Redis")
            }
            Err(e) if tries.is_multiple_of(20) => tracing::warn!(error = %e, "waiting for Redis"),
            _ => {}
        }
        tries += 1;
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// What the server needs to know of the fleet it is part of.
#[derive(Debug, Clone)]
pub struct FleetInfo {
    /// Control or bid instance.
    pub role: Role,
    /// The admin URL a bid instance names when it refuses admin calls.
    pub control_url: String,
    /// Redis round trips and errors of every connection.
    pub stats: Arc<RedisStats>,
    /// Events waiting in this instance's spool.
    pub spool: Arc<events::Spool>,
    /// Control instance: entries left in the event streams after its
    /// last read.
    pub lag: Arc<std::sync::atomic::AtomicI64>,
    /// Control instance: what the events it consumes act on (funnel
    /// moves), set once the instance is built.
    pub effects: Arc<EffectsSlot>,
    /// The budget ledger: how many instances bid, every lease.
    pub ledger: Arc<crate::state::budget::Ledger>,
    /// The renewal of this instance's budget leases, and their hand-back
    /// at shutdown.
    pub leases: Arc<lease::Leases>,
    /// Bid instance: how far its audience table trails the change
    /// stream, milliseconds.
    pub audience_lag: Arc<std::sync::atomic::AtomicI64>,
}

/// The instance's [`crate::events::apply::Effects`], once it has them:
/// the control's event consumer starts before the instance is built.
#[derive(Default)]
pub struct EffectsSlot(pub std::sync::OnceLock<Arc<crate::events::apply::Effects>>);

impl std::fmt::Debug for EffectsSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EffectsSlot")
            .field("set", &self.0.get().is_some())
            .finish()
    }
}
