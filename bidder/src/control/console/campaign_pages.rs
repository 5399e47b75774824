//! The HTML of one campaign: its create and edit form (errors at their
//! fields, a version conflict with what changed) and its own page.
//!
//! Pure: takes what the service returned and writes markup. Never calls
//! the service, reads a request or sets headers. No script and no inline
//! style.

use maud::{Markup, html};
use openrtb::Micros;

use super::campaign_form::{CampaignForm, Change, FIELDS, Field, Kind};
use super::pages::{layout, money, rate, status_name};
use crate::control::auth::Principal;
use crate::control::service::{CampaignLine, FieldError};
use crate::model::{AdvertiserId, CampaignId};

/// What the campaign form shows.
#[derive(Debug)]
pub struct FormView<'a> {
    /// Who is looking.
    pub who: &'a Principal,
    /// Its session's CSRF token.
    pub csrf: &'a str,
    /// The campaign being edited and the version the form replaces;
    /// `None` for a new campaign.
    pub editing: Option<(CampaignId, i64)>,
    /// The values in the fields.
    pub values: &'a CampaignForm,
    /// When editing: the values of the version the form replaces, kept in
    /// the form so a conflict can say what changed since.
    pub was: Option<&'a CampaignForm>,
    /// Errors at their form fields: `(field name, message)`.
    pub errors: &'a [(&'static str, String)],
    /// Errors of fields the form does not hold.
    pub other: &'a [FieldError],
    /// What changed since the form was opened, after a stale save.
    pub conflict: Option<&'a [Change]>,
    /// The advertisers the principal acts for, to pick from.
    pub advertisers: &'a [(AdvertiserId, String)],
}

fn input_id(f: &Field) -> String {
    format!("f-{}", f.name)
}

/// The campaign form: new or edit.
pub fn campaign_form(v: &FormView<'_>) -> Markup {
    let (title, action, button) = match v.editing {
        None => (
            "New campaign".to_owned(),
            "/console/campaigns/new".to_owned(),
            "Create campaign",
        ),
        Some((id, _)) => (
            format!("Edit campaign #{}", id.0),
            format!("/console/campaigns/{}/edit", id.0),
            "Save changes",
        ),
    };
    let count = v.errors.len() + v.other.len();
    let body = html! {
        h1 { (title) }
        @if let Some(changes) = v.conflict {
            section.problem role="alert" aria-labelledby="conflict" {
                h2 #conflict { "Changed since you opened this form: nothing was saved" }
                p { "Someone saved this campaign after you opened the form. Fields you did not touch now show the stored value; fields you changed keep yours. Check them and save again." }
                table {
                    thead { tr {
                        th scope="col" { "Field" }
                        th scope="col" { "When you opened the form" }
                        th scope="col" { "Stored now" }
                        th scope="col" { "In the form" }
                    } }
                    tbody {
                        @for c in changes {
                            tr {
                                th scope="row" { (c.field.label) }
                                td { (shown(&c.was)) }
                                td { (shown(&c.now)) }
                                td { (shown(v.values.get(c.field.name))) }
                            }
                        }
                    }
                }
            }
        }
        @if count > 0 {
            section.problem role="alert" aria-labelledby="errors" {
                h2 #errors { (count) @if count == 1 { " field needs" } @else { " fields need" } " a change; nothing was saved" }
                ul {
                    @for (name, message) in v.errors {
                        @if let Some(f) = FIELDS.iter().find(|f| f.name == *name) {
                            li { a href=(format!("#{}", input_id(f))) { (f.label) } ": " (message) }
                        }
                    }
                    @for e in v.other {
                        li { code { (e.field) } ": " (e.message) }
                    }
                }
            }
        }
        form.campaign method="post" action=(action) novalidate {
            input type="hidden" name="csrf" value=(v.csrf);
            @if let Some((_, version)) = v.editing {
                input type="hidden" name="version" value=(version);
            }
            @if let Some(was) = v.was {
                @for f in FIELDS {
                    input type="hidden" name=(format!("was_{}", f.name)) value=(was.get(f.name));
                }
            }
            @for f in FIELDS {
                (field(f, v))
            }
            div.actions {
                button type="submit" { (button) }
                @match v.editing {
                    Some((id, _)) => { a href=(format!("/console/campaigns/{}", id.0)) { "Cancel" } }
                    None => { a href="/console/campaigns" { "Cancel" } }
                }
            }
        }
    };
    layout(&title, Some((v.who, v.csrf)), body)
}

fn shown(s: &str) -> &str {
    if s.is_empty() { "(blank)" } else { s }
}

