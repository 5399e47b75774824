//! `/api/v1/advertisers`: admins create and delete; buyers read and rename
//! their granted advertisers; advertiser tokens read their own.

use http::{HeaderMap, Response, StatusCode};

use super::Admin;
use super::input::AdvertiserInput;
use super::request::{
    created, delete_body, json, named_version, no_content, parse_json, parse_query,
};
use crate::control::auth::Principal;
use crate::error::{ApiError, Body};
use crate::model::AdvertiserId;

impl Admin {
    pub(super) fn list_advertisers(
        &self,
        who: &Principal,
        query: Option<&str>,
    ) -> Result<Response<Body>, ApiError> {
        let q = parse_query(query, false)?;
        let page = self.services.advertisers().list(who, q.page)?;
        json(StatusCode::OK, &page, None)
    }

    pub(super) fn get_advertiser(
        &self,
        who: &Principal,
        id: i64,
    ) -> Result<Response<Body>, ApiError> {
        let a = self.services.advertisers().get(who, AdvertiserId(id))?;
        json(StatusCode::OK, &a, Some(a.version))
    }

    pub(super) fn create_advertiser(
        &self,
        who: &Principal,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let advertisers = self.services.advertisers();
        advertisers.check_create(who)?;
        let input: AdvertiserInput = parse_json(body)?;
        let a = advertisers.create(who, input.into_draft(AdvertiserId(0)))?;
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
        let (advertisers, id) = (self.services.advertisers(), AdvertiserId(id));
        advertisers.check_update(who, id)?;
        let input: AdvertiserInput = parse_json(body)?;
        let version = named_version(headers, input.version)?;
        let a = advertisers.update(who, id, input.into_draft(id), version)?;
        json(StatusCode::OK, &a, Some(a.version))
    }

    pub(super) fn delete_advertiser(
        &self,
        who: &Principal,
        id: i64,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let advertisers = self.services.advertisers();
        advertisers.check_delete(who)?;
        let input = delete_body(body)?;
        let version = named_version(headers, input.version)?;
        advertisers.delete(who, AdvertiserId(id), version)?;
        Ok(no_content())
    }
}
