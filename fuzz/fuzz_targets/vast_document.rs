//! Any text as an uploaded VAST document: the upload check accepts or
//! refuses, never panics; the trackers go into any well-formed document
//! without a panic and it stays well-formed; and a document the check
//! accepts carries exactly one bidder impression, in every linear ad
//! exactly one bidder click tracker, first in its `<VideoClicks>`, and in
//! every non-linear ad exactly one, its last element.
#![no_main]

use bidder::bid::snapshot::trackers::{Tracked, Trackers};
use libfuzzer_sys::fuzz_target;
use roxmltree::Node;

/// A tail no fuzzed document will hold, so ours are told from its own.
const TOKEN: &str = "Zq7-fuzz-token";

const TRACKERS: Trackers<'static> = Trackers {
    impression: "https://b.example/events/imp?stage=",
    click: "https://b.example/events/click?cid=1&crid=2&stage=",
    click_ping: "https://b.example/events/clicktrack?cid=1&crid=2&stage=",
};

fn named<'a, 'i>(n: Node<'a, 'i>, name: &'static str) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

/// One of our trackers: an element whose text ends with our token.
fn ours(n: Node<'_, '_>) -> bool {
    n.is_element() && n.text().is_some_and(|t| t.ends_with(TOKEN))
}

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = std::str::from_utf8(data) else {
        return;
    };
    let accepted = bidder::vast::check(doc).is_ok();
    let Ok(tracked) = Tracked::vast(doc, TRACKERS) else {
        assert!(
            !accepted,
            "the check accepted what the tracker cannot parse"
        );
        return;
    };
    let mut out = String::new();
    tracked.write("intent", TOKEN, &mut out);
    let parsed = roxmltree::Document::parse(&out).expect("trackers keep the document well-formed");
    if !accepted {
        return;
    }
    let impressions = parsed
        .descendants()
        .filter(|n| n.tag_name().name() == "Impression" && ours(*n))
        .count();
    assert_eq!(impressions, 1, "{out}");
    let bodies = named(parsed.root_element(), "Ad")
        .filter_map(|ad| named(ad, "InLine").chain(named(ad, "Wrapper")).next());
    for body in bodies {
        let mut linears = 0;
        for linear in named(body, "Creatives")
            .flat_map(|c| named(c, "Creative"))
            .flat_map(|c| named(c, "Linear"))
        {
            linears += 1;
            let clicks: Vec<_> = named(linear, "VideoClicks").collect();
            assert_eq!(clicks.len(), 1, "{out}");
            let trackers: Vec<_> = clicks[0].descendants().filter(|n| ours(*n)).collect();
            assert_eq!(trackers.len(), 1, "{out}");
            let first = clicks[0].children().find(|n| n.is_element());
            assert_eq!(first, Some(trackers[0]), "{out}");
        }
        assert!(
            linears > 0,
            "every accepted ad has a linear ad once tracked: {out}"
        );
        for ads in named(body, "Creatives")
            .flat_map(|c| named(c, "Creative"))
            .flat_map(|c| named(c, "NonLinearAds"))
        {
            let mut non_linears = 0;
            for non_linear in named(ads, "NonLinear") {
                non_linears += 1;
                let trackers: Vec<_> = non_linear.descendants().filter(|n| ours(*n)).collect();
                assert_eq!(trackers.len(), 1, "{out}");
                assert_eq!(
                    trackers[0].tag_name().name(),
                    "NonLinearClickTracking",
                    "{out}"
                );
                let last = non_linear.children().rfind(|n| n.is_element());
                assert_eq!(last, Some(trackers[0]), "{out}");
            }
            assert!(
                non_linears > 0 || body.tag_name().name() == "InLine",
                "a wrapper's non-linear ads are tracked: {out}"
            );
        }
    }
});
