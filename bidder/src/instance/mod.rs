//! The running bidder's shared state: configuration, the published bid
//! snapshot, the audience table, the admin API over the store, and the
//! counters.
//!
//! One `Instance` lives behind an `Arc` for the life of the server. The bid path
//! reads the snapshot through `ArcSwap::load` (no lock, no allocation); only
//! the admin API (cold path) replaces it, after the store has committed.

pub mod chores;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

use crate::bid::snapshot::vast_documents::Documents;
use crate::bid::{ExchangeProfile, FxRates, Settings, Snapshot};
use crate::config::Config;
use crate::control::admin::Admin;
use crate::events::apply::Effects;
use crate::events::billing::BillWriter;
use crate::events::token::Signer;
use crate::events::worker::{EventSink, Republish};
use crate::metrics::Metrics;
use crate::model::{Catalog, UnixTime};
use crate::server::admission::Admission;
use crate::state::audience::{Audience, Loaded};
use crate::state::budget::Ledger;
use crate::state::calendar::Calendar;
use crate::state::frequency::{Frequency, Subject};
use crate::state::reports::ReportSink;
use crate::store::{Store, StoreError};

/// Why the bidder could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened or read.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The exchange-rate table was refused.
    #[error("fx: {0}")]
    Fx(String),
    /// A worker thread could not be started.
    #[error("starting a worker thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Everything a request handler needs.
pub struct Instance {
    /// The configuration it was started with.
    pub config: Config,
    /// Per exchange, what the decision engine needs, in config order.
    pub exchanges: Vec<ExchangeProfile>,
    /// The bid snapshot, replaced whole on every admin write.
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    /// The admin API (blocking; called from `spawn_blocking`).
    pub admin: Admin,
    /// The audience table the bid path reads, and the store behind it.
    pub audience: Arc<Audience>,
    /// What rebuilding the audience table at start found.
    pub audience_loaded: Loaded,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// The embedded store (cold path only).
    pub store: Arc<Store>,
    /// Where accepted events go to be counted.
    pub events: EventSink,
    /// What counted events change (budgets, caps, funnels).
    pub effects: Arc<Effects>,
    /// Writes billing points to the store in groups, before they are answered.
    pub bills: BillWriter,
    /// Where the bid path counts bids and no-bids for reports.
    pub reports: ReportSink,
    /// Every campaign's budget account.
    pub ledger: Arc<Ledger>,
    /// Per-user impression counts.
    pub frequency: Arc<Frequency>,
    /// Bid snapshots published since start.
    pub published: Arc<AtomicU64>,
    /// The runtime's queueing delay, and whether bid requests are shed.
    pub admission: Arc<Admission>,
    /// Connections open now.
    pub connections: AtomicU64,
    draining: AtomicBool,
}

