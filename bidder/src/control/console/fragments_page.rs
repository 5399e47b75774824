//! The fragment library's HTML: an advertiser's fragments with their
//! approval state and the formats each leaves out, the upload form, and
//! one fragment's page (its body, why a version was rejected, its review
//! history, a new version, and approve or reject for reviewers).
//!
//! Pure: takes what the service returned and writes markup. Never calls
//! the service, reads a request or sets headers. No script, no inline
//! style.

use creative::fragment::{FragmentBody, FragmentKind};
use maud::{Markup, html};

use super::pages::layout;
use crate::control::auth::Principal;
use crate::control::service::{FieldError, FormatWarning, ListPage, format_warnings};
use crate::model::{AdvertiserId, Fragment, FragmentStatus, Review};

/// The kinds, as the form offers them.
pub const KINDS: &[FragmentKind] = &[
    FragmentKind::Message,
    FragmentKind::Content,
    FragmentKind::Tone,
];

/// What the upload form holds (also after a refusal, values kept).
#[derive(Debug, Clone, Default)]
pub struct Upload {
    /// The advertiser's id, as typed.
    pub advertiser_id: String,
    /// The set.
    pub set: String,
    /// The kind's name.
    pub kind: String,
    /// The body, as JSON.
    pub body: String,
}

/// The fields of the upload and new-version forms an error can sit at;
/// `body.…` paths sit at the body.
pub fn field_of(path: &str) -> &'static str {
    match path {
        "advertiser_id" => "advertiser_id",
        "set" => "set",
        "kind" => "kind",
        _ => "body",
    }
}

/// The body as the API writes it: the kind's own fields, as JSON.
pub fn body_json(body: &FragmentBody) -> String {
    let v = match body {
        FragmentBody::Message(m) => serde_json::to_value(m),
        FragmentBody::Content(c) => serde_json::to_value(c),
        FragmentBody::Tone(t) => serde_json::to_value(t),
    };
    v.and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_default()
}

/// The text a row shows of a body: its headline, body copy or call to
/// action.
fn gist(body: &FragmentBody) -> &str {
    match body {
        FragmentBody::Message(m) => &m.headline,
        FragmentBody::Content(c) => &c.body,
        FragmentBody::Tone(t) => &t.cta,
    }
}

fn status_name(s: FragmentStatus) -> &'static str {
    s.as_str()
}

/// What the library page shows.
#[derive(Debug)]
pub struct LibraryView<'a> {
    /// Who is looking.
    pub who: &'a Principal,
    /// Its session's CSRF token.
    pub csrf: &'a str,
    /// The advertiser shown, if one is picked.
    pub advertiser: Option<AdvertiserId>,
    /// The advertisers to pick from.
    pub advertisers: &'a [(AdvertiserId, String)],
    /// The fragments.
    pub page: &'a ListPage<Fragment>,
    /// The upload form's values.
    pub upload: &'a Upload,
    /// The upload's errors: `(form field, path, message)`.
    pub errors: &'a [(&'static str, String, String)],
}

