//! Audiences end to end: funnels, single-user moves and bulk uploads over
//! the admin API change what the real server bids, only where consent
//! allows, and survive a restart.
//!
//! The demo's "Acme run-of-network banner" targets the Acme funnel (id 1)
//! and bids its max CPM of 8.00 USD on second-price auctions, scaled by the
//! user's stage: consideration 1.2x, intent 1.5x, customer 0.8x, loyal
//! 0.5x, everyone else 1.0x.

mod common;

use bidder::model::UnixTime;
use bidder::state::clock::ManualClock;
use common::{TestServer, gzip};
use http::Method;
use serde_json::{Value, json};

const FUNNEL: &str = "/api/v1/funnels/1";

/// A second-price 300x250 banner request for user `buyeruid`, with `regs`.
fn request(buyeruid: &str, regs: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": "aud-1",
        "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}],
        "site": {"id": "s1", "domain": "news.example", "page": "https://news.example/a"},
        "device": {"ua": "Mozilla/5.0", "ip": "203.0.113.7"},
        "user": {"buyeruid": buyeruid},
        "regs": regs,
        "at": 2,
        "tmax": 500
    }))
    .unwrap()
}

/// The price and win-notice URL of the one bid answered for `buyeruid`.
async fn bid_for(server: &TestServer, buyeruid: &str, regs: Value) -> (f64, String) {
    let reply = server.bid(request(buyeruid, regs)).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let json = reply.json();
    let bid = &json["seatbid"][0]["bid"][0];
    assert_eq!(bid["cid"], "1", "the Acme banner campaign bids: {json}");
    (
        bid["price"].as_f64().unwrap(),
        bid["nurl"].as_str().unwrap().to_owned(),
    )
}

async fn upload(server: &TestServer, token: &str, query: &str, body: Vec<u8>) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let reply = server
        .request(
            Method::POST,
            &format!("{FUNNEL}/uploads{query}"),
            &[("authorization", &auth)],
            body,
        )
        .await;
    (reply.status, reply.json())
}

fn buyer(server: &TestServer) -> String {
    server.tokens.as_ref().unwrap().buyer.clone()
}

