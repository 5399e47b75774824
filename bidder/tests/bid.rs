//! The exchange endpoint end to end: the real server on an ephemeral port,
//! seeded with the demo campaigns, answering over HTTP.

mod common;

use bidder::config::ExchangeConfig;
use bidder::config::source_networks::AllowList;
use common::{TestServer, gunzip, gzip};
use http::Method;
use openrtb::Currency;
use serde_json::{Value, json};

fn banner_request(id: &str, sizes: &[(u32, u32)], floor: f64) -> Value {
    let format: Vec<Value> = sizes.iter().map(|(w, h)| json!({"w": w, "h": h})).collect();
    json!({
        "id": id,
        "imp": [{"id": "1", "banner": {"format": format}, "bidfloor": floor, "bidfloorcur": "USD"}],
        "site": {"id": "s1", "domain": "news.example", "page": "https://news.example/a", "publisher": {"id": "p1"}},
        "device": {"ua": "Mozilla/5.0", "ip": "203.0.113.7", "devicetype": 2, "geo": {"country": "USA"}},
        "at": 1,
        "tmax": 500
    })
}

fn body(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// The only bid of a 200 answer.
fn only_bid(answer: &Value) -> &Value {
    let bids = answer["seatbid"][0]["bid"]
        .as_array()
        .expect("seatbid[0].bid");
    assert_eq!(bids.len(), 1, "{answer}");
    &bids[0]
}

fn price(bid: &Value) -> f64 {
    bid["price"].as_f64().expect("price")
}

#[tokio::test]
async fn site_banner_gets_a_bid_in_one_of_the_requested_sizes() {
    let server = TestServer::demo().await;
    let reply = server
        .bid(body(&banner_request("r1", &[(300, 250), (728, 90)], 1.0)))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let answer = reply.json();
    assert_eq!(answer["id"], "r1");
    assert_eq!(answer["cur"], "USD");
    let bid = only_bid(&answer);
    assert_eq!(bid["impid"], "1");
    let size = (bid["w"].as_u64().unwrap(), bid["h"].as_u64().unwrap());
    assert!(size == (300, 250) || size == (728, 90), "{bid}");
    assert!(price(bid) >= 1.0, "{bid}");
    assert_eq!(bid["mtype"], 1);
    assert!(bid["adm"].as_str().unwrap().contains("<a "), "{bid}");
    for key in ["crid", "cid", "id"] {
        assert!(
            bid[key].as_str().is_some_and(|s| !s.is_empty()),
            "{key} in {bid}"
        );
    }
    assert!(!bid["adomain"].as_array().unwrap().is_empty());
    let nurl = bid["nurl"].as_str().unwrap();
    assert!(nurl.starts_with(&server.base), "{nurl}");
    assert!(nurl.contains("${AUCTION_PRICE}"), "{nurl}");
    assert!(bid["lurl"].as_str().unwrap().contains("${AUCTION_LOSS}"));
    server.stop().await;
}

#[tokio::test]
async fn app_request_gets_a_bid() {
    let server = TestServer::demo().await;
    let req = json!({
        "id": "app-1",
        "imp": [{"id": "1", "banner": {"w": 320, "h": 50}, "bidfloor": 0.5}],
        "app": {"id": "a1", "bundle": "com.example.game", "storeurl": "https://apps.apple.com/app/id1", "publisher": {"id": "p9"}},
        "device": {"os": "iOS", "devicetype": 4, "ifa": "6D92078A-8246-4BA4-AE5B-76104861E7DC", "geo": {"country": "CAN"}},
        "tmax": 300
    });
    let reply = server.bid(body(&req)).await;
    assert_eq!(reply.status, 200);
    let bid = only_bid(&reply.json()).clone();
    assert_eq!(
        (bid["w"].as_u64(), bid["h"].as_u64()),
        (Some(320), Some(50))
    );
    server.stop().await;
}

fn native_request() -> Value {
    json!({
        "ver": "1.2",
        "assets": [
            {"id": 1, "required": 1, "title": {"len": 90}},
            {"id": 2, "required": 1, "img": {"type": 3, "wmin": 600, "hmin": 300}},
            {"id": 3, "required": 0, "data": {"type": 2, "len": 140}},
            {"id": 4, "required": 0, "data": {"type": 1}}
        ],
        "eventtrackers": [{"event": 1, "methods": [1]}]
    })
}

async fn assert_native_bid(server: &TestServer, native: Value) {
    let req = json!({
        "id": "n1",
        "imp": [{"id": "7", "native": {"request": native, "ver": "1.2"}, "bidfloor": 1.0}],
        "site": {"domain": "blog.example", "page": "https://blog.example/"},
        "tmax": 400
    });
    let reply = server.bid(body(&req)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let answer = reply.json();
    let bid = only_bid(&answer);
    assert_eq!(bid["mtype"], 4);
    let adm: Value =
        serde_json::from_str(bid["adm"].as_str().unwrap()).expect("native adm is JSON");
    let native = adm.get("native").unwrap_or(&adm);
    let assets = native["assets"].as_array().expect("assets");
    for required in [1, 2] {
        assert!(
            assets.iter().any(|a| a["id"] == required),
            "asset {required} in {native}"
        );
    }
    let title = assets.iter().find(|a| a["id"] == 1).unwrap()["title"]["text"]
        .as_str()
        .unwrap();
    assert!(title.chars().count() <= 90);
    assert!(native["link"]["url"].as_str().is_some());
}

#[tokio::test]
async fn native_request_given_as_a_string_gets_a_native_bid() {
    let server = TestServer::demo().await;
    assert_native_bid(&server, Value::String(native_request().to_string())).await;
    server.stop().await;
}

#[tokio::test]
async fn native_request_given_as_an_object_gets_a_native_bid() {
    let server = TestServer::demo().await;
    assert_native_bid(&server, native_request()).await;
    server.stop().await;
}

#[tokio::test]
async fn video_request_gets_a_vast_document() {
    let server = TestServer::demo().await;
    let req = json!({
        "id": "v1",
        "imp": [{"id": "1", "video": {"mimes": ["video/mp4"], "minduration": 5, "maxduration": 30,
                 "protocols": [2, 3, 7], "w": 640, "h": 480, "plcmt": 1}, "bidfloor": 5.0}],
        "site": {"domain": "video.example"},
        "tmax": 500
    });
    let reply = server.bid(body(&req)).await;
    assert_eq!(reply.status, 200);
    let answer = reply.json();
    let bid = only_bid(&answer);
    assert_eq!(bid["mtype"], 2);
    assert!(bid["adm"].as_str().unwrap().contains("<VAST"));
    assert!(price(bid) >= 5.0);
    server.stop().await;
}

#[tokio::test]
async fn multi_imp_request_gets_at_most_one_bid_per_imp() {
    // Acme is the demo's only campaign for both sizes: an exchange must
    // allow two bids per campaign and request for it to fill both.
    let server = TestServer::start(true, |c| c.exchanges[0].bids_per_campaign = 2).await;
    let req = json!({
        "id": "m1",
        "imp": [
            {"id": "a", "banner": {"format": [{"w": 300, "h": 250}]}},
            {"id": "b", "banner": {"format": [{"w": 728, "h": 90}]}},
            {"id": "c", "audio": {"mimes": ["audio/mp4"]}}
        ],
        "site": {"domain": "news.example"},
        "tmax": 500
    });
    let reply = server.bid(body(&req)).await;
    assert_eq!(reply.status, 200);
    let answer = reply.json();
    let mut impids: Vec<String> = answer["seatbid"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["bid"].as_array().unwrap().iter())
        .map(|b| b["impid"].as_str().unwrap().to_string())
        .collect();
    impids.sort();
    assert_eq!(impids, ["a", "b"], "{answer}");
    server.stop().await;
}

fn deal_request(deal: Value, private_auction: u8) -> Value {
    json!({
        "id": "d1",
        "imp": [{"id": "1", "banner": {"format": [{"w": 300, "h": 250}]}, "bidfloor": 0.5,
                 "pmp": {"private_auction": private_auction, "deals": [deal]}}],
        "site": {"domain": "premium.example"},
        "tmax": 500
    })
}

#[tokio::test]
async fn private_auction_bids_only_on_a_listed_deal() {
    let server = TestServer::demo().await;
    let reply = server
        .bid(body(&deal_request(
            json!({"id": "NW-PMP-001", "bidfloor": 3.0}),
            1,
        )))
        .await;
    assert_eq!(reply.status, 200);
    let answer = reply.json();
    let bid = only_bid(&answer);
    assert_eq!(bid["dealid"], "NW-PMP-001");
    assert!(price(bid) >= 3.0);

    let reply = server
        .bid(body(&deal_request(
            json!({"id": "SOMEONE-ELSES-DEAL", "bidfloor": 1.0}),
            1,
        )))
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    server.stop().await;
}

#[tokio::test]
async fn fixed_price_deal_bids_exactly_the_agreed_price() {
    let server = TestServer::demo().await;
    let deal = json!({"id": "NW-PMP-002", "bidfloor": 4.75, "bidfloorcur": "USD", "at": 3});
    let reply = server.bid(body(&deal_request(deal, 1))).await;
    assert_eq!(reply.status, 200);
    let answer = reply.json();
    let bid = only_bid(&answer);
    assert_eq!(bid["dealid"], "NW-PMP-002");
    assert!((price(bid) - 4.75).abs() < 1e-9, "{bid}");
    server.stop().await;
}

#[tokio::test]
async fn gzip_request_gets_a_gzip_answer() {
    let server = TestServer::demo().await;
    let compressed = gzip(&body(&banner_request("gz", &[(300, 250)], 0.1)));
    let reply = server
        .request(
            Method::POST,
            "/openrtb2/bid",
            &[
                ("content-encoding", "gzip"),
                ("accept-encoding", "gzip"),
                ("content-type", "application/json"),
            ],
            compressed,
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-encoding"), Some("gzip"));
    let answer: Value = serde_json::from_slice(&gunzip(&reply.body)).unwrap();
    assert_eq!(answer["id"], "gz");
    server.stop().await;
}

#[tokio::test]
async fn blocked_categories_of_every_campaign_mean_no_bid() {
    let server = TestServer::demo().await;
    let mut req = banner_request("bc", &[(300, 250)], 0.1);
    req["bcat"] = json!(["IAB17", "IAB8", "BSW1"]);
    let reply = server.bid(body(&req)).await;
    assert_eq!(reply.status, 204);
    assert!(reply.body.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn blocked_advertiser_domain_is_never_bid() {
    let server = TestServer::demo().await;
    let mut req = banner_request("ba", &[(300, 250)], 0.1);
    req["device"]["geo"]["country"] = json!("DEU");
    req["badv"] = json!(["acme-outdoor.example"]);
    let reply = server.bid(body(&req)).await;
    assert_eq!(reply.status, 200);
    let answer = reply.json();
    let bid = only_bid(&answer);
    assert_eq!(bid["adomain"], json!(["northwind-coffee.example"]));
    server.stop().await;
}

#[tokio::test]
async fn floor_in_eur_is_converted_before_comparing() {
    let server = TestServer::demo().await;
    let mut req = banner_request("eur", &[(300, 250)], 4.0);
    req["imp"][0]["bidfloorcur"] = json!("EUR");
    req["cur"] = json!(["USD"]);
    let reply = server.bid(body(&req)).await;
    assert_eq!(reply.status, 200);
    let answer = reply.json();
    assert_eq!(answer["cur"], "USD");
    // One euro is worth more than one dollar in every rate table we ship,
    // so a 4.00 EUR floor needs more than 4.00 USD.
    assert!(price(only_bid(&answer)) > 4.0, "{answer}");

    req["cur"] = json!(["EUR"]);
    let answer = server.bid(body(&req)).await.json();
    assert_eq!(answer["cur"], "EUR");
    assert!(price(only_bid(&answer)) >= 4.0, "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn floor_above_every_max_cpm_means_no_bid() {
    let server = TestServer::demo().await;
    let reply = server
        .bid(body(&banner_request("hi", &[(300, 250)], 99.0)))
        .await;
    assert_eq!(reply.status, 204);
    let metrics = server
        .request(Method::GET, "/metrics", &[], Vec::new())
        .await;
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(text.contains("reason=\"below_floor\"} 1"), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn second_price_auction_gets_a_bid_within_max_cpm() {
    let server = TestServer::demo().await;
    let mut req = banner_request("sp", &[(728, 90)], 2.0);
    req["at"] = json!(2);
    let reply = server.bid(body(&req)).await;
    assert_eq!(reply.status, 200);
    let answer = reply.json();
    let p = price(only_bid(&answer));
    assert!((2.0..=8.0).contains(&p), "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn consent_in_openrtb_25_and_26_spellings_is_accepted() {
    let server = TestServer::demo().await;
    let consent = "CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA";
    let mut v25 = banner_request("c25", &[(300, 250)], 0.1);
    v25["regs"] = json!({"ext": {"gdpr": 1, "us_privacy": "1YNN"}});
    v25["user"] = json!({"id": "u1", "ext": {"consent": consent}});
    v25["source"] = json!({"ext": {"schain": {"complete": 1, "ver": "1.0", "nodes": [{"asi": "ssp.example", "sid": "1", "hp": 1}]}}});
    let mut v26 = banner_request("c26", &[(300, 250)], 0.1);
    v26["regs"] = json!({"gdpr": 1, "us_privacy": "1YNN", "gpp": "DBABMA~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA", "gpp_sid": [2]});
    v26["user"] = json!({"id": "u1", "consent": consent});
    for req in [v25, v26] {
        let reply = server
            .request(
                Method::POST,
                "/openrtb2/bid",
                &[("x-openrtb-version", "2.5")],
                body(&req),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", req["id"]);
        assert_eq!(reply.header("x-openrtb-version"), Some("2.5"));
    }
    server.stop().await;
}

#[tokio::test]
async fn tmax_shorter_than_the_network_margin_gets_204() {
    let server = TestServer::demo().await;
    let mut req = banner_request("late", &[(300, 250)], 0.1);
    req["tmax"] = json!(5);
    let reply = server.bid(body(&req)).await;
    assert_eq!(reply.status, 204);
    let metrics = server
        .request(Method::GET, "/metrics", &[], Vec::new())
        .await;
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(text.contains("reason=\"deadline\"} 1"), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn malformed_json_gets_400_with_a_json_error() {
    let server = TestServer::demo().await;
    let reply = server.bid(&b"{\"id\": \"x\", \"imp\": ["[..]).await;
    assert_eq!(reply.status, 400);
    let err = reply.json();
    assert_eq!(err["error"], "bad_request");
    assert!(err["path"].is_string(), "{err}");
    server.stop().await;
}

#[tokio::test]
async fn wrong_field_type_gets_400_only_where_no_answer_can_do_without_it() {
    let server = TestServer::demo().await;
    // An imp id that is not a string: no bid could name its imp.
    let req = br#"{"id":"t","imp":[{"id":"1","banner":{"w":300,"h":250}},{"id":2,"banner":{"w":300,"h":250}}]}"#;
    let reply = server.bid(&req[..]).await;
    assert_eq!(reply.status, 400);
    let err = reply.json();
    assert_eq!(err["path"], "imp[1].id", "{err}");
    // Sizes that cannot be read take the banner out of its imp, and with
    // nothing else to serve the request is a no-bid, not an error
    // (tests/liberal.rs has the other shapes).
    let req = br#"{"id":"t","imp":[{"id":"1","banner":{"format":[{"w":300,"h":250},{"w":"wide","h":90}]}}]}"#;
    let reply = server.bid(&req[..]).await;
    assert_eq!(reply.status, 204);
    server.stop().await;
}

#[tokio::test]
async fn invalid_requests_get_400_naming_the_rule_broken() {
    let server = TestServer::demo().await;
    let cases = [
        (json!({"id": "no-imps", "imp": []}), "imp"),
        (
            json!({"imp": [{"id": "1", "banner": {"w": 1, "h": 1}}]}),
            "id",
        ),
        (
            json!({"id": "no-imp-id", "imp": [{"banner": {"w": 1, "h": 1}}]}),
            "imp[0].id",
        ),
    ];
    for (req, path) in cases {
        let reply = server.bid(body(&req)).await;
        assert_eq!(reply.status, 400, "{req}");
        assert_eq!(reply.json()["path"], path, "{req}");
    }
    // Repeated imp ids are not an error: the first of each id may get a
    // bid, the others none.
    let dup = json!({"id": "dup", "imp": [{"id": "1", "banner": {"w": 1, "h": 1}}, {"id": "1", "banner": {"w": 1, "h": 1}}]});
    assert_eq!(server.bid(body(&dup)).await.status, 204);
    server.stop().await;
}

#[tokio::test]
async fn body_over_the_limit_gets_413() {
    let server = TestServer::start(true, |c| c.max_body_bytes = 2048).await;
    let mut req = banner_request("big", &[(300, 250)], 0.1);
    req["ext"] = json!({"padding": "x".repeat(4096)});
    let reply = server.bid(body(&req)).await;
    assert_eq!(reply.status, 413);

    // A small gzip body that inflates past the limit is refused too.
    let bomb = gzip(&vec![b' '; 8 * 1024 * 1024]);
    let reply = server
        .request(
            Method::POST,
            "/openrtb2/bid",
            &[("content-encoding", "gzip")],
            bomb,
        )
        .await;
    assert_eq!(reply.status, 413);
    server.stop().await;
}

#[tokio::test]
async fn exchange_configured_for_nbr_answers_no_bid_with_200_and_a_reason() {
    let server = TestServer::start(true, |c| {
        c.exchanges.push(ExchangeConfig {
            name: "strict".into(),
            seat: Some("seat-9".into()),
            currency: Currency::USD,
            sends_burl: false,
            nbr_on_no_bid: true,
            allowed_sources: AllowList::default(),
            max_imps: 20,
            bids_per_campaign: 1,
            sends_loss: true,
            notice_window_secs: 600,
        })
    })
    .await;
    let reply = server
        .request(
            Method::POST,
            "/openrtb2/bid/strict",
            &[],
            body(&banner_request("nb", &[(1, 1)], 0.1)),
        )
        .await;
    assert_eq!(reply.status, 200);
    let answer = reply.json();
    assert_eq!(answer["id"], "nb");
    assert!(answer["nbr"].is_u64(), "{answer}");
    assert!(answer.get("seatbid").is_none());

    let reply = server
        .request(
            Method::POST,
            "/openrtb2/bid/strict",
            &[],
            body(&banner_request("ok", &[(300, 250)], 0.1)),
        )
        .await;
    assert_eq!(reply.status, 200);
    let answer = reply.json();
    assert_eq!(answer["seatbid"][0]["seat"], "seat-9");
    assert!(
        answer["seatbid"][0]["bid"][0].get("burl").is_none(),
        "{answer}"
    );
    server.stop().await;
}

#[tokio::test]
async fn unknown_exchange_is_404_and_disallowed_source_is_403() {
    let server = TestServer::start(true, |c| {
        c.exchanges.push(ExchangeConfig {
            name: "walled".into(),
            seat: None,
            currency: Currency::USD,
            sends_burl: true,
            nbr_on_no_bid: false,
            allowed_sources: AllowList::new(vec!["10.0.0.0/8".parse().unwrap()]),
            max_imps: 20,
            bids_per_campaign: 1,
            sends_loss: true,
            notice_window_secs: 600,
        })
    })
    .await;
    let req = body(&banner_request("x", &[(300, 250)], 0.1));
    let reply = server
        .request(Method::POST, "/openrtb2/bid/nobody", &[], req.clone())
        .await;
    assert_eq!(reply.status, 404);
    let reply = server
        .request(Method::POST, "/openrtb2/bid/walled", &[], req)
        .await;
    assert_eq!(reply.status, 403);
    server.stop().await;
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let server = TestServer::demo().await;
    assert_eq!(
        server
            .request(Method::GET, "/healthz", &[], Vec::new())
            .await
            .status,
        200
    );
    assert_eq!(
        server
            .request(Method::GET, "/readyz", &[], Vec::new())
            .await
            .status,
        200
    );
    assert_eq!(
        server
            .request(Method::GET, "/openrtb2/bid", &[], Vec::new())
            .await
            .status,
        405
    );
    server.stop().await;
}

#[tokio::test]
async fn shutdown_stops_accepting_and_returns() {
    let server = TestServer::demo().await;
    let base = server.base.clone();
    assert_eq!(
        common::try_send(&base, Method::GET, "/healthz").await,
        Some(200)
    );
    // `stop` resolves only once `bidder::run` has drained and returned.
    server.stop().await;
    assert_eq!(common::try_send(&base, Method::GET, "/healthz").await, None);
}
