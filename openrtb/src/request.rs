//! The OpenRTB 2.6 BidRequest model, borrowed from the request buffer.
//!
//! Field names are the spec's JSON keys. Strings are `Cow<'a, str>` so that
//! they borrow from the (simd-json, in-place unescaped) buffer when they can.
//! Enumerations are open: they are kept as the integers or strings the wire
//! carried (see [`crate::enums`] for the named values), so a device type or
//! category this code has never heard of is carried, not rejected.
//!
//! After [`crate::parse_request`] the 2.5 spellings (`regs.ext.gdpr`,
//! `user.ext.consent`, `source.ext.schain`, ...) have been moved into their 2.6
//! places; the rest of the bidder reads only the 2.6 fields.

use std::borrow::Cow;

use serde::Deserialize;

use crate::native::{AssetRequest, EventTrackerRequest, NativeRequest};
use crate::repair::Repairs;

/// Raw JSON kept for `ext` objects the bidder may need (exchange-specific
/// extensions such as `imp.ext.prebid`); not interpreted by this crate.
pub type Ext<'a> = simd_json::BorrowedValue<'a>;

/// A bid request: one auction with one or more impressions.
#[derive(Debug, Default, Deserialize)]
#[serde(default, bound(deserialize = "'de: 'a, 'a: 'de"))]
pub struct BidRequest<'a> {
    /// Auction id, echoed in the response.
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// Impressions offered; at least one.
    #[serde(borrow)]
    pub imp: Vec<Imp<'a>>,
    /// Website inventory (exclusive with `app`).
    #[serde(borrow)]
    pub site: Option<Site<'a>>,
    /// App inventory (exclusive with `site`).
    #[serde(borrow)]
    pub app: Option<App<'a>>,
    /// The device the ad will show on.
    #[serde(borrow)]
    pub device: Option<Device<'a>>,
    /// The human user of the device.
    #[serde(borrow)]
    pub user: Option<User<'a>>,
    /// 1 = test mode, no billing.
    pub test: u8,
    /// Auction type: 1 first price, 2 second price plus, 3+ exchange-specific.
    pub at: Option<i64>,
    /// Time the exchange waits for our answer, in milliseconds, network included.
    pub tmax: Option<u32>,
    /// Allowed buyer seats.
    #[serde(borrow, deserialize_with = "crate::borrow::vec_str")]
    pub wseat: Vec<Cow<'a, str>>,
    /// Blocked buyer seats.
    #[serde(borrow, deserialize_with = "crate::borrow::vec_str")]
    pub bseat: Vec<Cow<'a, str>>,
    /// 1 = all impressions are all that is on the page.
    pub allimps: u8,
    /// Currencies a bid may use; empty means USD.
    #[serde(borrow, deserialize_with = "crate::borrow::vec_str")]
    pub cur: Vec<Cow<'a, str>>,
    /// Allowed creative languages, ISO-639-1.
    #[serde(borrow, deserialize_with = "crate::borrow::vec_str")]
    pub wlang: Vec<Cow<'a, str>>,
    /// Allowed creative languages, IETF BCP 47 (2.6).
    #[serde(borrow, deserialize_with = "crate::borrow::vec_str")]
    pub wlangb: Vec<Cow<'a, str>>,
    /// Blocked advertiser categories, in taxonomy `cattax`.
    #[serde(borrow, deserialize_with = "crate::borrow::vec_str")]
    pub bcat: Vec<Cow<'a, str>>,
    /// Category taxonomy of `bcat` (1 = IAB 1.0, the default).
    pub cattax: Option<u32>,
    /// Blocked advertiser domains.
    #[serde(borrow, deserialize_with = "crate::borrow::vec_str")]
    pub badv: Vec<Cow<'a, str>>,
    /// Blocked app bundles of advertisers.
    #[serde(borrow, deserialize_with = "crate::borrow::vec_str")]
    pub bapp: Vec<Cow<'a, str>>,
    /// Source of the request (supply chain).
    #[serde(borrow)]
    pub source: Option<Source<'a>>,
    /// Regulations in force.
    #[serde(borrow)]
    pub regs: Option<Regs<'a>>,
    /// Exchange-specific extensions.
    #[serde(borrow)]
    pub ext: Option<Ext<'a>>,
    /// Not on the wire: what the parser left out or converted, the imps
    /// it took out of `imp` and whether anything can be served (see
    /// [`crate::repair`]). Empty for a request read as sent.
    #[serde(skip)]
    pub repairs: Repairs,
}

