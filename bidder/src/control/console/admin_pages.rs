//! The HTML of the funnels page (every role: its advertisers' funnels
//! with member counts per stage) and of the admins' pages: API tokens
//! (issue, list, revoke) and the exchanges the bidder answers.
//!
//! Pure: takes what the service returned and writes markup. Never calls
//! the service, reads a request or sets headers. No script, no inline
//! style.

use audiences::Stage;
use maud::{Markup, html};

use super::pages::layout;
use crate::bid::ExchangeProfile;
use crate::control::auth::Principal;
use crate::control::service::{FieldError, FunnelView, ListPage};
use crate::model::Role;
use crate::store::TokenInfo;

/// The funnels page.
pub fn funnels(who: &Principal, csrf: &str, page: &ListPage<FunnelView>) -> Markup {
    let body = html! {
        h1 { "Funnels" }
        @if page.items.is_empty() {
            p { "No funnel yet." }
        } @else {
            table {
                caption { "Members per stage now. A stage's own name, where the funnel gives one, is beside the stage." }
                thead { tr {
                    th scope="col" { "Funnel" }
                    th scope="col" { "Members" }
                    @for s in Stage::ALL { th scope="col" { (s.as_str()) } }
                } }
                tbody {
                    @for f in &page.items {
                        tr {
                            th scope="row" {
                                (f.funnel.name) span.id { " #" (f.funnel.id.0) " · advertiser " (f.funnel.advertiser_id.0) }
                                @if who.holds(crate::control::auth::Permission::ManageCampaigns) {
                                    " " a href={ "/console/funnels/" (f.funnel.id.0) "/upload" } aria-label={ "Upload members to " (f.funnel.name) } { "Upload members" }
                                }
                            }
                            td.num { (f.members_total) }
                            @for s in &f.stages {
                                td.num {
                                    (s.members)
                                    @if s.name != s.stage.as_str() { span.of { " " (s.name) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout("Funnels", Some((who, csrf)), body)
}

/// What the tokens page shows.
#[derive(Debug)]
pub struct TokensView<'a> {
    /// Who is looking (an admin).
    pub who: &'a Principal,
    /// Its session's CSRF token.
    pub csrf: &'a str,
    /// The tokens.
    pub page: &'a ListPage<TokenInfo>,
    /// A token just issued: its id and its secret, shown this once.
    pub issued: Option<(i64, &'a str)>,
    /// The issue form's values: role, advertisers, label.
    pub form: (&'a str, &'a str, &'a str),
    /// Why the issue form was refused.
    pub errors: &'a [FieldError],
}

fn role_name(r: Role) -> &'static str {
    r.as_str()
}

/// The tokens page.
pub fn tokens(v: &TokensView<'_>) -> Markup {
    let (role, advertisers, label) = v.form;
    let err = |f: &str| {
        v.errors
            .iter()
            .filter(|e| e.field == f || e.field.starts_with(&format!("{f}[")))
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let field_class = |f: &str| {
        if err(f).is_empty() {
            "field"
        } else {
            "field invalid"
        }
    };
    let body = html! {
        h1 { "API tokens" }
        @if let Some((id, secret)) = v.issued {
            section.saved role="status" {
                h2 { "Token " (id) " issued" }
                p { "Its secret is shown this once; the bidder keeps only its hash." }
                p { code.secret { (secret) } }
            }
        }
        table {
            thead { tr {
                th scope="col" { "Token" } th scope="col" { "Role" } th scope="col" { "Advertisers" }
                th scope="col" { "Created (UTC)" } th scope="col" { "State" }
            } }
            tbody {
                @for t in &v.page.items {
                    tr {
                        th scope="row" { (t.label) span.id { " #" (t.id) } }
                        td { (role_name(t.role)) }
                        td { (t.advertisers.iter().map(|a| a.0.to_string()).collect::<Vec<_>>().join(", ")) }
                        td { (jiff::Timestamp::from_second(t.created_at.0).map(|x| x.to_string()).unwrap_or_default()) }
                        td {
                            @if t.revoked { "revoked" } @else {
                                "active "
                                @if t.id != v.who.token_id {
                                    form.inline method="post" action=(format!("/console/tokens/{}/revoke", t.id)) {
                                        input type="hidden" name="csrf" value=(v.csrf);
                                        button type="submit" aria-label=(format!("Revoke token {}", t.id)) { "Revoke" }
                                    }
                                } @else {
                                    span.of { "(this session's)" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(next) = v.page.next_after {
            nav.pages aria-label="Pages" { a rel="next" href=(format!("/console/tokens?after={next}")) { "Next page" } }
        }
        section aria-labelledby="issue-h" {
            h2 #issue-h { "Issue a token" }
            @if !v.errors.is_empty() {
                section.problem role="alert" {
                    ul { @for e in v.errors { li { (e.field) ": " (e.message) } } }
                }
            }
            form.campaign method="post" action="/console/tokens" novalidate {
                input type="hidden" name="csrf" value=(v.csrf);
                div class=(field_class("role")) {
                    label for="t-role" { "Role" }
                    select #t-role name="role" {
                        @for r in [Role::Advertiser, Role::Buyer, Role::Admin] {
                            option value=(role_name(r)) selected[role == role_name(r)] { (role_name(r)) }
                        }
                    }
                    @if !err("role").is_empty() { p.error { (err("role")) } }
                }
                div class=(field_class("advertisers")) {
                    label for="t-advertisers" { "Advertisers" }
                    input #t-advertisers name="advertisers" value=(advertisers) aria-describedby="t-advertisers-hint";
                    p.hint #t-advertisers-hint { "ids, comma-separated: none for an admin, one for an advertiser" }
                    @if !err("advertisers").is_empty() { p.error { (err("advertisers")) } }
                }
                div class=(field_class("label")) {
                    label for="t-label" { "Label" }
                    input #t-label name="label" value=(label);
                    @if !err("label").is_empty() { p.error { (err("label")) } }
                }
                div.actions { button type="submit" { "Issue" } }
            }
        }
    };
    layout("Tokens", Some((v.who, v.csrf)), body)
}

/// The exchanges page.
pub fn exchanges(
    who: &Principal,
    csrf: &str,
    all: &[ExchangeProfile],
    default: Option<usize>,
) -> Markup {
    let body = html! {
        h1 { "Exchanges" }
        @if all.is_empty() {
            p { "No bidder runs beside this control instance, so it answers no exchange." }
        } @else {
            table {
                caption { "As configured; a change needs a restart." }
                thead { tr {
                    th scope="col" { "Exchange" } th scope="col" { "Our seat" } th scope="col" { "Currency" }
                    th scope="col" { "Sends burl" } th scope="col" { "Impressions bid on per request" }
                    th scope="col" { "Bids per campaign" } th scope="col" { "Notice window" }
                } }
                tbody {
                    @for (i, x) in all.iter().enumerate() {
                        tr {
                            th scope="row" { (x.name) @if default == Some(i) { span.of { " (default)" } } }
                            td { (x.seat.as_deref().unwrap_or("–")) }
                            td { (x.currency.as_str()) }
                            td { @if x.sends_burl { "yes" } @else { "no" } }
                            td.num { (x.max_imps) }
                            td.num { (x.bids_per_campaign) }
                            td.num { (x.notice_window_secs) " s" }
                        }
                    }
                }
            }
        }
    };
    layout("Exchanges", Some((who, csrf)), body)
}
