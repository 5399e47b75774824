//! The demo catalog (`bidder --demo`): two advertisers, seven campaigns and
//! their creatives, written so the request corpus gets bids, an Acme funnel
//! with a few users (`buyeruid` `demo-intent`, `demo-customer`,
//! `demo-loyal`) that the Acme banner campaign prices by stage, plus one
//! token per role to try the admin API with.
//!
//! Seeds only an empty store, in one transaction: a half-seeded store never
//! exists, and restarting with `--demo` never duplicates data. The
//! creatives' and fragments' pictures are the bidder's own
//! ([`super::demo_assets`]), under the public URL given at seeding: they
//! load wherever the demo runs, with no network, and are https when the
//! public URL is (as secure imps need).

use std::fmt;

use audiences::keys::{KeyHasher, KeyType};
use audiences::table::FunnelId;
use audiences::{Stage, StageMultipliers};
use creative::fragment::FragmentBody;
use creative::video::VastVersion;
use creative::{FixedCreative, HtmlCreative, Image, NativeAssets, VastCreative};
use openrtb::{Currency, Micros};

use crate::control::auth::{self, Role};
use crate::control::demo_assets::{self, Product};
use crate::model::{
    Actor, AdFormat, Advertiser, AdvertiserId, AudienceTargeting, Campaign, CampaignId,
    CampaignStatus, Creative, CreativeId, CreativeStatus, Funnel, Inventory, Pacing, PacingMode,
    StageNames, Targeting, UnixTime,
};
use crate::store::{self, Member, Store, StoreError};

/// The demo users of the Acme funnel, by `user.buyeruid`.
pub const DEMO_USERS: [(&str, Stage); 3] = [
    ("demo-intent", Stage::Intent),
    ("demo-customer", Stage::Customer),
    ("demo-loyal", Stage::Loyal),
];

/// Banner sizes of the Acme run-of-network banner campaign.
const ACME_BANNER_SIZES: &[(u32, u32)] = &[
    (300, 250),
    (728, 90),
    (160, 600),
    (300, 600),
    (320, 50),
    (300, 50),
    (320, 100),
    (970, 250),
    (970, 90),
    (336, 280),
    (468, 60),
    (120, 600),
    (250, 250),
    (200, 200),
    (320, 480),
    (480, 320),
    (768, 1024),
    (1024, 768),
    (300, 1050),
];

/// The secrets of the demo tokens, shown once on the terminal.
#[derive(Clone, PartialEq, Eq)]
pub struct DemoTokens {
    /// Admin: everything.
    pub admin: String,
    /// Buyer for both demo advertisers.
    pub buyer: String,
    /// Advertiser token of Acme Outdoor.
    pub advertiser: String,
}

impl fmt::Debug for DemoTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets stay out of debug logs; `Display` is for the terminal.
        f.debug_struct("DemoTokens").finish_non_exhaustive()
    }
}

impl fmt::Display for DemoTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Demo API tokens (shown once, store them now):")?;
        writeln!(f, "  admin                     {}", self.admin)?;
        writeln!(f, "  buyer (advertisers 1, 2)  {}", self.buyer)?;
        write!(f, "  advertiser (Acme, 1)      {}", self.advertiser)
    }
}

