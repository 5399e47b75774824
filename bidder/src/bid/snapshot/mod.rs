//! The bid-ready form of the catalog: campaigns that can bid, compiled with
//! everything per-request code would otherwise compute (lowercased lists,
//! id strings, creatives grouped by format, the assembled creatives of
//! their fragment sets with the learner's choice), and the targeting index
//! over them.
//!
//! Built on the cold path after every committed admin write and published
//! whole through `ArcSwap`; never changed after that. A write that names
//! its campaigns patches the last snapshot ([`Snapshot::patch`]: those
//! campaigns compiled, moved and refiled, the rest shared); any other
//! rebuilds it ([`Snapshot::rebuild`]). Both equal a full build.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use audiences::Stage;
use audiences::table::FunnelId;
use creative::assembly::{Approved, ComboKey};
use creative::fragment::FragmentBody;
use creative::learning::Counts;
use creative::plan::{Library, Plan, PlanInput};
use creative::template::{BANNERS, Format};
use creative::{FixedCreative, NativeAssets};
use openrtb::macros::{AUCTION_CURRENCY, AUCTION_ID, AUCTION_IMP_ID, AUCTION_PRICE};
use openrtb::{Currency, Micros};

pub(crate) mod bitset;
pub mod by_campaign;
pub(crate) mod secure;
pub mod trackers;
pub(crate) mod vast_documents;

use bitset::{Bitset, Run};
pub use by_campaign::ByCampaign;
use creative::video::{MediaFile, Playable};
use trackers::{Tracked, Trackers};
use vast_documents::{Documents, ParsedVast};

use crate::bid::fx::FxRates;
use audiences::StageMultipliers;

use crate::model::{
    AdFormat, AdvertiserId, AudienceTargeting, Campaign, CampaignId, CampaignStatus, Catalog,
    ComboStats, Creative, CreativeStatus, FrequencyRules, FunnelMoves, Inventory, ListFilter,
    ServingFragment, UnixTime,
};
use crate::state::budget::{Account, Budgets, Limits};
use crate::state::calendar::Calendar;

/// Settings every snapshot is built with: immutable configuration only.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base URL of the notice endpoints, without trailing slash.
    pub public_url: String,
    /// Exchange rates.
    pub fx: FxRates,
    /// `bid.exp`, when set.
    pub bid_ttl_secs: Option<u32>,
    /// How assembled creatives are chosen.
    pub creative: creative::learning::Policy,
    /// Membership lifetime of users moved into a funnel stage by events.
    pub move_ttl_secs: u32,
    /// The page native ads link to where the placement shows a privacy
    /// link and the ad names no page of its own.
    pub privacy_url: Option<String>,
}

/// The fixed start of each notice URL, up to the bid's own part:
/// `{public}/events/win?auction=${AUCTION_ID}&imp=...&cur=${AUCTION_CURRENCY}`.
#[derive(Debug)]
pub struct NoticePrefixes {
    /// The win notice's (`nurl`).
    pub win: String,
    /// The billing notice's (`burl`).
    pub bill: String,
    /// The loss notice's (`lurl`).
    pub loss: String,
}

impl NoticePrefixes {
    /// The prefixes of notices sent to `public_url`.
    pub fn new(public_url: &str) -> NoticePrefixes {
        let prefix = |kind: &str| {
            format!(
                "{public_url}/events/{kind}?auction={AUCTION_ID}&imp={AUCTION_IMP_ID}\
                 &price={AUCTION_PRICE}&cur={AUCTION_CURRENCY}"
            )
        };
        NoticePrefixes {
            win: prefix("win"),
            bill: prefix("bill"),
            loss: prefix("loss"),
        }
    }
}

/// A banner creative: HTML for one size.
#[derive(Debug)]
pub struct BannerAd {
    /// Creative id as sent in `crid`.
    pub crid: String,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
    /// The markup, served as `adm`, with the click tracker where it said
    /// `${CLICK_URL}` and the impression pixel after it.
    pub markup: Tracked,
    /// Where the click tracker redirects.
    pub landing_url: Option<String>,
    /// Its markup loads nothing over plain http: it may serve secure imps.
    pub secure: bool,
}

/// A native creative.
#[derive(Debug)]
pub struct NativeAd {
    /// Creative id as sent in `crid`.
    pub crid: String,
    /// The assets, rendered per request.
    pub assets: NativeAssets,
    /// Its click tracker (`/events/click?cid=..&crid=..`), which counts the
    /// click and redirects to `assets.landing_url`; the bid's tail follows.
    pub click: String,
    /// Its impression tracker (`/events/imp?cid=..`); the tail follows.
    pub impression: String,
    /// Its images and privacy page are https: it may serve secure imps.
    pub secure: bool,
}

/// A video creative.
#[derive(Debug)]
pub struct VideoAd {
    /// Creative id as sent in `crid`.
    pub crid: String,
    /// What a player needs of it (versions, kinds of ad, media files,
    /// duration, linearity, skippability, placements): slots are matched
    /// on it. Read from the document; a wrapper's media types and
    /// duration, which its document does not hold, are the upload's.
    pub playable: Playable,
    /// Width of the main media file.
    pub w: u32,
    /// Height of the main media file.
    pub h: u32,
    /// The document, served as `adm`, with the impression and click
    /// trackers in it; shared with the next snapshot while the creative
    /// stays the same.
    pub document: Arc<ParsedVast>,
    /// Its document names no `http://` URL: it may serve secure imps.
    pub secure: bool,
}

