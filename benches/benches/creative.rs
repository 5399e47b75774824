//! What an assembled creative costs, on the bid path and off it:
//! - `assemble`: choosing an item of the demo plan for a stage and writing
//!   it, with a bid's tail, into a reused buffer, per format (the bid
//!   path's whole share); `render_from_fragments_300x250` renders the same
//!   banner from the fragments instead, which is what precomputing saves.
//! - `choose`: Thompson choice among 100 combinations (`Choice::pick`),
//!   with every item allowed and with one in ten vetoed by an exchange's
//!   audit; and `Plan::choose` on a 100-combination group.
//! - `learn` (cold path, at snapshot build): the Monte Carlo estimate of
//!   the Thompson probabilities of 100 combinations at 6 stages, and the
//!   whole plan of a 100-combination campaign.
//!
//! That assembly allocates nothing is asserted, with a counting allocator,
//! by `creative/tests/allocations.rs`. Run:
//! `cargo bench -p benches --bench creative`.

use audiences::Stage;
use creative::assembly::{Parts, Trackers, prepare_banner};
use creative::learning::{Choice, Counts, Draws, Objective, Policy, probabilities};
use creative::template::{BANNERS, Format};
use criterion::{BenchmarkId, Criterion, black_box, criterion_group, criterion_main};
use openrtb::native::NativeRequest;

// The allocator the bidder runs with, so that allocation costs here are
// the ones it pays.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The tail a bid writes into the trackers.
const TAIL: &str = "&bid=3f2a9c1e-1&ex=bench&stage=intent&pp=250000";

const NATIVE_REQUEST: &str = r#"{"ver":"1.2","assets":[{"id":1,"required":1,"title":{"len":90}},
    {"id":2,"required":1,"img":{"type":3,"wmin":300,"hmin":157}},{"id":3,"data":{"type":2,"len":140}},
    {"id":4,"data":{"type":12}},{"id":5,"data":{"type":1}}]}"#;

fn assemble(c: &mut Criterion) {
    let plan = benches::plan(&benches::demo_library(), &|_, _| Counts::default());
    let en = plan.language(["en-US"], |_| true).expect("english");
    let native: NativeRequest = serde_json::from_str(NATIVE_REQUEST).expect("native request");
    let mut out = String::with_capacity(16 * 1024);
    let mut u = 0u32;
    let mut one = |format: Format, out: &mut String| {
        u = u.wrapping_add(0x9E37_79B9);
        let served = plan
            .choose(en, Stage::Intent, format, u, |item| {
                item.allowed_at("bench")
            })
            .expect("the demo plan serves every format");
        out.clear();
        served
            .item
            .write(TAIL, Some(&native), out)
            .expect("native assets fit");
    };

    let mut group = c.benchmark_group("creative/assemble");
    for format in Format::ALL {
        group.bench_function(format.name(), |b| {
            b.iter(|| {
                one(format, &mut out);
                black_box(&out);
            })
        });
    }

    // The same 300x250 rendered from its fragments per bid.
    let library = benches::demo_library();
    let parts = Parts {
        message: &library.messages[2],
        content: &library.contents[0],
        tone: Some(&library.tones[0]),
    };
    let trackers = Trackers {
        click: "http://127.0.0.1:8080/events/click?cid=1&crid=a300x250-m3v1-c5v1-t8v1",
        impression: Some("http://127.0.0.1:8080/events/imp?cid=1&crid=a300x250-m3v1-c5v1-t8v1"),
    };
    group.bench_function("render_from_fragments_300x250", |b| {
        b.iter(|| {
            let prepared = prepare_banner(&BANNERS[0], Stage::Intent, &parts, &trackers);
            out.clear();
            prepared.write(TAIL, &mut out);
            black_box(&out);
        })
    });
    group.finish();
}

/// Probabilities of 100 combinations with CTRs spread from 0.5 % to 2.5 %.
fn hundred() -> Vec<f64> {
    let counts: Vec<Counts> = (0..100)
        .map(|i| Counts {
            impressions: 10_000,
            clicks: 50 + 2 * i,
            ..Counts::default()
        })
        .collect();
    let all: Vec<u32> = (0..100).collect();
    let policy = Policy {
        seed: Some(11),
        ..Policy::default()
    };
    probabilities(&counts, &[all], &policy, Objective::Clicks).remove(0)
}

fn choose(c: &mut Criterion) {
    let choice = Choice::new(&hundred());
    let mut draws = Draws::new(5);
    let mut group = c.benchmark_group("creative/choose");
    group.bench_function("thompson_100", |b| {
        b.iter(|| black_box(choice.pick(draws.next_u32(), |_| true)))
    });
    group.bench_function("thompson_100_one_in_ten_vetoed", |b| {
        b.iter(|| black_box(choice.pick(draws.next_u32(), |i| i % 10 != 3)))
    });

    // A campaign of 5 messages x 5 contents x 4 tones: 100 combinations
    // in each 300x250 group.
    let library = benches::synthetic_library(5, 5, 4);
    let plan = benches::plan(&library, &|_, _| Counts::default());
    let en = plan.language(["en"], |_| true).expect("english");
    assert_eq!(
        plan.group(en, Stage::Awareness, Format::Banner(0)).len(),
        100
    );
    group.bench_function("plan_choose_100", |b| {
        b.iter(|| {
            black_box(plan.choose(
                en,
                Stage::Awareness,
                Format::Banner(0),
                draws.next_u32(),
                |item| item.allowed_at("bench"),
            ))
        })
    });
    group.finish();
}

fn learn(c: &mut Criterion) {
    let mut group = c.benchmark_group("creative/learn");
    group.sample_size(20);
    let policy = Policy {
        seed: Some(3),
        ..Policy::default()
    };
    let counts: Vec<Counts> = (0..100)
        .map(|i| Counts {
            impressions: 1_000 + 10 * i,
            clicks: i,
            ..Counts::default()
        })
        .collect();
    let subsets: Vec<Vec<u32>> = (0..6).map(|_| (0..100).collect()).collect();
    group.bench_function(
        BenchmarkId::new("probabilities", "100_combinations_6_stages"),
        |b| b.iter(|| black_box(probabilities(&counts, &subsets, &policy, Objective::Clicks))),
    );
    let library = benches::synthetic_library(5, 5, 4);
    group.bench_function(BenchmarkId::new("plan_build", "100_combinations"), |b| {
        b.iter(|| black_box(benches::plan(&library, &|_, _| Counts::default())))
    });
    group.finish();
}

criterion_group!(benches, assemble, choose, learn);
criterion_main!(benches);
