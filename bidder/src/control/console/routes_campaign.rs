//! The campaign routes: the create and edit form (every bad field at its
//! field, a stale version shown with what changed) and a campaign's own
//! page with its budget charts.
//!
//! Reads forms and calls the service; never validates values itself (the
//! service does) and never writes markup (`campaign_pages` does).

use http::{Response, StatusCode};

use super::campaign_form::{self, CampaignForm};
use super::form::Form;
use super::session::Session;
use super::{Console, ConsoleError, DAY, campaign_pages, form_status, html, redirect};
use crate::control::auth::{Permission, Principal};
use crate::control::service::{FieldError, ReportRequest, ServiceError};
use crate::error::Body;
use crate::model::{AdvertiserId, CampaignId, UnixTime};
use crate::store::{DimValue, Dimension};

impl Console {
    /// `GET|POST /console/campaigns/new`: the form, then the service's
    /// create; every bad field is shown at its field, values kept.
    pub(super) fn new_campaign(
        &self,
        who: &Principal,
        s: &Session,
        form: Option<&Form>,
    ) -> Result<Response<Body>, ConsoleError> {
        let campaigns = self.services.campaigns();
        campaigns.check_create(who)?;
        let advertisers = self.advertisers(who)?;
        let base = campaign_form::blank(advertisers.first().map(|a| a.0));
        let Some(form) = form else {
            let values = CampaignForm::of(&base);
            return Ok(self.campaign_form(
                who,
                s,
                None,
                &values,
                None,
                (&[], &[]),
                None,
                &advertisers,
            ));
        };
        let values = CampaignForm::posted(|k| form.get(k).map(str::to_owned), "");
        let (draft, unread) = values.draft(&base);
        let refused = if unread.is_empty() {
            match campaigns.create(who, draft) {
                Ok(c) => return Ok(redirect(&format!("/console/campaigns/{}", c.id.0), None)),
                Err(ServiceError::Invalid(fields)) => fields,
                Err(e) => return Err(e.into()),
            }
        } else {
            invalid_fields(campaigns.check_draft(who, None, &draft))?
        };
        let (errors, other) = field_errors(unread, refused);
        Ok(self.campaign_form(
            who,
            s,
            None,
            &values,
            None,
            (&errors, &other),
            None,
            &advertisers,
        ))
    }

