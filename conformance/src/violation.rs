//! What a check finds: a [`Violation`] names where the answer breaks a
//! rule, which [`Rule`], and what a person needs to know to fix it.

use std::fmt;

/// One broken rule in one place of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where: a JSON path into the answer (`seatbid[0].bid[1].price`), an
    /// element path into a VAST document (`VAST/Ad[0]/InLine/AdTitle`), or
    /// both joined by `:` when a document sits in a field of the answer.
    pub path: String,
    /// Which rule, for tests and tallies.
    pub rule: Rule,
    /// What is wrong, with the values involved, for a person.
    pub message: String,
}

impl Violation {
    pub(crate) fn new(path: impl Into<String>, rule: Rule, message: impl Into<String>) -> Self {
        Violation {
            path: path.into(),
            rule,
            message: message.into(),
        }
    }

    /// The same violation found inside the document at `outer`.
    pub(crate) fn within(mut self, outer: &str) -> Self {
        self.path = format!("{outer}:{}", self.path);
        self
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} [{}]", self.path, self.message, self.rule)
    }
}

/// The rules, each from the spec that states it. Section numbers are
/// those of OpenRTB 2.6 and of Native 1.2; VAST rules name the elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// A valid request is answered `200` with a response or `204` without
    /// one (OpenRTB 2.6 §7.1, no-bid signalling).
    Status,
    /// A `204 No Content` carries no body.
    NoContentBody,
    /// A `200` body is one JSON object.
    Body,
    /// `id` of the response is the request's `id` (§4.2.1); required when
    /// the response carries bids.
    ResponseId,
    /// The response's `cur` (default `USD`) is one the request allows in
    /// its `cur` (`USD` when it names none) (§3.2.1, §4.2.1).
    Currency,
    /// `seatbid` is an array; each seat bid holds a non-empty `bid` array
    /// (§4.2.2).
    SeatBid,
    /// The seat bids on behalf of a buyer the request allows: in `wseat`
    /// when given, not in `bseat`, in a deal's `wseat` (§3.2.1, §3.2.12).
    Seat,
    /// A bid has its required `id`, `impid` and `price`, of their types
    /// (§4.2.3).
    BidFields,
    /// `impid` names an imp of the request (§4.2.3).
    ImpId,
    /// At most one bid per imp: the exchange runs one auction per imp and
    /// this bidder offers no multi-bid.
    OneBidPerImp,
    /// `price` is a positive number (§4.2.3).
    Price,
    /// `price` is at least the floor: the deal's `bidfloor` for a deal bid,
    /// else the imp's, when the answer's currency is the floor's
    /// `bidfloorcur` (default `USD`) (§3.2.4, §3.2.12).
    Floor,
    /// The bid carries its markup in `adm` or a win notice `nurl` that
    /// returns it (§4.2.3).
    Markup,
    /// `crid` names the creative, for ad quality review (§4.2.3, §4.3.2).
    Crid,
    /// `adomain` names the advertiser, for block-list checks (§4.2.3).
    Adomain,
    /// No advertiser domain of the bid is in the request's `badv`, or
    /// outside a deal's `wadomain` (§3.2.1, §3.2.12).
    BlockedAdvertiser,
    /// No category of the bid is in `bcat`, and all are in `acat` when the
    /// request lists allowed ones (§3.2.1).
    BlockedCategory,
    /// The bid's app `bundle` is not in `bapp` (§3.2.1).
    BlockedApp,
    /// No creative attribute of the bid (`attr`) is in the `battr` of the
    /// object it answers (§3.2.6-3.2.9).
    BlockedAttribute,
    /// `dealid` is the `id` of one of the imp's deals, and present when the
    /// imp's auction is private to its deals (`pmp.private_auction` 1)
    /// (§3.2.11, §4.2.3).
    Deal,
    /// `mtype` (or, without it, the markup) says which of the imp's
    /// objects the bid answers, and the imp offers that object (§4.2.3).
    MediaType,
    /// A banner bid's `w`×`h` is a size the banner asked for in `format`
    /// or `w`/`h`, or fits one of its flexible formats (§3.2.6, §3.2.10).
    BannerSize,
    /// The markup of a video or audio bid is a VAST document (§3.2.7,
    /// §3.2.8).
    VastMarkup,
    /// A video or audio ad lasts between the object's `minduration` and
    /// `maxduration`, or exactly one of its `rqddurs` when it lists them
    /// (§3.2.7, §3.2.8).
    AdDuration,
    /// A linear ad has a media file of a MIME type the object lists in
    /// `mimes` (§3.2.7, §3.2.8).
    MimeType,
    /// The VAST document's version is one the object lists in `protocols`
    /// (or the older single `protocol`), as an inline ad or a wrapper as
    /// its ads are (AdCOM 1.0 "Creative Subtypes - Audio/Video": 2, 3, 7,
    /// 11, 13 inline VAST 2.0 to 4.2; 5, 6, 8, 12, 14 their wrappers)
    /// (§3.2.7, §3.2.8).
    VastProtocol,
    /// A linear ad has a media file delivered as the object takes
    /// (`delivery`: 1 streaming, 2 progressive) (§3.2.7).
    Delivery,
    /// A linear ad has a media file whose stated bit rate (`bitrate`, or
    /// `minBitrate`..`maxBitrate`) meets the object's `minbitrate` and
    /// `maxbitrate`, or one that states none (§3.2.7).
    Bitrate,
    /// On a secure imp (`imp.secure` 1) every URL of the bid is https: its
    /// notices and every URL its markup names (namespace names aside)
    /// (§3.2.4).
    Secure,
    /// A native bid's markup, and the imp's native request, are Native
    /// markup JSON, bare or under a `native` key (Native 1.2 §4.1, §5.1).
    NativeMarkup,
    /// The native response has a `link` with a `url` (Native 1.2 §5.1,
    /// §5.7), and so has every asset `link`.
    NativeLink,
    /// Every required asset of the native request is answered by an asset
    /// of the same `id` and kind, with its value; every answered asset was
    /// requested (Native 1.2 §4.2, §5.2-5.6).
    NativeAsset,
    /// Title text and data values are no longer than the request's `len`
    /// (Native 1.2 §4.3, §4.6).
    NativeLength,
    /// An image is at least the request's `wmin`×`hmin` (without a
    /// minimum, its `w`×`h`), and when the request gives an exact `w`×`h`,
    /// within 20 % of its aspect ratio: the tolerance this project holds
    /// itself to where the spec says "exact" (Native 1.2 §4.4, §5.4).
    NativeImageSize,
    /// Event trackers use events and methods the request offered (none,
    /// when it offers none), with a `url` for image and JavaScript
    /// trackers; an answer to a Native 1.0 or 1.1 request, whose exchange
    /// reads no `eventtrackers`, tracks impressions in `imptrackers` or
    /// `jstracker` (Native 1.2 §4.7, §5.1, §5.8).
    NativeTracker,
    /// The response's `ver` is not newer than the request's (a 1.1
    /// exchange reads 1.1 markup) (Native 1.2 §4.1, §5.1).
    NativeVersion,
    /// The VAST document is well-formed XML without a DTD.
    VastXml,
    /// The root is `<VAST>` with a `version` of VAST 2, 3 or 4.
    VastRoot,
    /// The document holds at least one `<Ad>`, each with exactly one
    /// `<InLine>` or `<Wrapper>`.
    VastAd,
    /// An element VAST requires is present: `<AdSystem>`, `<Impression>`,
    /// `<AdTitle>`, `<Creatives>`, `<VASTAdTagURI>`, a `<Linear>`'s
    /// `<Duration>` and `<MediaFiles>`, and the 4.x additions.
    VastRequired,
    /// A time (`<Duration>`, `skipoffset`) is `HH:MM:SS` or `HH:MM:SS.mmm`
    /// (or a percentage, for `skipoffset`).
    VastTime,
    /// A `<MediaFile>` has its `delivery`, `type`, `width` and `height`
    /// attributes, valid, and a URI.
    VastMediaFile,
    /// A URI element (trackers, click-throughs, resources, the wrapped
    /// tag) is not empty.
    VastUri,
}

