//! The explain page: a form taking a bid request (pasted, one of a few
//! examples, or one of the recent requests the bidder kept with their
//! personal data taken out), and the service's explanation as a table per impression and
//! campaign: the step each campaign dropped at, what that step saw, what
//! wins, and the no-bid reason the exchange would get.
//!
//! Pure: the explanation in, markup out. Never explains (the service
//! does, with the bid path's own `decide`), never parses a request.

use maud::{Markup, html};
use serde_json::Value;

use super::pages::{layout, money};
use crate::bid::decision::explain::{Explanation, ImpExplanation};
use crate::control::auth::Principal;
use crate::control::service::RecentRequest;

/// Requests to start from, as an exchange would send them: `(key, label,
/// body)`.
pub const SAMPLES: &[(&str, &str, &str)] = &[
    (
        "banner",
        "A 300x250 banner on a news site, a known user",
        r#"{"id":"sample-banner","imp":[{"id":"1","banner":{"w":300,"h":250}}],"site":{"domain":"news.example","page":"https://news.example/a"},"device":{"ua":"Mozilla/5.0","ip":"203.0.113.7","language":"en"},"user":{"buyeruid":"demo-intent"},"at":1,"tmax":500}"#,
    ),
    (
        "floor",
        "The same banner with a floor of 500 USD CPM",
        r#"{"id":"sample-floor","imp":[{"id":"1","banner":{"w":300,"h":250},"bidfloor":500,"bidfloorcur":"USD"}],"site":{"domain":"news.example","page":"https://news.example/a"},"device":{"ua":"Mozilla/5.0","ip":"203.0.113.7","language":"en"},"user":{"buyeruid":"demo-intent"},"at":1,"tmax":500}"#,
    ),
    (
        "odd-size",
        "A 123x45 banner no creative fits",
        r#"{"id":"sample-size","imp":[{"id":"1","banner":{"w":123,"h":45}}],"site":{"domain":"news.example","page":"https://news.example/a"},"device":{"ua":"Mozilla/5.0","ip":"203.0.113.7","language":"en"},"at":1,"tmax":500}"#,
    ),
];

/// What the explain page shows.
#[derive(Debug)]
pub struct ExplainView<'a> {
    /// Who is looking.
    pub who: &'a Principal,
    /// Its session's CSRF token.
    pub csrf: &'a str,
    /// The request in the text box.
    pub request: &'a str,
    /// The exchange asked for (blank: the default one).
    pub exchange: &'a str,
    /// Why the request could not be explained, at the request field.
    pub problem: Option<&'a str>,
    /// The explanation.
    pub explanation: Option<&'a Explanation>,
    /// The recent requests to pick from, newest first.
    pub recent: &'a [RecentRequest],
}

/// The form value that picks recent request `seq`.
pub fn recent_key(seq: u64) -> String {
    format!("recent-{seq}")
}

/// `13:02:11 UTC`.
fn time_of_day(at: crate::model::UnixTime) -> String {
    let s = at.0.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02} UTC", s / 3600, s / 60 % 60, s % 60)
}

/// The explain page.
pub fn explain(v: &ExplainView<'_>) -> Markup {
    let body = html! {
        h1 { "Explain a bid request" }
        p { "What the bidder would answer this request now, and at which step each campaign you may see drops out. Nothing is booked, counted or learnt." }
        form.explain method="post" action="/console/explain" {
            input type="hidden" name="csrf" value=(v.csrf);
            div.field {
                label for="x-sample" { "Start from a sample" }
                select #x-sample name="sample" aria-describedby="x-sample-hint" {
                    option value="" { "(the request below)" }
                    optgroup label="Examples" {
                        @for (key, label, _) in SAMPLES {
                            option value=(key) { (label) }
                        }
                    }
                    @if !v.recent.is_empty() {
                        optgroup label="Recent requests, personal data removed" {
                            @for r in v.recent {
                                option value=(recent_key(r.seq)) { (time_of_day(r.at)) " · " (r.exchange) " · " (r.summary) }
                            }
                        }
                    }
                }
                p.hint #x-sample-hint {
                    "The bidder keeps its last " (crate::bid::sample::KEPT) " requests, one a second at most, without user and device ids, IP addresses, consent strings, exact positions or any " code { "ext" } ": explained as an unknown user."
                    @if v.recent.is_empty() { " None yet." }
                }
            }
            div class=(if v.problem.is_some() { "field invalid wide" } else { "field wide" }) {
                label for="x-request" { "OpenRTB 2.x bid request (JSON)" }
                textarea #x-request name="request" rows="12" spellcheck="false"
                    aria-invalid=[v.problem.is_some().then_some("true")]
                    aria-describedby=[v.problem.is_some().then_some("x-problem")] { (v.request) }
                @if let Some(p) = v.problem {
                    p.error #x-problem { (p) }
                }
            }
            div.field {
                label for="x-exchange" { "Exchange" }
                input #x-exchange name="exchange" value=(v.exchange) aria-describedby="x-exchange-hint";
                p.hint #x-exchange-hint { "its name in the configuration; blank for the default exchange" }
            }
            div.actions { button type="submit" { "Explain" } }
        }
        @if let Some(x) = v.explanation {
            (explanation(x))
        }
    };
    layout("Explain", Some((v.who, v.csrf)), body)
}

