//! The admin API over HTTP on the real server: CRUD with validation and
//! versions, the new snapshot published after each write, and who may call
//! what.

mod common;

use common::{TestServer, campaign_body};
use http::Method;
use serde_json::{Value, json};

fn creative_body(w: u32, h: u32) -> Value {
    json!({
        "name": format!("{w}x{h}"),
        "status": "active",
        "body": {"kind": "html", "w": w, "h": h, "markup": format!("<div style=\"width:{w}px\">odd size</div>")}
    })
}

fn odd_size_request() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": "odd",
        "imp": [{"id": "1", "banner": {"w": 123, "h": 45}, "bidfloor": 15.0}],
        "site": {"domain": "news.example"},
        "tmax": 500
    }))
    .unwrap()
}

#[tokio::test]
async fn campaign_created_over_the_api_bids_at_once() {
    let server = TestServer::demo().await;
    let admin = server.admin_token().to_string();
    assert_eq!(server.bid(odd_size_request()).await.status, 204);

    let created = server
        .api(
            Method::POST,
            "/api/v1/campaigns",
            Some(&admin),
            Some(campaign_body(1, "odd sizes")),
        )
        .await;
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let campaign = created.json();
    let id = campaign["id"].as_i64().unwrap();
    let creative = server
        .api(
            Method::POST,
            &format!("/api/v1/campaigns/{id}/creatives"),
            Some(&admin),
            Some(creative_body(123, 45)),
        )
        .await;
    assert_eq!(
        creative.status,
        201,
        "{}",
        String::from_utf8_lossy(&creative.body)
    );
    let crid = creative.json()["id"].as_i64().unwrap().to_string();

    let reply = server.bid(odd_size_request()).await;
    assert_eq!(reply.status, 200);
    let answer = reply.json();
    assert_eq!(answer["seatbid"][0]["bid"][0]["crid"], crid.as_str());
    assert_eq!(
        answer["seatbid"][0]["bid"][0]["cid"],
        id.to_string().as_str()
    );
    server.stop().await;
}

#[tokio::test]
async fn update_needs_the_current_version_and_refuses_a_stale_one() {
    let server = TestServer::demo().await;
    let admin = server.admin_token().to_string();
    let created = server
        .api(
            Method::POST,
            "/api/v1/campaigns",
            Some(&admin),
            Some(campaign_body(1, "v1")),
        )
        .await
        .json();
    let path = format!("/api/v1/campaigns/{}", created["id"]);

    let got = server.api(Method::GET, &path, Some(&admin), None).await;
    assert_eq!(got.status, 200);
    let etag = got.header("etag").expect("ETag").to_string();

    let mut changed = campaign_body(1, "v2");
    changed["base_cpm_micros"] = json!(25_000_000);
    let without = server
        .api(Method::PUT, &path, Some(&admin), Some(changed.clone()))
        .await;
    assert_eq!(without.status, 428);

    let auth = format!("Bearer {admin}");
    let body = serde_json::to_vec(&changed).unwrap();
    let headers = [
        ("authorization", auth.as_str()),
        ("if-match", etag.as_str()),
        ("content-type", "application/json"),
    ];
    let first = server
        .request(Method::PUT, &path, &headers, body.clone())
        .await;
    assert_eq!(
        first.status,
        200,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    assert_eq!(first.json()["name"], "v2");

    // A second buyer still holding the old ETag must not overwrite it.
    let second = server.request(Method::PUT, &path, &headers, body).await;
    assert_eq!(second.status, 412);
    server.stop().await;
}

#[tokio::test]
async fn invalid_campaign_gets_422_naming_every_bad_field() {
    let server = TestServer::demo().await;
    let admin = server.admin_token().to_string();
    let mut bad = campaign_body(1, "");
    bad["base_cpm_micros"] = json!(50_000_000);
    bad["targeting"] = json!({"countries": ["USA", "germany"]});
    let reply = server
        .api(Method::POST, "/api/v1/campaigns", Some(&admin), Some(bad))
        .await;
    assert_eq!(
        reply.status,
        422,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let err = reply.json();
    let fields: Vec<String> = err["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_string())
        .collect();
    for expected in ["name", "base_cpm_micros", "targeting.countries[1]"] {
        assert!(
            fields.iter().any(|f| f == expected),
            "{expected} not in {fields:?}"
        );
    }
    // A value of the wrong type is named too (the body cannot be read
    // further, so it is the only field reported).
    let mut wrong_type = campaign_body(1, "ok");
    wrong_type["currency"] = json!("DOLLARS");
    let reply = server
        .api(
            Method::POST,
            "/api/v1/campaigns",
            Some(&admin),
            Some(wrong_type),
        )
        .await;
    assert_eq!(reply.status, 422);
    assert_eq!(reply.json()["fields"][0]["field"], "currency");

    // Nothing was stored.
    let list = server
        .api(
            Method::GET,
            "/api/v1/campaigns?limit=500",
            Some(&admin),
            None,
        )
        .await
        .json();
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["name"] != "")
    );
    server.stop().await;
}

#[tokio::test]
async fn lists_are_paginated() {
    let server = TestServer::demo().await;
    let admin = server.admin_token().to_string();
    let first = server
        .api(Method::GET, "/api/v1/campaigns?limit=2", Some(&admin), None)
        .await
        .json();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let after = first["next_after"].as_i64().expect("next_after");
    let second = server
        .api(
            Method::GET,
            &format!("/api/v1/campaigns?limit=2&after={after}"),
            Some(&admin),
            None,
        )
        .await
        .json();
    let ids = |v: &Value| -> Vec<i64> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .collect()
    };
    assert!(ids(&second).iter().all(|id| !ids(&first).contains(id)));
    server.stop().await;
}

