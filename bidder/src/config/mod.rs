//! The bidder's configuration: built-in defaults, then the TOML file, then
//! flags and environment variables (later wins), checked once at start-up
//! with every problem reported together.
//!
//! Owns nothing at run time: the server receives a finished [`Config`] and
//! never reads files or the environment again.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use openrtb::Currency;
use serde::Deserialize;

pub mod source_networks;

use source_networks::{AllowList, IpNet};

/// Impressions of one request bid on when the exchange's table names no
/// limit: more than exchanges send in practice (a page's slots, a pod),
/// few enough that one request cannot hold a day's budget.
pub const DEFAULT_MAX_IMPS: usize = 20;

/// Name of the exchange used by `POST /openrtb2/bid` when the file names none.
pub const DEFAULT_EXCHANGE: &str = "default";

/// The configuration file as written; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Address to listen on.
    pub listen: Option<String>,
    /// Directory of the embedded store.
    pub data_dir: Option<PathBuf>,
    /// Base URL exchanges reach this bidder at, used in notice URLs.
    pub public_url: Option<String>,
    /// Largest request body accepted, bytes, as sent (compressed or not).
    pub max_body_bytes: Option<usize>,
    /// Largest request body after gzip decompression, bytes.
    pub max_inflated_body_bytes: Option<usize>,
    /// Largest admin API body, bytes.
    pub max_admin_body_bytes: Option<usize>,
    /// Time kept back from `tmax` for the network, milliseconds.
    pub network_margin_ms: Option<u64>,
    /// `tmax` assumed when a request carries none, milliseconds.
    pub default_tmax_ms: Option<u64>,
    /// How long a client may take to send request headers, milliseconds.
    pub header_read_timeout_ms: Option<u64>,
    /// How long a client may take to send a request body, milliseconds
    /// (for audience uploads: the longest pause between two pieces).
    pub body_read_timeout_ms: Option<u64>,
    /// Connections served at once; further clients wait in the listen
    /// backlog until one closes.
    pub max_connections: Option<usize>,
    /// Bid requests are answered `204` at once while the server's queueing
    /// delay is above this, milliseconds; 0 turns shedding off.
    pub max_queue_delay_ms: Option<u64>,
    /// How long shutdown waits for in-flight requests, milliseconds.
    pub shutdown_grace_ms: Option<u64>,
    /// Seconds a bid stays valid (`bid.exp`); absent = not sent.
    pub bid_ttl_secs: Option<u32>,
    /// Our IAB TCF vendor id: under GDPR, users are personalized only when
    /// their TC string gives this vendor consent. Absent = never under GDPR.
    pub tcf_vendor_id: Option<u16>,
    /// Campaigns `/metrics` shows one by one (the most spent today); the
    /// rest are summed per currency under `campaign="other"` (default 100).
    pub metrics_campaigns: Option<usize>,
    /// The page (https) native placements that show a privacy link
    /// (`privacy: 1`) are sent when the ad names no page of its own.
    /// Absent = such ads go without one.
    pub privacy_url: Option<String>,
    /// How assembled creatives are chosen (`[creative]`:
    /// `exploration_floor`, `rounds`, `prior_clicks`, `prior_conversions`,
    /// `prior_impressions`, `seed`).
    #[serde(default)]
    pub creative: creative::learning::Policy,
    /// Notices and trackers (`[events]`).
    #[serde(default)]
    pub events: EventsFile,
    /// The exchange of `POST /openrtb2/bid`.
    pub default_exchange: Option<String>,
    /// Exchange rates: units of USD per one unit of the currency (`EUR = 1.08`).
    #[serde(default)]
    pub fx: BTreeMap<String, f64>,
    /// Exchanges, `[[exchange]]` tables.
    #[serde(default)]
    pub exchange: Vec<ExchangeFile>,
    /// Redis URL of a fleet's shared state (`redis://host:port`, or
    /// `redis+cluster://host:port[,host:port...]` for Redis Cluster);
    /// absent = one embedded instance.
    pub redis: Option<String>,
    /// In a fleet: a bid instance (no catalog of its own; the admin API is
    /// the control instance's).
    pub bid_only: Option<bool>,
    /// In a fleet: the admin URL a bid instance names when it refuses an
    /// admin call (default: the control instance's public URL, as it
    /// publishes it).
    pub control_url: Option<String>,
}

