//! Bid only what the impression can play, through the real server on the
//! demo catalog: every request of `testdata/playable/` is refused for the
//! rule it breaks, with that reason counted in `/metrics`, or gets a bid
//! (see its `EXPECTED.tsv`), by a bidder behind https and by one at an
//! http URL; every answer passes the `conformance` crate (and, where
//! `../shared` is, `ortb_check.py`). Then what the
//! bids say: the VAST version served, the native version, trackers,
//! image and privacy link, https everywhere on a secure imp, and an
//! uploaded creative with an http asset kept off secure imps.

mod common;

use common::{PUBLIC_HTTPS, TestServer, fixture};
use http::Method;
use serde_json::{Value, json};

/// One line of `playable/EXPECTED.tsv`.
struct Expected {
    file: String,
    https: String,
    http: String,
}

fn expected() -> Vec<Expected> {
    let text = String::from_utf8(fixture("playable/EXPECTED.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            Expected {
                file: cols[0].to_owned(),
                https: cols[1].to_owned(),
                http: cols[2].to_owned(),
            }
        })
        .collect()
}

/// How many no-bids `/metrics` counts for `reason` at the default
/// exchange.
async fn no_bids(server: &TestServer, reason: &str) -> u64 {
    let metrics = server.request(Method::GET, "/metrics", &[], "").await;
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    let label = format!("bidder_no_bids_total{{exchange=\"default\",reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&label))
        .unwrap_or_else(|| panic!("{label} missing from\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// Sends `file` and checks the answer against the specs and `want`
/// ("bid" or a no-bid reason); returns the answer's first bid, if any.
async fn answer(server: &TestServer, file: &str, want: &str) -> Option<Value> {
    let body = fixture(&format!("playable/{file}"));
    let request: Value = serde_json::from_slice(&body).unwrap();
    let before = match want {
        "bid" => 0,
        reason => no_bids(server, reason).await,
    };
    let reply = server.bid(body).await;
    let verdict = conformance::check_answer(&request, reply.status, &reply.body);
    common::assert_conforms(file, verdict.violations.clone());
    if want == "bid" {
        assert!(
            verdict.is_bid(),
            "{file}: no bid, {}",
            String::from_utf8_lossy(&reply.body)
        );
        return Some(reply.json()["seatbid"][0]["bid"][0].clone());
    }
    assert!(
        !verdict.is_bid(),
        "{file}: {}",
        String::from_utf8_lossy(&reply.body)
    );
    let after = no_bids(server, want).await;
    assert_eq!(after, before + 1, "{file}: not counted as {want}");
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn each_rule_refuses_what_cannot_play_and_bids_what_can() {
    let https = TestServer::demo_https().await;
    let http = TestServer::demo().await;
    let cases = expected();
    assert!(cases.len() >= 12, "only {} cases", cases.len());
    for case in &cases {
        answer(&https, &case.file, &case.https).await;
        answer(&http, &case.file, &case.http).await;
    }
    // Each rule has both a refusal and a bid.
    for rule in ["video", "native", "secure"] {
        let of_rule = || cases.iter().filter(|c| c.file.starts_with(rule));
        assert!(of_rule().any(|c| c.https == "bid"), "{rule}: no bid case");
        assert!(
            of_rule().any(|c| c.https != "bid" || c.http != "bid"),
            "{rule}: no refusal"
        );
    }
    // The shared response checker agrees, where it is (see corpus.rs).
    if let Some(shared) = common::shared::shared_dir("the shared response checker (ortb_check.py)")
    {
        let bids = cases.iter().filter(|c| c.https == "bid").count();
        let output = tokio::process::Command::new("python3")
            .arg(shared.join("tools/ortb_check.py"))
            .arg(format!("{}/openrtb2/bid", https.base))
            .arg(common::testdata().join("playable"))
            .args([
                "--min-bid-rate",
                &format!("{}", bids as f64 / cases.len() as f64 - 0.01),
            ])
            .output()
            .await
            .expect("python3 runs");
        assert!(
            output.status.success(),
            "ortb_check failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    https.stop().await;
    http.stop().await;
}

/// The `version` attribute of a VAST `adm`.
fn vast_version(adm: &str) -> String {
    let doc = roxmltree::Document::parse(adm).expect("well-formed VAST");
    doc.root_element().attribute("version").unwrap().to_owned()
}

#[tokio::test]
async fn video_is_served_in_the_newest_version_the_player_takes() {
    let server = TestServer::demo_https().await;
    let bid = answer(&server, "video-protocol-bid.json", "bid")
        .await
        .unwrap();
    assert_eq!(vast_version(bid["adm"].as_str().unwrap()), "4.2");
    assert_eq!(bid["w"], 1280, "the 30 s document: {bid}");
    let bid = answer(&server, "video-rqddurs-vast3-bid.json", "bid")
        .await
        .unwrap();
    assert_eq!(vast_version(bid["adm"].as_str().unwrap()), "3.0");
    assert_eq!(bid["w"], 640, "the 15 s document: {bid}");
    // Corpus request 09 takes VAST 2.0, 3.0 and 4.0 (inline and wrapper):
    // not the 4.2 documents it used to get.
    let ctv = server
        .bid(fixture("requests/09-video-instream-ctv.json"))
        .await;
    let adm = ctv.json()["seatbid"][0]["bid"][0]["adm"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(vast_version(&adm), "3.0");
    server.stop().await;
}

#[tokio::test]
async fn native_answers_keep_the_requests_version_trackers_image_and_privacy() {
    let server = TestServer::demo_https().await;
    let bid = answer(&server, "native-image-fit-bid.json", "bid")
        .await
        .unwrap();
    let adm: Value = serde_json::from_str(bid["adm"].as_str().unwrap()).unwrap();
    assert_eq!(adm["ver"], "1.2");
    assert_eq!(adm["assets"][1]["img"]["w"], 1200);
    assert_eq!(adm["privacy"], "https://acme-outdoor.example/privacy");
    assert_eq!(adm["eventtrackers"][0]["event"], 1);
    assert!(adm.get("imptrackers").is_none(), "{adm}");

    for (file, version) in [
        ("native-11-imptrackers-bid.json", "playable"),
        ("08-native-legacy-wrapper.json", "requests"),
    ] {
        let reply = server.bid(fixture(&format!("{version}/{file}"))).await;
        let bid = reply.json()["seatbid"][0]["bid"][0].clone();
        let adm: Value = serde_json::from_str(bid["adm"].as_str().unwrap()).unwrap();
        assert_eq!(adm["ver"], "1.1", "{file}: {adm}");
        assert!(adm.get("eventtrackers").is_none(), "{file}: {adm}");
        let imp = adm["imptrackers"][0].as_str().unwrap();
        assert!(imp.contains("/events/imp?"), "{file}: {adm}");
        assert!(
            adm.get("privacy").is_none(),
            "1.1 has no privacy link: {adm}"
        );
    }
    server.stop().await;
}

/// Every URL in a bid: its notices and whatever its markup names.
fn urls(bid: &Value) -> Vec<String> {
    let mut found: Vec<String> = ["nurl", "burl", "lurl"]
        .iter()
        .filter_map(|k| bid[*k].as_str().map(str::to_owned))
        .collect();
    let adm = bid["adm"].as_str().unwrap_or_default().replace("\\/", "/");
    for scheme in ["http://", "https://"] {
        for (at, _) in adm.match_indices(scheme) {
            // A namespace is a name, never fetched.
            if adm[..at].ends_with("xmlns=\"") {
                continue;
            }
            let url = adm[at..]
                .split(['"', '\'', '<', ']', ' ', ')'])
                .next()
                .unwrap();
            found.push(url.to_owned());
        }
    }
    found
}

#[tokio::test]
async fn a_secure_imp_gets_only_https_urls_or_no_bid() {
    let server = TestServer::demo_https().await;
    // Secure requests of the corpus and of these cases, every kind of ad.
    for path in [
        "playable/secure-banner-bid.json",
        "playable/video-protocol-bid.json",
        "requests/01-openrtb26-site-banner-format.json",
        "requests/21-prebid-server-style.json",
    ] {
        let reply = server.bid(fixture(path)).await;
        assert_eq!(reply.status, 200, "{path}");
        let bid = reply.json()["seatbid"][0]["bid"][0].clone();
        let urls = urls(&bid);
        assert!(urls.len() >= 4, "{path}: {urls:?}");
        for url in urls {
            assert!(url.starts_with("https://"), "{path}: {url}");
        }
        assert!(bid["nurl"].as_str().unwrap().starts_with(PUBLIC_HTTPS));
    }

    // A creative with an http image bids on plain imps, never secure ones.
    let mut campaign = common::campaign_body(1, "Acme plain http");
    campaign["targeting"] = json!({"sizes": [{"w": 300, "h": 250}], "formats": ["banner"]});
    let cid = server.created("/api/v1/campaigns", campaign).await["id"].to_string();
    let markup =
        "<a href='${CLICK_URL}'><img src='http://cdn.acme-outdoor.example/b/300x250.png'></a>";
    let creative = json!({"name": "http asset", "body": {"kind": "html", "w": 300, "h": 250,
        "markup": markup, "landing_url": "https://acme-outdoor.example/"}});
    server
        .created(&format!("/api/v1/campaigns/{cid}/creatives"), creative)
        .await;
    let secure = fixture("playable/secure-banner-bid.json");
    let mut plain: Value = serde_json::from_slice(&secure).unwrap();
    plain["imp"][0].as_object_mut().unwrap().remove("secure");
    let plain_bid = server.bid(serde_json::to_vec(&plain).unwrap()).await.json();
    assert_eq!(
        plain_bid["seatbid"][0]["bid"][0]["cid"],
        cid.as_str(),
        "{plain_bid}"
    );
    let secure_bid = server.bid(secure).await.json();
    let bid = &secure_bid["seatbid"][0]["bid"][0];
    assert_ne!(
        bid["cid"],
        cid.as_str(),
        "the http creative on a secure imp: {bid}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_stored_vast_document_records_the_versions_it_serves_as() {
    let server = TestServer::demo_https().await;
    let mut campaign = common::campaign_body(1, "Acme wrapped video");
    campaign["targeting"] = json!({"formats": ["video"]});
    let cid = server.created("/api/v1/campaigns", campaign).await["id"].to_string();
    // A bare 4.2 wrapper uses nothing 3.0 or 4.x added: it serves every
    // player down to VAST 2.0, its version attribute rewritten.
    let wrapper = r#"<VAST version="4.2" xmlns="http://www.iab.com/VAST"><Ad id="w"><Wrapper>
<AdSystem>acme-adserver</AdSystem>
<Impression><![CDATA[https://track.acme.example/imp]]></Impression>
<VASTAdTagURI><![CDATA[https://ads.acme.example/vast.xml]]></VASTAdTagURI>
</Wrapper></Ad></VAST>"#;
    let body = json!({"name": "wrapped", "body": {"kind": "vast", "document": wrapper,
        "duration_secs": 15, "mimes": ["video/mp4"], "w": 1920, "h": 1080}});
    let made = server
        .created(&format!("/api/v1/campaigns/{cid}/creatives"), body)
        .await;
    assert_eq!(
        made["body"]["versions"],
        json!(["4.2", "4.1", "4.0", "3.0", "2.0"]),
        "{made}"
    );
    // A player of 3.0 wrappers only.
    let mut req: Value =
        serde_json::from_slice(&fixture("playable/video-protocol-refused.json")).unwrap();
    req["imp"][0]["video"]["protocols"] = json!([6]);
    let reply = server.bid(serde_json::to_vec(&req).unwrap()).await;
    common::assert_conforms(
        "3.0 wrapper",
        conformance::check_answer(&req, reply.status, &reply.body).violations,
    );
    let bid = reply.json()["seatbid"][0]["bid"][0].clone();
    assert_eq!(bid["cid"], cid.as_str());
    assert_eq!(vast_version(bid["adm"].as_str().unwrap()), "3.0");

    // A document that names no version cannot be offered to any player.
    let nameless = wrapper.replace(" version=\"4.2\"", "");
    let refused = server
        .api(
            Method::POST,
            &format!("/api/v1/campaigns/{cid}/creatives"),
            Some(server.admin_token()),
            Some(
                json!({"name": "nameless", "body": {"kind": "vast", "document": nameless,
                "duration_secs": 15, "mimes": ["video/mp4"], "w": 1920, "h": 1080}}),
            ),
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.json());
    assert_eq!(refused.json()["fields"][0]["field"], "body.document");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn assembled_video_is_written_in_a_version_the_player_lists() {
    let server = TestServer::demo_https().await;
    // The demo's tents fragments hold a 15 s video: an assembled video ad
    // of Acme's, outbidding the demo's fixed videos wherever it plays.
    let mut campaign = common::campaign_body(1, "Acme assembled video");
    campaign["targeting"] = json!({"formats": ["video"]});
    campaign["fragment_sets"] = json!([bidder::control::demo::ACME_SET]);
    let cid = server.created("/api/v1/campaigns", campaign).await["id"].to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut documents = Vec::new();
    for (protocols, version) in [
        (json!([2]), "2.0"),
        (json!([3]), "3.0"),
        (json!([7]), "4.0"),
        (json!([11]), "4.1"),
        (json!([13]), "4.2"),
        (json!([2, 3, 5, 6, 7, 8]), "4.0"),
        (json!([3, 6, 11, 12]), "4.1"),
    ] {
        let mut req: Value =
            serde_json::from_slice(&fixture("playable/video-protocol-bid.json")).unwrap();
        req["imp"][0]["video"]["protocols"] = protocols.clone();
        let reply = server.bid(serde_json::to_vec(&req).unwrap()).await;
        common::assert_conforms(
            &format!("protocols {protocols}"),
            conformance::check_answer(&req, reply.status, &reply.body).violations,
        );
        let bid = reply.json()["seatbid"][0]["bid"][0].clone();
        assert_eq!(bid["cid"], cid.as_str(), "protocols {protocols}: {bid}");
        let adm = bid["adm"].as_str().unwrap();
        assert_eq!(vast_version(adm), version, "protocols {protocols}: {adm}");
        let file = dir
            .path()
            .join(format!("assembled-{version}-{}.xml", documents.len()));
        std::fs::write(&file, adm).unwrap();
        documents.push(file);
    }
    // Wrappers only: an assembled ad is inline, so it does not bid.
    let mut req: Value =
        serde_json::from_slice(&fixture("playable/video-protocol-bid.json")).unwrap();
    req["imp"][0]["video"]["protocols"] = json!([5, 6, 8, 12, 14]);
    let reply = server.bid(serde_json::to_vec(&req).unwrap()).await;
    assert_eq!(
        reply.status,
        204,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    // Each keeps VAST's rules; 4.1 and 4.2 the IAB's schema too.
    common::assert_vast_schema(&documents).await;
    server.stop().await;
}
