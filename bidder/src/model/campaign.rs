//! A campaign: budget, bid, targeting and blocking metadata of one line of
//! spend for one advertiser.

use audiences::table::FunnelId;
use audiences::{Stage, StageMultipliers};
pub use creative::learning::Objective;
use openrtb::{Currency, Micros};
use serde::{Deserialize, Serialize};

use super::{AdvertiserId, UnixTime};

/// Store-assigned campaign id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CampaignId(pub i64);

/// Whether a campaign may bid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Bids within its flight dates.
    Active,
    /// Kept, does not bid.
    Paused,
    /// Finished; does not bid, hidden from default lists.
    Archived,
}

/// A campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    /// Id.
    pub id: CampaignId,
    /// Owner.
    pub advertiser_id: AdvertiserId,
    /// Display name.
    pub name: String,
    /// Whether it bids.
    pub status: CampaignStatus,
    /// First second it may bid; `None` = from creation.
    pub flight_start: Option<UnixTime>,
    /// First second it may no longer bid; `None` = open-ended.
    pub flight_end: Option<UnixTime>,
    /// Lifetime budget in `currency`; 0 = no lifetime limit.
    pub total_budget_micros: Micros,
    /// Budget per day (the campaign's own day, see `pacing`) in
    /// `currency`; 0 = no daily limit.
    pub daily_budget_micros: Micros,
    /// Currency of budgets and bids.
    pub currency: Currency,
    /// CPM bid before multipliers, in `currency`.
    pub base_cpm_micros: Micros,
    /// CPM the bidder never exceeds for a user at multiplier 1.0, in
    /// `currency` (a stage multiplier scales it too).
    pub max_cpm_micros: Micros,
    /// Advertiser domains declared on bids (`bid.adomain`).
    pub adomain: Vec<String>,
    /// IAB content categories of the ads (`bid.cat`), checked against `bcat`.
    pub cat: Vec<String>,
    /// Creative attributes (`bid.attr`), checked against `battr`.
    pub attr: Vec<u32>,
    /// Bundle of the app the ads promote (`bid.bundle`), checked against `bapp`.
    pub app_bundle: Option<String>,
    /// Language of the ads, ISO-639-1, checked against `wlang`; `None` when
    /// the ads carry no text that matters.
    pub language: Option<String>,
    /// Where and to whom it bids.
    pub targeting: Targeting,
    /// Bid multipliers per funnel stage of the user in
    /// `targeting.audience`'s funnel; they scale base and max CPM alike.
    pub stage_multipliers: StageMultipliers,
    /// Names of the advertiser's fragment sets it assembles creatives
    /// from; empty = fixed creatives only.
    #[serde(default)]
    pub fragment_sets: Vec<String>,
    /// How the daily budget is spread over the campaign's day.
    #[serde(default)]
    pub pacing: Pacing,
    /// How often one user may see it.
    #[serde(default)]
    pub frequency: FrequencyRules,
    /// What its assembled creatives learn to serve.
    #[serde(default)]
    pub learning: Learning,
    /// Incremented on every write; the admin API's ETag.
    pub version: i64,
    /// Creation time.
    pub created_at: UnixTime,
    /// Last update.
    pub updated_at: UnixTime,
}

impl Campaign {
    /// A new campaign's starting point, nothing stored yet: active, no
    /// flight, no budget or price, in US dollars, every rule at its default
    /// (even pacing over UTC days). Forms and fixtures fill in the rest.
    pub fn blank(advertiser: AdvertiserId) -> Campaign {
        Campaign {
            id: CampaignId(0),
            advertiser_id: advertiser,
            name: String::new(),
            status: CampaignStatus::Active,
            flight_start: None,
            flight_end: None,
            total_budget_micros: Micros(0),
            daily_budget_micros: Micros(0),
            currency: Currency::USD,
            base_cpm_micros: Micros(0),
            max_cpm_micros: Micros(0),
            adomain: Vec::new(),
            cat: Vec::new(),
            attr: Vec::new(),
            app_bundle: None,
            language: None,
            targeting: Default::default(),
            stage_multipliers: Default::default(),
            fragment_sets: Vec::new(),
            pacing: Default::default(),
            frequency: Default::default(),
            learning: Default::default(),
            version: 0,
            created_at: UnixTime(0),
            updated_at: UnixTime(0),
        }
    }
}

/// How a campaign's assembled creatives are chosen, per stage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Learning {
    /// `clicks` (default) or `conversions`: the rate per impression by
    /// which the combination served at each stage is chosen.
    pub objective: Objective,
    /// Stages that learn on another objective, e.g. clicks while users
    /// discover the brand and conversions once they mean to buy:
    /// `{"intent": "conversions", "customer": "conversions"}`.
    pub stages: std::collections::BTreeMap<Stage, Objective>,
}

impl Learning {
    /// The objective combinations are chosen by at `stage`.
    pub fn objective_at(&self, stage: Stage) -> Objective {
        self.stages.get(&stage).copied().unwrap_or(self.objective)
    }
}

/// Which inventory a campaign buys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Inventory {
    /// Sites and apps.
    #[default]
    Any,
    /// Websites only.
    Site,
    /// Apps only.
    App,
}

/// An ad format a campaign can serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdFormat {
    /// Display banner.
    Banner,
    /// Native.
    Native,
    /// Video (VAST).
    Video,
}

/// A banner size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Size {
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