/// One `[[exchange]]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeFile {
    /// Name, as in `/openrtb2/bid/{name}`.
    pub name: String,
    /// Our seat id at this exchange (`seatbid.seat`).
    pub seat: Option<String>,
    /// Currency we prefer to answer in (default USD).
    pub currency: Option<String>,
    /// Whether the exchange calls `burl` on billing (default true).
    pub sends_burl: Option<bool>,
    /// Answer no-bids with `200` and `nbr` instead of `204` (default false).
    pub nbr_on_no_bid: Option<bool>,
    /// Peer networks it sends from; empty = anyone.
    #[serde(default)]
    pub allowed_sources: Vec<String>,
    /// Impressions of one request bid on at most (default 20); those past
    /// it get no bid and are counted.
    pub max_imps: Option<usize>,
    /// Bids one campaign makes in one request at most (default 1), so that
    /// no single request can reserve more of a budget than that.
    pub bids_per_campaign: Option<usize>,
    /// Whether the exchange calls `lurl` when a bid loses (default true).
    /// One that does not leaves every losing bid's reservation held until
    /// it lapses, so its reservations get a short notice window.
    pub sends_loss: Option<bool>,
    /// How long a bid's budget reservation waits for its outcome from this
    /// exchange, seconds (default `events.reservation_ttl_secs` where the
    /// exchange sends loss notices, else 60).
    pub notice_window_secs: Option<u32>,
}

/// The `[events]` table. `Debug` is written by hand: the keys are secrets.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsFile {
    /// Keys signing event tokens, 64 hex digits each; the first signs,
    /// all verify (rotate by putting a new key first). Absent = one key
    /// made on first start and kept in the store, which suits one bidder;
    /// bidders sharing traffic need the same keys here.
    #[serde(default)]
    pub keys: Vec<String>,
    /// How long a token is accepted, seconds (default one day).
    pub token_ttl_secs: Option<u32>,
    /// Counted impressions and clicks waiting for their effects (caps,
    /// funnel moves, learning) before new ones' are dropped (and
    /// counted); the events themselves are recorded before they are
    /// answered and never dropped.
    pub channel_capacity: Option<usize>,
    /// Longest wait before learnt reactions reach the bid path,
    /// milliseconds (default 10,000): rebuilding plans costs milliseconds
    /// per campaign, so it is not done per event.
    pub learning_republish_ms: Option<u64>,
    /// How long a bid's budget reservation is held waiting for its win,
    /// bill or loss, seconds (default 600). Then it is released; an
    /// outcome arriving later is booked and counted as late.
    pub reservation_ttl_secs: Option<u32>,
    /// Entries of the frequency-cap table (default 4,194,304, 64 MiB):
    /// one per user and capped campaign or advertiser seen within a week.
    pub frequency_capacity: Option<usize>,
    /// How long a user an event moved into a funnel stays there, seconds
    /// (default 30 days), unless already a member with its own expiry.
    pub move_ttl_secs: Option<u32>,
    /// How often bid and no-bid counts reach the report tables,
    /// milliseconds (default 5,000).
    pub report_flush_ms: Option<u64>,
}

impl std::fmt::Debug for EventsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventsFile")
            .field("keys", &self.keys.len())
            .field("token_ttl_secs", &self.token_ttl_secs)
            .field("channel_capacity", &self.channel_capacity)
            .field("learning_republish_ms", &self.learning_republish_ms)
            .field("reservation_ttl_secs", &self.reservation_ttl_secs)
            .field("frequency_capacity", &self.frequency_capacity)
            .field("move_ttl_secs", &self.move_ttl_secs)
            .field("report_flush_ms", &self.report_flush_ms)
            .finish()
    }
}

/// Event settings, checked.
#[derive(Clone, PartialEq)]
pub struct EventsConfig {
    /// Token keys from the file (none = the store's own).
    pub keys: Vec<[u8; 32]>,
    /// Token lifetime, seconds; also the replay window.
    pub token_ttl_secs: u32,
    /// Capacity of the channel to the cold path.
    pub channel_capacity: usize,
    /// Longest wait before learnt reactions are published.
    pub learning_republish: Duration,
    /// Lifetime of a budget reservation, seconds.
    pub reservation_ttl_secs: u32,
    /// Entries of the frequency-cap table.
    pub frequency_capacity: usize,
    /// Membership lifetime of users moved by events, seconds.
    pub move_ttl_secs: u32,
    /// How often bid counts are written to the report tables.
    pub report_flush: Duration,
}

