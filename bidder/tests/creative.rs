//! Assembled creatives end to end on the real server: the demo's bids carry
//! creatives composed for the user's stage and language; fragments go
//! through upload, review and versions; advertisers stay apart; trackers,
//! previews, the gallery, audits and learning work over HTTP.
//!
//! The demo's Acme banner campaign (id 1) assembles from the set "tents":
//! an awareness message, a consideration message, an intent/customer/loyal
//! message and a German one; two English contents (one with the offer
//! "10% off with code RIDGE10" at intent and customer) and a German one;
//! two English tones and a German one.

mod common;

use common::TestServer;
use http::Method;
use serde_json::{Value, json};

/// A second-price 300x250 banner request for `buyeruid` in `lang`.
fn request(buyeruid: &str, lang: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": "cr-1",
        "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}],
        "site": {"id": "s1", "domain": "news.example", "page": "https://news.example/a"},
        "device": {"ua": "Mozilla/5.0", "ip": "203.0.113.7", "language": lang},
        "user": {"buyeruid": buyeruid},
        "at": 2,
        "tmax": 500
    }))
    .unwrap()
}

async fn bid(server: &TestServer, buyeruid: &str, lang: &str) -> Value {
    let reply = server.bid(request(buyeruid, lang)).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let json = reply.json();
    let bid = json["seatbid"][0]["bid"][0].clone();
    assert_eq!(bid["cid"], "1", "the Acme banner campaign bids: {json}");
    bid
}

/// The combination a bid serves, from its win notice.
fn nurl_combo(b: &Value) -> String {
    let nurl = b["nurl"].as_str().unwrap();
    let tail = nurl.split("&combo=").nth(1).unwrap();
    tail.split('&').next().unwrap().to_owned()
}

/// Two different combinations the demo's Acme banner serves to an unknown
/// user.
async fn two_combinations(server: &TestServer) -> (String, String) {
    let first = nurl_combo(&bid(server, "someone-new", "en").await);
    for _ in 0..50 {
        let c = nurl_combo(&bid(server, "someone-new", "en").await);
        if c != first {
            return (first, c);
        }
    }
    panic!("the demo has several awareness combinations");
}

/// Of 100 bids to an unknown user, how many serve `combo`.
async fn served_of_100(server: &TestServer, combo: &str) -> usize {
    let mut n = 0;
    for _ in 0..100 {
        if nurl_combo(&bid(server, "someone-new", "en").await) == combo {
            n += 1;
        }
    }
    n
}

fn tokens(server: &TestServer) -> (String, String, String) {
    let t = server.tokens.as_ref().unwrap();
    (t.admin.clone(), t.buyer.clone(), t.advertiser.clone())
}

/// Every `stage=` value in a bid's notice URLs and markup, unescaped.
fn stage_labels(bid: &Value) -> Vec<String> {
    let adm = bid["adm"].as_str().unwrap().replace("&amp;", "&");
    let urls = ["nurl", "burl", "lurl"].map(|k| bid[k].as_str().unwrap_or_default().to_owned());
    let mut labels = Vec::new();
    for text in urls.iter().chain([&adm]) {
        for part in text.split("stage=").skip(1) {
            labels.push(part.split(['&', '\'', '"']).next().unwrap().to_owned());
        }
    }
    labels
}

#[tokio::test]
async fn a_bid_names_one_stage_in_its_notices_and_its_trackers() {
    let server = TestServer::demo().await;
    for (buyeruid, want) in [("someone-new", "unaware"), ("demo-intent", "intent")] {
        let labels = stage_labels(&bid(&server, buyeruid, "en").await);
        // Three notices, the click and the impression tracker.
        assert_eq!(labels.len(), 5, "{labels:?}");
        assert!(labels.iter().all(|l| l == want), "{buyeruid}: {labels:?}");
    }
    // A fixed banner (no assembled one has the size) for an unknown user
    // says `-` everywhere.
    let mut req: Value = serde_json::from_slice(&request("someone-new", "en")).unwrap();
    req["imp"][0]["banner"] = json!({"w": 468, "h": 60});
    let reply = server.bid(serde_json::to_vec(&req).unwrap()).await;
    let fixed = reply.json()["seatbid"][0]["bid"][0].clone();
    assert!(
        fixed["crid"].as_str().unwrap().parse::<u64>().is_ok(),
        "{fixed}"
    );
    let labels = stage_labels(&fixed);
    assert!(labels.len() >= 4, "{labels:?}");
    assert!(labels.iter().all(|l| l == "-"), "{labels:?}");
    server.stop().await;
}

