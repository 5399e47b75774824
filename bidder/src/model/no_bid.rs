//! Why the bidder did not bid, as a closed set of reasons counted per
//! exchange and shown in `/metrics`, and their OpenRTB `nbr` codes.

use openrtb::response::nbr;

/// Why a request (or, for the request as a whole, its best candidate) got
/// no bid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoBidReason {
    /// No campaign targets this inventory, geo, device or format.
    NoEligibleCampaign,
    /// Every candidate's max CPM is below the floor.
    BelowFloor,
    /// `bcat` blocks the campaigns' categories.
    BlockedCategory,
    /// `badv` blocks the advertisers' domains.
    BlockedAdvertiser,
    /// `bapp` blocks the advertised apps.
    BlockedApp,
    /// `battr` blocks the creatives' attributes.
    BlockedAttribute,
    /// The site or app is on a campaign's deny list or off its allow list.
    BlockedPublisher,
    /// `wseat`/`bseat` exclude our seat.
    SeatBlocked,
    /// A private auction without one of our deals, or a deals-only campaign
    /// without a deal.
    DealMismatch,
    /// Campaigns fit but none has a creative for the slot (banner size,
    /// native assets; the more telling video, image and secure reasons
    /// below where they apply).
    NoMatchingCreative,
    /// The creative's language is not allowed, or the audience's is not
    /// targeted.
    Language,
    /// No currency both the request allows and we have a rate for.
    UnsupportedCurrency,
    /// The user's funnel stage (or its being unknown) is not targeted.
    AudienceStage,
    /// The `tmax` deadline would have passed.
    Deadline,
    /// The user has seen the campaign (or its advertiser) as often as its
    /// frequency caps allow, or too recently.
    FrequencyCapped,
    /// Spending is ahead of the campaign's pacing curve.
    Paced,
    /// The daily or total budget has no room for the bid.
    BudgetExhausted,
    /// The server was too far behind to answer in time: shed at once,
    /// before parsing ([`crate::server::admission`]).
    Overloaded,
    /// The request could be read but nothing of it can be served: every
    /// imp was skipped (duplicate ids, no usable media, native without
    /// assets, an unreadable floor), or a field the bidder must honour (a
    /// block list, a privacy signal) could not be read
    /// ([`openrtb::Unservable`]).
    InvalidRequest,
    /// No video creative can be served in a VAST version (inline or
    /// wrapper) among the slot's `protocols`.
    VideoProtocol,
    /// No video creative has a media file of a MIME type the slot takes.
    VideoMime,
    /// None of those is delivered (streaming, progressive) as the slot
    /// takes.
    VideoDelivery,
    /// None of those is within the slot's `minbitrate`/`maxbitrate`.
    VideoBitrate,
    /// None of those plays without an API framework (VPAID) the slot
    /// lacks.
    VideoApi,
    /// No video creative lasts as the slot wants (`minduration`,
    /// `maxduration`, `rqddurs`).
    VideoDuration,
    /// The slot's placement, linearity or skip setting excludes the video
    /// creatives.
    VideoPlacement,
    /// A required native image asset: no image or crop of the creatives
    /// is large enough and, for an exact size, within 20 % of its shape.
    NativeImageFit,
    /// The imp is secure (`imp.secure` 1) and the bidder's public URL, or
    /// every creative that fits, has an `http://` URL.
    Insecure,
}

impl NoBidReason {
    /// Every reason, in a stable order (metrics rows).
    pub const ALL: [NoBidReason; 28] = [
        NoBidReason::NoEligibleCampaign,
        NoBidReason::BelowFloor,
        NoBidReason::BlockedCategory,
        NoBidReason::BlockedAdvertiser,
        NoBidReason::BlockedApp,
        NoBidReason::BlockedAttribute,
        NoBidReason::BlockedPublisher,
        NoBidReason::SeatBlocked,
        NoBidReason::DealMismatch,
        NoBidReason::NoMatchingCreative,
        NoBidReason::Language,
        NoBidReason::UnsupportedCurrency,
        NoBidReason::AudienceStage,
        NoBidReason::Deadline,
        NoBidReason::FrequencyCapped,
        NoBidReason::Paced,
        NoBidReason::BudgetExhausted,
        NoBidReason::Overloaded,
        NoBidReason::InvalidRequest,
        NoBidReason::VideoProtocol,
        NoBidReason::VideoMime,
        NoBidReason::VideoDelivery,
        NoBidReason::VideoBitrate,
        NoBidReason::VideoApi,
        NoBidReason::VideoDuration,
        NoBidReason::VideoPlacement,
        NoBidReason::NativeImageFit,
        NoBidReason::Insecure,
    ];

