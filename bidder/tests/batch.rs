//! `POST /api/v1/campaigns:batch` on the real server: many campaigns and
//! creatives written in one transaction with one publish, all or nothing,
//! and refused as a whole naming the item that refused it.

mod common;

use common::{TestServer, campaign_body};
use http::Method;
use serde_json::{Value, json};

const BATCH: &str = "/api/v1/campaigns:batch";

fn creative_body(w: u32, h: u32) -> Value {
    json!({"name": format!("{w}x{h}"), "status": "active",
        "body": {"kind": "html", "w": w, "h": h, "markup": format!("<div>{w}x{h}</div>")}})
}

/// A 123x45 banner request with a floor of 15.00, which only campaigns made
/// from [`campaign_body`] bid on.
fn odd_size_request(id: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id,
        "imp": [{"id": "1", "banner": {"w": 123, "h": 45}, "bidfloor": 15.0}],
        "site": {"domain": "news.example"},
        "tmax": 500
    }))
    .unwrap()
}

/// Campaigns published to the bid snapshot since start.
async fn snapshots(server: &TestServer) -> u64 {
    let reply = server.request(Method::GET, "/metrics", &[], "").await;
    let text = String::from_utf8(reply.body.to_vec()).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("bidder_snapshot_version{table=\"campaigns\"} "))
        .unwrap_or_else(|| panic!("no campaign snapshot version in\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// Every campaign and creative id in the store, as the admin sees them.
async fn catalog(server: &TestServer) -> (Vec<i64>, usize) {
    let token = server.admin_token();
    let page = server
        .api(
            Method::GET,
            "/api/v1/campaigns?limit=500&include_archived=true",
            Some(token),
            None,
        )
        .await
        .json();
    let ids: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    let mut creatives = 0;
    for id in &ids {
        let path = format!("/api/v1/campaigns/{id}/creatives?limit=500");
        let list = server
            .api(Method::GET, &path, Some(token), None)
            .await
            .json();
        creatives += list["items"].as_array().unwrap().len();
    }
    (ids, creatives)
}

async fn batch(server: &TestServer, token: &str, items: Value) -> common::Reply {
    server
        .api(
            Method::POST,
            BATCH,
            Some(token),
            Some(json!({"items": items})),
        )
        .await
}

#[tokio::test]
async fn a_batch_of_good_items_creates_them_all_and_publishes_once() {
    let server = TestServer::demo().await;
    let admin = server.admin_token().to_string();
    let (before, _) = catalog(&server).await;
    let published = snapshots(&server).await;
    assert_eq!(server.bid(odd_size_request("before")).await.status, 204);

    let reply = batch(
        &server,
        &admin,
        json!([
            {"op": "create", "campaign": campaign_body(1, "one"), "creatives": [creative_body(123, 45)]},
            {"op": "create", "campaign": campaign_body(1, "two"),
             "creatives": [creative_body(123, 45), creative_body(300, 250)]},
            {"op": "create", "campaign": campaign_body(2, "three"), "creatives": []},
        ]),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.json());
    let results = reply.json()["results"].as_array().unwrap().clone();
    assert_eq!(results.len(), 3);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(
            (r["index"].as_u64(), r["status"].as_u64()),
            (Some(i as u64), Some(201)),
            "{r}"
        );
        assert_eq!(r["op"], "create");
        assert_eq!(r["version"], 1);
    }
    assert_eq!(results[1]["creatives"].as_array().unwrap().len(), 2);
    assert_eq!(snapshots(&server).await, published + 1, "one publish");

    // Stored as single writes would store them, and live at once.
    let (after, _) = catalog(&server).await;
    assert_eq!(after.len(), before.len() + 3);
    let id = results[0]["id"].as_i64().unwrap();
    let stored = server
        .api(
            Method::GET,
            &format!("/api/v1/campaigns/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(stored.json()["name"], "one");
    let crid = results[0]["creatives"][0]["id"].as_i64().unwrap();
    let creative = server
        .api(
            Method::GET,
            &format!("/api/v1/creatives/{crid}"),
            Some(&admin),
            None,
        )
        .await
        .json();
    assert_eq!(creative["campaign_id"], id);
    assert_eq!(server.bid(odd_size_request("after")).await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn a_batch_updates_campaigns_and_creatives_at_their_versions() {
    let server = TestServer::demo().await;
    let admin = server.admin_token().to_string();
    let made = batch(
        &server,
        &admin,
        json!([
            {"op": "create", "campaign": campaign_body(1, "a"), "creatives": [creative_body(123, 45)]},
            {"op": "create", "campaign": campaign_body(1, "b")},
        ]),
    )
    .await
    .json();
    let (a, b) = (
        made["results"][0]["id"].clone(),
        made["results"][1]["id"].clone(),
    );
    let crid = made["results"][0]["creatives"][0]["id"].clone();

    // A CPM change across campaigns, a creative added, one replaced.
    let mut cheaper = campaign_body(1, "a");
    cheaper["base_cpm_micros"] = json!(10_000_000);
    let mut renamed = creative_body(123, 45);
    renamed["name"] = json!("renamed");
    let reply = batch(
        &server,
        &admin,
        json!([
            {"op": "update", "id": a, "version": 1, "campaign": cheaper},
            {"op": "update", "id": b, "version": 1, "campaign": campaign_body(1, "b2"),
             "creatives": [creative_body(300, 250)]},
            {"op": "update_creative", "id": crid, "version": 1, "creative": renamed},
        ]),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.json());
    let results = reply.json()["results"].clone();
    assert_eq!(results[0]["status"], 200);
    assert_eq!(results[0]["version"], 2);
    assert_eq!(results[1]["creatives"].as_array().unwrap().len(), 1);
    assert_eq!(results[2]["op"], "update_creative");
    assert_eq!(results[2]["version"], 2);
    let stored = server
        .api(
            Method::GET,
            &format!("/api/v1/campaigns/{a}"),
            Some(&admin),
            None,
        )
        .await
        .json();
    assert_eq!(stored["base_cpm_micros"], 10_000_000);
    let creative = server
        .api(
            Method::GET,
            &format!("/api/v1/creatives/{crid}"),
            Some(&admin),
            None,
        )
        .await
        .json();
    assert_eq!(creative["name"], "renamed");
    server.stop().await;
}

#[tokio::test]
async fn a_batch_with_bad_items_writes_nothing_and_names_every_bad_field() {
    let server = TestServer::demo().await;
    let admin = server.admin_token().to_string();
    let before = catalog(&server).await;
    let published = snapshots(&server).await;

    let mut bad = campaign_body(1, "bad");
    bad["targeting"]["countries"] = json!(["USA", "us"]);
    bad["base_cpm_micros"] = json!(40_000_000);
    let mut bad_creative = creative_body(123, 45);
    bad_creative["body"]["w"] = json!(0);
    let reply = batch(
        &server,
        &admin,
        json!([
            {"op": "create", "campaign": campaign_body(1, "good"), "creatives": [creative_body(123, 45)]},
            {"op": "create", "campaign": bad, "creatives": [creative_body(123, 45), bad_creative]},
            {"op": "create", "campaign": campaign_body(1, "good too")},
        ]),
    )
    .await;
    assert_eq!(reply.status, 422, "{}", reply.json());
    let fields: Vec<String> = reply.json()["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        fields,
        [
            "items[1].campaign.base_cpm_micros",
            "items[1].campaign.targeting.countries[1]",
            "items[1].creatives[1].body.w",
        ],
        "{}",
        reply.json()
    );
    assert_eq!(catalog(&server).await, before, "nothing written");
    assert_eq!(snapshots(&server).await, published, "nothing published");

    // Shapes: every item's first wrong field, and the fields each op takes.
    let mut typo = campaign_body(1, "typo");
    typo["nmae"] = json!("x");
    let reply = batch(
        &server,
        &admin,
        json!([
            {"op": "create", "campaign": typo},
            {"op": "update", "campaign": campaign_body(1, "no id")},
            {"op": "delete", "id": 1},
            {"op": "update_creative", "id": 1, "version": 1, "creative": creative_body(1, 1),
             "campaign": campaign_body(1, "extra")},
        ]),
    )
    .await;
    assert_eq!(reply.status, 422, "{}", reply.json());
    let fields: Vec<String> = reply.json()["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        fields,
        [
            "items[0].campaign.nmae",
            "items[1].id",
            "items[2].op",
            "items[3].campaign"
        ],
        "{}",
        reply.json()
    );

    // Sizes: none, and more than a thousand.
    for n in [0, 1_001] {
        let items: Vec<Value> = (0..n)
            .map(|i| json!({"op": "create", "campaign": campaign_body(1, &format!("c{i}"))}))
            .collect();
        let reply = batch(&server, &admin, json!(items)).await;
        assert_eq!(reply.status, 422, "{n} items");
        assert_eq!(reply.json()["fields"][0]["field"], "items", "{n} items");
    }
    assert_eq!(catalog(&server).await, before, "nothing written");
    server.stop().await;
}

#[tokio::test]
async fn a_buyers_batch_touching_another_advertiser_is_refused_whole() {
    let server = TestServer::demo().await;
    let tokens = server.tokens.clone().unwrap();
    let foreign = server
        .created(
            "/api/v1/advertisers",
            json!({"name": "Foreign", "domain": "foreign.example"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let before = catalog(&server).await;
    let reply = batch(
        &server,
        &tokens.buyer,
        json!([
            {"op": "create", "campaign": campaign_body(1, "mine"), "creatives": [creative_body(123, 45)]},
            {"op": "create", "campaign": campaign_body(foreign, "theirs")},
        ]),
    )
    .await;
    assert_eq!(reply.status, 403, "{}", reply.json());
    let body = reply.json();
    assert_eq!(body["path"], "items[1]", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("does not act for advertiser {foreign}")),
        "{message}"
    );
    assert_eq!(catalog(&server).await, before, "nothing written");

    // An advertiser token may replace its creatives but not write campaigns.
    let reply = batch(
        &server,
        &tokens.advertiser,
        json!([{"op": "create", "campaign": campaign_body(1, "mine")}]),
    )
    .await;
    assert_eq!(reply.status, 403, "{}", reply.json());
    assert!(
        reply.json()["message"].as_str().unwrap().contains("role"),
        "{}",
        reply.json()
    );
    assert_eq!(catalog(&server).await, before, "nothing written");
    server.stop().await;
}

#[tokio::test]
async fn a_stale_version_in_one_item_refuses_the_batch_with_412() {
    let server = TestServer::demo().await;
    let admin = server.admin_token().to_string();
    let made = server
        .created("/api/v1/campaigns", campaign_body(1, "current"))
        .await;
    let id = made["id"].as_i64().unwrap();
    server
        .edit_campaign(id, |c| c["name"] = json!("moved on"))
        .await;
    let before = catalog(&server).await;
    let published = snapshots(&server).await;

    let reply = batch(
        &server,
        &admin,
        json!([
            {"op": "create", "campaign": campaign_body(1, "new"), "creatives": [creative_body(123, 45)]},
            {"op": "update", "id": id, "version": 1, "campaign": campaign_body(1, "stale")},
        ]),
    )
    .await;
    assert_eq!(reply.status, 412, "{}", reply.json());
    let body = reply.json();
    assert_eq!(body["path"], "items[1]", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("version 1 is not current (current is 2)"),
        "{body}"
    );
    assert_eq!(catalog(&server).await, before, "nothing written");
    assert_eq!(snapshots(&server).await, published, "nothing published");

    // No version at all is 428; two updates of one campaign are 422.
    let reply = batch(
        &server,
        &admin,
        json!([{"op": "update", "id": id, "campaign": campaign_body(1, "blind")}]),
    )
    .await;
    assert_eq!(reply.status, 428, "{}", reply.json());
    let reply = batch(
        &server,
        &admin,
        json!([
            {"op": "update", "id": id, "version": 2, "campaign": campaign_body(1, "x")},
            {"op": "update", "id": id, "version": 3, "campaign": campaign_body(1, "y")},
        ]),
    )
    .await;
    assert_eq!(reply.status, 422, "{}", reply.json());
    assert_eq!(reply.json()["fields"][0]["field"], "items[1].id");
    assert_eq!(catalog(&server).await, before, "nothing written");
    server.stop().await;
}
