//! The console's HTML: one function per page over typed values, written
//! with maud (checked at compile time, every value escaped unless marked).
//!
//! Pure: takes what the service returned and writes markup. Never calls
//! the service, reads a request or sets headers. No inline script or
//! style anywhere, so the pages run under a policy that allows neither
//! (the live view loads one script file of ours, `live_page`).

use maud::{DOCTYPE, Markup, html};
use openrtb::Micros;

use super::form::encode;
use crate::control::auth::Principal;
use crate::control::service::{CampaignFilter, CampaignLine, ListPage};
use crate::model::CampaignStatus;

/// The stylesheet every page links, served at [`super::CSS_PATH`].
pub const CSS: &str = include_str!("console.css");

/// The console's icon, served at [`super::ICON_PATH`]: a bar chart.
pub const ICON: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\">\
<rect width=\"16\" height=\"16\" rx=\"3\" fill=\"#183a37\"/>\
<rect x=\"3\" y=\"8\" width=\"2\" height=\"5\" fill=\"#fff\"/>\
<rect x=\"7\" y=\"5\" width=\"2\" height=\"8\" fill=\"#fff\"/>\
<rect x=\"11\" y=\"3\" width=\"2\" height=\"10\" fill=\"#e0a500\"/></svg>";

/// The frame every page shares: title, navigation for a signed-in
/// principal, and the content.
pub(super) fn layout(title: &str, who: Option<(&Principal, &str)>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · bidder console" }
                link rel="stylesheet" href=(super::CSS_PATH);
                link rel="icon" type="image/svg+xml" href=(super::ICON_PATH);
            }
            body {
                header {
                    span.brand { "bidder console" }
                    @if let Some((p, csrf)) = who {
                        nav aria-label="Main" {
                            a href="/console/campaigns" { "Campaigns" }
                            a href="/console/fragments" { "Fragments" }
                            a href="/console/funnels" { "Funnels" }
                            a href="/console/reports" { "Reports" }
                            @if p.holds(crate::control::auth::Permission::Explain) {
                                a href="/console/explain" { "Explain" }
                            }
                            @if p.is_admin() {
                                a href="/console/tokens" { "Tokens" }
                                a href="/console/exchanges" { "Exchanges" }
                                a href="/console/live" { "Live" }
                            }
                        }
                        span.who { (p.role.as_str()) " · token " (p.token_id) }
                        form.inline method="post" action="/console/sign-out" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (content) }
            }
        }
    }
}

/// The sign-in form; `problem` says why the last attempt failed.
pub fn sign_in(problem: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            h1 { "Sign in" }
            p { "Paste an API token (" code { "bdr_…" } "). It is checked once and kept by the server only as a hash; the browser gets a session cookie." }
            @if let Some(problem) = problem {
                p.problem role="alert" { (problem) }
            }
            form method="post" action="/console/sign-in" {
                label for="token" { "API token" }
                input #token type="password" name="token" autocomplete="off" required spellcheck="false";
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// An error page with a way back.
pub fn problem(title: &str, message: &str, back: &str) -> Markup {
    layout(
        title,
        None,
        html! {
            h1 { (title) }
            p.problem role="alert" { (message) }
            p { a href=(back) { "Back" } }
        },
    )
}

/// `micros` of `currency` as a decimal amount with two places.
pub(super) fn money(micros: Micros, currency: &str) -> String {
    let cents = micros.0 / 10_000;
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}{}.{:02} {currency}", cents / 100, cents % 100)
}

/// `num / den` as a percentage with one decimal, or a dash without data.
pub(super) fn rate(num: i64, den: i64) -> String {
    if den <= 0 {
        "–".to_owned()
    } else {
        format!("{:.1}%", num as f64 * 100.0 / den as f64)
    }
}

pub(super) fn status_name(s: CampaignStatus) -> &'static str {
    match s {
        CampaignStatus::Active => "active",
        CampaignStatus::Paused => "paused",
        CampaignStatus::Archived => "archived",
    }
}

/// The query string of `filter` (without the page cursor).
pub fn filter_query(filter: &CampaignFilter) -> String {
    let mut q = Vec::new();
    if let Some(s) = filter.status {
        q.push(format!("status={}", status_name(s)));
    }
    if let Some(n) = filter.name.as_deref().filter(|n| !n.is_empty()) {
        q.push(format!("name={}", encode(n)));
    }
    q.join("&")
}

/// What the campaigns page shows.
#[derive(Debug)]
pub struct CampaignsView<'a> {
    /// Who is looking, and the CSRF token of its forms.
    pub who: &'a Principal,
    /// Its session's CSRF token.
    pub csrf: &'a str,
    /// The filter the list was asked with.
    pub filter: &'a CampaignFilter,
    /// The cursor of this page (0 on the first).
    pub after: i64,
    /// The rows.
    pub page: &'a ListPage<CampaignLine>,
    /// Whether the principal may pause and resume.
    pub may_manage: bool,
}

