//! The fragment library's routes: list and upload, one fragment and its
//! new versions, approve and reject.
//!
//! Reads forms, decodes bodies as the API does, and calls the service;
//! never validates values itself, never writes markup.

use creative::assembly::FragmentId;
use creative::fragment::FragmentKind;
use http::{Response, StatusCode};

use super::form::Form;
use super::session::Session;
use super::{Console, ConsoleError, PAGE_SIZE, form_status, fragments_page, html, redirect};
use crate::control::auth::{Permission, Principal};
use crate::control::service::{
    FieldError, FragmentDraft, Page, ServiceError, Verdict as FragmentVerdict,
};
use crate::error::{ApiError, Body};
use crate::model::AdvertiserId;
use crate::store::FragmentFilter;

impl Console {
    /// `GET|POST /console/fragments?advertiser=&after=`: the library and
    /// the upload form; an upload goes to the fragment's page, which says
    /// which formats it leaves out.
    pub(super) fn fragments(
        &self,
        who: &Principal,
        s: &Session,
        query: Option<&str>,
        form: Option<&Form>,
    ) -> Result<Response<Body>, ConsoleError> {
        let q = Form::parse(query.unwrap_or(""))
            .ok_or_else(|| ConsoleError::BadForm("the query string is malformed".into()))?;
        let id_of = |name: &str| -> Result<Option<i64>, ConsoleError> {
            match q.non_empty(name) {
                None => Ok(None),
                Some(v) => v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .map(Some)
                    .ok_or_else(|| ConsoleError::BadForm(format!("{name}: an id"))),
            }
        };
        let advertiser = id_of("advertiser")?.map(AdvertiserId);
        let after = id_of("after")?.unwrap_or(0);
        let advertisers = self.advertisers(who)?;
        let mut upload = fragments_page::Upload {
            advertiser_id: advertiser
                .or(advertisers.first().map(|a| a.0))
                .map(|a| a.0.to_string())
                .unwrap_or_default(),
            kind: "content".into(),
            ..Default::default()
        };
        let mut errors = Vec::new();
        if let Some(form) = form {
            let text = |k: &str| form.get(k).unwrap_or("").to_owned();
            upload = fragments_page::Upload {
                advertiser_id: text("advertiser_id"),
                set: text("set"),
                kind: text("kind"),
                body: text("body"),
            };
            match self.upload_fragment(who, &upload) {
                Ok(f) => {
                    let to = format!("/console/fragments/{}?saved=1", f.id.0);
                    return Ok(redirect(&to, None));
                }
                Err(ServiceError::Invalid(fields)) => {
                    errors = fields
                        .into_iter()
                        .map(|e| (fragments_page::field_of(&e.field), e.field, e.message))
                        .collect();
                }
                Err(e) => return Err(e.into()),
            }
        }
        let filter = FragmentFilter {
            advertiser,
            ..FragmentFilter::default()
        };
        let page = self.services.fragments().list(
            who,
            &filter,
            Page {
                after,
                limit: PAGE_SIZE,
            },
        )?;
        let status = form_status(!errors.is_empty());
        Ok(html(
            status,
            fragments_page::library(&fragments_page::LibraryView {
                who,
                csrf: &s.csrf,
                advertiser,
                advertisers: &advertisers,
                page: &page,
                upload: &upload,
                errors: &errors,
            }),
        ))
    }