impl std::fmt::Debug for EventsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys are secrets: never in logs.
        f.debug_struct("EventsConfig")
            .field("keys", &self.keys.len())
            .field("token_ttl_secs", &self.token_ttl_secs)
            .field("channel_capacity", &self.channel_capacity)
            .field("learning_republish", &self.learning_republish)
            .field("reservation_ttl_secs", &self.reservation_ttl_secs)
            .field("frequency_capacity", &self.frequency_capacity)
            .field("move_ttl_secs", &self.move_ttl_secs)
            .field("report_flush", &self.report_flush)
            .finish()
    }
}

/// What flags and environment variables set; they win over the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--listen` / `BIDDER_LISTEN`.
    pub listen: Option<String>,
    /// `--data-dir` / `BIDDER_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--public-url` / `BIDDER_PUBLIC_URL`.
    pub public_url: Option<String>,
    /// `--redis` / `BIDDER_REDIS`.
    pub redis: Option<String>,
    /// `--bid-only` / `BIDDER_BID_ONLY`.
    pub bid_only: bool,
}

/// Where a fleet keeps its shared state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One Redis (or Valkey) server.
    Single(String),
    /// A Redis Cluster, by its seed nodes.
    Cluster(Vec<String>),
}

/// What an instance of a fleet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Owns the SQLite catalog, serves the admin API, publishes changes
    /// and consumes the fleet's events.
    Control,
    /// Bids and takes notices; no catalog of its own.
    Bid,
}

/// A fleet instance's settings, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetConfig {
    /// The shared state.
    pub redis: RedisTarget,
    /// Control or bid instance.
    pub role: Role,
    /// The admin URL a bid instance names, if set here.
    pub control_url: Option<String>,
}

impl RedisTarget {
    /// Parses `redis://...` or `redis+cluster://a,b,...`.
    pub fn parse(url: &str) -> Result<RedisTarget, String> {
        if let Some(nodes) = url.strip_prefix("redis+cluster://") {
            let nodes: Vec<String> = nodes
                .split(',')
                .filter(|n| !n.is_empty())
                .map(|n| format!("redis://{n}"))
                .collect();
            if nodes.is_empty() {
                return Err(format!("{url:?} names no cluster node"));
            }
            return Ok(RedisTarget::Cluster(nodes));
        }
        if url.starts_with("redis://") || url.starts_with("rediss://") {
            return Ok(RedisTarget::Single(url.to_string()));
        }
        Err(format!(
            "{url:?} must start with redis:// or redis+cluster://"
        ))
    }
}

/// An exchange's settings, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeConfig {
    /// Name, as in `/openrtb2/bid/{name}`.
    pub name: String,
    /// Our seat id at this exchange.
    pub seat: Option<String>,
    /// Currency we prefer to answer in.
    pub currency: Currency,
    /// Whether the exchange calls `burl`.
    pub sends_burl: bool,
    /// No-bid as `200` with `nbr` rather than `204`.
    pub nbr_on_no_bid: bool,
    /// Who may send its requests.
    pub allowed_sources: AllowList,
    /// Impressions of one request bid on at most.
    pub max_imps: usize,
    /// Bids one campaign makes in one request at most.
    pub bids_per_campaign: usize,
    /// Whether the exchange calls `lurl`.
    pub sends_loss: bool,
    /// How long a bid's reservation waits for its outcome, seconds.
    pub notice_window_secs: u32,
}

/// The notice window of an exchange that sends no loss notices, when the
/// file names none: its wins and bills arrive within seconds, and every
/// losing bid's reservation waits this long.
pub const NO_LOSS_NOTICE_WINDOW_SECS: u32 = 60;

