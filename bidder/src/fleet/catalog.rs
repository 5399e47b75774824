//! The catalog across a fleet. The control instance commits to SQLite as
//! an embedded bidder does and then publishes the new catalog (learning
//! counts included) as one versioned value; bid instances poll the
//! version and rebuild their snapshot from each new one.
//!
//! # Consistency promise
//! - A change committed on the control instance is live on every bid
//!   instance within 2 s while Redis is up: the control hands it to its
//!   publisher thread at once, and bid instances poll every
//!   [`POLL_EVERY`].
//! - A bid instance always bids from a whole catalog of one version: the
//!   version and the catalog are written by one script and read by one
//!   `MGET` (one slot, `{cat}`).
//! - Redis down, or the control instance down: bid instances keep the
//!   last catalog they hold; the control instance keeps the newest
//!   unpublished one and publishes it once Redis answers.
//! - A value under our keys that is not a catalog is logged, counted
//!   (`bidder_redis_bad_values_total`) and skipped; never a panic.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Once};
use std::time::Duration;

use super::client::Redis;
use super::keys;
use crate::model::{CampaignId, Catalog};
use crate::state::StateError;
use crate::state::catalog::{CatalogSource, Change, OnChange, StoreCatalog};
use crate::store::Store;

/// How often a bid instance asks whether the catalog changed.
pub const POLL_EVERY: Duration = Duration::from_millis(200);

/// Sets the blob and bumps the version in one step.
const PUBLISH: &str = r"
redis.call('SET', KEYS[2], ARGV[1])
return redis.call('INCR', KEYS[1])
";

type Pending = Arc<(Mutex<Option<Vec<u8>>>, Condvar)>;

/// The control instance's catalog: the store's, published to Redis after
/// every change.
pub struct ControlCatalog {
    inner: StoreCatalog,
}

impl ControlCatalog {
    /// The store's catalog, and a publisher thread that puts every new
    /// catalog (and the current one, now) in Redis.
    pub fn start(store: Arc<Store>, redis: Redis) -> Result<ControlCatalog, StateError> {
        let inner = StoreCatalog::new(Arc::clone(&store));
        let pending: Pending = Arc::new((Mutex::new(None), Condvar::new()));
        let hand_over = {
            let pending = Arc::clone(&pending);
            move |c: &Catalog| match serde_json::to_vec(c) {
                Ok(bytes) => {
                    let (slot, wake) = &*pending;
                    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(bytes);
                    wake.notify_one();
                }
                Err(e) => tracing::error!(error = %e, "catalog not serialized"),
            }
        };
        hand_over(&inner.load()?);
        inner.subscribe(Box::new(move |c: &Catalog, _| hand_over(c)));
        std::thread::Builder::new()
            .name("catalog-publisher".into())
            .spawn(move || publish_forever(redis, &pending))
            .map_err(|e| StateError::Unavailable(e.to_string()))?;
        Ok(ControlCatalog { inner })
    }
}

