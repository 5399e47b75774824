//! `POST /api/v1/explain` on the demo catalog through the real server:
//! the winner it names is the campaign that bids on the same request, a
//! no-bid names each campaign's step, explaining reserves nothing, and a
//! buyer sees only its advertisers' campaigns.

mod common;

use common::TestServer;
use http::Method;
use serde_json::{Value, json};

fn banner(id: &str, floor: f64) -> Value {
    json!({
        "id": id,
        "imp": [{"id": "1", "banner": {"format": [{"w": 300, "h": 250}]}, "bidfloor": floor, "bidfloorcur": "USD"}],
        "site": {"id": "s1", "domain": "news.example", "page": "https://news.example/a", "publisher": {"id": "p1"}},
        "device": {"ua": "Mozilla/5.0", "ip": "203.0.113.7", "devicetype": 2, "geo": {"country": "USA"}},
        "at": 1,
        "tmax": 500
    })
}

async fn explain(server: &TestServer, token: &str, body: Value) -> (u16, Value) {
    let reply = server
        .api(Method::POST, "/api/v1/explain", Some(token), Some(body))
        .await;
    (reply.status, reply.json())
}

/// Every campaign's verdict on the first imp, by campaign id.
fn steps(e: &Value) -> Vec<(i64, String)> {
    e["imps"][0]["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["campaign"].as_i64().unwrap(),
                c["step"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_explained_winner_is_the_campaign_that_bids_and_nothing_is_reserved() {
    let server = TestServer::demo().await;
    let admin = server.admin_token().to_owned();
    let (status, e) = explain(&server, &admin, banner("x1", 0.5)).await;
    assert_eq!(status, 200, "{e}");
    let winner = e["imps"][0]["winner"]["campaign"]
        .as_i64()
        .expect("a winner");
    assert!(steps(&e).contains(&(winner, "wins".to_owned())), "{e}");
    let budget = format!("/api/v1/campaigns/{winner}/budget");
    let before = server
        .api(Method::GET, &budget, Some(&admin), None)
        .await
        .json();
    for _ in 0..3 {
        assert_eq!(
            explain(&server, &admin, banner("x1", 0.5)).await.1,
            e,
            "same answer"
        );
    }
    let after = server
        .api(Method::GET, &budget, Some(&admin), None)
        .await
        .json();
    assert_eq!(
        before["reserved_micros"], after["reserved_micros"],
        "{after}"
    );
    assert_eq!(before["spent_today_micros"], after["spent_today_micros"]);

    let reply = server
        .bid(serde_json::to_vec(&banner("x1", 0.5)).unwrap())
        .await;
    assert_eq!(reply.status, 200);
    let cid = reply.json()["seatbid"][0]["bid"][0]["cid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        cid,
        winner.to_string(),
        "explain names the campaign that bids"
    );

    let pause = format!("/api/v1/campaigns/{winner}/pause");
    let paused = server.api(Method::POST, &pause, Some(&admin), None).await;
    assert_eq!(paused.status, 200, "{}", paused.json());
    let (_, e) = explain(&server, &admin, banner("x1", 0.5)).await;
    assert_ne!(e["imps"][0]["winner"]["campaign"], winner, "{e}");
    assert!(!steps(&e).iter().any(|(c, _)| *c == winner), "{e}");
    let resting = e["not_bidding"].as_array().unwrap();
    assert!(
        resting
            .iter()
            .any(|n| n["campaign"] == winner && n["reason"] == "paused"),
        "{e}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_no_bid_names_each_campaigns_step() {
    let server = TestServer::demo().await;
    let admin = server.admin_token().to_owned();
    let (status, e) = explain(&server, &admin, banner("x2", 500.0)).await;
    assert_eq!(status, 200, "{e}");
    assert!(e["imps"][0]["winner"].is_null(), "{e}");
    assert_eq!(e["no_bid"], "below_floor", "{e}");
    let floors: Vec<&Value> = e["imps"][0]["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["step"] == "floor")
        .collect();
    assert!(!floors.is_empty(), "{e}");
    assert_eq!(floors[0]["floor"], 500_000_000);
    assert_eq!(floors[0]["floor_currency"], "USD");

    let mut japan = banner("x3", 0.5);
    japan["device"]["geo"]["country"] = json!("JPN");
    japan["bcat"] = json!(["IAB17"]);
    let (_, e) = explain(&server, &admin, japan).await;
    let verdicts = e["imps"][0]["campaigns"].as_array().unwrap();
    let has = |want: Value| {
        verdicts.iter().any(|c| {
            want.as_object()
                .unwrap()
                .iter()
                .all(|(k, v)| c.get(k) == Some(v))
        })
    };
    assert!(
        has(json!({"step": "blocked", "list": "bcat", "entry": "IAB17"})),
        "{e}"
    );
    assert!(
        has(json!({"step": "targeting", "dimension": "country", "value": "JPN"})),
        "{e}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_buyer_sees_only_its_advertisers_campaigns_and_others_cannot_ask() {
    let server = TestServer::demo().await;
    let admin = server.admin_token().to_owned();
    let (_, all) = explain(&server, &admin, banner("x4", 0.5)).await;
    let winner_adv = all["imps"][0]["winner"]["advertiser"].as_i64().unwrap();
    let advertisers: Vec<i64> = server
        .api(Method::GET, "/api/v1/advertisers", Some(&admin), None)
        .await
        .json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    let other = *advertisers.iter().find(|a| **a != winner_adv).unwrap();
    let token = server
        .created(
            "/api/v1/tokens",
            json!({"role": "buyer", "advertisers": [other], "label": "b"}),
        )
        .await["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, mine) = explain(&server, &token, banner("x4", 0.5)).await;
    assert_eq!(status, 200, "{mine}");
    assert!(mine["imps"][0]["winner"].is_null(), "{mine}");
    assert_eq!(mine["imps"][0]["won_by_another_advertiser"], true);
    for c in mine["imps"][0]["campaigns"].as_array().unwrap() {
        assert_eq!(c["advertiser"], other, "{c}");
    }

    let advertiser = server.tokens.as_ref().unwrap().advertiser.clone();
    let (status, refused) = explain(&server, &advertiser, banner("x5", 0.5)).await;
    assert_eq!(status, 403);
    assert_eq!(
        refused["missing"]["permission"], "explain bid requests",
        "{refused}"
    );

    let broken = server
        .api(
            Method::POST,
            "/api/v1/explain",
            Some(&admin),
            Some(json!({"id": "x", "imp": {"id": "1"}})),
        )
        .await;
    // Read as the bid endpoint reads it: only `id` and `imp` stay errors.
    assert_eq!(broken.status, 400);
    assert_eq!(broken.json()["path"], "imp", "{}", broken.json());
    server.stop().await;
}