/// The campaigns list: status, today's spend against budget and pacing,
/// bids, wins, win rate, CTR; filters; pages; pause and resume.
pub fn campaigns(v: &CampaignsView<'_>) -> Markup {
    let query = filter_query(v.filter);
    let here = if v.after > 0 {
        let sep = if query.is_empty() { "" } else { "&" };
        format!("/console/campaigns?{query}{sep}after={}", v.after)
    } else if query.is_empty() {
        "/console/campaigns".to_owned()
    } else {
        format!("/console/campaigns?{query}")
    };
    let body = html! {
        h1 { "Campaigns" }
        @if v.may_manage {
            p { a.button href="/console/campaigns/new" { "New campaign" } }
        }
        form.filters method="get" action="/console/campaigns" role="search" {
            label for="status" { "Status" }
            select #status name="status" {
                option value="" selected[v.filter.status.is_none()] { "active and paused" }
                @for s in [CampaignStatus::Active, CampaignStatus::Paused, CampaignStatus::Archived] {
                    option value=(status_name(s)) selected[v.filter.status == Some(s)] { (status_name(s)) }
                }
            }
            label for="name" { "Name contains" }
            input #name type="search" name="name" value=(v.filter.name.as_deref().unwrap_or(""));
            button type="submit" { "Filter" }
        }
        @if v.page.items.is_empty() {
            p { "No campaign matches." }
        } @else {
            table {
                caption { "Today is each campaign's own day (its pacing time zone)." }
                thead {
                    tr {
                        th scope="col" { "Campaign" }
                        th scope="col" { "Status" }
                        th scope="col" { "Spend today" }
                        th scope="col" { "Pacing" }
                        th scope="col" { "Bids" }
                        th scope="col" { "Wins" }
                        th scope="col" { "Win rate" }
                        th scope="col" { "Impressions" }
                        th scope="col" { "CTR" }
                        @if v.may_manage { th scope="col" { "Action" } }
                    }
                }
                tbody {
                    @for line in &v.page.items {
                        (campaign_row(line, v, &here))
                    }
                }
            }
        }
        nav.pages aria-label="Pages" {
            @if v.after > 0 {
                a href=(if query.is_empty() { "/console/campaigns".to_owned() } else { format!("/console/campaigns?{query}") }) { "First page" }
            }
            @if let Some(next) = v.page.next_after {
                a rel="next" href=(format!("/console/campaigns?{query}{}after={next}", if query.is_empty() { "" } else { "&" })) { "Next page" }
            }
        }
    };
    layout("Campaigns", Some((v.who, v.csrf)), body)
}

fn campaign_row(line: &CampaignLine, v: &CampaignsView<'_>, here: &str) -> Markup {
    let c = &line.campaign;
    let b = &line.budget;
    let t = &line.today;
    let currency = c.currency.as_str();
    html! {
        tr data-campaign=(c.id.0) {
            th scope="row" {
                a href=(format!("/console/campaigns/{}", c.id.0)) { (c.name) }
                span.id { " #" (c.id.0) " · advertiser " (c.advertiser_id.0) }
                @if !c.fragment_sets.is_empty() {
                    " " a href=(format!("/console/campaigns/{}/gallery", c.id.0)) { "gallery" }
                }
            }
            td { span class=(format!("status {}", status_name(c.status))) { (status_name(c.status)) } }
            td.num {
                (money(b.spent_today_micros, currency))
                @if b.daily_budget_micros.0 > 0 {
                    span.of { " of " (money(b.daily_budget_micros, currency)) }
                }
            }
            td {
                (b.state.replace('_', " "))
                @if b.daily_budget_micros.0 > 0 {
                    span.of { " · allowed by now " (money(b.allowed_now_micros, currency)) }
                }
            }
            td.num { (t.bids) }
            td.num { (t.wins) }
            td.num { (rate(t.wins, t.bids)) }
            td.num { (t.impressions) }
            td.num { (rate(t.clicks, t.impressions)) }
            @if v.may_manage {
                td {
                    @let (action, label) = match c.status {
                        CampaignStatus::Active => ("pause", "Pause"),
                        CampaignStatus::Paused => ("resume", "Resume"),
                        CampaignStatus::Archived => ("", ""),
                    };
                    @if !action.is_empty() {
                        form.inline method="post" action=(format!("/console/campaigns/{}/{action}", c.id.0)) {
                            input type="hidden" name="csrf" value=(v.csrf);
                            input type="hidden" name="version" value=(c.version);
                            input type="hidden" name="back" value=(here);
                            button type="submit" aria-label=(format!("{label} {}", c.name)) { (label) }
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
    fn money_has_two_places_and_its_currency() {
        assert_eq!(money(Micros(12_345_678), "USD"), "12.34 USD");
        assert_eq!(money(Micros(0), "EUR"), "0.00 EUR");
        assert_eq!(money(Micros(-1_500_000), "EUR"), "-1.50 EUR");
    }

    #[test]
    fn rates_need_a_denominator() {
        assert_eq!(rate(1, 4), "25.0%");
        assert_eq!(rate(3, 0), "–");
    }

    #[test]
    fn the_sign_in_page_escapes_its_problem_and_has_no_script() {
        let page = sign_in(Some("<b>bad</b>")).into_string();
        assert!(page.contains("&lt;b&gt;bad&lt;/b&gt;"));
        assert!(!page.contains("<script"));
        assert!(!page.contains("style="));
    }

    #[test]
    fn filters_survive_into_page_links() {
        let f = CampaignFilter {
            status: Some(CampaignStatus::Paused),
            name: Some("Zelt & Co".into()),
            ..CampaignFilter::default()
        };
        assert_eq!(filter_query(&f), "status=paused&name=Zelt%20%26%20Co");
    }
}