    /// Stable snake_case name, the `reason` label in `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            NoBidReason::NoEligibleCampaign => "no_eligible_campaign",
            NoBidReason::BelowFloor => "below_floor",
            NoBidReason::BlockedCategory => "blocked_category",
            NoBidReason::BlockedAdvertiser => "blocked_advertiser",
            NoBidReason::BlockedApp => "blocked_app",
            NoBidReason::BlockedAttribute => "blocked_attribute",
            NoBidReason::BlockedPublisher => "blocked_publisher",
            NoBidReason::SeatBlocked => "seat_blocked",
            NoBidReason::DealMismatch => "deal_mismatch",
            NoBidReason::NoMatchingCreative => "no_matching_creative",
            NoBidReason::Language => "language",
            NoBidReason::UnsupportedCurrency => "unsupported_currency",
            NoBidReason::AudienceStage => "audience_stage",
            NoBidReason::Deadline => "deadline",
            NoBidReason::FrequencyCapped => "frequency_capped",
            NoBidReason::Paced => "paced",
            NoBidReason::BudgetExhausted => "budget_exhausted",
            NoBidReason::Overloaded => "overloaded",
            NoBidReason::InvalidRequest => "invalid_request",
            NoBidReason::VideoProtocol => "video_protocol",
            NoBidReason::VideoMime => "video_mime",
            NoBidReason::VideoDelivery => "video_delivery",
            NoBidReason::VideoBitrate => "video_bitrate",
            NoBidReason::VideoApi => "video_api",
            NoBidReason::VideoDuration => "video_duration",
            NoBidReason::VideoPlacement => "video_placement",
            NoBidReason::NativeImageFit => "native_image_fit",
            NoBidReason::Insecure => "insecure",
        }
    }

    /// The OpenRTB no-bid reason code. The spec's list describes the
    /// seller's traffic (spiders, proxies, blocked publishers, ...); only a
    /// blocked publisher and a request nothing of which can be served (2,
    /// "invalid request") have codes of their own, and a missed deadline is
    /// the bidder's technical failure. Everything else, a slot no creative
    /// can fill included (that request is valid), is a business decision
    /// the list has no code for: 0, "unknown".
    pub fn nbr_code(self) -> u32 {
        match self {
            NoBidReason::BlockedPublisher => nbr::BLOCKED_PUBLISHER,
            NoBidReason::InvalidRequest => nbr::INVALID_REQUEST,
            NoBidReason::Deadline | NoBidReason::Overloaded => nbr::TECHNICAL_ERROR,
            _ => nbr::UNKNOWN_ERROR,
        }
    }

    /// How far a candidate got before this reason stopped it: when no
    /// candidate bids, the reason reported is that of the candidate that
    /// came closest (a floor miss says more than "not a deals campaign").
    pub fn progress(self) -> u8 {
        match self {
            NoBidReason::NoEligibleCampaign
            | NoBidReason::Deadline
            | NoBidReason::Overloaded
            | NoBidReason::InvalidRequest => 0,
            NoBidReason::DealMismatch => 1,
            NoBidReason::BlockedCategory
            | NoBidReason::BlockedAdvertiser
            | NoBidReason::BlockedApp
            | NoBidReason::BlockedAttribute
            | NoBidReason::BlockedPublisher
            | NoBidReason::SeatBlocked
            | NoBidReason::Language
            | NoBidReason::AudienceStage
            | NoBidReason::FrequencyCapped => 2,
            NoBidReason::UnsupportedCurrency | NoBidReason::BelowFloor => 3,
            // The campaign got as far as its creatives; these say what
            // none of them had.
            NoBidReason::NoMatchingCreative
            | NoBidReason::VideoProtocol
            | NoBidReason::VideoMime
            | NoBidReason::VideoDelivery
            | NoBidReason::VideoBitrate
            | NoBidReason::VideoApi
            | NoBidReason::VideoDuration
            | NoBidReason::VideoPlacement
            | NoBidReason::NativeImageFit
            | NoBidReason::Insecure => 4,
            NoBidReason::Paced | NoBidReason::BudgetExhausted => 5,
        }
    }

    /// Its position in [`NoBidReason::ALL`].
    pub fn index(self) -> usize {
        // ALL lists every variant once, in declaration order.
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_each_reason_at_its_own_index() {
        for (i, r) in NoBidReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{r:?}");
        }
    }

    #[test]
    fn a_request_nothing_of_which_can_be_served_is_an_invalid_request() {
        assert_eq!(NoBidReason::InvalidRequest.nbr_code(), nbr::INVALID_REQUEST);
        assert_eq!(NoBidReason::InvalidRequest.as_str(), "invalid_request");
    }
}
