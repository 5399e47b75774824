//! `/api/v1/advertisers`: admins create and delete; buyers read and rename
//! their granted advertisers; advertiser tokens read their own.

use http::{HeaderMap, Response, StatusCode};

use super::input::{AdvertiserInput, DeleteInput};
use super::request::{
    created, expected_version, json, lookahead, no_content, page_of, parse_json, parse_query,
};
use super::{Admin, require, validate};
use crate::control::auth::{Principal, Role};
use crate::error::{ApiError, Body};
use crate::model::{Advertiser, AdvertiserId};
use crate::store::Scope;

/// The caller's view of the store: everything for admins, else its grants.
pub(super) fn scope(who: &Principal) -> Scope<'_> {
    if who.is_admin() {
        Scope::All
    } else {
        Scope::Advertisers(&who.advertisers)
    }
}

/// Parses an optional delete body.
pub(super) fn delete_body(body: &[u8]) -> Result<DeleteInput, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(DeleteInput::default())
    } else {
        parse_json(body)
    }
}

impl Admin {
    /// The advertiser `id` if it exists (404) and `who` may see it (403).
    fn visible_advertiser(&self, who: &Principal, id: i64) -> Result<Advertiser, ApiError> {
        let a = self
            .store
            .advertiser(AdvertiserId(id))?
            .ok_or(ApiError::NotFound)?;
        require(who.is_granted(a.id))?;
        Ok(a)
    }

    pub(super) fn list_advertisers(
        &self,
        who: &Principal,
        query: Option<&str>,
    ) -> Result<Response<Body>, ApiError> {
        let q = parse_query(query, false)?;
        let rows = self.store.list_advertisers(scope(who), lookahead(q.page))?;
        json(
            StatusCode::OK,
            &page_of(rows, q.page.limit, |a| a.id.0),
            None,
        )
    }

    pub(super) fn get_advertiser(
        &self,
        who: &Principal,
        id: i64,
    ) -> Result<Response<Body>, ApiError> {
        let a = self.visible_advertiser(who, id)?;
        json(StatusCode::OK, &a, Some(a.version))
    }

    pub(super) fn create_advertiser(
        &self,
        who: &Principal,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        require(who.is_admin())?;
        let input: AdvertiserInput = parse_json(body)?;
        let draft = input.into_draft(AdvertiserId(0), 0);
        let errors = validate::advertiser(&draft);
        if !errors.0.is_empty() {
            return Err(ApiError::Unprocessable(errors.0));
        }
        let a = self.store.create_advertiser(&draft)?;
        self.publish()?;
        created(
            &a,
            format!("/api/v1/advertisers/{}", a.id.0),
            Some(a.version),
        )
    }

    pub(super) fn update_advertiser(
        &self,
        who: &Principal,
        id: i64,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        require(matches!(who.role, Role::Admin | Role::Buyer))?;
        self.visible_advertiser(who, id)?;
        let input: AdvertiserInput = parse_json(body)?;
        let version = expected_version(headers, input.version)?;
        let draft = input.into_draft(AdvertiserId(id), version);
        let errors = validate::advertiser(&draft);
        if !errors.0.is_empty() {
            return Err(ApiError::Unprocessable(errors.0));
        }
        let a = self.store.update_advertiser(&draft)?;
        self.publish()?;
        json(StatusCode::OK, &a, Some(a.version))
    }

    pub(super) fn delete_advertiser(
        &self,
        who: &Principal,
        id: i64,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        require(who.is_admin())?;
        let input = delete_body(body)?;
        let version = expected_version(headers, input.version)?;
        self.store.delete_advertiser(AdvertiserId(id), version)?;
        self.publish()?;
        Ok(no_content())
    }
}
