//! Audience uploads from the console: a funnel's upload form, the upload
//! itself (a `multipart/form-data` post), and a job's page.
//!
//! Reads the form and calls the service, which decides who may upload
//! (the JSON API's roles) and opens the job; the rows are then read by the
//! same job runner as the API's uploads (`control::uploads`), on a
//! background thread, so the answer is the job's page at once and that
//! page shows the job's progress. Never writes markup.

use std::sync::Arc;

use audiences::table::FunnelId;
use http::{HeaderValue, Response, StatusCode, header};

use super::multipart::{self, Multipart};
use super::session::Session;
use super::upload_pages::{self, UploadView};
use super::{Console, ConsoleError, ConsoleRequest, html, redirect, same_origin};
use crate::control::auth::Principal;
use crate::control::service::{Page, Services};
use crate::control::uploads::{self, Target, UploadOptions};
use crate::error::Body;
use crate::model::{Job, JobId, JobStatus, StageNames, UploadMode};

/// The largest upload the console's form takes (the whole body is held in
/// memory while the job reads it); larger files go through the API, which
/// streams.
pub const MAX_UPLOAD_BYTES: usize = 8 * 1024 * 1024;

/// Jobs listed under a funnel's upload form.
const JOBS_SHOWN: u32 = 50;

impl Console {
    /// `GET /console/funnels/{id}/upload`: the form and the funnel's jobs;
    /// only for those who may upload to it.
    pub(super) fn upload_page(
        &self,
        who: &Principal,
        s: &Session,
        funnel: FunnelId,
        problem: Option<&str>,
    ) -> Result<Response<Body>, ConsoleError> {
        let funnels = self.services.funnels();
        funnels.check_update(who, funnel)?;
        let view = funnels.get(who, funnel)?;
        let page = Page {
            after: 0,
            limit: JOBS_SHOWN,
        };
        let jobs = funnels.jobs(who, Some(funnel), page)?.items;
        let status = if problem.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        Ok(html(
            status,
            upload_pages::upload_form(&UploadView {
                who,
                csrf: &s.csrf,
                funnel: &view,
                jobs: &jobs,
                problem,
                max_bytes: MAX_UPLOAD_BYTES,
            }),
        ))
    }

    /// `POST /console/funnels/{id}/upload`: checks the form like every
    /// other (same site, the session's CSRF token), opens the job through
    /// the service and starts it; answers with the job's page.
    pub(super) fn upload(
        &self,
        who: &Principal,
        s: &Session,
        funnel: FunnelId,
        req: &ConsoleRequest<'_>,
    ) -> Result<Response<Body>, ConsoleError> {
        if !same_origin(req.headers, req.authority) {
            return Err(ConsoleError::Forgery);
        }
        let form = req
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(multipart::boundary)
            .and_then(|b| multipart::parse(b, req.body));
        let Some(Multipart { fields, file }) = form else {
            // Unreadable, so its token is unknown: refused as a forgery
            // would be, before anything else is looked at.
            return Err(ConsoleError::BadForm("the upload form is malformed".into()));
        };
        if !s.csrf_matches(fields.get("csrf")) {
            return Err(ConsoleError::Forgery);
        }
        let mode = fields.get("mode").unwrap_or("add");
        let Some(mode) = UploadMode::parse(mode) else {
            return self.upload_page(who, s, funnel, Some("Mode: add, remove or replace."));
        };
        let file = file.filter(|f| !f.is_empty());
        let Some(file) = file else {
            // The service decides first whether this principal may upload.
            self.services.funnels().check_update(who, funnel)?;
            return self.upload_page(who, s, funnel, Some("Members file: pick a file with rows."));
        };
        let opts = UploadOptions { mode, format: None };
        let (job, names) = self.services.funnels().start_upload(who, funnel, opts)?;
        start_job(
            Arc::clone(&self.services),
            job.clone(),
            names,
            opts,
            file.to_vec(),
        );
        Ok(redirect(&format!("/console/jobs/{}", job.id.0), None))
    }

    /// `GET /console/jobs/{id}`: the job's progress, reloaded by the
    /// browser (a `Refresh` header, no script) while it runs; its report
    /// once it ended.
    pub(super) fn job_page(
        &self,
        who: &Principal,
        s: &Session,
        id: JobId,
    ) -> Result<Response<Body>, ConsoleError> {
        let funnels = self.services.funnels();
        let job = funnels.job(who, id)?;
        let funnel = funnels.check_read(who, job.funnel_id)?;
        let mut resp = html(
            StatusCode::OK,
            upload_pages::job(who, &s.csrf, &job, &funnel.name),
        );
        if job.status == JobStatus::Running {
            resp.headers_mut().insert(
                header::REFRESH,
                HeaderValue::from(upload_pages::REFRESH_SECS),
            );
        }
        Ok(resp)
    }
}

/// Runs `job` over `file` on its own low-priority thread. The job's
/// progress is committed with each chunk, so its page shows how far it
/// got; a server stopped meanwhile leaves it `interrupted` at start-up, as
/// an API upload cut off would.
fn start_job(
    services: Arc<Services>,
    job: Job,
    names: StageNames,
    opts: UploadOptions,
    file: Vec<u8>,
) {
    let id = job.id.0;
    let spawned = std::thread::Builder::new()
        .name("console-upload".into())
        .spawn(move || {
            crate::cold_path::lower_priority();
            let target = Target {
                store: services.store(),
                audience: &**services.audience(),
            };
            if let Err(e) = uploads::run_upload(target, &job, &names, opts, file.as_slice()) {
                tracing::error!(job = job.id.0, error = %e, "console upload failed in the store");
            }
        });
    if let Err(e) = spawned {
        tracing::error!(job = id, error = %e, "console upload thread did not start");
    }
}