fn field(f: &Field, v: &FormView<'_>) -> Markup {
    let id = input_id(f);
    let error = v
        .errors
        .iter()
        .filter(|(n, _)| *n == f.name)
        .map(|(_, m)| m.as_str())
        .collect::<Vec<_>>();
    let invalid = !error.is_empty();
    let error_id = format!("e-{}", f.name);
    let hint_id = format!("h-{}", f.name);
    let described = match (invalid, f.hint.is_empty()) {
        (true, true) => error_id.clone(),
        (true, false) => format!("{error_id} {hint_id}"),
        (false, false) => hint_id.clone(),
        (false, true) => String::new(),
    };
    let value = v.values.get(f.name);
    html! {
        div class=(if invalid { "field invalid" } else { "field" }) {
            label for=(id) { (f.label) }
            @match f.kind {
                Kind::Choice(options) => {
                    select id=(id) name=(f.name) aria-invalid=[invalid.then_some("true")] aria-describedby=[(!described.is_empty()).then_some(&described)] {
                        @for (value_of, label) in options {
                            option value=(value_of) selected[*value_of == value] { (label) }
                        }
                    }
                }
                Kind::Advertiser => {
                    select id=(id) name=(f.name) aria-invalid=[invalid.then_some("true")] aria-describedby=[(!described.is_empty()).then_some(&described)] {
                        @if !v.advertisers.iter().any(|(a, _)| a.0.to_string() == value) {
                            option value=(value) selected { "#" (value) }
                        }
                        @for (a, name) in v.advertisers {
                            option value=(a.0) selected[a.0.to_string() == value] { (name) " (#" (a.0) ")" }
                        }
                    }
                }
                _ => {
                    input id=(id) name=(f.name) value=(value)
                        type=(if f.kind == Kind::Time { "datetime-local" } else { "text" })
                        inputmode=[(f.kind == Kind::Money).then_some("decimal")]
                        aria-invalid=[invalid.then_some("true")]
                        aria-describedby=[(!described.is_empty()).then_some(&described)];
                }
            }
            @if invalid {
                p.error id=(error_id) { @for (i, m) in error.iter().enumerate() { @if i > 0 { "; " } (m) } }
            }
            @if !f.hint.is_empty() {
                p.hint id=(hint_id) { (f.hint) }
            }
        }
    }
}

/// What a campaign's own page shows.
#[derive(Debug)]
pub struct CampaignView<'a> {
    /// Who is looking.
    pub who: &'a Principal,
    /// Its session's CSRF token.
    pub csrf: &'a str,
    /// The campaign, its budget state and today's counts.
    pub line: &'a CampaignLine,
    /// Whether the principal may edit it.
    pub may_manage: bool,
    /// The charts of its budget, already drawn.
    pub charts: Markup,
}

/// One campaign: its settings, today's numbers and its budget charts.
pub fn campaign(v: &CampaignView<'_>) -> Markup {
    let c = &v.line.campaign;
    let b = &v.line.budget;
    let t = &v.line.today;
    let cur = c.currency.as_str();
    let body = html! {
        h1 { (c.name) " " span.id { "#" (c.id.0) } }
        p {
            span class=(format!("status {}", status_name(c.status))) { (status_name(c.status)) }
            " · advertiser " (c.advertiser_id.0) " · version " (c.version)
            @if v.may_manage {
                " · " a href=(format!("/console/campaigns/{}/edit", c.id.0)) { "Edit" }
            }
            @if !c.fragment_sets.is_empty() {
                " · " a href=(format!("/console/campaigns/{}/gallery", c.id.0)) { "Gallery" }
            }
            @if v.may_manage {
                " · " a href=(format!("/console/campaigns/{}/audits", c.id.0)) { "Exchange audits" }
            }
        }
        dl.summary {
            dt { "Spent today" } dd { (money(b.spent_today_micros, cur)) @if b.daily_budget_micros.0 > 0 { " of " (money(b.daily_budget_micros, cur)) } }
            dt { "Allowed by now" } dd { (money(b.allowed_now_micros, cur)) " (" (b.state.replace('_', " ")) ")" }
            dt { "Spent in all" } dd { (money(b.spent_total_micros, cur)) @if b.total_budget_micros.0 > 0 { " of " (money(b.total_budget_micros, cur)) } }
            dt { "Today" } dd { (t.bids) " bids, " (t.wins) " wins (" (rate(t.wins, t.bids)) "), " (t.impressions) " impressions, CTR " (rate(t.clicks, t.impressions)) }
        }
        (v.charts)
    };
    layout(&c.name, Some((v.who, v.csrf)), body)
}

/// A UTC day in seconds.
const DAY: i64 = 86_400;
/// The most days the flight chart shows (the last ones).
pub const MAX_FLIGHT_DAYS: i64 = 92;

/// A y-axis amount: whole units when whole, else two places.
fn axis_amount(micros: i64) -> String {
    if micros % 1_000_000 == 0 {
        (micros / 1_000_000).to_string()
    } else {
        format!("{:.2}", micros as f64 / 1e6)
    }
}

