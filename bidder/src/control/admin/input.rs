//! What clients send to create or replace a resource: the model's fields
//! without id, version and times, with unknown fields refused so that a typo
//! is a 422 rather than a silently dropped setting.
//!
//! Shape only; the rules on values live in the service layer, which also
//! sets the ids, versions and times of the drafts these become. The model's own
//! nested types (targeting, creatives) accept unknown fields, so they are
//! mirrored here with `deny_unknown_fields`.

use audiences::StageMultipliers;
use creative::{Crop, FixedCreative, HtmlCreative, Image, NativeAssets, VastCreative};
use openrtb::{Currency, Micros};
use serde::Deserialize;

use crate::control::service::NewToken;
use crate::model::{
    AdFormat, Advertiser, AdvertiserId, AudienceTargeting, Campaign, CampaignId, CampaignStatus,
    Creative, CreativeId, CreativeStatus, FrequencyRules, Inventory, Learning, ListFilter, Pacing,
    Role, Size, Targeting, UnixTime,
};

fn utc() -> String {
    "UTC".into()
}

/// An advertiser to create or replace.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AdvertiserInput {
    name: String,
    domain: String,
    #[serde(default)]
    frequency: FrequencyRules,
    #[serde(default = "utc")]
    time_zone: String,
    /// The version being replaced (instead of `If-Match`).
    #[serde(default)]
    pub version: Option<i64>,
}

impl AdvertiserInput {
    /// The draft of advertiser `id`.
    pub fn into_draft(self, id: AdvertiserId) -> Advertiser {
        Advertiser {
            id,
            name: self.name,
            domain: self.domain,
            frequency: self.frequency,
            time_zone: self.time_zone,
            version: 0,
            created_at: UnixTime(0),
            updated_at: UnixTime(0),
        }
    }
}

fn active() -> CampaignStatus {
    CampaignStatus::Active
}

/// A campaign to create or replace.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CampaignInput {
    /// Owner; checked against the caller's grants before anything else.
    pub advertiser_id: AdvertiserId,
    name: String,
    #[serde(default = "active")]
    status: CampaignStatus,
    #[serde(default)]
    flight_start: Option<UnixTime>,
    #[serde(default)]
    flight_end: Option<UnixTime>,
    total_budget_micros: Micros,
    daily_budget_micros: Micros,
    currency: Currency,
    base_cpm_micros: Micros,
    max_cpm_micros: Micros,
    #[serde(default)]
    adomain: Vec<String>,
    #[serde(default)]
    cat: Vec<String>,
    #[serde(default)]
    attr: Vec<u32>,
    #[serde(default)]
    app_bundle: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    targeting: TargetingInput,
    #[serde(default)]
    stage_multipliers: StageMultipliers,
    #[serde(default)]
    fragment_sets: Vec<String>,
    #[serde(default)]
    pacing: Pacing,
    #[serde(default)]
    frequency: FrequencyRules,
    #[serde(default)]
    learning: Learning,
    /// The version being replaced (instead of `If-Match`).
    #[serde(default)]
    pub version: Option<i64>,
}

impl CampaignInput {
    /// The draft of campaign `id`.
    pub fn into_draft(self, id: CampaignId) -> Campaign {
        Campaign {
            id,
            advertiser_id: self.advertiser_id,
            name: self.name,
            status: self.status,
            flight_start: self.flight_start,
            flight_end: self.flight_end,
            total_budget_micros: self.total_budget_micros,
            daily_budget_micros: self.daily_budget_micros,
            currency: self.currency,
            base_cpm_micros: self.base_cpm_micros,
            max_cpm_micros: self.max_cpm_micros,
            adomain: self.adomain,
            cat: self.cat,
            attr: self.attr,
            app_bundle: self.app_bundle,
            language: self.language,
            targeting: self.targeting.into(),
            stage_multipliers: self.stage_multipliers,
            fragment_sets: self.fragment_sets,
            pacing: self.pacing,
            frequency: self.frequency,
            learning: self.learning,
            version: 0,
            created_at: UnixTime(0),
            updated_at: UnixTime(0),
        }
    }
}

/// [`ListFilter`], strict.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ListFilterInput {
    allow: Vec<String>,
    deny: Vec<String>,
}

impl From<ListFilterInput> for ListFilter {
    fn from(f: ListFilterInput) -> ListFilter {
        ListFilter {
            allow: f.allow,
            deny: f.deny,
        }
    }
}

/// [`Size`], strict.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SizeInput {
    w: u32,
    h: u32,
}

/// [`Targeting`], strict.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct TargetingInput {
    countries: Vec<String>,
    regions: Vec<String>,
    device_types: Vec<u32>,
    os: Vec<String>,
    site_domains: ListFilterInput,
    app_bundles: ListFilterInput,
    inventory: Inventory,
    formats: Vec<AdFormat>,
    sizes: Vec<SizeInput>,
    deal_ids: Vec<String>,
    deals_only: bool,
    languages: Vec<String>,
    audience: Option<AudienceTargeting>,
}

