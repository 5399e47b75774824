//! Every class of bad input, at the bid endpoint and at the admin API: a
//! clear JSON error with the right status (and the field path where there
//! is one), no panic, and nothing stored changes.

mod common;

use std::io::Write;

use common::{TestServer, fixture};
use http::Method;
use serde_json::{Value, json};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A corpus banner request, its imp not secure: the test bidder's URL is
/// http, and secure imps get no bid from it.
fn banner() -> Vec<u8> {
    let mut v: Value =
        serde_json::from_slice(&fixture("requests/01-openrtb26-site-banner-format.json")).unwrap();
    v["imp"][0].as_object_mut().unwrap().remove("secure");
    serde_json::to_vec(&v).unwrap()
}

/// `depth` nested arrays.
fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// Everything the store holds that the admin API shows, to compare.
async fn stored(server: &TestServer) -> Vec<Value> {
    let token = server.admin_token().to_owned();
    let mut out = Vec::new();
    for path in [
        "/api/v1/advertisers?limit=500",
        "/api/v1/campaigns?limit=500&include_archived=true",
        "/api/v1/campaigns/1/creatives?limit=500",
        "/api/v1/funnels?limit=500",
        "/api/v1/fragments?limit=500",
        "/api/v1/campaigns/1/budget",
    ] {
        let reply = server.api(Method::GET, path, Some(&token), None).await;
        assert_eq!(reply.status, 200, "{path}");
        let mut v = reply.json();
        // Budgets move with the clock (the pacing curve), not with data.
        if let Some(o) = v.as_object_mut() {
            for k in [
                "allowed_now_micros",
                "bid_share",
                "state",
                "day_start",
                "day_end",
            ] {
                o.remove(k);
            }
        }
        out.push(v);
    }
    out
}

/// A case: a name, headers and a body, and the status and (for 400s) the
/// path the error must name.
type BidCase = (
    &'static str,
    Vec<(&'static str, &'static str)>,
    Vec<u8>,
    u16,
    Option<&'static str>,
);

