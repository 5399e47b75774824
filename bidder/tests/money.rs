//! Money moves only as the auction said, through the real server: a
//! billing notice never books above the bid's own price, whatever price
//! it carries; the largest prices the wire allows leave every report
//! non-negative; a bid has one outcome; one request cannot reserve more
//! than one bid per campaign; admin lists are bounded.

mod common;

use std::time::Duration;

use bidder::model::{CampaignId, UnixTime};
use bidder::store::Store;
use common::{TestServer, filled};
use http::Method;
use openrtb::Micros;
use serde_json::{Value, json};

/// A demo bidder publishing learnt counts at once.
async fn server() -> TestServer {
    TestServer::start(true, |c| {
        c.events.learning_republish = Duration::ZERO;
    })
    .await
}

/// Acme's bid (campaign 1) for the demo's intent user on a 300x250.
async fn bid(server: &TestServer, request_id: &str) -> Value {
    let body = serde_json::to_vec(&json!({
        "id": request_id,
        "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}],
        "site": {"domain": "news.example", "page": "https://news.example/a"},
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

/// The bid's price in micros.
fn price_of(bid: &Value) -> Micros {
    Micros::from_f64(bid["price"].as_f64().unwrap()).unwrap()
}

/// One impression at CPM `price`, rounded up, as a reservation holds it.
fn one_impression(price: Micros) -> Micros {
    Micros((price.0 + 999) / 1_000)
}

async fn get(server: &TestServer, path: &str) -> u16 {
    server
        .request(Method::GET, path, &[], Vec::new())
        .await
        .status
}

async fn metric(server: &TestServer, sample: &str) -> f64 {
    let text = server
        .request(Method::GET, "/metrics", &[], Vec::new())
        .await
        .body;
    let text = String::from_utf8(text.to_vec()).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{sample} not in /metrics"))
}

/// Campaign 1's budget as the API shows it.
async fn budget(server: &TestServer) -> Value {
    let reply = server
        .api(
            Method::GET,
            "/api/v1/campaigns/1/budget",
            Some(server.admin_token()),
            None,
        )
        .await;
    assert_eq!(reply.status, 200);
    reply.json()
}

fn spend(server: &TestServer) -> Micros {
    let store = Store::open(&server.data_dir).unwrap();
    store.spend_since(CampaignId(1), UnixTime(0)).unwrap().1
}

#[tokio::test]
async fn a_bill_above_the_bid_books_the_bid_price_and_is_counted_as_over_bid() {
    let server = server().await;
    let b = bid(&server, "over-1").await;
    let bid_price = price_of(&b);
    let bill = filled(b["burl"].as_str().unwrap(), "over-1", "5000");
    assert_eq!(get(&server, &bill).await, 200);
    assert_eq!(
        spend(&server),
        one_impression(bid_price),
        "the bid price, not 5000"
    );
    assert_eq!(metric(&server, "bidder_events_over_bid_total").await, 1.0);
    let state = budget(&server).await;
    assert_ne!(state["state"], "total_exhausted", "{state}");
    assert_eq!(
        state["spent_total_micros"].as_i64(),
        Some(one_impression(bid_price).0)
    );

    // A price the auction can really clear at books as reported.
    let b = bid(&server, "under-1").await;
    let bill = filled(b["burl"].as_str().unwrap(), "under-1", "0.50");
    assert_eq!(get(&server, &bill).await, 200);
    assert_eq!(
        spend(&server),
        one_impression(bid_price).saturating_add(Micros(500))
    );
    assert_eq!(metric(&server, "bidder_events_over_bid_total").await, 1.0);
    server.stop().await;
}

#[tokio::test]
async fn the_largest_prices_the_wire_allows_leave_every_report_non_negative() {
    let server = server().await;
    let mut booked = Micros(0);
    for (i, price) in ["1000000000000000", "9223372036854", "9223372036854.775807"]
        .iter()
        .enumerate()
    {
        let id = format!("huge-{i}");
        let b = bid(&server, &id).await;
        let bill = filled(b["burl"].as_str().unwrap(), &id, price);
        match get(&server, &bill).await {
            // Booked at the bid price.
            200 => booked = booked.saturating_add(one_impression(price_of(&b))),
            // Past i64 micros the price does not parse at all: refused,
            // nothing booked.
            status => assert_eq!((status, i), (400, 0), "{price}"),
        }
    }
    assert_eq!(spend(&server), booked);
    let state = budget(&server).await;
    assert_ne!(state["state"], "total_exhausted", "{state}");
    assert!(state["spent_today_micros"].as_i64().unwrap() >= 0);
    let report = server
        .api(
            Method::GET,
            "/api/v1/reports?campaign=1&group_by=campaign",
            Some(server.admin_token()),
            None,
        )
        .await;
    assert_eq!(report.status, 200);
    let rows = report.json()["rows"].as_array().unwrap().clone();
    assert!(!rows.is_empty());
    for row in rows {
        for field in ["spend_micros", "ecpm_micros"] {
            let v = row[field].as_f64().unwrap_or(0.0);
            assert!(v >= 0.0, "{field} {v} in {row}");
        }
        assert_eq!(row["spend_micros"].as_i64(), Some(booked.0), "{row}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_bid_has_one_outcome_and_the_second_is_a_conflict() {
    let server = server().await;
    // Billed, then reported lost: the bill stands.
    let b = bid(&server, "won-1").await;
    let booked = one_impression(price_of(&b));
    let bill = filled(b["burl"].as_str().unwrap(), "won-1", "1.00");
    let loss = filled(b["lurl"].as_str().unwrap(), "won-1", "");
    assert_eq!(get(&server, &bill).await, 200);
    assert_eq!(get(&server, &loss).await, 200);
    // Reported lost, then billed: the loss stands, nothing is booked.
    let b = bid(&server, "lost-1").await;
    let loss = filled(b["lurl"].as_str().unwrap(), "lost-1", "");
    let bill = filled(b["burl"].as_str().unwrap(), "lost-1", "1.00");
    assert_eq!(get(&server, &loss).await, 200);
    // The loss goes through the event worker: wait until it is counted.
    for _ in 0..200 {
        if metric(&server, "bidder_events_counted_total{kind=\"loss\"}").await >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(get(&server, &bill).await, 200);
    for _ in 0..200 {
        if metric(&server, "bidder_events_conflicts_total").await >= 2.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(metric(&server, "bidder_events_conflicts_total").await, 2.0);
    assert_eq!(
        spend(&server),
        Micros(1_000).min(booked),
        "one bill, at 1.00 CPM"
    );
    assert_eq!(budget(&server).await["reserved_micros"], 0, "both released");
    server.stop().await;
}

#[tokio::test]
async fn notices_without_auction_ids_are_still_tied_to_the_tokens_bid() {
    let server = server().await;
    let b = bid(&server, "bare-1").await;
    let burl = b["burl"].as_str().unwrap();
    // The exchange filled the price but left the auction and imp macros.
    let bare = burl
        .replace("${AUCTION_PRICE}", "1.00")
        .replace("${AUCTION_CURRENCY}", "USD");
    let bare = &bare[bare.find("/events/").unwrap()..];
    assert_eq!(get(&server, bare).await, 200);
    assert_eq!(get(&server, bare).await, 200, "a replay");
    assert_eq!(
        metric(&server, "bidder_events_unverified_auction_total").await,
        2.0
    );
    assert_eq!(spend(&server), Micros(1_000), "the token's bid, once");
    // Filled with another auction's ids, it is refused.
    let other = filled(burl, "someone-else", "1.00");
    assert_eq!(get(&server, &other).await, 403);
    server.stop().await;
}

#[tokio::test]
async fn a_request_of_4000_imps_holds_at_most_one_bid_per_campaign() {
    let server = server().await;
    let imps: Vec<Value> = (0..4_000)
        .map(|i| json!({"id": format!("{i}"), "banner": {"w": 300, "h": 250}}))
        .collect();
    let body = serde_json::to_vec(&json!({
        "id": "flood",
        "imp": imps,
        "site": {"domain": "news.example"},
        "device": {"ua": "Mozilla/5.0", "ip": "203.0.113.7", "geo": {"country": "USA"}},
        "user": {"buyeruid": "demo-intent"},
        "at": 1,
        "tmax": 1000
    }))
    .unwrap();
    assert!(body.len() > 150_000, "{} bytes", body.len());
    let reply = server.bid(body).await;
    assert_eq!(reply.status, 200);
    // At most one bid per campaign, at most 20 bids: a bounded answer.
    let answer = reply.json();
    let bids = answer["seatbid"][0]["bid"].as_array().unwrap();
    let mut campaigns: Vec<&str> = bids.iter().map(|b| b["cid"].as_str().unwrap()).collect();
    let n = campaigns.len();
    campaigns.sort();
    campaigns.dedup();
    assert_eq!(campaigns.len(), n, "one bid per campaign");
    assert!(n <= 20);
    assert!(reply.body.len() < 200 * 1024, "{} bytes", reply.body.len());
    assert_eq!(
        metric(&server, "bidder_imps_over_cap_total{exchange=\"default\"}").await,
        3_980.0
    );
    // Campaign 1 holds one bid's reservation, not 4,000.
    let acme = bids.iter().find(|b| b["cid"] == "1").expect("Acme bids");
    let reserved = budget(&server).await["reserved_micros"].as_i64().unwrap();
    assert_eq!(reserved, one_impression(price_of(acme)).0);
    server.stop().await;
}

#[tokio::test]
async fn an_adomain_of_100000_entries_is_refused_naming_the_field_and_the_limit() {
    let server = server().await;
    let mut body = common::campaign_body(1, "Flood");
    body["adomain"] = json!(
        (0..100_000)
            .map(|i| format!("d{i}.example"))
            .collect::<Vec<_>>()
    );
    let reply = server
        .api(
            Method::POST,
            "/api/v1/campaigns",
            Some(server.admin_token()),
            Some(body),
        )
        .await;
    assert_eq!(reply.status, 422, "{}", reply.json());
    let fields = reply.json()["fields"].as_array().unwrap().clone();
    assert_eq!(fields.len(), 1, "one error for the list: {fields:?}");
    assert_eq!(fields[0]["field"], "adomain");
    assert!(
        fields[0]["message"]
            .as_str()
            .unwrap()
            .contains("at most 50"),
        "{fields:?}"
    );
    server.stop().await;
}
