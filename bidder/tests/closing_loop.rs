//! The loop on the real server: a bid's notices, trackers and conversion
//! move spend, frequency counts, the user's funnel stage, the learning
//! counts and the reports; budgets hold under concurrent bids and wins;
//! spend survives a restart; `/metrics` is valid Prometheus text.

mod common;

use std::time::Duration;

use common::{TestServer, campaign_body, filled, tracker};
use http::Method;
use serde_json::{Value, json};

/// A demo bidder that publishes learnt counts and report counts at once.
async fn server() -> TestServer {
    TestServer::start(true, |c| {
        c.events.learning_republish = Duration::ZERO;
        c.events.report_flush = Duration::from_millis(20);
    })
    .await
}

fn banner_request(id: &str, user: &str, w: u32, h: u32) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id,
        "imp": [{"id": "1", "banner": {"w": w, "h": h}}],
        "site": {"id": "s1", "domain": "news.example", "page": "https://news.example/a"},
        "device": {"ua": "Mozilla/5.0", "ip": "203.0.113.7", "language": "en",
                   "devicetype": 2, "geo": {"country": "DEU"}},
        "user": {"buyeruid": user},
        "at": 1,
        "tmax": 500
    }))
    .unwrap()
}

/// The bids of an answer (none for 204).
async fn bids(server: &TestServer, body: Vec<u8>) -> Vec<Value> {
    let reply = server.bid(body).await;
    match reply.status {
        204 => vec![],
        200 => reply.json()["seatbid"][0]["bid"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        s => panic!("status {s}"),
    }
}

async fn get(server: &TestServer, path: &str) -> common::Reply {
    server.request(Method::GET, path, &[], Vec::new()).await
}

/// Polls `check` until it holds (the cold path is asynchronous).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never: {what}");
}

async fn stage_of(server: &TestServer, funnel: i64, user: &str) -> Option<String> {
    let reply = server
        .api(
            Method::GET,
            &format!("/api/v1/funnels/{funnel}/members/buyeruid/{user}"),
            Some(server.admin_token()),
            None,
        )
        .await;
    (reply.status == 200).then(|| reply.json()["stage"].as_str().unwrap().to_owned())
}

/// `GET /api/v1/campaigns/{id}/budget` with `token`.
async fn budget_of(server: &TestServer, id: i64, token: &str) -> Value {
    let path = format!("/api/v1/campaigns/{id}/budget");
    let reply = server.api(Method::GET, &path, Some(token), None).await;
    assert_eq!(reply.status, 200, "{}", reply.json());
    reply.json()
}

