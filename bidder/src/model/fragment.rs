//! Creative fragments as stored: versions, review status, the review log,
//! exchanges' creative audits and what was learnt per combination.

use audiences::Stage;
use creative::assembly::{ComboKey, FragmentId};
use creative::fragment::{FragmentBody, FragmentKind};
use serde::{Deserialize, Serialize};

use super::{AdvertiserId, CampaignId, UnixTime};

/// Where a fragment (its latest version) stands in review.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FragmentStatus {
    /// Waiting for a reviewer.
    Pending,
    /// May serve.
    Approved,
    /// Refused, with a reason.
    Rejected,
    /// Withdrawn: no version serves.
    Archived,
}

impl FragmentStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            FragmentStatus::Pending => "pending",
            FragmentStatus::Approved => "approved",
            FragmentStatus::Rejected => "rejected",
            FragmentStatus::Archived => "archived",
        }
    }

    /// The status of a stored name.
    pub fn parse(s: &str) -> Option<FragmentStatus> {
        [
            FragmentStatus::Pending,
            FragmentStatus::Approved,
            FragmentStatus::Rejected,
            FragmentStatus::Archived,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// A fragment as the API shows it: its latest version, and which version
/// serves. Serialized with `kind` and `body` at the top level, as they are
/// uploaded, so what a GET returns can be edited and PUT back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fragment {
    /// Id, the same across versions.
    pub id: FragmentId,
    /// Owner.
    pub advertiser_id: AdvertiserId,
    /// The set campaigns name to use it.
    pub set: String,
    /// Message, content or tone (serialized by `body`).
    #[serde(skip_serializing)]
    pub kind: FragmentKind,
    /// Review status of the latest version (or archived).
    pub status: FragmentStatus,
    /// Why the latest version was rejected.
    pub reason: Option<String>,
    /// Latest version; the ETag.
    pub version: i64,
    /// The approved version that serves, if any.
    pub serving_version: Option<i64>,
    /// The latest version's body.
    #[serde(flatten)]
    pub body: FragmentBody,
    /// Creation time.
    pub created_at: UnixTime,
    /// Last change.
    pub updated_at: UnixTime,
}

/// The version of a fragment that serves: what snapshots are built from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServingFragment {
    /// Id.
    pub id: FragmentId,
    /// Owner.
    pub advertiser_id: AdvertiserId,
    /// Its set.
    pub set: String,
    /// The approved version.
    pub version: i64,
    /// Its body.
    pub body: FragmentBody,
}

/// What happened to a fragment, in its review log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewAction {
    /// Version 1 uploaded.
    Created,
    /// A new version uploaded.
    Edited,
    /// A version approved.
    Approved,
    /// A version rejected.
    Rejected,
    /// Withdrawn.
    Archived,
}

impl ReviewAction {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewAction::Created => "created",
            ReviewAction::Edited => "edited",
            ReviewAction::Approved => "approved",
            ReviewAction::Rejected => "rejected",
            ReviewAction::Archived => "archived",
        }
    }
}

/// One entry of a fragment's review log: who did what to which version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    /// The version acted on.
    pub version: i64,
    /// What was done.
    pub action: ReviewAction,
    /// The API token that did it.
    pub token_id: i64,
    /// Its role then.
    pub role: String,
    /// Rejection reason.
    pub reason: Option<String>,
    /// When.
    pub at: UnixTime,
}

/// An exchange's verdict on one creative.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditStatus {
    /// Not reviewed yet.
    Pending,
    /// Allowed to serve there.
    Approved,
    /// Refused there: never bid with it there.
    Rejected,
}

/// An exchange's audit of one `crid`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Audit {
    /// Exchange name, as in the config.
    pub exchange: String,
    /// The creative.
    pub crid: String,
    /// Its verdict.
    pub status: AuditStatus,
    /// The exchange's reason.
    pub reason: Option<String>,
    /// Last change.
    pub updated_at: UnixTime,
}

/// What one combination did at one stage of one campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComboStats {
    /// The campaign.
    pub campaign_id: CampaignId,
    /// The user's stage (unknown users count as `unaware`).
    pub stage: Stage,
    /// The fragments.
    pub combination: ComboKey,
    /// Impressions.
    pub impressions: u64,
    /// Clicks.
    pub clicks: u64,
    /// Conversions.
    pub conversions: u64,
}