/// The checked configuration the server runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory of the embedded store.
    pub data_dir: PathBuf,
    /// Base URL of notice URLs, without a trailing slash.
    pub public_url: String,
    /// Largest request body as sent.
    pub max_body_bytes: usize,
    /// Largest request body after decompression.
    pub max_inflated_body_bytes: usize,
    /// Largest admin API body.
    pub max_admin_body_bytes: usize,
    /// Kept back from `tmax` for the network.
    pub network_margin: Duration,
    /// `tmax` when the request has none.
    pub default_tmax: Duration,
    /// Limit on reading request headers, and on waiting for the next
    /// request of an idle keep-alive connection.
    pub header_read_timeout: Duration,
    /// Limit on reading a request body (between pieces, for uploads).
    pub body_read_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Queueing delay at which bid requests are shed; zero = never.
    pub max_queue_delay: Duration,
    /// Limit on draining at shutdown.
    pub shutdown_grace: Duration,
    /// `bid.exp`, when set.
    pub bid_ttl_secs: Option<u32>,
    /// Our IAB TCF vendor id, if we have one.
    pub tcf_vendor_id: Option<u16>,
    /// Campaigns `/metrics` shows one by one.
    pub metrics_campaigns: usize,
    /// The default privacy page of native ads, https.
    pub privacy_url: Option<String>,
    /// Selection policy of assembled creatives.
    pub creative: creative::learning::Policy,
    /// Notices and trackers.
    pub events: EventsConfig,
    /// Exchange rates to USD, checked positive and finite.
    pub fx: BTreeMap<String, f64>,
    /// Exchanges; never empty.
    pub exchanges: Vec<ExchangeConfig>,
    /// Index in `exchanges` of the one behind `POST /openrtb2/bid`.
    pub default_exchange: usize,
    /// In a fleet: its shared state and this instance's role; `None` = one
    /// embedded instance.
    pub fleet: Option<FleetConfig>,
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// Values are out of range; every problem, one per entry.
    #[error("invalid configuration:\n  {}", .0.join("\n  "))]
    Invalid(Vec<String>),
}