/// One impression offered.
#[derive(Debug, Default, Deserialize)]
#[serde(default, bound(deserialize = "'de: 'a, 'a: 'de"))]
pub struct Imp<'a> {
    /// Id unique within the request; echoed as `bid.impid`.
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// Banner placement.
    #[serde(borrow)]
    pub banner: Option<Banner<'a>>,
    /// Video placement.
    #[serde(borrow)]
    pub video: Option<Video<'a>>,
    /// Audio placement.
    #[serde(borrow)]
    pub audio: Option<Audio<'a>>,
    /// Native placement.
    #[serde(borrow)]
    pub native: Option<Native<'a>>,
    /// Private marketplace deals.
    #[serde(borrow)]
    pub pmp: Option<Pmp<'a>>,
    /// Display manager (SDK) name.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub displaymanager: Option<Cow<'a, str>>,
    /// 1 = interstitial or full screen.
    pub instl: u8,
    /// Placement tag id.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub tagid: Option<Cow<'a, str>>,
    /// Minimum price, CPM, in `bidfloorcur`.
    pub bidfloor: f64,
    /// Currency of `bidfloor`; `None` means USD.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub bidfloorcur: Option<Cow<'a, str>>,
    /// 1 = creative assets must be https.
    pub secure: Option<u8>,
    /// Seconds between auction and expected impression.
    pub exp: Option<u32>,
    /// 1 = rewarded placement.
    pub rwdd: u8,
    /// Exchange-specific extensions (e.g. `prebid`, `gpid`).
    #[serde(borrow)]
    pub ext: Option<Ext<'a>>,
}

/// A size a banner slot accepts.
#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Format {
    /// Width in device-independent pixels.
    pub w: u32,
    /// Height in device-independent pixels.
    pub h: u32,
    /// Relative width, for flex ads.
    pub wratio: u32,
    /// Relative height, for flex ads.
    pub hratio: u32,
    /// Minimum width when ratios are given.
    pub wmin: u32,
}

/// A banner slot (also used for companion ads).
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Banner<'a> {
    /// Accepted sizes; preferred over `w`/`h`.
    pub format: Vec<Format>,
    /// Exact width when `format` is absent.
    pub w: Option<u32>,
    /// Exact height when `format` is absent.
    pub h: Option<u32>,
    /// Blocked banner types.
    pub btype: Vec<u32>,
    /// Blocked creative attributes.
    pub battr: Vec<u32>,
    /// Ad position on screen.
    pub pos: Option<u32>,
    /// Supported MIME types.
    #[serde(borrow, deserialize_with = "crate::borrow::vec_str")]
    pub mimes: Vec<Cow<'a, str>>,
    /// 1 = in the top frame.
    pub topframe: u8,
    /// Supported API frameworks.
    pub api: Vec<u32>,
    /// Banner id, for companions.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub id: Option<Cow<'a, str>>,
}

/// A video slot.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Video<'a> {
    /// Supported MIME types (e.g. `video/mp4`).
    #[serde(borrow, deserialize_with = "crate::borrow::vec_str")]
    pub mimes: Vec<Cow<'a, str>>,
    /// Minimum duration, seconds.
    pub minduration: Option<u32>,
    /// Maximum duration, seconds.
    pub maxduration: Option<u32>,
    /// Supported protocols (VAST versions).
    pub protocols: Vec<u32>,
    /// One supported protocol (before 2.3; `protocols` replaced it).
    pub protocol: Option<u32>,
    /// Exact durations an ad may have, seconds (2.6; instead of
    /// `minduration`/`maxduration`).
    pub rqddurs: Vec<u32>,
    /// Player width.
    pub w: Option<u32>,
    /// Player height.
    pub h: Option<u32>,
    /// Start delay.
    pub startdelay: Option<i32>,
    /// Placement type (2.5, deprecated in 2.6).
    pub placement: Option<u32>,
    /// Placement subtype (2.6).
    pub plcmt: Option<u32>,
    /// Linearity.
    pub linearity: Option<u32>,
    /// Skippable.
    pub skip: Option<u8>,
    /// Blocked creative attributes.
    pub battr: Vec<u32>,
    /// Supported API frameworks.
    pub api: Vec<u32>,
    /// Ad position.
    pub pos: Option<u32>,
    /// Supported delivery methods (1 streaming, 2 progressive, 3
    /// download); empty means all.
    pub delivery: Vec<u32>,
    /// Minimum bit rate, Kbps.
    pub minbitrate: Option<u32>,
    /// Maximum bit rate, Kbps.
    pub maxbitrate: Option<u32>,
}

