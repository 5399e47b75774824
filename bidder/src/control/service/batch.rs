//! Many campaign and creative writes as one ([`Campaigns::batch`]): what
//! seeding a catalog or changing a CPM across thousands of campaigns asks
//! for, at the cost of one transaction and one publish instead of one per
//! row.
//!
//! All or nothing. Every item is checked first: who may write it (the
//! same rules as the single writes; the first item refused refuses the
//! batch), then every rule of every item, all broken ones listed at once
//! with the item's path (`items[3].campaign.targeting.countries[0]`).
//! Only then are all items written in one store transaction, which checks
//! the versions updates name; the bid path is told once, after it commits,
//! which campaigns changed (so the publish costs those campaigns, not the
//! catalog).
//! A refused batch writes nothing.

use std::collections::{HashMap, HashSet};

use audiences::table::FunnelId;

use super::{FieldError, ServiceError, Services, expected, validate};
use crate::control::auth::{Permission, Principal};
use crate::model::{AdvertiserId, Campaign, CampaignId, Creative, CreativeId};
use crate::store::{CatalogWrite, CatalogWritten};

use super::Campaigns;

/// The most items one batch may hold: bounds what one transaction holds
/// the store for (about a second at 1,000 campaigns with creatives).
pub const MAX_BATCH_ITEMS: usize = 1_000;

/// One item of a batch. Its fields are named in errors as
/// `items[i].campaign.<field>`, `items[i].creatives[j].<field>`,
/// `items[i].creative.<field>`, `items[i].id` and `items[i].version`.
#[derive(Debug, Clone)]
pub enum BatchItem {
    /// A new campaign (its id, version and times are ignored) with new
    /// creatives (their ids, campaign, versions and times are ignored).
    Create {
        /// The campaign.
        campaign: Campaign,
        /// Its creatives.
        creatives: Vec<Creative>,
    },
    /// Campaign `id` replaced at `version` by `campaign` (its id, version
    /// and times are ignored), and new `creatives` added to it.
    Update {
        /// The campaign replaced.
        id: CampaignId,
        /// The version it replaces.
        version: Option<i64>,
        /// The campaign as it is to be.
        campaign: Campaign,
        /// New creatives of it.
        creatives: Vec<Creative>,
    },
    /// Creative `id` replaced at `version` by `creative` (its id, campaign,
    /// version and times are ignored: it stays in its campaign).
    UpdateCreative {
        /// The creative replaced.
        id: CreativeId,
        /// The version it replaces.
        version: Option<i64>,
        /// The creative as it is to be.
        creative: Creative,
    },
}

/// What one item of a committed batch wrote, at its new version.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemResult {
    /// A campaign created, with its creatives.
    Created {
        /// The campaign.
        campaign: Campaign,
        /// Its creatives, in the order they were given.
        creatives: Vec<Creative>,
    },
    /// A campaign replaced, with the creatives added to it.
    Updated {
        /// The campaign.
        campaign: Campaign,
        /// The creatives added, in the order they were given.
        creatives: Vec<Creative>,
    },
    /// A creative replaced.
    CreativeUpdated(Creative),
}