impl From<TargetingInput> for Targeting {
    fn from(t: TargetingInput) -> Targeting {
        Targeting {
            countries: t.countries,
            regions: t.regions,
            device_types: t.device_types,
            os: t.os,
            site_domains: t.site_domains.into(),
            app_bundles: t.app_bundles.into(),
            inventory: t.inventory,
            formats: t.formats,
            sizes: t
                .sizes
                .into_iter()
                .map(|s| Size { w: s.w, h: s.h })
                .collect(),
            deal_ids: t.deal_ids,
            deals_only: t.deals_only,
            languages: t.languages,
            audience: t.audience,
        }
    }
}

fn creative_active() -> CreativeStatus {
    CreativeStatus::Active
}

/// A creative to create or replace; its campaign comes from the path.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreativeInput {
    name: String,
    #[serde(default = "creative_active")]
    status: CreativeStatus,
    body: BodyInput,
    /// The version being replaced (instead of `If-Match`).
    #[serde(default)]
    pub version: Option<i64>,
}

impl CreativeInput {
    /// The draft of creative `id` of `campaign_id`.
    pub fn into_draft(self, id: CreativeId, campaign_id: CampaignId) -> Creative {
        Creative {
            id,
            campaign_id,
            name: self.name,
            status: self.status,
            body: self.body.into(),
            version: 0,
            created_at: UnixTime(0),
            updated_at: UnixTime(0),
        }
    }
}

/// [`FixedCreative`], strict.
// One per upload, on the cold path: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum BodyInput {
    Html(HtmlInput),
    Native(NativeInput),
    Vast(VastInput),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HtmlInput {
    w: u32,
    h: u32,
    markup: String,
    #[serde(default)]
    landing_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageInput {
    url: String,
    w: u32,
    h: u32,
    #[serde(default)]
    crops: Vec<Crop>,
}

impl From<ImageInput> for Image {
    fn from(i: ImageInput) -> Image {
        Image {
            url: i.url,
            w: i.w,
            h: i.h,
            crops: i.crops,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NativeInput {
    title: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    image: Option<ImageInput>,
    #[serde(default)]
    icon: Option<ImageInput>,
    #[serde(default)]
    cta: Option<String>,
    #[serde(default)]
    sponsored: Option<String>,
    #[serde(default)]
    price: Option<String>,
    #[serde(default)]
    desc2: Option<String>,
    landing_url: String,
    #[serde(default)]
    privacy_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VastInput {
    document: String,
    duration_secs: u32,
    mimes: Vec<String>,
    w: u32,
    h: u32,
    #[serde(default)]
    plcmt: Vec<u32>,
    /// Written by the bidder; a body read back and sent again may carry
    /// it, and it is not taken from the client.
    #[serde(default, rename = "versions")]
    _versions: Option<serde::de::IgnoredAny>,
}

impl From<BodyInput> for FixedCreative {
    fn from(b: BodyInput) -> FixedCreative {
        match b {
            BodyInput::Html(h) => FixedCreative::Html(HtmlCreative {
                w: h.w,
                h: h.h,
                markup: h.markup,
                landing_url: h.landing_url,
            }),
            BodyInput::Native(n) => FixedCreative::Native(NativeAssets {
                title: n.title,
                description: n.description,
                image: n.image.map(Image::from),
                icon: n.icon.map(Image::from),
                cta: n.cta,
                sponsored: n.sponsored,
                price: n.price,
                desc2: n.desc2,
                landing_url: n.landing_url,
                privacy_url: n.privacy_url,
            }),
            BodyInput::Vast(v) => FixedCreative::Vast(VastCreative {
                versions: crate::vast::versions(&v.document),
                document: v.document,
                duration_secs: v.duration_secs,
                mimes: v.mimes,
                w: v.w,
                h: v.h,
                plcmt: v.plcmt,
            }),
        }
    }
}

/// A token to issue.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TokenInput {
    /// What it may do.
    pub role: Role,
    /// Advertisers it acts for: none for admins, exactly one for an
    /// advertiser, any number for a buyer.
    #[serde(default)]
    pub advertisers: Vec<AdvertiserId>,
    /// Whom it is for.
    #[serde(default)]
    pub label: String,
}

impl From<TokenInput> for NewToken {
    fn from(t: TokenInput) -> NewToken {
        NewToken {
            role: t.role,
            advertisers: t.advertisers,
            label: t.label,
        }
    }
}

/// The optional body of a delete: the version being deleted.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeleteInput {
    /// The version being deleted (instead of `If-Match`).
    #[serde(default)]
    pub version: Option<i64>,
}
