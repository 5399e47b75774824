//! `POST /api/v1/explain`'s work, without HTTP, on the catalog
//! `loadtest seed` makes (its defaults: 1,000 campaigns with fragment
//! sets, funnels and audiences, seeded through the admin API as
//! `loadtest/compare.sh` does, beside the demo data). Target: <= 1 ms
//! per request.
//!
//! - `explain`: the pure replay (every campaign judged on every
//!   impression);
//! - `service`: what the API answers, as an admin: the replay, why the
//!   resting campaigns rest (from the store) and the cut to what the
//!   caller may see;
//! - `service_and_encode`: the same with its JSON;
//! - `decide`: the bid path's decision on the same request, for the
//!   ratio.
//!
//! The requests: the load test's typical banner (a known user) and a
//! banner from the load test's generator. Test mode (`cargo test
//! --benches`) seeds 20 campaigns.
//!
//! Run: `cargo bench -p benches --bench explain`.

use std::sync::Arc;

use bidder::Instance;
use bidder::bid::decision::explain::explain;
use bidder::bid::{BidContext, Scratch, UserView};
use bidder::config::Config;
use bidder::control::auth::{self, Role, TokenDigest};
use bidder::control::demo;
use bidder::store::Store;
use criterion::{Criterion, black_box, criterion_group, criterion_main};

/// The bidder with the demo data and `loadtest seed`'s catalog, and an
/// admin token's secret.
fn seeded(campaigns: u32) -> (tempfile::TempDir, Arc<Instance>, String) {
    let catalog = loadtest::seed::Catalog {
        seed: 1,
        campaigns,
        // Explaining looks one user up, whatever the table's size.
        users: 1_000,
        small_budgets: 0.02,
        small_daily_budget_micros: 50_000_000,
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("store");
    demo::seed_if_empty(&store, "https://bidder.example").expect("demo data");
    let admin = auth::create_token(&store, Role::Admin, &[], "bench")
        .expect("token")
        .secret;
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let app = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let mut config = Config::for_tests(dir.path());
        config.listen = addr;
        config.public_url = "https://bidder.example".into();
        config.tcf_vendor_id = Some(loadtest::traffic::Mix::default().vendor_id);
        let app = Arc::new(Instance::new(config, Arc::new(store)).expect("app"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(bidder::run(listener, Arc::clone(&app), async {
            let _ = stopped.await;
        }));
        let seeded = loadtest::seed::load(&format!("http://{addr}"), &admin, &catalog)
            .await
            .expect("seeding through the admin API");
        assert_eq!(seeded.campaigns.len(), campaigns as usize);
        let _ = stop.send(());
        server.await.expect("server task").expect("server");
        app
    });
    (dir, app, admin)
}

fn explain_seeded(c: &mut Criterion) {
    let full = std::env::args().any(|a| a == "--bench");
    let campaigns = if full { 1_000 } else { 20 };
    let (_dir, app, secret) = seeded(campaigns);
    let who = auth::authenticate_digest(&app.store, &TokenDigest::of(&secret).expect("digest"))
        .expect("the admin token");
    let in_snapshot = app.snapshot.load().campaigns.len();
    assert!(
        in_snapshot >= campaigns as usize,
        "{in_snapshot} campaigns in the snapshot"
    );
    let exchange = &app.exchanges[app.config.default_exchange];
    let typical = benches::typical_request().expect("testdata/typical");
    let generated = {
        let mut g = loadtest::traffic::Generator::new(loadtest::traffic::Mix::default())
            .expect("generator");
        (0..200)
            .map(|_| g.next_request())
            .find(|r| {
                let has = |k: &[u8]| r.windows(k.len()).any(|w| w == k);
                has(b"\"banner\"") && !has(b"\"video\"")
            })
            .expect("a generated banner request")
    };
    let mut group = c.benchmark_group(format!("explain_seeded_{campaigns}"));
    for (name, body) in [("typical", &typical), ("generated_banner", &generated)] {
        let mut parser = openrtb::Parser::new();
        let req = parser.parse(body).expect("the request parses");
        let snap = app.snapshot.load();
        let now = app.clock.now();
        let user = UserView::resolve(
            &req,
            &app.audience.table().snapshot(),
            app.audience.hasher(),
            app.config.tcf_vendor_id,
            snap.uses_audiences,
            now.0.clamp(0, i64::from(u32::MAX)) as u32,
        );
        let ctx = BidContext {
            exchange,
            now,
            user: &user,
            frequency: &*app.frequency,
            seed: 1,
        };
        let e = explain(&req, &snap, &ctx);
        let judged = e.imps.first().map_or(0, |i| i.campaigns.len());
        assert_eq!(judged, in_snapshot, "{name}: every campaign is judged");
        let services = app.admin.services();
        group.bench_function(format!("{name}/explain"), |b| {
            b.iter(|| black_box(explain(&req, &snap, &ctx)))
        });
        group.bench_function(format!("{name}/service"), |b| {
            b.iter(|| {
                black_box(
                    services
                        .explain()
                        .request(&who, &req, None)
                        .expect("explained"),
                )
            })
        });
        group.bench_function(format!("{name}/service_and_encode"), |b| {
            b.iter(|| {
                let e = services
                    .explain()
                    .request(&who, &req, None)
                    .expect("explained");
                black_box(serde_json::to_vec(&e).expect("encodes"))
            })
        });
        let mut scratch = Scratch::new();
        group.bench_function(format!("{name}/decide"), |b| {
            b.iter(|| black_box(bidder::bid::decide(&req, &snap, &ctx, &mut scratch).is_ok()))
        });
    }
    group.finish();
}

criterion_group!(benches, explain_seeded);
criterion_main!(benches);
