//! Campaigns: admins and buyers (for granted advertisers) manage them;
//! advertiser tokens read their own.
//!
//! Owns who may do what to a campaign, the lookups its validation needs
//! (its advertiser, its audience funnel's owner) and the publish after each
//! write; never parses requests or encodes answers.

use super::page::{ListPage, Page, lookahead, page_of};
use super::{ServiceError, Services, expected, scope, validate};
use crate::control::auth::{Permission, Principal};
use crate::model::{AdvertiserId, Campaign, CampaignId};

/// Which campaigns a list shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CampaignFilter {
    /// Only this advertiser's (which the caller must act for).
    pub advertiser: Option<AdvertiserId>,
    /// Archived campaigns too; hidden otherwise.
    pub include_archived: bool,
}

/// Campaigns, as one caller may see and change them.
#[derive(Debug, Clone, Copy)]
pub struct Campaigns<'s> {
    pub(super) s: &'s Services,
}

impl Campaigns<'_> {
    /// One page of the campaigns `who` may see, by id.
    pub fn list(
        &self,
        who: &Principal,
        filter: CampaignFilter,
        page: Page,
    ) -> Result<ListPage<Campaign>, ServiceError> {
        if let Some(a) = filter.advertiser {
            who.require_grant(a)?;
        }
        let rows = self.s.store.list_campaigns(
            scope(who),
            filter.advertiser,
            filter.include_archived,
            lookahead(page),
        )?;
        Ok(page_of(rows, page.limit, |c| c.id.0))
    }

    /// The campaign `id` if it exists and `who` acts for its advertiser.
    pub fn get(&self, who: &Principal, id: CampaignId) -> Result<Campaign, ServiceError> {
        let c = self.s.store.campaign(id)?.ok_or(ServiceError::NotFound)?;
        who.require_grant(c.advertiser_id)?;
        Ok(c)
    }

    /// Whether `who`'s role may create campaigns (admins and buyers); the
    /// advertiser's grant is checked by [`Campaigns::create`].
    pub fn check_create(&self, who: &Principal) -> Result<(), ServiceError> {
        Ok(who.require(Permission::ManageCampaigns)?)
    }

    /// Creates a campaign from `draft` (its id, version and times are
    /// ignored) for an advertiser `who` acts for, and publishes.
    pub fn create(&self, who: &Principal, draft: Campaign) -> Result<Campaign, ServiceError> {
        self.check_create(who)?;
        who.require_grant(draft.advertiser_id)?;
        let draft = Campaign {
            id: CampaignId(0),
            version: 0,
            ..draft
        };
        self.validate(&draft)?;
        let c = self.s.store.create_campaign(&draft)?;
        self.s.publish_campaigns(&[c.id])?;
        Ok(c)
    }

    /// Whether `who` may change or delete campaign `id`; the campaign as
    /// it is.
    pub fn check_update(&self, who: &Principal, id: CampaignId) -> Result<Campaign, ServiceError> {
        who.require(Permission::ManageCampaigns)?;
        self.get(who, id)
    }

    /// Replaces campaign `id` at version `version` with `draft` (its id,
    /// version and times are ignored) and publishes. Moving it to another
    /// advertiser needs that advertiser's grant too.
    pub fn update(
        &self,
        who: &Principal,
        id: CampaignId,
        draft: Campaign,
        version: Option<i64>,
    ) -> Result<Campaign, ServiceError> {
        self.check_update(who, id)?;
        who.require_grant(draft.advertiser_id)?;
        let draft = Campaign {
            id,
            version: expected(version)?,
            ..draft
        };
        self.validate(&draft)?;
        let c = self.s.store.update_campaign(&draft)?;
        self.s.publish_campaigns(&[c.id])?;
        Ok(c)
    }

    /// Deletes campaign `id` at version `version` (refused while it has
    /// creatives) and publishes.
    pub fn delete(
        &self,
        who: &Principal,
        id: CampaignId,
        version: Option<i64>,
    ) -> Result<(), ServiceError> {
        self.check_update(who, id)?;
        self.s.store.delete_campaign(id, expected(version)?)?;
        self.s.publish_campaigns(&[id])?;
        Ok(())
    }

    /// Every broken rule of `draft`, looking up its advertiser and the
    /// owner of its audience funnel.
    fn validate(&self, draft: &Campaign) -> Result<(), ServiceError> {
        let exists = self.s.store.advertiser(draft.advertiser_id)?.is_some();
        let funnel_owner = match &draft.targeting.audience {
            Some(a) => self.s.store.funnel(a.funnel_id)?.map(|f| f.advertiser_id),
            None => None,
        };
        validate::campaign(draft, exists, funnel_owner).into_result()
    }
}