fn explanation(x: &Explanation) -> Markup {
    let cur = x
        .currency
        .map(|c| c.as_str().to_owned())
        .unwrap_or_default();
    let mut reasons: std::collections::BTreeMap<&str, usize> = Default::default();
    for n in &x.not_bidding {
        *reasons.entry(n.reason.unwrap_or("unknown")).or_default() += 1;
    }
    html! {
        section.explained aria-labelledby="answer-h" {
            h2 #answer-h {
                @match x.no_bid {
                    Some(reason) => { "No bid: " (reason.replace('_', " ")) }
                    None => { "A bid" }
                }
            }
            p {
                @match x.currency {
                    Some(c) => { "Answered in " (c.as_str()) "." }
                    None => { "No currency of the request has a rate: nothing bids." }
                }
                @if let Some(reason) = x.no_bid { " The exchange gets no-bid reason " code { (reason) } "." }
            }
            @for imp in &x.imps {
                (impression(imp, &cur))
            }
            @if !x.not_bidding.is_empty() {
                h3 { "Not bidding at all now" }
                p {
                    (x.not_bidding.len()) " campaigns: "
                    @for (i, (reason, count)) in reasons.iter().enumerate() {
                        @if i > 0 { ", " }
                        (reason.replace('_', " ")) " " (count)
                    }
                    @if x.not_bidding.len() > MAX_ROWS { "; the first " (MAX_ROWS) ":" }
                }
                ul {
                    @for n in x.not_bidding.iter().take(MAX_ROWS) {
                        li {
                            a href=(format!("/console/campaigns/{}", n.campaign.0)) { "campaign #" (n.campaign.0) }
                            ": " (n.reason.unwrap_or("unknown").replace('_', " "))
                        }
                    }
                }
            }
        }
    }
}

