//! Fixtures shared by the benchmarks in `benches/`: the request corpus of
//! `testdata/requests`, synthetic catalogs of any size for measuring how
//! the decision scales with the number of campaigns, and fragment libraries
//! for measuring assembly and choice.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use audiences::Stage;
use audiences::StageMultipliers;
use bidder::bid::{ExchangeProfile, FxRates, Settings};
use bidder::model::{
    AdFormat, Advertiser, AdvertiserId, Campaign, CampaignId, CampaignStatus, Catalog, Creative,
    CreativeId, CreativeStatus, Size, Targeting, UnixTime,
};
use creative::assembly::ComboKey;
use creative::learning::{Counts, Objective, Policy};
use creative::plan::{Library, Plan, PlanInput};
use creative::{FixedCreative, HtmlCreative};
use openrtb::{Currency, Micros};

/// The workspace's `testdata/` folder.
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

/// Every request of `testdata/requests`, sorted by file name, as
/// `(file name, bytes)`.
pub fn corpus() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(testdata().join("requests"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push((name, std::fs::read(&path)?));
        }
    }
    files.sort();
    Ok(files)
}

/// Snapshot settings for benchmarks.
pub fn settings() -> Settings {
    Settings {
        public_url: "http://127.0.0.1:8080".into(),
        fx: FxRates::default(),
        bid_ttl_secs: Some(300),
        creative: creative::learning::Policy::default(),
        move_ttl_secs: 86_400,
        privacy_url: None,
    }
}

/// `catalog` compiled for bidding, with budgets that start at zero.
pub fn snapshot(catalog: &Catalog) -> bidder::bid::Snapshot {
    let budgets = bidder::state::budget::Ledger::new(600, None);
    bidder::bid::Snapshot::build(catalog, &settings(), &budgets, UnixTime::now())
}

/// The key benchmarks sign notice tokens with.
pub fn signer() -> bidder::events::token::Signer {
    bidder::events::token::Signer::new(&[[9; 32]], 3600)
}

/// The exchange benchmarks bid for.
pub fn exchange() -> ExchangeProfile {
    ExchangeProfile {
        name: "bench".into(),
        index: 0,
        seat: Some("seat-1".into()),
        currency: Currency::USD,
        sends_burl: true,
        max_imps: 20,
        bids_per_campaign: 1,
        notice_window_secs: 600,
    }
}

/// A 300x250 banner request from Germany on desktop, at a 1.00 floor.
pub fn banner_request() -> Vec<u8> {
    br#"{"id":"bench-1","imp":[{"id":"1","banner":{"format":[{"w":300,"h":250},{"w":336,"h":280}]},"bidfloor":1.0,"bidfloorcur":"USD"}],
        "site":{"domain":"news.example","page":"https://news.example/a"},
        "device":{"ua":"Mozilla/5.0","ip":"198.51.100.7","devicetype":2,"os":"Windows","geo":{"country":"DEU"}},
        "at":1,"tmax":120,"bcat":["IAB25","IAB26"],"badv":["blocked.example"]}"#
        .to_vec()
}

/// The issue's typical request as an exchange sends it: a 1.1 KB desktop
/// site banner with a long user agent, a supply chain and a US privacy
/// string, from a user the demo audience has at `intent`
/// (`testdata/typical/banner-audience-hit.json`).
pub fn typical_request() -> std::io::Result<Vec<u8>> {
    std::fs::read(testdata().join("typical/banner-audience-hit.json"))
}

