//! A snapshot rebuilt from the last one is the snapshot a full build
//! makes: random sequences of catalog writes, each compiled both ways.

use proptest::prelude::*;

use super::*;
use crate::bid::FxRates;
use crate::model::{Advertiser, CreativeId, Size, Targeting};
use crate::state::budget::Ledger;
use creative::{FixedCreative, HtmlCreative};

const NOW: UnixTime = UnixTime(1_700_000_000);

fn settings() -> Settings {
    Settings {
        public_url: "http://bidder.test".into(),
        fx: FxRates::default(),
        bid_ttl_secs: None,
        creative: Default::default(),
        move_ttl_secs: 3_600,
        privacy_url: None,
    }
}

/// Everything the bid path reads of a snapshot, in a stable order.
fn digest(s: &Snapshot) -> String {
    let mut out = String::new();
    for c in &s.campaigns {
        out.push_str(&format!(
            "{:?} adv {:?} value {:?} base {:?} cur {:?} flight {:?}-{:?} keys {:?} \
             banners {:?} freq {:?} adv-freq {:?} limits {:?}\n",
            c.id,
            c.advertiser_id,
            c.value_usd,
            c.base_cpm,
            c.currency,
            c.flight_start,
            c.flight_end,
            c.keys,
            c.banners
                .iter()
                .map(|b| (&b.crid, b.w, b.h))
                .collect::<Vec<_>>(),
            c.frequency,
            c.advertiser_frequency,
            c.limits,
        ));
    }
    let ix = &s.index;
    let sorted = |m: &IndexMap<String>| {
        let mut v: Vec<_> = m
            .iter()
            .map(|(k, b)| (k.clone(), b.words().to_vec()))
            .collect();
        v.sort();
        v
    };
    let mut sizes: Vec<_> = ix
        .banner_size
        .iter()
        .map(|(k, b)| (*k, b.words().to_vec()))
        .collect();
    sizes.sort();
    let mut device_types: Vec<_> = ix
        .device_type
        .iter()
        .map(|(k, b)| (*k, b.words().to_vec()))
        .collect();
    device_types.sort();
    out.push_str(&format!(
        "index all {:?} country {:?} any {:?} dt {:?} any {:?} os {:?} any {:?} site {:?} app {:?} sizes {:?} any {:?}\n",
        ix.all.words(),
        sorted(&ix.country),
        ix.country_any.words(),
        device_types,
        ix.device_type_any.words(),
        sorted(&ix.os),
        ix.os_any.words(),
        ix.site.words(),
        ix.app.words(),
        sizes,
        ix.banner_any.words(),
    ));
    let mut resting: Vec<_> = s
        .resting
        .iter()
        .map(|(k, r)| (*k, r.advertiser_id))
        .collect();
    resting.sort();
    out.push_str(&format!("resting {resting:?}\n"));
    out
}

fn advertiser(id: i64) -> Advertiser {
    Advertiser {
        id: AdvertiserId(id),
        name: format!("a{id}"),
        domain: format!("a{id}.example"),
        frequency: Default::default(),
        time_zone: "UTC".into(),
        version: 1,
        created_at: UnixTime(0),
        updated_at: UnixTime(0),
    }
}

fn campaign(id: i64, advertiser: i64) -> Campaign {
    Campaign {
        id: CampaignId(id),
        advertiser_id: AdvertiserId(advertiser),
        name: format!("c{id}"),
        status: CampaignStatus::Active,
        flight_start: None,
        flight_end: None,
        total_budget_micros: Micros(0),
        daily_budget_micros: Micros(0),
        currency: Currency::USD,
        base_cpm_micros: Micros(1_000_000),
        max_cpm_micros: Micros(2_000_000 + id * 1_000),
        adomain: vec![format!("c{id}.example")],
        cat: vec![],
        attr: vec![],
        app_bundle: None,
        language: None,
        targeting: Targeting::default(),
        stage_multipliers: Default::default(),
        fragment_sets: vec![],
        pacing: Default::default(),
        frequency: Default::default(),
        learning: Default::default(),
        version: 1,
        created_at: UnixTime(0),
        updated_at: UnixTime(0),
    }
}

fn creative(id: i64, campaign: i64, (w, h): (u32, u32)) -> Creative {
    Creative {
        id: CreativeId(id),
        campaign_id: CampaignId(campaign),
        name: format!("{w}x{h}"),
        status: CreativeStatus::Active,
        body: FixedCreative::Html(HtmlCreative {
            w,
            h,
            markup: format!("<b>{w}x{h}</b>"),
            landing_url: None,
        }),
        version: 1,
        created_at: UnixTime(0),
        updated_at: UnixTime(0),
    }
}

/// One write to the catalog, as the store would make it (versions
/// bumped).
#[derive(Debug, Clone)]
enum Write {
    Price(usize, i64),
    Countries(usize, u8),
    Pause(usize),
    Resume(usize),
    AddCreative(usize, u8),
    DropCreative(usize),
    AdvertiserCaps(usize, u8),
    AddCampaign(u8),
    DeleteCampaign(usize),
    Sizes(usize, u8),
}

const SIZES: [(u32, u32); 3] = [(300, 250), (728, 90), (320, 50)];
const COUNTRIES: [&str; 4] = ["USA", "DEU", "fra", " jpn "];