#[tokio::test]
async fn a_full_loop_moves_spend_caps_stage_learning_and_reports() {
    let server = server().await;
    let token = server.admin_token().to_owned();
    // One impression per user and day for the Acme banner.
    server
        .edit_campaign(1, |c| {
            c["frequency"] = json!({"caps": [{"impressions": 1, "window": "day"}]});
        })
        .await;
    let campaign = server
        .api(Method::GET, "/api/v1/campaigns/1", Some(&token), None)
        .await
        .json();
    let funnel = campaign["targeting"]["audience"]["funnel_id"]
        .as_i64()
        .unwrap();
    let advertiser = campaign["advertiser_id"].as_i64().unwrap();
    assert_eq!(stage_of(&server, funnel, "loop-user").await, None);

    let b = bids(&server, banner_request("full-1", "loop-user", 300, 250)).await;
    let b = b
        .iter()
        .find(|b| b["cid"] == "1")
        .expect("Acme banner bids");
    let (nurl, burl) = (b["nurl"].as_str().unwrap(), b["burl"].as_str().unwrap());
    let adm = b["adm"].as_str().unwrap();
    assert_eq!(
        get(&server, &filled(nurl, "full-1", "1.50")).await.status,
        200
    );
    assert_eq!(
        get(&server, &filled(burl, "full-1", "1.50")).await.status,
        200
    );

    // Spend is booked at the clearing price before the bill is answered.
    let budget = budget_of(&server, 1, &token).await;
    assert_eq!(budget["spent_total_micros"], 1_500, "{budget}");
    assert_eq!(budget["reserved_micros"], 0, "{budget}");

    // The impression makes the user aware of Acme and counts for the cap.
    assert_eq!(
        get(&server, &tracker(adm, "/events/imp?")).await.status,
        200
    );
    eventually("the impression moves the user to awareness", || async {
        stage_of(&server, funnel, "loop-user").await.as_deref() == Some("awareness")
    })
    .await;
    let again = bids(&server, banner_request("full-2", "loop-user", 300, 250)).await;
    assert!(
        again.iter().all(|b| b["cid"] != "1"),
        "capped at one a day: {again:?}"
    );
    let other = bids(&server, banner_request("full-3", "other-user", 300, 250)).await;
    assert!(
        other.iter().any(|b| b["cid"] == "1"),
        "others are not capped"
    );

    // The click lands with a click id, and moves the user to consideration.
    let click = get(&server, &tracker(adm, "/events/click?")).await;
    assert_eq!(click.status, 302);
    let location = click.header("location").unwrap().to_owned();
    let click_id = location.split("bclid=").nth(1).expect("bclid").to_owned();
    eventually("the click moves the user to consideration", || async {
        stage_of(&server, funnel, "loop-user").await.as_deref() == Some("consideration")
    })
    .await;

    // The advertiser's postback, twice: counted once, the user a customer.
    let conversion = json!({
        "advertiser_id": advertiser, "id": "order-1", "click_id": click_id,
        "value_micros": 30_000_000, "currency": "USD"
    });
    let first = server
        .api(
            Method::POST,
            "/api/v1/conversions",
            Some(&token),
            Some(conversion.clone()),
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.json());
    assert_eq!(first.json()["attributed"]["campaign_id"], 1);
    assert_eq!(first.json()["attributed"]["through"], "click");
    let second = server
        .api(
            Method::POST,
            "/api/v1/conversions",
            Some(&token),
            Some(conversion),
        )
        .await;
    assert_eq!(second.status, 200);
    assert_eq!(second.json()["duplicate"], true);
    assert_eq!(
        stage_of(&server, funnel, "loop-user").await.as_deref(),
        Some("customer")
    );

    // The learning counts of the combination shown.
    let shown = server
        .combination_row(1, &token, &[("stage", "unaware")])
        .await;
    assert_eq!(
        (
            &shown["impressions"],
            &shown["clicks"],
            &shown["conversions"]
        ),
        (&json!(1), &json!(1), &json!(1))
    );

    // The report of campaign 1 by stage and country matches what was sent:
    // two bids (full-1 and full-3), one of each event.
    let report = |format: &'static str| {
        let (server, token) = (&server, token.clone());
        async move {
            server
                .api(
                    Method::GET,
                    &format!(
                        "/api/v1/reports?campaign=1&group_by=country,device_type&format={format}"
                    ),
                    Some(&token),
                    None,
                )
                .await
        }
    };
    eventually("both bids reach the report", || async {
        report("json").await.json()["rows"][0]["bids"] == 2
    })
    .await;
    let rows = report("json").await.json()["rows"].clone();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    let row = &rows[0];
    for (k, v) in [
        ("country", json!("DEU")),
        ("device_type", json!(2)),
        ("currency", json!("USD")),
        ("bids", json!(2)),
        ("wins", json!(1)),
        ("win_rate", json!(0.5)),
        ("spend_micros", json!(1_500)),
        ("impressions", json!(1)),
        ("clicks", json!(1)),
        ("conversions", json!(1)),
        ("conversion_value_micros", json!(30_000_000)),
        ("ecpm_micros", json!(1_500_000.0)),
        ("ctr", json!(1.0)),
        ("cpc_micros", json!(1_500.0)),
        ("cpa_micros", json!(1_500.0)),
        ("roas", json!(20_000.0)),
    ] {
        assert_eq!(row[k], v, "{k} in {row}");
    }
    let csv = report("csv").await;
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let csv = String::from_utf8(csv.body.to_vec()).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].starts_with("country,device_type,currency,bids,wins,"));
    assert!(
        lines[1].starts_with("DEU,2,USD,2,1,1500,1,1,1,30000000,"),
        "{csv}"
    );
    server.stop().await;
}

