//! Graceful shutdown on the real server: bid requests already in flight
//! are answered in full, and counters still on their way to the store
//! (queued impressions, report counts, reservations) are written before
//! `run` returns.

mod common;

use std::time::Duration;

use bidder::model::{CampaignId, EventKind};
use bidder::store::Store;
use common::{TestServer, tracker};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The demo's intent user asking for a 300x250 (campaign 1's banner),
/// with time to spare for a server that is shutting down.
fn request(id: &str) -> Vec<u8> {
    let mut body = common::demo_banner(id);
    body["tmax"] = json!(2000);
    serde_json::to_vec(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_bids_in_flight_and_writes_queued_counters() {
    let server = TestServer::start(true, |c| {
        // Nothing would reach the report tables before shutdown on its own.
        c.events.report_flush = Duration::from_secs(3600);
        c.shutdown_grace = Duration::from_secs(5);
    })
    .await;
    let addr = server.base.trim_start_matches("http://").to_string();

    // Bids whose impressions will be the last thing the server hears.
    let mut pixels = Vec::new();
    for i in 0..20 {
        let reply = server.bid(request(&format!("imp-{i}"))).await;
        assert_eq!(reply.status, 200);
        let bid: Value = reply.json()["seatbid"][0]["bid"][0].clone();
        assert_eq!(bid["cid"], "1");
        pixels.push(tracker(bid["adm"].as_str().unwrap(), "/events/imp"));
    }

    // Twenty bid requests in flight: headers and half the body sent.
    let mut in_flight = Vec::new();
    for i in 0..20 {
        let body = request(&format!("flight-{i}"));
        let mut s = TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /openrtb2/bid HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&body[..body.len() / 2]).await.unwrap();
        in_flight.push((s, body));
    }
    for path in &pixels {
        assert_eq!(
            server
                .request(http::Method::GET, path, &[], Vec::new())
                .await
                .status,
            200
        );
    }
    tokio::time::sleep(Duration::from_millis(50)).await;

    let data_dir = server.data_dir.clone();
    let stopping = tokio::spawn(server.stop_keeping_data());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!stopping.is_finished(), "stopped with requests in flight");

    // The rest of each body arrives after shutdown began: every request is
    // still answered in full, with its bid.
    for (mut s, body) in in_flight {
        s.write_all(&body[body.len() / 2..]).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut answer))
            .await
            .expect("answered before the grace period")
            .unwrap();
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        let json_at = text.find("\r\n\r\n").unwrap() + 4;
        let v: Value = serde_json::from_str(&text[json_at..]).unwrap();
        assert_eq!(v["seatbid"][0]["bid"][0]["cid"], "1", "{v}");
    }
    let dir = stopping.await.unwrap();

    // Everything the cold path still held is in the store now.
    let store = Store::open(&data_dir).unwrap();
    assert_eq!(
        store
            .event_count(CampaignId(1), EventKind::Impression)
            .unwrap(),
        20,
        "impressions queued at shutdown were lost"
    );
    let db = rusqlite::Connection::open(data_dir.join(bidder::store::DB_FILE)).unwrap();
    let bids: i64 = db
        .query_row(
            "SELECT COALESCE(SUM(bids), 0) FROM report_minutes WHERE campaign_id = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(bids, 40, "report counts were not written at shutdown");
    let held: i64 = db
        .query_row("SELECT COUNT(*) FROM budget_reservations", [], |r| r.get(0))
        .unwrap();
    assert!(
        held > 0,
        "reservations of the bids in flight were not checkpointed"
    );
    drop(dir);
}