/// A campaign as the bid path needs it.
#[derive(Debug)]
pub struct CompiledCampaign {
    /// Store id.
    pub id: CampaignId,
    /// Owner.
    pub advertiser_id: AdvertiserId,
    /// `cid` on bids.
    pub cid: String,
    /// First second it may bid.
    pub flight_start: Option<UnixTime>,
    /// First second it may no longer bid.
    pub flight_end: Option<UnixTime>,
    /// Currency of its prices.
    pub currency: Currency,
    /// Usual CPM bid.
    pub base_cpm: Micros,
    /// Highest CPM it pays.
    pub max_cpm: Micros,
    /// `max_cpm` in USD, for ordering campaigns by value.
    pub value_usd: Micros,
    /// Advertiser domains (`bid.adomain`).
    pub adomain: Vec<String>,
    /// Categories (`bid.cat`).
    pub cat: Vec<String>,
    /// Creative attributes (`bid.attr`).
    pub attr: Vec<u32>,
    /// Advertised app (`bid.bundle`).
    pub app_bundle: Option<String>,
    /// Language of the ads.
    pub language: Option<String>,
    /// Targeted regions, `COUNTRY-REGION`, uppercase.
    pub regions: Vec<String>,
    /// Targeted audience languages, lowercase.
    pub languages: Vec<String>,
    /// Site domain allow/deny, lowercase.
    pub site_domains: ListFilter,
    /// App bundle allow/deny, lowercase.
    pub app_bundles: ListFilter,
    /// Deals it bids on.
    pub deal_ids: Vec<String>,
    /// Bids only through `deal_ids`.
    pub deals_only: bool,
    /// Targeting by funnel stage.
    pub audience: Option<AudienceTargeting>,
    /// Bid multipliers per stage of the user in `audience`'s funnel.
    pub multipliers: StageMultipliers,
    /// Banner creatives it may serve.
    pub banners: Vec<BannerAd>,
    /// Native creatives it may serve.
    pub natives: Vec<NativeAd>,
    /// Video creatives it may serve.
    pub videos: Vec<VideoAd>,
    /// Creatives assembled from its fragment sets, if it names any.
    pub plan: Option<Box<Plan>>,
    /// Its budgets and pacing curve.
    pub limits: Limits,
    /// Its booked spend and reservations (shared with every snapshot).
    pub account: Arc<dyn Account>,
    /// Its own frequency caps and recency.
    pub frequency: FrequencyRules,
    /// Its advertiser's caps over all its campaigns.
    pub advertiser_frequency: FrequencyRules,
    /// Where its own caps' windows begin: its `pacing.time_zone`.
    pub calendar: Calendar,
    /// Where its advertiser's caps' windows begin: the advertiser's
    /// `time_zone`.
    pub advertiser_calendar: Calendar,
    /// What the targeting index files it under.
    keys: IndexKeys,
    /// A digest of everything it was compiled from: a later build whose
    /// inputs digest the same reuses it rather than compiling it again.
    fingerprint: u64,
}

/// The targeting values a campaign is indexed under, normalised as
/// requests are (countries uppercase, OS lowercase).
#[derive(Debug, Clone, PartialEq, Eq)]
struct IndexKeys {
    countries: Vec<String>,
    device_types: Vec<u32>,
    os: Vec<String>,
    inventory: Inventory,
}

/// A campaign of the catalog that does not bid now (paused, finished,
/// without a creative it can serve): whose it is and where its caps'
/// windows begin. Its impressions can still arrive, from bids it won just
/// before it stopped, and they count for its own caps and its advertiser's
/// like any other.
#[derive(Debug, Clone)]
pub struct Resting {
    /// Owner.
    pub advertiser_id: AdvertiserId,
    /// Where its own caps' windows begin: its `pacing.time_zone`.
    pub calendar: Calendar,
    /// Where its advertiser's caps' windows begin.
    pub advertiser_calendar: Calendar,
}

/// Which campaigns target what: one bitset per targeting value, plus, per
/// dimension, the campaigns without a restriction there.
///
/// Its maps hash with foldhash rather than SipHash: they are looked up
/// several times per request with keys of a few bytes, and they are built
/// from the catalog, not from what exchanges send, so collision flooding
/// is no concern (exchange keys are only looked up).
#[derive(Debug, Default)]
pub struct Index {
    /// Words per bitset.
    pub words: usize,
    /// Every campaign.
    pub all: Bitset,
    /// By country (alpha-3, uppercase).
    pub country: IndexMap<String>,
    /// No country restriction.
    pub country_any: Bitset,
    /// By OpenRTB device type.
    pub device_type: IndexMap<u32>,
    /// No device type restriction.
    pub device_type_any: Bitset,
    /// By OS, lowercase.
    pub os: IndexMap<String>,
    /// No OS restriction.
    pub os_any: Bitset,
    /// Buy sites.
    pub site: Bitset,
    /// Buy apps.
    pub app: Bitset,
    /// Have a banner creative of this size.
    pub banner_size: IndexMap<(u32, u32)>,
    /// Have any banner creative.
    pub banner_any: Bitset,
    /// Have a native creative.
    pub native: Bitset,
    /// Have a video creative.
    pub video: Bitset,
}

/// One dimension of the [`Index`]: the campaigns per value.
pub type IndexMap<K> = HashMap<K, Bitset, foldhash::fast::RandomState>;

/// An advertiser missing from the catalog caps nothing.
static NO_CAPS: FrequencyRules = FrequencyRules {
    caps: Vec::new(),
    min_gap_secs: 0,
};