/// An allow list and a deny list; an empty allow list allows everything not
/// denied.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListFilter {
    /// Only these, when not empty.
    pub allow: Vec<String>,
    /// Never these.
    pub deny: Vec<String>,
}

/// Targeting rules; every empty list means "any".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Targeting {
    /// Countries, ISO-3166-1 alpha-3 (as OpenRTB `geo.country`).
    pub countries: Vec<String>,
    /// Regions as `COUNTRY-REGION`, e.g. `USA-CA`, `DEU-BY`.
    pub regions: Vec<String>,
    /// OpenRTB device types.
    pub device_types: Vec<u32>,
    /// Operating systems, case-insensitive (`ios`, `android`, ...).
    pub os: Vec<String>,
    /// Site domains.
    pub site_domains: ListFilter,
    /// App bundles.
    pub app_bundles: ListFilter,
    /// Site, app or both.
    pub inventory: Inventory,
    /// Formats; empty = every format it has creatives for.
    pub formats: Vec<AdFormat>,
    /// Banner sizes; empty = every size it has creatives for.
    pub sizes: Vec<Size>,
    /// Deal ids it bids on; with `deals_only` it bids on nothing else.
    pub deal_ids: Vec<String>,
    /// Bid only through the deals in `deal_ids`.
    pub deals_only: bool,
    /// Languages, ISO-639-1 (`en`, `de`).
    pub languages: Vec<String>,
    /// Which users, by their stage in one of the advertiser's funnels.
    pub audience: Option<AudienceTargeting>,
}

impl Targeting {
    /// Whether an assembled creative in format `f` may serve: its kind is
    /// targeted (none named: all) and, for a banner, its size (none named:
    /// all). Plans for the bid path and the gallery's missing formats both
    /// ask this.
    pub fn wants_format(&self, f: creative::template::Format) -> bool {
        use creative::template::Format;
        let kind = match f {
            Format::Banner(_) => AdFormat::Banner,
            Format::Native => AdFormat::Native,
            Format::Video => AdFormat::Video,
        };
        let size_ok = f.layout().is_none_or(|l| {
            self.sizes.is_empty() || self.sizes.iter().any(|s| s.w == l.w && s.h == l.h)
        });
        (self.formats.is_empty() || self.formats.contains(&kind)) && size_ok
    }
}

/// Targeting by funnel stage: the user's stage in `funnel_id` decides
/// whether the campaign bids and, through `stage_multipliers`, how much.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudienceTargeting {
    /// The funnel (of the campaign's advertiser) whose stage counts.
    pub funnel_id: FunnelId,
    /// Bid only on users at these stages; empty = any known stage.
    #[serde(default)]
    pub stages: Vec<Stage>,
    /// Never bid on users at these stages.
    #[serde(default)]
    pub exclude_stages: Vec<Stage>,
    /// Bid, at multiplier 1.0, on users whose stage is unknown: not in the
    /// funnel, or not to be looked up because consent does not allow it.
    #[serde(default = "yes")]
    pub unknown_users: bool,
}

fn yes() -> bool {
    true
}

impl AudienceTargeting {
    /// Whether a user at `stage` (`None` = unknown) may be bid on.
    pub fn admits(&self, stage: Option<Stage>) -> bool {
        match stage {
            None => self.unknown_users,
            Some(s) => {
                (self.stages.is_empty() || self.stages.contains(&s))
                    && !self.exclude_stages.contains(&s)
            }
        }
    }
}

/// How a campaign spreads its daily budget over its day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Pacing {
    /// The shape of the day's spending curve.
    pub mode: PacingMode,
    /// IANA time zone whose midnight starts the campaign's day, for its
    /// daily budget and its frequency caps alike (`Europe/Berlin`); `UTC`
    /// by default.
    pub time_zone: String,
}

impl Default for Pacing {
    fn default() -> Pacing {
        Pacing {
            mode: PacingMode::Even,
            time_zone: "UTC".into(),
        }
    }
}

/// The share of the daily budget a campaign may have spent at each point
/// of its day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PacingMode {
    /// In proportion to the time of day elapsed.
    #[default]
    Even,
    /// Faster early: `1 - (1 - t)^2` of the budget at day fraction `t`
    /// (three quarters by midday).
    FrontLoaded,
    /// As fast as bids win, up to the daily budget.
    Asap,
}

/// Per-user limits on how often a campaign (or an advertiser's campaigns
/// together) is shown. Applied only to users whose consent allows keeping
/// per-user state; counted on impressions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrequencyRules {
    /// At most `impressions` per `window`, each.
    pub caps: Vec<FrequencyCap>,
    /// Least time between two impressions to the same user; 0 = none.
    pub min_gap_secs: u32,
}

impl FrequencyRules {
    /// Whether there is nothing to enforce.
    pub fn is_empty(&self) -> bool {
        self.caps.is_empty() && self.min_gap_secs == 0
    }
}

/// At most `impressions` per `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrequencyCap {
    /// How many.
    pub impressions: u32,
    /// Per which calendar window.
    pub window: CapWindow,
}

/// A calendar window of a frequency cap: the clock hour, the day, the ISO
/// week (from Monday), in the campaign's time zone (the advertiser's for
/// its caps); see [`crate::state::calendar`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapWindow {
    /// The clock hour.
    Hour,
    /// The day, from midnight.
    Day,
    /// The week from Monday 00:00.
    Week,
}
