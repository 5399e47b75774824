//! The audience table at scale: resident memory per user at ten million
//! users, and a reader's lookup latency while a batch of one million
//! updates is applied, compared with the same reader when the table is idle.
//!
//! `cargo run --release -p benches --bin audience_scale [-- USERS BATCH]`
//! Run it pinned to two cores (`taskset -c 0,1`): the reader thread and the
//! writer thread each get one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use audiences::Stage;
use audiences::keys::UserKey;
use audiences::table::{Change, Entry, FunnelId, Table};
use benches::SpreadKeys as Keys;
use hdrhistogram::Histogram;

// The allocator the bidder runs with, so resident memory is comparable.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<u64>().expect("a number"));
    let users = args.next().unwrap_or(10_000_000);
    let batch_size = args.next().unwrap_or(1_000_000);

    let before = rss_bytes();
    let started = Instant::now();
    // 1.5 entries per user on average: every other user is in two funnels.
    // Loaded in key order, as the bidder loads its store at start.
    let keys = Keys::new(users);
    let table = Arc::new(keys.table());
    let load_time = started.elapsed();
    let snapshot = table.snapshot();
    // Give the allocator its moment to return the pages of replaced shards.
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_bytes();
    println!("users                 {users}");
    println!(
        "load                  {:.2} s ({:.1} M users/s)",
        load_time.as_secs_f64(),
        users as f64 / load_time.as_secs_f64() / 1e6
    );
    println!(
        "table arrays          {:.1} bytes/user",
        snapshot.heap_bytes() as f64 / users as f64
    );
    println!(
        "resident growth       {:.1} bytes/user",
        (after - before) as f64 / users as f64
    );
    drop(snapshot);

    let idle = read_for(&table, &keys, Duration::from_secs(2), None);
    let batch: Vec<Change> = (0..batch_size)
        .map(|i| {
            let u = (i * 7_919) % users;
            Change::Upsert {
                key: keys.key(u),
                entry: entry(u, 1, Stage::Customer),
            }
        })
        .collect();
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let (table, writing) = (Arc::clone(&table), Arc::clone(&writing));
        std::thread::spawn(move || {
            // Let the reader start first.
            std::thread::sleep(Duration::from_millis(50));
            let t = Instant::now();
            table.apply(&[], &batch, 1);
            let took = t.elapsed();
            writing.store(false, Ordering::Relaxed);
            took
        })
    };
    let busy = read_for(&table, &keys, Duration::from_secs(60), Some(&writing));
    let publish = writer.join().expect("writer");
    println!(
        "batch of {batch_size} updates published in {:.2} s",
        publish.as_secs_f64()
    );
    for (name, h) in [("idle", &idle), ("during batch", &busy)] {
        println!(
            "reader {name:<13} lookups {:>9}  p50 {:>5} ns  p99 {:>5} ns  p99.9 {:>6} ns",
            h.len(),
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999)
        );
    }
    println!(
        "p99 ratio (during / idle) {:.2}",
        busy.value_at_quantile(0.99) as f64 / idle.value_at_quantile(0.99) as f64
    );
}

fn entry(u: u64, funnel: u32, stage: Stage) -> Entry {
    Entry {
        funnel: FunnelId(funnel),
        stage,
        updated: 1,
        expires: if u.is_multiple_of(10) { u32::MAX } else { 0 },
    }
}

/// Looks up random users (hits and misses) for `limit`, or until `until`
/// turns false; each lookup timed on its own, snapshot load included.
fn read_for(
    table: &Table,
    keys: &Keys,
    limit: Duration,
    until: Option<&AtomicBool>,
) -> Histogram<u64> {
    let users = keys.users();
    let mut h = Histogram::new_with_bounds(1, 10_000_000, 3).expect("bounds");
    let start = Instant::now();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut found = 0u64;
    loop {
        for _ in 0..1_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = keys.key(x % users);
            let key = if x.is_multiple_of(5) {
                UserKey(key.0 ^ 1)
            } else {
                key
            };
            let t = Instant::now();
            let snap = table.snapshot();
            found += snap.stage(key, FunnelId(1), 1).is_some() as u64;
            drop(snap);
            h.saturating_record(t.elapsed().as_nanos() as u64);
        }
        let done = until.is_some_and(|w| !w.load(Ordering::Relaxed));
        if done || start.elapsed() > limit {
            break;
        }
    }
    std::hint::black_box(found);
    h
}

/// Resident set size of this process, from `/proc/self/statm`.
fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}