#[tokio::test]
async fn reports_are_scoped_to_the_tokens_advertisers() {
    let server = server().await;
    let tokens = server.tokens.clone().unwrap();
    let _ = bids(&server, banner_request("scope-1", "u1", 300, 250)).await;
    // Acme's advertiser token sees Acme's campaign, never Northwind's.
    let acme = Some(tokens.advertiser.as_str());
    let own = server
        .api(Method::GET, "/api/v1/reports?campaign=1", acme, None)
        .await;
    assert_eq!(own.status, 200);
    let northwind = server
        .api(
            Method::GET,
            "/api/v1/campaigns?advertiser_id=2",
            Some(&tokens.admin),
            None,
        )
        .await
        .json()["items"][0]["id"]
        .as_i64()
        .unwrap();
    for path in [
        format!("/api/v1/reports?campaign={northwind}"),
        "/api/v1/reports?advertiser=2".to_owned(),
    ] {
        let foreign = server.api(Method::GET, &path, acme, None).await;
        assert_eq!(foreign.status, 403, "{path}");
    }
    let bad = server
        .api(
            Method::GET,
            "/api/v1/reports?group_by=planet&format=xml&from=yesterday",
            Some(&tokens.admin),
            None,
        )
        .await;
    assert_eq!(bad.status, 422);
    let fields: Vec<String> = bad.json()["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, ["group_by", "format", "from"]);
    server.stop().await;
}

/// A campaign of advertiser 1 that can afford exactly five impressions at
/// its 20.00 CPM on a 123x45 banner, paced as fast as it wins.
async fn five_impression_campaign(server: &TestServer) -> i64 {
    let mut body = campaign_body(1, "five impressions");
    body["total_budget_micros"] = json!(100_000);
    body["daily_budget_micros"] = json!(0);
    body["pacing"] = json!({"mode": "asap", "time_zone": "UTC"});
    let id = server.created("/api/v1/campaigns", body).await["id"]
        .as_i64()
        .unwrap();
    let creative = json!({"name": "tiny", "body": {"kind": "html", "w": 123, "h": 45,
        "markup": "<a href=\"https://acme.example\">Acme</a>"}});
    server
        .created(&format!("/api/v1/campaigns/{id}/creatives"), creative)
        .await;
    id
}

#[tokio::test]
async fn concurrent_bids_and_wins_never_spend_beyond_the_budget() {
    let server = server().await;
    let id = five_impression_campaign(&server).await;
    let cid = id.to_string();
    // Fifty exchanges' requests at once: only five bids fit the budget.
    let sent = futures_join((0..50).map(|i| {
        let server = &server;
        async move {
            bids(
                server,
                banner_request(&format!("c-{i}"), &format!("u{i}"), 123, 45),
            )
            .await
        }
    }))
    .await;
    let won: Vec<(String, Value)> = sent
        .into_iter()
        .enumerate()
        .flat_map(|(i, b)| b.into_iter().map(move |b| (format!("c-{i}"), b)))
        .filter(|(_, b)| b["cid"] == cid.as_str())
        .collect();
    assert_eq!(won.len(), 5, "bids beyond the budget were sent");
    // All five win and bill at once, each twice.
    let paths: Vec<String> = won
        .iter()
        .flat_map(|(req, b)| {
            let bill = filled(b["burl"].as_str().unwrap(), req, "20.00");
            [bill.clone(), bill]
        })
        .collect();
    let statuses = futures_join(paths.iter().map(|p| {
        let server = &server;
        async move { get(server, p).await.status }
    }))
    .await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let budget = budget_of(&server, id, server.admin_token()).await;
    assert_eq!(budget["spent_total_micros"], 100_000, "{budget}");
    assert_eq!(budget["state"], "total_exhausted", "{budget}");
    let after = bids(&server, banner_request("c-late", "u-late", 123, 45)).await;
    assert!(after.iter().all(|b| b["cid"] != cid.as_str()));
    server.stop().await;
}

/// Runs the futures concurrently on this task and returns their outputs.
async fn futures_join<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futs {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

#[tokio::test]
async fn spend_and_frequency_counts_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let tweak = |c: &mut bidder::Config| {
        c.events.report_flush = Duration::from_millis(20);
    };
    let server = TestServer::start_in(dir.path(), true, tweak).await;
    let token = server.admin_token().to_owned();
    server
        .edit_campaign(1, |c| {
            c["frequency"] = json!({"caps": [{"impressions": 1, "window": "week"}]});
        })
        .await;
    let b = bids(&server, banner_request("r-1", "restart-user", 300, 250)).await;
    let b = b.iter().find(|b| b["cid"] == "1").unwrap().clone();
    let bill = filled(b["burl"].as_str().unwrap(), "r-1", "2.00");
    assert_eq!(get(&server, &bill).await.status, 200);
    let imp = tracker(b["adm"].as_str().unwrap(), "/events/imp?");
    assert_eq!(get(&server, &imp).await.status, 200);
    server.stop().await;

    let server = TestServer::start_in(dir.path(), true, tweak).await;
    let budget = budget_of(&server, 1, &token).await;
    assert_eq!(budget["spent_total_micros"], 2_000, "{budget}");
    assert_eq!(budget["spent_today_micros"], 2_000, "{budget}");
    let again = bids(&server, banner_request("r-2", "restart-user", 300, 250)).await;
    assert!(
        again.iter().all(|b| b["cid"] != "1"),
        "the cap survived: {again:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn metrics_are_valid_prometheus_text_with_latency_budgets_and_versions() {
    let server = server().await;
    for i in 0..3 {
        let _ = bids(
            &server,
            banner_request(&format!("m-{i}"), "m-user", 300, 250),
        )
        .await;
    }
    let text = String::from_utf8(get(&server, "/metrics").await.body.to_vec()).unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("parses as Prometheus text");
    let sample = |name: &str, label: Option<(&str, &str)>| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .unwrap_or_else(|| panic!("{name} {label:?} in\n{text}"))
            .value
            .clone()
    };
    match sample("bidder_bid_latency_seconds", None) {
        prometheus_parse::Value::Histogram(buckets) => {
            let all = buckets.iter().find(|b| b.less_than.is_infinite()).unwrap();
            assert_eq!(all.count, 3.0);
        }
        other => panic!("latency is not a histogram: {other:?}"),
    }
    match sample("bidder_budget_spent_total_micros", Some(("campaign", "1"))) {
        prometheus_parse::Value::Gauge(v) => assert_eq!(v, 0.0),
        other => panic!("{other:?}"),
    }
    match sample("bidder_snapshot_version", Some(("table", "campaigns"))) {
        prometheus_parse::Value::Counter(v) => assert!(v >= 1.0),
        other => panic!("{other:?}"),
    }
    match sample("bidder_no_bids_total", Some(("reason", "frequency_capped"))) {
        prometheus_parse::Value::Counter(v) => assert_eq!(v, 0.0),
        other => panic!("{other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn fixed_creatives_carry_an_impression_tracker_that_counts_toward_caps() {
    let server = server().await;
    // A fixed 123x45 banner capped at one impression a day per user.
    let id = five_impression_campaign(&server).await;
    server
        .edit_campaign(id, |c| {
            c["frequency"] = json!({"caps": [{"impressions": 1, "window": "day"}]});
        })
        .await;
    let bid = &bids(&server, banner_request("fx-1", "fixed-user", 123, 45)).await[0];
    assert_eq!(bid["cid"], id.to_string());
    let adm = bid["adm"].as_str().unwrap();
    assert!(
        adm.starts_with("<a href=\"https://acme.example\">Acme</a><img src='"),
        "{adm}"
    );
    let pixel = tracker(adm, "/events/imp?");
    assert!(pixel.contains("&t="), "{pixel}");
    // Before the impression the user may see it again; after, the cap holds.
    assert_eq!(
        bids(&server, banner_request("fx-2", "fixed-user", 123, 45))
            .await
            .len(),
        1
    );
    assert_eq!(get(&server, &pixel).await.status, 200);
    eventually("the fixed creative's impression is capped", || async {
        bids(&server, banner_request("fx-3", "fixed-user", 123, 45))
            .await
            .is_empty()
    })
    .await;

    // The demo's fixed VAST gets an <Impression> before its own, and its
    // fixed native (Northwind's app install) an impression tracker: in
    // `imptrackers`, since the request offers no event trackers.
    let video = json!({"id": "fx-v", "imp": [{"id": "1", "video": {"mimes": ["video/mp4"],
        "minduration": 5, "maxduration": 30, "protocols": [2, 3, 7], "w": 1280, "h": 720}}],
        "site": {"id": "s", "domain": "news.example"}, "device": {"devicetype": 2}, "tmax": 500});
    let vast = bids(&server, serde_json::to_vec(&video).unwrap()).await;
    let doc = vast[0]["adm"].as_str().unwrap();
    let ours = doc.find("<Impression><![CDATA[").expect("our impression");
    assert!(ours < doc.find("<Impression id=\"imp\">").unwrap(), "{doc}");
    let parsed = roxmltree::Document::parse(doc).unwrap();
    let impressions = parsed
        .descendants()
        .filter(|n| n.has_tag_name("Impression"))
        .count();
    assert_eq!(impressions, 2);
    let url = tracker(&doc.replace("]]>", "\""), "/events/imp?");
    assert_eq!(get(&server, &url).await.status, 200);

    let native =
        std::fs::read(common::testdata().join("requests/23-northwind-app-native.json")).unwrap();
    let bid = &bids(&server, native).await[0];
    let adm: Value = serde_json::from_str(bid["adm"].as_str().unwrap()).unwrap();
    assert!(adm.get("eventtrackers").is_none(), "{adm}");
    let trackers = adm["imptrackers"].as_array().expect("impression trackers");
    let url = trackers[0].as_str().unwrap();
    assert_eq!(
        get(&server, &url[url.find("/events/").unwrap()..])
            .await
            .status,
        200
    );
}