fn publish_forever(mut redis: Redis, pending: &Pending) {
    crate::cold_path::lower_priority();
    let (slot, wake) = &**pending;
    loop {
        let bytes = {
            let mut next = slot.lock().unwrap_or_else(|e| e.into_inner());
            while next.is_none() {
                next = wake.wait(next).unwrap_or_else(|e| e.into_inner());
            }
            next.take().unwrap_or_default()
        };
        let script = redis::Script::new(PUBLISH);
        let published = redis.call(|c| {
            script
                .key(keys::CATALOG_VERSION)
                .key(keys::CATALOG_BLOB)
                .arg(&bytes)
                .invoke::<u64>(c)
        });
        match published {
            Ok(version) => tracing::debug!(version, "catalog published"),
            Err(e) => {
                tracing::warn!(error = %e, "catalog not published; retrying");
                let mut next = slot.lock().unwrap_or_else(|e| e.into_inner());
                // A newer catalog waiting wins over this one.
                next.get_or_insert(bytes);
                drop(next);
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
}

impl CatalogSource for ControlCatalog {
    fn load(&self) -> Result<Catalog, StateError> {
        self.inner.load()
    }

    fn subscribe(&self, on_change: OnChange) {
        self.inner.subscribe(on_change);
    }

    fn changed(&self) -> Result<(), StateError> {
        self.inner.changed()
    }

    fn campaigns_changed(&self, ids: &[CampaignId]) -> Result<(), StateError> {
        self.inner.campaigns_changed(ids)
    }
}

/// A bid instance's catalog: the latest version in Redis, followed.
pub struct FollowCatalog {
    redis: Mutex<Redis>,
    subscribers: Arc<Mutex<Vec<OnChange>>>,
    seen: Arc<AtomicU64>,
    held: Arc<AtomicBool>,
    follow: Once,
}

impl FollowCatalog {
    /// Follows the catalog in `redis`; nothing is read until `load`.
    pub fn new(redis: Redis) -> FollowCatalog {
        FollowCatalog {
            redis: Mutex::new(redis),
            subscribers: Arc::default(),
            seen: Arc::default(),
            held: Arc::default(),
            follow: Once::new(),
        }
    }

    /// True from the first catalog held on (for `/readyz`).
    pub fn held(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.held)
    }
}

/// The catalog in Redis and its version, if there is a readable one.
fn fetch(redis: &mut Redis) -> Result<Option<(u64, Catalog)>, StateError> {
    let (version, blob): (Option<String>, Option<Vec<u8>>) = redis.call(|c| {
        redis::cmd("MGET")
            .arg(keys::CATALOG_VERSION)
            .arg(keys::CATALOG_BLOB)
            .query(c)
    })?;
    let (Some(version), Some(blob)) = (version, blob) else {
        return Ok(None);
    };
    let Ok(version) = version.parse::<u64>() else {
        redis.bad_value(keys::CATALOG_VERSION, "not a number");
        return Ok(None);
    };
    match serde_json::from_slice::<Catalog>(&blob) {
        Ok(c) => Ok(Some((version, c))),
        Err(e) => {
            redis.bad_value(keys::CATALOG_BLOB, &e.to_string());
            Ok(None)
        }
    }
}

impl CatalogSource for FollowCatalog {
    /// The latest catalog in Redis; an empty one when there is none yet
    /// (or Redis is down): the follower hands over the first one found.
    fn load(&self) -> Result<Catalog, StateError> {
        let mut redis = self.redis.lock().unwrap_or_else(|e| e.into_inner());
        match fetch(&mut redis) {
            Ok(Some((version, catalog))) => {
                self.seen.store(version, Ordering::Release);
                self.held.store(true, Ordering::Release);
                Ok(catalog)
            }
            Ok(None) => Ok(Catalog::default()),
            Err(e) => {
                tracing::warn!(error = %e, "no catalog from Redis yet");
                Ok(Catalog::default())
            }
        }
    }

    fn subscribe(&self, on_change: OnChange) {
        self.subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(on_change);
        self.follow.call_once(|| {
            let redis = self
                .redis
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .another();
            let (subscribers, seen, held) = (
                Arc::clone(&self.subscribers),
                Arc::clone(&self.seen),
                Arc::clone(&self.held),
            );
            let spawned = std::thread::Builder::new()
                .name("catalog-follower".into())
                .spawn(move || follow_forever(redis, &subscribers, &seen, &held));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "catalog follower not started");
            }
        });
    }

    /// Nothing to do: the catalog changes on the control instance, which
    /// publishes it (learning counts included).
    fn changed(&self) -> Result<(), StateError> {
        Ok(())
    }
}

fn follow_forever(
    mut redis: Redis,
    subscribers: &Mutex<Vec<OnChange>>,
    seen: &AtomicU64,
    held: &AtomicBool,
) {
    crate::cold_path::lower_priority();
    loop {
        std::thread::sleep(POLL_EVERY);
        let version = redis.call(|c| {
            redis::cmd("GET")
                .arg(keys::CATALOG_VERSION)
                .query::<Option<String>>(c)
        });
        let Some(newer) = version
            .ok()
            .flatten()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|v| *v > seen.load(Ordering::Acquire))
        else {
            continue;
        };
        match fetch(&mut redis) {
            Ok(Some((version, catalog))) => {
                seen.store(version, Ordering::Release);
                let subscribers = subscribers.lock().unwrap_or_else(|e| e.into_inner());
                for s in subscribers.iter() {
                    s(&catalog, Change::Any);
                }
                held.store(true, Ordering::Release);
                tracing::info!(version, "catalog followed");
            }
            // Unreadable (counted): skipped until the next version.
            Ok(None) => seen.store(newer, Ordering::Release),
            Err(e) => tracing::warn!(error = %e, "catalog not read"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_catalog_reads_back_equal_from_its_published_form() {
        let store = Store::open_in_memory().unwrap();
        crate::control::demo::seed_if_empty(&store, "http://bidder.test").unwrap();
        let catalog = store.load_catalog().unwrap();
        assert!(!catalog.campaigns.is_empty());
        let bytes = serde_json::to_vec(&catalog).unwrap();
        assert_eq!(serde_json::from_slice::<Catalog>(&bytes).unwrap(), catalog);
    }
}