impl Config {
    /// Reads `file` (if any), applies `overrides` and checks the result.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Config, ConfigError> {
        let parsed = match file {
            None => FileConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Syntax {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?
            }
        };
        Config::resolve(parsed, overrides)
    }

    /// Combines a parsed file with overrides and defaults, collecting every
    /// problem instead of stopping at the first.
    pub fn resolve(file: FileConfig, overrides: Overrides) -> Result<Config, ConfigError> {
        let mut problems = Vec::new();

        let listen_text = overrides
            .listen
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".to_string());
        let listen = listen_text.parse::<SocketAddr>().unwrap_or_else(|_| {
            problems.push(format!("listen: {listen_text:?} is not an address:port"));
            SocketAddr::from(([127, 0, 0, 1], 8080))
        });

        let public_url = overrides
            .public_url
            .or(file.public_url)
            .unwrap_or_else(|| format!("http://{listen}"));
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            problems.push(format!(
                "public_url: {public_url:?} must start with http:// or https://"
            ));
        }
        let public_url = public_url.trim_end_matches('/').to_string();
        if let Some(url) = &file.privacy_url
            && !creative::validate::is_https(url)
        {
            problems.push(format!(
                "privacy_url: {url:?} must be an https:// URL with a host"
            ));
        }

        let positive =
            |key: &str, value: Option<usize>, default: usize, problems: &mut Vec<String>| {
                let v = value.unwrap_or(default);
                if v == 0 {
                    problems.push(format!("{key}: must be greater than 0"));
                }
                v
            };
        let max_body_bytes = positive(
            "max_body_bytes",
            file.max_body_bytes,
            256 * 1024,
            &mut problems,
        );
        let max_inflated_body_bytes = positive(
            "max_inflated_body_bytes",
            file.max_inflated_body_bytes,
            1024 * 1024,
            &mut problems,
        );
        let max_admin_body_bytes = positive(
            "max_admin_body_bytes",
            file.max_admin_body_bytes,
            4 * 1024 * 1024,
            &mut problems,
        );

        let network_margin = Duration::from_millis(file.network_margin_ms.unwrap_or(15));
        let default_tmax = Duration::from_millis(file.default_tmax_ms.unwrap_or(200));
        if default_tmax <= network_margin {
            problems.push(format!(
                "default_tmax_ms: {} must be greater than network_margin_ms {}",
                default_tmax.as_millis(),
                network_margin.as_millis()
            ));
        }
        let header_read_timeout =
            Duration::from_millis(file.header_read_timeout_ms.unwrap_or(5_000));
        let body_read_timeout = Duration::from_millis(file.body_read_timeout_ms.unwrap_or(5_000));
        for (key, value) in [
            ("header_read_timeout_ms", header_read_timeout),
            ("body_read_timeout_ms", body_read_timeout),
        ] {
            if value.is_zero() {
                problems.push(format!("{key}: must be greater than 0"));
            }
        }
        let max_connections =
            positive("max_connections", file.max_connections, 4096, &mut problems);
        // Fairly served, a backlog of N connections waits N x the service
        // time (1,024 x 20 us = 20 ms) and is still worth deciding; 50 ms
        // has eaten most of a typical 100-200 ms tmax.
        let max_queue_delay = Duration::from_millis(file.max_queue_delay_ms.unwrap_or(50));
        let shutdown_grace = Duration::from_millis(file.shutdown_grace_ms.unwrap_or(5_000));

        for (code, rate) in &file.fx {
            if Currency::parse(code).is_none() {
                problems.push(format!("fx.{code}: not a 3-letter currency code"));
            }
            if !(rate.is_finite() && *rate > 0.0) {
                problems.push(format!("fx.{code}: rate must be a positive number"));
            }
        }

        let reservation_ttl_secs = file.events.reservation_ttl_secs.unwrap_or(600).max(15);
        let mut exchanges = Vec::new();
        let file_exchanges = if file.exchange.is_empty() {
            vec![ExchangeFile {
                name: DEFAULT_EXCHANGE.to_string(),
                ..ExchangeFile::default()
            }]
        } else {
            file.exchange
        };
        for (i, ex) in file_exchanges.into_iter().enumerate() {
            let at = format!("exchange[{i}]");
            if ex.name.is_empty()
                || !ex
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                problems.push(format!(
                    "{at}.name: {:?} must be non-empty letters, digits, '-' or '_'",
                    ex.name
                ));
            }
            if exchanges.iter().any(|e: &ExchangeConfig| e.name == ex.name) {
                problems.push(format!("{at}.name: {:?} is configured twice", ex.name));
            }
            let currency = match ex.currency.as_deref() {
                None => Currency::USD,
                Some(c) => Currency::parse(c).unwrap_or_else(|| {
                    problems.push(format!(
                        "{at}.currency: {c:?} is not a 3-letter currency code"
                    ));
                    Currency::USD
                }),
            };
            let mut nets = Vec::new();
            for (j, s) in ex.allowed_sources.iter().enumerate() {
                match s.parse::<IpNet>() {
                    Ok(n) => nets.push(n),
                    Err(e) => problems.push(format!("{at}.allowed_sources[{j}]: {e}")),
                }
            }
            let max_imps = positive(
                &format!("{at}.max_imps"),
                ex.max_imps,
                DEFAULT_MAX_IMPS,
                &mut problems,
            );
            let bids_per_campaign = positive(
                &format!("{at}.bids_per_campaign"),
                ex.bids_per_campaign,
                1,
                &mut problems,
            );
            let sends_loss = ex.sends_loss.unwrap_or(true);
            let notice_window_secs = ex.notice_window_secs.unwrap_or(if sends_loss {
                reservation_ttl_secs
            } else {
                NO_LOSS_NOTICE_WINDOW_SECS
            });
            if !(5..=86_400).contains(&notice_window_secs) {
                problems.push(format!(
                    "{at}.notice_window_secs: {notice_window_secs} must be between 5 and 86400"
                ));
            }
            exchanges.push(ExchangeConfig {
                name: ex.name,
                seat: ex.seat.filter(|s| !s.is_empty()),
                currency,
                sends_burl: ex.sends_burl.unwrap_or(true),
                nbr_on_no_bid: ex.nbr_on_no_bid.unwrap_or(false),
                allowed_sources: AllowList::new(nets),
                max_imps,
                bids_per_campaign,
                sends_loss,
                notice_window_secs,
            });
        }
        if exchanges.len() > 256 {
            problems.push("exchange: at most 256 exchanges".to_string());
        }
        let default_name = file
            .default_exchange
            .unwrap_or_else(|| exchanges[0].name.clone());
        let default_exchange = exchanges
            .iter()
            .position(|e| e.name == default_name)
            .unwrap_or_else(|| {
                problems.push(format!(
                    "default_exchange: {default_name:?} is not one of the [[exchange]] names"
                ));
                0
            });

        let mut keys = Vec::new();
        for (i, k) in file.events.keys.iter().enumerate() {
            match hex::decode(k)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
            {
                Some(key) => keys.push(key),
                None => problems.push(format!("events.keys[{i}]: must be 64 hex digits")),
            }
        }
        let token_ttl_secs = file.events.token_ttl_secs.unwrap_or(86_400);
        if token_ttl_secs < 60 {
            problems.push("events.token_ttl_secs: must be at least 60".to_string());
        }
        let events = EventsConfig {
            keys,
            token_ttl_secs,
            channel_capacity: positive(
                "events.channel_capacity",
                file.events.channel_capacity,
                65_536,
                &mut problems,
            ),
            learning_republish: Duration::from_millis(
                file.events.learning_republish_ms.unwrap_or(10_000),
            ),
            reservation_ttl_secs,
            frequency_capacity: positive(
                "events.frequency_capacity",
                file.events.frequency_capacity,
                1 << 22,
                &mut problems,
            ),
            move_ttl_secs: file.events.move_ttl_secs.unwrap_or(30 * 86_400),
            report_flush: Duration::from_millis(file.events.report_flush_ms.unwrap_or(5_000)),
        };

        let bid_only = overrides.bid_only || file.bid_only.unwrap_or(false);
        let fleet = match overrides.redis.or(file.redis) {
            None => {
                if bid_only {
                    problems.push("bid_only: a bid instance needs --redis".to_string());
                }
                None
            }
            Some(url) => match RedisTarget::parse(&url) {
                Ok(redis) => Some(FleetConfig {
                    redis,
                    role: if bid_only { Role::Bid } else { Role::Control },
                    control_url: file.control_url.clone(),
                }),
                Err(e) => {
                    problems.push(format!("redis: {e}"));
                    None
                }
            },
        };

        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        Ok(Config {
            listen,
            data_dir: overrides
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("./data")),
            public_url,
            max_body_bytes,
            max_inflated_body_bytes,
            max_admin_body_bytes,
            network_margin,
            default_tmax,
            header_read_timeout,
            body_read_timeout,
            max_connections,
            max_queue_delay,
            shutdown_grace,
            bid_ttl_secs: file.bid_ttl_secs,
            tcf_vendor_id: file.tcf_vendor_id,
            metrics_campaigns: file.metrics_campaigns.unwrap_or(100),
            privacy_url: file.privacy_url,
            creative: file.creative,
            events,
            fx: file.fx,
            exchanges,
            default_exchange,
            fleet,
        })
    }

    /// The configuration tests start servers with: defaults, data in `dir`.
    pub fn for_tests(dir: &Path) -> Config {
        let overrides = Overrides {
            data_dir: Some(dir.to_path_buf()),
            ..Overrides::default()
        };
        // Defaults always resolve; a failure here is a bug in the defaults.
        let mut config = Config::resolve(FileConfig::default(), overrides)
            .expect("default configuration is valid");
        // Tests run the server on the test's own runtime, whose blocking
        // test code would read as queueing delay; the tests of shedding
        // turn it on themselves.
        config.max_queue_delay = Duration::ZERO;
        config
    }

    /// The exchange called `name`.
    pub fn exchange(&self, name: &str) -> Option<&ExchangeConfig> {
        self.exchanges.iter().find(|e| e.name == name)
    }

    /// The longest any reservation is held: the longest notice window.
    pub fn max_notice_window_secs(&self) -> u32 {
        self.exchanges
            .iter()
            .map(|e| e.notice_window_secs)
            .max()
            .unwrap_or(self.events.reservation_ttl_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<Config, ConfigError> {
        let file: FileConfig = toml::from_str(toml_text).unwrap();
        Config::resolve(file, Overrides::default())
    }

    #[test]
    fn defaults_listen_on_localhost_8080_with_one_default_exchange() {
        let c = parse("").unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert_eq!(c.exchanges.len(), 1);
        assert_eq!(c.exchanges[c.default_exchange].name, DEFAULT_EXCHANGE);
        assert_eq!(c.exchanges[0].currency, Currency::USD);
    }

    #[test]
    fn signing_keys_never_show_in_debug_output() {
        let key = "ab".repeat(32);
        let text = format!("[events]\nkeys = [\"{key}\"]");
        let file: FileConfig = toml::from_str(&text).unwrap();
        assert!(!format!("{file:?}").contains(&key), "{file:?}");
        let c = Config::resolve(file, Overrides::default()).unwrap();
        assert_eq!(c.events.keys, vec![[0xab; 32]]);
        let shown = format!("{c:?}");
        assert!(!shown.contains(&key) && !shown.contains("171"), "{shown}");
    }

    #[test]
    fn flags_win_over_the_file() {
        let file: FileConfig =
            toml::from_str("listen = \"0.0.0.0:9000\"\ndata_dir = \"/srv/a\"").unwrap();
        let c = Config::resolve(
            file,
            Overrides {
                listen: Some("127.0.0.1:7000".into()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:7000");
        assert_eq!(c.data_dir, PathBuf::from("/srv/a"));
    }

    #[test]
    fn exchanges_are_read_with_their_settings() {
        let c = parse(
            r#"
            default_exchange = "acme"
            [[exchange]]
            name = "other"
            [[exchange]]
            name = "acme"
            seat = "seat-7"
            currency = "EUR"
            sends_burl = false
            nbr_on_no_bid = true
            allowed_sources = ["10.0.0.0/8"]
            "#,
        )
        .unwrap();
        let acme = &c.exchanges[c.default_exchange];
        assert_eq!(acme.name, "acme");
        assert_eq!(acme.seat.as_deref(), Some("seat-7"));
        assert_eq!(acme.currency, Currency::EUR);
        assert!(!acme.sends_burl);
        assert!(acme.nbr_on_no_bid);
        assert!(acme.sends_loss);
        assert_eq!(acme.notice_window_secs, 600, "the reservation ttl");
        assert!(!acme.allowed_sources.allows("192.0.2.1".parse().unwrap()));
    }

    #[test]
    fn an_exchange_without_loss_notices_gets_a_short_notice_window() {
        let c = parse(
            r#"
            [events]
            reservation_ttl_secs = 900
            [[exchange]]
            name = "quiet"
            sends_loss = false
            [[exchange]]
            name = "tuned"
            sends_loss = false
            notice_window_secs = 20
            [[exchange]]
            name = "loud"
            "#,
        )
        .unwrap();
        let window = |n: &str| c.exchange(n).unwrap().notice_window_secs;
        assert_eq!(window("quiet"), NO_LOSS_NOTICE_WINDOW_SECS);
        assert_eq!(window("tuned"), 20);
        assert_eq!(window("loud"), 900);
        assert_eq!(c.max_notice_window_secs(), 900);
        assert!(parse("[[exchange]]\nname = \"x\"\nnotice_window_secs = 1").is_err());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = parse(
            r#"
            listen = "nowhere"
            max_body_bytes = 0
            [fx]
            EURO = -1.0
            [[exchange]]
            name = "a b"
            currency = "dollars"
            allowed_sources = ["10.0.0.0/99"]
            "#,
        )
        .unwrap_err();
        let ConfigError::Invalid(problems) = err else {
            panic!("expected Invalid, got {err:?}");
        };
        let all = problems.join("\n");
        for key in [
            "listen:",
            "max_body_bytes:",
            "fx.EURO:",
            "exchange[0].name:",
            "exchange[0].currency:",
            "exchange[0].allowed_sources[0]:",
        ] {
            assert!(all.contains(key), "{key} missing from {all}");
        }
    }

    #[test]
    fn a_fleet_instance_needs_a_redis_url_and_says_its_role() {
        let bid = Config::resolve(
            FileConfig::default(),
            Overrides {
                redis: Some("redis+cluster://127.0.0.1:7000,127.0.0.1:7001".into()),
                bid_only: true,
                ..Overrides::default()
            },
        )
        .unwrap();
        let fleet = bid.fleet.unwrap();
        assert_eq!(fleet.role, Role::Bid);
        assert_eq!(
            fleet.redis,
            RedisTarget::Cluster(vec![
                "redis://127.0.0.1:7000".into(),
                "redis://127.0.0.1:7001".into()
            ])
        );
        let control = parse("redis = \"redis://127.0.0.1:6379\"").unwrap();
        assert_eq!(control.fleet.unwrap().role, Role::Control);
        assert!(parse("").unwrap().fleet.is_none());
        assert!(parse("bid_only = true").is_err());
        assert!(parse("redis = \"http://x\"").is_err());
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        assert!(toml::from_str::<FileConfig>("lisen = \"127.0.0.1:1\"").is_err());
    }

    #[test]
    fn default_exchange_must_exist() {
        let err = parse("default_exchange = \"missing\"").unwrap_err();
        assert!(err.to_string().contains("default_exchange"));
    }
}
