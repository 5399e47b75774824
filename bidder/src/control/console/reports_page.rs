//! The reports page: what a report asks (a span of UTC days, a grouping,
//! an advertiser) read from the query string, and its HTML: charts by day
//! and a table by campaign, stage, combination or fragment, with a link
//! to the same report as CSV.
//!
//! Pure: the query in, typed asks out; the service's rows in, markup out.
//! Never calls the service, never writes the CSV (the API's report does,
//! so both exports are one file format).

use std::collections::BTreeMap;

use maud::{Markup, html};
use openrtb::Micros;

use super::chart;
use super::form::{Form, encode};
use super::pages::{layout, money, rate};
use crate::control::auth::Principal;
use crate::control::service::{FieldError, Report};
use crate::model::{AdvertiserId, UnixTime};
use crate::store::{DimValue, Dimension, ReportRow};

const DAY: i64 = 86_400;
/// Days a report covers when the query names none.
const DEFAULT_DAYS: i64 = 7;

/// The groupings the table offers, with their names on the page.
pub const GROUPINGS: &[(Dimension, &str)] = &[
    (Dimension::Campaign, "campaign"),
    (Dimension::Stage, "funnel stage"),
    (Dimension::Combination, "creative combination"),
    (Dimension::Fragment, "fragment"),
];

/// What the reports page was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// First UTC day, as `YYYY-MM-DD`.
    pub from: String,
    /// Last UTC day (inclusive), as `YYYY-MM-DD`.
    pub to: String,
    /// The table's grouping.
    pub by: Dimension,
    /// Only this advertiser's campaigns.
    pub advertiser: Option<AdvertiserId>,
}

impl Ask {
    /// The ask of query string `q`: defaults for what it does not name
    /// (the last seven UTC days up to `today`, by campaign); every bad
    /// parameter named.
    pub fn of(q: &Form, today: UnixTime) -> (Ask, Vec<FieldError>) {
        let mut errors = Vec::new();
        let day = |t: i64| date(t.div_euclid(DAY) * DAY);
        let mut ask = Ask {
            from: day(today.0 - (DEFAULT_DAYS - 1) * DAY),
            to: day(today.0),
            by: Dimension::Campaign,
            advertiser: None,
        };
        for (name, slot) in [("from", &mut ask.from), ("to", &mut ask.to)] {
            if let Some(v) = q.non_empty(name) {
                if parse_date(v).is_some() {
                    *slot = v.to_owned();
                } else {
                    errors.push(FieldError::new(name, "a date like 2026-12-07"));
                }
            }
        }
        if let Some(v) = q.non_empty("by") {
            match GROUPINGS.iter().find(|(d, _)| d.as_str() == v) {
                Some((d, _)) => ask.by = *d,
                None => errors.push(FieldError::new(
                    "by",
                    "campaign, stage, combination or fragment",
                )),
            }
        }
        if let Some(v) = q.non_empty("advertiser") {
            match v.parse::<i64>() {
                Ok(n) if n > 0 => ask.advertiser = Some(AdvertiserId(n)),
                _ => errors.push(FieldError::new("advertiser", "an advertiser's id")),
            }
        }
        (ask, errors)
    }

    /// The span asked, as the service takes it: from the first day's
    /// start to the last day's end.
    pub fn span(&self) -> (UnixTime, UnixTime) {
        let from = parse_date(&self.from).unwrap_or(0);
        let to = parse_date(&self.to).unwrap_or(0) + DAY;
        (UnixTime(from), UnixTime(to))
    }

    /// The query string of this ask.
    pub fn query(&self) -> String {
        let mut q = format!(
            "from={}&to={}&by={}",
            encode(&self.from),
            encode(&self.to),
            self.by.as_str()
        );
        if let Some(a) = self.advertiser {
            q.push_str(&format!("&advertiser={}", a.0));
        }
        q
    }

    /// The API's query for the same report, by the table's grouping, as
    /// CSV.
    pub fn csv_query(&self) -> String {
        let (from, to) = self.span();
        let mut q = format!(
            "from={}&to={}&group_by={}&format=csv",
            from.0,
            to.0,
            self.by.as_str()
        );
        if let Some(a) = self.advertiser {
            q.push_str(&format!("&advertiser={}", a.0));
        }
        q
    }