fn bid_cases() -> Vec<BidCase> {
    let json_ct = vec![("content-type", "application/json")];
    let gz = vec![
        ("content-type", "application/json"),
        ("content-encoding", "gzip"),
    ];
    let full = gzip(&banner());
    vec![
        ("malformed JSON", json_ct.clone(), br#"{"id": "x", "imp": [{"id": "1",}]}"#.to_vec(), 400, None),
        // Wrong types elsewhere are read leniently (tests/liberal.rs); in
        // what no answer can do without they are errors.
        ("wrong type", json_ct.clone(), br#"{"id": "x", "imp": [{"id": 1, "banner": {"w": "wide", "h": 250}}]}"#.to_vec(), 400, Some("imp[0].id")),
        ("number beyond any integer", json_ct.clone(), br#"{"id": 99999999999999999999999, "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}]}"#.to_vec(), 400, Some("id")),
        ("number beyond a double", json_ct.clone(), br#"{"id": "x", "imp": [{"id": "1", "banner": {"w": 300, "h": 250}, "bidfloor": 1e400}]}"#.to_vec(), 400, None),
        ("deep nesting", json_ct.clone(), format!(r#"{{"id": "x", "imp": [{{"id": "1", "banner": {{"w": 300, "h": 250}}}}], "ext": {{"deep": {}}}}}"#, nested(100_000)).into_bytes(), 400, None),
        ("duplicate key", json_ct.clone(), br#"{"id": "x", "id": "y", "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}]}"#.to_vec(), 400, Some("id")),
        ("invalid UTF-8", json_ct.clone(), b"{\"id\": \"\xff\xfe\", \"imp\": [{\"id\": \"1\", \"banner\": {\"w\": 300, \"h\": 250}}]}".to_vec(), 400, None),
        ("truncated gzip", gz.clone(), full[..full.len() / 2].to_vec(), 400, Some("$")),
        ("not gzip at all", gz.clone(), b"plainly not gzip".to_vec(), 400, Some("$")),
        ("gzip bomb", gz.clone(), gzip(&vec![b' '; 64 * 1024 * 1024]), 413, None),
        ("oversized body", json_ct.clone(), vec![b' '; 300 * 1024], 413, None),
        ("unknown content encoding", vec![("content-encoding", "br")], banner(), 415, None),
        ("form body", vec![("content-type", "application/x-www-form-urlencoded")], b"id=x".to_vec(), 415, None),
    ]
}

#[tokio::test]
async fn every_bad_bid_request_gets_a_clear_error_and_changes_nothing() {
    let server = TestServer::demo().await;
    let before = stored(&server).await;
    for (name, headers, body, status, path) in bid_cases() {
        let reply = server
            .request(Method::POST, "/openrtb2/bid", &headers, body)
            .await;
        assert_eq!(
            reply.status,
            status,
            "{name}: {:?}",
            String::from_utf8_lossy(&reply.body)
        );
        let err = reply.json();
        assert!(
            err["error"].is_string() && err["message"].is_string(),
            "{name}: {err}"
        );
        if let Some(p) = path {
            assert_eq!(err["path"], p, "{name}: {err}");
        }
        if status == 400 {
            assert!(err["path"].is_string(), "{name} names no path: {err}");
        }
    }
    // Nothing stored moved, and the same endpoint still bids (after the
    // comparison: a bid reserves budget).
    assert!(stored(&server).await == before, "stored data changed");
    assert_eq!(server.bid(banner()).await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn every_bad_admin_write_gets_a_clear_error_and_changes_nothing() {
    let server = TestServer::demo().await;
    let token = server.admin_token().to_owned();
    let before = stored(&server).await;
    let current = server
        .api(Method::GET, "/api/v1/campaigns/1", Some(&token), None)
        .await;
    let etag = current.header("etag").unwrap().to_owned();
    let mut good = current.json();
    for k in ["id", "created_at", "updated_at", "version"] {
        good.as_object_mut().unwrap().remove(k);
    }
    let with = |change: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        change(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    let cases: Vec<(&str, &str, Vec<u8>, u16)> = vec![
        (
            "malformed JSON",
            "application/json",
            b"{\"name\": ".to_vec(),
            400,
        ),
        (
            "wrong type",
            "application/json",
            with(&|v| v["base_cpm_micros"] = json!("lots")),
            422,
        ),
        (
            "huge number",
            "application/json",
            with(&|v| v["daily_budget_micros"] = json!(1e300)),
            422,
        ),
        (
            "number beyond any integer",
            "application/json",
            {
                let text = String::from_utf8(with(&|_| {})).unwrap();
                text.replacen(
                    "\"max_cpm_micros\":",
                    "\"max_cpm_micros\":123456789012345678901234567890,\"x\":",
                    1,
                )
                .into_bytes()
            },
            422,
        ),
        (
            "deep nesting",
            "application/json",
            format!(r#"{{"name": {}}}"#, nested(100_000)).into_bytes(),
            422,
        ),
        (
            "duplicate key",
            "application/json",
            {
                let text = String::from_utf8(with(&|_| {})).unwrap();
                text.replacen('{', "{\"name\":\"first\",", 1).into_bytes()
            },
            422,
        ),
        (
            "invalid UTF-8",
            "application/json",
            b"{\"name\": \"\xff\"}".to_vec(),
            400,
        ),
        (
            "oversized",
            "application/json",
            vec![b' '; 5 * 1024 * 1024],
            413,
        ),
        ("wrong content type", "text/csv", with(&|_| {}), 415),
    ];
    let auth = format!("Bearer {token}");
    for (name, ct, body, status) in cases {
        let reply = server
            .request(
                Method::PUT,
                "/api/v1/campaigns/1",
                &[
                    ("content-type", ct),
                    ("authorization", &auth),
                    ("if-match", &etag),
                ],
                body,
            )
            .await;
        assert_eq!(
            reply.status,
            status,
            "{name}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        let err = reply.json();
        assert!(err["error"].is_string(), "{name}: {err}");
        if status == 422 {
            assert!(
                !err["fields"].as_array().unwrap().is_empty(),
                "{name}: {err}"
            );
        }
    }
    // Unknown routes and methods.
    for (method, path, status) in [
        (Method::GET, "/nowhere", 404),
        (Method::GET, "/api/v1/nowhere", 404),
        (Method::GET, "/api/v1/campaigns/abc", 404),
        (Method::PATCH, "/api/v1/advertisers/1", 405),
        (Method::GET, "/openrtb2/bid", 405),
        (Method::POST, "/healthz", 405),
        (Method::DELETE, "/events/win", 404),
    ] {
        let reply = server.api(method.clone(), path, Some(&token), None).await;
        assert_eq!(reply.status, status, "{method} {path}");
        assert!(reply.json()["error"].is_string(), "{method} {path}");
    }
    assert!(stored(&server).await == before, "stored data changed");
    server.stop().await;
}