/// `n` campaigns with one banner creative each, spread over 8 countries,
/// 4 device types and 6 sizes, so most do not match [`banner_request`] and
/// the index has real work; campaign 1 always matches.
pub fn synthetic_catalog(n: usize) -> Catalog {
    const COUNTRIES: [&str; 8] = ["USA", "DEU", "FRA", "GBR", "ESP", "ITA", "JPN", "BRA"];
    const SIZES: [(u32, u32); 6] = [
        (300, 250),
        (728, 90),
        (320, 50),
        (160, 600),
        (300, 600),
        (970, 250),
    ];
    let mut campaigns = Vec::with_capacity(n);
    let mut creatives = Vec::with_capacity(n);
    for i in 1..=n as i64 {
        let k = i as usize;
        let (w, h) = if i == 1 {
            (300, 250)
        } else {
            SIZES[k % SIZES.len()]
        };
        let targeting = Targeting {
            countries: if i == 1 {
                vec![]
            } else {
                vec![COUNTRIES[k % COUNTRIES.len()].into()]
            },
            device_types: if i == 1 {
                vec![]
            } else {
                vec![1 + (k % 4) as u32]
            },
            formats: vec![AdFormat::Banner],
            sizes: vec![Size { w, h }],
            ..Targeting::default()
        };
        campaigns.push(Campaign {
            id: CampaignId(i),
            advertiser_id: AdvertiserId(1),
            name: format!("campaign {i}"),
            status: CampaignStatus::Active,
            flight_start: None,
            flight_end: None,
            // Budgets no benchmark run can exhaust: bids reserve and are
            // never settled here, and the paced path is still measured.
            total_budget_micros: Micros(1_000_000_000_000_000),
            daily_budget_micros: Micros(100_000_000_000_000),
            currency: Currency::USD,
            base_cpm_micros: Micros(1_500_000 + (i % 100) * 10_000),
            max_cpm_micros: Micros(5_000_000 + (i % 100) * 10_000),
            adomain: vec![format!("brand{i}.example")],
            cat: vec!["IAB17".into()],
            attr: vec![],
            app_bundle: None,
            language: None,
            targeting,
            stage_multipliers: StageMultipliers::default(),
            fragment_sets: Vec::new(),
            pacing: Default::default(),
            frequency: Default::default(),
            learning: Default::default(),
            version: 1,
            created_at: UnixTime(0),
            updated_at: UnixTime(0),
        });
        creatives.push(Creative {
            id: CreativeId(i),
            campaign_id: CampaignId(i),
            name: format!("{w}x{h}"),
            status: CreativeStatus::Active,
            body: FixedCreative::Html(HtmlCreative {
                w,
                h,
                markup: format!("<a href=\"https://brand{i}.example\"><img src=\"https://cdn.example/{w}x{h}.png\"></a>"),
                landing_url: None,
            }),
            version: 1,
            created_at: UnixTime(0),
            updated_at: UnixTime(0),
        });
    }
    Catalog {
        advertisers: vec![Advertiser {
            id: AdvertiserId(1),
            name: "Bench".into(),
            domain: "bench.example".into(),
            frequency: Default::default(),
            time_zone: "UTC".into(),
            version: 1,
            created_at: UnixTime(0),
            updated_at: UnixTime(0),
        }],
        campaigns,
        creatives,
        ..Catalog::default()
    }
}

/// User `u`'s key: ascending in `u` (so the table can be loaded without
/// sorting), each at a pseudo-random place within its own stride of the
/// key space, so that keys are as spread as real hashes.
pub struct SpreadKeys {
    stride: u64,
}

impl SpreadKeys {
    /// Keys for `users` users.
    pub fn new(users: u64) -> SpreadKeys {
        SpreadKeys {
            stride: u64::MAX / users.max(1),
        }
    }

    /// The key of user `u`.
    pub fn key(&self, u: u64) -> audiences::keys::UserKey {
        let jitter = u.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) % self.stride.max(2);
        // Even offsets only: `key ^ 1` is then a key nobody has.
        audiences::keys::UserKey(u * self.stride + (jitter & !1))
    }

    /// How many users the keys were spread for.
    pub fn users(&self) -> u64 {
        u64::MAX / self.stride
    }

    /// A table of `users` users with 1.5 entries each on average (every
    /// other user is in funnels 1 and 2, the others in funnel 1), loaded in
    /// key order as the bidder loads its store.
    pub fn table(&self) -> audiences::table::Table {
        use audiences::table::{Entry, FunnelId, Table};
        let table = Table::new();
        let rows = (0..self.users()).flat_map(|u| {
            let key = self.key(u);
            let entry = |f: u32| Entry {
                funnel: FunnelId(f),
                stage: audiences::Stage::ALL[(u % 6) as usize],
                updated: 1,
                expires: if u.is_multiple_of(10) { u32::MAX } else { 0 },
            };
            std::iter::once((key, entry(1))).chain((u % 2 == 0).then(|| (key, entry(2))))
        });
        table.load(rows, 1).expect("keys ascend");
        table
    }
}

