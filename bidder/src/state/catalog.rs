//! The catalog source: where the bid path's campaigns come from, and the
//! news that they changed. The seam is [`CatalogSource`]; the embedded
//! implementation reads the SQLite store ([`StoreCatalog`]).
//!
//! # Consistency promise
//! - A writer commits to the store first and then calls
//!   [`CatalogSource::changed`]; every subscriber has been handed a
//!   catalog that includes the write when `changed` returns. So an
//!   acknowledged admin write is live in the bid snapshot before the
//!   acknowledgement.
//! - Each catalog is read in one transaction: campaigns never point at an
//!   advertiser it did not see.
//! - Subscribers are called one at a time, in the order changes committed.
//!
//! # What a change costs
//! A writer that changed only some campaigns (their rows and creatives)
//! says which ([`CatalogSource::campaigns_changed`]): the embedded source
//! keeps the last catalog in memory, reads just those rows and replaces
//! them in place, and tells subscribers which campaigns they were
//! ([`Change::Campaigns`]), so the snapshot builder patches just those.
//! Other writes (advertisers, fragments, funnels, learning counts) reload
//! the whole catalog ([`CatalogSource::changed`], [`Change::Any`]).

use std::sync::{Arc, Mutex};

use crate::model::{CampaignId, Catalog};
use crate::state::StateError;
use crate::store::Store;

/// What a subscriber does with a new catalog and what changed in it
/// (compile and publish a snapshot, say).
pub type OnChange = Box<dyn Fn(&Catalog, Change<'_>) + Send + Sync>;

/// What changed since the catalog a subscriber was handed before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// Anything may have: the catalog is new as a whole.
    Any,
    /// Only these campaigns (their rows or creatives; created or deleted
    /// too); everything else is as before.
    Campaigns(&'a [CampaignId]),
}

/// Where the catalog comes from.
pub trait CatalogSource: Send + Sync {
    /// The whole catalog as committed now.
    fn load(&self) -> Result<Catalog, StateError>;

    /// Calls `on_change` with the new catalog and what changed, after
    /// every change.
    fn subscribe(&self, on_change: OnChange);

    /// After a committed change: hands every subscriber the new catalog,
    /// and returns once they have it.
    fn changed(&self) -> Result<(), StateError>;

    /// After committed writes that changed only the campaigns `ids` (their
    /// rows, their creatives; created or deleted too): as
    /// [`CatalogSource::changed`], reading only those.
    fn campaigns_changed(&self, ids: &[CampaignId]) -> Result<(), StateError> {
        let _ = ids;
        self.changed()
    }
}

/// The catalog in the embedded store, and the last one read, patched in
/// memory where a change names its campaigns.
pub struct StoreCatalog {
    store: Arc<Store>,
    /// The subscribers, and the catalog they were last handed (its lock
    /// is the one that orders changes).
    state: Mutex<Followers>,
}

struct Followers {
    subscribers: Vec<OnChange>,
    last: Option<Catalog>,
}

impl std::fmt::Debug for StoreCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreCatalog").finish_non_exhaustive()
    }
}

