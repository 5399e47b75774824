//! A stored fixed creative of a campaign.

use creative::FixedCreative;
use serde::{Deserialize, Serialize};

use super::{CampaignId, UnixTime};

/// Store-assigned creative id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CreativeId(pub i64);

/// Whether a creative may serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreativeStatus {
    /// Serves.
    Active,
    /// Kept, does not serve.
    Paused,
}

/// A fixed creative belonging to one campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Creative {
    /// Id; `crid` on bids is its decimal form.
    pub id: CreativeId,
    /// The campaign it serves for.
    pub campaign_id: CampaignId,
    /// Display name.
    pub name: String,
    /// Whether it serves.
    pub status: CreativeStatus,
    /// The creative itself.
    pub body: FixedCreative,
    /// Incremented on every write; the admin API's ETag.
    pub version: i64,
    /// Creation time.
    pub created_at: UnixTime,
    /// Last update.
    pub updated_at: UnixTime,
}