/// Seeds the demo catalog and tokens when the store has no advertiser;
/// `None` when it already had data (nothing is written then). Pictures
/// are served from `public_url` (the bidder's, as in its config).
pub fn seed_if_empty(store: &Store, public_url: &str) -> Result<Option<DemoTokens>, StoreError> {
    let pics = Pictures(public_url);
    store.write(|tx| {
        let n: i64 = tx.query_row("SELECT COUNT(*) FROM advertisers", [], |r| r.get(0))?;
        if n > 0 {
            return Ok(None);
        }
        let acme =
            store::insert_advertiser_in(tx, &advertiser("Acme Outdoor", "acme-outdoor.example"))?
                .id;
        let northwind = store::insert_advertiser_in(
            tx,
            &advertiser("Northwind Coffee", "northwind-coffee.example"),
        )?
        .id;
        let funnel = store::insert_funnel_in(
            tx,
            &Funnel {
                id: FunnelId(0),
                advertiser_id: acme,
                name: "Acme shoppers".into(),
                stage_names: StageNames::default(),
                moves: Default::default(),
                version: 0,
                created_at: UnixTime(0),
                updated_at: UnixTime(0),
            },
        )?
        .id;
        let hasher = KeyHasher::new(store::audience_secret_in(tx)?);
        let now = UnixTime::now().0 as u32;
        let members: Vec<Member> = DEMO_USERS
            .iter()
            .filter_map(|&(id, stage)| {
                Some(Member {
                    key: hasher.key(KeyType::BuyerUid, "", id)?,
                    stage,
                    updated: now,
                    expires: 0,
                })
            })
            .collect();
        store::upsert_members_in(tx, funnel, &members)?;
        let seeder = Actor {
            role: Role::Admin,
            token_id: 0,
        };
        for body in acme_fragments(public_url) {
            let f = store::insert_fragment_in(tx, acme, ACME_SET, &body, seeder)?;
            store::approve_fragment_in(tx, f.id, f.version, seeder)?;
        }
        for (campaign, creatives) in catalog(pics, acme, northwind, funnel) {
            let id = store::insert_campaign_in(tx, &campaign)?.id;
            for (name, body) in creatives {
                store::insert_creative_in(tx, &creative(id, name, body))?;
            }
        }
        let admin = auth::create_token_in(tx, Role::Admin, &[], "demo admin")?;
        let buyer = auth::create_token_in(tx, Role::Buyer, &[acme, northwind], "demo buyer")?;
        let adv = auth::create_token_in(tx, Role::Advertiser, &[acme], "demo advertiser (Acme)")?;
        Ok(Some(DemoTokens {
            admin: admin.secret,
            buyer: buyer.secret,
            advertiser: adv.secret,
        }))
    })
}

fn advertiser(name: &str, domain: &str) -> Advertiser {
    Advertiser {
        id: AdvertiserId(0),
        name: name.to_owned(),
        domain: domain.to_owned(),
        frequency: Default::default(),
        time_zone: "UTC".into(),
        version: 0,
        created_at: UnixTime(0),
        updated_at: UnixTime(0),
    }
}

fn creative(campaign: CampaignId, name: String, body: FixedCreative) -> Creative {
    Creative {
        id: CreativeId(0),
        campaign_id: campaign,
        name,
        status: CreativeStatus::Active,
        body,
        version: 0,
        created_at: UnixTime(0),
        updated_at: UnixTime(0),
    }
}

/// What differs between the demo campaigns.
struct Spec {
    advertiser: AdvertiserId,
    name: &'static str,
    currency: Currency,
    base_cpm: i64,
    max_cpm: i64,
    cat: &'static str,
    domain: &'static str,
    targeting: Targeting,
}

/// Amounts in hundredths of a currency unit (cents).
fn cents(c: i64) -> Micros {
    Micros(c * 10_000)
}

fn campaign(s: Spec) -> Campaign {
    Campaign {
        id: CampaignId(0),
        advertiser_id: s.advertiser,
        name: s.name.to_owned(),
        status: CampaignStatus::Active,
        flight_start: None,
        flight_end: None,
        // Large enough that a load test without win and loss notices
        // (whose bids' reservations are only released when they expire)
        // keeps bidding for many minutes.
        total_budget_micros: Micros::from_units(100_000_000),
        daily_budget_micros: Micros::from_units(1_000_000),
        currency: s.currency,
        base_cpm_micros: cents(s.base_cpm),
        max_cpm_micros: cents(s.max_cpm),
        adomain: vec![s.domain.to_owned()],
        cat: vec![s.cat.to_owned()],
        attr: Vec::new(),
        app_bundle: None,
        language: None,
        targeting: s.targeting,
        stage_multipliers: StageMultipliers::default(),
        fragment_sets: Vec::new(),
        // As fast as bids win, so that the demo bids from the first second
        // of the day; buyers choose even pacing per campaign.
        pacing: Pacing {
            mode: PacingMode::Asap,
            time_zone: "UTC".into(),
        },
        frequency: Default::default(),
        learning: Default::default(),
        version: 0,
        created_at: UnixTime(0),
        updated_at: UnixTime(0),
    }
}

fn formats(f: &[AdFormat]) -> Targeting {
    Targeting {
        formats: f.to_vec(),
        ..Targeting::default()
    }
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| (*x).to_owned()).collect()
}

/// The demo pictures' URLs on one bidder.
#[derive(Clone, Copy)]
struct Pictures<'a>(&'a str);