/// Everything the bid path reads, immutable.
#[derive(Debug)]
pub struct Snapshot {
    /// Campaigns that can bid, most valuable first; index bit `i` is
    /// `campaigns[i]`. Shared with the snapshots before and after this one
    /// for as long as their inputs stay the same.
    pub campaigns: Vec<Arc<CompiledCampaign>>,
    /// The targeting index.
    pub index: Index,
    /// Notice URLs, rates, bid expiry.
    pub settings: Settings,
    /// Whether any campaign targets a funnel or caps frequency: only then
    /// are the user's keys hashed and looked up.
    pub uses_audiences: bool,
    /// Every campaign of `campaigns`, by id.
    pub by_id: ByCampaign<Arc<CompiledCampaign>>,
    /// The catalog's other campaigns, those that do not bid now.
    pub resting: ByCampaign<Resting>,
    /// Per advertiser, its funnels and where events move users in them.
    pub funnel_moves: HashMap<AdvertiserId, Vec<(FunnelId, FunnelMoves)>>,
    /// The start of every notice URL.
    pub notice_prefixes: NoticePrefixes,
    /// The public URL, and so every notice and tracker URL, is https:
    /// without it no secure imp gets a bid.
    pub secure_notices: bool,
    /// How many of `campaigns` make `uses_audiences` true.
    audience_campaigns: usize,
    /// The earliest flight end of `campaigns`: from then on a patch would
    /// keep a campaign that a full build drops.
    next_flight_end: Option<UnixTime>,
}

impl Snapshot {
    /// Compiles `catalog` at `now`: drops what cannot bid (not active,
    /// finished, no active creative for an allowed format), orders the
    /// rest by value and indexes them. Each campaign holds its account
    /// from `budgets`.
    pub fn build(
        catalog: &Catalog,
        settings: &Settings,
        budgets: &dyn Budgets,
        now: UnixTime,
    ) -> Snapshot {
        Snapshot::rebuild(
            None,
            catalog,
            settings,
            budgets,
            now,
            &mut Documents::default(),
        )
    }

    /// [`Snapshot::build`], taking VAST documents parsed for the last
    /// snapshot from `documents` and leaving this one's there for the next.
    pub fn build_with(
        catalog: &Catalog,
        settings: &Settings,
        budgets: &dyn Budgets,
        now: UnixTime,
        documents: &mut Documents,
    ) -> Snapshot {
        Snapshot::rebuild(None, catalog, settings, budgets, now, documents)
    }

    /// [`Snapshot::build_with`], sharing with `prev` every compiled
    /// campaign whose inputs did not change since (its row, its
    /// advertiser's, its creatives', its fragment sets' serving versions,
    /// the audits and its learning counts: see `Fingerprints`). It still
    /// digests, orders and indexes every campaign; [`Snapshot::patch`]
    /// does not. The result is the same as a full build (a property test
    /// compares them).
    pub fn rebuild(
        prev: Option<&Snapshot>,
        catalog: &Catalog,
        settings: &Settings,
        budgets: &dyn Budgets,
        now: UnixTime,
        documents: &mut Documents,
    ) -> Snapshot {
        let inputs = Fingerprints::of(catalog, None);
        let previous = |id: CampaignId, fingerprint: u64| {
            let old = prev?.by_id.get(&id)?;
            (old.fingerprint == fingerprint).then(|| Arc::clone(old))
        };
        // Compiled from scratch only where the inputs changed; the plans'
        // inputs are gathered once, for those campaigns alone.
        let fingerprints: Vec<(&Campaign, u64)> = catalog
            .campaigns
            .iter()
            .filter(|c| bidding_now(c, now))
            .map(|c| (c, inputs.of_campaign(c)))
            .collect();
        let to_compile: Vec<&Campaign> = fingerprints
            .iter()
            .filter(|(c, f)| previous(c.id, *f).is_none())
            .map(|(c, _)| *c)
            .collect();
        let mut compiler = Compiler::new(catalog, &inputs, &to_compile, settings, budgets, now);
        let mut campaigns: Vec<Arc<CompiledCampaign>> = Vec::with_capacity(fingerprints.len());
        for (c, fingerprint) in fingerprints {
            let compiled = match previous(c.id, fingerprint) {
                Some(old) => Some(old),
                None => compiler.compile(c, fingerprint, documents),
            };
            campaigns.extend(compiled);
        }
        documents.finish_build();
        campaigns.sort_by(|a, b| by_value(a, b));
        let by_id: ByCampaign<Arc<CompiledCampaign>> =
            campaigns.iter().map(|c| (c.id, Arc::clone(c))).collect();
        let resting = catalog
            .campaigns
            .iter()
            .filter(|c| !by_id.contains_key(&c.id))
            .map(|c| (c.id, compiler.resting(c)))
            .collect();
        Snapshot {
            uses_audiences: false,
            audience_campaigns: campaigns.iter().filter(|c| c.uses_audiences()).count(),
            next_flight_end: campaigns.iter().filter_map(|c| c.flight_end).min(),
            index: build_index(&campaigns),
            by_id,
            resting,
            campaigns,
            notice_prefixes: NoticePrefixes::new(&settings.public_url),
            secure_notices: settings.public_url.starts_with("https://"),
            settings: settings.clone(),
            funnel_moves: funnel_moves(catalog),
        }
        .counted()
    }