impl Instance {
    /// Loads the catalog from `store`, compiles the first snapshot and wires
    /// the admin API to publish a new one after every committed write.
    pub fn new(config: Config, store: Arc<Store>) -> Result<Instance, StartError> {
        let fx = FxRates::from_map(&config.fx).map_err(|e| StartError::Fx(e.to_string()))?;
        let keys = if config.events.keys.is_empty() {
            vec![store.event_token_key()?]
        } else {
            config.events.keys.clone()
        };
        let ledger = Arc::new(Ledger::new(
            config.events.reservation_ttl_secs,
            Some(Arc::clone(&store)),
        ));
        let frequency = Arc::new(Frequency::new(config.events.frequency_capacity));
        let settings = Arc::new(Settings {
            public_url: config.public_url.clone(),
            fx,
            bid_ttl_secs: config.bid_ttl_secs,
            creative: config.creative,
            signer: Signer::new(&keys, config.events.token_ttl_secs),
            ledger: Arc::clone(&ledger),
            move_ttl_secs: config.events.move_ttl_secs,
            frequency: Arc::clone(&frequency),
        });
        let catalog = store.load_catalog()?;
        let (audience, audience_loaded) = Audience::open(Arc::clone(&store))?;
        let audience = Arc::new(audience);
        let mut documents = Documents::default();
        let first = Snapshot::build_with(&catalog, &settings, &mut documents);
        let snapshot = Arc::new(ArcSwap::from_pointee(first));
        restore_counts(&store, &catalog, &config, &ledger, &frequency)?;

        let published = Arc::new(AtomicU64::new(1));
        let publish = {
            let snapshot = Arc::clone(&snapshot);
            let settings = Arc::clone(&settings);
            let published = Arc::clone(&published);
            // Cold-path writers (the admin API, the event worker) publish
            // one at a time through it. A build that panicked leaves no
            // cache entry a later build could misread, only some to parse
            // again.
            let documents = Mutex::new(documents);
            Arc::new(move |catalog: Catalog| {
                let mut documents = documents.lock().unwrap_or_else(PoisonError::into_inner);
                let next = Snapshot::build_with(&catalog, &settings, &mut documents);
                snapshot.store(Arc::new(next));
                published.fetch_add(1, Ordering::Relaxed);
            })
        };
        let exchanges = config
            .exchanges
            .iter()
            .enumerate()
            .map(|(i, e)| ExchangeProfile {
                name: e.name.clone(),
                // The configuration allows at most 256 exchanges.
                index: i as u8,
                seat: e.seat.clone(),
                currency: e.currency,
                sends_burl: e.sends_burl,
            })
            .collect();
        let metrics = Metrics::new(config.exchanges.iter().map(|e| e.name.clone()).collect());
        let republish: Republish = {
            let (store, publish) = (Arc::clone(&store), Arc::clone(&publish));
            Arc::new(move || match store.load_catalog() {
                Ok(catalog) => publish(catalog),
                Err(e) => tracing::error!(error = %e, "learnt counts not published"),
            })
        };
        let effects = Arc::new(Effects {
            snapshot: Arc::clone(&snapshot),
            audience: Arc::clone(&audience),
            move_ttl_secs: config.events.move_ttl_secs,
            late: Default::default(),
            moved: Default::default(),
        });
        let events = EventSink::start(
            Arc::clone(&store),
            config.events.channel_capacity,
            config.events.learning_republish,
            republish,
            Arc::clone(&metrics.events),
            Arc::clone(&effects),
        );
        let bills = BillWriter::start(Arc::clone(&store))?;
        let config_max_queue_delay = config.max_queue_delay;
        let reports = ReportSink::start(
            Arc::clone(&store),
            config.exchanges.iter().map(|e| e.name.clone()).collect(),
            config.events.channel_capacity,
            config.events.report_flush,
        );
        Ok(Instance {
            admin: Admin::new(Arc::clone(&store), Arc::clone(&audience), publish, settings),
            store,
            events,
            effects,
            bills,
            reports,
            ledger,
            frequency,
            published,
            audience,
            audience_loaded,
            config,
            exchanges,
            snapshot,
            metrics,
            admission: Arc::new(Admission::new(config_max_queue_delay)),
            connections: AtomicU64::new(0),
            draining: AtomicBool::new(false),
        })
    }

    /// What `/metrics` shows beyond the counters.
    pub fn metrics_state(&self) -> crate::metrics::State {
        let now = UnixTime::now();
        crate::metrics::State {
            campaigns: self.snapshot.load().campaign_count(),
            catalog_version: self.published.load(Ordering::Relaxed),
            audience_version: self.audience.table.version(),
            budgets: self
                .ledger
                .accounts()
                .iter()
                .map(|a| (a.id.0, a.state(now)))
                .collect(),
            report_facts_dropped: self.reports.dropped.load(Ordering::Relaxed),
            late_settlements: self.effects.late.load(Ordering::Relaxed),
            funnel_moves: self.effects.moved.load(Ordering::Relaxed),
            connections: self.connections.load(Ordering::Relaxed),
            queue_delay: self.admission.queue_delay(),
        }
    }

    /// Index of the exchange called `name`.
    pub fn exchange_index(&self, name: &str) -> Option<usize> {
        self.config.exchanges.iter().position(|e| e.name == name)
    }

    /// What shutdown does once requests have drained: records the events
    /// still queued, writes the report counts summed so far, and
    /// checkpoints the reservations of bids in flight, so that a graceful
    /// stop loses none of them. Blocking; waits at most `within` per step.
    pub fn flush(&self, within: std::time::Duration) {
        if !self.events.flush(within) {
            tracing::warn!("queued events not recorded before shutdown");
        }
        if !self.reports.flush(within) {
            tracing::warn!("report counts not written before shutdown");
        }
        let now = UnixTime::now();
        if let Err(e) = self
            .store
            .save_reservations(&self.ledger.reservations(now), now)
        {
            tracing::warn!(error = %e, "reservation checkpoint at shutdown failed");
        }
    }

    /// Marks the server as shutting down: `/readyz` answers 503 so load
    /// balancers stop sending while in-flight requests drain.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether new traffic should be sent here.
    pub fn is_ready(&self) -> bool {
        !self.draining.load(Ordering::Relaxed)
    }
}

