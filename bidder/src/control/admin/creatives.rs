//! `/api/v1/campaigns/{id}/creatives` and `/api/v1/creatives/{id}`: every
//! role manages the creatives of the campaigns of its advertisers.

use http::{HeaderMap, Response, StatusCode};

use super::advertisers::{delete_body, scope};
use super::input::CreativeInput;
use super::request::{
    created, expected_version, json, lookahead, no_content, page_of, parse_json, parse_query,
};
use super::{Admin, validate};
use crate::control::auth::Principal;
use crate::error::{ApiError, Body};
use crate::model::{CampaignId, Creative, CreativeId};

impl Admin {
    /// The creative `id` if it exists (404) and `who` may see its campaign
    /// (403).
    fn visible_creative(&self, who: &Principal, id: i64) -> Result<Creative, ApiError> {
        let c = self
            .store
            .creative(CreativeId(id))?
            .ok_or(ApiError::NotFound)?;
        self.visible_campaign(who, c.campaign_id.0)?;
        Ok(c)
    }

    fn check_creative(draft: &Creative) -> Result<(), ApiError> {
        let errors = validate::creative(&draft.name, &draft.body);
        if errors.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Unprocessable(errors.0))
        }
    }

    pub(super) fn list_creatives(
        &self,
        who: &Principal,
        campaign: i64,
        query: Option<&str>,
    ) -> Result<Response<Body>, ApiError> {
        let q = parse_query(query, false)?;
        self.visible_campaign(who, campaign)?;
        let rows =
            self.store
                .list_creatives(scope(who), CampaignId(campaign), lookahead(q.page))?;
        json(
            StatusCode::OK,
            &page_of(rows, q.page.limit, |c| c.id.0),
            None,
        )
    }

    pub(super) fn get_creative(
        &self,
        who: &Principal,
        id: i64,
    ) -> Result<Response<Body>, ApiError> {
        let c = self.visible_creative(who, id)?;
        json(StatusCode::OK, &c, Some(c.version))
    }

    pub(super) fn create_creative(
        &self,
        who: &Principal,
        campaign: i64,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        self.visible_campaign(who, campaign)?;
        let input: CreativeInput = parse_json(body)?;
        let draft = input.into_draft(CreativeId(0), CampaignId(campaign), 0);
        Admin::check_creative(&draft)?;
        let c = self.store.create_creative(&draft)?;
        self.publish()?;
        created(&c, format!("/api/v1/creatives/{}", c.id.0), Some(c.version))
    }

    pub(super) fn update_creative(
        &self,
        who: &Principal,
        id: i64,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let current = self.visible_creative(who, id)?;
        let input: CreativeInput = parse_json(body)?;
        let version = expected_version(headers, input.version)?;
        let draft = input.into_draft(CreativeId(id), current.campaign_id, version);
        Admin::check_creative(&draft)?;
        let c = self.store.update_creative(&draft)?;
        self.publish()?;
        json(StatusCode::OK, &c, Some(c.version))
    }

    pub(super) fn delete_creative(
        &self,
        who: &Principal,
        id: i64,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        self.visible_creative(who, id)?;
        let input = delete_body(body)?;
        let version = expected_version(headers, input.version)?;
        self.store.delete_creative(CreativeId(id), version)?;
        self.publish()?;
        Ok(no_content())
    }
}
