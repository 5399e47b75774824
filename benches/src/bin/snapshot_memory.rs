//! What one campaign costs in the bid snapshot: bytes a snapshot of N
//! campaigns keeps allocated, divided by N, for campaigns with one-entry
//! lists and for campaigns whose every list is at the admin API's limit
//! (50 `adomain`, 300 countries, 5,000 domains in each site list, ...).
//!
//! `cargo run --release -p benches --bin snapshot_memory [-- CAMPAIGNS]`
//!
//! Counts with a wrapping global allocator (live bytes after the build
//! minus before), so the figure is the snapshot's own, not the process's.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use bidder::model::{Catalog, ListFilter, Size};

/// The system allocator, counting live bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is only arithmetic on the sizes asked for.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as the caller's contract.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Live bytes of the snapshot of `catalog`, per campaign.
fn per_campaign(catalog: &Catalog) -> f64 {
    let before = LIVE.load(Ordering::Relaxed);
    let snapshot = benches::snapshot(catalog);
    let after = LIVE.load(Ordering::Relaxed);
    assert_eq!(snapshot.campaign_count(), catalog.campaigns.len());
    drop(snapshot);
    (after - before) as f64 / catalog.campaigns.len() as f64
}

/// `catalog` with every list of every campaign at the admin API's limit.
fn at_the_limits(mut catalog: Catalog) -> Catalog {
    let domains = |prefix: &str| (0..5_000).map(|i| format!("{prefix}{i}.example")).collect();
    for c in &mut catalog.campaigns {
        c.adomain = (0..50).map(|i| format!("brand{i}.example")).collect();
        c.cat = (0..50).map(|i| format!("IAB{}", i % 26 + 1)).collect();
        c.attr = (1..=50).collect();
        let t = &mut c.targeting;
        t.countries = (0..300).map(|i| format!("C{:02}", i % 100)).collect();
        t.regions = (0..1_000).map(|i| format!("USA-{}", i % 999)).collect();
        t.os = (0..50).map(|i| format!("os{i}")).collect();
        t.languages = (0..200).map(|i| format!("l{}", i % 10)).collect();
        t.site_domains = ListFilter {
            allow: domains("allow"),
            deny: domains("deny"),
        };
        t.app_bundles = ListFilter {
            allow: domains("com.allow"),
            deny: domains("com.deny"),
        };
        t.deal_ids = (0..1_000).map(|i| format!("deal-{i}")).collect();
        t.sizes.push(Size { w: 300, h: 250 });
    }
    catalog
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("a number of campaigns"))
        .unwrap_or(100);
    let plain = per_campaign(&benches::synthetic_catalog(n));
    let full = per_campaign(&at_the_limits(benches::synthetic_catalog(n)));
    println!("campaigns: {n}");
    println!("bytes per campaign, one-entry lists: {plain:.0}");
    println!("bytes per campaign, every list at its limit: {full:.0}");
}
