//! A map by campaign id that consecutive snapshots share: its entries sit
//! in a fixed number of shards behind `Arc`s, so a snapshot that changes a
//! few campaigns copies the shards holding them and shares the rest with
//! the snapshot before it.
//!
//! Cold path builds and patches it; the bid path and the event worker
//! only read it. It never grows its shard count, so a lookup is one
//! modulo and one hash-map probe.

use std::collections::HashMap;
use std::sync::Arc;

use crate::model::CampaignId;

/// Shards per map: at 10,000 campaigns a shard holds about 80, which is
/// what a one-campaign change copies.
const SHARDS: usize = 128;

/// Values by campaign id, in shards shared between snapshots.
#[derive(Debug, Clone)]
pub struct ByCampaign<V> {
    shards: Vec<Arc<HashMap<CampaignId, V>>>,
    len: usize,
}

impl<V> Default for ByCampaign<V> {
    fn default() -> Self {
        ByCampaign {
            shards: (0..SHARDS).map(|_| Arc::default()).collect(),
            len: 0,
        }
    }
}

fn shard(id: CampaignId) -> usize {
    // Ids are consecutive, so the remainder spreads them evenly.
    id.0.rem_euclid(SHARDS as i64) as usize
}

impl<V> ByCampaign<V> {
    /// The value of `id`.
    pub fn get(&self, id: &CampaignId) -> Option<&V> {
        self.shards[shard(*id)].get(id)
    }

    /// Whether `id` has a value.
    pub fn contains_key(&self, id: &CampaignId) -> bool {
        self.get(id).is_some()
    }

    /// How many campaigns have a value.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no campaign has a value.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&CampaignId, &V)> {
        self.shards.iter().flat_map(|s| s.iter())
    }
}

impl<V: Clone> ByCampaign<V> {
    /// Sets the value of `id`, copying its shard if another map shares it.
    pub fn insert(&mut self, id: CampaignId, value: V) {
        if Arc::make_mut(&mut self.shards[shard(id)])
            .insert(id, value)
            .is_none()
        {
            self.len += 1;
        }
    }

    /// Drops the value of `id`, copying its shard if another map shares it
    /// and it has one.
    pub fn remove(&mut self, id: &CampaignId) {
        let s = &mut self.shards[shard(*id)];
        if s.contains_key(id) {
            Arc::make_mut(s).remove(id);
            self.len -= 1;
        }
    }
}

impl<V: Clone> FromIterator<(CampaignId, V)> for ByCampaign<V> {
    fn from_iter<I: IntoIterator<Item = (CampaignId, V)>>(entries: I) -> Self {
        let mut map = ByCampaign::default();
        for (id, v) in entries {
            map.insert(id, v);
        }
        map
    }
}

impl<V> std::ops::Index<&CampaignId> for ByCampaign<V> {
    type Output = V;

    fn index(&self, id: &CampaignId) -> &V {
        self.get(id).expect("no value for this campaign")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_copy_shares_the_shards_it_did_not_change() {
        let first: ByCampaign<u32> = (0..1_000).map(|i| (CampaignId(i), i as u32)).collect();
        let mut next = first.clone();
        next.insert(CampaignId(5), 50);
        next.remove(&CampaignId(7));
        next.insert(CampaignId(2_000), 2);
        assert_eq!(
            first.get(&CampaignId(5)),
            Some(&5),
            "the first is untouched"
        );
        assert_eq!(first.len(), 1_000);
        assert_eq!(next.get(&CampaignId(5)), Some(&50));
        assert_eq!(next.get(&CampaignId(7)), None);
        assert_eq!(next[&CampaignId(2_000)], 2);
        assert_eq!(next.len(), 1_000);
        let shared = first
            .shards
            .iter()
            .zip(&next.shards)
            .filter(|(a, b)| Arc::ptr_eq(a, b))
            .count();
        assert_eq!(
            shared,
            SHARDS - 3,
            "only the shards of 5, 7 and 2,000 copied"
        );
    }
}
