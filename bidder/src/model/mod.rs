//! The media buyer's world as stored: advertisers, campaigns, fixed
//! creatives, creative fragments, funnels, and who acted on them (token
//! roles, history actors). Plain data with serde; validation lives with the
//! control service layer and the compiled, bid-ready form lives in
//! `bid::snapshot`. Imports nothing else of the crate.
//!
//! Money is [`openrtb::Micros`] throughout; on the admin API's JSON it is an integer
//! number of micros (`"daily_budget_micros": 50000000` is 50.00).

mod actor;
mod advertiser;
mod campaign;
mod catalog;
mod creative;
mod event;
mod fragment;
mod funnel;
mod job;
mod no_bid;

pub use actor::{Actor, Role};
pub use advertiser::{Advertiser, AdvertiserId};
pub use campaign::{
    AdFormat, AudienceTargeting, Campaign, CampaignId, CampaignStatus, CapWindow, FrequencyCap,
    FrequencyRules, Inventory, Learning, ListFilter, Objective, Pacing, PacingMode, Size,
    Targeting,
};
pub use catalog::Catalog;
pub use creative::{Creative, CreativeId, CreativeStatus};
pub use event::{EventKind, EventRecord};
pub use fragment::{
    Audit, AuditStatus, ComboStats, Fragment, FragmentStatus, Review, ReviewAction, ServingFragment,
};
pub use funnel::{Funnel, FunnelMoves, StageNames};
pub use job::{Job, JobId, JobStatus, Rejection, UploadMode};
pub use no_bid::NoBidReason;

/// Seconds since the Unix epoch, UTC.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct UnixTime(pub i64);

impl UnixTime {
    /// The current time.
    pub fn now() -> UnixTime {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        UnixTime(d.as_secs() as i64)
    }
}
