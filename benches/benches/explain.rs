//! `POST /api/v1/explain`'s work, without HTTP: one banner request
//! explained against the 1,000-campaign synthetic catalog (every campaign
//! judged on every impression), alone and with its JSON encoding, next
//! to `decide` on the same request for the ratio. Target: <= 1 ms per
//! request.
//!
//! Run: `cargo bench -p benches --bench explain`.

use bidder::bid::decision::explain::explain;
use bidder::bid::{BidContext, Scratch, UserView};
use bidder::model::UnixTime;
use bidder::state::frequency::Frequency;
use criterion::{Criterion, black_box, criterion_group, criterion_main};

fn explain_banner(c: &mut Criterion) {
    let exchange = benches::exchange();
    let frequency = Frequency::new(1 << 16);
    let body = benches::banner_request();
    let mut parser = openrtb::Parser::new();
    let req = parser.parse(&body).expect("bench request parses");
    let snap = benches::snapshot(&benches::synthetic_catalog(1_000));
    let user = UserView::unknown(Ok(()));
    let ctx = BidContext {
        exchange: &exchange,
        now: UnixTime::now(),
        user: &user,
        frequency: &frequency,
        seed: 1,
    };
    let e = explain(&req, &snap, &ctx);
    assert!(e.imps[0].winner.is_some(), "the bench request bids");
    assert_eq!(e.imps[0].campaigns.len(), 1_000);
    let mut group = c.benchmark_group("explain_banner_1000");
    group.bench_function("explain", |b| {
        b.iter(|| black_box(explain(&req, &snap, &ctx)))
    });
    group.bench_function("explain_and_encode", |b| {
        b.iter(|| {
            let e = explain(&req, &snap, &ctx);
            black_box(serde_json::to_vec(&e).expect("encodes"))
        })
    });
    let mut scratch = Scratch::new();
    group.bench_function("decide", |b| {
        b.iter(|| black_box(bidder::bid::decide(&req, &snap, &ctx, &mut scratch).is_ok()))
    });
    group.finish();
}

criterion_group!(benches, explain_banner);
criterion_main!(benches);