/// An audio slot.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Audio<'a> {
    /// Supported MIME types.
    #[serde(borrow, deserialize_with = "crate::borrow::vec_str")]
    pub mimes: Vec<Cow<'a, str>>,
    /// Minimum duration, seconds.
    pub minduration: Option<u32>,
    /// Maximum duration, seconds.
    pub maxduration: Option<u32>,
    /// Supported protocols.
    pub protocols: Vec<u32>,
    /// Blocked creative attributes.
    pub battr: Vec<u32>,
}

/// A native slot. `request` is the Native 1.2 request, parsed whether the
/// exchange sent it as a JSON string (the spec) or as an object (common).
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Native<'a> {
    /// The parsed native request.
    #[serde(deserialize_with = "crate::native::deserialize_request")]
    pub request: NativeRequest,
    /// Native version.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub ver: Option<Cow<'a, str>>,
    /// Supported API frameworks.
    pub api: Vec<u32>,
    /// Blocked creative attributes.
    pub battr: Vec<u32>,
    /// Assets some exchanges put here instead of inside `request`;
    /// normalisation moves them into a `request` that has none.
    pub assets: Vec<AssetRequest>,
    /// Event trackers sent beside such assets; moved with them.
    pub eventtrackers: Vec<EventTrackerRequest>,
}

/// Private marketplace.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Pmp<'a> {
    /// 1 = only bids on the listed deals are accepted.
    pub private_auction: u8,
    /// Deals offered.
    #[serde(borrow)]
    pub deals: Vec<Deal<'a>>,
}

/// A deal between buyer and seller.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Deal<'a> {
    /// Deal id, echoed as `bid.dealid`.
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// Deal floor, CPM, in `bidfloorcur`.
    pub bidfloor: f64,
    /// Currency of the deal floor; `None` means USD (it does not inherit
    /// from the impression).
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub bidfloorcur: Option<Cow<'a, str>>,
    /// The deal's auction type: 1 first, 2 second price, 3 = `bidfloor` is
    /// the agreed fixed price. `None` means the request's `at`.
    pub at: Option<i64>,
    /// Allowed seats for this deal.
    #[serde(borrow, deserialize_with = "crate::borrow::vec_str")]
    pub wseat: Vec<Cow<'a, str>>,
    /// Allowed advertiser domains for this deal.
    #[serde(borrow, deserialize_with = "crate::borrow::vec_str")]
    pub wadomain: Vec<Cow<'a, str>>,
}

/// A publisher.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Publisher<'a> {
    /// Exchange-specific publisher id.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub id: Option<Cow<'a, str>>,
    /// Publisher name.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub name: Option<Cow<'a, str>>,
    /// Publisher domain.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub domain: Option<Cow<'a, str>>,
    /// Publisher categories.
    #[serde(borrow, deserialize_with = "crate::borrow::vec_str")]
    pub cat: Vec<Cow<'a, str>>,
}

/// Content of the site or app where the ad shows.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Content<'a> {
    /// Content id.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub id: Option<Cow<'a, str>>,
    /// Content title.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub title: Option<Cow<'a, str>>,
    /// Content categories.
    #[serde(borrow, deserialize_with = "crate::borrow::vec_str")]
    pub cat: Vec<Cow<'a, str>>,
    /// Content language, ISO-639-1.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub language: Option<Cow<'a, str>>,
    /// Content language, BCP 47 (2.6).
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub langb: Option<Cow<'a, str>>,
    /// Content rating.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub contentrating: Option<Cow<'a, str>>,
    /// 1 = live content.
    pub livestream: Option<u8>,
}

/// A website.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Site<'a> {
    /// Exchange-specific site id.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub id: Option<Cow<'a, str>>,
    /// Site name.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub name: Option<Cow<'a, str>>,
    /// Site domain, e.g. `news.example`.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub domain: Option<Cow<'a, str>>,
    /// Site categories.
    #[serde(borrow, deserialize_with = "crate::borrow::vec_str")]
    pub cat: Vec<Cow<'a, str>>,
    /// URL of the page.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub page: Option<Cow<'a, str>>,
    /// Referrer URL.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub r#ref: Option<Cow<'a, str>>,
    /// 1 = mobile-optimised.
    pub mobile: Option<u8>,
    /// 1 = has a privacy policy.
    pub privacypolicy: Option<u8>,
    /// The publisher.
    #[serde(borrow)]
    pub publisher: Option<Publisher<'a>>,
    /// The content.
    #[serde(borrow)]
    pub content: Option<Content<'a>>,
}