fn writes() -> impl Strategy<Value = Vec<Write>> {
    let one = prop_oneof![
        (0..64usize, 1..20i64).prop_map(|(c, p)| Write::Price(c, p)),
        (0..64usize, 0..16u8).prop_map(|(c, m)| Write::Countries(c, m)),
        (0..64usize).prop_map(Write::Pause),
        (0..64usize).prop_map(Write::Resume),
        (0..64usize, 0..3u8).prop_map(|(c, s)| Write::AddCreative(c, s)),
        (0..64usize).prop_map(Write::DropCreative),
        (0..3usize, 0..4u8).prop_map(|(a, n)| Write::AdvertiserCaps(a, n)),
        (0..3u8).prop_map(Write::AddCampaign),
        (0..64usize).prop_map(Write::DeleteCampaign),
        (0..64usize, 0..8u8).prop_map(|(c, m)| Write::Sizes(c, m)),
    ];
    prop::collection::vec(one, 1..40)
}

fn apply(cat: &mut Catalog, w: &Write, next_id: &mut i64) {
    let n = cat.campaigns.len().max(1);
    let mut edit = |i: usize, f: &dyn Fn(&mut Campaign)| {
        if let Some(c) = cat.campaigns.get_mut(i % n) {
            f(c);
            c.version += 1;
        }
    };
    match *w {
        Write::Price(i, p) => edit(i, &|c| c.max_cpm_micros = Micros(p * 500_000)),
        Write::Countries(i, mask) => edit(i, &|c| {
            c.targeting.countries = COUNTRIES
                .iter()
                .enumerate()
                .filter(|(k, _)| mask & (1 << k) != 0)
                .map(|(_, s)| s.to_string())
                .collect()
        }),
        Write::Pause(i) => edit(i, &|c| c.status = CampaignStatus::Paused),
        Write::Resume(i) => edit(i, &|c| c.status = CampaignStatus::Active),
        Write::Sizes(i, mask) => edit(i, &|c| {
            c.targeting.sizes = SIZES
                .iter()
                .enumerate()
                .filter(|(k, _)| mask & (1 << k) != 0)
                .map(|(_, &(w, h))| Size { w, h })
                .collect()
        }),
        Write::AddCreative(i, s) => {
            if let Some(c) = cat.campaigns.get(i % n) {
                *next_id += 1;
                let cr = creative(*next_id, c.id.0, SIZES[usize::from(s)]);
                cat.creatives.push(cr);
            }
        }
        Write::DropCreative(i) => {
            if !cat.creatives.is_empty() {
                let k = i % cat.creatives.len();
                cat.creatives.remove(k);
            }
        }
        Write::AdvertiserCaps(a, caps) => {
            if let Some(adv) = cat.advertisers.get_mut(a) {
                adv.frequency.caps = (0..caps)
                    .map(|k| crate::model::FrequencyCap {
                        impressions: u32::from(k) + 1,
                        window: [
                            crate::model::CapWindow::Hour,
                            crate::model::CapWindow::Day,
                            crate::model::CapWindow::Week,
                        ][usize::from(k % 3)],
                    })
                    .take(1)
                    .collect();
                adv.version += 1;
            }
        }
        Write::AddCampaign(a) => {
            *next_id += 1;
            cat.campaigns.push(campaign(*next_id, i64::from(a) + 1));
            *next_id += 1;
            cat.creatives
                .push(creative(*next_id, *next_id - 1, SIZES[0]));
        }
        Write::DeleteCampaign(i) => {
            if !cat.campaigns.is_empty() {
                let c = cat.campaigns.remove(i % cat.campaigns.len());
                cat.creatives.retain(|cr| cr.campaign_id != c.id);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_rebuilt_snapshot_equals_a_full_build_after_any_writes(writes in writes()) {
        let mut cat = Catalog {
            advertisers: (1..=3).map(advertiser).collect(),
            ..Catalog::default()
        };
        let mut next_id = 0;
        for a in 1..=3 {
            for _ in 0..4 {
                apply(&mut cat, &Write::AddCampaign(a - 1), &mut next_id);
            }
        }
        let budgets = Ledger::new(600, None);
        let settings = settings();
        let mut documents = Documents::default();
        let mut prev = Snapshot::build(&cat, &settings, &budgets, NOW);
        for w in &writes {
            apply(&mut cat, w, &mut next_id);
            let rebuilt = Snapshot::rebuild(Some(&prev), &cat, &settings, &budgets, NOW, &mut documents);
            let full = Snapshot::build(&cat, &settings, &budgets, NOW);
            prop_assert_eq!(digest(&rebuilt), digest(&full), "after {:?}", w);
            prev = rebuilt;
        }
    }
}

#[test]
fn an_unchanged_campaign_is_shared_with_the_next_snapshot_and_a_changed_one_is_not() {
    let mut cat = Catalog {
        advertisers: vec![advertiser(1)],
        campaigns: vec![campaign(1, 1), campaign(2, 1)],
        creatives: vec![creative(10, 1, (300, 250)), creative(20, 2, (300, 250))],
        ..Catalog::default()
    };
    let budgets = Ledger::new(600, None);
    let first = Snapshot::build(&cat, &settings(), &budgets, NOW);
    cat.campaigns[1].max_cpm_micros = Micros(9_000_000);
    cat.campaigns[1].version += 1;
    let next = Snapshot::rebuild(
        Some(&first),
        &cat,
        &settings(),
        &budgets,
        NOW,
        &mut Documents::default(),
    );
    let of = |s: &Snapshot, id: i64| Arc::clone(&s.campaigns[s.by_id[&CampaignId(id)]]);
    assert!(
        Arc::ptr_eq(&of(&first, 1), &of(&next, 1)),
        "unchanged: shared"
    );
    assert!(
        !Arc::ptr_eq(&of(&first, 2), &of(&next, 2)),
        "changed: compiled again"
    );
    assert_eq!(
        next.campaigns[0].id,
        CampaignId(2),
        "and ordered by its new value"
    );
}