    /// The snapshot after a write that changed only the campaigns `changed`
    /// (their rows or creatives; created, deleted, paused or resumed):
    /// `prev` with just those compiled again, moved to their new place in
    /// the value order and refiled in the index, every other campaign and
    /// shard shared with `prev`. Its cost is the change plus a word-wise
    /// copy of the index's sets. `catalog` already holds the change; the
    /// result is the snapshot [`Snapshot::build`] makes of it (a property
    /// test compares them). Builds in full instead once a campaign of
    /// `prev` has reached its flight end, which only a full build drops.
    pub fn patch(
        prev: &Snapshot,
        catalog: &Catalog,
        changed: &[CampaignId],
        settings: &Settings,
        budgets: &dyn Budgets,
        now: UnixTime,
        documents: &mut Documents,
    ) -> Snapshot {
        let mut ids = changed.to_vec();
        ids.sort_unstable();
        ids.dedup();
        // Where the changed campaigns that bid stood in `prev`'s order.
        let removed: Option<Vec<usize>> = ids
            .iter()
            .filter_map(|id| prev.by_id.get(id))
            .map(|old| prev.campaigns.binary_search_by(|x| by_value(x, old)).ok())
            .collect();
        let expired = prev.next_flight_end.is_some_and(|end| end <= now);
        let Some(mut removed) = removed.filter(|_| !expired) else {
            return Snapshot::rebuild(Some(prev), catalog, settings, budgets, now, documents);
        };
        removed.sort_unstable();
        let rows: Vec<&Campaign> = ids
            .iter()
            .filter_map(|id| {
                let at = catalog.campaigns.binary_search_by_key(id, |c| c.id).ok()?;
                Some(&catalog.campaigns[at])
            })
            .collect();
        let inputs = Fingerprints::of(catalog, Some(&rows));
        let bidding: Vec<(&Campaign, u64)> = rows
            .iter()
            .filter(|c| bidding_now(c, now))
            .map(|c| (*c, inputs.of_campaign(c)))
            .collect();
        let bidding_rows: Vec<&Campaign> = bidding.iter().map(|(c, _)| *c).collect();
        let mut compiler = Compiler::new(catalog, &inputs, &bidding_rows, settings, budgets, now);
        let mut added: Vec<Arc<CompiledCampaign>> = Vec::with_capacity(bidding.len());
        for (c, fingerprint) in bidding {
            added.extend(compiler.compile(c, fingerprint, documents));
        }
        documents.finish_patch(&ids);
        added.sort_by(|a, b| by_value(a, b));

        let mut by_id = prev.by_id.clone();
        let mut resting = prev.resting.clone();
        for id in &ids {
            by_id.remove(id);
            resting.remove(id);
        }
        for c in &added {
            by_id.insert(c.id, Arc::clone(c));
        }
        for c in rows.iter().filter(|c| !by_id.contains_key(&c.id)) {
            resting.insert(c.id, compiler.resting(c));
        }
        let audience_campaigns = prev.audience_campaigns
            + added.iter().filter(|c| c.uses_audiences()).count()
            - removed
                .iter()
                .filter(|&&at| prev.campaigns[at].uses_audiences())
                .count();
        let next_flight_end = prev
            .next_flight_end
            .into_iter()
            .chain(added.iter().filter_map(|c| c.flight_end))
            .min();
        let (campaigns, runs, placed) = merge(&prev.campaigns, &removed, added);
        let mut index = prev.index.moved(&runs, campaigns.len());
        for at in placed {
            file(&mut index, at, &campaigns[at], campaigns.len());
        }
        Snapshot {
            uses_audiences: false,
            audience_campaigns,
            next_flight_end,
            index,
            by_id,
            resting,
            campaigns,
            notice_prefixes: NoticePrefixes::new(&settings.public_url),
            secure_notices: settings.public_url.starts_with("https://"),
            settings: settings.clone(),
            funnel_moves: funnel_moves(catalog),
        }
        .counted()
    }

    /// Sets `uses_audiences` from the count of campaigns that need it.
    fn counted(mut self) -> Snapshot {
        self.uses_audiences = self.audience_campaigns > 0;
        self
    }

    /// Campaigns that can bid.
    pub fn campaign_count(&self) -> usize {
        self.campaigns.len()
    }
}

/// Whether `c` may bid at `now` if it has something to serve.
fn bidding_now(c: &Campaign, now: UnixTime) -> bool {
    c.status == CampaignStatus::Active && c.flight_end.is_none_or(|end| end > now)
}

/// The order of a snapshot's campaigns: most valuable first (value in
/// USD, then base CPM), ties by id, so no two compare equal.
fn by_value(a: &CompiledCampaign, b: &CompiledCampaign) -> std::cmp::Ordering {
    b.value_usd
        .cmp(&a.value_usd)
        .then(b.base_cpm.cmp(&a.base_cpm))
        .then(a.id.cmp(&b.id))
}

/// `old` without the positions `removed` (ascending) and with `added`
/// (in value order) each at its place: the new order, the runs of `old`
/// it keeps (for renumbering the index) and where `added` landed.
fn merge(
    old: &[Arc<CompiledCampaign>],
    removed: &[usize],
    added: Vec<Arc<CompiledCampaign>>,
) -> (Vec<Arc<CompiledCampaign>>, Vec<Run>, Vec<usize>) {
    let mut out = Vec::with_capacity(old.len() + added.len() - removed.len());
    let mut runs = Vec::with_capacity(removed.len() + added.len() + 1);
    let mut placed = Vec::with_capacity(added.len());
    let mut removed = removed.iter().copied().peekable();
    let mut from = 0;
    // Copies old[from..end] to `out` but the removed positions there.
    let mut keep = |from: &mut usize, end: usize, out: &mut Vec<_>| {
        while *from < end {
            let stop = removed.next_if(|&r| r < end);
            let run_end = stop.unwrap_or(end);
            if run_end > *from {
                runs.push(Run {
                    from: *from,
                    to: out.len(),
                    len: run_end - *from,
                });
                out.extend_from_slice(&old[*from..run_end]);
            }
            *from = stop.map_or(end, |r| r + 1);
        }
    };
    for c in added {
        let at = from + old[from..].partition_point(|x| by_value(x, &c).is_lt());
        keep(&mut from, at, &mut out);
        placed.push(out.len());
        out.push(c);
    }
    keep(&mut from, old.len(), &mut out);
    (out, runs, placed)
}

