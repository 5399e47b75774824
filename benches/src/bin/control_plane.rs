//! What one campaign write costs as the catalog grows: the median time of
//! `PUT /api/v1/campaigns/{id}` through the admin API (authentication,
//! validation, the SQLite commit, the publish that the bid snapshot
//! follows), at 1,000 and at 10,000 campaigns, and the ratio of the two.
//!
//! `cargo run --release -p benches --bin control_plane [-- WRITES]`
//!
//! Each catalog is seeded into a fresh store in a temporary folder
//! (`synthetic_catalog`: one banner creative per campaign), then a real
//! instance is started on it; the writes go through `Admin::handle` on this
//! thread, so the figure is the server's work without the socket.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bidder::Instance;
use bidder::config::Config;
use bidder::control::auth::{self, Role};
use bidder::store::Store;
use http::{HeaderMap, HeaderValue, Method};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Median time of `writes` campaign updates with `n` campaigns.
fn median_write(n: usize, writes: usize) -> (Duration, usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("store");
    let catalog = benches::synthetic_catalog(n);
    let advertiser = store
        .create_advertiser(&catalog.advertisers[0])
        .expect("advertiser");
    let mut ids = Vec::with_capacity(n);
    for (c, cr) in catalog.campaigns.iter().zip(&catalog.creatives) {
        let mut c = c.clone();
        c.advertiser_id = advertiser.id;
        let created = store.create_campaign(&c).expect("campaign");
        let mut cr = cr.clone();
        cr.campaign_id = created.id;
        store.create_creative(&cr).expect("creative");
        ids.push(created.id);
    }
    let token = auth::create_token(&store, Role::Admin, &[], "bench")
        .expect("token")
        .secret;
    let instance = Instance::new(Config::for_tests(dir.path()), Arc::new(store)).expect("instance");
    assert_eq!(instance.snapshot.load().campaign_count(), n);
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).expect("ascii"),
    );
    let admin = &instance.admin;
    let mut times = Vec::with_capacity(writes);
    for w in 0..writes {
        let id = ids[(w * 7919) % ids.len()];
        let path = format!("/api/v1/campaigns/{}", id.0);
        let read = admin
            .handle(&Method::GET, &path, None, &headers, b"")
            .expect("read");
        let body = http_body_util::BodyExt::collect(read.into_body());
        let body = futures_lite_block(body);
        let mut c: serde_json::Value = serde_json::from_slice(&body).expect("json");
        c["base_cpm_micros"] = serde_json::json!(1_000_000 + (w as i64 % 50) * 10_000);
        let version = c["version"].as_i64().expect("version");
        for k in ["id", "created_at", "updated_at"] {
            c.as_object_mut().expect("object").remove(k);
        }
        let mut h = headers.clone();
        h.insert(
            http::header::IF_MATCH,
            HeaderValue::from_str(&format!("\"{version}\"")).expect("ascii"),
        );
        let body = serde_json::to_vec(&c).expect("json");
        let started = Instant::now();
        let resp = admin
            .handle(&Method::PUT, &path, None, &h, &body)
            .expect("write");
        times.push(started.elapsed());
        assert_eq!(resp.status(), 200);
    }
    times.sort();
    (
        times[times.len() / 2],
        instance.snapshot.load().campaign_count(),
    )
}

/// Reads a complete in-memory body without an async runtime.
fn futures_lite_block(
    body: http_body_util::combinators::Collect<http_body_util::Full<bytes::Bytes>>,
) -> bytes::Bytes {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(body).expect("a full body").to_bytes()
}

fn main() {
    let writes: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("a number of writes"))
        .unwrap_or(200);
    let (small, _) = median_write(1_000, writes);
    let (large, n) = median_write(10_000, writes);
    println!("writes per catalog: {writes}");
    println!("median PUT /api/v1/campaigns/{{id}} at 1,000 campaigns: {small:?}");
    println!("median PUT /api/v1/campaigns/{{id}} at {n} campaigns: {large:?}");
    println!(
        "10,000 / 1,000: {:.2}",
        large.as_secs_f64() / small.as_secs_f64()
    );
}
