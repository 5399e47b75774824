//! What a 2xx promises: the write is on disk. Runs the real `bidder` binary,
//! kills it with SIGKILL right after the answer, and starts it again.

mod common;

use std::net::TcpListener as StdListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Reply, TestServer};
use http::Method;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_bidder");

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(dir: &Path, port: u16) -> Child {
    Command::new(BIN)
        .args([
            "--data-dir",
            dir.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn call(
    port: u16,
    method: Method,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> Reply {
    common::send(
        &format!("http://127.0.0.1:{port}"),
        method,
        path,
        token,
        body,
    )
    .await
}

async fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(r)) = tokio::time::timeout(
            Duration::from_secs(1),
            common::try_send(&format!("http://127.0.0.1:{port}"), Method::GET, "/readyz"),
        )
        .await
            && r == 200
        {
            return;
        }
        assert!(Instant::now() < deadline, "bidder did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_right_after_a_2xx_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "--data-dir",
            dir.path().to_str().unwrap(),
            "token",
            "create",
            "--role",
            "admin",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("bdr_"), "{token}");

    let port = free_port();
    let mut child = start(dir.path(), port);
    wait_ready(port).await;
    let adv = call(
        port,
        Method::POST,
        "/api/v1/advertisers",
        &token,
        Some(json!({"name": "Durable", "domain": "durable.example"})),
    )
    .await;
    assert_eq!(adv.status, 201, "{}", String::from_utf8_lossy(&adv.body));
    let adv_id = adv.json()["id"].as_i64().unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let c = call(
            port,
            Method::POST,
            "/api/v1/campaigns",
            &token,
            Some(common::campaign_body(adv_id, &format!("c{i}"))),
        )
        .await;
        assert_eq!(c.status, 201);
        ids.push(c.json()["id"].as_i64().unwrap());
    }
    // SIGKILL: no destructor, no flush, no checkpoint runs.
    child.kill().unwrap();
    child.wait().unwrap();

    let port = free_port();
    let mut child = start(dir.path(), port);
    wait_ready(port).await;
    for id in &ids {
        let got = call(
            port,
            Method::GET,
            &format!("/api/v1/campaigns/{id}"),
            &token,
            None,
        )
        .await;
        assert_eq!(got.status, 200, "campaign {id} lost");
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn restart_keeps_every_campaign() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), true, |_| {}).await;
    let admin = server.admin_token().to_string();
    let before = server
        .api(
            Method::GET,
            "/api/v1/campaigns?limit=500",
            Some(&admin),
            None,
        )
        .await
        .json();
    server.stop().await;

    let server = TestServer::start_in(dir.path(), true, |_| {}).await;
    assert!(
        server.tokens.is_none(),
        "demo data must not be seeded twice"
    );
    let after = server
        .api(
            Method::GET,
            "/api/v1/campaigns?limit=500",
            Some(&admin),
            None,
        )
        .await
        .json();
    assert_eq!(before["items"], after["items"]);
    assert!(!after["items"].as_array().unwrap().is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_an_upload_leaves_an_interrupted_job_that_says_what_was_applied() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["--data-dir", dir.path().to_str().unwrap()])
        .args(["token", "create", "--role", "admin"])
        .output()
        .unwrap();
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let port = free_port();
    let mut child = start(dir.path(), port);
    wait_ready(port).await;
    let adv = call(
        port,
        Method::POST,
        "/api/v1/advertisers",
        &token,
        Some(json!({"name": "Durable", "domain": "durable.example"})),
    )
    .await;
    let adv_id = adv.json()["id"].as_i64().unwrap();
    let funnel = call(
        port,
        Method::POST,
        "/api/v1/funnels",
        &token,
        Some(json!({"advertiser_id": adv_id, "name": "F"})),
    )
    .await;
    assert_eq!(funnel.status, 201);
    let funnel_id = funnel.json()["id"].as_u64().unwrap() as u32;

    // Far more rows than arrive before the kill.
    let file = dir.path().join("big.csv");
    let rows: String = (0..2_000_000)
        .map(|i| format!("user_id,u-{i},intent\n"))
        .collect();
    std::fs::write(&file, rows).unwrap();
    let req = bidder::upload_client::UploadRequest {
        file,
        funnel: funnel_id,
        mode: bidder::model::UploadMode::Add,
        url: format!("http://127.0.0.1:{port}"),
        token: token.clone(),
    };
    let upload =
        tokio::spawn(async move { bidder::upload_client::upload(&req, std::io::sink()).await });

    let jobs = format!("/api/v1/jobs?funnel_id={funnel_id}");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let page = call(port, Method::GET, &jobs, &token, None).await.json();
        if page["items"][0]["rows_accepted"].as_u64().unwrap_or(0) > 0 {
            assert_eq!(page["items"][0]["status"], "running");
            break;
        }
        assert!(Instant::now() < deadline, "no chunk committed in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        upload.await.unwrap().is_err(),
        "the upload cannot have finished"
    );

    let port = free_port();
    let mut child = start(dir.path(), port);
    wait_ready(port).await;
    let page = call(port, Method::GET, &jobs, &token, None).await.json();
    let job = &page["items"][0];
    assert_eq!(job["status"], "interrupted", "{job}");
    let applied = job["rows_accepted"].as_u64().unwrap();
    assert!(applied > 0 && applied < 2_000_000, "{job}");
    // Every counted row is there, and nothing beyond: rows up to last_line.
    assert_eq!(job["last_line"].as_u64(), Some(applied), "{job}");
    let f = call(
        port,
        Method::GET,
        &format!("/api/v1/funnels/{funnel_id}"),
        &token,
        None,
    )
    .await
    .json();
    assert_eq!(f["members_total"].as_u64(), Some(applied), "{f}");
    let last = call(
        port,
        Method::GET,
        &format!(
            "/api/v1/funnels/{funnel_id}/members/user_id/u-{}",
            applied - 1
        ),
        &token,
        None,
    )
    .await;
    assert_eq!(last.status, 200);
    let next = call(
        port,
        Method::GET,
        &format!("/api/v1/funnels/{funnel_id}/members/user_id/u-{applied}"),
        &token,
        None,
    )
    .await;
    assert_eq!(next.status, 404);
    child.kill().unwrap();
    child.wait().unwrap();
}
