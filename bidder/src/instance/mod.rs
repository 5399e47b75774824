//! One running bidder instance: its configuration, the published bid
//! snapshot, the shared state behind its seams ([`crate::state`]), the
//! workers of the event path and the counters, wired together once at
//! start.
//!
//! One `Instance` lives behind an `Arc` for the life of the server. The
//! bid path reads the snapshot through `ArcSwap::load` (no lock, no
//! allocation); only the catalog source's subscriber (cold path) replaces
//! it, after the store has committed.
//!
//! - [`chores`]: the timers (budget days, reservation checkpoints, sweeps).
//! - `restore`: what a restart takes back from the store.
//! - `retire`: where replaced snapshots are freed.

pub mod chores;
mod restore;
mod retire;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

use crate::bid::sample::Samples;
use crate::bid::snapshot::vast_documents::Documents;
use crate::bid::{ExchangeProfile, FxRates, Settings, Snapshot};
use crate::config::{Config, Role};
use crate::control::admin::Admin;
use crate::control::console::Console;
use crate::control::service::{Explainer, Services};
use crate::events::apply::{Effects, Reaction};
use crate::events::token::Signer;
use crate::events::worker::EventSink;
use crate::events::writer::EventWriter;
use crate::fleet::ControlInfo;
use crate::fleet::FleetInfo;
use crate::fleet::audience::{ControlAudiences, FollowAudiences};
use crate::fleet::catalog::{ControlCatalog, FollowCatalog};
use crate::fleet::client::{Redis, RedisStats};
use crate::fleet::events::{FleetLog, Spool};
use crate::live::Traffic;
use crate::metrics::Metrics;
use crate::model::Catalog;
use crate::model::EventKind;
use crate::server::admission::Admission;
use crate::state::StateError;
use crate::state::audience::{Audience, Audiences, Loaded};
use crate::state::budget::{Budgets, Ledger};
use crate::state::catalog::{CatalogSource, Change, StoreCatalog};
use crate::state::clock::{SharedClock, SystemClock};
use crate::state::event_log::EventLog;
use crate::state::frequency::{Frequency, FrequencyCounts};
use crate::state::reports::{ChannelReports, ReportSink};
use crate::store::{Store, StoreError};

/// What the snapshot builder keeps between two publishes.
struct Builder {
    /// VAST documents parsed for the last snapshot.
    documents: Documents,
    /// Frees the snapshots publishes replace, off the writer's path.
    retired: retire::Retirer,
}

