//! What a 2xx promises: the write is on disk. Runs the real `bidder` binary,
//! kills it with SIGKILL right after the answer, and starts it again.

mod common;

use std::time::{Duration, Instant};

use common::TestServer;
use common::process::{admin_token, call, free_port, start, start_with, wait_ready};
use http::Method;
use serde_json::json;

/// Creates an advertiser named `name` on the bidder at `port`; its id.
async fn advertiser(port: u16, token: &str, name: &str) -> i64 {
    let domain = format!("{}.example", name.to_lowercase());
    let adv = call(
        port,
        Method::POST,
        "/api/v1/advertisers",
        token,
        Some(json!({"name": name, "domain": domain})),
    )
    .await;
    assert_eq!(adv.status, 201, "{}", String::from_utf8_lossy(&adv.body));
    adv.json()["id"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_right_after_a_2xx_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let token = admin_token(dir.path());
    assert!(token.starts_with("bdr_"), "{token}");

    let port = free_port();
    let mut child = start(dir.path(), port);
    wait_ready(port).await;
    let adv_id = advertiser(port, &token, "Durable").await;
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
    let token = admin_token(dir.path());
    let port = free_port();
    let mut child = start(dir.path(), port);
    wait_ready(port).await;
    let adv_id = advertiser(port, &token, "Durable").await;
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
    let req = bidder::control::upload_client::UploadRequest {
        file,
        funnel: funnel_id,
        mode: bidder::model::UploadMode::Add,
        url: format!("http://127.0.0.1:{port}"),
        token: token.clone(),
    };
    let upload =
        tokio::spawn(
            async move { bidder::control::upload_client::upload(&req, std::io::sink()).await },
        );

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

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_concurrent_admin_writes_keeps_every_acknowledged_one() {
    let dir = tempfile::tempdir().unwrap();
    let token = admin_token(dir.path());
    let port = free_port();
    let mut child = start(dir.path(), port);
    wait_ready(port).await;
    let adv_id = advertiser(port, &token, "Busy").await;

    // Eight writers create campaigns as fast as they are answered; the
    // server dies under them.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (token, stop) = (token.clone(), std::sync::Arc::clone(&stop));
        writers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let name = format!("w{w}-{n}");
                n += 1;
                let body = common::campaign_body(adv_id, &name);
                let base = format!("http://127.0.0.1:{port}");
                let sent = tokio::time::timeout(
                    Duration::from_secs(2),
                    common::try_call(&base, Method::POST, "/api/v1/campaigns", &token, body),
                )
                .await;
                match sent {
                    Ok(Some((201, v))) => acknowledged.push((v["id"].as_i64().unwrap(), name)),
                    Ok(Some((status, v))) => panic!("{status}: {v}"),
                    // The connection died with the server: no answer, no promise.
                    Ok(None) | Err(_) => break,
                }
            }
            acknowledged
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    for w in writers {
        acknowledged.extend(w.await.unwrap());
    }
    assert!(
        acknowledged.len() >= 8,
        "only {} writes answered",
        acknowledged.len()
    );
    println!(
        "{} campaigns acknowledged before the kill",
        acknowledged.len()
    );

    let port = free_port();
    let mut child = start(dir.path(), port);
    wait_ready(port).await;
    for (id, name) in &acknowledged {
        let got = call(
            port,
            Method::GET,
            &format!("/api/v1/campaigns/{id}"),
            &token,
            None,
        )
        .await;
        assert_eq!(got.status, 200, "acknowledged campaign {id} lost");
        assert_eq!(got.json()["name"], name.as_str());
    }
    // What the store has beyond them are whole campaigns whose answers the
    // kill cut off, never half-written rows.
    let all = call(
        port,
        Method::GET,
        "/api/v1/campaigns?limit=500",
        &token,
        None,
    )
    .await;
    for c in all.json()["items"].as_array().unwrap() {
        assert_eq!(c["targeting"]["sizes"][0]["w"], 123, "{c}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_a_billing_burst_loses_no_acknowledged_spend_and_never_overbooks() {
    let dir = tempfile::tempdir().unwrap();
    let token = admin_token(dir.path());
    let port = free_port();
    let mut child = start_with(dir.path(), port, &["--demo"]);
    wait_ready(port).await;
    let base = format!("http://127.0.0.1:{port}");

    // 400 bids of campaign 1, each with its billing URL.
    let mut bills = Vec::new();
    for i in 0..400 {
        let body = common::demo_banner(&format!("burst-{i}"));
        let reply = common::send(&base, Method::POST, "/openrtb2/bid", "", Some(body)).await;
        assert_eq!(reply.status, 200);
        let bid = reply.json()["seatbid"][0]["bid"][0].clone();
        assert_eq!(bid["cid"], "1");
        // A clearing price of 2.00 CPM books 2,000 micros per bill.
        bills.push(common::filled(
            bid["burl"].as_str().unwrap(),
            &format!("burst-{i}"),
            "2.00",
        ));
    }
    let before = spent(port, &token).await;

    // Sixteen exchange connections fire the bills; the server dies once a
    // hundred of them have been answered.
    let queue = std::sync::Arc::new(std::sync::Mutex::new(bills));
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut senders = Vec::new();
    for _ in 0..16 {
        let (queue, base) = (std::sync::Arc::clone(&queue), base.clone());
        let answered = std::sync::Arc::clone(&answered);
        senders.push(tokio::spawn(async move {
            let (mut sent, mut acked) = (0u64, 0u64);
            loop {
                let Some(path) = queue.lock().unwrap().pop() else {
                    break;
                };
                sent += 1;
                match tokio::time::timeout(
                    Duration::from_secs(2),
                    common::try_send(&base, Method::GET, &path),
                )
                .await
                {
                    Ok(Some(200)) => {
                        acked += 1;
                        answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Ok(Some(status)) => panic!("bill answered {status}"),
                    Ok(None) | Err(_) => break,
                }
            }
            (sent, acked)
        }));
    }
    while answered.load(std::sync::atomic::Ordering::Relaxed) < 100 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let (mut sent, mut acked) = (0, 0);
    for s in senders {
        let (a, b) = s.await.unwrap();
        sent += a;
        acked += b;
    }
    assert!(
        acked > 0 && acked < 400,
        "the kill did not land mid-burst: {acked} acknowledged"
    );

    let port = free_port();
    let mut child = start(dir.path(), port);
    wait_ready(port).await;
    let booked = spent(port, &token).await - before;
    println!("{acked} of {sent} bills sent were acknowledged; {booked} micros booked");
    // Every acknowledged bill is booked; bills without an answer may or may
    // not be; nothing is booked twice or beyond what was sent.
    assert!(
        booked >= acked as i64 * 2_000,
        "lost acknowledged spend: {booked} < {acked} bills"
    );
    assert!(
        booked <= sent as i64 * 2_000,
        "booked {booked} for {sent} bills sent"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Campaign 1's total booked spend, micros.
async fn spent(port: u16, token: &str) -> i64 {
    let reply = call(port, Method::GET, "/api/v1/campaigns/1/budget", token, None).await;
    assert_eq!(reply.status, 200);
    reply.json()["spent_total_micros"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_right_after_acknowledged_notices_of_every_kind_loses_none() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = start_with(dir.path(), port, &["--demo"]);
    wait_ready(port).await;
    let base = format!("http://127.0.0.1:{port}");

    // For each of 20 bids a win, its impression and a click; a loss for
    // each of 10 more; a bill for each of 5 more.
    let (mut first, mut last) = (Vec::new(), Vec::new());
    for i in 0..35 {
        let id = format!("noticed-{i}");
        let reply = common::send(
            &base,
            Method::POST,
            "/openrtb2/bid",
            "",
            Some(common::demo_banner(&id)),
        )
        .await;
        assert_eq!(reply.status, 200);
        let bid = reply.json()["seatbid"][0]["bid"][0].clone();
        let price = format!("{:.6}", bid["price"].as_f64().unwrap());
        let url = |which: &str| common::filled(bid[which].as_str().unwrap(), &id, &price);
        match i {
            0..20 => {
                let imp = common::tracker(bid["adm"].as_str().unwrap(), "/events/imp?");
                let tail = &imp[imp.find("stage=").unwrap()..];
                let (cid, crid) = (bid["cid"].as_str().unwrap(), bid["crid"].as_str().unwrap());
                first.push(url("nurl"));
                first.push(format!("/events/clicktrack?cid={cid}&crid={crid}&{tail}"));
                first.push(imp);
            }
            20..30 => last.push(url("lurl")),
            _ => first.push(url("burl")),
        }
    }
    // Each wave sent all at once, as an exchange and browsers would; the
    // second lands while the first's may still be on their way to disk.
    for wave in [first, last] {
        common::all_acknowledged(&base, wave).await;
    }
    // SIGKILL the moment the last is answered: no flush, no drain.
    child.kill().unwrap();
    child.wait().unwrap();

    let want = common::by_kind(&[
        ("bill", 5),
        ("click", 20),
        ("imp", 20),
        ("loss", 10),
        ("win", 20),
    ]);
    assert_eq!(common::process::events_by_kind(dir.path()), want);
}
