//! A snapshot rebuilt or patched from the last one is the snapshot a full
//! build makes: random sequences of catalog writes, each compiled all
//! three ways.

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
    for (i, c) in s.campaigns.iter().enumerate() {
        assert!(Arc::ptr_eq(c, &s.by_id[&c.id]), "by_id holds campaign {i}");
    }
    assert_eq!(s.by_id.len(), s.campaigns.len());
    out.push_str(&format!("uses audiences {}\n", s.uses_audiences));
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
        "index all {:?} country {:?} any {:?} dt {:?} any {:?} os {:?} any {:?} site {:?} app {:?} sizes {:?} any {:?} native {:?} video {:?} words {}\n",
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
        ix.native.words(),
        ix.video.words(),
        ix.words,
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
    /// Its own frequency cap: `n` impressions a day, none for 0.
    Frequency(usize, u8),
    /// Its flight ends `n` hundred seconds from now (now, for 0).
    FlightEnd(usize, u8),
    /// Time passes: 150 s, and no write says so.
    Tick,
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
        (0..64usize, 0..3u8).prop_map(|(c, n)| Write::Frequency(c, n)),
        (0..64usize, 0..4u8).prop_map(|(c, n)| Write::FlightEnd(c, n)),
        Just(Write::Tick),
    ];
    prop::collection::vec(one, 1..40)
}

/// Applies `w` at `now`; the campaigns it changed, as a writer would
/// name them, or `None` for a write that is not one campaign's.
fn apply(
    cat: &mut Catalog,
    w: &Write,
    next_id: &mut i64,
    now: &mut UnixTime,
) -> Option<Vec<CampaignId>> {
    let n = cat.campaigns.len().max(1);
    let at = *now;
    let mut edit = |i: usize, f: &dyn Fn(&mut Campaign)| {
        let c = cat.campaigns.get_mut(i % n)?;
        f(c);
        c.version += 1;
        Some(vec![c.id])
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
        Write::Frequency(i, caps) => edit(i, &|c| {
            c.frequency.caps = (0..caps.min(1))
                .map(|_| crate::model::FrequencyCap {
                    impressions: u32::from(caps),
                    window: crate::model::CapWindow::Day,
                })
                .collect()
        }),
        Write::FlightEnd(i, k) => edit(i, &|c| {
            c.flight_end = Some(UnixTime(at.0 + i64::from(k) * 100))
        }),
        Write::Tick => {
            now.0 += 150;
            Some(Vec::new())
        }
        Write::AddCreative(i, s) => {
            let c = cat.campaigns.get(i % n)?;
            *next_id += 1;
            let cr = creative(*next_id, c.id.0, SIZES[usize::from(s)]);
            // Where the store's catalog keeps it: grouped by campaign.
            let key = |x: &Creative| (x.campaign_id, x.id);
            let at = cat.creatives.partition_point(|x| key(x) < key(&cr));
            cat.creatives.insert(at, cr);
            Some(vec![c.id])
        }
        Write::DropCreative(i) => {
            if cat.creatives.is_empty() {
                return Some(Vec::new());
            }
            let k = i % cat.creatives.len();
            Some(vec![cat.creatives.remove(k).campaign_id])
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
            None
        }
        Write::AddCampaign(a) => {
            *next_id += 1;
            let id = *next_id;
            cat.campaigns.push(campaign(id, i64::from(a) + 1));
            *next_id += 1;
            cat.creatives.push(creative(*next_id, id, SIZES[0]));
            Some(vec![CampaignId(id)])
        }
        Write::DeleteCampaign(i) => {
            if cat.campaigns.is_empty() {
                return Some(Vec::new());
            }
            let c = cat.campaigns.remove(i % cat.campaigns.len());
            cat.creatives.retain(|cr| cr.campaign_id != c.id);
            Some(vec![c.id])
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_rebuilt_or_patched_snapshot_equals_a_full_build_after_any_writes(writes in writes()) {
        let mut cat = Catalog {
            advertisers: (1..=3).map(advertiser).collect(),
            ..Catalog::default()
        };
        let (mut next_id, mut now) = (0, NOW);
        for a in 1..=3 {
            for _ in 0..4 {
                apply(&mut cat, &Write::AddCampaign(a - 1), &mut next_id, &mut now);
            }
        }
        let budgets = Ledger::new(600, None);
        let settings = settings();
        let (mut documents, mut patched_documents) = (Documents::default(), Documents::default());
        let mut prev = Snapshot::build(&cat, &settings, &budgets, now);
        for w in &writes {
            let changed = apply(&mut cat, w, &mut next_id, &mut now);
            let full = Snapshot::build(&cat, &settings, &budgets, now);
            let rebuilt = Snapshot::rebuild(Some(&prev), &cat, &settings, &budgets, now, &mut documents);
            prop_assert_eq!(digest(&rebuilt), digest(&full), "rebuilt after {:?}", w);
            prev = match changed {
                Some(ids) => {
                    let patched = Snapshot::patch(
                        &prev, &cat, &ids, &settings, &budgets, now, &mut patched_documents,
                    );
                    prop_assert_eq!(digest(&patched), digest(&full), "patched after {:?}", w);
                    patched
                }
                None => rebuilt,
            };
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
    let rebuilt = Snapshot::rebuild(
        Some(&first),
        &cat,
        &settings(),
        &budgets,
        NOW,
        &mut Documents::default(),
    );
    let patched = Snapshot::patch(
        &first,
        &cat,
        &[CampaignId(2)],
        &settings(),
        &budgets,
        NOW,
        &mut Documents::default(),
    );
    let of = |s: &Snapshot, id: i64| Arc::clone(&s.by_id[&CampaignId(id)]);
    for next in [rebuilt, patched] {
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
        assert_eq!(next.index.all.words(), [0b11]);
    }
}
