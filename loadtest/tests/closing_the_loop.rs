//! The simulator against the real bidder, in process on an ephemeral port:
//! a seeded catalog and audience loaded through the admin API, generated
//! traffic with every bid followed up, and the bidder's books checked
//! against what the "exchange" charged. This is also CI's smoke run of the
//! load test.

use std::collections::BTreeMap;
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
use loadtest::notices::{Closing, Kind};
use loadtest::seed::{self, Catalog};
use loadtest::send::{self, Mode, Payload, Plan};
use loadtest::traffic::{Generator, Mix};
use serde_json::Value;

/// The daily budget of the small-budget campaigns, micros.
const SMALL: i64 = 20_000;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_traffic_with_notices_books_exactly_what_the_exchange_charged() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.listen = addr;
    // https, or the generated imps, all secure, would get no bid; the
    // notices go to `addr` whatever the URLs' host.
    config.public_url = "https://bidder.example".into();
    config.tcf_vendor_id = Some(1234);
    let store = Store::open(dir.path()).unwrap();
    // No demo catalog: every bid comes from the seeded campaigns.
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
        seed: 7,
        campaigns: 40,
        users: 2_000,
        small_budgets: 0.25,
        // A few impressions' worth at these CPMs (0.50 to 8.00 per
        // thousand, times 1.5 at most for the stage): spent within the run.
        small_daily_budget_micros: SMALL,
    };
    let seeded = seed::load(&base, &admin, &catalog).await.unwrap();
    assert_eq!(seeded.campaigns.len(), 40);
    // One advertiser: every user once in its funnel.
    assert_eq!(seeded.members, 2_000, "{seeded:?}");
    assert!(!seeded.small_budget_campaigns.is_empty());

    let mut generator = Generator::new(Mix {
        users: 4_000,
        ..Mix::default()
    })
    .unwrap();
    let payloads = (0..2_000)
        .map(|i| Payload::new(&generator.next_request(), i % 5 == 4))
        .collect();
    let report = send::run(Plan {
        url: format!("{base}/openrtb2/bid").parse().unwrap(),
        payloads: Arc::new(payloads),
        connections: 4,
        duration: Duration::from_secs(20),
        max_requests: Some(5_000),
        mode: Mode::Closed,
        closing: Some(Closing {
            share: 1.0,
            win_rate: 0.5,
            click_rate: 0.2,
        }),
        seed: 1,
        progress: false,
        give_up: false,
        busy_poll: false,
    })
    .await
    .unwrap();
    println!("{report}");
    assert_eq!(report.answered(), 5_000, "{report}");
    assert!(report.errors.is_empty(), "{report}");
    assert!(
        report.statuses.keys().all(|s| [200, 204].contains(s)),
        "{report}"
    );
    assert!(report.bids() > 300, "{report}");
    let n = &report.notices;
    assert!(n.errors.is_empty() && n.dropped == 0, "{report}");
    let count = |kind: Kind, status: u16| n.statuses.get(&(kind, status)).copied().unwrap_or(0);
    for (kind, status) in [
        (Kind::Win, 200),
        (Kind::Bill, 200),
        (Kind::Loss, 200),
        (Kind::Imp, 200),
        (Kind::Click, 302),
    ] {
        assert!(count(kind, status) > 0, "no {kind} {status}: {report}");
    }
    assert!(
        n.statuses.keys().all(|&(_, s)| s == 200 || s == 302),
        "a notice was refused: {report}"
    );

    // Every bid got its win or loss, so nothing stays reserved; losses and
    // learning reach the books through the event worker, shortly.
    let mut states = BTreeMap::new();
    for _ in 0..50 {
        states.clear();
        for &id in &seeded.campaigns {
            let b = get(&base, &format!("/api/v1/campaigns/{id}/budget"), &admin).await;
            states.insert(id, b);
        }
        if states.values().all(|b| b["reserved_micros"] == 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut compared = 0;
    let mut all: Vec<i64> = n
        .charged
        .keys()
        .map(|(cid, _)| cid.parse().unwrap())
        .collect();
    all.extend(&seeded.campaigns);
    all.sort_unstable();
    all.dedup();
    for id in all {
        if let std::collections::btree_map::Entry::Vacant(e) = states.entry(id) {
            e.insert(get(&base, &format!("/api/v1/campaigns/{id}/budget"), &admin).await);
        }
        let b = &states[&id];
        assert_eq!(b["reserved_micros"], 0, "campaign {id}: {b}");
        let booked = b["spent_total_micros"].as_u64().unwrap();
        if seeded.small_budget_campaigns.contains(&id) {
            // Never over budget, whatever the concurrency.
            assert!(booked <= SMALL as u64, "campaign {id} overspent: {b}");
        }
        // Charges in the campaign's own currency are booked to the micro.
        let cur = b["currency"].as_str().unwrap();
        let charged = n.charged.get(&(id.to_string(), cur.to_string()));
        let foreign = n
            .charged
            .keys()
            .any(|(c, k)| c == &id.to_string() && k != cur);
        if !foreign {
            assert_eq!(booked, charged.copied().unwrap_or(0), "campaign {id}: {b}");
            compared += u64::from(booked > 0);
        }
    }
    assert!(
        compared >= 5,
        "only {compared} campaigns to compare: {report}"
    );
    // The check above is not vacuous: some small budget was (nearly) used
    // up, to within the largest price one impression can cost.
    let most = seeded
        .small_budget_campaigns
        .iter()
        .map(|id| states[id]["spent_total_micros"].as_i64().unwrap())
        .max()
        .unwrap();
    assert!(most > SMALL - 12_000, "small budgets barely used: {most}");

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
