//! A fleet on loopback: a Redis of its own, a control instance with the
//! demo data and bid instances, each the real `bidder` binary. Skipped
//! (with a note) where `redis-server` is not installed, except under CI.

mod common;

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use common::process::{BIN, admin_token, call, free_port, wait_ready};
use common::redis::{RedisServer, available};
use http::Method;
use serde_json::{Value, json};

/// A running `bidder` and its port; killed (SIGKILL) when dropped.
struct Node {
    port: u16,
    child: Child,
}

impl Node {
    fn start(dir: &Path, redis: &str, extra: &[&str]) -> Node {
        let port = free_port();
        let child = std::process::Command::new(BIN)
            .args(["--data-dir", dir.to_str().unwrap()])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--redis", redis])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Node { port, child }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Redis, a control instance with the demo data, and `bids` bid
/// instances, all ready; with the admin token.
struct Fleet {
    redis: RedisServer,
    control: Node,
    bidders: Vec<Node>,
    token: String,
    _dirs: Vec<tempfile::TempDir>,
}

impl Fleet {
    async fn start(bids: usize) -> Fleet {
        let redis_dir = tempfile::tempdir().unwrap();
        let redis = RedisServer::start(redis_dir.path());
        let control_dir = tempfile::tempdir().unwrap();
        let token = admin_token(control_dir.path());
        let control = Node::start(control_dir.path(), &redis.url(), &["--demo"]);
        wait_ready(control.port).await;
        let mut dirs = vec![redis_dir, control_dir];
        let mut bidders = Vec::new();
        for _ in 0..bids {
            let dir = tempfile::tempdir().unwrap();
            bidders.push(Node::start(dir.path(), &redis.url(), &["--bid-only"]));
            dirs.push(dir);
        }
        for b in &bidders {
            wait_ready(b.port).await;
        }
        Fleet {
            redis,
            control,
            bidders,
            token,
            _dirs: dirs,
        }
    }

    fn every_node(&self) -> impl Iterator<Item = &Node> {
        std::iter::once(&self.control).chain(&self.bidders)
    }
}

/// A banner request the demo's campaigns bid on.
fn banner(id: &str) -> Value {
    json!({
        "id": id,
        "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}],
        "site": {"domain": "news.example", "page": "https://news.example/a"},
        "device": {"ua": "Mozilla/5.0", "ip": "203.0.113.7", "geo": {"country": "USA"}},
        "at": 1,
        "tmax": 500
    })
}

/// The status of a bid request to `node`, and the answer.
async fn bid(node: &Node, id: &str) -> (u16, Value) {
    let reply = common::send(
        &node.base(),
        Method::POST,
        "/openrtb2/bid",
        "none",
        Some(banner(id)),
    )
    .await;
    let body = if reply.status == 200 {
        reply.json()
    } else {
        Value::Null
    };
    (reply.status, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_instance_bids_and_a_change_on_the_control_is_live_on_all_within_2s() {
    if !available("the fleet tests") {
        return;
    }
    let fleet = Fleet::start(2).await;
    for (i, node) in fleet.every_node().enumerate() {
        let (status, answer) = bid(node, &format!("all-{i}")).await;
        assert_eq!(status, 200, "instance {i} did not bid");
        assert!(answer["seatbid"][0]["bid"][0]["price"].as_f64().unwrap() > 0.0);
    }

    // A bid instance has no admin API: it names the control instance.
    let refused = call(
        fleet.bidders[0].port,
        Method::GET,
        "/api/v1/campaigns",
        &fleet.token,
        None,
    )
    .await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.json()["control_url"], fleet.control.base());

    // Pausing every campaign on the control instance stops the bids of
    // every instance within 2 s.
    let list = call(
        fleet.control.port,
        Method::GET,
        "/api/v1/campaigns?limit=500",
        &fleet.token,
        None,
    )
    .await
    .json();
    let changed = Instant::now();
    for c in list["items"].as_array().unwrap() {
        let mut body = c.clone();
        let id = body["id"].as_i64().unwrap();
        for k in ["id", "created_at", "updated_at"] {
            body.as_object_mut().unwrap().remove(k);
        }
        body["status"] = json!("paused");
        let put = call(
            fleet.control.port,
            Method::PUT,
            &format!("/api/v1/campaigns/{id}"),
            &fleet.token,
            Some(body),
        )
        .await;
        assert_eq!(put.status, 200, "{}", put.json());
    }
    for (i, node) in fleet.bidders.iter().enumerate() {
        loop {
            let (status, _) = bid(node, "after-pause").await;
            if status == 204 {
                break;
            }
            assert!(
                changed.elapsed() < Duration::from_secs(2),
                "bid instance {i} still bids 2 s after the change"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert!(common::redis::ping(fleet.redis.port));
}
