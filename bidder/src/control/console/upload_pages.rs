//! The HTML of audience uploads: a funnel's upload form with its recent
//! jobs, and one job's page (progress while it runs, its report after).
//!
//! Pure: takes what the service returned and writes markup. Never calls
//! the service, reads a request or sets headers (the job page's refresh is
//! a header the handler sets). No script, no inline style.

use maud::{Markup, html};

use super::pages::layout;
use crate::control::auth::Principal;
use crate::control::service::FunnelView;
use crate::model::{Job, JobStatus, UnixTime, UploadMode};

/// Seconds between two loads of a running job's page.
pub const REFRESH_SECS: u32 = 1;

/// What a funnel's upload page shows.
#[derive(Debug)]
pub struct UploadView<'a> {
    /// Who is looking.
    pub who: &'a Principal,
    /// Its session's CSRF token.
    pub csrf: &'a str,
    /// The funnel.
    pub funnel: &'a FunnelView,
    /// Its latest jobs, newest first.
    pub jobs: &'a [Job],
    /// Why the last upload was refused.
    pub problem: Option<&'a str>,
    /// The largest file the form takes, in bytes.
    pub max_bytes: usize,
}

/// `GET /console/funnels/{id}/upload`.
pub fn upload_form(v: &UploadView<'_>) -> Markup {
    let f = &v.funnel.funnel;
    let title = format!("Upload members to {}", f.name);
    let body = html! {
        p { a href="/console/funnels" { "Funnels" } }
        h1 { (title) }
        p {
            "A CSV file (" code { "key_type,id,stage[,ttl]" } ", an optional header line starting with "
            code { "key_type" } ") or NDJSON, optionally gzipped, of at most "
            (v.max_bytes / (1024 * 1024)) " MiB; larger files go through "
            code { "POST /api/v1/funnels/" (f.id.0) "/uploads" } ". Stages are "
            @for (i, s) in v.funnel.stages.iter().enumerate() {
                @if i > 0 { ", " }
                code { (s.name) }
            }
            ". The file is applied in chunks; the job's page shows how far it got and every refused row."
        }
        @if let Some(problem) = v.problem {
            p.problem role="alert" { (problem) }
        }
        form method="post" action={ "/console/funnels/" (f.id.0) "/upload" } enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(v.csrf);
            label for="mode" { "Mode" }
            select #mode name="mode" aria-describedby="mode-help" {
                @for m in [UploadMode::Add, UploadMode::Remove, UploadMode::Replace] {
                    option value=(m.as_str()) { (m.as_str()) }
                }
            }
            p #mode-help.help { "add: add or move the users; remove: take them out; replace: the file is the whole funnel." }
            label for="file" { "Members file" }
            input #file type="file" name="file" required accept=".csv,.ndjson,.jsonl,.gz,text/csv,application/gzip";
            button type="submit" { "Upload" }
        }
        h2 { "Latest uploads" }
        @if v.jobs.is_empty() {
            p { "No upload yet." }
        } @else {
            (jobs_table(v.jobs))
        }
    };
    layout(&title, Some((v.who, v.csrf)), body)
}

fn jobs_table(jobs: &[Job]) -> Markup {
    html! {
        table {
            caption { "Upload jobs, newest first" }
            thead { tr {
                th scope="col" { "Job" }
                th scope="col" { "Mode" }
                th scope="col" { "State" }
                th scope="col" { "Rows read" }
                th scope="col" { "Committed" }
                th scope="col" { "Rejected" }
                th scope="col" { "Started (UTC)" }
            } }
            tbody {
                @for j in jobs {
                    tr {
                        th scope="row" { a href={ "/console/jobs/" (j.id.0) } { "#" (j.id.0) } }
                        td { (j.mode.as_str()) }
                        td { span.status { (j.status.as_str()) } }
                        td.num { (j.rows_read) }
                        td.num { (j.rows_accepted) }
                        td.num { (j.rows_rejected) }
                        td { (utc(j.created_at)) }
                    }
                }
            }
        }
    }
}

/// `GET /console/jobs/{id}`.
pub fn job(who: &Principal, csrf: &str, job: &Job, funnel: &str) -> Markup {
    let title = format!("Upload job #{}", job.id.0);
    let running = job.status == JobStatus::Running;
    let body = html! {
        p { a href={ "/console/funnels/" (job.funnel_id.0) "/upload" } { "Uploads to " (funnel) } }
        h1 { (title) }
        p #state role="status" {
            "State: " span.status { (job.status.as_str()) }
            @if running { " · this page reloads every " (REFRESH_SECS) " s until the job ends (" a href={ "/console/jobs/" (job.id.0) } { "reload now" } ")" }
        }
        @if let Some(m) = &job.message {
            p.problem role="alert" { (m) }
        }
        dl.summary {
            dt { "Funnel" } dd { (funnel) " #" (job.funnel_id.0) }
            dt { "Mode" } dd { (job.mode.as_str()) }
            dt { "Rows read" } dd #rows-read { (job.rows_read) }
            dt { "Committed" } dd #rows-committed { (job.rows_accepted) }
            dt { "Rejected" } dd #rows-rejected { (job.rows_rejected) }
            dt { "Removed" } dd { (job.rows_removed) }
            dt { "Accounted up to line" } dd { (job.last_line) }
            dt { "Started (UTC)" } dd { (utc(job.created_at)) }
            @if let Some(end) = job.finished_at { dt { "Ended (UTC)" } dd { (utc(end)) } }
        }
        @if !running {
            h2 { "Report" }
            @if job.rejections.is_empty() {
                p { "Every row read was applied." }
            } @else {
                table #rejections {
                    caption {
                        "Refused rows"
                        @if (job.rejections.len() as u64) < job.rows_rejected {
                            " (the first " (job.rejections.len()) " of " (job.rows_rejected) ")"
                        }
                    }
                    thead { tr { th scope="col" { "Line" } th scope="col" { "Reason" } } }
                    tbody {
                        @for r in &job.rejections {
                            tr { td.num { (r.line) } td { (r.reason) } }
                        }
                    }
                }
            }
        }
    };
    layout(&title, Some((who, csrf)), body)
}

/// `t` as `YYYY-MM-DD HH:MM:SS`, in UTC.
fn utc(t: UnixTime) -> String {
    jiff::Timestamp::from_second(t.0)
        .map(|ts| {
            ts.to_zoned(jiff::tz::TimeZone::UTC)
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_utc_dates() {
        assert_eq!(utc(UnixTime(0)), "1970-01-01 00:00:00");
        assert_eq!(utc(UnixTime(951_782_400 + 3_661)), "2000-02-29 01:01:01");
        assert_eq!(utc(UnixTime(1_796_601_600)), "2026-12-07 00:00:00");
    }
}
