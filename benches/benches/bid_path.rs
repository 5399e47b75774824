//! The hot steps of a bid, each measured alone and against its alternative
//! in the same run:
//! - `parse`: the corpus through `openrtb::parse_request` (simd-json, in
//!   place, borrowed) vs plain serde_json into the same borrowed types.
//! - `decide`: one request against snapshots of 10 to 10,000 campaigns; the
//!   targeting index should keep the cost nearly flat.
//! - `write`: a one-bid BidResponse into a reused buffer.
//! - `end_to_end`: request bytes to response bytes through the exchange
//!   endpoint's handler on the demo catalog, no network; the audience hit
//!   and the issue's `typical` request bid an assembled creative for the
//!   user's stage.
//! - `end_to_end_seeded`: the same on what `loadtest/compare.sh` measures:
//!   its generated traffic and the `typical` request against the demo plus
//!   1,000 seeded campaigns and 1,000,000 audience users.
//! - `audiences`: table lookup at 1M users and a batch publish.
//! - `frequency`: one user's caps checked, counted in UTC and in a time
//!   zone with daylight saving.
//! - `consent`: TC string decoding and the personalization decision, with
//!   lib_tcstring (the crate evaluated first) alongside.
//!
//! Run: `cargo bench -p benches` (figures in docs/PERFORMANCE.md).

use std::sync::Arc;
use std::time::Instant;

use bidder::Instance;
use bidder::bid::endpoint::respond;
use bidder::bid::{BidContext, Outcome, Scratch};
use bidder::config::Config;
use bidder::control::demo;
use bidder::model::UnixTime;
use bidder::state::frequency::Frequency;
use bidder::store::Store;
use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};

// The allocator the bidder runs with, so that allocation costs here are
// the ones it pays.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn parse(c: &mut Criterion) {
    let files = benches::corpus().expect("testdata/requests");
    let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    let mut group = c.benchmark_group("parse_corpus");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("simd_json_in_place", |b| {
        let mut parser = openrtb::Parser::new();
        b.iter(|| {
            for (_, body) in &files {
                // As the bid endpoint does: into a request it holds.
                let mut req = openrtb::BidRequest::default();
                parser.parse_into(body, &mut req).expect("corpus parses");
                black_box(&req);
            }
        })
    });
    group.bench_function("serde_json", |b| {
        b.iter(|| {
            for (_, body) in &files {
                let req: openrtb::BidRequest = serde_json::from_slice(body).expect("corpus parses");
                black_box(&req);
            }
        })
    });
    group.finish();
}

/// Inflating a gzipped request body (the load test sends every fifth
/// request gzipped, as some exchanges do).
fn gunzip(c: &mut Criterion) {
    let files = benches::corpus().expect("testdata/requests");
    let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    let packed: Vec<Vec<u8>> = files
        .iter()
        .map(|(_, body)| {
            let mut out = Vec::new();
            openrtb::body::gzip(body, &mut out);
            out
        })
        .collect();
    let mut group = c.benchmark_group("gunzip_corpus");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("gunzip_capped", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            for body in &packed {
                openrtb::body::gunzip_capped(body, 1 << 20, &mut out).expect("inflates");
                black_box(&out);
            }
        })
    });
    // What the bid endpoint does: one inflater per worker thread.
    group.bench_function("reused_gunzipper", |b| {
        let mut out = Vec::new();
        let mut z = openrtb::body::Gunzipper::default();
        b.iter(|| {
            for body in &packed {
                z.gunzip(body, 1 << 20, &mut out).expect("inflates");
                black_box(&out);
            }
        })
    });
    group.finish();
}

/// Where the benched bidder says it is: https, as in production, where
/// most imps are secure (the typical request's is) and an http bidder
/// would not bid on them.
const PUBLIC_URL: &str = "https://bidder.example";

/// The bidder on the demo catalog, in a temporary folder that lives as
/// long as the returned guard.
fn demo_app() -> (tempfile::TempDir, Instance) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("store");
    demo::seed_if_empty(&store, PUBLIC_URL).expect("demo data");
    let mut config = Config::for_tests(dir.path());
    config.public_url = PUBLIC_URL.into();
    let app = Instance::new(config, Arc::new(store)).expect("app");
    (dir, app)
}

