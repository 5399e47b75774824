//! `/api/v1/tokens`: admins issue, list and revoke API tokens. Secrets are
//! returned once, by the create call; lists never show them.

use http::{Response, StatusCode};
use serde::Serialize;

use super::Admin;
use super::input::TokenInput;
use super::request::{created, json, no_content, parse_json, parse_query};
use crate::control::auth::{Principal, Role};
use crate::control::service::NewToken;
use crate::error::{ApiError, Body};
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
        let tokens = self.services.tokens();
        tokens.check(who)?;
        let q = parse_query(query, false)?;
        json(StatusCode::OK, &tokens.list(who, q.page)?, None)
    }

    pub(super) fn create_token(
        &self,
        who: &Principal,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let tokens = self.services.tokens();
        tokens.check(who)?;
        let input: TokenInput = parse_json(body)?;
        let token = NewToken::from(input);
        let t = tokens.create(who, &token)?;
        let issued = Issued {
            id: t.id,
            secret: &t.secret,
            role: token.role,
            advertisers: &token.advertisers,
            label: &token.label,
        };
        created(&issued, format!("/api/v1/tokens/{}", t.id), None)
    }

    pub(super) fn revoke_token(
        &self,
        who: &Principal,
        id: i64,
    ) -> Result<Response<Body>, ApiError> {
        self.services.tokens().revoke(who, id)?;
        Ok(no_content())
    }
}