fn errors_at(errors: &[(&'static str, String, String)], field: &str) -> Vec<String> {
    errors
        .iter()
        .filter(|(f, _, _)| *f == field)
        .map(|(_, path, m)| {
            if path == field {
                m.clone()
            } else {
                format!("{path}: {m}")
            }
        })
        .collect()
}

/// One form field with its label, errors and hint.
fn field(id: &str, label: &str, errors: &[String], control: Markup) -> Markup {
    html! {
        div class=(if errors.is_empty() { "field" } else { "field invalid" }) {
            label for=(id) { (label) }
            (control)
            @if !errors.is_empty() {
                p.error id=(format!("{id}-error")) { (errors.join("; ")) }
            }
        }
    }
}

/// The warnings of one version, as a list.
pub fn warnings(ws: &[FormatWarning]) -> Markup {
    html! {
        @if !ws.is_empty() {
            ul.warnings {
                @for w in ws { li { (w.sentence()) } }
            }
        }
    }
}

/// The fragment library of an advertiser (or of every advertiser the
/// principal acts for), with the upload form.
pub fn library(v: &LibraryView<'_>) -> Markup {
    let base = match v.advertiser {
        Some(a) => format!("/console/fragments?advertiser={}", a.0),
        None => "/console/fragments".to_owned(),
    };
    let invalid = |f: &str| !errors_at(v.errors, f).is_empty();
    let described = |f: &str| invalid(f).then(|| format!("u-{f}-error"));
    let body = html! {
        h1 { "Fragment library" }
        form.filters method="get" action="/console/fragments" {
            label for="lib-advertiser" { "Advertiser" }
            select #lib-advertiser name="advertiser" {
                option value="" selected[v.advertiser.is_none()] { "all I act for" }
                @for (a, name) in v.advertisers {
                    option value=(a.0) selected[v.advertiser == Some(*a)] { (name) }
                }
            }
            button type="submit" { "Show" }
        }
        @if v.page.items.is_empty() {
            p { "No fragment yet." }
        } @else {
            table {
                caption { "Each row is a fragment's latest version. Formats left out: texts too long for them, so no creative with this fragment is made in that format." }
                thead { tr {
                    th scope="col" { "Fragment" }
                    th scope="col" { "Set" }
                    th scope="col" { "Kind" }
                    th scope="col" { "Text" }
                    th scope="col" { "State" }
                    th scope="col" { "Formats left out" }
                } }
                tbody {
                    @for f in &v.page.items {
                        tr {
                            th scope="row" { a href=(format!("/console/fragments/{}", f.id.0)) { "#" (f.id.0) } span.id { " v" (f.version) } }
                            td { (f.set) }
                            td { (f.kind.as_str()) }
                            td { (gist(&f.body)) }
                            td {
                                span class=(format!("status {}", status_name(f.status))) { (status_name(f.status)) }
                                @if let Some(s) = f.serving_version { span.of { " · serving v" (s) } }
                            }
                            td { (warnings(&format_warnings(&f.body))) }
                        }
                    }
                }
            }
            @if let Some(next) = v.page.next_after {
                nav.pages aria-label="Pages" {
                    a rel="next" href=(format!("{base}{}after={next}", if base.contains('?') { "&" } else { "?" })) { "Next page" }
                }
            }
        }
        section aria-labelledby="upload-h" {
            h2 #upload-h { "Upload a fragment" }
            @if !v.errors.is_empty() {
                section.problem role="alert" {
                    h3 { (v.errors.len()) " problem(s); nothing was saved" }
                    ul { @for (f, path, m) in v.errors { li { a href=(format!("#u-{f}")) { (path) } ": " (m) } } }
                }
            }
            form.campaign method="post" action="/console/fragments" novalidate {
                input type="hidden" name="csrf" value=(v.csrf);
                (field("u-advertiser_id", "Advertiser", &errors_at(v.errors, "advertiser_id"), html! {
                    select #u-advertiser_id name="advertiser_id" aria-invalid=[invalid("advertiser_id").then_some("true")] aria-describedby=[described("advertiser_id")] {
                        @for (a, name) in v.advertisers {
                            option value=(a.0) selected[v.upload.advertiser_id == a.0.to_string()] { (name) }
                        }
                    }
                }))
                (field("u-set", "Set", &errors_at(v.errors, "set"), html! {
                    input #u-set name="set" value=(v.upload.set) aria-invalid=[invalid("set").then_some("true")] aria-describedby=[described("set")];
                }))
                (field("u-kind", "Kind", &errors_at(v.errors, "kind"), html! {
                    select #u-kind name="kind" aria-invalid=[invalid("kind").then_some("true")] aria-describedby=[described("kind")] {
                        @for k in KINDS {
                            option value=(k.as_str()) selected[v.upload.kind == k.as_str()] { (k.as_str()) }
                        }
                    }
                }))
                div.wide {
                    (field("u-body", "Body (JSON, as the API takes it)", &errors_at(v.errors, "body"), html! {
                        textarea #u-body name="body" rows="10" spellcheck="false" aria-invalid=[invalid("body").then_some("true")] aria-describedby=[described("body")] { (v.upload.body) }
                    }))
                }
                div.actions { button type="submit" { "Upload" } }
            }
        }
    };
    layout("Fragments", Some((v.who, v.csrf)), body)
}

/// What one fragment's page shows.
#[derive(Debug)]
pub struct FragmentView<'a> {
    /// Who is looking.
    pub who: &'a Principal,
    /// Its session's CSRF token.
    pub csrf: &'a str,
    /// The fragment (its latest version).
    pub fragment: &'a Fragment,
    /// Its review log, oldest first.
    pub history: &'a [Review],
    /// Whether the principal may approve and reject.
    pub may_review: bool,
    /// The new version's body as typed, after a refusal; else the current.
    pub draft: Option<&'a str>,
    /// The new version's or review's errors.
    pub errors: &'a [FieldError],
    /// Just saved: say so beside the warnings.
    pub saved: bool,
}