/// Gzipping an answer for an exchange that accepts gzip: the reused
/// compressor the bid endpoint keeps per thread, and for comparison a
/// fresh flate2 `GzEncoder` per answer at the same level.
fn gzip_answer(c: &mut Criterion) {
    use std::io::Write;
    let (_dir, app) = demo_app();
    let exchange = app.config.default_exchange;
    let request = benches::banner_request();
    let answer = body_of(respond(
        &app,
        exchange,
        &request,
        false,
        false,
        Instant::now(),
    ));
    assert!(answer.len() > 1000, "a bid with its markup");
    let mut group = c.benchmark_group("gzip_answer");
    group.throughput(Throughput::Bytes(answer.len() as u64));
    group.bench_function("reused_gzipper", |b| {
        let mut z = openrtb::body::Gzipper::default();
        let mut out = Vec::new();
        b.iter(|| {
            out.clear();
            z.gzip(&answer, &mut out);
            black_box(&out);
        })
    });
    group.bench_function("fresh_encoder", |b| {
        b.iter(|| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
            e.write_all(&answer).expect("into a Vec");
            black_box(e.finish().expect("into a Vec"));
        })
    });
    group.finish();
}

/// The decision and its commit step (the reservation, the bid id, the
/// signed notice URLs): everything between the parsed request and the
/// answer's bytes.
fn decide(c: &mut Criterion) {
    let exchange = benches::exchange();
    let signer = benches::signer();
    let frequency = Frequency::new(1 << 16);
    let body = benches::banner_request();
    let mut parser = openrtb::Parser::new();
    let req = parser.parse(&body).expect("bench request parses");
    let mut group = c.benchmark_group("decide_banner");
    for n in [10, 100, 1_000, 10_000] {
        let snap = benches::snapshot(&benches::synthetic_catalog(n));
        let mut scratch = Scratch::new();
        group.bench_function(format!("campaigns_{n}"), |b| {
            b.iter(|| {
                let user = bidder::bid::UserView::unknown(Ok(()));
                let ctx = BidContext {
                    exchange: &exchange,
                    now: UnixTime::now(),
                    user: &user,
                    frequency: &frequency,
                    seed: 1,
                };
                assert!(bidder::bid::decide(&req, &snap, &ctx, &mut scratch).is_ok());
                let outcome = bidder::bid::commit(&req, &snap, &ctx, &signer, &mut scratch);
                assert!(matches!(outcome, Outcome::Bid(_)));
                black_box(&outcome);
            })
        });
    }
    group.finish();
}

fn write(c: &mut Criterion) {
    let exchange = benches::exchange();
    let signer = benches::signer();
    let frequency = Frequency::new(1024);
    let body = benches::banner_request();
    let mut parser = openrtb::Parser::new();
    let req = parser.parse(&body).expect("bench request parses");
    let snap = benches::snapshot(&benches::synthetic_catalog(100));
    let mut scratch = Scratch::new();
    let user = bidder::bid::UserView::unknown(Ok(()));
    let ctx = BidContext {
        exchange: &exchange,
        now: UnixTime::now(),
        user: &user,
        frequency: &frequency,
        seed: 1,
    };
    assert!(bidder::bid::decide(&req, &snap, &ctx, &mut scratch).is_ok());
    let Outcome::Bid(decision) = bidder::bid::commit(&req, &snap, &ctx, &signer, &mut scratch)
    else {
        panic!("bench request must bid");
    };
    let mut out = Vec::with_capacity(4096);
    c.bench_function("write_response_one_bid", |b| {
        b.iter(|| {
            out.clear();
            decision.write_into(&mut out);
            black_box(&out);
        })
    });
}