#[tokio::test]
async fn missing_or_wrong_token_is_401_and_a_token_without_the_right_is_403() {
    let server = TestServer::demo().await;
    let tokens = server.tokens.clone().unwrap();
    // (method, path, body) for every route family of the admin API.
    let routes: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::GET, "/api/v1/advertisers", None),
        (
            Method::POST,
            "/api/v1/advertisers",
            Some(json!({"name": "X", "domain": "x.example"})),
        ),
        (Method::GET, "/api/v1/advertisers/1", None),
        (Method::DELETE, "/api/v1/advertisers/1", None),
        (Method::GET, "/api/v1/campaigns", None),
        (
            Method::POST,
            "/api/v1/campaigns",
            Some(campaign_body(1, "c")),
        ),
        (Method::GET, "/api/v1/campaigns/1", None),
        (
            Method::PUT,
            "/api/v1/campaigns/1",
            Some(campaign_body(1, "c")),
        ),
        (Method::DELETE, "/api/v1/campaigns/1", None),
        (Method::GET, "/api/v1/campaigns/1/creatives", None),
        (
            Method::POST,
            "/api/v1/campaigns/1/creatives",
            Some(creative_body(300, 250)),
        ),
        (Method::GET, "/api/v1/creatives/1", None),
        (
            Method::PUT,
            "/api/v1/creatives/1",
            Some(creative_body(300, 250)),
        ),
        (Method::DELETE, "/api/v1/creatives/1", None),
        (Method::GET, "/api/v1/tokens", None),
        (
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"role": "admin", "advertisers": [], "label": "x"})),
        ),
        (Method::DELETE, "/api/v1/tokens/1", None),
    ];
    for (method, path, body) in &routes {
        for token in [
            None,
            Some("bdr_0000000000000000000000000000000000000000000000000000000000000000"),
        ] {
            let reply = server.api(method.clone(), path, token, body.clone()).await;
            assert_eq!(reply.status, 401, "{method} {path} with {token:?}");
            assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        }
    }
    // Writes an advertiser-role token may never make.
    for (method, path, body) in &routes {
        let write = *method != Method::GET;
        let creative_route = path.contains("creatives");
        if write && !creative_route {
            let reply = server
                .api(method.clone(), path, Some(&tokens.advertiser), body.clone())
                .await;
            assert_eq!(reply.status, 403, "advertiser {method} {path}");
        }
        if path.starts_with("/api/v1/tokens") {
            for t in [&tokens.buyer, &tokens.advertiser] {
                let reply = server
                    .api(method.clone(), path, Some(t), body.clone())
                    .await;
                assert_eq!(reply.status, 403, "non-admin {method} {path}");
            }
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn openapi_document_is_served_without_a_token_and_lists_every_route() {
    let server = TestServer::demo().await;
    let reply = server
        .request(Method::GET, "/api/v1/openapi.json", &[], Vec::new())
        .await;
    assert_eq!(reply.status, 200);
    let doc = reply.json();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/api/v1/advertisers",
        "/api/v1/advertisers/{id}",
        "/api/v1/campaigns",
        "/api/v1/campaigns/{id}",
        "/api/v1/campaigns/{id}/creatives",
        "/api/v1/creatives/{id}",
        "/api/v1/tokens",
        "/api/v1/tokens/{id}",
        "/api/v1/funnels",
        "/api/v1/funnels/{id}",
        "/api/v1/funnels/{id}/uploads",
        "/api/v1/funnels/{id}/members/{key_type}/{user_id}",
        "/api/v1/jobs",
        "/api/v1/jobs/{id}",
        "/api/v1/fragments",
        "/api/v1/fragments/{id}",
        "/api/v1/fragments/{id}/approve",
        "/api/v1/fragments/{id}/reject",
        "/api/v1/fragments/{id}/history",
        "/api/v1/audits",
        "/api/v1/audits/{exchange}/{crid}",
        "/api/v1/campaigns/{id}/reactions",
        "/api/v1/campaigns/{id}/combinations",
        "/api/v1/campaigns/{id}/gallery",
        "/api/v1/preview",
        "/api/v1/campaigns/{id}/budget",
        "/api/v1/conversions",
        "/api/v1/reports",
        "/api/v1/campaigns/{id}/pause",
        "/api/v1/campaigns/{id}/resume",
        "/api/v1/explain",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    for path in [
        "/api/v1/campaigns/{id}",
        "/api/v1/creatives/{id}",
        "/api/v1/fragments/{id}",
        "/api/v1/funnels/{id}",
    ] {
        assert!(
            doc["paths"][path].get("patch").is_some(),
            "PATCH {path} missing"
        );
    }
    server.stop().await;
}
