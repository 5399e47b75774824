//! `loadtest writes` against the real bidder on an ephemeral port: every
//! write is a real change the bidder accepts and versions.

use std::sync::Arc;
use std::time::Duration;

use bidder::Instance;
use bidder::config::Config;
use bidder::control::auth::{self, Role};
use bidder::store::Store;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use loadtest::seed::{self, Catalog};
use loadtest::writes::{self, Writes};
use serde_json::Value;

async fn get(base: &str, path: &str, token: &str) -> Value {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let req = http::Request::get(format!("{base}{path}"))
        .header("authorization", format!("Bearer {token}"))
        .body(Empty::new())
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap()
}

/// The sum of every campaign's version: each accepted write adds one.
async fn versions(base: &str, token: &str, ids: &[i64]) -> i64 {
    let mut sum = 0;
    for id in ids {
        let c = get(base, &format!("/api/v1/campaigns/{id}"), token).await;
        sum += c["version"].as_i64().unwrap();
    }
    sum
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_is_accepted_and_bumps_one_campaigns_version() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.listen = addr;
    config.public_url = format!("http://{addr}");
    let store = Store::open(dir.path()).unwrap();
    let admin = auth::create_token(&store, Role::Admin, &[], "loadtest")
        .unwrap()
        .secret;
    let app = Arc::new(Instance::new(config, Arc::new(store)).unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(bidder::run(listener, app, async {
        let _ = stopped.await;
    }));
    let base = format!("http://{addr}");
    let catalog = Catalog {
        seed: 3,
        campaigns: 6,
        users: 10,
        small_budgets: 0.0,
        small_daily_budget_micros: 0,
    };
    let seeded = seed::load(&base, &admin, &catalog).await.unwrap();
    let before = versions(&base, &admin, &seeded.campaigns).await;

    let plan = Writes {
        rate: 500.0,
        duration: Duration::from_secs(20),
        max_writes: Some(15),
        seed: 1,
    };
    let report = writes::run(&base, &admin, &plan).await.unwrap();
    assert_eq!(report.campaigns, 6, "{report}");
    assert_eq!((report.written, report.refused), (15, 0), "{report}");
    assert!(
        report.put_us.0 > 0 && report.put_us.2 >= report.put_us.1,
        "{report}"
    );
    let after = versions(&base, &admin, &seeded.campaigns).await;
    assert_eq!(after - before, 15);

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