/// The bytes of an in-process answer (its body is a ready `Full`).
fn body_of(resp: http::Response<bidder::error::Body>) -> Vec<u8> {
    use http_body_util::BodyExt;
    use std::future::Future;
    let mut body = resp.into_body();
    let mut frame = std::pin::pin!(body.frame());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match frame.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Some(Ok(f))) => {
            f.into_data().map(|d| d.to_vec()).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

fn end_to_end(c: &mut Criterion) {
    let (_dir, app) = demo_app();
    let exchange = app.config.default_exchange;
    let banner = benches::banner_request();
    let files = benches::corpus().expect("testdata/requests");
    let mut group = c.benchmark_group("end_to_end");
    group.throughput(Throughput::Elements(1));
    group.bench_function("banner_request", |b| {
        b.iter(|| {
            let resp = respond(&app, exchange, &banner, false, false, Instant::now());
            assert_eq!(resp.status(), 200);
            black_box(resp);
        })
    });
    // The same request from a user the audience table knows (the demo's
    // `demo-intent`): consent check, key hashing, lookup, stage multiplier.
    let known = String::from_utf8(banner.clone())
        .expect("utf-8")
        .replacen("{", r#"{"user":{"buyeruid":"demo-intent"},"#, 1)
        .into_bytes();
    // It bids the creative assembled for the user's stage: an assembled
    // Acme banner chosen for `intent` (which combination, with the offer or
    // without, is the learner's random draw).
    let answer = body_of(respond(
        &app,
        exchange,
        &known,
        false,
        false,
        Instant::now(),
    ));
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.contains(r#""crid":"a300x250-"#) && answer.contains("&stage=intent&"),
        "{answer}"
    );
    group.bench_function("banner_request_audience_hit", |b| {
        b.iter(|| {
            let resp = respond(&app, exchange, &known, false, false, Instant::now());
            assert_eq!(resp.status(), 200);
            black_box(resp);
        })
    });
    // The demo's Acme campaign, for the stage the audience has the user at.
    bench_typical(&mut group, &app, "&stage=intent&");
    bench_corpus(&mut group, &app, &files);
    group.finish();
}

/// `typical` in `group`: the issue's typical request through the handler
/// of `app`, which bids an assembled creative; its answer contains
/// `expect`.
fn bench_typical(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    app: &Instance,
    expect: &str,
) {
    let exchange = app.config.default_exchange;
    let typical = benches::typical_request().expect("testdata/typical");
    let answer = body_of(respond(
        app,
        exchange,
        &typical,
        false,
        false,
        Instant::now(),
    ));
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.contains(r#""crid":"a300x250-m"#) && answer.contains(expect),
        "{answer}"
    );
    group.throughput(Throughput::Elements(1));
    group.bench_function("typical", |b| {
        b.iter(|| {
            let resp = respond(app, exchange, &typical, false, false, Instant::now());
            assert_eq!(resp.status(), 200);
            black_box(resp);
        })
    });
}

/// `corpus` in `group`: every corpus request through the handler of `app`,
/// per request.
fn bench_corpus(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    app: &Instance,
    files: &[(String, Vec<u8>)],
) {
    let exchange = app.config.default_exchange;
    group.throughput(Throughput::Elements(files.len() as u64));
    group.bench_function("corpus", |b| {
        b.iter(|| {
            for (_, body) in files {
                black_box(respond(app, exchange, body, false, false, Instant::now()));
            }
        })
    });
}

/// The bidder `loadtest/compare.sh` measures, in process: the demo catalog
/// plus a catalog seeded through the admin API by `loadtest seed` (1,000
/// campaigns, 1,000,000 audience users, the same seed), with the same
/// consent vendor id. Test mode (`cargo test --benches`, a debug build)
/// seeds 20 campaigns and 1,000 users, enough to check what is asserted.
fn seeded_app() -> (tempfile::TempDir, Arc<Instance>) {
    let full = std::env::args().any(|a| a == "--bench");
    // `loadtest seed`'s defaults.
    let catalog = loadtest::seed::Catalog {
        seed: 1,
        campaigns: if full { 1_000 } else { 20 },
        users: if full { 1_000_000 } else { 1_000 },
        small_budgets: 0.02,
        small_daily_budget_micros: 50_000_000,
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("store");
    demo::seed_if_empty(&store, PUBLIC_URL).expect("demo data");
    let admin = bidder::control::auth::create_token(
        &store,
        bidder::control::auth::Role::Admin,
        &[],
        "bench",
    )
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
        config.public_url = PUBLIC_URL.into();
        config.tcf_vendor_id = Some(loadtest::traffic::Mix::default().vendor_id);
        let app = Arc::new(Instance::new(config, Arc::new(store)).expect("app"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(bidder::run(listener, Arc::clone(&app), async {
            let _ = stopped.await;
        }));
        let seeded = loadtest::seed::load(&format!("http://{addr}"), &admin, &catalog)
            .await
            .expect("seeding through the admin API");
        assert_eq!(seeded.campaigns.len(), catalog.campaigns as usize);
        let _ = stop.send(());
        server.await.expect("server task").expect("server");
        app
    });
    (dir, app)
}

/// Request bytes to response bytes on what the load test sends: its
/// generated traffic (site and app, banner, native and video, several
/// imps, consent mixes; a fifth gzipped, as `compare.sh` sends it) against
/// the seeded catalog. The corpus is measured on the same app beside it.
/// The gap between this and `end_to_end/banner_request_audience_hit` is
/// what the traffic and catalog cost; the gap between this and a request's
/// share of the bidder's core under load is what the network and the
/// colder caches cost.
fn end_to_end_seeded(c: &mut Criterion) {
    let (_dir, app) = seeded_app();
    let exchange = app.config.default_exchange;
    let mut generator =
        loadtest::traffic::Generator::new(loadtest::traffic::Mix::default()).expect("generator");
    let payloads: Vec<loadtest::send::Payload> = (0..20_000)
        .map(|i| loadtest::send::Payload::new(&generator.next_request(), i % 5 == 4))
        .collect();
    // The traffic is made to bid: almost every request should.
    let bids = payloads
        .iter()
        .filter(|p| respond(&app, exchange, &p.body, p.gzip, false, Instant::now()).status() == 200)
        .count();
    assert!(
        bids * 10 >= payloads.len() * 9,
        "{bids} of {} generated requests bid",
        payloads.len()
    );
    let files = benches::corpus().expect("testdata/requests");
    let mut group = c.benchmark_group("end_to_end_seeded");
    group.throughput(Throughput::Elements(1));
    let mut next = payloads.iter().cycle();
    group.bench_function("generated", |b| {
        b.iter(|| {
            let p = next.next().expect("a cycle never ends");
            black_box(respond(
                &app,
                exchange,
                &p.body,
                p.gzip,
                false,
                Instant::now(),
            ));
        })
    });
    // A seeded campaign outbids Acme here, as under `compare.sh`; the
    // user's stage is still looked up for every audience campaign.
    bench_typical(&mut group, &app, "&stage=");
    bench_corpus(&mut group, &app, &files);
    group.finish();
}

fn consent(c: &mut Criterion) {
    // The IAB reference string with vendor sections (iabtcf-java tests).
    let tc = "COrEAV4OrXx94ACABBENAHCIAD-AAAAAAACAAxAAAAgAIAwgAgAAAAEAgQAAAAAEAYQAQAAAACAAAABAAA";
    let mut group = c.benchmark_group("consent");
    group.bench_function("tcf_decode_and_decide", |b| {
        b.iter(|| {
            let signals = audiences::consent::Signals {
                gdpr: Some(1),
                tc_string: Some(black_box(tc)),
                ..Default::default()
            };
            black_box(audiences::consent::personalization(&signals, 98))
        })
    });
    group.bench_function("lib_tcstring_decode", |b| {
        b.iter(|| black_box(lib_tcstring::TcModelV2::try_from(black_box(tc))))
    });
    group.finish();
}

fn audiences(c: &mut Criterion) {
    use audiences::table::{Change, Entry, FunnelId};
    use audiences::{Stage, keys::UserKey};
    let mut group = c.benchmark_group("audiences");
    for users in [1_000_000u64, 10_000_000] {
        let keys = benches::SpreadKeys::new(users);
        let table = keys.table();
        // Random users, one lookup in five a key nobody has.
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        group.bench_function(BenchmarkId::new("lookup_random_key", users), |b| {
            b.iter(|| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let key = keys.key(x % users);
                let key = if x.is_multiple_of(5) {
                    UserKey(key.0 ^ 1)
                } else {
                    key
                };
                let snap = table.snapshot();
                black_box(snap.stage(key, FunnelId(1), 1))
            })
        });
        if users == 1_000_000 {
            let batch: Vec<Change> = (0..10_000)
                .map(|i| Change::Upsert {
                    key: keys.key((i * 97) % users),
                    entry: Entry {
                        funnel: FunnelId(1),
                        stage: Stage::Customer,
                        updated: 2,
                        expires: 0,
                    },
                })
                .collect();
            group.sample_size(10);
            group.bench_function("apply_10k_changes_to_1m_users", |b| {
                b.iter(|| table.apply(&[], &batch, 1))
            });
            group.sample_size(100);
        }
    }
    group.finish();
}

fn frequency(c: &mut Criterion) {
    use audiences::keys::UserKey;
    use bidder::model::{CampaignId, CapWindow, FrequencyCap, FrequencyRules};
    use bidder::state::calendar::Calendar;
    use bidder::state::frequency::{FrequencyCounts, Subject};
    let now = UnixTime::now();
    // The loadtest's seeded caps: 3 a day, 10 a week, 30 s apart.
    let rules = FrequencyRules {
        caps: vec![
            FrequencyCap {
                impressions: 3,
                window: CapWindow::Day,
            },
            FrequencyCap {
                impressions: 10,
                window: CapWindow::Week,
            },
        ],
        min_gap_secs: 30,
    };
    let mut group = c.benchmark_group("frequency");
    for (name, cal) in [
        ("utc", Calendar::Utc),
        ("new_york", Calendar::named("America/New_York", now)),
    ] {
        let table = Frequency::new(1 << 16);
        let subject = Subject::Campaign(CampaignId(1));
        // A user seen twice an hour ago: every window is read.
        for _ in 0..2 {
            table.record(UserKey(7), subject, UnixTime(now.0 - 3_600), &cal);
        }
        group.bench_function(BenchmarkId::new("allows_seen_user", name), |b| {
            b.iter(|| black_box(table.allows(black_box(UserKey(7)), subject, &rules, now, &cal)))
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    parse,
    gunzip,
    gzip_answer,
    decide,
    write,
    end_to_end,
    end_to_end_seeded,
    consent,
    audiences,
    frequency
);
criterion_main!(benches);
