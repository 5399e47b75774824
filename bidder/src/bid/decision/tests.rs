//! Decision tests on small hand-made catalogs.

use audiences::StageMultipliers;
use creative::{FixedCreative, HtmlCreative, Image, NativeAssets, VastCreative};
use openrtb::{BidRequest, Currency, Micros};

use std::sync::Arc;

use super::candidates::{base_candidates, imp_candidates};
use super::*;
use crate::bid::commit::{Outcome, commit};
use crate::bid::snapshot::bitset::ones;
use crate::events::token::Signer;
use crate::model::{
    AdFormat, Advertiser, AdvertiserId, Campaign, CampaignId, CampaignStatus, Catalog, Creative,
    CreativeId, CreativeStatus, Targeting,
};
use crate::state::budget::Ledger;
use crate::state::frequency::Frequency;

fn campaign(id: i64, base: i64, max: i64) -> Campaign {
    Campaign {
        id: CampaignId(id),
        advertiser_id: AdvertiserId(1),
        name: format!("c{id}"),
        status: CampaignStatus::Active,
        flight_start: None,
        flight_end: None,
        total_budget_micros: Micros(0),
        daily_budget_micros: Micros(0),
        currency: Currency::USD,
        base_cpm_micros: Micros(base),
        max_cpm_micros: Micros(max),
        adomain: vec![format!("adv{id}.example")],
        cat: vec!["IAB17".into()],
        attr: vec![],
        app_bundle: None,
        language: None,
        targeting: Targeting::default(),
        stage_multipliers: StageMultipliers::default(),
        fragment_sets: Vec::new(),
        pacing: Default::default(),
        frequency: Default::default(),
        learning: Default::default(),
        version: 1,
        created_at: UnixTime(0),
        updated_at: UnixTime(0),
    }
}

fn html(id: i64, campaign: i64, w: u32, h: u32) -> Creative {
    creative(
        id,
        campaign,
        FixedCreative::Html(HtmlCreative {
            w,
            h,
            markup: format!("<b>{w}x{h}</b>"),
            landing_url: None,
        }),
    )
}

fn creative(id: i64, campaign: i64, body: FixedCreative) -> Creative {
    Creative {
        id: CreativeId(id),
        campaign_id: CampaignId(campaign),
        name: format!("cr{id}"),
        status: CreativeStatus::Active,
        body,
        version: 1,
        created_at: UnixTime(0),
        updated_at: UnixTime(0),
    }
}

fn native_assets() -> NativeAssets {
    NativeAssets {
        title: "A title".into(),
        description: Some("A description".into()),
        image: Some(Image {
            url: "https://cdn/i.jpg".into(),
            w: 1200,
            h: 627,
            crops: Vec::new(),
        }),
        icon: None,
        cta: Some("Go".into()),
        sponsored: Some("Brand".into()),
        price: None,
        desc2: None,
        landing_url: "https://brand.example".into(),
        privacy_url: None,
    }
}

fn vast(secs: u32) -> FixedCreative {
    FixedCreative::Vast(VastCreative {
        document: format!(
            "<VAST version=\"4.2\"><Ad><InLine><Duration>00:00:{secs:02}</Duration></InLine></Ad></VAST>"
        ),
        duration_secs: secs,
        mimes: vec!["video/mp4".into()],
        w: 1280,
        h: 720,
        plcmt: Vec::new(),
        versions: Vec::new(),
    })
}

fn settings() -> Settings {
    Settings {
        public_url: "http://bidder.test".into(),
        fx: FxRates::default(),
        bid_ttl_secs: Some(300),
        creative: creative::learning::Policy::default(),
        move_ttl_secs: 86_400,
        privacy_url: None,
    }
}

/// When the tests decide, unless they say otherwise.
const NOW: UnixTime = UnixTime(1_700_000_000);

/// `cat` compiled with fresh budgets at [`NOW`].
fn build(cat: &Catalog) -> Snapshot {
    Snapshot::build(cat, &settings(), &Ledger::new(600, None), NOW)
}

fn signer() -> Signer {
    Signer::new(&[[9; 32]], 3600)
}

fn exchange(sends_burl: bool) -> ExchangeProfile {
    ExchangeProfile {
        name: "ex".into(),
        index: 0,
        seat: Some("seat-1".into()),
        currency: Currency::USD,
        sends_burl,
        max_imps: 20,
        bids_per_campaign: 1,
        notice_window_secs: 600,
    }
}