impl Campaigns<'_> {
    /// Whether a batch of `items` items may be sent at all (from 1 to
    /// [`MAX_BATCH_ITEMS`]), before they are read.
    pub fn check_batch(&self, items: usize) -> Result<(), ServiceError> {
        if (1..=MAX_BATCH_ITEMS).contains(&items) {
            Ok(())
        } else {
            Err(ServiceError::invalid(
                "items",
                format!("from 1 to {MAX_BATCH_ITEMS} items (this batch has {items})"),
            ))
        }
    }

    /// Writes every item of `items` in one transaction and publishes once,
    /// or writes nothing: see the module's header. The results are in the
    /// items' order. A refusal because of one item is
    /// [`ServiceError::Item`]; bad fields are [`ServiceError::Invalid`]
    /// with the items' paths.
    pub fn batch(
        &self,
        who: &Principal,
        items: Vec<BatchItem>,
    ) -> Result<Vec<ItemResult>, ServiceError> {
        self.check_batch(items.len())?;
        let mut lookups = Lookups::new(self.s);
        let mut writes = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            let write = lookups
                .admit(who, item)
                .map_err(|error| ServiceError::Item {
                    index,
                    error: Box::new(error),
                })?;
            writes.push(write);
        }
        let mut errors = duplicates(&writes);
        for (index, write) in writes.iter().enumerate() {
            lookups.check(index, write, &mut errors)?;
        }
        super::error::all_valid(errors)?;

        let kinds: Vec<Kind> = writes.iter().map(Kind::of).collect();
        let written = self.s.store.write_catalog(writes).map_err(|e| {
            let error = ServiceError::from(e.error);
            match (e.index, error) {
                (Some(index), ServiceError::Invalid(fields)) => {
                    ServiceError::Invalid(at(&kinds[index].path(index), fields))
                }
                (Some(index), error) => ServiceError::Item {
                    index,
                    error: Box::new(error),
                },
                (None, error) => error,
            }
        })?;
        let mut changed: Vec<CampaignId> = written
            .iter()
            .map(|w| match w {
                CatalogWritten::Campaign { campaign, .. } => campaign.id,
                CatalogWritten::Creative(c) => c.campaign_id,
            })
            .collect();
        changed.sort_unstable();
        changed.dedup();
        self.s.publish_campaigns(&changed)?;
        Ok(written
            .into_iter()
            .zip(kinds)
            .map(|(w, kind)| match (w, kind) {
                (
                    CatalogWritten::Campaign {
                        campaign,
                        creatives,
                    },
                    Kind::Create,
                ) => ItemResult::Created {
                    campaign,
                    creatives,
                },
                (
                    CatalogWritten::Campaign {
                        campaign,
                        creatives,
                    },
                    _,
                ) => ItemResult::Updated {
                    campaign,
                    creatives,
                },
                (CatalogWritten::Creative(c), _) => ItemResult::CreativeUpdated(c),
            })
            .collect())
    }
}

/// Which kind of write an item became, for its results and paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Create,
    Update,
    UpdateCreative,
}

impl Kind {
    fn of(w: &CatalogWrite) -> Kind {
        match w {
            CatalogWrite::CreateCampaign { .. } => Kind::Create,
            CatalogWrite::UpdateCampaign { .. } => Kind::Update,
            CatalogWrite::UpdateCreative(_) => Kind::UpdateCreative,
        }
    }

    /// The path of item `index`'s draft.
    fn path(self, index: usize) -> String {
        match self {
            Kind::Create | Kind::Update => format!("items[{index}].campaign"),
            Kind::UpdateCreative => format!("items[{index}].creative"),
        }
    }
}

/// `fields` with their paths under `prefix`.
fn at(prefix: &str, fields: Vec<FieldError>) -> Vec<FieldError> {
    fields
        .into_iter()
        .map(|f| FieldError {
            field: format!("{prefix}.{}", f.field),
            message: f.message,
        })
        .collect()
}

/// An error for every item that writes a campaign or creative an earlier
/// item already writes: the second write would find the version the
/// first one made.
fn duplicates(writes: &[CatalogWrite]) -> Vec<FieldError> {
    let mut campaigns = HashSet::new();
    let mut creatives = HashSet::new();
    let mut errors = Vec::new();
    for (index, w) in writes.iter().enumerate() {
        let again = match w {
            CatalogWrite::CreateCampaign { .. } => false,
            CatalogWrite::UpdateCampaign { campaign, .. } => !campaigns.insert(campaign.id),
            CatalogWrite::UpdateCreative(c) => !creatives.insert(c.id),
        };
        if again {
            errors.push(FieldError::new(
                format!("items[{index}].id"),
                "an earlier item of this batch already writes it",
            ));
        }
    }
    errors
}

/// What checking a batch looks up, each thing once.
struct Lookups<'s> {
    s: &'s Services,
    advertiser_exists: HashMap<AdvertiserId, bool>,
    funnel_owner: HashMap<FunnelId, Option<AdvertiserId>>,
    campaign_owner: HashMap<CampaignId, Option<AdvertiserId>>,
}