#[tokio::test]
async fn the_bid_price_follows_the_users_stage() {
    let server = TestServer::demo().await;
    let (price, nurl) = bid_for(&server, "someone-new", json!({})).await;
    assert_eq!(price, 8.0);
    // Unknown: priced as usual, its assembled creative drawn for unaware.
    assert!(nurl.contains("&stage=unaware&"), "{nurl}");
    let (price, nurl) = bid_for(&server, "demo-intent", json!({})).await;
    assert_eq!(price, 12.0);
    assert!(nurl.contains("&stage=intent&"), "{nurl}");

    let token = buyer(&server);
    let path = format!("{FUNNEL}/members/buyeruid/someone-new");
    let put = server
        .api(
            Method::PUT,
            &path,
            Some(&token),
            Some(json!({"stage": "loyal"})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.json());
    assert_eq!(put.json()["stage"], "loyal");
    let (price, nurl) = bid_for(&server, "someone-new", json!({})).await;
    assert_eq!(price, 4.0);
    assert!(nurl.contains("&stage=loyal&"), "{nurl}");

    let put = server
        .api(
            Method::PUT,
            &path,
            Some(&token),
            Some(json!({"stage": "consideration"})),
        )
        .await;
    assert_eq!(put.status, 200);
    assert_eq!(bid_for(&server, "someone-new", json!({})).await.0, 9.6);

    let del = server.api(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(del.status, 204);
    assert_eq!(bid_for(&server, "someone-new", json!({})).await.0, 8.0);
    let gone = server.api(Method::GET, &path, Some(&token), None).await;
    assert_eq!(gone.status, 404);
}

#[tokio::test]
async fn without_consent_the_stage_is_not_used_and_the_reason_is_counted() {
    let server = TestServer::demo().await;
    for regs in [
        json!({"gdpr": 1}),
        json!({"coppa": 1}),
        json!({"us_privacy": "1YYN"}),
        // GPP with a US National section whose sale opt-out is set.
        json!({"gpp": "DBABLA~BVQaAAAAAgA.QA", "gpp_sid": [7]}),
    ] {
        let (price, nurl) = bid_for(&server, "demo-intent", regs.clone()).await;
        assert_eq!(
            price, 8.0,
            "{regs}: bid contextually, not at the intent price"
        );
        // The creative is drawn as for an unknown user.
        assert!(nurl.contains("&stage=unaware&"), "{nurl}");
    }
    // US Privacy without an opt-out still personalizes.
    assert_eq!(
        bid_for(&server, "demo-intent", json!({"us_privacy": "1YNN"}))
            .await
            .0,
        12.0
    );
    let metrics = server
        .request(Method::GET, "/metrics", &[], Vec::new())
        .await;
    let text = String::from_utf8_lossy(&metrics.body);
    for line in [
        "bidder_personalization_total{exchange=\"default\",reason=\"gdpr_no_consent_string\"} 1",
        "bidder_personalization_total{exchange=\"default\",reason=\"coppa\"} 1",
        "bidder_personalization_total{exchange=\"default\",reason=\"us_privacy_opt_out\"} 1",
        "bidder_personalization_total{exchange=\"default\",reason=\"gpp_us_opt_out\"} 1",
        "bidder_personalization_total{exchange=\"default\",reason=\"personalized\"} 1",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

#[tokio::test]
async fn a_csv_upload_applies_good_rows_and_reports_bad_ones_by_line() {
    let server = TestServer::demo().await;
    let csv = "key_type,id,stage,ttl\n\
               buyeruid,csv-1,intent\n\
               buyeruid,csv-2,Loyal,30d\n\
               cookie,x,intent\n\
               buyeruid,csv-3,buyer\n\
               \n\
               ifa,00000000-0000-0000-0000-000000000000,intent\n\
               eid:uidapi.com,\"u,1\",customer\n";
    let (status, job) = upload(&server, &buyer(&server), "?mode=add", csv.into()).await;
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["status"], "completed");
    assert_eq!(job["rows_read"], 6);
    assert_eq!(job["rows_accepted"], 3);
    assert_eq!(job["rows_rejected"], 3);
    assert_eq!(job["last_line"], 8);
    let lines: Vec<u64> = job["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![4, 5, 7]);
    assert!(
        job["rejections"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("unknown stage")
    );

    assert_eq!(bid_for(&server, "csv-1", json!({})).await.0, 12.0);
    assert_eq!(bid_for(&server, "csv-2", json!({})).await.0, 4.0);
    let member = server
        .api(
            Method::GET,
            &format!("{FUNNEL}/members/eid%3Auidapi.com/u%2C1"),
            Some(&buyer(&server)),
            None,
        )
        .await;
    assert_eq!(member.status, 200);
    assert_eq!(member.json()["stage"], "customer");

    let job_path = format!("/api/v1/jobs/{}", job["id"]);
    let again = server
        .api(Method::GET, &job_path, Some(&buyer(&server)), None)
        .await;
    assert_eq!(again.json(), job);
    let funnel = server
        .api(Method::GET, FUNNEL, Some(&buyer(&server)), None)
        .await
        .json();
    // 3 demo users + 3 uploaded.
    assert_eq!(funnel["members_total"], 6, "{funnel}");
    assert_eq!(funnel["stages"][3]["members"], 2, "{funnel}");
}

#[tokio::test]
async fn gzipped_ndjson_uploads_remove_and_replace() {
    let server = TestServer::demo().await;
    let token = buyer(&server);
    let ndjson = (0..1_000)
        .map(|i| format!("{{\"key_type\":\"buyeruid\",\"id\":\"nd-{i}\",\"stage\":\"intent\"}}\n"))
        .collect::<String>();
    let (status, job) = upload(&server, &token, "", gzip(ndjson.as_bytes())).await;
    assert_eq!(status, 201, "{job}");
    assert_eq!(
        (job["rows_accepted"].as_u64(), job["rows_rejected"].as_u64()),
        (Some(1_000), Some(0))
    );
    assert_eq!(bid_for(&server, "nd-999", json!({})).await.0, 12.0);

    let (_, job) = upload(
        &server,
        &token,
        "?mode=remove",
        "buyeruid,nd-999\nbuyeruid,never-there\n".into(),
    )
    .await;
    assert_eq!(job["rows_removed"], 1, "{job}");
    assert_eq!(bid_for(&server, "nd-999", json!({})).await.0, 8.0);

    // Replace: the funnel becomes exactly the file.
    let (_, job) = upload(
        &server,
        &token,
        "?mode=replace&format=csv",
        "buyeruid,nd-1,loyal\nbuyeruid,fresh,customer\n".into(),
    )
    .await;
    assert_eq!(job["status"], "completed", "{job}");
    // Before: 3 demo users and 999 nd-* users; nd-1 is rewritten, the
    // rest go.
    assert_eq!(job["rows_removed"], 3 + 999 - 1, "{job}");
    assert_eq!(bid_for(&server, "nd-1", json!({})).await.0, 4.0);
    assert_eq!(bid_for(&server, "fresh", json!({})).await.0, 6.4);
    assert_eq!(bid_for(&server, "nd-2", json!({})).await.0, 8.0);
    assert_eq!(bid_for(&server, "demo-intent", json!({})).await.0, 8.0);
    let funnel = server
        .api(Method::GET, FUNNEL, Some(&token), None)
        .await
        .json();
    assert_eq!(funnel["members_total"], 2, "{funnel}");
}

#[tokio::test]
async fn a_truncated_gzip_upload_fails_and_keeps_what_came_before() {
    let server = TestServer::demo().await;
    let rows: String = (0..60_000)
        .map(|i| format!("buyeruid,tr-{i},intent\n"))
        .collect();
    let mut body = gzip(rows.as_bytes());
    body.truncate(body.len() * 9 / 10);
    let (status, job) = upload(&server, &buyer(&server), "", body).await;
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["message"].as_str().unwrap().contains("gzip"), "{job}");
    // The first full chunk (50,000 rows) was committed before the break.
    let accepted = job["rows_accepted"].as_u64().unwrap();
    assert!(accepted >= 50_000, "{job}");
    assert_eq!(bid_for(&server, "tr-0", json!({})).await.0, 12.0);
}

#[tokio::test]
async fn members_with_a_ttl_expire() {
    let clock = ManualClock::at(UnixTime::now());
    let server = TestServer::demo_with_clock(clock.clone()).await;
    let (_, job) = upload(
        &server,
        &buyer(&server),
        "",
        "buyeruid,short,intent,2s\n".into(),
    )
    .await;
    assert_eq!(job["rows_accepted"], 1, "{job}");
    assert_eq!(bid_for(&server, "short", json!({})).await.0, 12.0);
    clock.advance(1);
    assert_eq!(bid_for(&server, "short", json!({})).await.0, 12.0);
    // Expired from the second its two seconds are over, without waiting.
    clock.advance(1);
    assert_eq!(bid_for(&server, "short", json!({})).await.0, 8.0);
}

#[tokio::test]
async fn uploads_need_a_buyer_of_the_funnels_advertiser_and_valid_options() {
    let server = TestServer::demo().await;
    let tokens = server.tokens.clone().unwrap();
    let (status, _) = upload(
        &server,
        &tokens.advertiser,
        "",
        "buyeruid,x,intent\n".into(),
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = upload(
        &server,
        &tokens.buyer,
        "?mode=merge",
        "buyeruid,x,intent\n".into(),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["fields"][0]["field"], "mode");
    let reply = server
        .request(
            Method::POST,
            "/api/v1/funnels/99/uploads",
            &[("authorization", &format!("Bearer {}", tokens.admin))],
            "x",
        )
        .await;
    assert_eq!(reply.status, 404);
}

#[tokio::test]
async fn funnels_are_created_renamed_listed_and_targeted() {
    let server = TestServer::demo().await;
    let token = buyer(&server);
    let created = server
        .api(
            Method::POST,
            "/api/v1/funnels",
            Some(&token),
            Some(json!({"advertiser_id": 2, "name": "Coffee lovers",
                "stage_names": ["new", "seen", "curious", "ready", "buyer", "regular"]})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.json());
    let id = created.json()["id"].as_u64().unwrap();
    let path = format!("/api/v1/funnels/{id}");
    let put = server
        .api(
            Method::PUT,
            &format!("{path}/members/user_id/u1"),
            Some(&token),
            Some(json!({"stage": "Ready", "ttl": "1d"})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.json());
    assert_eq!(put.json()["stage"], "ready");
    let bad = server
        .api(
            Method::POST,
            "/api/v1/funnels",
            Some(&token),
            Some(json!({"advertiser_id": 2, "name": "x",
            "stage_names": ["a", "b", "c", "d", "e", "A"]})),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.json()["fields"][0]["field"], "stage_names[5]");

    // A campaign may target only its own advertiser's funnel.
    let mut campaign = common::campaign_body(1, "Wrong funnel");
    campaign["targeting"]["audience"] = json!({"funnel_id": id, "stages": ["intent"]});
    let refused = server
        .api(
            Method::POST,
            "/api/v1/campaigns",
            Some(&token),
            Some(campaign),
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.json());
    assert_eq!(
        refused.json()["fields"][0]["field"],
        "targeting.audience.funnel_id"
    );

    let list = server
        .api(
            Method::GET,
            "/api/v1/funnels?advertiser_id=2",
            Some(&token),
            None,
        )
        .await
        .json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["stages"][3]["name"], "ready");
    assert_eq!(list["items"][0]["stages"][3]["members"], 1);

    // The demo funnel is targeted by a campaign: it stays.
    let del = server
        .api(
            Method::DELETE,
            FUNNEL,
            Some(&token),
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(del.status, 409);
    let del = server
        .api(
            Method::DELETE,
            &path,
            Some(&token),
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(del.status, 204);
}

#[tokio::test]
async fn stage_targeting_bids_only_on_the_stages_named() {
    let server = TestServer::demo().await;
    // Only intent and customer users of the Acme funnel, nobody unknown.
    let mut campaign = common::campaign_body(1, "Intent only");
    campaign["targeting"]["audience"] =
        json!({"funnel_id": 1, "stages": ["intent", "customer"], "unknown_users": false});
    campaign["stage_multipliers"] = json!({"intent": 2});
    let cid = server.created("/api/v1/campaigns", campaign).await["id"].to_string();
    let creative = json!({"name": "tiny", "body": {"kind": "html", "w": 123, "h": 45,
        "markup": "<a href=\"https://acme-outdoor.example\">x</a>"}});
    server
        .created(&format!("/api/v1/campaigns/{cid}/creatives"), creative)
        .await;
    let tiny = |uid: &str| {
        serde_json::to_vec(&json!({
            "id": "t", "imp": [{"id": "1", "banner": {"w": 123, "h": 45}}],
            "site": {"id": "s"}, "user": {"buyeruid": uid}, "at": 2
        }))
        .unwrap()
    };
    let answer = server.bid(tiny("demo-intent")).await;
    assert_eq!(answer.status, 200);
    // campaign_body bids max 30.00; intent doubles it.
    assert_eq!(answer.json()["seatbid"][0]["bid"][0]["price"], 60.0);
    assert_eq!(server.bid(tiny("demo-loyal")).await.status, 204);
    assert_eq!(server.bid(tiny("nobody")).await.status, 204);
}

#[tokio::test]
async fn the_table_is_rebuilt_from_the_store_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), true, |_| {}).await;
    let tokens = server.tokens.clone().unwrap();
    let rows: String = (0..2_000)
        .map(|i| format!("buyeruid,r-{i},loyal\n"))
        .collect();
    let (_, job) = upload(&server, &tokens.buyer, "", rows.into()).await;
    assert_eq!(job["rows_accepted"], 2_000);
    server.stop().await;

    let server = TestServer::start_in(dir.path(), true, |_| {}).await;
    assert!(
        server.tokens.is_none(),
        "a second start does not seed again"
    );
    assert_eq!(bid_for(&server, "r-1999", json!({})).await.0, 4.0);
    assert_eq!(bid_for(&server, "demo-intent", json!({})).await.0, 12.0);
    let funnel = server
        .api(Method::GET, FUNNEL, Some(&tokens.buyer), None)
        .await
        .json();
    assert_eq!(funnel["members_total"], 2_003, "{funnel}");
}

#[tokio::test]
async fn the_upload_client_streams_a_file_and_draws_progress() {
    let server = TestServer::demo().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("members.csv.gz");
    let rows: String = (0..20_000)
        .map(|i| format!("buyeruid,cli-{i},customer\n"))
        .collect();
    std::fs::write(&file, gzip(rows.as_bytes())).unwrap();
    let req = bidder::control::upload_client::UploadRequest {
        file,
        funnel: 1,
        mode: bidder::model::UploadMode::Add,
        url: server.base.clone(),
        token: buyer(&server),
    };
    let mut progress = Vec::new();
    let job = bidder::control::upload_client::upload(&req, &mut progress)
        .await
        .unwrap();
    assert_eq!(job.rows_accepted, 20_000);
    let drawn = String::from_utf8(progress).unwrap();
    assert!(drawn.contains("100.0%"), "{drawn}");
    assert!(bidder::control::upload_client::summary(&job).contains("20000 accepted"));
    assert_eq!(bid_for(&server, "cli-19999", json!({})).await.0, 6.4);

    let refused = bidder::control::upload_client::upload(
        &bidder::control::upload_client::UploadRequest {
            token: "bdr_wrong".into(),
            ..req
        },
        std::io::sink(),
    )
    .await;
    assert!(
        matches!(
            refused,
            Err(bidder::control::upload_client::UploadError::Refused { status: 401, .. })
        ),
        "{refused:?}"
    );
}
