//! `/api/v1/campaigns`: admins and buyers (for granted advertisers) manage
//! campaigns; advertiser tokens read their own.

use http::{HeaderMap, Response, StatusCode};

use super::advertisers::{delete_body, scope};
use super::input::CampaignInput;
use super::request::{
    created, expected_version, json, lookahead, no_content, page_of, parse_json, parse_query,
};
use super::{Admin, manages_campaigns, require, validate};
use crate::control::auth::Principal;
use crate::error::{ApiError, Body};
use crate::model::{AdvertiserId, Campaign, CampaignId};

impl Admin {
    /// The campaign `id` if it exists (404) and `who` may see it (403).
    pub(super) fn visible_campaign(&self, who: &Principal, id: i64) -> Result<Campaign, ApiError> {
        let c = self
            .store
            .campaign(CampaignId(id))?
            .ok_or(ApiError::NotFound)?;
        require(who.is_granted(c.advertiser_id))?;
        Ok(c)
    }

    /// Validates a draft, looking up its advertiser.
    fn check_campaign(&self, draft: &Campaign) -> Result<(), ApiError> {
        let exists = self.store.advertiser(draft.advertiser_id)?.is_some();
        let funnel_owner = match &draft.targeting.audience {
            Some(a) => self.store.funnel(a.funnel_id)?.map(|f| f.advertiser_id),
            None => None,
        };
        let errors = validate::campaign(draft, exists, funnel_owner);
        if errors.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Unprocessable(errors.0))
        }
    }

    pub(super) fn list_campaigns(
        &self,
        who: &Principal,
        query: Option<&str>,
    ) -> Result<Response<Body>, ApiError> {
        let q = parse_query(query, true)?;
        let advertiser = q.advertiser_id.map(AdvertiserId);
        if let Some(a) = advertiser {
            require(who.is_granted(a))?;
        }
        let rows = self.store.list_campaigns(
            scope(who),
            advertiser,
            q.include_archived,
            lookahead(q.page),
        )?;
        json(
            StatusCode::OK,
            &page_of(rows, q.page.limit, |c| c.id.0),
            None,
        )
    }

    pub(super) fn get_campaign(
        &self,
        who: &Principal,
        id: i64,
    ) -> Result<Response<Body>, ApiError> {
        let c = self.visible_campaign(who, id)?;
        json(StatusCode::OK, &c, Some(c.version))
    }

    pub(super) fn create_campaign(
        &self,
        who: &Principal,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        require(manages_campaigns(who))?;
        let input: CampaignInput = parse_json(body)?;
        require(who.is_granted(input.advertiser_id))?;
        let draft = input.into_draft(CampaignId(0), 0);
        self.check_campaign(&draft)?;
        let c = self.store.create_campaign(&draft)?;
        self.publish()?;
        created(&c, format!("/api/v1/campaigns/{}", c.id.0), Some(c.version))
    }

    pub(super) fn update_campaign(
        &self,
        who: &Principal,
        id: i64,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        require(manages_campaigns(who))?;
        self.visible_campaign(who, id)?;
        let input: CampaignInput = parse_json(body)?;
        // Moving a campaign needs the right to the new owner too.
        require(who.is_granted(input.advertiser_id))?;
        let version = expected_version(headers, input.version)?;
        let draft = input.into_draft(CampaignId(id), version);
        self.check_campaign(&draft)?;
        let c = self.store.update_campaign(&draft)?;
        self.publish()?;
        json(StatusCode::OK, &c, Some(c.version))
    }

    pub(super) fn delete_campaign(
        &self,
        who: &Principal,
        id: i64,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        require(manages_campaigns(who))?;
        self.visible_campaign(who, id)?;
        let input = delete_body(body)?;
        let version = expected_version(headers, input.version)?;
        self.store.delete_campaign(CampaignId(id), version)?;
        self.publish()?;
        Ok(no_content())
    }
}