/// The two budget charts of a campaign: today's spend to date against its
/// pacing curve, and spend per UTC day of its flight against its daily
/// budget. `minutes` is today's spend per minute (`(unix second, micros)`),
/// `days` the spend per UTC day over `flight` (start of the first day,
/// end of the last), both from the service's reports.
pub fn budget_charts(
    line: &CampaignLine,
    now: i64,
    minutes: &[(i64, i64)],
    days: &[(i64, i64)],
    flight: (i64, i64),
) -> Markup {
    let c = &line.campaign;
    let b = &line.budget;
    let cur = c.currency.as_str();
    let (start, end) = (b.day_start.0, b.day_end.0);
    let limits = crate::state::budget::Limits::of(c);

    // Spend to date, as a rising line: 0 at the day's start, then the sum
    // at the end of each minute with spend, held until now.
    let mut spent = vec![(start, 0)];
    let mut sum = 0;
    let mut sorted: Vec<(i64, i64)> = minutes.to_vec();
    sorted.sort_unstable();
    for (t, m) in sorted {
        if t < start || t >= end {
            continue;
        }
        spent.push((t, sum));
        sum += m;
        spent.push(((t + 60).min(now.max(t)), sum));
    }
    spent.push((now.clamp(start, end), sum));
    let mut series = vec![super::chart::Line {
        points: spent,
        colour: super::chart::SPEND,
        dashed: false,
    }];
    if c.daily_budget_micros.0 > 0 {
        let steps = 48;
        let curve = (0..=steps)
            .map(|i| {
                let t = start + (end - start) * i / steps;
                (t, crate::state::budget::allowed(&limits, start, end, t).0)
            })
            .collect();
        series.push(super::chart::Line {
            points: curve,
            colour: super::chart::PLAN,
            dashed: true,
        });
    }
    let zone = jiff::tz::TimeZone::get(&b.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let clock = |t: i64| {
        jiff::Timestamp::from_second(t)
            .map(|ts| ts.to_zoned(zone.clone()).strftime("%H:%M").to_string())
            .unwrap_or_default()
    };
    let today_labels: Vec<(i64, String)> = (0..=4)
        .map(|i| {
            let t = start + (end - start) * i / 4;
            (t, if i == 4 { "24:00".to_owned() } else { clock(t) })
        })
        .collect();
    let y = |m: i64| axis_amount(m);
    let today_title = format!("Spend today against the pacing curve ({cur})");
    let today_desc = format!(
        "Spent by now {} of a daily budget of {}; the {} pacing curve allows {} by now. Times in {}.",
        money(Micros(sum), cur),
        money(b.daily_budget_micros, cur),
        match b.pacing {
            crate::model::PacingMode::Even => "even",
            crate::model::PacingMode::FrontLoaded => "front-loaded",
            crate::model::PacingMode::Asap => "as-fast-as-bids-win",
        },
        money(b.allowed_now_micros, cur),
        b.time_zone
    );
    let today = super::chart::lines(
        &super::chart::Frame {
            id: "today",
            title: &today_title,
            desc: &today_desc,
            x_labels: &today_labels,
            y_label: &y,
        },
        start,
        end,
        Some(now),
        &series,
    );

    // Spend per day, every day of the span (0 on days without spend).
    let (first, last) = flight;
    let by_day: std::collections::BTreeMap<i64, i64> = days.iter().copied().collect();
    let bars: Vec<(i64, i64)> = (0..((last - first) / DAY).max(0))
        .map(|i| {
            let d = first + i * DAY;
            (d, by_day.get(&d).copied().unwrap_or(0))
        })
        .collect();
    let date = |t: i64| {
        jiff::Timestamp::from_second(t)
            .map(|ts| ts.to_string()[..10].to_owned())
            .unwrap_or_default()
    };
    let mut day_labels = Vec::new();
    if let (Some(f), Some(l)) = (bars.first(), bars.last()) {
        day_labels.push((f.0 + DAY / 2, date(f.0)));
        if bars.len() > 2 {
            day_labels.push((l.0 + DAY / 2, date(l.0)));
        }
    }
    let flight_title = format!("Spend per day against the daily budget ({cur})");
    let flight_desc = format!(
        "{} UTC days from {} to {}; {} spent in them; daily budget {}.",
        bars.len(),
        date(first),
        date(last - DAY),
        money(Micros(bars.iter().map(|b| b.1).sum()), cur),
        money(c.daily_budget_micros, cur)
    );
    let flight_chart = super::chart::bars(
        &super::chart::Frame {
            id: "flight",
            title: &flight_title,
            desc: &flight_desc,
            x_labels: &day_labels,
            y_label: &y,
        },
        first,
        last,
        DAY,
        &bars,
        Some(c.daily_budget_micros.0),
    );
    html! {
        section.chart aria-labelledby="today-h" {
            h2 #today-h { "Today" }
            (today)
            (super::chart::legend(&[(super::chart::SPEND, false, "spend to date"), (super::chart::PLAN, true, "pacing curve: what may have been spent")]))
            p { (today_desc) }
        }
        section.chart aria-labelledby="flight-h" {
            h2 #flight-h { "Flight" }
            (flight_chart)
            (super::chart::legend(&[(super::chart::SPEND, false, "spend per UTC day"), (super::chart::PLAN, true, "daily budget")]))
            details {
                summary { "Spend per day as a table" }
                table {
                    thead { tr { th scope="col" { "Day (UTC)" } th scope="col" { "Spend" } } }
                    tbody {
                        @for (d, m) in bars.iter().rev() {
                            tr { td { (date(*d)) } td.num { (money(Micros(*m), cur)) } }
                        }
                    }
                }
            }
        }
    }
}
