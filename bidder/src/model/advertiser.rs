//! An advertiser: the brand campaigns and creatives belong to.

use serde::{Deserialize, Serialize};

use super::{FrequencyRules, UnixTime};

fn utc() -> String {
    "UTC".into()
}

/// Store-assigned advertiser id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AdvertiserId(pub i64);

/// An advertiser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advertiser {
    /// Id.
    pub id: AdvertiserId,
    /// Display name.
    pub name: String,
    /// Main domain, the default `adomain` of its campaigns.
    pub domain: String,
    /// Per-user limits on all its campaigns together.
    #[serde(default)]
    pub frequency: FrequencyRules,
    /// IANA time zone whose days and weeks those limits count in; `UTC` by
    /// default (its campaigns may run in zones of their own).
    #[serde(default = "utc")]
    pub time_zone: String,
    /// Incremented on every write; the admin API's ETag.
    pub version: i64,
    /// Creation time.
    pub created_at: UnixTime,
    /// Last update.
    pub updated_at: UnixTime,
}