/// Per advertiser, its funnels and where events move users in them.
fn funnel_moves(catalog: &Catalog) -> HashMap<AdvertiserId, Vec<(FunnelId, FunnelMoves)>> {
    let mut moves: HashMap<AdvertiserId, Vec<(FunnelId, FunnelMoves)>> = HashMap::new();
    for f in &catalog.funnels {
        moves
            .entry(f.advertiser_id)
            .or_default()
            .push((f.id, f.moves));
    }
    moves
}

impl CompiledCampaign {
    /// Whether bidding for it reads the user's funnel stages or counts.
    fn uses_audiences(&self) -> bool {
        self.audience.is_some()
            || !self.frequency.is_empty()
            || !self.advertiser_frequency.is_empty()
    }
}

/// Compiles campaigns of one catalog: what they need of the rest of it
/// (their advertiser's caps, the calendars of their time zones, the
/// inputs of their plans), gathered once per build for the campaigns it
/// compiles.
struct Compiler<'c, 'b> {
    inputs: &'b Fingerprints<'c>,
    assembly: AssemblyInputs<'c>,
    advertisers: HashMap<AdvertiserId, (&'c FrequencyRules, &'c str)>,
    calendars: HashMap<&'c str, Calendar>,
    settings: &'b Settings,
    budgets: &'b dyn Budgets,
    now: UnixTime,
}

impl<'c, 'b> Compiler<'c, 'b> {
    /// A compiler for `to_compile`, campaigns of `catalog`.
    fn new(
        catalog: &'c Catalog,
        inputs: &'b Fingerprints<'c>,
        to_compile: &[&'c Campaign],
        settings: &'b Settings,
        budgets: &'b dyn Budgets,
        now: UnixTime,
    ) -> Compiler<'c, 'b> {
        Compiler {
            inputs,
            assembly: AssemblyInputs::of(catalog, to_compile),
            advertisers: catalog
                .advertisers
                .iter()
                .map(|a| (a.id, (&a.frequency, a.time_zone.as_str())))
                .collect(),
            calendars: HashMap::new(),
            settings,
            budgets,
            now,
        }
    }

    /// The calendar of `zone` at the build's time.
    fn calendar(&mut self, zone: &'c str) -> Calendar {
        let now = self.now;
        self.calendars
            .entry(zone)
            .or_insert_with(|| Calendar::named(zone, now))
            .clone()
    }

    /// `c`'s advertiser's caps and time zone.
    fn owner(&self, c: &Campaign) -> (&'c FrequencyRules, &'c str) {
        self.advertisers
            .get(&c.advertiser_id)
            .copied()
            .unwrap_or((&NO_CAPS, "UTC"))
    }

    /// `c` compiled, marked with `fingerprint`; `None` when it has nothing
    /// it can serve.
    fn compile(
        &mut self,
        c: &'c Campaign,
        fingerprint: u64,
        documents: &mut Documents,
    ) -> Option<Arc<CompiledCampaign>> {
        let plan = self.assembly.plan(c, self.settings, false);
        let (caps, zone) = self.owner(c);
        let calendars = (self.calendar(&c.pacing.time_zone), self.calendar(zone));
        let build = (self.settings, self.budgets, self.now, documents);
        let mut cc = compile(c, self.inputs.creatives(c.id), plan, caps, calendars, build)?;
        cc.fingerprint = fingerprint;
        Some(Arc::new(cc))
    }

    /// `c` as a campaign that does not bid now.
    fn resting(&mut self, c: &'c Campaign) -> Resting {
        Resting {
            advertiser_id: c.advertiser_id,
            calendar: self.calendar(&c.pacing.time_zone),
            advertiser_calendar: self.calendar(self.owner(c).1),
        }
    }
}

/// What each campaign of a catalog is compiled from, grouped once per
/// build, and digested per campaign: equal digests, equal compiled
/// campaigns (for one deployment's settings, which never change while it
/// runs).
struct Fingerprints<'c> {
    /// Active creatives per campaign, by id.
    creatives: HashMap<CampaignId, Vec<&'c Creative>>,
    /// Version of each advertiser (its name, caps and time zone).
    advertisers: HashMap<AdvertiserId, i64>,
    /// Serving fragments per advertiser.
    fragments: HashMap<AdvertiserId, Vec<&'c ServingFragment>>,
    /// Learning counts per campaign.
    stats: HashMap<CampaignId, Vec<&'c ComboStats>>,
    /// Digest of every exchange's audit rejections.
    rejected: u64,
}

