//! The HTML of a campaign's exchange audits: one row per creative, one
//! column per exchange, each cell what that exchange's audit said
//! (approved, pending, rejected with its reason, or nothing recorded),
//! and a form that records an exchange's verdict.
//!
//! Pure: writes markup from [`CampaignAudits`]; never calls the service,
//! reads a request or sets headers.

use maud::{Markup, html};

use super::pages::layout;
use crate::control::auth::Principal;
use crate::control::service::{CampaignAudits, FieldError};
use crate::model::{Audit, AuditStatus};

/// What the audits page shows.
#[derive(Debug)]
pub struct AuditsView<'a> {
    /// Who is signed in.
    pub who: &'a Principal,
    /// Its session's CSRF token.
    pub csrf: &'a str,
    /// The campaign's creatives and their audits.
    pub audits: &'a CampaignAudits,
    /// Why the last form was refused.
    pub errors: &'a [FieldError],
    /// Just recorded: say so.
    pub saved: bool,
}

/// The word for `s`, as the API spells it.
pub fn status_word(s: AuditStatus) -> &'static str {
    match s {
        AuditStatus::Pending => "pending",
        AuditStatus::Approved => "approved",
        AuditStatus::Rejected => "rejected",
    }
}

fn cell(a: Option<&Audit>) -> Markup {
    html! {
        @match a {
            None => { span.of { "not audited (bids)" } }
            Some(a) => {
                span class=(format!("audit {}", status_word(a.status))) { (status_word(a.status)) }
                @if let Some(reason) = &a.reason {
                    @if !reason.is_empty() { ": " (reason) }
                }
            }
        }
    }
}

/// The audits page.
pub fn audits(v: &AuditsView<'_>) -> Markup {
    let a = v.audits;
    let c = &a.campaign;
    let title = format!("Exchange audits: {}", c.name);
    let action = format!("/console/campaigns/{}/audits", c.id.0);
    let body = html! {
        h1 { "Exchange audits " span.id { (c.name) " #" (c.id.0) } }
        p {
            "What each exchange's creative audit said of this campaign's creatives. A creative an exchange rejected never bids there; one it has not audited bids. "
            a href=(format!("/console/campaigns/{}", c.id.0)) { "Back to the campaign" }
        }
        @if v.saved {
            p.saved role="status" { "Recorded." }
        }
        @if !v.errors.is_empty() {
            section.problem role="alert" {
                h2 { "Nothing was recorded" }
                ul { @for e in v.errors { li { (e.field) ": " (e.message) } } }
            }
        }
        @if a.creatives.is_empty() {
            p { "This campaign has no creative yet." }
        } @else {
            table {
                caption { (a.creatives.len()) " creatives" @if a.truncated { " (the first fixed ones only)" } }
                thead {
                    tr {
                        th scope="col" { "Creative (crid)" }
                        th scope="col" { "What" }
                        @for x in &a.exchanges { th scope="col" { (x) } }
                    }
                }
                tbody {
                    @for cr in &a.creatives {
                        tr {
                            th scope="row" { code { (cr.crid) } }
                            td { (cr.label) }
                            @for audit in &cr.audits { td { (cell(audit.as_ref())) } }
                        }
                    }
                }
            }
            @if a.exchanges.is_empty() {
                p { "No exchange is configured and none has audited these creatives." }
            }
        }
        @if !a.exchanges.is_empty() && !a.creatives.is_empty() {
            section aria-labelledby="record-h" {
                h2 #record-h { "Record an exchange's audit" }
                form.campaign method="post" action=(action) {
                    input type="hidden" name="csrf" value=(v.csrf);
                    div.field {
                        label for="a-crid" { "Creative" }
                        select #a-crid name="crid" {
                            @for cr in &a.creatives { option value=(cr.crid) { (cr.crid) " · " (cr.label) } }
                        }
                    }
                    div.field {
                        label for="a-exchange" { "Exchange" }
                        select #a-exchange name="exchange" {
                            @for x in &a.exchanges { option value=(x) { (x) } }
                        }
                    }
                    div.field {
                        label for="a-status" { "Verdict" }
                        select #a-status name="status" {
                            option value="approved" { "approved" }
                            option value="pending" { "pending" }
                            option value="rejected" { "rejected" }
                        }
                    }
                    div.field {
                        label for="a-reason" { "Reason (the exchange's)" }
                        input #a-reason name="reason";
                    }
                    div.actions { button type="submit" { "Record" } }
                }
            }
        }
    };
    layout(&title, Some((v.who, v.csrf)), body)
}