fn catalog(campaigns: Vec<Campaign>, creatives: Vec<Creative>) -> Catalog {
    Catalog {
        advertisers: vec![Advertiser {
            id: AdvertiserId(1),
            name: "A".into(),
            domain: "a.example".into(),
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

/// Runs `decide` and `commit` on `json` and hands the outcome to `check`.
fn run(snap: &Snapshot, json: &str, sends_burl: bool, check: impl FnOnce(Outcome<'_>)) {
    let user = UserView::unknown(Ok(()));
    run_as(snap, json, sends_burl, &user, NOW, check);
}

/// [`run`] for `user` at `now`, with no impression counted.
fn run_as(
    snap: &Snapshot,
    json: &str,
    sends_burl: bool,
    user: &UserView,
    now: UnixTime,
    check: impl FnOnce(Outcome<'_>),
) {
    run_with(
        snap,
        json,
        sends_burl,
        (user, now),
        &Frequency::new(1024),
        check,
    );
}

/// [`run_as`] reading impressions from `frequency`.
fn run_with(
    snap: &Snapshot,
    json: &str,
    sends_burl: bool,
    (user, now): (&UserView, UnixTime),
    frequency: &dyn FrequencyCounts,
    check: impl FnOnce(Outcome<'_>),
) {
    let mut parser = openrtb::Parser::new();
    let req: BidRequest<'_> = parser.parse(json.as_bytes()).unwrap();
    let ex = exchange(sends_burl);
    let ctx = BidContext {
        exchange: &ex,
        now,
        user,
        frequency,
        seed: 7,
    };
    let mut scratch = Scratch::new();
    let outcome = match decide(&req, snap, &ctx, &mut scratch) {
        Err(reason) => Outcome::NoBid(reason),
        Ok(_) => commit(&req, snap, &ctx, &signer(), &mut scratch),
    };
    check(outcome);
}

fn bids(o: Outcome<'_>) -> Vec<(String, String, i64, Option<u32>)> {
    match o {
        Outcome::Bid(d) => d
            .bids
            .iter()
            .map(|b| {
                (
                    b.impid.to_string(),
                    b.cid.unwrap().to_string(),
                    b.price.0,
                    b.w,
                )
            })
            .collect(),
        Outcome::NoBid(r) => panic!("no bid: {r:?}"),
    }
}

fn no_bid(o: Outcome<'_>) -> NoBidReason {
    match o {
        Outcome::NoBid(r) => r,
        Outcome::Bid(d) => panic!("unexpected bid {:?}", d.bids),
    }
}

const BANNER: &str = r#"{"id":"r","imp":[{"id":"1","banner":{"format":[{"w":728,"h":90},{"w":300,"h":250}]},"bidfloor":1.0}],"site":{"domain":"news.example"},"at":1}"#;

#[test]
fn banner_bid_uses_a_requested_size_and_carries_notices() {
    let snap = build(&catalog(
        vec![campaign(1, 2_000_000, 5_000_000)],
        vec![html(10, 1, 300, 250)],
    ));
    run(&snap, BANNER, true, |o| {
        let Outcome::Bid(d) = o else { panic!("no bid") };
        let b = &d.bids[0];
        assert_eq!((b.w, b.h, b.mtype), (Some(300), Some(250), Some(1)));
        assert_eq!(b.crid, Some("10"));
        assert_eq!(d.seat, Some("seat-1"));
        let nurl = b.nurl.unwrap();
        assert!(
            nurl.starts_with(
                "http://bidder.test/events/win?auction=${AUCTION_ID}&imp=${AUCTION_IMP_ID}&price=${AUCTION_PRICE}"
            ),
            "{nurl}"
        );
        // What the bid already says is not repeated.
        assert!(!nurl.contains(b.id) && !nurl.contains("cid=") && !nurl.contains("crid="));
        assert!(b.burl.unwrap().contains("/events/bill?"));
        let lurl = b.lurl.unwrap();
        assert!(lurl.contains("&loss=${AUCTION_LOSS}&t="), "{lurl}");
        // Every notice carries the same signed token, which names this bid.
        let token = nurl.split("&t=").nth(1).unwrap();
        assert!(lurl.ends_with(&format!("&t={token}")));
        let claims = signer().verify(token, 1_700_000_000).unwrap();
        assert_eq!(claims.campaign.0, 1);
        assert_eq!(
            format!("{:x}-{:x}", claims.bid.0, claims.bid.1),
            b.id,
            "the token binds the bid id"
        );
        assert_eq!(b.exp, Some(300));
    });
}

#[test]
fn exchange_without_burl_gets_no_burl() {
    let snap = build(&catalog(
        vec![campaign(1, 2_000_000, 5_000_000)],
        vec![html(10, 1, 300, 250)],
    ));
    run(&snap, BANNER, false, |o| {
        let Outcome::Bid(d) = o else { panic!("no bid") };
        assert!(d.bids[0].burl.is_none());
    });
}

#[test]
fn first_price_bids_base_and_second_price_bids_max() {
    let snap = build(&catalog(
        vec![campaign(1, 2_000_000, 5_000_000)],
        vec![html(10, 1, 300, 250)],
    ));
    run(&snap, BANNER, true, |o| assert_eq!(bids(o)[0].2, 2_000_000));
    run(&snap, &BANNER.replace("\"at\":1", "\"at\":2"), true, |o| {
        assert_eq!(bids(o)[0].2, 5_000_000)
    });
}

#[test]
fn first_price_raises_the_bid_to_the_floor_but_not_past_max() {
    let snap = build(&catalog(
        vec![campaign(1, 2_000_000, 5_000_000)],
        vec![html(10, 1, 300, 250)],
    ));
    run(
        &snap,
        &BANNER.replace("\"bidfloor\":1.0", "\"bidfloor\":3.5"),
        true,
        |o| assert_eq!(bids(o)[0].2, 3_500_000),
    );
    run(
        &snap,
        &BANNER.replace("\"bidfloor\":1.0", "\"bidfloor\":5.01"),
        true,
        |o| assert_eq!(no_bid(o), NoBidReason::BelowFloor),
    );
}

#[test]
fn eur_floor_is_converted_and_the_answer_never_falls_below_it() {
    let snap = build(&catalog(
        vec![campaign(1, 1_000_000, 9_000_000)],
        vec![html(10, 1, 300, 250)],
    ));
    let eur = BANNER.replace(
        "\"bidfloor\":1.0",
        "\"bidfloor\":3.333333,\"bidfloorcur\":\"EUR\"",
    );
    run(&snap, &eur, true, |o| {
        let p = bids(o)[0].2;
        assert!(p >= 3_600_000, "{p}"); // 3.333333 EUR at 1.08
    });
    let eur_answer = eur.replace("\"at\":1", "\"at\":1,\"cur\":[\"EUR\"]");
    run(&snap, &eur_answer, true, |o| {
        let Outcome::Bid(d) = o else { panic!() };
        assert_eq!(d.cur, Currency::EUR);
        assert!(
            d.bids[0].price >= Micros(3_333_333),
            "{:?}",
            d.bids[0].price
        );
    });
}

#[test]
fn unsupported_answer_currency_is_no_bid() {
    let snap = build(&catalog(
        vec![campaign(1, 1_000_000, 9_000_000)],
        vec![html(10, 1, 300, 250)],
    ));
    run(
        &snap,
        &BANNER.replace("\"at\":1", "\"at\":1,\"cur\":[\"XYZ\"]"),
        true,
        |o| assert_eq!(no_bid(o), NoBidReason::UnsupportedCurrency),
    );
}

#[test]
fn paused_and_out_of_flight_campaigns_never_bid() {
    let mut paused = campaign(1, 2_000_000, 5_000_000);
    paused.status = CampaignStatus::Paused;
    let mut future = campaign(2, 2_000_000, 5_000_000);
    future.flight_start = Some(UnixTime(1_800_000_000));
    let snap = build(&catalog(
        vec![paused, future],
        vec![html(10, 1, 300, 250), html(11, 2, 300, 250)],
    ));
    run(&snap, BANNER, true, |o| {
        assert_eq!(no_bid(o), NoBidReason::NoEligibleCampaign)
    });
}

#[test]
fn the_most_valuable_eligible_campaign_wins() {
    let mut eu = campaign(3, 9_000_000, 20_000_000);
    eu.targeting.countries = vec!["DEU".into()];
    let cat = catalog(
        vec![
            campaign(1, 2_000_000, 5_000_000),
            campaign(2, 2_000_000, 7_000_000),
            eu,
        ],
        vec![
            html(10, 1, 300, 250),
            html(11, 2, 300, 250),
            html(12, 3, 300, 250),
        ],
    );
    let snap = build(&cat);
    run(&snap, BANNER, true, |o| assert_eq!(bids(o)[0].1, "2"));
    let de = BANNER.replace(
        "\"site\"",
        "\"device\":{\"geo\":{\"country\":\"deu\"}},\"site\"",
    );
    run(&snap, &de, true, |o| assert_eq!(bids(o)[0].1, "3"));
}

#[test]
fn blocked_category_and_advertiser_skip_to_the_next_campaign() {
    let mut other = campaign(2, 1_000_000, 2_000_000);
    other.cat = vec!["IAB8-1".into()];
    let cat = catalog(
        vec![campaign(1, 2_000_000, 5_000_000), other],
        vec![html(10, 1, 300, 250), html(11, 2, 300, 250)],
    );
    let snap = build(&cat);
    let bcat = BANNER.replace("\"at\":1", "\"at\":1,\"bcat\":[\"IAB17\"]");
    run(&snap, &bcat, true, |o| assert_eq!(bids(o)[0].1, "2"));
    let both = BANNER.replace(
        "\"at\":1",
        "\"at\":1,\"bcat\":[\"IAB8\"],\"badv\":[\"adv1.example\"]",
    );
    run(&snap, &both, true, |o| {
        assert_eq!(no_bid(o), NoBidReason::BlockedAdvertiser)
    });
}

#[test]
fn wseat_without_our_seat_blocks() {
    let snap = build(&catalog(
        vec![campaign(1, 2_000_000, 5_000_000)],
        vec![html(10, 1, 300, 250)],
    ));
    run(
        &snap,
        &BANNER.replace("\"at\":1", "\"at\":1,\"wseat\":[\"other\"]"),
        true,
        |o| assert_eq!(no_bid(o), NoBidReason::SeatBlocked),
    );
    run(
        &snap,
        &BANNER.replace("\"at\":1", "\"at\":1,\"wseat\":[\"seat-1\"]"),
        true,
        |o| assert_eq!(bids(o).len(), 1),
    );
}

fn deal_catalog() -> Snapshot {
    let mut deal = campaign(1, 3_000_000, 10_000_000);
    deal.targeting.deal_ids = vec!["D1".into()];
    deal.targeting.deals_only = true;
    build(&catalog(
        vec![deal, campaign(2, 1_000_000, 2_000_000)],
        vec![html(10, 1, 300, 250), html(11, 2, 300, 250)],
    ))
}

#[test]
fn private_auction_bids_only_through_a_listed_deal() {
    let snap = deal_catalog();
    let req = r#"{"id":"r","imp":[{"id":"1","banner":{"w":300,"h":250},"pmp":{"private_auction":1,"deals":[{"id":"D1","bidfloor":4.0}]}}],"at":1}"#;
    run(&snap, req, true, |o| {
        let Outcome::Bid(d) = o else { panic!() };
        assert_eq!(d.bids[0].dealid, Some("D1"));
        assert_eq!(d.bids[0].price, Micros(4_000_000));
    });
    let other = req.replace("\"D1\"", "\"D9\"");
    run(&snap, &other, true, |o| {
        assert_eq!(no_bid(o), NoBidReason::DealMismatch)
    });
}

#[test]
fn deals_only_campaign_stays_out_of_the_open_auction() {
    let snap = deal_catalog();
    run(&snap, BANNER, true, |o| assert_eq!(bids(o)[0].1, "2"));
}

#[test]
fn fixed_price_deal_bids_its_floor_in_the_deal_currency() {
    let snap = deal_catalog();
    // The imp floor is in EUR; the deal's (absent) currency is USD, not EUR.
    let req = r#"{"id":"r","imp":[{"id":"1","banner":{"w":300,"h":250},"bidfloor":9.0,"bidfloorcur":"EUR","pmp":{"private_auction":1,"deals":[{"id":"D1","bidfloor":6.5,"at":3}]}}],"at":2}"#;
    run(&snap, req, true, |o| assert_eq!(bids(o)[0].2, 6_500_000));
}

#[test]
fn multi_imp_requests_get_at_most_one_bid_per_imp() {
    let cat = catalog(
        vec![
            campaign(1, 2_000_000, 5_000_000),
            campaign(2, 2_000_000, 4_000_000),
        ],
        vec![html(10, 1, 300, 250), html(11, 2, 728, 90)],
    );
    let snap = build(&cat);
    let req = r#"{"id":"r","imp":[{"id":"a","banner":{"w":300,"h":250}},{"id":"b","banner":{"w":728,"h":90}},{"id":"c","banner":{"w":1,"h":1}}],"at":1}"#;
    run(&snap, req, true, |o| {
        let b = bids(o);
        assert_eq!(b.len(), 2);
        assert_eq!((b[0].0.as_str(), b[0].1.as_str()), ("a", "1"));
        assert_eq!((b[1].0.as_str(), b[1].1.as_str()), ("b", "2"));
    });
}

#[test]
fn native_bids_only_when_every_required_asset_can_be_filled() {
    let cat = catalog(
        vec![campaign(1, 2_000_000, 5_000_000)],
        vec![creative(10, 1, FixedCreative::Native(native_assets()))],
    );
    let snap = build(&cat);
    let ok = r#"{"id":"r","imp":[{"id":"1","native":{"request":{"assets":[{"id":1,"required":1,"title":{"len":25}},{"id":2,"img":{"type":1}}]}}}]}"#;
    run(&snap, ok, true, |o| {
        let Outcome::Bid(d) = o else { panic!() };
        let adm: serde_json::Value = serde_json::from_str(d.bids[0].adm.unwrap()).unwrap();
        assert_eq!(adm["assets"][0]["title"]["text"], "A title");
        assert_eq!(d.bids[0].mtype, Some(4));
    });
    let icon_required = ok.replace("{\"id\":2,\"img\"", "{\"id\":2,\"required\":1,\"img\"");
    run(&snap, &icon_required, true, |o| {
        assert_eq!(no_bid(o), NoBidReason::NoMatchingCreative)
    });
}

#[test]
fn a_required_image_must_fit_its_exact_shape_within_a_fifth() {
    let cat = catalog(
        vec![campaign(1, 2_000_000, 5_000_000)],
        vec![creative(10, 1, FixedCreative::Native(native_assets()))],
    );
    let snap = build(&cat);
    // The creative's only image is 1200x627 (1.91:1).
    let image = |w: u32, h: u32| {
        format!(
            r#"{{"id":"r","imp":[{{"id":"1","native":{{"request":{{"assets":[{{"id":1,"required":1,"img":{{"type":3,"w":{w},"h":{h}}}}}]}}}}}}]}}"#
        )
    };
    run(&snap, &image(1000, 600), true, |o| {
        let Outcome::Bid(d) = o else { panic!() };
        assert!(d.bids[0].adm.unwrap().contains("\"w\":1200,\"h\":627"));
    });
    // 1:1 is far from 1.91:1, and no crop is square.
    run(&snap, &image(300, 300), true, |o| {
        assert_eq!(no_bid(o), NoBidReason::NativeImageFit)
    });
}

#[test]
fn video_needs_an_accepted_mime_type_and_duration() {
    let cat = catalog(
        vec![campaign(1, 2_000_000, 5_000_000)],
        vec![creative(10, 1, vast(30))],
    );
    let snap = build(&cat);
    let ok = r#"{"id":"r","imp":[{"id":"1","video":{"mimes":["video/mp4"],"maxduration":30,"protocols":[2,7]}}]}"#;
    run(&snap, ok, true, |o| assert_eq!(bids(o)[0].3, Some(1280)));
    run(
        &snap,
        &ok.replace("\"maxduration\":30", "\"maxduration\":15"),
        true,
        |o| assert_eq!(no_bid(o), NoBidReason::VideoDuration),
    );
    run(&snap, &ok.replace("video/mp4", "video/webm"), true, |o| {
        assert_eq!(no_bid(o), NoBidReason::VideoMime)
    });
    // An inline document, and only wrapper versions are listed.
    run(&snap, &ok.replace("[2,7]", "[5,8,14]"), true, |o| {
        assert_eq!(no_bid(o), NoBidReason::VideoProtocol)
    });
}

/// A 15 s inline VAST `version` document with one progressive mp4 of
/// 2,000 Kbps, skippable after 5 s.
fn playable_vast(version: &str) -> FixedCreative {
    FixedCreative::Vast(VastCreative {
        document: format!(
            r#"<VAST version="{version}"><Ad><InLine><AdSystem>a</AdSystem><Impression>https://t.example/i</Impression><AdTitle>t</AdTitle><Creatives><Creative><Linear skipoffset="00:00:05"><Duration>00:00:15</Duration><MediaFiles><MediaFile delivery="progressive" type="video/mp4" width="640" height="360" bitrate="2000">https://cdn.example/v.mp4</MediaFile></MediaFiles></Linear></Creative></Creatives></InLine></Ad></VAST>"#
        ),
        duration_secs: 15,
        mimes: vec!["video/mp4".into()],
        w: 640,
        h: 360,
        plcmt: vec![1],
        versions: Vec::new(),
    })
}

#[test]
fn video_is_served_in_an_accepted_version_or_not_at_all() {
    let snap = build(&catalog(
        vec![campaign(1, 2_000_000, 5_000_000)],
        vec![creative(10, 1, playable_vast("3.0"))],
    ));
    let video = |fields: &str| {
        format!(r#"{{"id":"r","imp":[{{"id":"1","video":{{"mimes":["video/mp4"],{fields}}}}}]}}"#)
    };
    let served_as = |fields: &str| {
        let mut version = None;
        run(&snap, &video(fields), true, |o| {
            let Outcome::Bid(d) = o else { panic!("no bid") };
            let adm = d.bids[0].adm.unwrap();
            version = adm.split('"').nth(1).map(str::to_owned);
        });
        version.unwrap()
    };
    assert_eq!(served_as(r#""protocols":[2,3,7]"#), "3.0");
    assert_eq!(served_as(r#""protocol":3"#), "3.0");
    for (fields, reason) in [
        (r#""protocols":[7,13]"#, NoBidReason::VideoProtocol),
        // Its skipoffset is 3.0's: never a 2.0 document.
        (r#""protocols":[2,5]"#, NoBidReason::VideoProtocol),
        (r#""delivery":[1]"#, NoBidReason::VideoDelivery),
        (r#""maxbitrate":1000"#, NoBidReason::VideoBitrate),
        (r#""rqddurs":[10,20]"#, NoBidReason::VideoDuration),
        (r#""skip":0"#, NoBidReason::VideoPlacement),
        (r#""plcmt":4"#, NoBidReason::VideoPlacement),
        (r#""linearity":2"#, NoBidReason::VideoPlacement),
    ] {
        run(&snap, &video(fields), true, |o| {
            assert_eq!(no_bid(o), reason, "{fields}")
        });
    }
    assert_eq!(
        served_as(r#""rqddurs":[15,30],"skip":1,"plcmt":1,"delivery":[2],"minbitrate":1500"#),
        "3.0"
    );
}

#[test]
fn a_secure_imp_needs_an_https_bidder_and_an_https_creative() {
    let secure = r#"{"id":"r","imp":[{"id":"1","banner":{"w":300,"h":250},"secure":1}]}"#;
    let https_banner = creative(
        10,
        1,
        FixedCreative::Html(HtmlCreative {
            w: 300,
            h: 250,
            markup: "<img src='https://cdn.example/a.png'>".into(),
            landing_url: None,
        }),
    );
    let cat = catalog(vec![campaign(1, 2_000_000, 5_000_000)], vec![https_banner]);
    // The tests' bidder is at http://bidder.test.
    run(&build(&cat), secure, true, |o| {
        assert_eq!(no_bid(o), NoBidReason::Insecure)
    });
    let https = Settings {
        public_url: "https://bidder.test".into(),
        ..settings()
    };
    let snap = Snapshot::build(&cat, &https, &Ledger::new(600, None), NOW);
    run(&snap, secure, true, |o| {
        let Outcome::Bid(d) = o else { panic!() };
        let b = &d.bids[0];
        for url in [b.adm.unwrap(), b.nurl.unwrap(), b.lurl.unwrap()] {
            assert!(!url.contains("http:"), "{url}");
        }
    });
    // A creative with an http asset serves only imps that are not secure.
    let mut http_cat = cat;
    if let FixedCreative::Html(h) = &mut http_cat.creatives[0].body {
        h.markup = "<img src='http://cdn.example/a.png'>".into();
    }
    let snap = Snapshot::build(&http_cat, &https, &Ledger::new(600, None), NOW);
    run(&snap, secure, true, |o| {
        assert_eq!(no_bid(o), NoBidReason::Insecure)
    });
    run(&snap, &secure.replace(",\"secure\":1", ""), true, |o| {
        assert_eq!(bids(o).len(), 1)
    });
}

#[test]
fn a_stored_vast_document_that_does_not_parse_never_bids() {
    // Uploads are parsed now; a document stored before that was checked
    // only for its tags and may be broken XML, which no player can play.
    let mut broken = vast(30);
    if let FixedCreative::Vast(v) = &mut broken {
        v.document = v.document.replace("</InLine>", "");
    }
    let cat = catalog(
        vec![campaign(1, 2_000_000, 5_000_000)],
        vec![creative(10, 1, broken)],
    );
    let snap = build(&cat);
    let ok = r#"{"id":"r","imp":[{"id":"1","video":{"mimes":["video/mp4"],"maxduration":30,"protocols":[2,7]}}]}"#;
    run(&snap, ok, true, |o| {
        assert_eq!(no_bid(o), NoBidReason::NoEligibleCampaign)
    });
}

#[test]
fn a_rebuilt_snapshot_serves_the_vast_document_parsed_for_the_last_one() {
    let mut cat = catalog(
        vec![campaign(1, 2_000_000, 5_000_000)],
        vec![creative(10, 1, vast(30))],
    );
    let mut documents = crate::bid::snapshot::vast_documents::Documents::default();
    let document = |snap: &Snapshot| std::sync::Arc::clone(&snap.campaigns[0].videos[0].document);
    let first = Snapshot::build_with(
        &cat,
        &settings(),
        &Ledger::new(600, None),
        NOW,
        &mut documents,
    );
    let again = Snapshot::build_with(
        &cat,
        &settings(),
        &Ledger::new(600, None),
        NOW,
        &mut documents,
    );
    assert!(std::sync::Arc::ptr_eq(&document(&first), &document(&again)));
    assert_eq!(documents.parsed(), 1);
    // A new version of the creative (its document edited) is parsed anew
    // and served.
    cat.creatives[0].version += 1;
    if let FixedCreative::Vast(v) = &mut cat.creatives[0].body {
        v.document = v
            .document
            .replace("<InLine>", "<InLine><AdTitle>new</AdTitle>");
    }
    let edited = Snapshot::build_with(
        &cat,
        &settings(),
        &Ledger::new(600, None),
        NOW,
        &mut documents,
    );
    assert_eq!(documents.parsed(), 2);
    let ok = r#"{"id":"r","imp":[{"id":"1","video":{"mimes":["video/mp4"],"maxduration":30,"protocols":[2,7]}}]}"#;
    run(&edited, ok, true, |o| match o {
        Outcome::Bid(d) => assert!(d.bids[0].adm.unwrap().contains("<AdTitle>new</AdTitle>")),
        Outcome::NoBid(r) => panic!("no bid: {r:?}"),
    });
}

#[test]
fn formats_outside_the_campaign_targeting_are_not_served() {
    let mut c = campaign(1, 2_000_000, 5_000_000);
    c.targeting.formats = vec![AdFormat::Video];
    let snap = build(&catalog(vec![c], vec![html(10, 1, 300, 250)]));
    assert_eq!(snap.campaign_count(), 0);
}

/// A tiny deterministic generator so the property test needs no seed file.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn index_admits_exactly_the_campaigns_a_brute_force_scan_admits() {
    const COUNTRIES: [&str; 4] = ["USA", "DEU", "FRA", "JPN"];
    const OS: [&str; 3] = ["ios", "android", "windows"];
    const SIZES: [(u32, u32); 3] = [(300, 250), (728, 90), (320, 50)];
    let mut rng = Lcg(7);
    let mut campaigns = Vec::new();
    let mut creatives = Vec::new();
    for id in 1..=1000 {
        let mut c = campaign(id, 1_000_000, 1_000_000 + rng.next(5_000_000) as i64);
        if rng.next(2) == 0 {
            c.targeting.countries = vec![COUNTRIES[rng.next(4) as usize].into()];
        }
        if rng.next(3) == 0 {
            c.targeting.device_types = vec![1 + rng.next(7) as u32];
        }
        if rng.next(3) == 0 {
            c.targeting.os = vec![OS[rng.next(3) as usize].into()];
        }
        let (w, h) = SIZES[rng.next(3) as usize];
        creatives.push(html(id, id, w, h));
        campaigns.push(c);
    }
    let cat = catalog(campaigns.clone(), creatives);
    let snap = build(&cat);
    let mut scratch = Scratch::new();
    for _ in 0..200 {
        let country = COUNTRIES[rng.next(4) as usize];
        let os = OS[rng.next(3) as usize];
        let dt = 1 + rng.next(7) as u32;
        let (w, h) = SIZES[rng.next(3) as usize];
        let json = format!(
            r#"{{"id":"r","imp":[{{"id":"1","banner":{{"w":{w},"h":{h}}}}}],"device":{{"devicetype":{dt},"os":"{os}","geo":{{"country":"{country}"}}}}}}"#
        );
        let mut parser = openrtb::Parser::new();
        let req: BidRequest<'_> = parser.parse(json.as_bytes()).unwrap();
        base_candidates(&req, &snap.index, &mut scratch.base);
        imp_candidates(
            &req.imp[0],
            &snap.index,
            &scratch.base,
            &mut scratch.imp_set,
        );
        let mut via_index: Vec<i64> = ones(&scratch.imp_set)
            .map(|i| snap.campaigns[i].id.0)
            .collect();
        let mut brute: Vec<i64> = campaigns
            .iter()
            .filter(|c| {
                let t = &c.targeting;
                (t.countries.is_empty() || t.countries.iter().any(|x| x == country))
                    && (t.device_types.is_empty() || t.device_types.contains(&dt))
                    && (t.os.is_empty() || t.os.iter().any(|x| x == os))
                    && cat.creatives.iter().any(|cr| {
                        cr.campaign_id == c.id
                            && matches!(&cr.body, FixedCreative::Html(hc) if hc.w == w && hc.h == h)
                    })
            })
            .map(|c| c.id.0)
            .collect();
        via_index.sort();
        brute.sort();
        assert_eq!(via_index, brute);
    }
}

#[test]
fn daily_caps_count_in_their_own_time_zone_the_campaigns_and_the_advertisers() {
    use crate::model::{CapWindow, EventRecord, FrequencyCap};

    let two_a_day = vec![FrequencyCap {
        impressions: 2,
        window: CapWindow::Day,
    }];
    // A New York campaign capping itself; a UTC campaign of a New York
    // advertiser capping all its campaigns.
    let mut own = catalog(
        vec![campaign(1, 2_000_000, 5_000_000)],
        vec![html(10, 1, 300, 250)],
    );
    own.campaigns[0].pacing.time_zone = "America/New_York".into();
    own.campaigns[0].frequency.caps = two_a_day.clone();
    let mut theirs = own.clone();
    theirs.campaigns[0].pacing.time_zone = "UTC".into();
    theirs.campaigns[0].frequency.caps.clear();
    theirs.advertisers[0].time_zone = "America/New_York".into();
    theirs.advertisers[0].frequency.caps = two_a_day;
    for (case, catalog) in [("campaign", own), ("advertiser", theirs)] {
        let effects = effects_on(&catalog);
        // 2023-11-14 00:00 UTC is 19:00 on Monday the 13th in New York (EST).
        const TUESDAY_UTC: i64 = 1_699_920_000;
        let user = audiences::keys::UserKey(7);
        // Shown at 18:00 and 20:00 on Monday in New York (23:00 and 01:00
        // UTC, two UTC days), through the event worker's own path.
        let shown = |at: i64| EventRecord::test_impression(CampaignId(1), user.0, UnixTime(at));
        effects.count_impression(&shown(TUESDAY_UTC - 3_600));
        effects.count_impression(&shown(TUESDAY_UTC + 3_600));
        let snap = effects.snapshot.load();
        let mut view = UserView::unknown(Ok(()));
        view.key = Some(user);
        // Two the same New York day: at 21:00 the cap of two holds.
        let nine_pm = UnixTime(TUESDAY_UTC + 2 * 3_600);
        let f = &*effects.frequency;
        run_with(&snap, BANNER, true, (&view, nine_pm), f, |o| {
            assert_eq!(no_bid(o), NoBidReason::FrequencyCapped, "{case}");
        });
        // New York's Tuesday begins at 05:00 UTC.
        let midnight = UnixTime(TUESDAY_UTC + 5 * 3_600);
        run_with(&snap, BANNER, true, (&view, midnight), f, |o| {
            assert_eq!(bids(o)[0].1, "1", "{case}");
        });
    }
}

#[test]
fn a_paused_campaigns_impressions_count_for_its_advertisers_caps() {
    use crate::model::{CapWindow, EventRecord, FrequencyCap};

    // Two a day over all the advertiser's campaigns. Campaign 1 was paused
    // after bidding; its impressions arrive while campaign 2 bids.
    let mut catalog = catalog(
        vec![
            campaign(1, 2_000_000, 5_000_000),
            campaign(2, 2_000_000, 5_000_000),
        ],
        vec![html(10, 1, 300, 250), html(20, 2, 300, 250)],
    );
    catalog.campaigns[0].status = CampaignStatus::Paused;
    catalog.advertisers[0].frequency.caps = vec![FrequencyCap {
        impressions: 2,
        window: CapWindow::Day,
    }];
    let effects = effects_on(&catalog);
    let snap = effects.snapshot.load();
    assert_eq!(snap.campaign_count(), 1);
    // Noon, 2023-11-14 UTC: both impressions fall on the same day.
    let now = UnixTime(1_699_963_200);
    let (seen, unseen) = (audiences::keys::UserKey(7), audiences::keys::UserKey(8));
    for minutes in [10, 20] {
        let at = UnixTime(now.0 - minutes * 60);
        effects.count_impression(&EventRecord::test_impression(CampaignId(1), seen.0, at));
    }
    let view = |key| {
        let mut view = UserView::unknown(Ok(()));
        view.key = Some(key);
        view
    };
    let f = &*effects.frequency;
    run_with(&snap, BANNER, true, (&view(seen), now), f, |o| {
        assert_eq!(no_bid(o), NoBidReason::FrequencyCapped);
    });
    run_with(&snap, BANNER, true, (&view(unseen), now), f, |o| {
        assert_eq!(bids(o)[0].1, "2");
    });
}

/// The event worker's effects on a snapshot of `catalog`.
fn effects_on(catalog: &Catalog) -> crate::events::apply::Effects {
    use crate::state::clock::SystemClock;
    let store = Arc::new(crate::store::Store::open_in_memory().unwrap());
    let audience = crate::state::audience::Audience::open(store, Arc::new(SystemClock));
    let budgets = Arc::new(Ledger::new(600, None));
    crate::events::apply::Effects {
        snapshot: Arc::new(arc_swap::ArcSwap::from_pointee(Snapshot::build(
            catalog,
            &settings(),
            &*budgets,
            NOW,
        ))),
        audience: Arc::new(audience.unwrap().0),
        budgets,
        frequency: Arc::new(Frequency::new(1 << 16)),
        move_ttl_secs: 86_400,
        late: Default::default(),
        moved: Default::default(),
    }
}

/// A user the audience knows, whose consent allows counting.
fn known_user(key: u64) -> UserView {
    let mut view = UserView::unknown(Ok(()));
    view.key = Some(audiences::keys::UserKey(key));
    view
}

#[test]
fn deciding_twice_makes_the_same_picks_and_changes_no_counter() {
    use crate::state::budget::doubles::Counting;
    use crate::state::frequency::doubles::MapCounts;
    use std::sync::atomic::Ordering;

    let mut capped = campaign(1, 2_000_000, 5_000_000);
    capped.frequency.caps = vec![crate::model::FrequencyCap {
        impressions: 3,
        window: crate::model::CapWindow::Day,
    }];
    let cat = catalog(
        vec![capped, campaign(2, 2_000_000, 4_000_000)],
        vec![html(10, 1, 300, 250), html(11, 2, 728, 90)],
    );
    let budgets = Counting::default();
    let snap = Snapshot::build(&cat, &settings(), &budgets, NOW);
    let frequency = MapCounts::default();
    let user = known_user(7);
    let ex = exchange(true);
    let ctx = BidContext {
        exchange: &ex,
        now: NOW,
        user: &user,
        frequency: &frequency,
        seed: 11,
    };
    let json = r#"{"id":"r","imp":[{"id":"a","banner":{"w":300,"h":250}},{"id":"b","banner":{"w":728,"h":90}}],"at":1}"#;
    let mut parser = openrtb::Parser::new();
    let req: BidRequest<'_> = parser.parse(json.as_bytes()).unwrap();
    let mut scratch = Scratch::new();
    let first = decide(&req, &snap, &ctx, &mut scratch).unwrap().to_vec();
    let again = decide(&req, &snap, &ctx, &mut scratch).unwrap().to_vec();
    assert_eq!(first.len(), 2);
    assert_eq!(first, again, "the same inputs, the same picks");
    for id in [1, 2] {
        let account = budgets.of(CampaignId(id)).unwrap();
        assert_eq!(account.checks.load(Ordering::Relaxed), 2, "read twice");
        assert_eq!(
            account.reserved.load(Ordering::Relaxed),
            0,
            "never reserved"
        );
        assert_eq!(account.settled.load(Ordering::Relaxed), 0);
    }
    assert!(
        frequency.reads.load(Ordering::Relaxed) > 0,
        "the caps were read"
    );
    assert_eq!(
        frequency.writes.load(Ordering::Relaxed),
        0,
        "and nothing counted"
    );

    // The commit step is what reserves: once per pick.
    let Outcome::Bid(d) = commit(&req, &snap, &ctx, &signer(), &mut scratch) else {
        panic!("no bid")
    };
    assert_eq!(d.bids.len(), 2);
    for id in [1, 2] {
        let account = budgets.of(CampaignId(id)).unwrap();
        assert_eq!(account.reserved.load(Ordering::Relaxed), 1);
    }
}

#[test]
fn a_pick_whose_reservation_fails_at_commit_is_not_bid() {
    use crate::state::budget::Refused;
    use crate::state::budget::doubles::Counting;

    let cat = catalog(
        vec![campaign(1, 2_000_000, 5_000_000)],
        vec![html(10, 1, 300, 250)],
    );
    let budgets = Counting::default();
    let snap = Snapshot::build(&cat, &settings(), &budgets, NOW);
    let frequency = Frequency::new(1024);
    let user = UserView::unknown(Ok(()));
    let ex = exchange(true);
    let ctx = BidContext {
        exchange: &ex,
        now: NOW,
        user: &user,
        frequency: &frequency,
        seed: 3,
    };
    let mut parser = openrtb::Parser::new();
    let req: BidRequest<'_> = parser.parse(BANNER.as_bytes()).unwrap();
    let mut scratch = Scratch::new();
    assert_eq!(decide(&req, &snap, &ctx, &mut scratch).unwrap().len(), 1);
    // Another bid takes the last room between the decision and the commit.
    let account = budgets.of(CampaignId(1)).unwrap();
    *account.refuse.lock().unwrap() = Some(Refused::Exhausted);
    match commit(&req, &snap, &ctx, &signer(), &mut scratch) {
        Outcome::NoBid(reason) => assert_eq!(reason, NoBidReason::BudgetExhausted),
        Outcome::Bid(d) => panic!("bid without a reservation: {:?}", d.bids),
    }
}

#[test]
fn a_capped_user_is_refused_by_the_counts_the_context_reads() {
    use crate::state::frequency::doubles::MapCounts;

    let mut c = campaign(1, 2_000_000, 5_000_000);
    c.frequency.caps = vec![crate::model::FrequencyCap {
        impressions: 1,
        window: crate::model::CapWindow::Day,
    }];
    let snap = build(&catalog(vec![c], vec![html(10, 1, 300, 250)]));
    let counts = MapCounts::default();
    let user = known_user(9);
    run_with(&snap, BANNER, true, (&user, NOW), &counts, |o| {
        assert_eq!(bids(o).len(), 1)
    });
    counts.record(
        audiences::keys::UserKey(9),
        crate::state::frequency::Subject::Campaign(CampaignId(1)),
        UnixTime(NOW.0 - 60),
        &crate::state::calendar::Calendar::Utc,
    );
    run_with(&snap, BANNER, true, (&user, NOW), &counts, |o| {
        assert_eq!(no_bid(o), NoBidReason::FrequencyCapped)
    });
}

/// [`explain::explain`] of `json` for an unknown user at [`NOW`].
fn explained(snap: &Snapshot, json: &str) -> explain::Explanation {
    let mut parser = openrtb::Parser::new();
    let req: BidRequest<'_> = parser.parse(json.as_bytes()).unwrap();
    let ex = exchange(true);
    let user = UserView::unknown(Ok(()));
    let frequency = Frequency::new(1024);
    let ctx = BidContext {
        exchange: &ex,
        now: NOW,
        user: &user,
        frequency: &frequency,
        seed: 7,
    };
    explain::explain(&req, snap, &ctx)
}

/// The verdict on campaign `id` in the explanation of imp `imp`.
fn verdict_of(e: &explain::Explanation, imp: usize, id: i64) -> explain::Verdict {
    e.imps[imp]
        .campaigns
        .iter()
        .find(|c| c.campaign == CampaignId(id))
        .unwrap()
        .verdict
        .clone()
}

#[test]
fn an_explanation_names_the_winner_and_every_other_campaigns_step() {
    use explain::Verdict;
    let mut eu = campaign(3, 9_000_000, 20_000_000);
    eu.targeting.countries = vec!["DEU".into()];
    let mut blocked = campaign(4, 2_000_000, 30_000_000);
    blocked.cat = vec!["IAB8-1".into()];
    let mut small = campaign(5, 2_000_000, 40_000_000);
    small.flight_end = Some(UnixTime(NOW.0 + 10));
    let cat = catalog(
        vec![
            campaign(1, 2_000_000, 5_000_000),
            campaign(2, 2_000_000, 7_000_000),
            eu,
            blocked,
            small,
        ],
        vec![
            html(10, 1, 300, 250),
            html(11, 2, 300, 250),
            html(12, 3, 300, 250),
            html(13, 4, 300, 250),
            html(14, 5, 160, 600),
        ],
    );
    let snap = build(&cat);
    let req = BANNER.replace("\"at\":1", "\"at\":1,\"bcat\":[\"IAB8\"]");
    let e = explained(&snap, &req);
    let w = e.imps[0].winner.as_ref().unwrap();
    assert_eq!((w.campaign, w.crid.as_str()), (CampaignId(2), "11"));
    assert_eq!(verdict_of(&e, 0, 2), Verdict::Wins);
    assert_eq!(
        verdict_of(&e, 0, 1),
        Verdict::Outranked {
            price: Micros(2_000_000)
        }
    );
    assert_eq!(
        verdict_of(&e, 0, 3),
        Verdict::Targeting {
            dimension: "country",
            value: None
        }
    );
    assert_eq!(
        verdict_of(&e, 0, 4),
        Verdict::Blocked {
            list: "bcat",
            entry: Some("IAB8".into())
        }
    );
    assert_eq!(
        verdict_of(&e, 0, 5),
        Verdict::Targeting {
            dimension: "format",
            value: Some("banner 728x90, banner 300x250".into())
        }
    );
    assert_eq!(e.no_bid, None);
    // The same request decided for real picks the same winner.
    run(&snap, &req, true, |o| assert_eq!(bids(o)[0].1, "2"));
}

#[test]
fn an_explained_floor_is_shown_after_currency_conversion() {
    use explain::Verdict;
    let snap = build(&catalog(
        vec![campaign(1, 2_000_000, 5_000_000)],
        vec![html(10, 1, 300, 250)],
    ));
    let req = BANNER.replace(
        "\"bidfloor\":1.0",
        "\"bidfloor\":9.0,\"bidfloorcur\":\"EUR\"",
    );
    let e = explained(&snap, &req);
    assert_eq!(e.no_bid, Some("below_floor"));
    let Verdict::Floor {
        floor,
        floor_currency,
        converted,
        max_cpm,
        ..
    } = verdict_of(&e, 0, 1)
    else {
        panic!("{e:?}")
    };
    assert_eq!((floor, floor_currency.as_str()), (Micros(9_000_000), "EUR"));
    let fx = &snap.settings.fx;
    assert_eq!(
        converted,
        fx.convert_up(
            Micros(9_000_000),
            Currency::parse("EUR").unwrap(),
            Currency::USD
        )
    );
    assert!(converted.unwrap() > max_cpm);
}

#[test]
fn an_explanation_names_deals_flights_and_missing_creatives() {
    use explain::Verdict;
    let snap = deal_catalog();
    let e = explained(&snap, BANNER);
    assert_eq!(
        verdict_of(&e, 0, 1),
        Verdict::Deal {
            private_auction: false,
            deals_only: true,
            offered: vec![]
        }
    );
    let mut future = campaign(2, 2_000_000, 5_000_000);
    future.flight_start = Some(UnixTime(NOW.0 + 60));
    let snap = build(&catalog(
        vec![future, campaign(3, 2_000_000, 5_000_000)],
        vec![
            html(11, 2, 300, 250),
            creative(12, 3, vast(30)),
            html(13, 3, 300, 250),
        ],
    ));
    let video = r#"{"id":"r","imp":[{"id":"1","video":{"mimes":["video/mp4"],"maxduration":15}}]}"#;
    let e = explained(&snap, video);
    // A 30 s video where the slot takes at most 15 s: the duration rule.
    assert_eq!(e.no_bid, Some("video_duration"));
    assert_eq!(
        verdict_of(&e, 0, 2),
        Verdict::Targeting {
            dimension: "format",
            value: Some("video".into())
        }
    );
    assert_eq!(
        verdict_of(&e, 0, 3),
        Verdict::Unplayable {
            rule: "video_duration",
            slot: vec!["video".to_string()]
        }
    );
    let e = explained(&snap, BANNER);
    assert_eq!(
        verdict_of(&e, 0, 2),
        Verdict::Flight {
            start: Some(UnixTime(NOW.0 + 60)),
            end: None,
            now: NOW
        }
    );
}

#[test]
fn explaining_reserves_nothing_and_names_a_held_back_budget() {
    use crate::state::budget::Refused;
    use crate::state::budget::doubles::Counting;
    use std::sync::atomic::Ordering;
    let cat = catalog(
        vec![campaign(1, 2_000_000, 5_000_000)],
        vec![html(10, 1, 300, 250)],
    );
    let budgets = Counting::default();
    let snap = Snapshot::build(&cat, &settings(), &budgets, NOW);
    let first = explained(&snap, BANNER);
    assert_eq!(
        first,
        explained(&snap, BANNER),
        "the same inputs, the same answer"
    );
    assert_eq!(verdict_of(&first, 0, 1), explain::Verdict::Wins);
    let account = budgets.of(CampaignId(1)).unwrap();
    assert!(
        account.checks.load(Ordering::Relaxed) > 0,
        "the budget was read"
    );
    assert_eq!(
        account.reserved.load(Ordering::Relaxed),
        0,
        "never reserved"
    );
    assert_eq!(account.settled.load(Ordering::Relaxed), 0);
    *account.refuse.lock().unwrap() = Some(Refused::Paced);
    let held = explained(&snap, BANNER);
    assert_eq!(held.no_bid, Some("paced"));
    let explain::Verdict::Budget { state, .. } = verdict_of(&held, 0, 1) else {
        panic!("{held:?}")
    };
    assert_eq!(state, "paced");
    assert!(held.imps[0].winner.is_none());
}