fn impression(imp: &ImpExplanation, cur: &str) -> Markup {
    html! {
        h3 { "Impression " code { (imp.id) } }
        p {
            @if imp.over_imp_cap {
                "Beyond the exchange's limit of impressions per request: nothing bids on it."
            } @else if let Some(w) = &imp.winner {
                "Won by " a href=(format!("/console/campaigns/{}", w.campaign.0)) { "campaign #" (w.campaign.0) }
                " at " (money(w.price, cur)) " CPM (floor " (money(w.floor, cur)) "), creative " code { (w.crid) }
                @if let Some(d) = &w.deal { ", deal " code { (d) } }
                @if let Some(s) = &w.stage { ", user at stage " (s.as_str()) }
                "."
            } @else if imp.won_by_another_advertiser {
                "Won by another advertiser's campaign."
            } @else {
                "No campaign bids on it."
            }
        }
        @if imp.campaigns.is_empty() {
            p { "No campaign you may see is in the bidder's snapshot." }
        } @else {
            @let steps = step_counts(imp);
            p { "Where the " (imp.campaigns.len()) " campaigns stop: "
                @for (i, (step, n)) in steps.iter().enumerate() {
                    @if i > 0 { ", " }
                    (step.replace('_', " ")) " " (n)
                }
                "."
            }
            table {
                caption {
                    "Campaigns on impression " (imp.id) ", most valuable first"
                    @if imp.campaigns.len() > MAX_ROWS { " (the first " (MAX_ROWS) ")" }
                }
                thead { tr {
                    th scope="col" { "Campaign" }
                    th scope="col" { "Step" }
                    th scope="col" { "What it saw" }
                } }
                tbody {
                    @for c in imp.campaigns.iter().take(MAX_ROWS) {
                        @let (step, saw) = step_of(&c.verdict);
                        tr {
                            th scope="row" { a href=(format!("/console/campaigns/{}", c.campaign.0)) { "#" (c.campaign.0) } span.id { " · advertiser " (c.advertiser.0) } }
                            td { span class=(if step == "wins" { "step wins" } else { "step" }) { (step.replace('_', " ")) } }
                            td {
                                @if saw.is_empty() { "–" }
                                @else { dl.saw { @for (k, v) in &saw { dt { (k.replace('_', " ")) } dd { (v) } } } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The most campaigns an impression's table lists; the rest are counted
/// by step above it (a catalog of thousands would weigh megabytes).
const MAX_ROWS: usize = 50;

/// How many campaigns stop at each step, most first.
fn step_counts(imp: &ImpExplanation) -> Vec<(String, usize)> {
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for c in &imp.campaigns {
        *counts.entry(step_of(&c.verdict).0).or_default() += 1;
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// A verdict's step and what it saw, as `(name, text)` pairs: its
/// serialized form, so every step's fields are shown as the API gives
/// them.
fn step_of<T: serde::Serialize>(verdict: &T) -> (String, Vec<(String, String)>) {
    let Ok(Value::Object(mut m)) = serde_json::to_value(verdict) else {
        return ("unknown".into(), Vec::new());
    };
    let step = match m.remove("step") {
        Some(Value::String(s)) => s,
        _ => "unknown".into(),
    };
    let saw = m.into_iter().map(|(k, v)| (k, text(&v))).collect();
    (step, saw)
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "not given".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "none".into(),
        Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(", "),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k} {}", text(v)))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bid::decision::explain::Verdict;

    #[test]
    fn a_verdict_shows_its_step_and_every_field_it_saw() {
        let (step, saw) = step_of(&Verdict::Targeting {
            dimension: "country",
            value: None,
        });
        assert_eq!(step, "targeting");
        assert_eq!(
            saw,
            vec![
                ("dimension".to_owned(), "country".to_owned()),
                ("value".to_owned(), "not given".to_owned())
            ]
        );
        let (step, saw) = step_of(&Verdict::NoCreative {
            slot: vec!["banner 123x45".into()],
            banners: vec![],
            assembled: vec!["300x250".into(), "728x90".into()],
        });
        assert_eq!(step, "no_creative");
        assert!(saw.contains(&("banners".to_owned(), "none".to_owned())));
        assert!(saw.contains(&("assembled".to_owned(), "300x250, 728x90".to_owned())));
    }

    #[test]
    fn a_long_list_of_campaigns_is_cut_and_counted_by_step() {
        use crate::bid::decision::explain::CampaignVerdict;
        use crate::model::{AdvertiserId, CampaignId};
        let campaigns = (1..=60)
            .map(|i| CampaignVerdict {
                campaign: CampaignId(i),
                advertiser: AdvertiserId(1),
                verdict: if i <= 45 {
                    Verdict::Targeting {
                        dimension: "country",
                        value: None,
                    }
                } else {
                    Verdict::FrequencyCap { scope: "campaign" }
                },
            })
            .collect();
        let imp = ImpExplanation {
            id: "1".into(),
            over_imp_cap: false,
            winner: None,
            won_by_another_advertiser: false,
            campaigns,
        };
        let html = impression(&imp, "USD").into_string();
        assert!(
            html.contains("Where the 60 campaigns stop: targeting 45, frequency cap 15."),
            "{html}"
        );
        assert_eq!(html.matches("<tr><th scope=\"row\">").count(), MAX_ROWS);
        assert!(html.contains("(the first 50)"));
    }

    #[test]
    fn every_sample_is_a_bid_request_the_parser_takes() {
        for (key, _, body) in SAMPLES {
            let mut parser = openrtb::Parser::new();
            assert!(parser.parse(body.as_bytes()).is_ok(), "{key}");
        }
    }
}