/// Why the bidder could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened or read.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Shared state could not be read.
    #[error("state: {0}")]
    State(#[from] StateError),
    /// The exchange-rate table was refused.
    #[error("fx: {0}")]
    Fx(String),
    /// A worker thread could not be started.
    #[error("starting a worker thread: {0}")]
    Thread(#[from] std::io::Error),
    /// A fleet's seams were asked for without `--redis`.
    #[error("not configured as a fleet instance (no redis URL)")]
    NotAFleet,
}

/// Everything a request handler needs.
pub struct Instance {
    /// The configuration it was started with.
    pub config: Config,
    /// Per exchange, what the decision engine needs, in config order.
    pub exchanges: Vec<ExchangeProfile>,
    /// The bid snapshot, replaced whole on every catalog change.
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    /// The admin API (blocking; called from `spawn_blocking`).
    pub admin: Admin,
    /// The console's pages, over the same services (blocking too).
    pub console: Console,
    /// The audiences the bid path reads.
    pub audience: Arc<dyn Audiences>,
    /// What rebuilding the audience table at start found.
    pub audience_loaded: Loaded,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// A few recent bid requests, stripped, for the explain page.
    pub samples: Arc<Samples>,
    /// The last minute of the counters, for the console's live view.
    pub traffic: Arc<Traffic>,
    /// The embedded store (cold path only).
    pub store: Arc<Store>,
    /// What counted impressions and clicks change next (caps, funnels,
    /// learning), after they are recorded.
    pub events: EventSink,
    /// What counted events change (budgets, caps, funnels).
    pub effects: Arc<Effects>,
    /// Writes accepted events to the event log in groups, before they
    /// are answered.
    pub writer: EventWriter,
    /// Where the bid path counts bids and no-bids for reports.
    pub reports: Arc<dyn ReportSink>,
    /// Every campaign's budget account.
    pub budgets: Arc<dyn Budgets>,
    /// Per-user impression counts.
    pub frequency: Arc<dyn FrequencyCounts>,
    /// Signs the token of every notice and tracker URL, and checks it when
    /// the URL is called.
    pub signer: Signer,
    /// The clock every piece of state reads.
    pub clock: SharedClock,
    /// Bid snapshots published since start.
    pub published: Arc<AtomicU64>,
    /// The runtime's queueing delay, and whether bid requests are shed.
    pub admission: Arc<Admission>,
    /// Connections open now.
    pub connections: AtomicU64,
    /// In a fleet: its role, the control instance's URL, Redis counters.
    pub fleet: Option<FleetInfo>,
    /// Whether a snapshot of a real catalog is held (a fleet's bid
    /// instance holds none until it has read one from Redis).
    held: Arc<AtomicBool>,
    /// Whether the audience table is loaded (a fleet's bid instance
    /// loads the control instance's members from Redis first).
    audience_ready: Arc<AtomicBool>,
    draining: AtomicBool,
}

/// The shared state one instance runs on, one implementation per seam
/// ([`crate::state`]). [`Seams::embedded`] is the default (atomics, the
/// audience table and the SQLite store); a fleet or a test replaces some.
pub struct Seams {
    /// The clock every piece of state reads.
    pub clock: SharedClock,
    /// Every campaign's budget account.
    pub budgets: Arc<dyn Budgets>,
    /// Per-user impression counts.
    pub frequency: Arc<dyn FrequencyCounts>,
    /// The audiences the bid path reads.
    pub audience: Arc<dyn Audiences>,
    /// What loading the audiences at start found.
    pub audience_loaded: Loaded,
    /// Where the catalog comes from and who is told it changed.
    pub catalog: Arc<dyn CatalogSource>,
    /// Where events are recorded, once each.
    pub event_log: Arc<dyn EventLog>,
    /// Where the bid path counts bids and no-bids.
    pub reports: Arc<dyn ReportSink>,
    /// True once a catalog is held; `/readyz` answers 503 before.
    pub held: Arc<AtomicBool>,
    /// True once the audience table is loaded; `/readyz` answers 503
    /// before.
    pub audience_ready: Arc<AtomicBool>,
    /// Keys of event tokens when the configuration names none (a fleet's
    /// bid instance takes the control instance's); `None`: the store's.
    pub token_keys: Option<Vec<[u8; 32]>>,
    /// In a fleet: what the server needs to know of it.
    pub fleet: Option<FleetInfo>,
}

impl Seams {
    /// The embedded implementations on `store`, reading time from `clock`:
    /// budgets in atomics with spend from the store, frequency counts in a
    /// table of `config.events.frequency_capacity`, the audience table
    /// rebuilt from the store, the store's catalog and event log, and the
    /// report worker writing to the store.
    pub fn embedded(
        config: &Config,
        store: &Arc<Store>,
        clock: SharedClock,
    ) -> Result<Seams, StartError> {
        let (audience, audience_loaded) = Audience::open(Arc::clone(store), Arc::clone(&clock))?;
        Ok(Seams::embedded_with(
            config,
            store,
            clock,
            Arc::new(audience),
            audience_loaded,
        ))
    }

    /// The embedded implementations, with `audience` loaded from `store`
    /// already.
    fn embedded_with(
        config: &Config,
        store: &Arc<Store>,
        clock: SharedClock,
        audience: Arc<dyn Audiences>,
        audience_loaded: Loaded,
    ) -> Seams {
        Seams {
            budgets: Arc::new(Ledger::new(
                config.max_notice_window_secs(),
                Some(Arc::clone(store)),
            )),
            frequency: Arc::new(Frequency::new(config.events.frequency_capacity)),
            audience,
            audience_loaded,
            catalog: Arc::new(StoreCatalog::new(Arc::clone(store))),
            event_log: Arc::clone(store) as Arc<dyn EventLog>,
            reports: Arc::new(ChannelReports::start(
                Arc::clone(store),
                config.exchanges.iter().map(|e| e.name.clone()).collect(),
                config.events.channel_capacity,
                config.events.report_flush,
            )),
            clock,
            held: Arc::new(AtomicBool::new(true)),
            audience_ready: Arc::new(AtomicBool::new(true)),
            token_keys: None,
            fleet: None,
        }
    }

    /// The seams of a fleet's control instance: the embedded ones, its
    /// catalog published to Redis after every change, and what every
    /// instance needs to know (its URL, the token keys, the audience
    /// secret) published at start.
    pub fn fleet_control(
        config: &Config,
        store: &Arc<Store>,
        clock: SharedClock,
    ) -> Result<Seams, StartError> {
        let fleet = config.fleet.as_ref().ok_or(StartError::NotAFleet)?;
        let stats = Arc::new(RedisStats::default());
        let redis = Redis::new(fleet.redis.clone(), Arc::clone(&stats));
        let (audience, audience_loaded) = Audience::open(Arc::clone(store), Arc::clone(&clock))?;
        let audience = ControlAudiences::start(audience, redis.another())?;
        let mut seams =
            Seams::embedded_with(config, store, Arc::clone(&clock), audience, audience_loaded);
        let ledger = Arc::new(Ledger::new(
            config.max_notice_window_secs(),
            Some(Arc::clone(store)),
        ));
        seams.budgets = Arc::clone(&ledger) as Arc<dyn Budgets>;
        let leases = share_budgets(&redis, &ledger, &clock)?;
        let (log, spool) = fleet_log(config, &redis)?;
        seams.event_log = log;
        let control_url = fleet
            .control_url
            .clone()
            .unwrap_or_else(|| config.public_url.clone());
        let info = ControlInfo {
            url: control_url.clone(),
            token_keys: if config.events.keys.is_empty() {
                vec![store.event_token_key()?]
            } else {
                config.events.keys.clone()
            },
            audience_secret: store.audience_secret()?,
        };
        let mut publisher = redis.another();
        std::thread::Builder::new()
            .name("control-info".into())
            .spawn(move || {
                // Until Redis answers: bid instances wait for it.
                while let Err(e) = crate::fleet::publish_control(&mut publisher, &info) {
                    tracing::warn!(error = %e, "control instance not yet published to Redis");
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
            })?;
        let catalog = Arc::new(ControlCatalog::start(Arc::clone(store), redis.another())?);
        seams.catalog = Arc::clone(&catalog) as Arc<dyn CatalogSource>;
        let lag = Arc::new(std::sync::atomic::AtomicI64::new(0));
        let effects: Arc<crate::fleet::EffectsSlot> = Arc::default();
        {
            let (effects, ledger) = (Arc::clone(&effects), Arc::clone(&ledger));
            let (store, mut redis) = (Arc::clone(store), redis.another());
            let republish = config.events.learning_republish;
            let mut last_learnt: Option<std::time::Instant> = None;
            crate::fleet::events::start_consumer(
                redis.another(),
                Arc::clone(&lag),
                move |events| {
                    let recorded = store.record_events(events)?;
                    let mut touched = std::collections::BTreeSet::new();
                    let mut learnt = false;
                    let mut moves = Vec::new();
                    let effects = effects.0.get();
                    for (e, r) in events.iter().zip(&recorded) {
                        if r.settles {
                            touched.insert(e.campaign);
                        }
                        // Funnel moves of notices any instance took: made
                        // (and published to every instance) here. A move
                        // this instance made already is not made twice.
                        if let (true, false, Some(fx), Some(user)) =
                            (r.fresh, r.conflict, effects, e.user_key)
                        {
                            let reaction = match e.kind {
                                EventKind::Impression => Some(Reaction::Impression),
                                EventKind::Click => Some(Reaction::Click),
                                _ => None,
                            };
                            if let (Some(reaction), Some(adv)) =
                                (reaction, fx.advertiser(e.campaign))
                            {
                                fx.moves_for(
                                    adv,
                                    audiences::keys::UserKey(user),
                                    reaction,
                                    &mut moves,
                                );
                            }
                        }
                        learnt |= r.fresh
                            && !r.conflict
                            && e.combo.is_some()
                            && matches!(e.kind, EventKind::Impression | EventKind::Click);
                    }
                    if let Some(fx) = effects {
                        fx.advance(&moves);
                    }
                    let now = clock.now();
                    for id in touched {
                        if let Err(e) = crate::fleet::spend::publish(&mut redis, &ledger, id, now) {
                            tracing::warn!(error = %e, campaign = id.0, "spend not published");
                        }
                    }
                    // The learning counts are in the catalog: publishing it
                    // hands every instance what the events taught.
                    if learnt && last_learnt.is_none_or(|t| t.elapsed() >= republish) {
                        last_learnt = Some(std::time::Instant::now());
                        catalog.changed()?;
                    }
                    Ok(())
                },
            )?;
        }
        seams.fleet = Some(FleetInfo {
            role: Role::Control,
            control_url,
            stats,
            spool,
            lag,
            effects,
            ledger,
            leases,
            audience_lag: Arc::default(),
        });
        Ok(seams)
    }

    /// The seams of a fleet's bid instance: the catalog followed from
    /// Redis, the control instance's token keys and audience secret
    /// (waits until it has published them), and `store` (its own, in its
    /// data dir) for what stays local.
    pub fn fleet_bid(
        config: &Config,
        store: &Arc<Store>,
        clock: SharedClock,
    ) -> Result<Seams, StartError> {
        let fleet = config.fleet.as_ref().ok_or(StartError::NotAFleet)?;
        let stats = Arc::new(RedisStats::default());
        let mut redis = Redis::new(fleet.redis.clone(), Arc::clone(&stats));
        let info = crate::fleet::wait_for_control(&mut redis);
        let (event_log, spool) = fleet_log(config, &redis)?;
        let ledger = Arc::new(Ledger::new(config.max_notice_window_secs(), None));
        crate::fleet::spend::start_sync(redis.another(), Arc::clone(&ledger))?;
        let leases = share_budgets(&redis, &ledger, &clock)?;
        let audience =
            FollowAudiences::start(info.audience_secret, Arc::clone(&clock), redis.another())?;
        let audience_lag = audience.lag();
        let catalog = FollowCatalog::new(redis);
        Ok(Seams {
            budgets: Arc::clone(&ledger) as Arc<dyn Budgets>,
            frequency: Arc::new(Frequency::new(config.events.frequency_capacity)),
            audience_ready: audience.ready(),
            audience: Arc::new(audience),
            audience_loaded: Loaded {
                users: 0,
                expired: 0,
                interrupted_jobs: 0,
                took: std::time::Duration::ZERO,
            },
            held: catalog.held(),
            catalog: Arc::new(catalog),
            event_log,
            reports: Arc::new(ChannelReports::start(
                Arc::clone(store),
                config.exchanges.iter().map(|e| e.name.clone()).collect(),
                config.events.channel_capacity,
                config.events.report_flush,
            )),
            clock,
            token_keys: Some(info.token_keys),
            fleet: Some(FleetInfo {
                role: Role::Bid,
                control_url: fleet.control_url.clone().unwrap_or(info.url),
                stats,
                spool,
                lag: Arc::default(),
                effects: Arc::default(),
                ledger: Arc::clone(&ledger),
                leases,
                audience_lag,
            }),
        })
    }
}

/// Joins the fleet's budget sharing, for the control and bid instances
/// alike: announces this instance (its process id) to the others and
/// starts leasing each campaign's day from the ledger in Redis.
fn share_budgets(
    redis: &Redis,
    ledger: &Arc<Ledger>,
    clock: &SharedClock,
) -> std::io::Result<Arc<crate::fleet::lease::Leases>> {
    let instance_id = format!("{:x}", crate::bid::process_id());
    crate::fleet::members::start(
        redis.another(),
        instance_id.clone(),
        Arc::clone(ledger),
        Arc::clone(clock),
    )?;
    crate::fleet::lease::Leases::start(
        redis.another(),
        instance_id,
        Arc::clone(ledger),
        Arc::clone(clock),
    )
}

/// A fleet instance's event log (Redis, with its spool in the data dir)
/// and the thread that drains the spool.
fn fleet_log(
    config: &Config,
    redis: &Redis,
) -> Result<(Arc<dyn EventLog>, Arc<Spool>), StartError> {
    let spool = Arc::new(Spool::open(&config.data_dir)?);
    let log = Arc::new(FleetLog::new(
        redis.another(),
        Arc::clone(&spool),
        config.events.token_ttl_secs,
    ));
    crate::fleet::events::start_drain(Arc::clone(&log))?;
    Ok((log, spool))
}

impl Instance {
    /// The instance the configuration asks for on `store` with the host's
    /// clock: embedded, or a fleet's control or bid instance.
    pub fn start(config: Config, store: Arc<Store>) -> Result<Instance, StartError> {
        let clock: SharedClock = Arc::new(SystemClock);
        let seams = match config.fleet.as_ref().map(|f| f.role) {
            None => Seams::embedded(&config, &store, clock)?,
            Some(Role::Control) => Seams::fleet_control(&config, &store, clock)?,
            Some(Role::Bid) => Seams::fleet_bid(&config, &store, clock)?,
        };
        let instance = Instance::with_seams(config, store, seams)?;
        if let (Some(fleet), Some(info)) = (&instance.config.fleet, &instance.fleet) {
            let _ = info.effects.0.set(Arc::clone(&instance.effects));
            crate::fleet::impressions::start(
                Redis::new(fleet.redis.clone(), Arc::clone(&info.stats)),
                format!("{:x}", crate::bid::process_id()),
                (Arc::clone(&instance.effects), Arc::clone(&info.ledger)),
                Arc::clone(&instance.held),
                fleet.role == Role::Bid,
            )?;
        }
        Ok(instance)
    }

    /// An instance on `store` with the embedded state and the host's
    /// clock.
    pub fn new(config: Config, store: Arc<Store>) -> Result<Instance, StartError> {
        Instance::with_clock(config, store, Arc::new(SystemClock))
    }

    /// An instance on `store` with the embedded state reading `clock`.
    pub fn with_clock(
        config: Config,
        store: Arc<Store>,
        clock: SharedClock,
    ) -> Result<Instance, StartError> {
        let seams = Seams::embedded(&config, &store, clock)?;
        Instance::with_seams(config, store, seams)
    }

    /// Loads the catalog from the seams' source, compiles the first
    /// snapshot, takes back what a restart must (reservations, a week of
    /// impressions from `store`) and subscribes the snapshot to every
    /// catalog change.
    pub fn with_seams(
        config: Config,
        store: Arc<Store>,
        seams: Seams,
    ) -> Result<Instance, StartError> {
        let Seams {
            clock,
            budgets,
            frequency,
            audience,
            audience_loaded,
            catalog: catalog_source,
            event_log,
            reports,
            held,
            audience_ready,
            token_keys,
            fleet,
        } = seams;
        let fx = FxRates::from_map(&config.fx).map_err(|e| StartError::Fx(e.to_string()))?;
        let keys = match (config.events.keys.is_empty(), token_keys) {
            (false, _) => config.events.keys.clone(),
            (true, Some(keys)) => keys,
            (true, None) => vec![store.event_token_key()?],
        };
        let settings = Arc::new(Settings {
            public_url: config.public_url.clone(),
            fx,
            bid_ttl_secs: config.bid_ttl_secs,
            creative: config.creative,
            move_ttl_secs: config.events.move_ttl_secs,
            privacy_url: config.privacy_url.clone(),
        });
        let catalog = catalog_source.load()?;
        let now = clock.now();
        let mut documents = Documents::default();
        let first = Snapshot::build_with(&catalog, &settings, &*budgets, now, &mut documents);
        let snapshot = Arc::new(ArcSwap::from_pointee(first));
        restore::restore_counts(
            &store,
            &catalog,
            config.max_notice_window_secs(),
            (&*budgets, &*frequency),
            now,
        )?;

        let published = Arc::new(AtomicU64::new(1));
        {
            let snapshot = Arc::clone(&snapshot);
            let settings = Arc::clone(&settings);
            let published = Arc::clone(&published);
            let budgets = Arc::clone(&budgets);
            let clock = Arc::clone(&clock);
            // The catalog source calls subscribers one at a time. A build
            // that panicked leaves no cache entry a later build could
            // misread, only some to parse again.
            let builder = Mutex::new(Builder {
                documents,
                retired: retire::Retirer::start(),
            });
            catalog_source.subscribe(Box::new(move |catalog: &Catalog, change: Change<'_>| {
                let mut b = builder.lock().unwrap_or_else(PoisonError::into_inner);
                let prev = snapshot.load_full();
                let (now, documents) = (clock.now(), &mut b.documents);
                // A write that names its campaigns costs those campaigns;
                // anything else digests every campaign again. Either is
                // compiled under SCHED_IDLE, so a bid thread that wakes
                // meanwhile takes its core back at once.
                let next = crate::cold_path::run_idle("snapshot-build", || match change {
                    Change::Campaigns(ids) => {
                        Snapshot::patch(&prev, catalog, ids, &settings, &*budgets, now, documents)
                    }
                    Change::Any => Snapshot::rebuild(
                        Some(&prev),
                        catalog,
                        &settings,
                        &*budgets,
                        now,
                        documents,
                    ),
                });
                snapshot.store(Arc::new(next));
                published.fetch_add(1, Ordering::Relaxed);
                // Freed at the next publish, by then no request still
                // reads it, on a thread of its own: the write that
                // replaced it answers without waiting for that.
                b.retired.retire(prev);
            }));
        }
        let exchanges: Vec<ExchangeProfile> = config
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
                max_imps: e.max_imps,
                bids_per_campaign: e.bids_per_campaign,
                notice_window_secs: e.notice_window_secs,
            })
            .collect();
        let metrics = Metrics::new(config.exchanges.iter().map(|e| e.name.clone()).collect());
        let effects = Arc::new(Effects {
            snapshot: Arc::clone(&snapshot),
            audience: Arc::clone(&audience),
            budgets: Arc::clone(&budgets),
            frequency: Arc::clone(&frequency),
            move_ttl_secs: config.events.move_ttl_secs,
            late: Default::default(),
            moved: Default::default(),
        });
        let events = EventSink::start(
            config.events.channel_capacity,
            config.events.learning_republish,
            Arc::clone(&catalog_source) as _,
            Arc::clone(&metrics.events),
            Arc::clone(&effects),
        );
        let writer = EventWriter::start(event_log)?;
        let samples = Arc::new(Samples::new());
        let traffic = Arc::new(Traffic::new());
        let explainer = Explainer {
            samples: Arc::clone(&samples),
            snapshot: Arc::clone(&snapshot),
            exchanges: exchanges.clone(),
            default_exchange: config.default_exchange,
            audience: Arc::clone(&audience),
            frequency: Arc::clone(&frequency),
            tcf_vendor_id: config.tcf_vendor_id,
        };
        let services = Services::new(
            Arc::clone(&store),
            Arc::clone(&audience),
            catalog_source,
            settings,
            Arc::clone(&budgets),
            Arc::clone(&clock),
        )
        .with_explainer(explainer)
        .with_traffic(Arc::clone(&traffic));
        let admin = Admin::over(Arc::new(services));
        let console = Console::new(
            Arc::clone(admin.services()),
            Arc::clone(&clock),
            &config.public_url,
        );
        Ok(Instance {
            admin,
            console,
            store,
            events,
            effects,
            writer,
            reports,
            budgets,
            frequency,
            signer: Signer::new(&keys, config.events.token_ttl_secs),
            clock,
            published,
            audience,
            audience_loaded,
            admission: Arc::new(Admission::new(config.max_queue_delay)),
            config,
            exchanges,
            snapshot,
            metrics,
            samples,
            traffic,
            connections: AtomicU64::new(0),
            fleet,
            held,
            audience_ready,
            draining: AtomicBool::new(false),
        })
    }

    /// What `/metrics` shows beyond the counters.
    pub fn metrics_state(&self) -> crate::metrics::State {
        let now = self.clock.now();
        let all = self
            .budgets
            .accounts()
            .iter()
            .map(|a| (a.id().0, a.state(now)))
            .collect();
        let (budgets, budgets_other) =
            crate::metrics::State::split_budgets(all, self.config.metrics_campaigns);
        let (leases, leases_other) = match &self.fleet {
            Some(f) => self.lease_metrics(f, &budgets, now),
            None => Default::default(),
        };
        crate::metrics::State {
            campaigns: self.snapshot.load().campaign_count(),
            catalog_version: self.published.load(Ordering::Relaxed),
            audience_version: self.audience.table().version(),
            budgets,
            budgets_other,
            report_facts_dropped: self.reports.dropped(),
            late_settlements: self.effects.late.load(Ordering::Relaxed),
            funnel_moves: self.effects.moved.load(Ordering::Relaxed),
            connections: self.connections.load(Ordering::Relaxed),
            queue_delay: self.admission.queue_delay(),
            fleet: self.fleet.as_ref().map(|f| crate::metrics::FleetState {
                round_trips: f.stats.round_trips.load(Ordering::Relaxed),
                errors: f.stats.errors.load(Ordering::Relaxed),
                bad_values: f.stats.bad_values.load(Ordering::Relaxed),
                spool: f.spool.depth.load(Ordering::Relaxed),
                event_lag: f.lag.load(Ordering::Relaxed),
                sharers: f.ledger.sharers(),
                leases,
                leases_other,
                audience_lag_ms: f.audience_lag.load(Ordering::Relaxed),
            }),
        }
    }

    /// The leases of the campaigns `shown` one by one, and the others'
    /// summed per currency.
    #[allow(clippy::type_complexity)]
    fn lease_metrics(
        &self,
        f: &FleetInfo,
        shown: &[(i64, crate::state::budget::BudgetState)],
        now: crate::model::UnixTime,
    ) -> (
        Vec<(
            i64,
            openrtb::Currency,
            crate::state::budget::lease::LeaseState,
        )>,
        Vec<(openrtb::Currency, crate::state::budget::lease::LeaseState)>,
    ) {
        let mut one_by_one = Vec::new();
        let mut other: Vec<(openrtb::Currency, crate::state::budget::lease::LeaseState)> =
            Vec::new();
        for l in f.ledger.leases(now) {
            if let Some((_, b)) = shown.iter().find(|(id, _)| *id == l.id.0) {
                one_by_one.push((l.id.0, b.currency, l.lease));
                continue;
            }
            let Some(cur) = self.budgets.get(l.id).map(|a| a.currency()) else {
                continue;
            };
            let at = match other.iter().position(|(c, _)| *c == cur) {
                Some(i) => i,
                None => {
                    other.push((cur, Default::default()));
                    other.len() - 1
                }
            };
            let sum = &mut other[at].1;
            sum.limit = sum.limit.saturating_add(l.lease.limit);
            sum.used = sum.used.saturating_add(l.lease.used);
        }
        other.sort_by_key(|(c, _)| *c);
        (one_by_one, other)
    }

    /// Index of the exchange called `name`.
    pub fn exchange_index(&self, name: &str) -> Option<usize> {
        self.config.exchanges.iter().position(|e| e.name == name)
    }

    /// What shutdown does once requests have drained: applies the effects
    /// of events still queued, writes the report counts summed so far, and
    /// checkpoints the reservations of bids in flight, so that a graceful
    /// stop loses none of them. Blocking; waits at most `within` per step.
    pub fn flush(&self, within: std::time::Duration) {
        if !self.events.flush(within) {
            tracing::warn!("effects of queued events not applied before shutdown");
        }
        if !self.reports.flush(within) {
            tracing::warn!("report counts not written before shutdown");
        }
        self.checkpoint_reservations();
        if let Some(f) = &self.fleet {
            f.leases.hand_back();
        }
    }

    /// Writes what the budgets hold for bids in flight to the store, so
    /// that a crash loses at most the time since.
    pub fn checkpoint_reservations(&self) {
        let now = self.clock.now();
        if let Err(e) = self
            .store
            .save_reservations(&self.budgets.reservations(now), now)
        {
            tracing::warn!(error = %e, "reservation checkpoint failed");
        }
    }

    /// Marks the server as shutting down: `/readyz` answers 503 so load
    /// balancers stop sending while in-flight requests drain.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether new traffic should be sent here: not draining, a catalog
    /// held, the audiences loaded and, in a fleet, a first lease granted
    /// to every budgeted campaign.
    pub fn is_ready(&self) -> bool {
        !self.draining.load(Ordering::Relaxed)
            && self.held.load(Ordering::Relaxed)
            && self.audience_ready.load(Ordering::Relaxed)
            && self
                .fleet
                .as_ref()
                .is_none_or(|f| f.ledger.leases_granted())
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Whether this is a fleet's bid instance (no admin API of its own).
    pub fn is_bid_only(&self) -> bool {
        self.fleet.as_ref().is_some_and(|f| f.role == Role::Bid)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::model::CampaignStatus;
    use crate::state::catalog::MemoryCatalog;
    use crate::state::reports::MemoryReports;

    /// An instance of the demo catalog whose catalog source and report
    /// sink are the in-memory doubles.
    fn demo_instance() -> (Instance, Arc<MemoryCatalog>, Arc<MemoryReports>) {
        let store = Arc::new(Store::open_in_memory().unwrap());
        crate::control::demo::seed_if_empty(&store, "http://bidder.test").unwrap();
        let config = Config::for_tests(std::path::Path::new("/nonexistent"));
        let catalog = Arc::new(MemoryCatalog::default());
        *catalog.catalog.lock().unwrap() = store.load_catalog().unwrap();
        let reports = Arc::new(MemoryReports::default());
        let mut seams = Seams::embedded(&config, &store, Arc::new(SystemClock)).unwrap();
        seams.catalog = Arc::clone(&catalog) as _;
        seams.reports = Arc::clone(&reports) as _;
        let instance = Instance::with_seams(config, store, seams).unwrap();
        (instance, catalog, reports)
    }

    const BANNER: &[u8] = br#"{"id":"r1","imp":[{"id":"1","banner":{"w":300,"h":250}}],"site":{"domain":"news.example"},"device":{"geo":{"country":"USA"}}}"#;

    #[test]
    fn every_bid_answered_is_counted_once_in_the_report_sink() {
        let (instance, _, reports) = demo_instance();
        let exchange = instance.config.default_exchange;
        let resp = crate::bid::endpoint::respond(
            &instance,
            exchange,
            BANNER,
            false,
            false,
            Instant::now(),
        );
        assert_eq!(resp.status(), 200);
        assert_eq!(reports.bids.lock().unwrap().len(), 1);
        assert!(reports.no_bids.lock().unwrap().is_empty());
    }

    #[test]
    fn a_change_the_catalog_source_announces_is_live_in_the_next_snapshot() {
        let (instance, catalog, reports) = demo_instance();
        assert!(instance.snapshot.load().campaign_count() > 0);
        for c in &mut catalog.catalog.lock().unwrap().campaigns {
            c.status = CampaignStatus::Paused;
        }
        catalog.changed().unwrap();
        assert_eq!(instance.snapshot.load().campaign_count(), 0);
        assert_eq!(instance.published.load(Ordering::Relaxed), 2);
        let exchange = instance.config.default_exchange;
        let resp = crate::bid::endpoint::respond(
            &instance,
            exchange,
            BANNER,
            false,
            false,
            Instant::now(),
        );
        assert_eq!(resp.status(), 204);
        assert_eq!(reports.no_bids.lock().unwrap().len(), 1);
    }
}
