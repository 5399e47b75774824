//! Everything the store holds that the bid path needs, as one value: the
//! input from which each bid snapshot is compiled.

use serde::{Deserialize, Serialize};

use super::{Advertiser, Campaign, CampaignId, ComboStats, Creative, Funnel, ServingFragment};

/// All advertisers and campaigns, sorted by id, their creatives grouped by
/// campaign, with the serving fragments, the exchanges' rejections and the
/// learning counts. Serialized whole for a fleet's bid instances (see
/// `fleet::catalog`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// Advertisers.
    pub advertisers: Vec<Advertiser>,
    /// Campaigns.
    pub campaigns: Vec<Campaign>,
    /// Fixed creatives, sorted by campaign and then by id, so that a
    /// campaign's are one range ([`Catalog::creatives_of`]).
    pub creatives: Vec<Creative>,
    /// The approved, serving version of every fragment not archived.
    pub fragments: Vec<ServingFragment>,
    /// `(exchange, crid)` pairs an exchange's audit rejected.
    pub rejected: Vec<(String, String)>,
    /// Impressions and clicks per campaign, stage and combination, sorted
    /// so ([`Catalog::stats_of`]).
    pub stats: Vec<ComboStats>,
    /// Funnels (for their move rules).
    pub funnels: Vec<Funnel>,
}

impl Catalog {
    /// The creatives of `campaign`, by id: a binary search, so a write to
    /// one campaign does not walk the creatives of all of them.
    pub fn creatives_of(&self, campaign: CampaignId) -> &[Creative] {
        range_of(&self.creatives, campaign, |cr| cr.campaign_id)
    }

    /// The learning counts of `campaign`, found as its creatives are.
    pub fn stats_of(&self, campaign: CampaignId) -> &[ComboStats] {
        range_of(&self.stats, campaign, |s| s.campaign_id)
    }
}

/// The range of `list` (grouped by campaign, campaigns ascending) that
/// belongs to `campaign`.
fn range_of<T>(list: &[T], campaign: CampaignId, of: impl Fn(&T) -> CampaignId) -> &[T] {
    let start = list.partition_point(|x| of(x) < campaign);
    let len = list[start..].partition_point(|x| of(x) == campaign);
    &list[start..start + len]
}
