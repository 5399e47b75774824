//! The issue's `typical` request through the bid endpoint's handler, `N`
//! times in one function (`measured_loop`), on the demo catalog: the same
//! work as `end_to_end/typical` in `benches/bid_path.rs`, in a program
//! small enough to run under valgrind. Counting instructions per request
//! gives a figure the shared machine's noise does not move:
//!
//! ```sh
//! cargo build --profile bench -p benches --example typical_loop
//! valgrind --tool=callgrind --toggle-collect='*measured_loop*' \
//!     target/release/examples/typical_loop 3000     # Ir / 3000
//! taskset -c 1 target/release/examples/typical_loop 200000   # µs per request
//! ```

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use bidder::Instance;
use bidder::bid::endpoint::respond;
use bidder::config::Config;
use bidder::control::demo;
use bidder::store::Store;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let n: u32 = match std::env::args().nth(1).map(|s| s.parse()) {
        None => 10_000,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("usage: typical_loop [requests]: {e}");
            std::process::exit(2);
        }
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("store");
    demo::seed_if_empty(&store, "https://bidder.example").expect("demo data");
    let mut config = Config::for_tests(dir.path());
    // The typical imp is secure: notice and asset URLs must be https.
    config.public_url = "https://bidder.example".into();
    let app = Instance::new(config, Arc::new(store)).expect("instance");
    let exchange = app.config.default_exchange;
    let typical = benches::typical_request().expect("testdata/typical");
    // Warm up; under valgrind the first requests can outlast tmax, so only
    // the later ones must bid.
    for i in 0..200 {
        let status = respond(&app, exchange, &typical, false, false, Instant::now()).status();
        if i >= 100 && status != 200 {
            eprintln!("the typical request got {status}, not a bid");
            std::process::exit(1);
        }
    }
    let t = Instant::now();
    measured_loop(&app, exchange, &typical, n);
    println!(
        "{:.3} µs per request",
        t.elapsed().as_secs_f64() * 1e6 / f64::from(n.max(1))
    );
}

/// The measured requests, in a function of their own for callgrind.
#[inline(never)]
fn measured_loop(app: &Instance, exchange: usize, typical: &[u8], n: u32) {
    for _ in 0..n {
        black_box(respond(
            app,
            exchange,
            typical,
            false,
            false,
            Instant::now(),
        ));
    }
}
