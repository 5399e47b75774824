//! The funnels page and the admins' token page.
//!
//! Reads forms and calls the service; never decides who may do what (the
//! service does), never writes markup.

use http::{Response, StatusCode};

use super::form::Form;
use super::session::Session;
use super::{Console, ConsoleError, PAGE_SIZE, admin_pages, form_status, html};
use crate::control::auth::Principal;
use crate::control::service::{FieldError, NewToken, Page, ServiceError};
use crate::error::Body;
use crate::model::{AdvertiserId, Role};

impl Console {
    /// The `after` cursor of a list's query string.
    pub(super) fn cursor(query: Option<&str>) -> Result<i64, ConsoleError> {
        let q = Form::parse(query.unwrap_or(""))
            .ok_or_else(|| ConsoleError::BadForm("the query string is malformed".into()))?;
        match q.non_empty("after") {
            None => Ok(0),
            Some(a) => a
                .parse::<i64>()
                .ok()
                .filter(|a| *a >= 0)
                .ok_or_else(|| ConsoleError::BadForm("after: an id".into())),
        }
    }

    /// `GET /console/funnels`: the funnels `who` may see, members per
    /// stage.
    pub(super) fn funnels(
        &self,
        who: &Principal,
        s: &Session,
        query: Option<&str>,
    ) -> Result<Response<Body>, ConsoleError> {
        let page = Page {
            after: Self::cursor(query)?,
            limit: PAGE_SIZE,
        };
        let funnels = self.services.funnels().list(who, None, page)?;
        Ok(html(
            StatusCode::OK,
            admin_pages::funnels(who, &s.csrf, &funnels),
        ))
    }

    /// `GET|POST /console/tokens` (admins): the tokens, and a new one
    /// whose secret the answer shows once.
    pub(super) fn tokens(
        &self,
        who: &Principal,
        s: &Session,
        query: Option<&str>,
        form: Option<&Form>,
    ) -> Result<Response<Body>, ConsoleError> {
        let tokens = self.services.tokens();
        tokens.check(who)?;
        let mut errors = Vec::new();
        let mut issued = None;
        let text = |k: &str| form.and_then(|f| f.get(k)).unwrap_or("").to_owned();
        let (role, advertisers, label) = (text("role"), text("advertisers"), text("label"));
        if form.is_some() {
            let role_of = Role::parse(role.trim());
            if role_of.is_none() {
                errors.push(FieldError::new("role", "admin, buyer or advertiser"));
            }
            let mut ids = Vec::new();
            for (i, a) in advertisers
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .enumerate()
            {
                match a.parse::<i64>() {
                    Ok(n) if n > 0 => ids.push(AdvertiserId(n)),
                    _ => errors.push(FieldError::new(
                        format!("advertisers[{i}]"),
                        format!("{a:?} is not an advertiser's id"),
                    )),
                }
            }
            if let (Some(role), true) = (role_of, errors.is_empty()) {
                let new = NewToken {
                    role,
                    advertisers: ids,
                    label: label.trim().to_owned(),
                };
                match tokens.create(who, &new) {
                    Ok(t) => issued = Some(t),
                    Err(ServiceError::Invalid(fields)) => errors = fields,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let page = Page {
            after: Self::cursor(query)?,
            limit: PAGE_SIZE,
        };
        let list = tokens.list(who, page)?;
        let status = form_status(!errors.is_empty());
        let kept = if issued.is_some() {
            ("advertiser", "", "")
        } else {
            (role.as_str(), advertisers.as_str(), label.as_str())
        };
        Ok(html(
            status,
            admin_pages::tokens(&admin_pages::TokensView {
                who,
                csrf: &s.csrf,
                page: &list,
                issued: issued.as_ref().map(|t| (t.id, t.secret.as_str())),
                form: kept,
                errors: &errors,
            }),
        ))
    }
}
