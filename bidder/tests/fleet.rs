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
    let changed = Instant::now();
    edit_all(&fleet, |c| c["status"] = json!("paused")).await;
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

/// Edits every campaign on the control instance with `edit`.
async fn edit_all(fleet: &Fleet, edit: impl Fn(&mut Value)) {
    let list = call(
        fleet.control.port,
        Method::GET,
        "/api/v1/campaigns?limit=500",
        &fleet.token,
        None,
    )
    .await
    .json();
    for c in list["items"].as_array().unwrap() {
        let mut body = c.clone();
        let id = body["id"].as_i64().unwrap();
        for k in ["id", "created_at", "updated_at"] {
            body.as_object_mut().unwrap().remove(k);
        }
        edit(&mut body);
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
}

/// The campaigns `node` bids with for a banner to `user`.
async fn campaigns_for(node: &Node, id: &str, user: &str) -> (Vec<String>, Value) {
    let mut request = banner(id);
    request["user"] = json!({"buyeruid": user});
    let reply = common::send(
        &node.base(),
        Method::POST,
        "/openrtb2/bid",
        "none",
        Some(request),
    )
    .await;
    if reply.status != 200 {
        return (Vec::new(), Value::Null);
    }
    let answer = reply.json();
    let cids = answer["seatbid"][0]["bid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["cid"].as_str().unwrap().to_string())
        .collect();
    (cids, answer)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_one_a_day_cap_holds_on_every_instance_within_2s_of_the_impression() {
    if !available("the fleet tests") {
        return;
    }
    let fleet = Fleet::start(2).await;
    edit_all(&fleet, |c| {
        c["frequency"] = json!({"caps": [{"impressions": 1, "window": "day"}]});
    })
    .await;
    let (shown, answer) = campaigns_for(&fleet.bidders[0], "cap-1", "cap-user").await;
    let campaign = shown.first().expect("a bid for a new user").clone();
    // Before the impression the other instance bids that campaign too.
    let (before, _) = campaigns_for(&fleet.bidders[1], "cap-2", "cap-user").await;
    assert!(before.contains(&campaign), "{before:?}");
    let adm = answer["seatbid"][0]["bid"][0]["adm"].as_str().unwrap();
    let imp = common::tracker(adm, "/events/imp?");
    assert_eq!(get(&fleet.bidders[0], &imp).await, Some(200));
    // The impression reached bid instance 0; instance 1 and the control
    // stop bidding the campaign for that user within 2 s.
    let shown_at = Instant::now();
    for node in [&fleet.bidders[1], &fleet.control] {
        loop {
            let (now, _) = campaigns_for(node, "cap-3", "cap-user").await;
            if !now.contains(&campaign) {
                break;
            }
            assert!(
                shown_at.elapsed() < Duration::from_secs(2),
                "campaign {campaign} still bid for a capped user 2 s after its impression"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Other users are not capped.
    let (other, _) = campaigns_for(&fleet.bidders[1], "cap-4", "someone-else").await;
    assert!(other.contains(&campaign), "{other:?}");
}

/// A notice URL of `answer`'s bid (`nurl`, `burl` or `lurl`) as the
/// exchange calls it, at the bid's own price.
fn notice(answer: &Value, which: &str, request_id: &str) -> String {
    let bid = &answer["seatbid"][0]["bid"][0];
    let price = format!("{:.6}", bid["price"].as_f64().unwrap());
    common::filled(bid[which].as_str().unwrap(), request_id, &price)
}

/// What one impression at the bid's price costs, in micros (as billed).
fn cost_of(answer: &Value) -> i64 {
    let cpm = (answer["seatbid"][0]["bid"][0]["price"].as_f64().unwrap() * 1e6).round() as i64;
    (cpm + 999) / 1_000
}

/// The status of `GET path` on `node`.
async fn get(node: &Node, path: &str) -> Option<u16> {
    common::try_send(&node.base(), Method::GET, path).await
}

/// Campaign `id`'s booked spend in all, as the control instance has it.
async fn spent(fleet: &Fleet, id: &str) -> i64 {
    let reply = call(
        fleet.control.port,
        Method::GET,
        &format!("/api/v1/campaigns/{id}/budget"),
        &fleet.token,
        None,
    )
    .await;
    assert_eq!(reply.status, 200);
    reply.json()["spent_total_micros"].as_i64().unwrap()
}

/// Waits up to `within` for campaign `id`'s spend to be `expected`, and
/// asserts it is, then and a moment later (counted once, not more).
async fn spend_reaches(fleet: &Fleet, id: &str, expected: i64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let now = spent(fleet, id).await;
        if now == expected {
            break;
        }
        assert!(
            now < expected,
            "campaign {id} booked {now}, more than {expected}"
        );
        assert!(
            Instant::now() < deadline,
            "campaign {id} booked {now} of {expected} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(spent(fleet, id).await, expected, "booked more than once");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bill_is_counted_once_fleet_wide_wherever_it_and_its_replays_arrive() {
    if !available("the fleet tests") {
        return;
    }
    let fleet = Fleet::start(2).await;
    let nodes: Vec<&Node> = fleet.every_node().collect();
    let mut by_campaign = std::collections::BTreeMap::<String, i64>::new();
    for i in 0..6 {
        let id = format!("once-{i}");
        let (status, answer) = bid(nodes[i % 3], &id).await;
        assert_eq!(status, 200);
        let campaign = answer["seatbid"][0]["bid"][0]["cid"]
            .as_str()
            .unwrap()
            .to_string();
        let bill = notice(&answer, "burl", &id);
        // Billed through one instance, replayed through another.
        assert_eq!(get(nodes[(i + 1) % 3], &bill).await, Some(200));
        assert_eq!(get(nodes[(i + 2) % 3], &bill).await, Some(200));
        *by_campaign.entry(campaign).or_default() += cost_of(&answer);
    }
    for (campaign, expected) in &by_campaign {
        spend_reaches(&fleet, campaign, *expected, Duration::from_secs(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_killed_and_restarted_mid_traffic_loses_no_acknowledged_bill() {
    if !available("the fleet tests") {
        return;
    }
    let mut fleet = Fleet::start(2).await;
    let mut answers = Vec::new();
    for i in 0..4 {
        let id = format!("outage-{i}");
        let (status, answer) = bid(&fleet.bidders[i % 2], &id).await;
        assert_eq!(status, 200);
        answers.push((id, answer));
    }
    fleet.redis.kill();
    // Redis away: bids are answered (never 5xx, well inside tmax) and
    // bills acknowledged from the spool.
    for i in 0..20 {
        let started = Instant::now();
        let (status, _) = bid(&fleet.bidders[i % 2], &format!("during-{i}")).await;
        assert!(status == 200 || status == 204, "status {status}");
        assert!(started.elapsed() < Duration::from_millis(500));
    }
    let mut expected = std::collections::BTreeMap::<String, i64>::new();
    for (i, (id, answer)) in answers.iter().enumerate() {
        let bill = notice(answer, "burl", id);
        assert_eq!(get(&fleet.bidders[(i + 1) % 2], &bill).await, Some(200));
        let campaign = answer["seatbid"][0]["bid"][0]["cid"].as_str().unwrap();
        *expected.entry(campaign.to_string()).or_default() += cost_of(answer);
    }
    let spool = metric(&fleet.bidders[0], "bidder_spool_depth").await
        + metric(&fleet.bidders[1], "bidder_spool_depth").await;
    assert_eq!(spool, 4.0, "every bill waits in a spool");
    fleet.redis.restart();
    let back = Instant::now();
    for (campaign, spend) in &expected {
        spend_reaches(&fleet, campaign, *spend, Duration::from_secs(10)).await;
    }
    assert!(back.elapsed() < Duration::from_secs(12));
    // Replayed after the return: still counted once.
    for (id, answer) in &answers {
        assert_eq!(
            get(&fleet.bidders[0], &notice(answer, "burl", id)).await,
            Some(200)
        );
    }
    for (campaign, spend) in &expected {
        spend_reaches(&fleet, campaign, *spend, Duration::from_secs(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bid_instance_killed_right_after_acknowledging_bills_loses_none() {
    if !available("the fleet tests") {
        return;
    }
    let mut fleet = Fleet::start(2).await;
    let mut expected = std::collections::BTreeMap::<String, i64>::new();
    for i in 0..5 {
        let id = format!("killed-{i}");
        let (status, answer) = bid(&fleet.bidders[0], &id).await;
        assert_eq!(status, 200);
        assert_eq!(
            get(&fleet.bidders[0], &notice(&answer, "burl", &id)).await,
            Some(200)
        );
        let campaign = answer["seatbid"][0]["bid"][0]["cid"].as_str().unwrap();
        *expected.entry(campaign.to_string()).or_default() += cost_of(&answer);
    }
    // SIGKILL: no flush, no drain, no goodbye.
    let killed = fleet.bidders.remove(0);
    drop(killed);
    for (campaign, spend) in &expected {
        spend_reaches(&fleet, campaign, *spend, Duration::from_secs(5)).await;
    }
    // The other bid instance keeps bidding.
    assert_eq!(bid(&fleet.bidders[0], "after-kill").await.0, 200);
}

/// A sample of `/metrics` on `node`.
async fn metric(node: &Node, sample: &str) -> f64 {
    let reply = common::send(&node.base(), Method::GET, "/metrics", "none", None).await;
    let text = String::from_utf8(reply.body.to_vec()).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{sample} not in /metrics"))
}