#[tokio::test]
async fn demo_bids_carry_a_creative_assembled_for_the_users_stage() {
    let server = TestServer::demo().await;
    let unknown = bid(&server, "someone-new", "en").await;
    let crid = unknown["crid"].as_str().unwrap();
    assert!(crid.starts_with("a300x250-"), "{crid}");
    let adm = unknown["adm"].as_str().unwrap();
    assert!(adm.contains("Meet the tent that packs in minutes"), "{adm}");
    assert!(!adm.contains("RIDGE10"), "no offer before intent");
    assert!(adm.contains("/events/click?cid=1&amp;crid=a300x250-"));
    assert!(adm.contains("&amp;stage=unaware&amp;pp="));
    let nurl = unknown["nurl"].as_str().unwrap();
    assert!(nurl.contains("&combo=m") && nurl.contains("&pp="), "{nurl}");
    // The three notices share the bid's part (stage, combination,
    // propensity, token); the loss notice puts its reason before the token.
    let (base, _) = nurl.split_once("/events/").unwrap();
    let (_, bids_part) = nurl.split_once("&stage=").unwrap();
    let (before_token, token) = bids_part.split_once("&t=").unwrap();
    // One stage per bid: the user is unknown, the creative was drawn for
    // unaware, and the notices say so as its trackers do.
    assert!(before_token.starts_with("unaware&combo=m"), "{nurl}");
    let macros = "auction=${AUCTION_ID}&imp=${AUCTION_IMP_ID}&price=${AUCTION_PRICE}&cur=${AUCTION_CURRENCY}";
    let notice = |kind: &str, rest: &str| format!("{base}/events/{kind}?{macros}&stage={rest}");
    assert_eq!(nurl, notice("win", bids_part));
    assert_eq!(unknown["burl"], notice("bill", bids_part));
    let loss = format!("{before_token}&loss=${{AUCTION_LOSS}}&t={token}");
    assert_eq!(unknown["lurl"], notice("loss", &loss));
    assert_eq!(
        (unknown["w"].as_u64(), unknown["h"].as_u64()),
        (Some(300), Some(250))
    );

    let intent = bid(&server, "demo-intent", "en-US").await;
    let adm = intent["adm"].as_str().unwrap();
    assert!(adm.contains("Your Ridge 2 is ready to ship"), "{adm}");
    let offer = adm.contains("10% off with code RIDGE10");
    let crid = intent["crid"].as_str().unwrap();
    assert_eq!(
        offer,
        crid.ends_with("-o"),
        "the offer is part of the crid: {crid}"
    );

    let german = bid(&server, "someone-new", "de").await;
    assert!(
        german["adm"]
            .as_str()
            .unwrap()
            .contains("Das Zelt, das in Minuten steht")
    );
    let french = bid(&server, "someone-new", "fr").await;
    assert!(
        french["adm"].as_str().unwrap().contains("Meet the tent"),
        "falls back to English"
    );
    server.stop().await;
}

/// The path and query of the tracker URL in `adm` that starts with
/// `prefix` (the markup escapes `&` as `&amp;`).
fn tracker(adm: &str, prefix: &str) -> String {
    let at = adm
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix} in {adm}"));
    let url = &adm[at..];
    let url = &url[..url.find(['"', '\'']).unwrap()];
    let path = url.replace("&amp;", "&");
    path[path.find("/events/").unwrap()..].to_string()
}

#[tokio::test]
async fn the_click_tracker_redirects_to_the_landing_page_only() {
    let server = TestServer::demo().await;
    let b = bid(&server, "someone-new", "en").await;
    let adm = b["adm"].as_str().unwrap();
    let click_path = tracker(adm, "http://127.0.0.1");
    assert!(click_path.starts_with("/events/click?"), "{click_path}");
    let click = server
        .request(Method::GET, &click_path, &[], Vec::new())
        .await;
    assert_eq!(click.status, 302);
    let location = click.header("location").unwrap();
    assert!(
        location.starts_with("https://acme-outdoor.example/tents"),
        "{location}"
    );
    // The landing page comes from the snapshot, never from the URL; a
    // call without the token it was handed out with is refused.
    let token = click_path.split("&t=").nth(1).unwrap();
    let elsewhere = server
        .request(
            Method::GET,
            &format!("/events/click?cid=1&crid=nope&url=https://evil.example&t={token}"),
            &[],
            Vec::new(),
        )
        .await;
    assert_eq!(elsewhere.status, 404);
    let unsigned = server
        .request(
            Method::GET,
            "/events/click?cid=1&crid=a300x250-m1v1-c5v1-t8v1",
            &[],
            Vec::new(),
        )
        .await;
    assert_eq!(unsigned.status, 403);
    let pixel_path = tracker(adm, "/events/imp?");
    let pixel = server
        .request(Method::GET, &pixel_path, &[], Vec::new())
        .await;
    assert_eq!(pixel.status, 200);
    assert_eq!(pixel.header("content-type"), Some("image/gif"));
    server.stop().await;
}