/// After a restart: holds the reservations the last checkpoint found (bids
/// that may still win), and replays the last week's impressions into the
/// frequency table.
fn restore_counts(
    store: &Store,
    catalog: &Catalog,
    config: &Config,
    ledger: &Ledger,
    frequency: &Frequency,
) -> Result<(), StoreError> {
    let now = UnixTime::now();
    let ttl = i64::from(config.events.reservation_ttl_secs);
    ledger.restore(&store.reservations_since(UnixTime(now.0 - ttl))?, now);
    replay_impressions(store, catalog, frequency, now)
}

/// Counts the week's impressions before `now` again, each in the windows
/// its caps are read in: its campaign's time zone, and its advertiser's.
fn replay_impressions(
    store: &Store,
    catalog: &Catalog,
    frequency: &Frequency,
    now: UnixTime,
) -> Result<(), StoreError> {
    // Each zone once: a catalog has a few zones and many campaigns.
    let zones: std::collections::HashSet<&str> = catalog
        .campaigns
        .iter()
        .map(|c| c.pacing.time_zone.as_str())
        .chain(catalog.advertisers.iter().map(|a| a.time_zone.as_str()))
        .collect();
    let calendars: std::collections::HashMap<&str, Calendar> = zones
        .into_iter()
        .map(|z| (z, Calendar::named(z, now)))
        .collect();
    let advertiser_zone: std::collections::HashMap<_, _> = catalog
        .advertisers
        .iter()
        .map(|a| (a.id, a.time_zone.as_str()))
        .collect();
    let campaign: std::collections::HashMap<_, _> = catalog
        .campaigns
        .iter()
        .map(|c| {
            let theirs = advertiser_zone.get(&c.advertiser_id).copied();
            let zones = (c.pacing.time_zone.as_str(), theirs.unwrap_or("UTC"));
            (c.id, (c.advertiser_id, zones))
        })
        .collect();
    let of = |zone: &str| calendars.get(zone).unwrap_or(&Calendar::Utc);
    for (user, id, at) in store.impressions_since(UnixTime(now.0 - 7 * 86_400))? {
        let user = audiences::keys::UserKey(user);
        let Some(&(advertiser, (own, theirs))) = campaign.get(&id) else {
            frequency.record(user, Subject::Campaign(id), at, &Calendar::Utc);
            continue;
        };
        frequency.record(user, Subject::Campaign(id), at, of(own));
        frequency.record(user, Subject::Advertiser(advertiser), at, of(theirs));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CapWindow, EventRecord, FrequencyCap, FrequencyRules};

    #[test]
    fn replayed_impressions_count_in_their_campaigns_and_advertisers_time_zones() {
        let store = Store::open_in_memory().unwrap();
        crate::control::demo::seed_if_empty(&store).unwrap();
        let mut catalog = store.load_catalog().unwrap();
        // UTC-12 all year: its days run from 12:00 to 12:00 UTC.
        let zone = "Etc/GMT+12";
        catalog.campaigns[0].pacing.time_zone = zone.into();
        let (id, advertiser) = (catalog.campaigns[0].id, catalog.campaigns[0].advertiser_id);
        for a in catalog
            .advertisers
            .iter_mut()
            .filter(|a| a.id == advertiser)
        {
            a.time_zone = zone.into();
        }
        let now = UnixTime::now();
        let noon = (now.0 / 86_400 - 2) * 86_400 + 43_200;
        // Shown at 23:00 and 01:00 UTC: two UTC days, one day of the zone.
        let shown = |at: i64| EventRecord::test_impression(id, 7, UnixTime(at));
        store
            .record_events(&[shown(noon + 11 * 3_600), shown(noon + 13 * 3_600)])
            .unwrap();
        let frequency = Frequency::new(1024);
        replay_impressions(&store, &catalog, &frequency, now).unwrap();
        let two_a_day = FrequencyRules {
            caps: vec![FrequencyCap {
                impressions: 2,
                window: CapWindow::Day,
            }],
            min_gap_secs: 0,
        };
        let user = audiences::keys::UserKey(7);
        let later = UnixTime(noon + 14 * 3_600);
        let own = Calendar::named(zone, now);
        let next_day = UnixTime(noon + 24 * 3_600);
        for subject in [Subject::Campaign(id), Subject::Advertiser(advertiser)] {
            assert!(
                !frequency.allows(user, subject, &two_a_day, later, &own),
                "{subject:?}"
            );
            // The zone's next day starts at noon UTC.
            assert!(
                frequency.allows(user, subject, &two_a_day, next_day, &own),
                "{subject:?}"
            );
        }
    }
}
