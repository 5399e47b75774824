//! `/api/v1/tokens`: admins issue, list and revoke API tokens. Secrets are
//! returned once, by the create call; lists never show them.
//!
//! Tokens are not part of the catalog, so token writes publish nothing.

use http::{Response, StatusCode};
use serde::Serialize;

use super::input::TokenInput;
use super::request::{created, json, lookahead, no_content, page_of, parse_json, parse_query};
use super::{Admin, require};
use crate::control::auth::{self, Principal, Role};
use crate::error::{ApiError, Body, FieldError};
use crate::model::AdvertiserId;

/// The answer to a create: the only time the secret is shown.
#[derive(Serialize)]
struct Issued<'a> {
    id: i64,
    secret: &'a str,
    role: Role,
    advertisers: &'a [AdvertiserId],
    label: &'a str,
}

impl Admin {
    pub(super) fn list_tokens(
        &self,
        who: &Principal,
        query: Option<&str>,
    ) -> Result<Response<Body>, ApiError> {
        require(who.is_admin())?;
        let q = parse_query(query, false)?;
        let rows = self.store.list_tokens(lookahead(q.page))?;
        json(StatusCode::OK, &page_of(rows, q.page.limit, |t| t.id), None)
    }

    pub(super) fn create_token(
        &self,
        who: &Principal,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        require(who.is_admin())?;
        let input: TokenInput = parse_json(body)?;
        let mut errors = Vec::new();
        match (input.role, input.advertisers.len()) {
            (Role::Admin, 0) | (Role::Buyer, _) | (Role::Advertiser, 1) => {}
            (Role::Admin, _) => errors.push(FieldError::new(
                "advertisers",
                "must be empty for admin tokens, which act for every advertiser",
            )),
            (Role::Advertiser, _) => errors.push(FieldError::new(
                "advertisers",
                "must name exactly one advertiser for advertiser tokens",
            )),
        }
        for (i, a) in input.advertisers.iter().enumerate() {
            if self.store.advertiser(*a)?.is_none() {
                errors.push(FieldError::new(
                    format!("advertisers[{i}]"),
                    "no such advertiser",
                ));
            }
        }
        if input.label.chars().count() > 200 {
            errors.push(FieldError::new("label", "must be at most 200 characters"));
        }
        if !errors.is_empty() {
            return Err(ApiError::Unprocessable(errors));
        }
        let t = auth::create_token(&self.store, input.role, &input.advertisers, &input.label)?;
        let issued = Issued {
            id: t.id,
            secret: &t.secret,
            role: input.role,
            advertisers: &input.advertisers,
            label: &input.label,
        };
        created(&issued, format!("/api/v1/tokens/{}", t.id), None)
    }

    pub(super) fn revoke_token(
        &self,
        who: &Principal,
        id: i64,
    ) -> Result<Response<Body>, ApiError> {
        require(who.is_admin())?;
        self.store.revoke_token(id)?;
        Ok(no_content())
    }
}