fn message(advertiser: i64, headline: &str) -> Value {
    json!({"advertiser_id": advertiser, "set": "tents", "kind": "message",
        "body": {"language": "en", "headline": headline}})
}

#[tokio::test]
async fn fragments_serve_only_once_approved_and_edits_wait_for_review() {
    let server = TestServer::demo().await;
    let (admin, buyer, advertiser) = tokens(&server);
    let created = server
        .api(
            Method::POST,
            "/api/v1/fragments",
            Some(&advertiser),
            Some(message(1, "Zzz brand new headline")),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.json());
    let f = created.json();
    // Shown as uploaded: what a GET returns can be edited and PUT back.
    assert_eq!(f["kind"], "message");
    assert_eq!(f["body"]["headline"], "Zzz brand new headline");
    assert_eq!(f["status"], "pending");
    assert_eq!(f["serving_version"], Value::Null);
    let path = format!("/api/v1/fragments/{}", f["id"]);

    // The advertiser cannot approve its own fragment.
    let own = server
        .api(
            Method::POST,
            &format!("{path}/approve"),
            Some(&advertiser),
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(own.status, 403);
    let reject = server
        .api(
            Method::POST,
            &format!("{path}/reject"),
            Some(&buyer),
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(reject.status, 422, "a rejection needs a reason");
    let ok = server
        .api(
            Method::POST,
            &format!("{path}/approve"),
            Some(&buyer),
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.json());
    assert_eq!(ok.json()["serving_version"], 1);

    // An edit is a new pending version; version 1 keeps serving.
    let edit = server
        .api(
            Method::PUT,
            &path,
            Some(&advertiser),
            Some({
                let mut m = message(1, "Zzz edited headline");
                m["version"] = json!(1);
                m
            }),
        )
        .await;
    assert_eq!(edit.status, 200, "{}", edit.json());
    assert_eq!(edit.json()["version"], 2);
    assert_eq!(edit.json()["status"], "pending");
    assert_eq!(edit.json()["serving_version"], 1);
    let preview = |combo_headline: &'static str| {
        let server = &server;
        let admin = admin.clone();
        async move {
            let page = server
                .request(
                    Method::GET,
                    "/api/v1/campaigns/1/gallery",
                    &[("authorization", &format!("Bearer {admin}"))],
                    Vec::new(),
                )
                .await;
            assert_eq!(page.status, 200);
            String::from_utf8_lossy(&page.body).contains(combo_headline)
        }
    };
    assert!(preview("Zzz brand new headline").await);
    assert!(!preview("Zzz edited headline").await);
    let reject = server
        .api(
            Method::POST,
            &format!("{path}/reject"),
            Some(&admin),
            Some(json!({"version": 2, "reason": "claims need a source"})),
        )
        .await;
    assert_eq!(reject.status, 200);
    assert_eq!(reject.json()["status"], "rejected");
    assert_eq!(reject.json()["reason"], "claims need a source");
    assert!(
        preview("Zzz brand new headline").await,
        "version 1 still serves"
    );

    let history = server
        .api(
            Method::GET,
            &format!("{path}/history"),
            Some(&advertiser),
            None,
        )
        .await;
    let actions: Vec<String> = history.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}:{}:{}",
                e["version"],
                e["action"].as_str().unwrap(),
                e["role"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            "1:created:advertiser",
            "1:approved:buyer",
            "2:edited:advertiser",
            "2:rejected:admin"
        ]
    );

    let archive = server
        .api(
            Method::DELETE,
            &path,
            Some(&advertiser),
            Some(json!({"version": 2})),
        )
        .await;
    assert_eq!(archive.status, 200);
    assert_eq!(archive.json()["status"], "archived");
    assert!(
        !preview("Zzz brand new headline").await,
        "archived: nothing serves"
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_fragments_get_422_with_field_paths_and_nothing_is_stored() {
    let server = TestServer::demo().await;
    let (_, _, advertiser) = tokens(&server);
    let bad = server
        .api(Method::POST, "/api/v1/fragments", Some(&advertiser), Some(json!({
            "advertiser_id": 1, "set": "tents", "kind": "content",
            "body": {"language": "en", "body": "x", "landing_url": "javascript:alert(1)",
                "images": [{"url": "https://cdn.example/a.png", "w": 0, "h": 10, "mime": "image/png"}]}
        })))
        .await;
    assert_eq!(bad.status, 422);
    let paths: Vec<String> = bad.json()["fields"]
        .as_array()
        .map(|f| {
            f.iter()
                .map(|e| e["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        paths.contains(&"body.landing_url".to_owned()),
        "{}",
        bad.json()
    );
    assert!(
        paths.contains(&"body.images[0].w".to_owned()),
        "{}",
        bad.json()
    );
    let typo = server
        .api(
            Method::POST,
            "/api/v1/fragments",
            Some(&advertiser),
            Some(json!({
            "advertiser_id": 1, "set": "tents", "kind": "message",
            "body": {"language": "en", "headline": "Hi", "colour": "red"}})),
        )
        .await;
    assert_eq!(typo.status, 422, "{}", typo.json());
    let list = server
        .api(
            Method::GET,
            "/api/v1/fragments?status=pending",
            Some(&advertiser),
            None,
        )
        .await;
    assert_eq!(list.json()["items"].as_array().unwrap().len(), 0);
    server.stop().await;
}

#[tokio::test]
async fn advertisers_cannot_see_change_or_serve_each_others_fragments() {
    let server = TestServer::demo().await;
    let (admin, _, advertiser) = tokens(&server);
    // Advertiser 2 (Northwind) owns a fragment in a set named like Acme's.
    let theirs = server
        .api(
            Method::POST,
            "/api/v1/fragments",
            Some(&admin),
            Some(message(2, "Northwind says hi")),
        )
        .await;
    assert_eq!(theirs.status, 201);
    let path = format!("/api/v1/fragments/{}", theirs.json()["id"]);
    server
        .api(
            Method::POST,
            &format!("{path}/approve"),
            Some(&admin),
            Some(json!({"version": 1})),
        )
        .await;
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(message(2, "mine now"))),
        (Method::DELETE, Some(json!({"version": 1}))),
    ] {
        let r = server
            .api(method.clone(), &path, Some(&advertiser), body)
            .await;
        assert_eq!(r.status, 403, "{method}");
    }
    let create = server
        .api(
            Method::POST,
            "/api/v1/fragments",
            Some(&advertiser),
            Some(message(2, "sneaky")),
        )
        .await;
    assert_eq!(create.status, 403);
    let missing = server
        .api(
            Method::GET,
            "/api/v1/fragments/9999",
            Some(&advertiser),
            None,
        )
        .await;
    assert_eq!(missing.status, 404);
    let list = server
        .api(Method::GET, "/api/v1/fragments", Some(&advertiser), None)
        .await;
    assert!(
        list.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["advertiser_id"] == 1)
    );
    // Acme's campaign never assembles Northwind's message.
    for _ in 0..20 {
        let b = bid(&server, "someone-new", "en").await;
        assert!(!b["adm"].as_str().unwrap().contains("Northwind says hi"));
    }
    server.stop().await;
}

#[tokio::test]
async fn a_crid_an_exchange_rejected_is_not_bid_there() {
    let server = TestServer::demo().await;
    let (_, buyer, _) = tokens(&server);
    let first = bid(&server, "someone-new", "en").await;
    let crid = first["crid"].as_str().unwrap().to_owned();
    let put = server
        .api(
            Method::PUT,
            &format!("/api/v1/audits/default/{crid}"),
            Some(&buyer),
            Some(json!({"status": "rejected", "reason": "misleading claim"})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.json());
    for _ in 0..40 {
        let b = bid(&server, "someone-new", "en").await;
        assert_ne!(b["crid"].as_str().unwrap(), crid);
    }
    let audits = server
        .api(
            Method::GET,
            "/api/v1/audits?exchange=default",
            Some(&buyer),
            None,
        )
        .await;
    assert_eq!(audits.json()["items"][0]["crid"], crid);
    server.stop().await;
}

#[tokio::test]
async fn reactions_steer_the_choice_and_show_in_the_report() {
    let server = TestServer::demo().await;
    let (admin, _, advertiser) = tokens(&server);
    let preview = server
        .request(
            Method::GET,
            "/api/v1/preview?campaign=1&stage=awareness&format=300x250&lang=en",
            &[("authorization", &format!("Bearer {advertiser}"))],
            Vec::new(),
        )
        .await;
    assert_eq!(preview.status, 200);
    assert!(
        preview
            .header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'")
    );
    // Pick one awareness combination and make it the clear winner.
    let (winner, loser) = two_combinations(&server).await;
    for (combo, clicks) in [(&winner, 60), (&loser, 2)] {
        let r = server
            .api(Method::POST, "/api/v1/campaigns/1/reactions", Some(&admin),
                Some(json!({"stage": "unaware", "combination": combo, "impressions": 1000, "clicks": clicks})))
            .await;
        assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    }
    let wins = served_of_100(&server, &winner).await;
    assert!(wins > 80, "the better combination serves most: {wins}/100");
    let report = server
        .api(
            Method::GET,
            "/api/v1/campaigns/1/combinations",
            Some(&advertiser),
            None,
        )
        .await;
    let rows = report.json()["combinations"].as_array().unwrap().clone();
    let row = rows
        .iter()
        .find(|r| r["combination"] == winner.as_str())
        .unwrap();
    assert_eq!(row["clicks"], 60);
    assert!(row["ctr_low"].as_f64().unwrap() < 0.06 && 0.06 < row["ctr_high"].as_f64().unwrap());
    assert!(!report.json()["fragments"].as_array().unwrap().is_empty());
    let not_admin = server
        .api(
            Method::POST,
            "/api/v1/campaigns/1/reactions",
            Some(&advertiser),
            Some(json!({"stage": "unaware", "combination": winner, "impressions": 1})),
        )
        .await;
    assert_eq!(not_admin.status, 403);
    server.stop().await;
}

#[tokio::test]
async fn a_conversion_objective_serves_what_converts_not_what_is_clicked() {
    let server = TestServer::demo().await;
    let (admin, _, _) = tokens(&server);
    let (sells, is_clicked) = two_combinations(&server).await;
    // Learning on clicks, the one that is clicked serves.
    for (combo, clicks, conversions) in [(&sells, 10, 40), (&is_clicked, 300, 2)] {
        let r = server
            .api(
                Method::POST,
                "/api/v1/campaigns/1/reactions",
                Some(&admin),
                Some(
                    json!({"stage": "unaware", "combination": combo, "impressions": 5000,
                            "clicks": clicks, "conversions": conversions}),
                ),
            )
            .await;
        assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    }
    let by_clicks = served_of_100(&server, &is_clicked).await;
    assert!(by_clicks > 80, "clicked most: {by_clicks}/100");

    server
        .edit_campaign(1, |c| c["learning"] = json!({"objective": "conversions"}))
        .await;
    let campaign = server
        .api(Method::GET, "/api/v1/campaigns/1", Some(&admin), None)
        .await
        .json();
    assert_eq!(campaign["learning"]["objective"], "conversions");
    let by_sales = served_of_100(&server, &sells).await;
    assert!(by_sales > 80, "converts most: {by_sales}/100");
    // The report shows the rate it learns on, with its uncertainty.
    let row = server
        .combination_row(1, &admin, &[("combination", &sells), ("stage", "unaware")])
        .await;
    // The posterior median of Beta(1 + 40, 1 + 4960): close to 40 / 5000.
    let cvr = row["cvr"].as_f64().unwrap();
    assert!((cvr - 40.0 / 5000.0).abs() < 0.0005, "{row}");
    let (lo, hi) = (
        row["cvr_low"].as_f64().unwrap(),
        row["cvr_high"].as_f64().unwrap(),
    );
    assert!(lo < 0.008 && 0.008 < hi && hi < 0.012, "{row}");

    // A stage's own objective overrides the campaign's.
    server
        .edit_campaign(1, |c| {
            c["learning"] = json!({"objective": "conversions", "stages": {"unaware": "clicks"}})
        })
        .await;
    let by_stage = served_of_100(&server, &is_clicked).await;
    assert!(by_stage > 80, "the stage learns on clicks: {by_stage}/100");

    // What the learner does not know is refused, naming the field.
    let mut bad = campaign.clone();
    for k in ["id", "created_at", "updated_at", "version"] {
        bad.as_object_mut().unwrap().remove(k);
    }
    for (learning, field) in [
        (json!({"objective": "sales"}), "learning.objective"),
        (json!({"stages": {"buyer": "clicks"}}), "learning.stages"),
    ] {
        bad["learning"] = learning;
        let r = server
            .api(
                Method::PUT,
                "/api/v1/campaigns/1",
                Some(&admin),
                Some(bad.clone()),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.json());
        assert!(
            r.json().to_string().contains(field),
            "{field}: {}",
            r.json()
        );
    }
    server.stop().await;
}
