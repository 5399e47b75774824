//! Advertisers: admins create and delete them; buyers read and rename
//! their granted ones; advertiser tokens read their own.
//!
//! Owns who may do what to an advertiser and the publish after each write;
//! never parses requests or encodes answers.

use super::page::{ListPage, Page, lookahead, page_of};
use super::{ServiceError, Services, expected, scope, validate};
use crate::control::auth::{Permission, Principal};
use crate::model::{Advertiser, AdvertiserId};

/// Advertisers, as one caller may see and change them.
#[derive(Debug, Clone, Copy)]
pub struct Advertisers<'s> {
    pub(super) s: &'s Services,
}

impl Advertisers<'_> {
    /// One page of the advertisers `who` acts for, by id.
    pub fn list(&self, who: &Principal, page: Page) -> Result<ListPage<Advertiser>, ServiceError> {
        let rows = self.s.store.list_advertisers(scope(who), lookahead(page))?;
        Ok(page_of(rows, page.limit, |a| a.id.0))
    }

    /// The advertiser `id` if it exists and `who` acts for it.
    pub fn get(&self, who: &Principal, id: AdvertiserId) -> Result<Advertiser, ServiceError> {
        let a = self.s.store.advertiser(id)?.ok_or(ServiceError::NotFound)?;
        who.require_grant(a.id)?;
        Ok(a)
    }

    /// Whether `who` may create advertisers (admins).
    pub fn check_create(&self, who: &Principal) -> Result<(), ServiceError> {
        Ok(who.require(Permission::Administer)?)
    }

    /// Creates an advertiser from `draft` (its id, version and times are
    /// ignored) and publishes.
    pub fn create(&self, who: &Principal, draft: Advertiser) -> Result<Advertiser, ServiceError> {
        self.check_create(who)?;
        let draft = Advertiser {
            id: AdvertiserId(0),
            version: 0,
            ..draft
        };
        validate::advertiser(&draft).into_result()?;
        let a = self.s.store.create_advertiser(&draft)?;
        self.s.publish()?;
        Ok(a)
    }

    /// Whether `who` may change advertiser `id` (admins, and buyers it is
    /// granted to); the advertiser as it is.
    pub fn check_update(
        &self,
        who: &Principal,
        id: AdvertiserId,
    ) -> Result<Advertiser, ServiceError> {
        who.require(Permission::ManageCampaigns)?;
        self.get(who, id)
    }

    /// Replaces advertiser `id` at version `version` with `draft` (its id,
    /// version and times are ignored) and publishes.
    pub fn update(
        &self,
        who: &Principal,
        id: AdvertiserId,
        draft: Advertiser,
        version: Option<i64>,
    ) -> Result<Advertiser, ServiceError> {
        self.check_update(who, id)?;
        let draft = Advertiser {
            id,
            version: expected(version)?,
            ..draft
        };
        validate::advertiser(&draft).into_result()?;
        let a = self.s.store.update_advertiser(&draft)?;
        self.s.publish()?;
        Ok(a)
    }

    /// Whether `who` may delete advertisers (admins).
    pub fn check_delete(&self, who: &Principal) -> Result<(), ServiceError> {
        Ok(who.require(Permission::Administer)?)
    }

    /// Deletes advertiser `id` at version `version` (refused while it has
    /// campaigns) and publishes.
    pub fn delete(
        &self,
        who: &Principal,
        id: AdvertiserId,
        version: Option<i64>,
    ) -> Result<(), ServiceError> {
        self.check_delete(who)?;
        self.s.store.delete_advertiser(id, expected(version)?)?;
        self.s.publish()?;
        Ok(())
    }
}
