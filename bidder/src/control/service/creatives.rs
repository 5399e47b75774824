//! Fixed creatives: every role manages the creatives of the campaigns of
//! the advertisers it acts for. A creative stays in its campaign.
//!
//! Owns who may do what to a creative and the publish after each write;
//! never parses requests or encodes answers.

use super::page::{ListPage, Page, lookahead, page_of};
use super::{ServiceError, Services, expected, scope, validate};
use crate::control::auth::Principal;
use crate::model::{Campaign, CampaignId, Creative, CreativeId};

/// Creatives, as one caller may see and change them.
#[derive(Debug, Clone, Copy)]
pub struct Creatives<'s> {
    pub(super) s: &'s Services,
}

impl Creatives<'_> {
    /// One page of the creatives of `campaign`, by id.
    pub fn list(
        &self,
        who: &Principal,
        campaign: CampaignId,
        page: Page,
    ) -> Result<ListPage<Creative>, ServiceError> {
        self.s.campaigns().get(who, campaign)?;
        let rows = self
            .s
            .store
            .list_creatives(scope(who), campaign, lookahead(page))?;
        Ok(page_of(rows, page.limit, |c| c.id.0))
    }

    /// The creative `id` if it exists and `who` may see its campaign.
    pub fn get(&self, who: &Principal, id: CreativeId) -> Result<Creative, ServiceError> {
        let c = self.s.store.creative(id)?.ok_or(ServiceError::NotFound)?;
        self.s.campaigns().get(who, c.campaign_id)?;
        Ok(c)
    }

    /// Whether `who` may add creatives to `campaign`; the campaign.
    pub fn check_create(
        &self,
        who: &Principal,
        campaign: CampaignId,
    ) -> Result<Campaign, ServiceError> {
        self.s.campaigns().get(who, campaign)
    }

    /// Adds a creative from `draft` (its id, campaign, version and times are
    /// ignored) to `campaign`, and publishes.
    pub fn create(
        &self,
        who: &Principal,
        campaign: CampaignId,
        draft: Creative,
    ) -> Result<Creative, ServiceError> {
        self.check_create(who, campaign)?;
        let draft = Creative {
            id: CreativeId(0),
            campaign_id: campaign,
            version: 0,
            ..draft
        };
        validate::creative(&draft.name, &draft.body).into_result()?;
        let c = self.s.store.create_creative(&draft)?;
        self.s.publish_campaigns(&[c.campaign_id])?;
        Ok(c)
    }

    /// Whether `who` may change or delete creative `id`; the creative as
    /// it is.
    pub fn check_update(&self, who: &Principal, id: CreativeId) -> Result<Creative, ServiceError> {
        self.get(who, id)
    }

    /// Replaces creative `id` at version `version` with `draft` (its id,
    /// campaign, version and times are ignored) and publishes.
    pub fn update(
        &self,
        who: &Principal,
        id: CreativeId,
        draft: Creative,
        version: Option<i64>,
    ) -> Result<Creative, ServiceError> {
        let current = self.check_update(who, id)?;
        let draft = Creative {
            id,
            campaign_id: current.campaign_id,
            version: expected(version)?,
            ..draft
        };
        validate::creative(&draft.name, &draft.body).into_result()?;
        let c = self.s.store.update_creative(&draft)?;
        self.s.publish_campaigns(&[c.campaign_id])?;
        Ok(c)
    }

    /// Deletes creative `id` at version `version` and publishes.
    pub fn delete(
        &self,
        who: &Principal,
        id: CreativeId,
        version: Option<i64>,
    ) -> Result<(), ServiceError> {
        let current = self.check_update(who, id)?;
        self.s.store.delete_creative(id, expected(version)?)?;
        self.s.publish_campaigns(&[current.campaign_id])?;
        Ok(())
    }
}
