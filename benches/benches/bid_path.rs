//! The hot steps of a bid, each measured alone and against its alternative
//! in the same run:
//! - `parse`: the corpus through `openrtb::parse_request` (simd-json, in
//!   place, borrowed) vs plain serde_json into the same borrowed types.
//! - `decide`: one request against snapshots of 10 to 10,000 campaigns; the
//!   targeting index should keep the cost nearly flat.
//! - `write`: a one-bid BidResponse into a reused buffer.
//!
//! Run: `cargo bench -p benches` (figures in docs/PERFORMANCE.md).

use bidder::decision::{BidContext, Outcome, Scratch, Snapshot};
use bidder::model::UnixTime;
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};

fn parse(c: &mut Criterion) {
    let files = benches::corpus().expect("testdata/requests");
    let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    let mut group = c.benchmark_group("parse_corpus");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("simd_json_in_place", |b| {
        let mut parser = openrtb::Parser::new();
        b.iter(|| {
            for (_, body) in &files {
                let req = parser.parse(body).expect("corpus parses");
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

fn decide(c: &mut Criterion) {
    let settings = benches::settings();
    let exchange = benches::exchange();
    let body = benches::banner_request();
    let mut parser = openrtb::Parser::new();
    let req = parser.parse(&body).expect("bench request parses");
    let mut group = c.benchmark_group("decide_banner");
    for n in [10, 100, 1_000, 10_000] {
        let snap = Snapshot::build(&benches::synthetic_catalog(n), &settings);
        let mut scratch = Scratch::new();
        group.bench_function(format!("campaigns_{n}"), |b| {
            b.iter(|| {
                let ctx = BidContext {
                    exchange: &exchange,
                    now: UnixTime::now(),
                };
                let outcome = bidder::decision::decide(&req, &snap, &ctx, &mut scratch);
                assert!(matches!(outcome, Outcome::Bid(_)));
                black_box(&outcome);
            })
        });
    }
    group.finish();
}

fn write(c: &mut Criterion) {
    let settings = benches::settings();
    let exchange = benches::exchange();
    let body = benches::banner_request();
    let mut parser = openrtb::Parser::new();
    let req = parser.parse(&body).expect("bench request parses");
    let snap = Snapshot::build(&benches::synthetic_catalog(100), &settings);
    let mut scratch = Scratch::new();
    let ctx = BidContext {
        exchange: &exchange,
        now: UnixTime::now(),
    };
    let Outcome::Bid(decision) = bidder::decision::decide(&req, &snap, &ctx, &mut scratch) else {
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

criterion_group!(benches, parse, decide, write);
criterion_main!(benches);
