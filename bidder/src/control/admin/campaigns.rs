//! `/api/v1/campaigns`: admins and buyers (for granted advertisers) manage
//! campaigns; advertiser tokens read their own.

use http::{HeaderMap, Response, StatusCode};

use super::Admin;
use super::input::CampaignInput;
use super::request::{
    created, delete_body, json, named_version, no_content, parse_json, parse_query,
};
use crate::control::auth::Principal;
use crate::control::service::CampaignFilter;
use crate::error::{ApiError, Body};
use crate::model::{AdvertiserId, CampaignId};

impl Admin {
    pub(super) fn list_campaigns(
        &self,
        who: &Principal,
        query: Option<&str>,
    ) -> Result<Response<Body>, ApiError> {
        let q = parse_query(query, true)?;
        let filter = CampaignFilter {
            advertiser: q.advertiser_id.map(AdvertiserId),
            include_archived: q.include_archived,
        };
        let page = self.services.campaigns().list(who, filter, q.page)?;
        json(StatusCode::OK, &page, None)
    }

    pub(super) fn get_campaign(
        &self,
        who: &Principal,
        id: i64,
    ) -> Result<Response<Body>, ApiError> {
        let c = self.services.campaigns().get(who, CampaignId(id))?;
        json(StatusCode::OK, &c, Some(c.version))
    }

    pub(super) fn create_campaign(
        &self,
        who: &Principal,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let campaigns = self.services.campaigns();
        campaigns.check_create(who)?;
        let input: CampaignInput = parse_json(body)?;
        let c = campaigns.create(who, input.into_draft(CampaignId(0)))?;
        created(&c, format!("/api/v1/campaigns/{}", c.id.0), Some(c.version))
    }

    pub(super) fn update_campaign(
        &self,
        who: &Principal,
        id: i64,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let (campaigns, id) = (self.services.campaigns(), CampaignId(id));
        campaigns.check_update(who, id)?;
        let input: CampaignInput = parse_json(body)?;
        let version = named_version(headers, input.version)?;
        let c = campaigns.update(who, id, input.into_draft(id), version)?;
        json(StatusCode::OK, &c, Some(c.version))
    }

    pub(super) fn delete_campaign(
        &self,
        who: &Principal,
        id: i64,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let (campaigns, id) = (self.services.campaigns(), CampaignId(id));
        campaigns.check_update(who, id)?;
        let input = delete_body(body)?;
        let version = named_version(headers, input.version)?;
        campaigns.delete(who, id, version)?;
        Ok(no_content())
    }
}