impl Pictures<'_> {
    fn url(self, product: Product, w: u32, h: u32) -> String {
        demo_assets::url(self.0, product, w, h)
    }
}

fn acme_html(pics: Pictures<'_>, w: u32, h: u32) -> (String, FixedCreative) {
    let src = pics.url(Product::AcmeBanner, w, h);
    (
        format!("Acme banner {w}x{h}"),
        FixedCreative::Html(HtmlCreative {
            w,
            h,
            markup: format!(
                "<a href=\"${{CLICK_URL}}\" target=\"_blank\"><img src=\"{src}\" width=\"{w}\" height=\"{h}\" alt=\"Acme Outdoor\"></a>"
            ),
            landing_url: Some("https://acme-outdoor.example/?src=rtb".into()),
        }),
    )
}

fn northwind_html(pics: Pictures<'_>, w: u32, h: u32) -> (String, FixedCreative) {
    let src = pics.url(Product::NorthwindBanner, w, h);
    (
        format!("Northwind banner {w}x{h}"),
        FixedCreative::Html(HtmlCreative {
            w,
            h,
            markup: format!(
                "<a href=\"${{CLICK_URL}}\" target=\"_blank\"><img src=\"{src}\" width=\"{w}\" height=\"{h}\" alt=\"Northwind Coffee\"></a>"
            ),
            landing_url: Some("https://northwind-coffee.example/?src=rtb".into()),
        }),
    )
}