    /// The CSV file's name: what it holds and its days.
    pub fn file_name(&self) -> String {
        format!(
            "report-by-{}-{}-to-{}.csv",
            self.by.as_str(),
            self.from,
            self.to
        )
    }
}

/// Midnight UTC of `YYYY-MM-DD`, in Unix seconds.
fn parse_date(s: &str) -> Option<i64> {
    let d = s.parse::<jiff::civil::Date>().ok()?;
    let z = d.to_zoned(jiff::tz::TimeZone::UTC).ok()?;
    Some(z.timestamp().as_second())
}

fn date(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|ts| ts.to_string()[..10].to_owned())
        .unwrap_or_default()
}

/// What the reports page shows.
#[derive(Debug)]
pub struct ReportsView<'a> {
    /// Who is looking.
    pub who: &'a Principal,
    /// Its session's CSRF token.
    pub csrf: &'a str,
    /// What was asked.
    pub ask: &'a Ask,
    /// Why the ask was refused, by parameter; the report is then absent.
    pub errors: &'a [FieldError],
    /// The advertisers to filter by.
    pub advertisers: &'a [(AdvertiserId, String)],
    /// The report by day (grouped by day only).
    pub by_day: Option<&'a Report>,
    /// The report by the table's grouping.
    pub table: Option<&'a Report>,
}

fn dim_text(d: Dimension, v: &DimValue) -> Markup {
    match (d, v) {
        (Dimension::Campaign, DimValue::Int(id)) => {
            html! { a href=(format!("/console/campaigns/{id}")) { "campaign #" (id) } }
        }
        (Dimension::Stage, DimValue::Text(t)) if t.is_empty() => html! { "unknown" },
        (Dimension::Combination, DimValue::Text(t)) if t.is_empty() => {
            html! { "fixed creatives" }
        }
        (Dimension::Fragment, DimValue::Int(id)) => html! { "fragment #" (id) },
        (_, DimValue::Int(n)) => html! { (n) },
        (_, DimValue::Text(t)) => html! { (t) },
    }
}