impl<'s> Lookups<'s> {
    fn new(s: &'s Services) -> Lookups<'s> {
        Lookups {
            s,
            advertiser_exists: HashMap::new(),
            funnel_owner: HashMap::new(),
            campaign_owner: HashMap::new(),
        }
    }

    /// The advertiser of campaign `id`, if it exists.
    fn campaign_owner(&mut self, id: CampaignId) -> Result<Option<AdvertiserId>, ServiceError> {
        if let Some(owner) = self.campaign_owner.get(&id) {
            return Ok(*owner);
        }
        let owner = self.s.store.campaign(id)?.map(|c| c.advertiser_id);
        self.campaign_owner.insert(id, owner);
        Ok(owner)
    }

    /// Whether `who` may write `item`, as the single writes decide; the
    /// store write it becomes (with the version it replaces).
    fn admit(&mut self, who: &Principal, item: BatchItem) -> Result<CatalogWrite, ServiceError> {
        Ok(match item {
            BatchItem::Create {
                campaign,
                creatives,
            } => {
                who.require(Permission::ManageCampaigns)?;
                who.require_grant(campaign.advertiser_id)?;
                CatalogWrite::CreateCampaign {
                    campaign: Campaign {
                        id: CampaignId(0),
                        version: 0,
                        ..campaign
                    },
                    creatives,
                }
            }
            BatchItem::Update {
                id,
                version,
                campaign,
                creatives,
            } => {
                who.require(Permission::ManageCampaigns)?;
                let owner = self.campaign_owner(id)?.ok_or(ServiceError::NotFound)?;
                who.require_grant(owner)?;
                who.require_grant(campaign.advertiser_id)?;
                CatalogWrite::UpdateCampaign {
                    campaign: Campaign {
                        id,
                        version: expected(version)?,
                        ..campaign
                    },
                    creatives,
                }
            }
            BatchItem::UpdateCreative {
                id,
                version,
                creative,
            } => {
                let current = self.s.store.creative(id)?.ok_or(ServiceError::NotFound)?;
                let owner = self
                    .campaign_owner(current.campaign_id)?
                    .ok_or(ServiceError::NotFound)?;
                who.require_grant(owner)?;
                CatalogWrite::UpdateCreative(Creative {
                    id,
                    campaign_id: current.campaign_id,
                    version: expected(version)?,
                    ..creative
                })
            }
        })
    }

    /// Adds every broken rule of write `index` to `errors`, with its path.
    fn check(
        &mut self,
        index: usize,
        write: &CatalogWrite,
        errors: &mut Vec<FieldError>,
    ) -> Result<(), ServiceError> {
        let (campaign, creatives) = match write {
            CatalogWrite::CreateCampaign {
                campaign,
                creatives,
            }
            | CatalogWrite::UpdateCampaign {
                campaign,
                creatives,
            } => (campaign, creatives),
            CatalogWrite::UpdateCreative(c) => {
                let found = validate::creative(&c.name, &c.body).0;
                errors.extend(at(&format!("items[{index}].creative"), found));
                return Ok(());
            }
        };
        let exists = match self.advertiser_exists.get(&campaign.advertiser_id) {
            Some(e) => *e,
            None => {
                let e = self.s.store.advertiser(campaign.advertiser_id)?.is_some();
                self.advertiser_exists.insert(campaign.advertiser_id, e);
                e
            }
        };
        let funnel_owner = match &campaign.targeting.audience {
            Some(a) => match self.funnel_owner.get(&a.funnel_id) {
                Some(owner) => *owner,
                None => {
                    let owner = self.s.store.funnel(a.funnel_id)?.map(|f| f.advertiser_id);
                    self.funnel_owner.insert(a.funnel_id, owner);
                    owner
                }
            },
            None => None,
        };
        let found = validate::campaign(campaign, exists, funnel_owner).0;
        errors.extend(at(&format!("items[{index}].campaign"), found));
        for (j, c) in creatives.iter().enumerate() {
            let found = validate::creative(&c.name, &c.body).0;
            errors.extend(at(&format!("items[{index}].creatives[{j}]"), found));
        }
        Ok(())
    }
}
