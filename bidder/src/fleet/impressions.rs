//! Frequency caps across a fleet. Every impression counted fleet-wide
//! (the first of its bid, by the record script of [`super::events`]) is
//! also appended to its shard's impression stream (`{ev:N}:imps`, kept
//! to the last [`KEEP`] entries), with the keyed user hash, never the
//! raw id. Every instance reads the streams and adds each impression to
//! its local frequency counts, which the bid path reads.
//!
//! # Consistency promise
//! - An impression counts on the instance that took its notice at once
//!   (its event worker), and on every other instance within one
//!   [`POLL_EVERY`] plus a read while Redis is up: a cap can be exceeded
//!   only by impressions of bids answered during that delay.
//! - An impression taken while Redis was away counts nowhere until its
//!   instance's spool drains into Redis; then it reaches every instance,
//!   the one that took it included.
//! - An instance that starts reads the whole retained stream: it knows
//!   the last [`KEEP`] impressions of each shard, not older ones (a cap
//!   over a window longer than those entries span can be exceeded once
//!   per user after a restart).
//! - An entry that does not read is logged, counted and skipped.
//!
//! The same reads bring this instance its forwarded settles
//! ([`super::settles`]): each shard's impression stream and this
//! instance's settle stream share a slot, so one `XREAD` per shard takes
//! both.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use audiences::keys::UserKey;

use super::client::Redis;
use super::keys;
use crate::events::apply::Effects;
use crate::model::{CampaignId, EventKind, EventRecord, UnixTime};
use crate::state::budget::Ledger;

/// Impressions kept per shard's stream (approximately: Redis trims in
/// whole nodes).
pub const KEEP: u64 = 250_000;
/// How often an instance reads the impression streams.
pub const POLL_EVERY: Duration = Duration::from_millis(100);
/// Most entries read per shard per read.
const COUNT: usize = 2_000;

/// What the stream carries for `e` counted by instance `origin` (empty
/// when no instance counted it yet, as for an event out of a spool):
/// `origin campaign user at`; none when it is not an impression of a
/// known user.
pub fn entry(origin: &str, e: &EventRecord) -> Option<String> {
    let (EventKind::Impression, Some(user)) = (e.kind, e.user_key) else {
        return None;
    };
    Some(format!("{origin} {} {user:x} {}", e.campaign.0, e.at.0))
}

/// One impression read back: who counted it, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The instance that counted it locally already (empty: none).
    pub origin: String,
    /// The campaign shown.
    pub campaign: CampaignId,
    /// The keyed user.
    pub user: UserKey,
    /// When.
    pub at: UnixTime,
}

/// Reads an [`entry`]; none when it is not one.
pub fn parse(text: &str) -> Option<Seen> {
    // An empty origin leaves a leading space: split on single spaces.
    let mut parts = text.split(' ');
    let origin = parts.next()?.to_string();
    let campaign = CampaignId(parts.next()?.parse().ok()?);
    let user = UserKey(u64::from_str_radix(parts.next()?, 16).ok()?);
    let at = UnixTime(parts.next()?.parse().ok()?);
    if parts.next().is_some() {
        return None;
    }
    Some(Seen {
        origin,
        campaign,
        user,
        at,
    })
}