    /// The upload form as a draft, through the service's create: every
    /// unreadable field named, and the body decoded as the API decodes it.
    pub(super) fn upload_fragment(
        &self,
        who: &Principal,
        u: &fragments_page::Upload,
    ) -> Result<crate::model::Fragment, ServiceError> {
        let fragments = self.services.fragments();
        let mut errors = Vec::new();
        let advertiser = u
            .advertiser_id
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0);
        if advertiser.is_none() {
            errors.push(FieldError::new("advertiser_id", "pick an advertiser"));
        }
        let kind = FragmentKind::parse(u.kind.trim());
        if kind.is_none() {
            errors.push(FieldError::new("kind", "message, content or tone"));
        }
        let value = match serde_json::from_str::<serde_json::Value>(&u.body) {
            Ok(v) => Some(v),
            Err(e) => {
                errors.push(FieldError::new("body", format!("not JSON: {e}")));
                None
            }
        };
        if let Some(a) = advertiser {
            fragments.check_create(who, AdvertiserId(a))?;
        }
        let body = match (kind, value) {
            (Some(k), Some(v)) => match decoded_body(k, v) {
                Ok(b) => Some(b),
                Err(fields) => {
                    errors.extend(fields);
                    None
                }
            },
            _ => None,
        };
        match (advertiser, body) {
            (Some(a), Some(body)) if errors.is_empty() => fragments.create(
                who,
                &FragmentDraft {
                    advertiser_id: AdvertiserId(a),
                    set: u.set.trim().to_owned(),
                    body,
                },
            ),
            _ => Err(ServiceError::Invalid(errors)),
        }
    }

    /// `GET|POST /console/fragments/{id}[?saved=1]`: one fragment, and a
    /// new version of it through the service's edit at the shown version.
    pub(super) fn fragment(
        &self,
        who: &Principal,
        s: &Session,
        id: FragmentId,
        query: Option<&str>,
        form: Option<&Form>,
    ) -> Result<Response<Body>, ConsoleError> {
        let fragments = self.services.fragments();
        let mut f = fragments.get(who, id)?;
        let mut errors = Vec::new();
        let mut status = StatusCode::OK;
        let mut draft = None;
        if let Some(form) = form {
            let version = form
                .get("version")
                .and_then(|v| v.parse::<i64>().ok())
                .ok_or_else(|| ConsoleError::BadForm("version: the fragment's version".into()))?;
            let text = form.get("body").unwrap_or("");
            let edited = serde_json::from_str::<serde_json::Value>(text)
                .map_err(|e| ServiceError::invalid("body", format!("not JSON: {e}")))
                .and_then(|v| decoded_body(f.kind, v).map_err(ServiceError::Invalid))
                .and_then(|body| {
                    let d = FragmentDraft {
                        advertiser_id: f.advertiser_id,
                        set: f.set.clone(),
                        body,
                    };
                    fragments.edit(who, id, &d, Some(version))
                });
            match edited {
                Ok(saved) => {
                    let to = format!("/console/fragments/{}?saved=1", saved.id.0);
                    return Ok(redirect(&to, None));
                }
                Err(ServiceError::Invalid(fields)) => {
                    errors = fields;
                    status = StatusCode::UNPROCESSABLE_ENTITY;
                }
                Err(ServiceError::Stale { current, .. }) => {
                    errors = vec![FieldError::new(
                        "version",
                        format!(
                            "version {current} was saved since this page was loaded; \
                             nothing was saved, your text is kept below"
                        ),
                    )];
                    status = StatusCode::CONFLICT;
                    f = fragments.get(who, id)?;
                }
                Err(e) => return Err(e.into()),
            }
            draft = Some(text);
        }
        let history = fragments.history(who, id)?;
        let saved = form.is_none()
            && Form::parse(query.unwrap_or("")).is_some_and(|q| q.get("saved") == Some("1"));
        Ok(html(
            status,
            fragments_page::fragment(&fragments_page::FragmentView {
                who,
                csrf: &s.csrf,
                fragment: &f,
                history: &history,
                may_review: who.holds(Permission::ManageCampaigns),
                draft,
                errors: &errors,
                saved,
            }),
        ))
    }

    /// `POST /console/fragments/{id}/approve|reject` at the shown version.
    pub(super) fn review_fragment(
        &self,
        who: &Principal,
        id: FragmentId,
        approve: bool,
        form: &Form,
    ) -> Result<Response<Body>, ConsoleError> {
        let version = form
            .get("version")
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| ConsoleError::BadForm("version: the fragment's version".into()))?;
        let verdict = if approve {
            FragmentVerdict::Approve
        } else {
            FragmentVerdict::Reject(form.get("reason").unwrap_or("").trim().to_owned())
        };
        self.services
            .fragments()
            .review(who, id, &verdict, Some(version))?;
        Ok(redirect(&format!("/console/fragments/{}", id.0), None))
    }
}

/// A fragment body decoded by its kind as the API decodes it: every
/// shape error with its `body.…` path.
fn decoded_body(
    kind: FragmentKind,
    value: serde_json::Value,
) -> Result<creative::fragment::FragmentBody, Vec<FieldError>> {
    crate::control::admin::fragment_body(kind, value).map_err(|e| match e {
        ApiError::Unprocessable(fields) => fields,
        other => vec![FieldError::new("body", other.to_string())],
    })
}
