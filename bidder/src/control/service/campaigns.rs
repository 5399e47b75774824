//! Campaigns: admins and buyers (for granted advertisers) manage them;
//! advertiser tokens read their own.
//!
//! Owns who may do what to a campaign, the lookups its validation needs
//! (its advertiser, its audience funnel's owner) and the publish after each
//! write; never parses requests or encodes answers.

use super::page::{ListPage, Page, lookahead, page_of};
use super::{ServiceError, Services, expected, scope, validate};
use crate::control::auth::{Permission, Principal};
use crate::model::{AdvertiserId, Campaign, CampaignId, CampaignStatus};
use crate::state::budget::BudgetState;
use crate::store::{CampaignRows, ReportCounts};

/// Which campaigns a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignFilter {
    /// Only this advertiser's (which the caller must act for).
    pub advertiser: Option<AdvertiserId>,
    /// Archived campaigns too; hidden otherwise (unless `status` asks
    /// for them).
    pub include_archived: bool,
    /// Only campaigns in this status.
    pub status: Option<CampaignStatus>,
    /// Only campaigns whose name contains this, ignoring ASCII case.
    pub name: Option<String>,
}

/// One row of a campaigns overview: the campaign, its budget and pacing
/// state now, and its counts since its campaign day began.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignLine {
    /// The campaign.
    pub campaign: Campaign,
    /// Its budget and pacing state now.
    pub budget: BudgetState,
    /// Bids, wins, impressions, clicks and spend of its current day.
    pub today: ReportCounts,
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
            &CampaignRows {
                advertiser: filter.advertiser,
                include_archived: filter.include_archived,
                status: filter.status,
                name: filter.name.as_deref().filter(|n| !n.is_empty()),
            },
            lookahead(page),
        )?;
        Ok(page_of(rows, page.limit, |c| c.id.0))
    }

    /// [`Campaigns::list`] with each campaign's budget state and counts of
    /// its current day: what a media buyer's overview shows.
    pub fn overview(
        &self,
        who: &Principal,
        filter: &CampaignFilter,
        page: Page,
    ) -> Result<ListPage<CampaignLine>, ServiceError> {
        let campaigns = self.list(who, filter.clone(), page)?;
        let now = self.s.clock.now();
        let budgets: Vec<BudgetState> = campaigns
            .items
            .iter()
            .map(|c| self.s.budgets.account(c, now).state(now))
            .collect();
        let spans: Vec<_> = campaigns
            .items
            .iter()
            .zip(&budgets)
            .map(|(c, b)| (c.id, b.day_start, b.day_end))
            .collect();
        let counts = self.s.store.campaign_counts(&spans)?;
        let items = campaigns
            .items
            .into_iter()
            .zip(budgets)
            .zip(counts)
            .map(|((campaign, budget), today)| CampaignLine {
                campaign,
                budget,
                today,
            })
            .collect();
        Ok(ListPage {
            items,
            next_after: campaigns.next_after,
        })
    }

    /// Campaign `id` as a line of [`Campaigns::overview`]: with its budget
    /// state now and the counts of its current day.
    pub fn line(&self, who: &Principal, id: CampaignId) -> Result<CampaignLine, ServiceError> {
        let campaign = self.get(who, id)?;
        let now = self.s.clock.now();
        let budget = self.s.budgets.account(&campaign, now).state(now);
        let today = self
            .s
            .store
            .campaign_counts(&[(id, budget.day_start, budget.day_end)])?
            .pop()
            .unwrap_or_default();
        Ok(CampaignLine {
            campaign,
            budget,
            today,
        })
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

    /// Pauses or resumes campaign `id` (`status` is `Paused` or
    /// `Active`) and publishes; at `version` when the caller names one,
    /// else at the current version. Nothing is written when it already
    /// has that status. An archived campaign is neither paused nor
    /// resumed.
    pub fn set_status(
        &self,
        who: &Principal,
        id: CampaignId,
        status: CampaignStatus,
        version: Option<i64>,
    ) -> Result<Campaign, ServiceError> {
        let current = self.check_update(who, id)?;
        if let Some(expected) = version
            && expected != current.version
        {
            return Err(ServiceError::Stale {
                expected,
                current: current.version,
            });
        }
        if current.status == CampaignStatus::Archived || status == CampaignStatus::Archived {
            return Err(ServiceError::Conflict(
                "an archived campaign is neither paused nor resumed".into(),
            ));
        }
        if current.status == status {
            return Ok(current);
        }
        let version = Some(current.version);
        self.update(who, id, Campaign { status, ..current }, version)
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

    /// The checks [`Campaigns::create`] (with `id` `None`) or
    /// [`Campaigns::update`] (of campaign `id`) would run on `draft`, without
    /// writing or publishing: for a form that shows every bad field at once,
    /// including those next to fields it could not read.
    pub fn check_draft(
        &self,
        who: &Principal,
        id: Option<CampaignId>,
        draft: &Campaign,
    ) -> Result<(), ServiceError> {
        match id {
            None => self.check_create(who)?,
            Some(id) => {
                self.check_update(who, id)?;
            }
        }
        who.require_grant(draft.advertiser_id)?;
        self.validate(draft)
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
