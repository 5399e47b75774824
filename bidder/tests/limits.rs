//! Slow clients, many clients and more load than the server can take: each
//! limit tried with the clients it exists for, against the real server.

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, fixture};
use http::Method;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The demo banner request with `tmax` set, its imp not secure (the test
/// bidder's URL is http, and secure imps get no bid from it).
fn banner(tmax: u64) -> Vec<u8> {
    let mut v: Value =
        serde_json::from_slice(&fixture("requests/01-openrtb26-site-banner-format.json")).unwrap();
    v["tmax"] = tmax.into();
    v["imp"][0].as_object_mut().unwrap().remove("secure");
    serde_json::to_vec(&v).unwrap()
}

fn addr(server: &TestServer) -> String {
    server.base.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection or `within` passes; what
/// was read, and whether it closed.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let end = Instant::now() + within;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into(), false),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_clients_are_cut_off_and_normal_bids_stay_within_tmax() {
    let server = TestServer::start(true, |c| {
        c.header_read_timeout = Duration::from_millis(600);
        c.body_read_timeout = Duration::from_millis(600);
    })
    .await;
    let target = addr(&server);

    // 150 clients trickling headers one byte at a time, 50 sending a body
    // they announced as 1,000 bytes one byte at a time.
    let mut slow = Vec::new();
    for i in 0..200 {
        let target = target.clone();
        slow.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(&target).await.unwrap();
            let trickle: Vec<u8> = if i < 150 {
                b"POST /openrtb2/bid HTTP/1.1\r\nhost: x\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec()
            } else {
                s.write_all(b"POST /openrtb2/bid HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n")
                    .await
                    .unwrap();
                vec![b' '; 60]
            };
            for byte in trickle {
                if s.write_all(&[byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            read_until_closed(&mut s, Duration::from_secs(5)).await
        }));
    }

    // Meanwhile an exchange keeps bidding on its own keep-alive connection.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let body = banner(300);
    let mut slowest = Duration::ZERO;
    for _ in 0..100 {
        let started = Instant::now();
        let reply = server.bid(body.clone()).await;
        slowest = slowest.max(started.elapsed());
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        slowest < Duration::from_millis(300),
        "slowest bid took {slowest:?}, past its tmax of 300 ms"
    );

    // Every slow client was cut off long before it finished trickling
    // (3 s): header trickles when the header timeout passed, body trickles
    // with a 408 once the body timeout passed.
    for (i, task) in slow.into_iter().enumerate() {
        let (answer, closed) = task.await.unwrap();
        assert!(closed, "slow client {i} was never disconnected");
        if i >= 150 {
            assert!(
                answer.starts_with("HTTP/1.1 408"),
                "body trickler {i} got {answer:?}"
            );
            assert!(answer.contains("request_timeout"), "{answer}");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn clients_beyond_max_connections_wait_for_a_free_slot() {
    let server = TestServer::start(true, |c| {
        c.max_connections = 3;
        c.header_read_timeout = Duration::from_millis(400);
    })
    .await;
    let target = addr(&server);
    // Three silent connections take every slot.
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(&target).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;

    // A fourth client is held in the backlog, not answered, until the idle
    // ones time out and free their slots.
    let started = Instant::now();
    let mut fourth = TcpStream::connect(&target).await.unwrap();
    fourth
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let (answer, closed) = read_until_closed(&mut fourth, Duration::from_secs(5)).await;
    let waited = started.elapsed();
    assert!(
        closed && answer.starts_with("HTTP/1.1 200"),
        "{answer:?} after {:?}",
        started.elapsed()
    );
    assert!(
        waited >= Duration::from_millis(300),
        "answered after {waited:?}: the cap did not hold it back"
    );
    for mut s in idle {
        let (_, closed) = read_until_closed(&mut s, Duration::from_secs(2)).await;
        assert!(closed, "an idle connection outlived the header timeout");
    }
    // With the slots free again, the gauge counts only the metrics request.
    let metrics = server.request(Method::GET, "/metrics", &[], "").await;
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(text.contains("\nbidder_connections_open 1\n"), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn bodies_in_other_content_types_get_415_on_bids_and_admin_writes() {
    let server = TestServer::demo().await;
    for ct in [
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "image/png",
    ] {
        let reply = server
            .request(
                Method::POST,
                "/openrtb2/bid",
                &[("content-type", ct)],
                banner(200),
            )
            .await;
        assert_eq!(reply.status, 415, "{ct}");
        assert_eq!(reply.json()["error"], "unsupported_media_type");
        let auth = format!("Bearer {}", server.admin_token());
        let reply = server
            .request(
                Method::POST,
                "/api/v1/campaigns",
                &[("content-type", ct), ("authorization", &auth)],
                "{}",
            )
            .await;
        assert_eq!(reply.status, 415, "{ct}");
    }
    // JSON under its usual names, or no content type at all, is read.
    for ct in [
        Some("application/json; charset=utf-8"),
        Some("text/plain"),
        None,
    ] {
        let headers: Vec<(&str, &str)> = ct.map(|c| ("content-type", c)).into_iter().collect();
        let reply = server
            .request(Method::POST, "/openrtb2/bid", &headers, banner(200))
            .await;
        assert_eq!(reply.status, 200, "{ct:?}");
    }
    server.stop().await;
}

/// Sends `n` bid requests one after another on one keep-alive connection
/// from an OS thread of its own (so they are written while the server's
/// runtime is busy); the status of each.
fn statuses_from_a_thread(
    addr: String,
    body: Vec<u8>,
    n: usize,
) -> std::thread::JoinHandle<Vec<u16>> {
    std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Read, Write};
        let stream = std::net::TcpStream::connect(&addr).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let mut out = Vec::new();
        for _ in 0..n {
            let head = format!(
                "POST /openrtb2/bid HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            writer.write_all(head.as_bytes()).unwrap();
            writer.write_all(&body).unwrap();
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
            let mut length = 0;
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut rest = vec![0u8; length];
            reader.read_exact(&mut rest).unwrap();
            out.push(status);
            std::thread::sleep(Duration::from_millis(3));
        }
        out
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn an_overloaded_server_sheds_with_204_at_once_and_recovers() {
    // 20 ms, not less: on a loaded 2-core CI machine the scheduler alone
    // can hold a request 5 ms, and an idle server must shed nothing.
    let server = TestServer::start(true, |c| {
        c.max_queue_delay = Duration::from_millis(20);
    })
    .await;
    let body = banner(200);
    let statuses = statuses_from_a_thread(addr(&server), body.clone(), 5);
    assert_eq!(
        statuses.join().unwrap(),
        [200; 5],
        "an idle server sheds nothing"
    );

    // A task that holds the only worker thread 60 ms at a time is what a
    // backlog of ready requests looks like: requests wait in the kernel
    // until the runtime gets to them.
    let hog = tokio::spawn(async {
        loop {
            std::thread::sleep(Duration::from_millis(60));
            tokio::task::yield_now().await;
        }
    });
    let statuses = statuses_from_a_thread(addr(&server), body.clone(), 30);
    let statuses = tokio::task::spawn_blocking(move || statuses.join().unwrap())
        .await
        .unwrap();
    hog.abort();
    assert!(
        statuses.iter().all(|s| matches!(s, 200 | 204)),
        "{statuses:?}"
    );
    let shed = statuses.iter().filter(|&&s| s == 204).count();
    assert!(
        shed >= 10,
        "only {shed} of 30 requests shed under a 60 ms backlog: {statuses:?}"
    );

    tokio::time::sleep(Duration::from_millis(50)).await;
    let statuses = statuses_from_a_thread(addr(&server), body.clone(), 5);
    let statuses = tokio::task::spawn_blocking(move || statuses.join().unwrap())
        .await
        .unwrap();
    assert_eq!(statuses, [200; 5], "did not recover");
    let metrics = server.request(Method::GET, "/metrics", &[], "").await;
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    let line =
        format!("bidder_no_bids_total{{exchange=\"default\",reason=\"overloaded\"}} {shed}\n");
    assert!(text.contains(&line), "{line} missing from\n{text}");
    server.stop().await;
}

#[tokio::test]
async fn shedding_off_decides_every_request() {
    let server = TestServer::start(true, |c| c.max_queue_delay = Duration::ZERO).await;
    let hog = tokio::spawn(async {
        for _ in 0..10 {
            std::thread::sleep(Duration::from_millis(20));
            tokio::task::yield_now().await;
        }
    });
    for _ in 0..5 {
        assert_eq!(server.bid(banner(2000)).await.status, 200);
    }
    hog.await.unwrap();
    server.stop().await;
}
