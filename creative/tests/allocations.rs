//! The bid path's share of creative work allocates nothing: choosing an
//! item of a plan and writing it, with a bid's tail, into a buffer that
//! already has room. A counting global allocator proves it, counting only
//! on this test's thread while the work runs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use audiences::Stage;
use creative::fragment::FragmentBody;
use creative::learning::{Counts, Objective, Policy};
use creative::plan::{Library, Plan, PlanInput};
use creative::template::Format;
use openrtb::native::NativeRequest;

struct Counting;

thread_local! {
    // Per thread, so that tests running in parallel do not count each
    // other's allocations.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn counted() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: every call is passed to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        counted();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get) - before
}

fn library() -> Library {
    let bodies: Vec<FragmentBody> = serde_json::from_str(
        r##"[
        {"kind": "message", "body": {"language": "en", "headline": "Meet the tent that packs in minutes",
            "subline": "Built for storms, light on your back"}},
        {"kind": "message", "body": {"language": "en", "headline": "Your Ridge 2 is ready to ship"}},
        {"kind": "content", "body": {"language": "en", "body": "Storm-proof shelters for every season.",
            "product": {"name": "Ridge 2", "price_micros": 249000000, "currency": "USD"},
            "offer": {"text": "10% off with code RIDGE10", "stages": ["intent"]},
            "images": [{"url": "https://cdn.example/ridge-1200x627.jpg", "w": 1200, "h": 627, "mime": "image/jpeg"}],
            "video": {"url": "https://cdn.example/ridge-15s.mp4", "duration_secs": 15, "mime": "video/mp4", "w": 1280, "h": 720},
            "landing_url": "https://acme.example/tents"}},
        {"kind": "tone", "body": {"language": "en", "cta": "Shop now", "voice": "casual",
            "palette": {"background": "#fffaf3", "foreground": "#1d2b1f", "accent": "#e4572e"},
            "font_stack": "Arial, sans-serif"}},
        {"kind": "tone", "body": {"language": "en", "cta": "See the details", "voice": "formal",
            "palette": {"background": "#1d2b1f", "foreground": "#f4f1ea", "accent": "#f2a541"},
            "font_stack": "Georgia, serif"}}
    ]"##,
    )
    .unwrap();
    Library::from_bodies(bodies)
}

fn plan() -> Plan {
    Plan::build(
        &library(),
        &PlanInput {
            brand: "Acme",
            default_language: Some("en"),
            click_base: "https://bidder.example/events/click?cid=1",
            impression_base: "https://bidder.example/events/imp?cid=1",
            privacy_url: None,
            preview: false,
            allows: &|_| true,
            rejected_at: &|_| Vec::new(),
            counts: &|_, _| Counts::default(),
            policy: &Policy {
                seed: Some(1),
                ..Policy::default()
            },
            objective: &|_| Objective::Clicks,
        },
    )
}

const TAIL: &str = "&bid=b-1&ex=openx&stage=intent&pp=250000";

#[test]
fn choosing_and_writing_markup_allocates_nothing() {
    let plan = plan();
    let en = plan.language(["en-US"], |_| true).unwrap();
    let mut out = String::with_capacity(16 * 1024);
    for format in Format::ALL {
        if matches!(format, Format::Native) {
            continue;
        }
        for stage in Stage::ALL {
            let n = allocations(|| {
                for u in (0..u32::MAX).step_by(u32::MAX as usize / 50) {
                    let served = plan
                        .choose(en, stage, format, u, |item| item.allowed_at("openx"))
                        .expect("an item");
                    out.clear();
                    served.item.write(TAIL, None, &mut out).unwrap();
                }
            });
            assert!(out.len() > 500, "{format:?} wrote markup");
            assert_eq!(n, 0, "{} at {stage:?} allocated", format.name());
        }
    }
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the test above against a counter that counts nothing.
    let n = allocations(|| {
        let v: Vec<u8> = Vec::with_capacity(std::hint::black_box(64));
        std::hint::black_box(v);
    });
    assert_eq!(n, 1);
}

#[test]
fn writing_native_against_a_request_allocates_nothing() {
    // Native JSON is rendered per bid against the request's asset list,
    // not prepared ahead like markup; it must stay as cheap.
    let plan = plan();
    let en = plan.language(["en"], |_| true).unwrap();
    let req: NativeRequest = serde_json::from_str(
        r#"{"assets":[{"id":1,"required":1,"title":{"len":90}},
            {"id":2,"img":{"type":3,"wmin":100,"hmin":50}},{"id":3,"data":{"type":2}},
            {"id":4,"data":{"type":12}}]}"#,
    )
    .unwrap();
    let mut out = String::with_capacity(16 * 1024);
    let served = plan
        .choose(en, Stage::Intent, Format::Native, 7, |_| true)
        .unwrap();
    served.item.write(TAIL, Some(&req), &mut out).unwrap();
    out.clear();
    let n = allocations(|| {
        served.item.write(TAIL, Some(&req), &mut out).unwrap();
    });
    assert!(out.contains("\"assets\""), "{out}");
    assert_eq!(n, 0, "native rendering allocated {n} times");
}