    /// `GET|POST /console/campaigns/{id}/edit`: the form at the stored
    /// version, then the service's update at that version. A stale version
    /// writes nothing and shows what changed since the form was opened.
    pub(super) fn edit_campaign(
        &self,
        who: &Principal,
        s: &Session,
        id: CampaignId,
        form: Option<&Form>,
    ) -> Result<Response<Body>, ConsoleError> {
        let campaigns = self.services.campaigns();
        let current = campaigns.check_update(who, id)?;
        let advertisers = self.advertisers(who)?;
        let Some(form) = form else {
            let values = CampaignForm::of(&current);
            return Ok(self.campaign_form(
                who,
                s,
                Some((id, current.version)),
                &values,
                Some(&values),
                (&[], &[]),
                None,
                &advertisers,
            ));
        };
        let version = form
            .get("version")
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| ConsoleError::BadForm("version: the campaign's version".into()))?;
        let values = CampaignForm::posted(|k| form.get(k).map(str::to_owned), "");
        let was = CampaignForm::posted(|k| form.get(k).map(str::to_owned), "was_");
        let (draft, unread) = values.draft(&current);
        let refused = if unread.is_empty() {
            match campaigns.update(who, id, draft, Some(version)) {
                Ok(c) => return Ok(redirect(&format!("/console/campaigns/{}", c.id.0), None)),
                Err(ServiceError::Invalid(fields)) => fields,
                Err(ServiceError::Stale { .. }) => {
                    let now = campaigns.get(who, id)?;
                    let stored = CampaignForm::of(&now);
                    let changes = was.changes(&stored);
                    let rebased = values.rebase(&was, &stored);
                    let mut resp = self.campaign_form(
                        who,
                        s,
                        Some((id, now.version)),
                        &rebased,
                        Some(&stored),
                        (&[], &[]),
                        Some(&changes),
                        &advertisers,
                    );
                    *resp.status_mut() = StatusCode::CONFLICT;
                    return Ok(resp);
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            invalid_fields(campaigns.check_draft(who, Some(id), &draft))?
        };
        let (errors, other) = field_errors(unread, refused);
        Ok(self.campaign_form(
            who,
            s,
            Some((id, version)),
            &values,
            Some(&was),
            (&errors, &other),
            None,
            &advertisers,
        ))
    }

    /// The form page; `422` when it shows errors.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn campaign_form(
        &self,
        who: &Principal,
        s: &Session,
        editing: Option<(CampaignId, i64)>,
        values: &CampaignForm,
        was: Option<&CampaignForm>,
        (errors, other): (&[(&'static str, String)], &[FieldError]),
        conflict: Option<&[campaign_form::Change]>,
        advertisers: &[(AdvertiserId, String)],
    ) -> Response<Body> {
        let status = form_status(!errors.is_empty() || !other.is_empty());
        html(
            status,
            campaign_pages::campaign_form(&campaign_pages::FormView {
                who,
                csrf: &s.csrf,
                editing,
                values,
                was,
                errors,
                other,
                conflict,
                advertisers,
            }),
        )
    }

    /// `GET /console/campaigns/{id}`: the campaign, its numbers of today
    /// and its budget charts.
    pub(super) fn campaign(
        &self,
        who: &Principal,
        s: &Session,
        id: CampaignId,
    ) -> Result<Response<Body>, ConsoleError> {
        let line = self.services.campaigns().line(who, id)?;
        let now = self.clock.now().0;
        let reports = self.services.reports();
        let spend = |from: i64, to: i64, by: Dimension| -> Result<Vec<(i64, i64)>, ConsoleError> {
            let report = reports.report(
                who,
                &ReportRequest {
                    advertiser: None,
                    campaign: Some(id),
                    from: UnixTime(from),
                    to: UnixTime(to),
                    group_by: vec![by],
                },
            )?;
            Ok(report
                .rows
                .iter()
                .filter_map(|r| match r.dims.first() {
                    Some(DimValue::Int(t)) => Some((*t, r.counts.spend_micros)),
                    _ => None,
                })
                .collect())
        };
        let b = &line.budget;
        let minutes = spend(
            b.day_start.0,
            b.day_end.0.max(b.day_start.0 + 60),
            Dimension::Minute,
        )?;
        let c = &line.campaign;
        let day = |t: i64| t.div_euclid(DAY) * DAY;
        let last = day(c.flight_end.map_or(now, |e| e.0.min(now))) + DAY;
        let first = day(c.flight_start.map_or(c.created_at.0, |s| s.0))
            .max(last - campaign_pages::MAX_FLIGHT_DAYS * DAY)
            .min(last - DAY);
        let days = spend(first, last, Dimension::Day)?;
        let charts = campaign_pages::budget_charts(&line, now, &minutes, &days, (first, last));
        Ok(html(
            StatusCode::OK,
            campaign_pages::campaign(&campaign_pages::CampaignView {
                who,
                csrf: &s.csrf,
                line: &line,
                may_manage: who.holds(Permission::ManageCampaigns),
                charts,
            }),
        ))
    }
}

/// The field errors of a draft check; any other refusal (a role, a
/// grant) is the page's answer.
fn invalid_fields(checked: Result<(), ServiceError>) -> Result<Vec<FieldError>, ConsoleError> {
    match checked {
        Ok(()) => Ok(Vec::new()),
        Err(ServiceError::Invalid(fields)) => Ok(fields),
        Err(e) => Err(e.into()),
    }
}

/// The form's own errors (`unread`, by form field) and the service's
/// (`refused`, by path) as errors at form fields and errors of fields the
/// form does not hold. A service error at a field the form could not read
/// is dropped: it is about the value kept in its place.
fn field_errors(
    unread: Vec<FieldError>,
    refused: Vec<FieldError>,
) -> (Vec<(&'static str, String)>, Vec<FieldError>) {
    let mut at: Vec<(&'static str, String)> = unread
        .iter()
        .filter_map(|e| campaign_form::field_named(&e.field).map(|f| (f.name, e.message.clone())))
        .collect();
    let unreadable: Vec<&'static str> = at.iter().map(|(n, _)| *n).collect();
    let mut other = Vec::new();
    for e in refused {
        match campaign_form::at_field(&e) {
            Some((name, _)) if unreadable.contains(&name) => {}
            Some(found) => at.push(found),
            None => other.push(e),
        }
    }
    at.sort_by_key(|(name, _)| {
        campaign_form::FIELDS
            .iter()
            .position(|f| f.name == *name)
            .unwrap_or(usize::MAX)
    });
    (at, other)
}