/// The reports page.
pub fn reports(v: &ReportsView<'_>) -> Markup {
    let err = |name: &str| {
        v.errors
            .iter()
            .find(|e| e.field == name)
            .map(|e| e.message.clone())
    };
    let field = |name: &'static str, label: &'static str, value: &str| {
        let e = err(name);
        html! {
            div class=(if e.is_some() { "field invalid" } else { "field" }) {
                label for=(format!("r-{name}")) { (label) }
                input id=(format!("r-{name}")) type="date" name=(name) value=(value)
                    aria-invalid=[e.is_some().then_some("true")]
                    aria-describedby=[e.is_some().then(|| format!("re-{name}"))];
                @if let Some(e) = &e { p.error id=(format!("re-{name}")) { (e) } }
            }
        }
    };
    let body = html! {
        h1 { "Reports" }
        form.filters method="get" action="/console/reports" {
            (field("from", "From (UTC day)", &v.ask.from))
            (field("to", "To (UTC day, inclusive)", &v.ask.to))
            div.field {
                label for="r-by" { "Table by" }
                select #r-by name="by" {
                    @for (d, label) in GROUPINGS {
                        option value=(d.as_str()) selected[*d == v.ask.by] { (label) }
                    }
                }
            }
            div class=(if err("advertiser").is_some() { "field invalid" } else { "field" }) {
                label for="r-advertiser" { "Advertiser" }
                select #r-advertiser name="advertiser" {
                    option value="" selected[v.ask.advertiser.is_none()] { "all I may see" }
                    @for (a, name) in v.advertisers {
                        option value=(a.0) selected[v.ask.advertiser == Some(*a)] { (name) }
                    }
                }
            }
            button type="submit" { "Show" }
        }
        @if !v.errors.is_empty() {
            section.problem role="alert" {
                h2 { "This report cannot be made" }
                ul { @for e in v.errors { li { (e.field) ": " (e.message) } } }
            }
        }
        @if let Some(r) = v.by_day { (day_charts(r)) }
        @if let Some(r) = v.table {
            section aria-labelledby="table-h" {
                h2 #table-h { "By " (GROUPINGS.iter().find(|(d, _)| *d == v.ask.by).map_or("", |g| g.1)) }
                p { a href=(format!("/console/reports.csv?{}", v.ask.query())) download { "Download as CSV" } }
                @if v.ask.by == Dimension::Fragment {
                    p { "A combination counts once for each of its fragments, so fragment rows do not add up to the total." }
                }
                @if r.rows.is_empty() {
                    p { "No bids in these days." }
                } @else {
                    @if r.rows.len() > MAX_ROWS {
                        p { "The " (MAX_ROWS) " rows of most spend of " (r.rows.len()) "; the CSV has them all." }
                    }
                    table {
                        thead { tr {
                            th scope="col" { (v.ask.by.as_str()) }
                            th scope="col" { "Bids" } th scope="col" { "Wins" } th scope="col" { "Win rate" }
                            th scope="col" { "Spend" } th scope="col" { "Impressions" } th scope="col" { "Clicks" }
                            th scope="col" { "CTR" } th scope="col" { "Conversions" }
                        } }
                        tbody {
                            @for row in top_rows(&r.rows) {
                                @let c = &row.counts;
                                tr {
                                    th scope="row" { @if let Some(d) = row.dims.first() { (dim_text(v.ask.by, d)) } }
                                    td.num { (c.bids) } td.num { (c.wins) } td.num { (rate(c.wins, c.bids)) }
                                    td.num { (money(Micros(c.spend_micros), &row.currency)) }
                                    td.num { (c.impressions) } td.num { (c.clicks) }
                                    td.num { (rate(c.clicks, c.impressions)) } td.num { (c.conversions) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout("Reports", Some((v.who, v.csrf)), body)
}

/// The most rows the table shows; the CSV has every one.
const MAX_ROWS: usize = 200;

/// The rows of most spend (then most impressions), at most [`MAX_ROWS`],
/// in that order; all of them, in the report's order, when they fit.
fn top_rows(rows: &[ReportRow]) -> Vec<&ReportRow> {
    let mut v: Vec<&ReportRow> = rows.iter().collect();
    if v.len() > MAX_ROWS {
        v.sort_by(|a, b| {
            (b.counts.spend_micros, b.counts.impressions)
                .cmp(&(a.counts.spend_micros, a.counts.impressions))
        });
        v.truncate(MAX_ROWS);
    }
    v
}

/// Spend per day (one chart per currency: amounts of two currencies are
/// not added) and impressions and clicks per day.
fn day_charts(r: &Report) -> Markup {
    let (first, last) = (r.from.0.div_euclid(DAY) * DAY, r.to.0);
    let mut spend: BTreeMap<&str, BTreeMap<i64, i64>> = BTreeMap::new();
    let mut imps: BTreeMap<i64, i64> = BTreeMap::new();
    let mut clicks: BTreeMap<i64, i64> = BTreeMap::new();
    for row in &r.rows {
        let Some(DimValue::Int(d)) = row.dims.first() else {
            continue;
        };
        *spend
            .entry(&row.currency)
            .or_default()
            .entry(*d)
            .or_default() += row.counts.spend_micros;
        *imps.entry(*d).or_default() += row.counts.impressions;
        *clicks.entry(*d).or_default() += row.counts.clicks;
    }
    let days: Vec<i64> = (0..((last - first) / DAY).max(0))
        .map(|i| first + i * DAY)
        .collect();
    let labels: Vec<(i64, String)> = match (days.first(), days.last()) {
        (Some(f), Some(l)) if f != l => vec![(f + DAY / 2, date(*f)), (l + DAY / 2, date(*l))],
        (Some(f), _) => vec![(f + DAY / 2, date(*f))],
        _ => Vec::new(),
    };
    let amount = |m: i64| {
        if m % 1_000_000 == 0 {
            (m / 1_000_000).to_string()
        } else {
            format!("{:.2}", m as f64 / 1e6)
        }
    };
    let count = |n: i64| n.to_string();
    let series = |m: &BTreeMap<i64, i64>| -> Vec<(i64, i64)> {
        days.iter()
            .map(|d| (*d + DAY / 2, m.get(d).copied().unwrap_or(0)))
            .collect()
    };
    html! {
        section aria-labelledby="days-h" {
            h2 #days-h { "By day" }
            @if spend.is_empty() { p { "No spend in these days." } }
            @for (i, (cur, by_day)) in spend.iter().enumerate() {
                @let bars: Vec<(i64, i64)> = days.iter().map(|d| (*d, by_day.get(d).copied().unwrap_or(0))).collect();
                @let title = format!("Spend per UTC day ({cur})");
                @let desc = format!("{} spent in {} days.", money(Micros(bars.iter().map(|b| b.1).sum()), cur), days.len());
                (chart::bars(&chart::Frame { id: &format!("spend{i}"), title: &title, desc: &desc, x_labels: &labels, y_label: &amount }, first, last, DAY, &bars, None))
            }
            @let desc = format!("{} impressions and {} clicks in {} days.", imps.values().sum::<i64>(), clicks.values().sum::<i64>(), days.len());
            (chart::lines(&chart::Frame { id: "events", title: "Impressions and clicks per UTC day", desc: &desc, x_labels: &labels, y_label: &count }, first, last, None, &[
                chart::Line { points: series(&imps), colour: chart::SPEND, dashed: false },
                chart::Line { points: series(&clicks), colour: chart::PLAN, dashed: true },
            ]))
            (chart::legend(&[(chart::SPEND, false, "impressions"), (chart::PLAN, true, "clicks")]))
            details {
                summary { "By day as a table" }
                table {
                    thead { tr { th scope="col" { "Day (UTC)" } th scope="col" { "Impressions" } th scope="col" { "Clicks" } @for cur in spend.keys() { th scope="col" { "Spend (" (cur) ")" } } } }
                    tbody {
                        @for d in days.iter().rev() {
                            tr {
                                td { (date(*d)) }
                                td.num { (imps.get(d).copied().unwrap_or(0)) }
                                td.num { (clicks.get(d).copied().unwrap_or(0)) }
                                @for (cur, by_day) in &spend { td.num { (money(Micros(by_day.get(d).copied().unwrap_or(0)), cur)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_query_asks_for_the_last_seven_days_by_campaign() {
        let today = UnixTime(1_796_601_600 + 3_600); // 2026-12-07 01:00 UTC
        let (ask, errors) = Ask::of(&Form::default(), today);
        assert_eq!(errors, vec![]);
        assert_eq!(
            (ask.from.as_str(), ask.to.as_str()),
            ("2026-12-01", "2026-12-07")
        );
        assert_eq!(ask.by, Dimension::Campaign);
        let (from, to) = ask.span();
        assert_eq!(to.0 - from.0, 7 * DAY);
    }

    #[test]
    fn a_long_table_keeps_the_rows_of_most_spend() {
        let row = |id: i64, spend: i64| ReportRow {
            dims: vec![DimValue::Int(id)],
            currency: "USD".into(),
            counts: crate::store::ReportCounts {
                spend_micros: spend,
                ..Default::default()
            },
        };
        let few: Vec<ReportRow> = (0..3).map(|i| row(i, i)).collect();
        let kept: Vec<i64> = top_rows(&few)
            .iter()
            .map(|r| r.counts.spend_micros)
            .collect();
        assert_eq!(kept, [0, 1, 2], "all, in the report's order");
        let many: Vec<ReportRow> = (0..500).map(|i| row(i, i)).collect();
        let kept = top_rows(&many);
        assert_eq!(kept.len(), MAX_ROWS);
        assert_eq!(kept[0].counts.spend_micros, 499);
        assert_eq!(kept[MAX_ROWS - 1].counts.spend_micros, 300);
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let q = Form::parse("from=yesterday&by=country&advertiser=x&to=2026-12-07").unwrap();
        let (ask, errors) = Ask::of(&q, UnixTime(1_796_601_600));
        let names: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(names, ["from", "by", "advertiser"]);
        assert_eq!(ask.to, "2026-12-07");
    }

    #[test]
    fn the_csv_asks_the_api_for_the_same_days_and_grouping() {
        let q = Form::parse("from=2026-12-01&to=2026-12-07&by=fragment&advertiser=2").unwrap();
        let (ask, _) = Ask::of(&q, UnixTime(1_796_601_600));
        assert_eq!(
            ask.csv_query(),
            "from=1796083200&to=1796688000&group_by=fragment&format=csv&advertiser=2"
        );
        assert_eq!(
            ask.file_name(),
            "report-by-fragment-2026-12-01-to-2026-12-07.csv"
        );
        assert_eq!(
            ask.query(),
            "from=2026-12-01&to=2026-12-07&by=fragment&advertiser=2"
        );
    }
}
