//! The admins' live view: requests per second, the bid rate, latency
//! percentiles and the no-bid reasons of the last minute, from the bid
//! path's own counters ([`crate::live`]), and the requests of each second
//! as a bar chart.
//!
//! Pure: the service's view in, markup out. The page works without
//! script (it shows the minute up to when it was loaded); with script,
//! `live.js` (served at [`LIVE_JS_PATH`], our own, a few lines) fetches
//! the page again every few seconds and swaps in its figures, until the
//! reader pauses it. Only this page's policy allows that script
//! ([`LIVE_CSP`]).

use maud::{Markup, html};

use super::chart::{self, Frame};
use super::pages::layout;
use crate::control::auth::Principal;
use crate::live::TrafficView;

/// Where the live view's script is served.
pub const LIVE_JS_PATH: &str = "/console/live.js";

/// The live view's script: refreshes `#live-figures` from the page itself
/// every few seconds, with a button to pause and resume.
pub const LIVE_JS: &str = include_str!("live.js");

/// The live page's policy: the console's, plus this server's own scripts
/// and fetches to this server (to load the figures again).
pub const LIVE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     script-src 'self'; connect-src 'self'; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The live view.
pub fn live(who: &Principal, csrf: &str, v: &TrafficView) -> Markup {
    let body = html! {
        h1 { "Live" }
        p { "What the bid path counted over the last minute (since start, when it started less than a minute ago), read once a second from the counters " code { "/metrics" } " serves." }
        p.actions {
            button #live-pause type="button" hidden aria-pressed="false" { "Pause updates" }
            " "
            a href="/console/live" { "Load again" }
        }
        (figures(v))
        script src=(LIVE_JS_PATH) defer {}
    };
    layout("Live", Some((who, csrf)), body)
}

/// The part the script replaces.
fn figures(v: &TrafficView) -> Markup {
    let secs = v.span.as_secs();
    let bars: Vec<(i64, i64)> = v
        .per_second
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let ago = (v.per_second.len() - i) as i64;
            (-ago, i64::try_from(*n).unwrap_or(i64::MAX))
        })
        .collect();
    let x_labels: Vec<(i64, String)> = [-60, -45, -30, -15, 0]
        .into_iter()
        .map(|x| {
            (
                x,
                if x == 0 {
                    "now".into()
                } else {
                    format!("{x} s")
                },
            )
        })
        .collect();
    let count = |n: i64| n.to_string();
    html! {
        section #live-figures aria-labelledby="live-h" aria-live="polite" {
            h2 #live-h { "The last " (secs) " seconds" }
            @if secs == 0 {
                p { "No second has been read yet: load the page again in a moment." }
            } @else {
                dl.figures {
                    dt { "Requests per second" } dd #live-rps { (format!("{:.1}", v.rate())) }
                    dt { "Requests" } dd #live-requests { (v.requests) }
                    dt { "Bid rate" } dd #live-bid-rate { (format!("{:.1}%", v.bid_rate() * 100.0)) }
                    dt { "Answers with a bid" } dd { (v.bids) }
                    @for (p, bound) in &v.latency {
                        dt { "Latency, " (p) "th percentile" }
                        dd { (latency(*bound)) }
                    }
                    @if v.latency.is_empty() {
                        dt { "Latency" } dd { "no answer timed" }
                    }
                }
                (chart::bars(
                    &Frame {
                        id: "live-rps-chart",
                        title: "Requests per second",
                        desc: "Bid requests received in each second of the last minute.",
                        x_labels: &x_labels,
                        y_label: &count,
                    },
                    -60,
                    0,
                    1,
                    &bars,
                    None,
                ))
                h3 { "No-bid reasons" }
                @if v.no_bids.is_empty() {
                    p { "No request went without a bid." }
                } @else {
                    table {
                        caption { "No-bids by reason, most first" }
                        thead { tr { th scope="col" { "Reason" } th scope="col" { "Requests" } th scope="col" { "Share of requests" } } }
                        tbody {
                            @for (reason, n) in &v.no_bids {
                                tr {
                                    th scope="row" { code { (reason) } }
                                    td { (n) }
                                    td { (super::pages::rate(*n as i64, v.requests as i64)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A latency bucket's bound for people: `≤ 250 µs`, `≤ 2.5 ms`, `> 250
/// ms`.
fn latency(bound: Option<u64>) -> String {
    match bound {
        Some(us) if us < 1_000 => format!("≤ {us} µs"),
        Some(us) => format!("≤ {} ms", us as f64 / 1_000.0),
        None => format!(
            "> {} ms",
            crate::metrics::LATENCY_BOUNDS_US[crate::metrics::LATENCY_BOUNDS_US.len() - 1] / 1_000
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_bounds_read_in_the_unit_that_fits() {
        assert_eq!(latency(Some(250)), "≤ 250 µs");
        assert_eq!(latency(Some(2_500)), "≤ 2.5 ms");
        assert_eq!(latency(Some(10_000)), "≤ 10 ms");
        assert_eq!(latency(None), "> 250 ms");
    }

    #[test]
    fn the_figures_say_rate_bid_rate_percentiles_and_reasons() {
        let v = TrafficView {
            span: std::time::Duration::from_secs(4),
            requests: 40,
            bids: 10,
            latency: vec![(50, Some(100)), (90, Some(1_000)), (99, None)],
            timed: 40,
            no_bids: vec![("below_floor", 30)],
            per_second: vec![10, 10, 10, 10],
        };
        let html = figures(&v).into_string();
        assert!(html.contains("The last 4 seconds"), "{html}");
        assert!(html.contains("<dd id=\"live-rps\">10.0</dd>"), "{html}");
        assert!(html.contains("25.0%"), "{html}");
        assert!(
            html.contains("≤ 1 ms") && html.contains("&gt; 250 ms"),
            "{html}"
        );
        assert!(
            html.contains("<code>below_floor</code></th><td>30</td><td>75.0%</td>"),
            "{html}"
        );
        assert_eq!(
            html.matches("<rect").count(),
            4 + 1,
            "a bar a second, and the frame"
        );
    }
}
