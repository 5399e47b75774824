//! API tokens: admins issue, list and revoke them. A secret is returned
//! once, by [`Tokens::create`]; lists never hold one.
//!
//! Tokens are not part of the catalog, so token writes publish nothing.
//! Never parses requests or encodes answers.

use super::error::all_valid;
use super::page::{ListPage, Page, lookahead, page_of};
use super::{FieldError, ServiceError, Services};
use crate::control::auth::{self, IssuedToken, Permission, Principal, Role};
use crate::model::AdvertiserId;
use crate::store::TokenInfo;

/// Longest label of a token.
const MAX_LABEL: usize = 200;

/// A token to issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// What it may do.
    pub role: Role,
    /// Advertisers it acts for: none for admins, exactly one for an
    /// advertiser, any number for a buyer.
    pub advertisers: Vec<AdvertiserId>,
    /// Whom it is for.
    pub label: String,
}

/// API tokens, for admins.
#[derive(Debug, Clone, Copy)]
pub struct Tokens<'s> {
    pub(super) s: &'s Services,
}

impl Tokens<'_> {
    /// Whether `who` may see and manage tokens (admins).
    pub fn check(&self, who: &Principal) -> Result<(), ServiceError> {
        Ok(who.require(Permission::Administer)?)
    }

    /// One page of tokens, by id, without secrets.
    pub fn list(&self, who: &Principal, page: Page) -> Result<ListPage<TokenInfo>, ServiceError> {
        self.check(who)?;
        let rows = self.s.store.list_tokens(lookahead(page))?;
        Ok(page_of(rows, page.limit, |t| t.id))
    }

    /// Issues `token`: its grants must fit its role and exist.
    pub fn create(&self, who: &Principal, token: &NewToken) -> Result<IssuedToken, ServiceError> {
        self.check(who)?;
        let mut errors = Vec::new();
        match (token.role, token.advertisers.len()) {
            (Role::Admin, 0) | (Role::Buyer, _) | (Role::Advertiser, 1) => {}
            (Role::Admin, _) => errors.push(FieldError::new(
                "advertisers",
                "must be empty for admin tokens, which act for every advertiser",
            )),
            (Role::Advertiser, _) => errors.push(FieldError::new(
                "advertisers",
                "must name exactly one advertiser for advertiser tokens",
            )),
        }
        for (i, a) in token.advertisers.iter().enumerate() {
            if self.s.store.advertiser(*a)?.is_none() {
                errors.push(FieldError::new(
                    format!("advertisers[{i}]"),
                    "no such advertiser",
                ));
            }
        }
        if token.label.chars().count() > MAX_LABEL {
            errors.push(FieldError::new(
                "label",
                format!("must be at most {MAX_LABEL} characters"),
            ));
        }
        all_valid(errors)?;
        Ok(auth::create_token(
            &self.s.store,
            token.role,
            &token.advertisers,
            &token.label,
        )?)
    }

    /// Revokes token `id`; it stops working at once.
    pub fn revoke(&self, who: &Principal, id: i64) -> Result<(), ServiceError> {
        self.check(who)?;
        self.s.store.revoke_token(id)?;
        Ok(())
    }
}