/// One fragment: its state, the formats it leaves out, its body, its
/// history, a new version, and review for reviewers.
pub fn fragment(v: &FragmentView<'_>) -> Markup {
    let f = v.fragment;
    let ws = format_warnings(&f.body);
    let title = format!("Fragment #{}", f.id.0);
    let current = body_json(&f.body);
    let body = html! {
        h1 { (title) " " span.id { (f.kind.as_str()) " in set " (f.set) " · advertiser " (f.advertiser_id.0) } }
        @if v.saved {
            p.saved role="status" { "Saved as version " (f.version) "; it waits for review." }
        }
        p {
            "Version " (f.version) ": "
            span class=(format!("status {}", status_name(f.status))) { (status_name(f.status)) }
            @match f.serving_version {
                Some(s) => { " · version " (s) " serves" }
                None => { " · no version serves" }
            }
        }
        @if let (FragmentStatus::Rejected, Some(reason)) = (f.status, &f.reason) {
            p.problem { "Rejected: " (reason) }
        }
        section aria-labelledby="warn-h" {
            h2 #warn-h { "Formats this version leaves out" }
            @if ws.is_empty() {
                p { "None: its texts fit every format it may appear in." }
            } @else {
                div.warning role=(if v.saved { "alert" } else { "note" }) { (warnings(&ws)) }
            }
        }
        @if v.may_review && f.status == FragmentStatus::Pending {
            section aria-labelledby="review-h" {
                h2 #review-h { "Review version " (f.version) }
                form.inline method="post" action=(format!("/console/fragments/{}/approve", f.id.0)) {
                    input type="hidden" name="csrf" value=(v.csrf);
                    input type="hidden" name="version" value=(f.version);
                    button type="submit" { "Approve" }
                }
                form.review method="post" action=(format!("/console/fragments/{}/reject", f.id.0)) {
                    input type="hidden" name="csrf" value=(v.csrf);
                    input type="hidden" name="version" value=(f.version);
                    label for="reason" { "Why it is rejected" }
                    input #reason name="reason";
                    button type="submit" { "Reject" }
                }
            }
        }
        @if !v.errors.is_empty() {
            section.problem role="alert" {
                h2 { "Nothing was saved" }
                ul { @for e in v.errors { li { (e.field) ": " (e.message) } } }
            }
        }
        section aria-labelledby="version-h" {
            h2 #version-h { "New version" }
            form.explain method="post" action=(format!("/console/fragments/{}", f.id.0)) {
                input type="hidden" name="csrf" value=(v.csrf);
                input type="hidden" name="version" value=(f.version);
                div.field {
                    label for="v-body" { "Body (JSON)" }
                    textarea #v-body name="body" rows="14" spellcheck="false" { (v.draft.unwrap_or(&current)) }
                }
                div.actions { button type="submit" { "Save as a new version" } }
            }
        }
        section aria-labelledby="history-h" {
            h2 #history-h { "History" }
            table {
                thead { tr { th scope="col" { "Version" } th scope="col" { "What" } th scope="col" { "Who" } th scope="col" { "Why" } th scope="col" { "When (UTC)" } } }
                tbody {
                    @for r in v.history {
                        tr {
                            td.num { (r.version) }
                            td { (r.action.as_str()) }
                            td { (r.role) " · token " (r.token_id) }
                            td { (r.reason.as_deref().unwrap_or("")) }
                            td { (jiff::Timestamp::from_second(r.at.0).map(|t| t.to_string()).unwrap_or_default()) }
                        }
                    }
                }
            }
        }
        p { a href=(format!("/console/fragments?advertiser={}", f.advertiser_id.0)) { "Back to the library" } }
    };
    layout(&title, Some((v.who, v.csrf)), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_paths_sit_at_the_body_field() {
        assert_eq!(field_of("body.headline"), "body");
        assert_eq!(field_of("body"), "body");
        assert_eq!(field_of("set"), "set");
    }

    #[test]
    fn warnings_are_listed_in_words() {
        let w = FormatWarning {
            text: "body",
            length: 61,
            excluded: vec![("300x250".into(), 60)],
        };
        let html = warnings(&[w]).into_string();
        assert!(
            html.contains("body: 61 characters; 300x250 shows at most 60"),
            "{html}"
        );
        assert_eq!(warnings(&[]).into_string(), "");
    }
}
