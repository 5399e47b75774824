//! Notices and trackers on the real server: a bid's win, bill, impression
//! and click come back through the URLs it was handed out with, are
//! counted once however often they arrive (spend in the store, learning
//! counts, metrics), and anything not signed by the bidder is refused.

mod common;

use std::time::Duration;

use bidder::events::token::{Claims, Signer, auction_hash};
use bidder::model::{CampaignId, EventKind, UnixTime};
use bidder::store::Store;
use common::{TestServer, filled, tracker};
use http::Method;
use openrtb::Micros;
use serde_json::{Value, json};

const KEY: [u8; 32] = [5; 32];

/// A demo bidder with a known token key that publishes learnt counts at
/// once.
async fn server() -> TestServer {
    TestServer::start(true, |c| {
        c.events.keys = vec![KEY];
        c.events.learning_republish = Duration::ZERO;
    })
    .await
}

/// The demo's intent user asking for a 300x250: the assembled Acme banner.
async fn bid(server: &TestServer, request_id: &str) -> Value {
    let body = serde_json::to_vec(&json!({
        "id": request_id,
        "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}],
        "site": {"id": "s1", "domain": "news.example", "page": "https://news.example/a"},
        "device": {"ua": "Mozilla/5.0", "ip": "203.0.113.7", "language": "en"},
        "user": {"buyeruid": "demo-intent"},
        "at": 1,
        "tmax": 500
    }))
    .unwrap();
    let reply = server.bid(body).await;
    assert_eq!(reply.status, 200);
    let bid = reply.json()["seatbid"][0]["bid"][0].clone();
    assert_eq!(bid["cid"], "1", "{bid}");
    bid
}

async fn get(server: &TestServer, path: &str) -> u16 {
    server
        .request(Method::GET, path, &[], Vec::new())
        .await
        .status
}

/// The value of the Prometheus sample `line_start` (`name{labels}`).
async fn metric(server: &TestServer, sample: &str) -> f64 {
    let text = server
        .request(Method::GET, "/metrics", &[], Vec::new())
        .await
        .body;
    let text = String::from_utf8(text.to_vec()).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{sample} not in\n{text}"))
}

/// Waits for the event worker to have counted `n` events of `kind`.
async fn counted(server: &TestServer, kind: &str, n: f64) {
    reaches(
        server,
        &format!("bidder_events_counted_total{{kind=\"{kind}\"}}"),
        n,
    )
    .await;
}

