//! Everything the store holds that the bid path needs, as one value: the
//! input from which each bid snapshot is compiled.

use super::{Advertiser, Campaign, Creative};

/// All advertisers, campaigns and creatives, sorted by id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    /// Advertisers.
    pub advertisers: Vec<Advertiser>,
    /// Campaigns.
    pub campaigns: Vec<Campaign>,
    /// Fixed creatives.
    pub creatives: Vec<Creative>,
}
