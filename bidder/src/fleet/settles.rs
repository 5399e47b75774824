//! Settles forwarded to the instance that bid. A bid's reservation and
//! the lease it counts in are held by the instance that made the bid,
//! but its billing point or loss may reach any instance. The instance
//! that takes it books the cost and, when the event settles the bid
//! fleet-wide (the record script of [`super::events`] says so once per
//! bid), the same script appends the settle to the bidder's settle
//! stream on the bid's shard (`{ev:N}:settles:<instance>`, one slot with
//! the shard's other keys). The bidder reads its streams together with
//! the impression streams ([`super::impressions`]: same reads, no round
//! trip of its own), releases the reservation and counts the cost in its
//! lease. The bid id's first part names the bidder
//! ([`crate::bid::process_id`]), and the token signs the bid id, so a
//! notice cannot redirect a settle.
//!
//! # Consistency promise
//! - **A bid's money counts once in the leases.** The cost of a bill
//!   counts in the lease of the instance that bid, wherever the bill
//!   arrived; until the forward is read, that instance still holds the
//!   bid's reservation, so the money is never counted in no lease, and
//!   never in two.
//! - **Forwarded within one read.** A settle reaches its bidder within
//!   one [`super::impressions::POLL_EVERY`] plus a read while Redis is
//!   up; a settle taken while Redis was away is forwarded when the
//!   spool drains. A forward that finds its reservation lapsed still
//!   counts the cost in the lease (and as a late win).
//! - **Bounded.** Each stream keeps its last [`KEEP`] entries and
//!   expires with the bid's events when its instance is gone. A bidder
//!   more than [`KEEP`] settles behind on one shard loses the oldest: for
//!   those its reservations are held to the end of their window, and
//!   their costs count in no lease (spend past the budget by at most
//!   those costs).
//! - Never on the bid path; an entry that does not read is logged,
//!   counted and skipped.

use openrtb::Micros;

use crate::model::{CampaignId, EventKind, EventRecord, UnixTime};
use crate::state::budget::{Held, Ledger};

/// Settles kept per bidder and shard (approximately: Redis trims in
/// whole nodes).
pub const KEEP: u64 = 20_000;

/// The instance that made bid `bid` (`{process:x}-{n:x}`), as its
/// settle streams name it; none for an id of another shape.
pub fn bidder(bid: &str) -> Option<&str> {
    let (process, _) = bid.split_once('-')?;
    (!process.is_empty() && process.bytes().all(|b| b.is_ascii_hexdigit())).then_some(process)
}

/// What the bidder's stream carries for `e`, taken by instance `me`:
/// `campaign amount until cost at` (cost `-` for a loss); none when `e`
/// does not settle, or when `me` made the bid (it settled it itself).
pub fn entry(me: &str, e: &EventRecord) -> Option<String> {
    if !e.settles || bidder(&e.bid).is_none_or(|b| b == me) {
        return None;
    }
    let cost = match e.kind {
        EventKind::Loss => "-".to_string(),
        _ => e.cost.0.to_string(),
    };
    Some(format!(
        "{} {} {} {cost} {}",
        e.campaign.0, e.reserved.0, e.held_until.0, e.at.0
    ))
}

/// One settle read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forwarded {
    /// The campaign.
    pub campaign: CampaignId,
    /// What the bid held.
    pub held: Held,
    /// A billing point's cost; none for a loss.
    pub cost: Option<Micros>,
    /// When it was taken.
    pub at: UnixTime,
}

/// Reads an [`entry`]; none when it is not one.
pub fn parse(text: &str) -> Option<Forwarded> {
    let mut parts = text.split(' ');
    let campaign = CampaignId(parts.next()?.parse().ok()?);
    let amount: i64 = parts.next()?.parse().ok()?;
    let until = UnixTime(parts.next()?.parse().ok()?);
    let cost = match parts.next()? {
        "-" => None,
        c => Some(Micros(c.parse().ok().filter(|c: &i64| *c >= 0)?)),
    };
    let at = UnixTime(parts.next()?.parse().ok()?);
    if parts.next().is_some() || amount < 0 {
        return None;
    }
    Some(Forwarded {
        campaign,
        held: Held {
            amount: Micros(amount),
            until,
        },
        cost,
        at,
    })
}

/// Applies a forwarded settle to this instance's account.
pub fn apply(ledger: &Ledger, f: Forwarded) {
    ledger.settled_elsewhere(f.campaign, f.held, f.cost, f.at);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bill(bid: &str, kind: EventKind) -> EventRecord {
        EventRecord {
            bid: bid.into(),
            kind,
            campaign: CampaignId(42),
            exchange: "x".into(),
            stage: None,
            combo: None,
            user_key: None,
            bid_price: Micros(2_000_000),
            price: None,
            cost: Micros(1_500),
            reserved: Micros(1_000),
            held_until: UnixTime(1_795_392_030),
            held_here: false,
            issued: UnixTime(1_795_392_000),
            at: UnixTime(1_795_392_010),
            settles: true,
            country: String::new(),
            device_type: 0,
        }
    }

    #[test]
    fn a_settle_of_another_instances_bid_reads_back_as_written() {
        let e = bill("18c0ffee-2a", EventKind::Bill);
        assert_eq!(bidder(&e.bid), Some("18c0ffee"));
        let f = parse(&entry("beef", &e).unwrap()).unwrap();
        assert_eq!(
            f,
            Forwarded {
                campaign: CampaignId(42),
                held: Held {
                    amount: Micros(1_000),
                    until: UnixTime(1_795_392_030),
                },
                cost: Some(Micros(1_500)),
                at: UnixTime(1_795_392_010),
            }
        );
        let loss = parse(&entry("beef", &bill("18c0ffee-2b", EventKind::Loss)).unwrap()).unwrap();
        assert_eq!(loss.cost, None);
    }

    #[test]
    fn own_bids_and_events_that_settle_nothing_are_not_forwarded() {
        assert_eq!(
            entry("18c0ffee", &bill("18c0ffee-2a", EventKind::Bill)),
            None
        );
        let mut imp = bill("18c0ffee-2a", EventKind::Impression);
        imp.settles = false;
        assert_eq!(entry("beef", &imp), None);
        assert_eq!(entry("beef", &bill("not a bid", EventKind::Bill)), None);
        for bad in [
            "",
            "42",
            "42 1 2 3",
            "x 1 2 3 4",
            "42 -1 2 3 4",
            "42 1 2 -3 4",
            "42 1 2 3 4 5",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
