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

use std::sync::{Arc, Mutex};

use crate::model::Catalog;
use crate::state::StateError;
use crate::store::Store;

/// What a subscriber does with a new catalog (compile and publish a
/// snapshot, say).
pub type OnChange = Box<dyn Fn(Catalog) + Send + Sync>;

/// Where the catalog comes from.
pub trait CatalogSource: Send + Sync {
    /// The whole catalog as committed now.
    fn load(&self) -> Result<Catalog, StateError>;

    /// Calls `on_change` with the new catalog after every change.
    fn subscribe(&self, on_change: OnChange);

    /// After a committed change: hands every subscriber the new catalog,
    /// and returns once they have it.
    fn changed(&self) -> Result<(), StateError>;
}

/// The catalog in the embedded store.
pub struct StoreCatalog {
    store: Arc<Store>,
    subscribers: Mutex<Vec<OnChange>>,
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
            subscribers: Mutex::new(Vec::new()),
        }
    }
}

impl CatalogSource for StoreCatalog {
    fn load(&self) -> Result<Catalog, StateError> {
        Ok(self.store.load_catalog()?)
    }

    fn subscribe(&self, on_change: OnChange) {
        self.subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(on_change);
    }

    fn changed(&self) -> Result<(), StateError> {
        // Held while loading too: two writers' catalogs reach subscribers
        // in the order they were read, so the later write is never
        // overtaken by the earlier one's catalog.
        let subscribers = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        let catalog = self.store.load_catalog()?;
        if let Some((last, rest)) = subscribers.split_last() {
            for s in rest {
                s(catalog.clone());
            }
            last(catalog);
        }
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
        for s in subscribers.iter() {
            s(self.load()?);
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
            source.subscribe(Box::new(move |c: Catalog| {
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
    fn a_memory_catalog_hands_out_what_it_holds() {
        let source = MemoryCatalog::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        source.subscribe(Box::new(move |_| {
            c.fetch_add(1, Ordering::Relaxed);
        }));
        source.changed().unwrap();
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert_eq!(source.load().unwrap(), Catalog::default());
    }
}
