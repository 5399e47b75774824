//! The BidResponse the bidder writes, and the no-bid reason codes.
//!
//! Everything borrows: the decision engine fills these from its snapshot and
//! per-request scratch strings, and [`BidResponse::write_into`] writes JSON
//! into a caller-owned buffer, so answering allocates nothing of its own.

use crate::money::{Currency, Micros};

/// A bid response with the bids of one seat per seat bid.
#[derive(Debug, Clone, Copy)]
pub struct BidResponse<'a> {
    /// The request's id.
    pub id: &'a str,
    /// Our id for this response.
    pub bidid: Option<&'a str>,
    /// Currency of every price in the response.
    pub cur: Currency,
    /// Bids grouped by seat.
    pub seatbid: &'a [SeatBid<'a>],
    /// No-bid reason, for a response without bids (see [`nbr`]).
    pub nbr: Option<u32>,
}

/// The bids of one buyer seat.
#[derive(Debug, Clone, Copy)]
pub struct SeatBid<'a> {
    /// Buyer seat id.
    pub seat: Option<&'a str>,
    /// Bids, at most one per impression.
    pub bid: &'a [Bid<'a>],
}

/// One bid on one impression.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bid<'a> {
    /// Bidder's bid id, for logging and notices.
    pub id: &'a str,
    /// The impression this bid is for.
    pub impid: &'a str,
    /// CPM price in the response currency; written as a float.
    pub price: Micros,
    /// Ad markup (HTML, native JSON, VAST XML).
    pub adm: Option<&'a str>,
    /// Win notice URL.
    pub nurl: Option<&'a str>,
    /// Billing notice URL.
    pub burl: Option<&'a str>,
    /// Loss notice URL.
    pub lurl: Option<&'a str>,
    /// Advertiser domains.
    pub adomain: &'a [String],
    /// App bundle of the advertiser, where the ad promotes an app.
    pub bundle: Option<&'a str>,
    /// Sample image URL for quality review.
    pub iurl: Option<&'a str>,
    /// Campaign id.
    pub cid: Option<&'a str>,
    /// Creative id.
    pub crid: Option<&'a str>,
    /// IAB content categories of the creative.
    pub cat: &'a [String],
    /// Creative attributes.
    pub attr: &'a [u32],
    /// Deal id, when bidding on a deal.
    pub dealid: Option<&'a str>,
    /// Width of the creative.
    pub w: Option<u32>,
    /// Height of the creative.
    pub h: Option<u32>,
    /// Markup type: 1 banner, 2 video, 3 audio, 4 native (2.6).
    pub mtype: Option<u32>,
    /// Seconds the bid may wait for an impression.
    pub exp: Option<u32>,
}

/// No-bid reason codes (OpenRTB 2.6 list "No-Bid Reason Codes").
pub mod nbr {
    /// Unknown error.
    pub const UNKNOWN_ERROR: u32 = 0;
    /// Technical error.
    pub const TECHNICAL_ERROR: u32 = 1;
    /// Invalid request.
    pub const INVALID_REQUEST: u32 = 2;
    /// Known web spider.
    pub const KNOWN_WEB_SPIDER: u32 = 3;
    /// Suspected non-human traffic.
    pub const SUSPECTED_NON_HUMAN: u32 = 4;
    /// Cloud, data center or proxy IP.
    pub const CLOUD_DATACENTER_PROXY: u32 = 5;
    /// Unsupported device.
    pub const UNSUPPORTED_DEVICE: u32 = 6;
    /// Blocked publisher or site.
    pub const BLOCKED_PUBLISHER: u32 = 7;
    /// Unmatched user.
    pub const UNMATCHED_USER: u32 = 8;
    /// Daily reader cap met.
    pub const DAILY_READER_CAP: u32 = 9;
    /// Daily domain cap met.
    pub const DAILY_DOMAIN_CAP: u32 = 10;
}