/// An app.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct App<'a> {
    /// Exchange-specific app id.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub id: Option<Cow<'a, str>>,
    /// App name.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub name: Option<Cow<'a, str>>,
    /// Store bundle or package name, e.g. `com.example.game`.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub bundle: Option<Cow<'a, str>>,
    /// App domain.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub domain: Option<Cow<'a, str>>,
    /// Store URL.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub storeurl: Option<Cow<'a, str>>,
    /// App categories.
    #[serde(borrow, deserialize_with = "crate::borrow::vec_str")]
    pub cat: Vec<Cow<'a, str>>,
    /// App version.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub ver: Option<Cow<'a, str>>,
    /// 1 = paid app.
    pub paid: Option<u8>,
    /// The publisher.
    #[serde(borrow)]
    pub publisher: Option<Publisher<'a>>,
    /// The content.
    #[serde(borrow)]
    pub content: Option<Content<'a>>,
}

/// A location.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Geo<'a> {
    /// Latitude.
    pub lat: Option<f64>,
    /// Longitude.
    pub lon: Option<f64>,
    /// Source of the location.
    #[serde(rename = "type")]
    pub kind: Option<u32>,
    /// Country, ISO-3166-1 alpha-3.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub country: Option<Cow<'a, str>>,
    /// Region, ISO-3166-2 subdivision code.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub region: Option<Cow<'a, str>>,
    /// Metro (DMA) code.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub metro: Option<Cow<'a, str>>,
    /// City.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub city: Option<Cow<'a, str>>,
    /// Postal code.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub zip: Option<Cow<'a, str>>,
    /// Minutes from UTC.
    pub utcoffset: Option<i32>,
}

/// The device.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Device<'a> {
    /// User agent.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub ua: Option<Cow<'a, str>>,
    /// Location of the device.
    #[serde(borrow)]
    pub geo: Option<Geo<'a>>,
    /// Do-not-track.
    pub dnt: Option<u8>,
    /// Limit ad tracking: 1 = the user asked not to be tracked.
    pub lmt: Option<u8>,
    /// IPv4 address.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub ip: Option<Cow<'a, str>>,
    /// IPv6 address.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub ipv6: Option<Cow<'a, str>>,
    /// Device type (see [`crate::enums::device_type`]).
    pub devicetype: Option<u32>,
    /// Make.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub make: Option<Cow<'a, str>>,
    /// Model.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub model: Option<Cow<'a, str>>,
    /// Operating system, e.g. `iOS`, `Android`.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub os: Option<Cow<'a, str>>,
    /// OS version.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub osv: Option<Cow<'a, str>>,
    /// Screen width.
    pub w: Option<u32>,
    /// Screen height.
    pub h: Option<u32>,
    /// Browser language, ISO-639-1.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub language: Option<Cow<'a, str>>,
    /// Browser language, BCP 47 (2.6).
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub langb: Option<Cow<'a, str>>,
    /// Connection type.
    pub connectiontype: Option<u32>,
    /// Advertising id (IDFA/GAID), in the clear.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub ifa: Option<Cow<'a, str>>,
    /// JavaScript support.
    pub js: Option<u8>,
}

/// A user's third-party segment from a data provider.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Segment<'a> {
    /// Segment id.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub id: Option<Cow<'a, str>>,
    /// Segment name.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub name: Option<Cow<'a, str>>,
    /// Segment value.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub value: Option<Cow<'a, str>>,
}

/// Data about the user from one provider.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Data<'a> {
    /// Provider id.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub id: Option<Cow<'a, str>>,
    /// Provider name.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub name: Option<Cow<'a, str>>,
    /// Segments.
    #[serde(borrow)]
    pub segment: Vec<Segment<'a>>,
}

/// One id of an extended id source.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Uid<'a> {
    /// The id.
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// Agent type (1 device, 3 person-based).
    pub atype: Option<u32>,
}

/// Extended identifiers from one source (e.g. `uidapi.com`, `id5-sync.com`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Eid<'a> {
    /// Source domain of the ids.
    #[serde(borrow)]
    pub source: Cow<'a, str>,
    /// The ids.
    #[serde(borrow)]
    pub uids: Vec<Uid<'a>>,
}