impl StoreCatalog {
    /// The catalog of `store`, with no subscriber yet.
    pub fn new(store: Arc<Store>) -> StoreCatalog {
        StoreCatalog {
            store,
            state: Mutex::new(Followers {
                subscribers: Vec::new(),
                last: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Followers> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Followers {
    /// Hands `catalog` to every subscriber and keeps it.
    fn hand_out(&mut self, catalog: Catalog, change: Change<'_>) {
        for s in &self.subscribers {
            s(&catalog, change);
        }
        self.last = Some(catalog);
    }
}

/// `catalog` with the campaigns `ids` (sorted, no repeats) replaced by
/// `campaigns` (those that still exist) and their creatives by
/// `creatives`; every list keeps its order. Rows are replaced in place and
/// a campaign's creatives are one range of the list, so an update costs a
/// search per campaign, not a walk over the catalog.
fn patch(
    catalog: &mut Catalog,
    ids: &[CampaignId],
    campaigns: Vec<crate::model::Campaign>,
    mut creatives: Vec<crate::model::Creative>,
) {
    let mut fresh = campaigns.into_iter().peekable();
    for id in ids {
        let row = fresh.next_if(|c| c.id == *id);
        let list = &mut catalog.campaigns;
        match (list.binary_search_by_key(id, |c| c.id), row) {
            (Ok(at), Some(c)) => list[at] = c,
            (Ok(at), None) => {
                list.remove(at);
            }
            (Err(at), Some(c)) => list.insert(at, c),
            (Err(_), None) => {}
        }
    }
    creatives.sort_by_key(|cr| (cr.campaign_id, cr.id));
    let mut fresh = creatives.into_iter().peekable();
    for &id in ids {
        let list = &mut catalog.creatives;
        let start = list.partition_point(|cr| cr.campaign_id < id);
        let len = list[start..].partition_point(|cr| cr.campaign_id == id);
        let own = std::iter::from_fn(|| fresh.next_if(|cr| cr.campaign_id == id));
        list.splice(start..start + len, own);
    }
}

impl CatalogSource for StoreCatalog {
    fn load(&self) -> Result<Catalog, StateError> {
        Ok(self.store.load_catalog()?)
    }

    fn subscribe(&self, on_change: OnChange) {
        self.lock().subscribers.push(on_change);
    }

    fn changed(&self) -> Result<(), StateError> {
        // Held while loading too: two writers' catalogs reach subscribers
        // in the order they were read, so the later write is never
        // overtaken by the earlier one's catalog.
        let mut followers = self.lock();
        let catalog = self.store.load_catalog()?;
        followers.hand_out(catalog, Change::Any);
        Ok(())
    }

    fn campaigns_changed(&self, ids: &[CampaignId]) -> Result<(), StateError> {
        let mut followers = self.lock();
        let Some(mut catalog) = followers.last.take() else {
            // Nothing kept (the first change, or one that failed): read
            // it all, and say so, as subscribers may have missed a change.
            let catalog = self.store.load_catalog()?;
            followers.hand_out(catalog, Change::Any);
            return Ok(());
        };
        // On an error what was kept stays taken: the next change reads
        // the whole catalog again rather than patch one it cannot trust.
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let (mut campaigns, creatives) = self.store.campaigns_with_creatives(&ids)?;
        campaigns.sort_by_key(|c| c.id);
        patch(&mut catalog, &ids, campaigns, creatives);
        followers.hand_out(catalog, Change::Campaigns(&ids));
        Ok(())
    }
}

/// A catalog held in memory, for tests: what it holds is what `load`
/// returns and what `changed` hands out.
#[cfg(test)]
#[derive(Default)]
pub struct MemoryCatalog {
    /// The catalog.
    pub catalog: Mutex<Catalog>,
    subscribers: Mutex<Vec<OnChange>>,
}

#[cfg(test)]
impl CatalogSource for MemoryCatalog {
    fn load(&self) -> Result<Catalog, StateError> {
        Ok(self
            .catalog
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone())
    }

    fn subscribe(&self, on_change: OnChange) {
        self.subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(on_change);
    }

    fn changed(&self) -> Result<(), StateError> {
        let subscribers = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        let catalog = self.load()?;
        for s in subscribers.iter() {
            s(&catalog, Change::Any);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn every_subscriber_has_the_committed_catalog_when_changed_returns() {
        let store = Arc::new(Store::open_in_memory().unwrap());
        let source = StoreCatalog::new(Arc::clone(&store));
        let seen = Arc::new(Mutex::new(Vec::new()));
        for _ in 0..2 {
            let seen = Arc::clone(&seen);
            source.subscribe(Box::new(move |c: &Catalog, _| {
                seen.lock().unwrap().push(c.advertisers.len())
            }));
        }
        let advertiser = crate::model::Advertiser {
            id: crate::model::AdvertiserId(0),
            name: "Acme".into(),
            domain: "acme.example".into(),
            frequency: Default::default(),
            time_zone: "UTC".into(),
            version: 0,
            created_at: crate::model::UnixTime(0),
            updated_at: crate::model::UnixTime(0),
        };
        store.create_advertiser(&advertiser).unwrap();
        source.changed().unwrap();
        let n = store.load_catalog().unwrap().advertisers.len();
        assert!(n > 0);
        assert_eq!(*seen.lock().unwrap(), vec![n, n]);
    }

    #[test]
    fn a_patched_catalog_is_the_catalog_the_store_holds() {
        use crate::model::{Campaign, Creative, CreativeId, CreativeStatus};
        use openrtb::Micros;
        let store = Arc::new(Store::open_in_memory().unwrap());
        let (advertiser, _) = store.test_funnel();
        for n in 0..3 {
            let c = store
                .create_campaign(&Campaign {
                    name: format!("c{n}"),
                    base_cpm_micros: Micros(1_000_000),
                    max_cpm_micros: Micros(2_000_000),
                    ..Campaign::blank(advertiser)
                })
                .unwrap();
            store
                .create_creative(&Creative {
                    id: CreativeId(0),
                    campaign_id: c.id,
                    name: "mpu".into(),
                    status: CreativeStatus::Active,
                    body: creative::FixedCreative::Html(creative::HtmlCreative {
                        w: 300,
                        h: 250,
                        markup: "<b>ad</b>".into(),
                        landing_url: None,
                    }),
                    version: 0,
                    created_at: crate::model::UnixTime(0),
                    updated_at: crate::model::UnixTime(0),
                })
                .unwrap();
        }
        let source = StoreCatalog::new(Arc::clone(&store));
        let handed = Arc::new(Mutex::new(None));
        let h = Arc::clone(&handed);
        source.subscribe(Box::new(move |c: &Catalog, _| {
            *h.lock().unwrap() = Some(c.clone())
        }));
        source.changed().unwrap();
        let mut c = store.load_catalog().unwrap().campaigns[1].clone();
        c.name = "renamed".into();
        let updated = store.update_campaign(&c).unwrap();
        let creative = store
            .load_catalog()
            .unwrap()
            .creatives
            .into_iter()
            .find(|cr| cr.campaign_id == updated.id)
            .unwrap();
        store
            .delete_creative(creative.id, creative.version)
            .unwrap();
        // A creative newer than every other, of the first campaign: it
        // goes with that campaign's, not at the end.
        let first = store.load_catalog().unwrap().campaigns[0].id;
        let added = store
            .create_creative(&Creative {
                campaign_id: first,
                name: "leaderboard".into(),
                ..creative
            })
            .unwrap();
        source.campaigns_changed(&[updated.id, first]).unwrap();
        let patched = handed.lock().unwrap().clone().unwrap();
        assert_eq!(patched, store.load_catalog().unwrap());
        assert!(patched.campaigns.iter().any(|c| c.name == "renamed"));
        assert_eq!(patched.creatives[1].id, added.id);
        assert!(patched.creatives_of(updated.id).is_empty());
    }

    #[test]
    fn a_memory_catalog_hands_out_what_it_holds() {
        let source = MemoryCatalog::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        source.subscribe(Box::new(move |_, _| {
            c.fetch_add(1, Ordering::Relaxed);
        }));
        source.changed().unwrap();
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert_eq!(source.load().unwrap(), Catalog::default());
    }
}
