//! Secrets never reach the log: API tokens (good and bad), their hashes and
//! the event-signing keys stay out of everything the binary prints, even
//! at `RUST_LOG=trace`.

mod common;

use std::fs::File;
use std::process::{Command, Stdio};

use common::process::{BIN, admin_token, call, free_port, wait_ready};
use http::Method;
use serde_json::json;
use sha2::{Digest, Sha256};

#[tokio::test(flavor = "multi_thread")]
async fn tokens_and_signing_keys_never_appear_in_the_log_even_at_trace() {
    let dir = tempfile::tempdir().unwrap();
    let key = "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7";
    let config = dir.path().join("bidder.toml");
    std::fs::write(&config, format!("[events]\nkeys = [\"{key}\"]\n")).unwrap();
    let token = admin_token(dir.path());
    let wrong = format!("{}x", &token[..token.len() - 1]);
    let log_path = dir.path().join("stderr.log");
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "--demo"])
        .args(["--data-dir", dir.path().to_str().unwrap()])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "trace")
        .stdout(Stdio::from(
            File::create(dir.path().join("stdout.log")).unwrap(),
        ))
        .stderr(Stdio::from(File::create(&log_path).unwrap()))
        .spawn()
        .unwrap();
    wait_ready(port).await;

    // Good and bad tokens on reads, writes and refusals; a bid and its
    // notices, whose URLs carry tokens signed with the key.
    let ok = call(port, Method::GET, "/api/v1/campaigns", &token, None).await;
    assert_eq!(ok.status, 200);
    let refused = call(port, Method::GET, "/api/v1/campaigns", &wrong, None).await;
    assert_eq!(refused.status, 401);
    let written = call(
        port,
        Method::POST,
        "/api/v1/advertisers",
        &token,
        Some(json!({"name": "Logged", "domain": "logged.example"})),
    )
    .await;
    assert_eq!(written.status, 201);
    let bad_write = call(
        port,
        Method::POST,
        "/api/v1/advertisers",
        &token,
        Some(json!({"name": ""})),
    )
    .await;
    assert_eq!(bad_write.status, 422);
    let bid = call(
        port,
        Method::POST,
        "/openrtb2/bid",
        "",
        Some(json!({
            "id": "logged-1",
            "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}],
            "site": {"id": "s1", "domain": "news.example"},
            "device": {"ua": "Mozilla/5.0", "ip": "203.0.113.7"},
            "user": {"buyeruid": "demo-intent"},
            "tmax": 1000
        })),
    )
    .await;
    assert_eq!(bid.status, 200);
    let nurl = bid.json()["seatbid"][0]["bid"][0]["nurl"].clone();
    let path = common::filled(nurl.as_str().unwrap(), "logged-1", "1.50");
    let won = call(port, Method::GET, &path, "", None).await;
    assert_eq!(won.status, 200);
    let forged = path.replacen("&t=", "&t=A", 1);
    assert_eq!(call(port, Method::GET, &forged, "", None).await.status, 403);

    child.kill().unwrap();
    child.wait().unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap()
        + &std::fs::read_to_string(dir.path().join("stdout.log")).unwrap();
    // The requests above are in the log, refusals included, so there was
    // something to leak.
    assert!(
        log.contains("/api/v1/campaigns") && log.contains("status=401"),
        "the requests are not logged: {log}"
    );
    let hash = hex::encode(Sha256::digest(token.as_bytes()));
    let secret_part = token.trim_start_matches("bdr_");
    for (what, secret) in [
        ("admin token", secret_part),
        ("refused token", wrong.trim_start_matches("bdr_")),
        ("token hash", hash.as_str()),
        ("signing key", key),
    ] {
        assert!(!log.contains(secret), "the {what} is in the log");
    }
}