impl<'c> Fingerprints<'c> {
    /// The inputs of the campaigns `wanted`, or of every campaign for
    /// `None`. A campaign's creatives and counts are found by binary
    /// search (the catalog keeps them grouped by campaign), so the inputs
    /// of a few campaigns cost those campaigns, not the catalog.
    fn of(catalog: &'c Catalog, wanted: Option<&[&Campaign]>) -> Fingerprints<'c> {
        let active = |cr: &&Creative| cr.status == CreativeStatus::Active;
        let mut creatives: HashMap<CampaignId, Vec<&Creative>> = HashMap::new();
        let mut stats: HashMap<CampaignId, Vec<&ComboStats>> = HashMap::new();
        let mut fragments: HashMap<AdvertiserId, Vec<&ServingFragment>> = HashMap::new();
        match wanted {
            None => {
                for cr in catalog.creatives.iter().filter(active) {
                    creatives.entry(cr.campaign_id).or_default().push(cr);
                }
                for s in &catalog.stats {
                    stats.entry(s.campaign_id).or_default().push(s);
                }
                for f in &catalog.fragments {
                    fragments.entry(f.advertiser_id).or_default().push(f);
                }
            }
            Some(campaigns) => {
                for c in campaigns {
                    let own: Vec<&Creative> =
                        catalog.creatives_of(c.id).iter().filter(active).collect();
                    creatives.insert(c.id, own);
                    stats.insert(c.id, catalog.stats_of(c.id).iter().collect());
                }
                // Only campaigns with fragment sets digest their
                // advertiser's fragments.
                let mut owners: Vec<AdvertiserId> = campaigns
                    .iter()
                    .filter(|c| !c.fragment_sets.is_empty())
                    .map(|c| c.advertiser_id)
                    .collect();
                owners.sort_unstable();
                owners.dedup();
                for f in catalog
                    .fragments
                    .iter()
                    .filter(|f| owners.binary_search(&f.advertiser_id).is_ok())
                {
                    fragments.entry(f.advertiser_id).or_default().push(f);
                }
            }
        }
        let mut rejected = std::collections::hash_map::DefaultHasher::new();
        catalog.rejected.hash(&mut rejected);
        Fingerprints {
            creatives,
            advertisers: catalog
                .advertisers
                .iter()
                .map(|a| (a.id, a.version))
                .collect(),
            fragments,
            stats,
            rejected: rejected.finish(),
        }
    }

    /// `id`'s active creatives.
    fn creatives(&self, id: CampaignId) -> &[&'c Creative] {
        self.creatives
            .get(&id)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The digest of everything `c` compiles from.
    fn of_campaign(&self, c: &Campaign) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (c.id, c.version).hash(&mut h);
        self.advertisers.get(&c.advertiser_id).hash(&mut h);
        for cr in self.creatives(c.id) {
            (cr.id, cr.version).hash(&mut h);
        }
        if !c.fragment_sets.is_empty() {
            for f in self.fragments.get(&c.advertiser_id).into_iter().flatten() {
                if c.fragment_sets.contains(&f.set) {
                    (f.id, f.version).hash(&mut h);
                }
            }
            for s in self.stats.get(&c.id).into_iter().flatten() {
                (
                    s.stage,
                    s.combination,
                    s.impressions,
                    s.clicks,
                    s.conversions,
                )
                    .hash(&mut h);
            }
            self.rejected.hash(&mut h);
        }
        h.finish()
    }
}

fn lower(list: &[String]) -> Vec<String> {
    list.iter().map(|s| s.trim().to_ascii_lowercase()).collect()
}

/// The assembled creatives of `c` as a preview shows them, whatever its
/// status (previews and the gallery show campaigns before they bid): as a
/// snapshot would hold them, but without impression trackers, so looking
/// never counts.
pub fn preview_plan(catalog: &Catalog, c: &Campaign, settings: &Settings) -> Option<Box<Plan>> {
    AssemblyInputs::of(catalog, &[c]).plan(c, settings, true)
}

/// What plans are built from, indexed once per snapshot.
struct AssemblyInputs<'c> {
    /// Serving fragments per advertiser.
    fragments: HashMap<AdvertiserId, Vec<&'c ServingFragment>>,
    /// Advertiser names (sponsored-by).
    brands: HashMap<AdvertiserId, &'c str>,
    /// Exchanges that rejected each crid.
    rejected: HashMap<&'c str, Vec<Box<str>>>,
    /// Learning counts.
    counts: HashMap<(CampaignId, Stage, ComboKey), Counts>,
}

