//! Everything the store holds that the bid path needs, as one value: the
//! input from which each bid snapshot is compiled.

use serde::{Deserialize, Serialize};

use super::{Advertiser, Campaign, ComboStats, Creative, Funnel, ServingFragment};

/// All advertisers, campaigns and creatives, sorted by id, with the
/// serving fragments, the exchanges' rejections and the learning counts.
/// Serialized whole for a fleet's bid instances (see `fleet::catalog`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// Advertisers.
    pub advertisers: Vec<Advertiser>,
    /// Campaigns.
    pub campaigns: Vec<Campaign>,
    /// Fixed creatives.
    pub creatives: Vec<Creative>,
    /// The approved, serving version of every fragment not archived.
    pub fragments: Vec<ServingFragment>,
    /// `(exchange, crid)` pairs an exchange's audit rejected.
    pub rejected: Vec<(String, String)>,
    /// Impressions and clicks per campaign, stage and combination.
    pub stats: Vec<ComboStats>,
    /// Funnels (for their move rules).
    pub funnels: Vec<Funnel>,
}