/// A complete VAST InLine linear ad in `version`, its elements in the
/// order of the IAB's 4.2 schema (stricter than the spec's own examples),
/// so that the bid path's trackers can be shown to keep it valid. Each
/// version has what it requires: the namespace and `<UniversalAdId>` from
/// 4.0 (an `idValue` attribute in 4.0, text after), `<AdServingId>` from
/// 4.1. A 3.0 document uses nothing 3.0 added, so it serves 2.0 players
/// too.
fn vast(
    brand: &str,
    domain: &str,
    secs: u32,
    (w, h): (u32, u32),
    version: VastVersion,
) -> (String, FixedCreative) {
    let id = format!("{}-{secs}s-{w}x{h}", brand.to_lowercase().replace(' ', "-"));
    let v4 = version >= VastVersion::V4_0;
    let namespace = if v4 {
        " xmlns=\"http://www.iab.com/VAST\""
    } else {
        ""
    };
    let serving_id = if version >= VastVersion::V4_1 {
        format!("\n      <AdServingId>{id}</AdServingId>")
    } else {
        String::new()
    };
    let universal_id = match version {
        VastVersion::V2 | VastVersion::V3 => String::new(),
        VastVersion::V4_0 => format!(
            "\n          <UniversalAdId idRegistry=\"bidder-demo\" idValue=\"{id}\">{id}</UniversalAdId>"
        ),
        _ => format!("\n          <UniversalAdId idRegistry=\"bidder-demo\">{id}</UniversalAdId>"),
    };
    let document = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<VAST version="{version}"{namespace}>
  <Ad id="{id}">
    <InLine>
      <AdSystem version="1">bidder-demo</AdSystem>
      <Impression id="imp"><![CDATA[https://track.{domain}/imp?ad={id}]]></Impression>{serving_id}
      <AdTitle>{brand} {secs}s</AdTitle>
      <Creatives>
        <Creative id="{id}" sequence="1">
          <Linear>
            <TrackingEvents>
              <Tracking event="start"><![CDATA[https://track.{domain}/start?ad={id}]]></Tracking>
              <Tracking event="firstQuartile"><![CDATA[https://track.{domain}/q1?ad={id}]]></Tracking>
              <Tracking event="midpoint"><![CDATA[https://track.{domain}/mid?ad={id}]]></Tracking>
              <Tracking event="thirdQuartile"><![CDATA[https://track.{domain}/q3?ad={id}]]></Tracking>
              <Tracking event="complete"><![CDATA[https://track.{domain}/complete?ad={id}]]></Tracking>
            </TrackingEvents>
            <Duration>00:00:{secs:02}</Duration>
            <MediaFiles>
              <MediaFile delivery="progressive" type="video/mp4" width="{w}" height="{h}" bitrate="2000"><![CDATA[https://cdn.{domain}/v/{id}.mp4]]></MediaFile>
            </MediaFiles>
            <VideoClicks>
              <ClickThrough id="click"><![CDATA[https://{domain}/?src=rtb-video]]></ClickThrough>
            </VideoClicks>
          </Linear>{universal_id}
        </Creative>
      </Creatives>
    </InLine>
  </Ad>
</VAST>"#,
        version = version.as_str(),
    );
    (
        format!("{brand} video {secs}s {w}x{h} VAST {}", version.as_str()),
        FixedCreative::Vast(VastCreative {
            versions: crate::vast::versions(&document),
            document,
            duration_secs: secs,
            mimes: strings(&["video/mp4"]),
            w,
            h,
            plcmt: Vec::new(),
        }),
    )
}

fn image(url: String, w: u32, h: u32) -> Option<Image> {
    Some(Image {
        url,
        w,
        h,
        crops: Vec::new(),
    })
}

/// The declared type of the demo's pictures.
const SVG: &str = "image/svg+xml";

/// The seven demo campaigns with their creatives, as in `demo-spec.md`.
/// The fragment set the Acme campaigns assemble creatives from.
pub const ACME_SET: &str = "tents";

/// Acme's fragments: messages for the top, middle and bottom of the
/// funnel, two contents (one with an offer for intent and customers) and
/// two tones.
pub fn acme_fragments(public_url: &str) -> Vec<FragmentBody> {
    let pic = |p, w, h| demo_assets::url(public_url, p, w, h);
    let json = serde_json::json!([
        {"kind": "message", "body": {"language": "en", "stages": ["unaware", "awareness"],
            "headline": "Meet the tent that packs in minutes",
            "subline": "Built for storms, light on your back"}},
        {"kind": "message", "body": {"language": "en", "stages": ["consideration"],
            "headline": "1.9 kg, storm-tested, 60-day returns",
            "subline": "Compare the Ridge 2 with any tent"}},
        {"kind": "message", "body": {"language": "en", "stages": ["intent", "customer", "loyal"],
            "headline": "Your Ridge 2 is ready to ship",
            "subline": "Order today, camp this weekend"}},
        {"kind": "message", "body": {"language": "de",
            "headline": "Das Zelt, das in Minuten steht",
            "subline": "Sturmfest und federleicht"}},
        {"kind": "content", "body": {"language": "en",
            "body": "Storm-proof shelters for every season.",
            "product": {"name": "Ridge 2", "price_micros": 249000000, "currency": "USD"},
            "offer": {"text": "10% off with code RIDGE10", "stages": ["intent", "customer"]},
            "images": [
                {"url": pic(Product::Ridge, 1200, 627), "w": 1200, "h": 627, "mime": SVG,
                    "crops": [{"url": pic(Product::Ridge, 640, 100), "w": 640, "h": 100}]},
                {"url": pic(Product::Ridge, 600, 600), "w": 600, "h": 600, "mime": SVG}],
            "video": {"url": "https://cdn.acme-outdoor.example/f/ridge-15s.mp4", "duration_secs": 15,
                "mime": "video/mp4", "w": 1280, "h": 720, "bitrate_kbps": 2000},
            "landing_url": "https://acme-outdoor.example/tents/ridge-2?src=rtb",
            "privacy_url": "https://acme-outdoor.example/privacy"}},
        {"kind": "content", "body": {"language": "en",
            "body": "Wake up to the view. Pitch in five minutes.",
            "images": [
                {"url": pic(Product::Lake, 1200, 627), "w": 1200, "h": 627, "mime": SVG}],
            "landing_url": "https://acme-outdoor.example/tents?src=rtb"}},
        {"kind": "content", "body": {"language": "de",
            "body": "Sturmfeste Zelte für jede Jahreszeit.",
            "images": [
                {"url": pic(Product::Ridge, 1200, 627), "w": 1200, "h": 627, "mime": SVG}],
            "landing_url": "https://acme-outdoor.example/de/zelte?src=rtb"}},
        {"kind": "tone", "body": {"language": "en", "cta": "Shop now", "voice": "casual",
            "palette": {"background": "#fffaf3", "foreground": "#1d2b1f", "accent": "#e4572e"},
            "font_stack": "\"Trebuchet MS\", Arial, sans-serif"}},
        {"kind": "tone", "body": {"language": "en", "cta": "See the details", "voice": "formal",
            "palette": {"background": "#1d2b1f", "foreground": "#f4f1ea", "accent": "#f2a541"},
            "font_stack": "Georgia, serif"}},
        {"kind": "tone", "body": {"language": "de", "cta": "Jetzt ansehen", "voice": "formal",
            "palette": {"background": "#ffffff", "foreground": "#1d2b1f", "accent": "#2e7d32"},
            "font_stack": "Arial, sans-serif"}}
    ]);
    serde_json::from_value(json).expect("demo fragments are valid")
}

fn catalog(
    pics: Pictures<'_>,
    acme: AdvertiserId,
    northwind: AdvertiserId,
    acme_funnel: FunnelId,
) -> Vec<(Campaign, Vec<(String, FixedCreative)>)> {
    const ACME: &str = "acme-outdoor.example";
    const NW: &str = "northwind-coffee.example";
    let spec = |advertiser, name, currency, base_cpm, max_cpm, targeting| Spec {
        advertiser,
        name,
        currency,
        base_cpm,
        max_cpm,
        cat: if advertiser == acme { "IAB17" } else { "IAB8" },
        domain: if advertiser == acme { ACME } else { NW },
        targeting,
    };
    let acme_native = NativeAssets {
        title: "Storm-proof tents, packed in minutes".into(),
        description: Some(
            "Lightweight shelters for every season. Free returns for 60 days.".into(),
        ),
        image: image(pics.url(Product::AcmeBanner, 1200, 627), 1200, 627),
        icon: image(pics.url(Product::AcmeIcon, 128, 128), 128, 128),
        cta: Some("Shop now".into()),
        sponsored: Some("Acme Outdoor".into()),
        price: None,
        desc2: None,
        landing_url: "https://acme-outdoor.example/tents".into(),
        privacy_url: Some("https://acme-outdoor.example/privacy".into()),
    };
    let northwind_native = NativeAssets {
        title: "Your coffee, ready when you arrive".into(),
        description: Some("Order ahead in the Northwind app and skip the line.".into()),
        image: image(pics.url(Product::NorthwindBanner, 1200, 627), 1200, 627),
        icon: image(pics.url(Product::NorthwindIcon, 128, 128), 128, 128),
        cta: Some("Install".into()),
        sponsored: Some("Northwind Coffee".into()),
        price: None,
        desc2: None,
        landing_url: "https://northwind-coffee.example/app".into(),
        privacy_url: None,
    };
    let mut northwind_app = campaign(spec(
        northwind,
        "Northwind app native",
        Currency::USD,
        300,
        900,
        Targeting {
            inventory: Inventory::App,
            os: strings(&["ios", "android"]),
            formats: vec![AdFormat::Native],
            ..Targeting::default()
        },
    ));
    northwind_app.app_bundle = Some("com.northwind.coffee".into());
    // Acme's banners bid more for users about to buy, less for customers
    // and loyal ones, and as usual for everyone else.
    let mut acme_banner = campaign(spec(
        acme,
        "Acme run-of-network banner",
        Currency::USD,
        250,
        800,
        Targeting {
            audience: Some(AudienceTargeting {
                funnel_id: acme_funnel,
                stages: Vec::new(),
                exclude_stages: Vec::new(),
                unknown_users: true,
            }),
            ..formats(&[AdFormat::Banner])
        },
    ));
    for (stage, permille) in [
        (Stage::Consideration, 1_200),
        (Stage::Intent, 1_500),
        (Stage::Customer, 800),
        (Stage::Loyal, 500),
    ] {
        acme_banner.stage_multipliers.set(stage, permille);
    }
    acme_banner.fragment_sets = vec![ACME_SET.to_owned()];
    vec![
        (
            acme_banner,
            ACME_BANNER_SIZES
                .iter()
                .map(|&(w, h)| acme_html(pics, w, h))
                .collect(),
        ),
        (
            campaign(spec(
                acme,
                "Acme run-of-network native",
                Currency::USD,
                200,
                800,
                formats(&[AdFormat::Native]),
            )),
            vec![(
                "Acme native tents".into(),
                FixedCreative::Native(acme_native),
            )],
        ),
        (
            campaign(spec(
                acme,
                "Acme run-of-network video",
                Currency::USD,
                600,
                1500,
                formats(&[AdFormat::Video]),
            )),
            vec![
                vast("Acme Outdoor", ACME, 30, (1280, 720), VastVersion::V4_2),
                vast("Acme Outdoor", ACME, 15, (640, 360), VastVersion::V3),
            ],
        ),
        (
            campaign(spec(
                northwind,
                "Northwind Europe banner",
                Currency::EUR,
                180,
                600,
                Targeting {
                    countries: strings(&["DEU", "FRA", "ESP", "ITA", "NLD", "AUT"]),
                    formats: vec![AdFormat::Banner],
                    ..Targeting::default()
                },
            )),
            vec![
                northwind_html(pics, 300, 250),
                northwind_html(pics, 728, 90),
                northwind_html(pics, 320, 50),
            ],
        ),
        (
            northwind_app,
            vec![(
                "Northwind app install".into(),
                FixedCreative::Native(northwind_native),
            )],
        ),
        (
            campaign(spec(
                northwind,
                "Northwind private deals",
                Currency::USD,
                400,
                1200,
                Targeting {
                    deal_ids: strings(&["NW-PMP-001", "NW-PMP-002"]),
                    deals_only: true,
                    formats: vec![AdFormat::Banner, AdFormat::Video],
                    ..Targeting::default()
                },
            )),
            vec![
                northwind_html(pics, 300, 250),
                northwind_html(pics, 728, 90),
                vast("Northwind Coffee", NW, 30, (1280, 720), VastVersion::V4_0),
            ],
        ),
        (
            campaign(spec(
                acme,
                "Acme North America mobile",
                Currency::USD,
                300,
                900,
                Targeting {
                    countries: strings(&["USA", "CAN"]),
                    device_types: vec![1, 4],
                    formats: vec![AdFormat::Banner],
                    ..Targeting::default()
                },
            )),
            vec![acme_html(pics, 320, 50), acme_html(pics, 300, 250)],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    #[test]
    fn demo_seeds_an_empty_store_once() {
        let store = Store::open_in_memory().unwrap();
        let tokens = seed_if_empty(&store, "https://bidder.test").unwrap();
        assert!(tokens.is_some());
        let first = store.load_catalog().unwrap();
        assert_eq!(seed_if_empty(&store, "https://bidder.test").unwrap(), None);
        assert_eq!(store.load_catalog().unwrap(), first);
    }

    #[test]
    fn demo_catalog_matches_the_spec() {
        let store = Store::open_in_memory().unwrap();
        seed_if_empty(&store, "https://bidder.test").unwrap();
        let c = store.load_catalog().unwrap();
        let names: Vec<&str> = c.advertisers.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["Acme Outdoor", "Northwind Coffee"]);
        assert_eq!(c.campaigns.len(), 7);
        assert!(
            c.campaigns
                .iter()
                .all(|k| k.status == CampaignStatus::Active
                    && k.total_budget_micros == Micros(100_000_000_000_000)
                    && k.daily_budget_micros == Micros(1_000_000_000_000))
        );
        let per_campaign: Vec<usize> = c
            .campaigns
            .iter()
            .map(|k| c.creatives.iter().filter(|x| x.campaign_id == k.id).count())
            .collect();
        assert_eq!(per_campaign, [19, 1, 2, 3, 1, 3, 2]);
        let europe = &c.campaigns[3];
        assert_eq!(europe.currency, Currency::EUR);
        assert_eq!(europe.base_cpm_micros, Micros(1_800_000));
        assert!(c.campaigns[5].targeting.deals_only);
    }

    #[test]
    fn demo_tokens_authenticate_with_their_roles() {
        let store = Store::open_in_memory().unwrap();
        let t = seed_if_empty(&store, "https://bidder.test")
            .unwrap()
            .unwrap();
        for (secret, role, grants) in [
            (&t.admin, Role::Admin, 0),
            (&t.buyer, Role::Buyer, 2),
            (&t.advertiser, Role::Advertiser, 1),
        ] {
            let mut h = HeaderMap::new();
            let value = HeaderValue::from_str(&format!("Bearer {secret}")).unwrap();
            h.insert(http::header::AUTHORIZATION, value);
            let p = auth::authenticate(&store, &h).unwrap();
            assert_eq!((p.role, p.advertisers.len()), (role, grants));
        }
        assert!(t.to_string().contains(&t.buyer));
        assert!(!format!("{t:?}").contains(&t.buyer));
    }
}