/// Starts the thread that follows every shard's impressions into
/// `effects`' frequency counts, once `ready` (a snapshot is held: an
/// impression is counted against its campaign's calendar), skipping
/// those `own` (this instance) counted already. From the oldest kept
/// entry, or, when `history` is false (the control instance, which
/// counts the impressions in its SQLite at start), from the newest.
/// The settles forwarded to `own` go to `ledger`, from the first.
pub fn start(
    mut redis: Redis,
    own: String,
    (effects, ledger): (Arc<Effects>, Arc<Ledger>),
    ready: Arc<AtomicBool>,
    history: bool,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("fleet-impressions".into())
        .spawn(move || {
            crate::cold_path::lower_priority();
            while !ready.load(Ordering::Acquire) {
                std::thread::sleep(POLL_EVERY);
            }
            // From the oldest kept: a new instance learns recent caps.
            let mut last: Vec<String> = vec!["0".into(); keys::EVENT_SHARDS];
            // This instance's settle streams are new with its process.
            let mut settled: Vec<String> = vec!["0".into(); keys::EVENT_SHARDS];
            if !history {
                for (s, from) in last.iter_mut().enumerate() {
                    *from = newest(&mut redis, &keys::impressions(s));
                }
            }
            loop {
                let mut full = false;
                for (s, (from, from_settles)) in last.iter_mut().zip(settled.iter_mut()).enumerate()
                {
                    let (stream, settles) = (keys::impressions(s), keys::settles(s, &own));
                    let read = redis.call(|c| {
                        redis::cmd("XREAD")
                            .arg("COUNT")
                            .arg(COUNT)
                            .arg("STREAMS")
                            .arg(&stream)
                            .arg(&settles)
                            .arg(from.as_str())
                            .arg(from_settles.as_str())
                            .query::<Option<redis::streams::StreamReadReply>>(c)
                    });
                    let Ok(Some(reply)) = read else { continue };
                    for key in reply.keys {
                        let n = key.ids.len();
                        let forwarded = key.key == settles;
                        for id in key.ids {
                            let field = if forwarded { "s" } else { "i" };
                            let text = id
                                .map
                                .get(field)
                                .and_then(|v| redis::from_redis_value::<String>(v).ok());
                            if forwarded {
                                match text.as_deref().and_then(super::settles::parse) {
                                    Some(f) => super::settles::apply(&ledger, f),
                                    None => redis.bad_value(&settles, "an entry is not a settle"),
                                }
                                *from_settles = id.id;
                                continue;
                            }
                            match text.as_deref().and_then(parse) {
                                Some(i) if i.origin == own => {}
                                Some(i) => effects.count_impression_of(i.user, i.campaign, i.at),
                                None => redis.bad_value(&stream, "an entry is not an impression"),
                            }
                            *from = id.id;
                        }
                        full |= n >= COUNT;
                    }
                }
                if !full {
                    std::thread::sleep(POLL_EVERY);
                }
            }
        })
        .map(|_| ())
}

/// The id of the newest entry of `stream` (`0` when it is empty), read
/// until Redis answers.
fn newest(redis: &mut Redis, stream: &str) -> String {
    loop {
        let read = redis.call(|c| {
            redis::cmd("XREVRANGE")
                .arg(stream)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .query::<redis::streams::StreamRangeReply>(c)
        });
        match read {
            Ok(r) => {
                return r
                    .ids
                    .into_iter()
                    .next()
                    .map_or_else(|| "0".into(), |i| i.id);
            }
            Err(_) => std::thread::sleep(POLL_EVERY),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EventRecord;

    fn impression(user: Option<u64>) -> EventRecord {
        EventRecord {
            bid: "a-1".into(),
            kind: EventKind::Impression,
            campaign: CampaignId(42),
            exchange: "x".into(),
            stage: None,
            combo: None,
            user_key: user,
            bid_price: openrtb::Micros(1_000),
            price: None,
            cost: openrtb::Micros(0),
            reserved: openrtb::Micros(0),
            held_until: UnixTime(0),
            held_here: true,
            issued: UnixTime(0),
            at: UnixTime(1_795_392_000),
            settles: false,
            country: "USA".into(),
            device_type: 2,
        }
    }

    #[test]
    fn an_impression_reads_back_as_written_with_or_without_an_origin() {
        let e = impression(Some(u64::MAX - 5));
        for origin in ["18c0ffee", ""] {
            let seen = parse(&entry(origin, &e).unwrap()).unwrap();
            assert_eq!(
                seen,
                Seen {
                    origin: origin.into(),
                    campaign: CampaignId(42),
                    user: UserKey(u64::MAX - 5),
                    at: UnixTime(1_795_392_000),
                }
            );
        }
    }

    #[test]
    fn only_impressions_of_known_users_travel_and_foreign_entries_do_not_read() {
        assert_eq!(entry("a", &impression(None)), None);
        let mut click = impression(Some(1));
        click.kind = EventKind::Click;
        assert_eq!(entry("a", &click), None);
        for bad in [
            "",
            "a 42",
            "a x 1 2",
            "a 42 zz 2",
            "a 42 1 2 extra",
            "a 42 1 -",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