/// The demo's Acme fragments (`bidder --demo`).
pub fn demo_library() -> Library {
    Library::from_bodies(bidder::control::demo::acme_fragments(
        "https://bidder.example",
    ))
}

/// English fragments for every stage and format: `messages x contents x
/// tones` combinations, texts of ordinary length, one offer.
pub fn synthetic_library(messages: usize, contents: usize, tones: usize) -> Library {
    let mut bodies = Vec::new();
    for i in 0..messages {
        bodies.push(
            serde_json::json!({"kind": "message", "body": {"language": "en",
            "headline": format!("Tents that pack in minutes, take {i}"),
            "subline": "Built for storms, light on your back"}}),
        );
    }
    for i in 0..contents {
        bodies.push(serde_json::json!({"kind": "content", "body": {"language": "en",
            "body": format!("Storm-proof shelters for every season, model {i}."),
            "product": {"name": format!("Ridge {i}"), "price_micros": 249_000_000, "currency": "USD"},
            "offer": {"text": "10% off with code RIDGE10", "stages": ["intent", "customer"]},
            "images": [
                {"url": format!("https://cdn.example/{i}-1200x627.jpg"), "w": 1200, "h": 627, "mime": "image/jpeg"},
                {"url": format!("https://cdn.example/{i}-600x600.jpg"), "w": 600, "h": 600, "mime": "image/jpeg"}],
            "video": {"url": format!("https://cdn.example/{i}.mp4"), "duration_secs": 15,
                "mime": "video/mp4", "w": 1280, "h": 720},
            "landing_url": format!("https://acme.example/tents/{i}")}}));
    }
    for i in 0..tones {
        bodies.push(
            serde_json::json!({"kind": "tone", "body": {"language": "en",
            "cta": format!("Shop now {i}"), "voice": "casual",
            "palette": {"background": "#fffaf3", "foreground": "#1d2b1f", "accent": "#e4572e"},
            "font_stack": "Arial, sans-serif"}}),
        );
    }
    let bodies = bodies
        .into_iter()
        .map(|v| serde_json::from_value(v).expect("synthetic fragments are valid"))
        .collect();
    Library::from_bodies(bodies)
}

/// The plan a snapshot would build from `library` for a campaign that
/// allows every format, with `counts` learnt so far.
pub fn plan(library: &Library, counts: &dyn Fn(Stage, ComboKey) -> Counts) -> Plan {
    Plan::build(
        library,
        &PlanInput {
            brand: "Acme Outdoor",
            default_language: Some("en"),
            click_base: "http://127.0.0.1:8080/events/click?cid=1",
            impression_base: "http://127.0.0.1:8080/events/imp?cid=1",
            privacy_url: None,
            preview: false,
            allows: &|_| true,
            rejected_at: &|_| Vec::new(),
            counts,
            policy: &Policy {
                seed: Some(7),
                ..Policy::default()
            },
            objective: &|_| Objective::Clicks,
        },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn corpus_is_found_and_sorted() {
        let files = super::corpus().unwrap();
        assert!(!files.is_empty());
        assert!(files.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn synthetic_catalog_has_one_creative_per_campaign_and_bids() {
        use bidder::bid::{BidContext, Scratch, decide};
        let catalog = super::synthetic_catalog(500);
        assert_eq!(catalog.campaigns.len(), 500);
        assert_eq!(catalog.creatives.len(), 500);
        let snap = super::snapshot(&catalog);
        let body = super::banner_request();
        let mut parser = openrtb::Parser::new();
        let req = parser.parse(&body).unwrap();
        let ex = super::exchange();
        let user = bidder::bid::UserView::unknown(Ok(()));
        let frequency = bidder::state::frequency::Frequency::new(1024);
        let ctx = BidContext {
            exchange: &ex,
            now: bidder::model::UnixTime::now(),
            user: &user,
            frequency: &frequency,
            seed: 1,
        };
        let mut scratch = Scratch::new();
        assert!(decide(&req, &snap, &ctx, &mut scratch).is_ok());
    }
}
