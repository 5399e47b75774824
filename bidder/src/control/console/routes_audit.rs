//! A campaign's exchange audits: the page (every creative, every
//! exchange's verdict) and its form, which records a verdict through the
//! same service call as `PUT /api/v1/audits/{exchange}/{crid}`.
//!
//! Reads the form and calls the service; never decides who may record
//! what (the service does) and never writes markup (`audits_page` does).

use http::Response;

use super::form::Form;
use super::session::Session;
use super::{Console, ConsoleError, audits_page, form_status, html, redirect};
use crate::control::auth::Principal;
use crate::control::service::{FieldError, ServiceError};
use crate::error::Body;
use crate::model::{AuditStatus, CampaignId};

impl Console {
    /// `GET|POST /console/campaigns/{id}/audits[?saved=1]`: admins and
    /// buyers (for their advertisers' campaigns), as the API's audits.
    pub(super) fn audits(
        &self,
        who: &Principal,
        s: &Session,
        id: CampaignId,
        query: Option<&str>,
        form: Option<&Form>,
    ) -> Result<Response<Body>, ConsoleError> {
        let fragments = self.services.fragments();
        fragments.check_audits(who)?;
        self.services.campaigns().get(who, id)?;
        let mut errors = Vec::new();
        if let Some(form) = form {
            let crid = form.get("crid").unwrap_or("").trim();
            let exchange = form.get("exchange").unwrap_or("").trim();
            let status = match form.get("status") {
                Some("approved") => Some(AuditStatus::Approved),
                Some("pending") => Some(AuditStatus::Pending),
                Some("rejected") => Some(AuditStatus::Rejected),
                _ => None,
            };
            let reason = form.non_empty("reason").map(str::trim);
            if crid.is_empty() {
                errors.push(FieldError::new("crid", "pick a creative"));
            }
            if exchange.is_empty() {
                errors.push(FieldError::new("exchange", "pick an exchange"));
            }
            match status {
                Some(status) if errors.is_empty() => {
                    match fragments.put_audit(who, exchange, crid, status, reason) {
                        Ok(_) => {
                            let to = format!("/console/campaigns/{}/audits?saved=1", id.0);
                            return Ok(redirect(&to, None));
                        }
                        Err(ServiceError::Invalid(fields)) => errors = fields,
                        Err(e) => return Err(e.into()),
                    }
                }
                Some(_) => {}
                None => errors.push(FieldError::new("status", "approved, pending or rejected")),
            }
        }
        let board = fragments.campaign_audits(who, id)?;
        let saved = form.is_none()
            && Form::parse(query.unwrap_or("")).is_some_and(|q| q.get("saved") == Some("1"));
        let status = form_status(!errors.is_empty());
        Ok(html(
            status,
            audits_page::audits(&audits_page::AuditsView {
                who,
                csrf: &s.csrf,
                audits: &board,
                errors: &errors,
                saved,
            }),
        ))
    }
}