impl<'c> AssemblyInputs<'c> {
    /// The inputs of the plans of `campaigns`.
    fn of(catalog: &'c Catalog, campaigns: &[&Campaign]) -> AssemblyInputs<'c> {
        let planned: Vec<&&Campaign> = campaigns
            .iter()
            .filter(|c| !c.fragment_sets.is_empty())
            .collect();
        let mut advertisers: Vec<AdvertiserId> = planned.iter().map(|c| c.advertiser_id).collect();
        advertisers.sort_unstable();
        advertisers.dedup();
        let mut fragments: HashMap<AdvertiserId, Vec<&ServingFragment>> = HashMap::new();
        for f in catalog
            .fragments
            .iter()
            .filter(|f| advertisers.binary_search(&f.advertiser_id).is_ok())
        {
            fragments.entry(f.advertiser_id).or_default().push(f);
        }
        let mut rejected: HashMap<&str, Vec<Box<str>>> = HashMap::new();
        for (exchange, crid) in &catalog.rejected {
            rejected
                .entry(crid.as_str())
                .or_default()
                .push(exchange.as_str().into());
        }
        AssemblyInputs {
            fragments,
            brands: catalog
                .advertisers
                .iter()
                .map(|a| (a.id, a.name.as_str()))
                .collect(),
            rejected,
            counts: planned
                .iter()
                .flat_map(|c| catalog.stats_of(c.id))
                .map(|s| {
                    let counts = Counts {
                        impressions: s.impressions,
                        clicks: s.clicks,
                        conversions: s.conversions,
                    };
                    ((s.campaign_id, s.stage, s.combination), counts)
                })
                .collect(),
        }
    }

    /// The plan of `c`'s fragment sets; `None` when it names none or they
    /// hold no compatible combination. See [`PlanInput::preview`].
    fn plan(&self, c: &Campaign, settings: &Settings, preview: bool) -> Option<Box<Plan>> {
        if c.fragment_sets.is_empty() {
            return None;
        }
        let mut library = Library::default();
        let own = self.fragments.get(&c.advertiser_id)?;
        for f in own.iter().filter(|f| c.fragment_sets.contains(&f.set)) {
            let (id, version) = (f.id, f.version);
            match &f.body {
                FragmentBody::Message(m) => library.messages.push(Approved {
                    id,
                    version,
                    body: m.clone(),
                }),
                FragmentBody::Content(x) => library.contents.push(Approved {
                    id,
                    version,
                    body: x.clone(),
                }),
                FragmentBody::Tone(t) => library.tones.push(Approved {
                    id,
                    version,
                    body: t.clone(),
                }),
            }
        }
        let allows = |f: Format| c.targeting.wants_format(f);
        let cid = c.id;
        let click_base = format!("{}/events/click?cid={}", settings.public_url, cid.0);
        let impression_base = format!("{}/events/imp?cid={}", settings.public_url, cid.0);
        let plan = Plan::build(
            &library,
            &PlanInput {
                brand: self.brands.get(&c.advertiser_id).copied().unwrap_or(""),
                default_language: c.language.as_deref(),
                click_base: &click_base,
                impression_base: &impression_base,
                privacy_url: settings.privacy_url.as_deref(),
                preview,
                allows: &allows,
                rejected_at: &|crid| self.rejected.get(crid).cloned().unwrap_or_default(),
                counts: &|stage, key| {
                    self.counts
                        .get(&(cid, stage, key))
                        .copied()
                        .unwrap_or_default()
                },
                policy: &settings.creative,
                objective: &|stage| c.learning.objective_at(stage),
            },
        );
        (!plan.is_empty()).then(|| Box::new(plan))
    }
}

fn compile(
    c: &Campaign,
    creatives: &[&Creative],
    plan: Option<Box<Plan>>,
    advertiser_caps: &FrequencyRules,
    (calendar, advertiser_calendar): (Calendar, Calendar),
    (settings, budgets, now, documents): (&Settings, &dyn Budgets, UnixTime, &mut Documents),
) -> Option<CompiledCampaign> {
    let t = &c.targeting;
    let allows = |f: AdFormat| t.formats.is_empty() || t.formats.contains(&f);
    let (mut banners, mut natives, mut videos) = (Vec::new(), Vec::new(), Vec::new());
    let events = format!("{}/events/", settings.public_url);
    let impression = format!("{events}imp?stage=");
    for cr in creatives {
        let crid = cr.id.0.to_string();
        let click = format!("{events}click?cid={}&crid={crid}&stage=", c.id.0);
        let click_ping = format!("{events}clicktrack?cid={}&crid={crid}&stage=", c.id.0);
        let trackers = Trackers {
            impression: &impression,
            click: &click,
            click_ping: &click_ping,
        };
        match &cr.body {
            FixedCreative::Html(h) if allows(AdFormat::Banner) => {
                let size_ok =
                    t.sizes.is_empty() || t.sizes.iter().any(|s| s.w == h.w && s.h == h.h);
                if size_ok {
                    banners.push(BannerAd {
                        crid,
                        w: h.w,
                        h: h.h,
                        markup: Tracked::html(&h.markup, h.landing_url.is_some(), trackers),
                        landing_url: h.landing_url.clone(),
                        secure: secure::html_is_secure(&h.markup),
                    });
                }
            }
            FixedCreative::Native(n) if allows(AdFormat::Native) => {
                let mut assets = n.clone();
                if assets.privacy_url.is_none() {
                    assets.privacy_url = settings.privacy_url.clone();
                }
                natives.push(NativeAd {
                    click: format!(
                        "{}/events/click?cid={}&crid={crid}",
                        settings.public_url, c.id.0
                    ),
                    impression: format!("{}/events/imp?cid={}", settings.public_url, c.id.0),
                    crid,
                    secure: secure::native_is_secure(&assets),
                    assets,
                })
            }
            FixedCreative::Vast(v) if allows(AdFormat::Video) => {
                if let Some(document) = documents.vast(cr, &v.document, trackers) {
                    let mut playable = document.read.playable.clone();
                    if playable.media.is_empty() {
                        playable.media = v.mimes.iter().map(|m| MediaFile::of_type(m)).collect();
                    }
                    if playable.duration_ms == 0 {
                        playable.duration_ms = v.duration_secs.saturating_mul(1000);
                    }
                    playable.placements = v.plcmt.as_slice().into();
                    videos.push(VideoAd {
                        crid,
                        playable,
                        w: v.w,
                        h: v.h,
                        secure: document.read.insecure.is_none(),
                        document,
                    });
                }
            }
            _ => {}
        }
    }
    if banners.is_empty() && natives.is_empty() && videos.is_empty() && plan.is_none() {
        return None;
    }
    let value_usd = settings
        .fx
        .convert(c.max_cpm_micros, c.currency, Currency::USD)
        .unwrap_or(c.max_cpm_micros);
    Some(CompiledCampaign {
        id: c.id,
        advertiser_id: c.advertiser_id,
        cid: c.id.0.to_string(),
        flight_start: c.flight_start,
        flight_end: c.flight_end,
        currency: c.currency,
        base_cpm: c.base_cpm_micros,
        max_cpm: c.max_cpm_micros,
        value_usd,
        adomain: c.adomain.clone(),
        cat: c.cat.clone(),
        attr: c.attr.clone(),
        app_bundle: c.app_bundle.clone(),
        language: c.language.as_ref().map(|l| l.to_ascii_lowercase()),
        regions: t
            .regions
            .iter()
            .map(|r| r.trim().to_ascii_uppercase())
            .collect(),
        languages: lower(&t.languages),
        site_domains: ListFilter {
            allow: lower(&t.site_domains.allow),
            deny: lower(&t.site_domains.deny),
        },
        app_bundles: ListFilter {
            allow: lower(&t.app_bundles.allow),
            deny: lower(&t.app_bundles.deny),
        },
        deal_ids: t.deal_ids.clone(),
        deals_only: t.deals_only,
        audience: t.audience.clone(),
        multipliers: c.stage_multipliers,
        banners,
        natives,
        videos,
        plan,
        limits: Limits::of(c),
        account: budgets.account(c, now),
        frequency: c.frequency.clone(),
        advertiser_frequency: advertiser_caps.clone(),
        calendar,
        advertiser_calendar,
        keys: IndexKeys {
            countries: t
                .countries
                .iter()
                .map(|c| c.trim().to_ascii_uppercase())
                .collect(),
            device_types: t.device_types.clone(),
            os: lower(&t.os),
            inventory: t.inventory,
        },
        // Set by the build, which knows the inputs' digest.
        fingerprint: 0,
    })
}

fn build_index(campaigns: &[Arc<CompiledCampaign>]) -> Index {
    let n = campaigns.len();
    let mut ix = Index {
        words: n.div_ceil(64),
        all: Bitset::new(n),
        country_any: Bitset::new(n),
        device_type_any: Bitset::new(n),
        os_any: Bitset::new(n),
        site: Bitset::new(n),
        app: Bitset::new(n),
        banner_any: Bitset::new(n),
        native: Bitset::new(n),
        video: Bitset::new(n),
        ..Index::default()
    };
    for (i, cc) in campaigns.iter().enumerate() {
        file(&mut ix, i, cc, n);
    }
    ix
}

/// Files `cc`, campaign number `i` of `n`, under each of its targeting
/// values in `ix`.
fn file(ix: &mut Index, i: usize, cc: &CompiledCampaign, n: usize) {
    let t = &cc.keys;
    ix.all.insert(i);
    if t.countries.is_empty() {
        ix.country_any.insert(i);
    }
    for country in &t.countries {
        ix.country
            .entry(country.clone())
            .or_insert_with(|| Bitset::new(n))
            .insert(i);
    }
    if t.device_types.is_empty() {
        ix.device_type_any.insert(i);
    }
    for dt in &t.device_types {
        ix.device_type
            .entry(*dt)
            .or_insert_with(|| Bitset::new(n))
            .insert(i);
    }
    if t.os.is_empty() {
        ix.os_any.insert(i);
    }
    for os in &t.os {
        ix.os
            .entry(os.clone())
            .or_insert_with(|| Bitset::new(n))
            .insert(i);
    }
    if t.inventory != Inventory::App {
        ix.site.insert(i);
    }
    if t.inventory != Inventory::Site {
        ix.app.insert(i);
    }
    for b in &cc.banners {
        ix.banner_any.insert(i);
        ix.banner_size
            .entry((b.w, b.h))
            .or_insert_with(|| Bitset::new(n))
            .insert(i);
    }
    if let Some(plan) = &cc.plan {
        for (k, l) in BANNERS.iter().enumerate() {
            if plan.has_format(Format::Banner(k as u8)) {
                ix.banner_any.insert(i);
                ix.banner_size
                    .entry((l.w, l.h))
                    .or_insert_with(|| Bitset::new(n))
                    .insert(i);
            }
        }
        if plan.has_format(Format::Native) {
            ix.native.insert(i);
        }
        if plan.has_format(Format::Video) {
            ix.video.insert(i);
        }
    }
    if !cc.natives.is_empty() {
        ix.native.insert(i);
    }
    if !cc.videos.is_empty() {
        ix.video.insert(i);
    }
}

impl Index {
    /// This index renumbered for `n` campaigns: each set's bits in `runs`
    /// move to their new numbers and the rest are dropped, as are values
    /// left with no campaign (a full build files none).
    fn moved(&self, runs: &[Run], n: usize) -> Index {
        fn each<K: Clone + Eq + Hash>(m: &IndexMap<K>, runs: &[Run], n: usize) -> IndexMap<K> {
            m.iter()
                .map(|(k, b)| (k.clone(), b.moved(runs, n)))
                .filter(|(_, b)| !b.is_empty())
                .collect()
        }
        Index {
            words: n.div_ceil(64),
            all: self.all.moved(runs, n),
            country: each(&self.country, runs, n),
            country_any: self.country_any.moved(runs, n),
            device_type: each(&self.device_type, runs, n),
            device_type_any: self.device_type_any.moved(runs, n),
            os: each(&self.os, runs, n),
            os_any: self.os_any.moved(runs, n),
            site: self.site.moved(runs, n),
            app: self.app.moved(runs, n),
            banner_size: each(&self.banner_size, runs, n),
            banner_any: self.banner_any.moved(runs, n),
            native: self.native.moved(runs, n),
            video: self.video.moved(runs, n),
        }
    }
}

#[cfg(test)]
mod tests;