/// Waits until `sample` is at least `n`: the worker counts in batches, so
/// an event answered a moment ago may be in the next one.
async fn reaches(server: &TestServer, sample: &str, n: f64) {
    for _ in 0..200 {
        if metric(server, sample).await >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{sample} never reached {n}");
}

#[tokio::test]
async fn a_bids_events_are_counted_once_however_often_they_come() {
    let server = server().await;
    let b = bid(&server, "loop-1").await;
    let (nurl, burl) = (b["nurl"].as_str().unwrap(), b["burl"].as_str().unwrap());
    let adm = b["adm"].as_str().unwrap();
    let combo = nurl
        .split("&combo=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();

    // The exchange wins us at 1.50 CPM, fires the win twice and bills
    // three times; the browser shows the ad and the user clicks twice.
    let win = filled(nurl, "loop-1", "1.50");
    let bill = filled(burl, "loop-1", "1.50");
    for path in [&win, &win, &bill, &bill, &bill] {
        assert_eq!(get(&server, path).await, 200, "{path}");
    }
    let imp = tracker(adm, "/events/imp?");
    assert_eq!(get(&server, &imp).await, 200);
    assert_eq!(get(&server, &imp).await, 200);
    let click = tracker(adm, "/events/click?");
    assert_eq!(get(&server, &click).await, 302);
    assert_eq!(get(&server, &click).await, 302);

    counted(&server, "click", 1.0).await;
    counted(&server, "imp", 1.0).await;
    counted(&server, "win", 1.0).await;
    assert_eq!(
        metric(&server, "bidder_events_counted_total{kind=\"bill\"}").await,
        1.0
    );
    assert_eq!(
        metric(&server, "bidder_events_replayed_total{kind=\"bill\"}").await,
        2.0
    );
    for kind in ["win", "imp", "click"] {
        let replays = format!("bidder_events_replayed_total{{kind=\"{kind}\"}}");
        reaches(&server, &replays, 1.0).await;
        assert_eq!(metric(&server, &replays).await, 1.0, "{kind}");
    }

    // Spend: one impression at 1.50 CPM, booked once, on the bill.
    let store = Store::open(&server.data_dir).unwrap();
    let (today, total) = store.spend_since(CampaignId(1), UnixTime(0)).unwrap();
    assert_eq!((today, total), (Micros(1_500), Micros(1_500)));
    assert_eq!(
        store.event_count(CampaignId(1), EventKind::Bill).unwrap(),
        1
    );

    // Learning: the combination served at intent got its impression and
    // its click.
    let admin = server.tokens.as_ref().unwrap().admin.clone();
    let row = server
        .combination_row(1, &admin, &[("combination", combo), ("stage", "intent")])
        .await;
    assert_eq!(
        (row["impressions"].as_u64(), row["clicks"].as_u64()),
        (Some(1), Some(1))
    );
    server.stop().await;
}

/// The first bid the demo gives for the corpus request `file`.
async fn first_bid(server: &TestServer, file: &str) -> Value {
    let request = std::fs::read(common::testdata().join("requests").join(file)).unwrap();
    let reply = server.bid(request).await;
    assert_eq!(reply.status, 200);
    reply.json()["seatbid"][0]["bid"][0].clone()
}

/// Follows the click tracker `click`: a 302 to a landing page starting
/// with `landing`, handing over the click id.
async fn lands(server: &TestServer, click: &str, landing: &str) {
    let landed = server.request(Method::GET, click, &[], Vec::new()).await;
    assert_eq!(landed.status, 302);
    let location = landed.header("location").unwrap();
    assert!(
        location.starts_with(&format!("{landing}bclid=")),
        "{location}"
    );
}

/// Waits for one click to be counted, then checks it is in the store for
/// campaign `cid`.
async fn one_click_stored(server: &TestServer, cid: &str) {
    counted(server, "click", 1.0).await;
    let store = Store::open(&server.data_dir).unwrap();
    let campaign = CampaignId(cid.parse().unwrap());
    assert_eq!(store.event_count(campaign, EventKind::Click).unwrap(), 1);
}

#[tokio::test]
async fn a_fixed_native_ads_click_goes_through_the_tracker_and_counts_for_its_campaign_only() {
    let server = server().await;
    // Northwind's app install: a native ad uploaded complete.
    let bid = first_bid(&server, "23-northwind-app-native.json").await;
    let adm: Value = serde_json::from_str(bid["adm"].as_str().unwrap()).unwrap();
    let link = adm["link"]["url"].as_str().unwrap();
    let (cid, crid) = (bid["cid"].as_str().unwrap(), bid["crid"].as_str().unwrap());
    let click = &link[link.find("/events/click?").expect("the click tracker")..];
    assert!(
        click.starts_with(&format!("/events/click?cid={cid}&crid={crid}&stage=")),
        "{link}"
    );
    assert!(click.contains("&t="), "{link}");
    assert_ne!(cid, "1");

    // The token names Northwind's campaign: moved to Acme's, refused.
    let moved = click.replace(&format!("cid={cid}&"), "cid=1&");
    assert_eq!(get(&server, &moved).await, 403);
    assert_eq!(
        metric(&server, "bidder_events_refused_total{reason=\"forged\"}").await,
        1.0
    );
    lands(&server, click, "https://northwind-coffee.example/app?").await;
    one_click_stored(&server, cid).await;
    server.stop().await;
}

#[tokio::test]
async fn a_fixed_html_banners_click_macro_becomes_the_tracker_and_counts() {
    let server = server().await;
    // A GDPR request without consent: one of Acme's fixed banners, whose
    // markup links to `${CLICK_URL}`.
    let bid = first_bid(&server, "03-openrtb26-gdpr-top-level.json").await;
    let adm = bid["adm"].as_str().unwrap();
    let (cid, crid) = (bid["cid"].as_str().unwrap(), bid["crid"].as_str().unwrap());
    assert!(!adm.contains("${CLICK_URL}"), "{adm}");
    let href = adm
        .strip_prefix("<a href=\"")
        .and_then(|rest| rest.split_once('"'))
        .map(|(href, _)| href)
        .expect(adm);
    let click = &href[href.find("/events/click?").expect("the click tracker")..];
    assert_eq!(
        click.split("&t=").next().unwrap(),
        format!("/events/click?cid={cid}&crid={crid}&stage=-")
    );
    // The markup around the macro is the advertiser's, untouched.
    assert!(
        adm.contains(&format!(
            r#"" target="_blank"><img src="{}/assets/demo/acme-"#,
            server.base
        )),
        "{adm}"
    );
    lands(&server, click, "https://acme-outdoor.example/?src=rtb&").await;
    one_click_stored(&server, cid).await;
    server.stop().await;
}

#[tokio::test]
async fn a_fixed_vast_ads_click_tracking_counts_without_redirecting() {
    let server = server().await;
    let bid = first_bid(&server, "09-video-instream-ctv.json").await;
    let adm = bid["adm"].as_str().unwrap();
    let cid = bid["cid"].as_str().unwrap();
    // First in `<VideoClicks>`, before the document's own click-through.
    let at = adm
        .find("<VideoClicks><ClickTracking><![CDATA[")
        .expect(adm);
    let tracker = &adm[at..];
    let url =
        &tracker[tracker.find("/events/clicktrack?").expect(adm)..tracker.find("]]>").unwrap()];
    let after = &tracker[tracker.find("</ClickTracking>").unwrap() + "</ClickTracking>".len()..];
    assert!(after.trim_start().starts_with("<ClickThrough"), "{adm}");
    // The token names this campaign: moved to another, refused.
    let other = if cid == "1" { "2" } else { "1" };
    let moved = url.replace(&format!("cid={cid}&"), &format!("cid={other}&"));
    assert_eq!(get(&server, &moved).await, 403);
    let pinged = server.request(Method::GET, url, &[], Vec::new()).await;
    assert_eq!(pinged.status, 200);
    assert_eq!(pinged.header("content-type"), Some("image/gif"));
    assert_eq!(pinged.header("location"), None);
    one_click_stored(&server, cid).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vast_wrapper_without_a_linear_ad_gets_one_whose_click_tracking_counts() {
    let server = server().await;
    let mut campaign = common::campaign_body(1, "Acme wrapped video");
    campaign["targeting"] = json!({"formats": ["video"]});
    let cid = server.created("/api/v1/campaigns", campaign).await["id"].to_string();
    // The usual bare wrapper: the ad, and its clicks, are the next server's.
    let wrapper = r#"<?xml version="1.0" encoding="UTF-8"?>
<VAST version="4.2" xmlns="http://www.iab.com/VAST"><Ad id="w"><Wrapper>
<AdSystem>acme-adserver</AdSystem>
<Impression><![CDATA[https://track.acme.example/imp]]></Impression>
<VASTAdTagURI><![CDATA[https://ads.acme.example/vast.xml]]></VASTAdTagURI>
</Wrapper></Ad></VAST>"#;
    let creative = json!({"name": "wrapped", "body": {"kind": "vast", "document": wrapper,
        "duration_secs": 15, "mimes": ["video/mp4"], "w": 1920, "h": 1080}});
    server
        .created(&format!("/api/v1/campaigns/{cid}/creatives"), creative)
        .await;

    let bid = first_bid(&server, "09-video-instream-ctv.json").await;
    assert_eq!(bid["cid"], cid.as_str(), "{bid}");
    let adm = bid["adm"].as_str().unwrap();
    // A linear ad holding only the tracker, where the schema puts
    // `<Creatives>`: just before `<VASTAdTagURI>`.
    let added = "<Creatives><Creative><Linear><VideoClicks><ClickTracking><![CDATA[";
    let at = adm.find(added).expect(adm);
    let end = adm[at..].find("</Creatives>").expect(adm) + at + "</Creatives>".len();
    assert!(adm[end..].starts_with("<VASTAdTagURI>"), "{adm}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wrapper.xml");
    std::fs::write(&file, adm).unwrap();
    common::assert_vast_schema(&[file]).await;

    let tracker = &adm[at + added.len()..];
    let url =
        &tracker[tracker.find("/events/clicktrack?").expect(adm)..tracker.find("]]>").unwrap()];
    let pinged = server.request(Method::GET, url, &[], Vec::new()).await;
    assert_eq!(pinged.status, 200);
    assert_eq!(pinged.header("location"), None);
    one_click_stored(&server, &cid).await;
    server.stop().await;
}

#[tokio::test]
async fn a_loss_books_nothing_and_an_unsubstituted_price_books_the_bid() {
    let server = server().await;
    let b = bid(&server, "loss-1").await;
    let lurl = filled(b["lurl"].as_str().unwrap(), "loss-1", "0.90");
    assert_eq!(get(&server, &lurl).await, 200);
    counted(&server, "loss", 1.0).await;
    let b = bid(&server, "raw-1").await;
    // The exchange did not fill the price macro: the bid price is booked.
    let burl = b["burl"].as_str().unwrap();
    let raw = &burl[burl.find("/events/").unwrap()..];
    assert_eq!(get(&server, raw).await, 200);
    let price = (b["price"].as_f64().unwrap() * 1e6).round() as i64;
    let store = Store::open(&server.data_dir).unwrap();
    let (today, _) = store.spend_since(CampaignId(1), UnixTime(0)).unwrap();
    assert_eq!(today, Micros(price / 1000));
    server.stop().await;
}

#[tokio::test]
async fn forged_altered_expired_and_misplaced_tokens_are_refused() {
    let server = server().await;
    let b = bid(&server, "forge-1").await;
    let bill = filled(b["burl"].as_str().unwrap(), "forge-1", "1.00");
    let token = bill.split("&t=").nth(1).unwrap().to_string();

    // One character of the token changed.
    let mut altered = token.clone().into_bytes();
    altered[20] = if altered[20] == b'A' { b'B' } else { b'A' };
    let altered = bill.replace(&token, std::str::from_utf8(&altered).unwrap());
    assert_eq!(get(&server, &altered).await, 403);

    // Signed with another key.
    let claims = Claims {
        issued: UnixTime::now().0 as u32,
        exchange: 0,
        campaign: CampaignId(1),
        price: Micros(1_000_000),
        stage: None,
        combo: None,
        user: None,
        bid: (1, 2),
        auction: auction_hash("forge-1", "1"),
        currency: openrtb::Currency::USD,
        country: [0; 3],
        device_type: 0,
        reserved: None,
    };
    let foreign = Signer::new(&[[6; 32]], 3600).sign(&claims);
    let forged = format!("/events/bill?auction=forge-1&imp=1&price=1.00&t={foreign}");
    assert_eq!(get(&server, &forged).await, 403);

    // Our key, but older than the window.
    let old = Signer::new(&[KEY], 86_400).sign(&Claims {
        issued: UnixTime::now().0 as u32 - 2 * 86_400,
        ..claims
    });
    let expired = format!("/events/bill?auction=forge-1&imp=1&price=1.00&t={old}");
    assert_eq!(get(&server, &expired).await, 403);

    // A valid token replayed for another auction.
    let moved = bill.replace("auction=forge-1", "auction=other-auction");
    assert_eq!(get(&server, &moved).await, 403);

    // No token at all, and a price that is not a price.
    assert_eq!(get(&server, "/events/win?price=1.00").await, 403);
    let bad_price = bill.replace("price=1.00", "price=lots");
    assert_eq!(get(&server, &bad_price).await, 400);

    assert_eq!(
        metric(&server, "bidder_events_refused_total{reason=\"forged\"}").await,
        3.0
    );
    assert_eq!(
        metric(&server, "bidder_events_refused_total{reason=\"expired\"}").await,
        1.0
    );
    assert_eq!(
        metric(&server, "bidder_events_refused_total{reason=\"malformed\"}").await,
        1.0
    );
    assert_eq!(
        metric(&server, "bidder_events_refused_total{reason=\"bad_price\"}").await,
        1.0
    );
    let store = Store::open(&server.data_dir).unwrap();
    assert_eq!(
        store.spend_since(CampaignId(1), UnixTime(0)).unwrap(),
        (Micros(0), Micros(0)),
        "nothing refused was booked"
    );
    // The genuine notice still counts.
    assert_eq!(get(&server, &bill).await, 200);
    assert_eq!(
        store.spend_since(CampaignId(1), UnixTime(0)).unwrap().0,
        Micros(1_000)
    );
    server.stop().await;
}