impl Rule {
    /// A short stable name, `object.rule`.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Status => "answer.status",
            Rule::NoContentBody => "answer.no_content",
            Rule::Body => "answer.body",
            Rule::ResponseId => "response.id",
            Rule::Currency => "response.cur",
            Rule::SeatBid => "seatbid.bid",
            Rule::Seat => "seatbid.seat",
            Rule::BidFields => "bid.fields",
            Rule::ImpId => "bid.impid",
            Rule::OneBidPerImp => "bid.one_per_imp",
            Rule::Price => "bid.price",
            Rule::Floor => "bid.floor",
            Rule::Markup => "bid.markup",
            Rule::Crid => "bid.crid",
            Rule::Adomain => "bid.adomain",
            Rule::BlockedAdvertiser => "bid.badv",
            Rule::BlockedCategory => "bid.bcat",
            Rule::BlockedApp => "bid.bapp",
            Rule::BlockedAttribute => "bid.battr",
            Rule::Deal => "bid.dealid",
            Rule::MediaType => "bid.mtype",
            Rule::BannerSize => "banner.size",
            Rule::VastMarkup => "video.vast",
            Rule::AdDuration => "video.duration",
            Rule::MimeType => "video.mimes",
            Rule::VastProtocol => "video.protocols",
            Rule::Delivery => "video.delivery",
            Rule::Bitrate => "video.bitrate",
            Rule::Secure => "bid.secure",
            Rule::NativeMarkup => "native.markup",
            Rule::NativeLink => "native.link",
            Rule::NativeAsset => "native.asset",
            Rule::NativeLength => "native.len",
            Rule::NativeImageSize => "native.img_size",
            Rule::NativeTracker => "native.eventtracker",
            Rule::NativeVersion => "native.ver",
            Rule::VastXml => "vast.xml",
            Rule::VastRoot => "vast.root",
            Rule::VastAd => "vast.ad",
            Rule::VastRequired => "vast.required",
            Rule::VastTime => "vast.time",
            Rule::VastMediaFile => "vast.media_file",
            Rule::VastUri => "vast.uri",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_violation_shows_path_message_and_rule() {
        let v = Violation::new("seatbid[0].bid[0].price", Rule::Price, "is 0");
        assert_eq!(v.to_string(), "seatbid[0].bid[0].price: is 0 [bid.price]");
    }

    #[test]
    fn a_violation_inside_a_document_keeps_the_outer_path_first() {
        let v = Violation::new("VAST/Ad[0]", Rule::VastAd, "empty").within("seatbid[0].bid[0].adm");
        assert_eq!(v.path, "seatbid[0].bid[0].adm:VAST/Ad[0]");
    }
}
