//! `/api/v1/campaigns/{id}/creatives` and `/api/v1/creatives/{id}`: every
//! role manages the creatives of the campaigns of its advertisers.

use http::{HeaderMap, Response, StatusCode};

use super::Admin;
use super::input::CreativeInput;
use super::request::{
    created, delete_body, json, named_version, no_content, parse_json, parse_query,
};
use crate::control::auth::Principal;
use crate::error::{ApiError, Body};
use crate::model::{CampaignId, CreativeId};

impl Admin {
    pub(super) fn list_creatives(
        &self,
        who: &Principal,
        campaign: i64,
        query: Option<&str>,
    ) -> Result<Response<Body>, ApiError> {
        let q = parse_query(query, false)?;
        let page = self
            .services
            .creatives()
            .list(who, CampaignId(campaign), q.page)?;
        json(StatusCode::OK, &page, None)
    }

    pub(super) fn get_creative(
        &self,
        who: &Principal,
        id: i64,
    ) -> Result<Response<Body>, ApiError> {
        let c = self.services.creatives().get(who, CreativeId(id))?;
        json(StatusCode::OK, &c, Some(c.version))
    }

    pub(super) fn create_creative(
        &self,
        who: &Principal,
        campaign: i64,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let (creatives, campaign) = (self.services.creatives(), CampaignId(campaign));
        creatives.check_create(who, campaign)?;
        let input: CreativeInput = parse_json(body)?;
        let draft = input.into_draft(CreativeId(0), campaign);
        let c = creatives.create(who, campaign, draft)?;
        created(&c, format!("/api/v1/creatives/{}", c.id.0), Some(c.version))
    }

    pub(super) fn update_creative(
        &self,
        who: &Principal,
        id: i64,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let (creatives, id) = (self.services.creatives(), CreativeId(id));
        let current = creatives.check_update(who, id)?;
        let input: CreativeInput = parse_json(body)?;
        let version = named_version(headers, input.version)?;
        let draft = input.into_draft(id, current.campaign_id);
        let c = creatives.update(who, id, draft, version)?;
        json(StatusCode::OK, &c, Some(c.version))
    }

    pub(super) fn delete_creative(
        &self,
        who: &Principal,
        id: i64,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let (creatives, id) = (self.services.creatives(), CreativeId(id));
        creatives.check_update(who, id)?;
        let input = delete_body(body)?;
        let version = named_version(headers, input.version)?;
        creatives.delete(who, id, version)?;
        Ok(no_content())
    }
}