/// The 2.5-era `user.ext` keys the bidder normalises.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UserExt<'a> {
    /// TCF consent string (2.5 spelling of `user.consent`).
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub consent: Option<Cow<'a, str>>,
    /// Extended ids (2.5 spelling of `user.eids`).
    #[serde(borrow)]
    pub eids: Vec<Eid<'a>>,
}

/// The user.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct User<'a> {
    /// Exchange-specific user id.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub id: Option<Cow<'a, str>>,
    /// Our own user id as synced with the exchange.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub buyeruid: Option<Cow<'a, str>>,
    /// Year of birth.
    pub yob: Option<u32>,
    /// Gender.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub gender: Option<Cow<'a, str>>,
    /// Keywords.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub keywords: Option<Cow<'a, str>>,
    /// Home location.
    #[serde(borrow)]
    pub geo: Option<Geo<'a>>,
    /// Third-party data.
    #[serde(borrow)]
    pub data: Vec<Data<'a>>,
    /// TCF v2 consent string (2.6 place; filled from `ext.consent` for 2.5).
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub consent: Option<Cow<'a, str>>,
    /// Extended ids (2.6 place; filled from `ext.eids` for 2.5).
    #[serde(borrow)]
    pub eids: Vec<Eid<'a>>,
    /// 2.5 extension keys; emptied by normalisation.
    #[serde(borrow)]
    pub ext: Option<UserExt<'a>>,
}

/// One node of a supply chain.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SupplyChainNode<'a> {
    /// Canonical domain of the system.
    #[serde(borrow)]
    pub asi: Cow<'a, str>,
    /// Seller id in that system.
    #[serde(borrow)]
    pub sid: Cow<'a, str>,
    /// Request id in that system.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub rid: Option<Cow<'a, str>>,
    /// 1 = this node was paid.
    pub hp: Option<u8>,
}

/// The supply chain (sellers.json path) of the request.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SupplyChain<'a> {
    /// 1 = the chain is complete back to the publisher.
    pub complete: u8,
    /// Nodes, publisher first.
    #[serde(borrow)]
    pub nodes: Vec<SupplyChainNode<'a>>,
    /// Version, "1.0".
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub ver: Option<Cow<'a, str>>,
}

/// The 2.5-era `source.ext` keys the bidder normalises.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SourceExt<'a> {
    /// Supply chain (2.5 spelling of `source.schain`).
    #[serde(borrow)]
    pub schain: Option<SupplyChain<'a>>,
}

/// Source of the request.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Source<'a> {
    /// 1 = the exchange makes the final sale decision.
    pub fd: Option<u8>,
    /// Transaction id common to all participants.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub tid: Option<Cow<'a, str>>,
    /// Payment id chain.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub pchain: Option<Cow<'a, str>>,
    /// Supply chain (2.6 place; filled from `ext.schain` for 2.5).
    #[serde(borrow)]
    pub schain: Option<SupplyChain<'a>>,
    /// 2.5 extension keys; emptied by normalisation.
    #[serde(borrow)]
    pub ext: Option<SourceExt<'a>>,
}

/// The 2.5-era `regs.ext` keys the bidder normalises.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RegsExt<'a> {
    /// 1 = GDPR applies (2.5 spelling of `regs.gdpr`).
    pub gdpr: Option<u8>,
    /// IAB US Privacy string (2.5 spelling of `regs.us_privacy`).
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub us_privacy: Option<Cow<'a, str>>,
    /// GPP string, as some 2.5 exchanges send it.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub gpp: Option<Cow<'a, str>>,
    /// GPP section ids, as some 2.5 exchanges send them.
    pub gpp_sid: Vec<u32>,
}

/// Regulations in force for this request.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Regs<'a> {
    /// 1 = COPPA applies (child-directed).
    pub coppa: Option<u8>,
    /// 1 = GDPR applies, 0 = it does not, absent = unknown.
    pub gdpr: Option<u8>,
    /// IAB US Privacy string, e.g. `1YNN`.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub us_privacy: Option<Cow<'a, str>>,
    /// IAB GPP string.
    #[serde(borrow, deserialize_with = "crate::borrow::opt_str")]
    pub gpp: Option<Cow<'a, str>>,
    /// GPP sections in force.
    pub gpp_sid: Vec<u32>,
    /// 2.5 extension keys; emptied by normalisation.
    #[serde(borrow)]
    pub ext: Option<RegsExt<'a>>,
}
