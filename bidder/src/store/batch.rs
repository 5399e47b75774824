//! Many catalog writes in one transaction: campaigns created with their
//! creatives, campaigns replaced (with creatives added to them), creatives
//! replaced. Either every write commits or none does.
//!
//! Uses the same row helpers as the single writes, so a row written in a
//! batch is the row a single write would have stored; checks nothing the
//! single writes do not (versions, parents).

use super::{Store, StoreError, campaigns, creatives};
use crate::model::{Campaign, Creative};

/// One write of a batch.
#[derive(Debug, Clone)]
pub enum CatalogWrite {
    /// A new campaign (its id, version and times are ignored) and new
    /// creatives of it (their ids, campaign, versions and times ignored).
    CreateCampaign {
        /// The campaign.
        campaign: Campaign,
        /// Its creatives.
        creatives: Vec<Creative>,
    },
    /// Campaign `campaign.id` replaced, if `campaign.version` is still
    /// current, and new creatives added to it.
    UpdateCampaign {
        /// The campaign as it is to be.
        campaign: Campaign,
        /// New creatives of it.
        creatives: Vec<Creative>,
    },
    /// Creative `id` replaced (it stays in its campaign), if its `version`
    /// is still current.
    UpdateCreative(Creative),
}

/// What one write stored, at its new version.
// The variants differ in size by a campaign row; a batch holds at most a
// thousand of them for one call, so boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum CatalogWritten {
    /// A campaign created or replaced, and the creatives created with it.
    Campaign {
        /// The campaign.
        campaign: Campaign,
        /// The creatives created for it, in the order they were given.
        creatives: Vec<Creative>,
    },
    /// A creative replaced.
    Creative(Creative),
}

/// Why a batch wrote nothing.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct BatchError {
    /// The write that failed (its position in the batch); `None` when
    /// the transaction as a whole failed (at commit, say).
    pub index: Option<usize>,
    /// Why.
    pub error: StoreError,
}

impl Store {
    /// Runs `writes` in order in one immediate transaction and commits it:
    /// all of them are stored, or (on the first failure) none.
    pub fn write_catalog(
        &self,
        writes: Vec<CatalogWrite>,
    ) -> Result<Vec<CatalogWritten>, BatchError> {
        let mut failed_at = None;
        let out = self.write(|tx| {
            let mut out = Vec::with_capacity(writes.len());
            for (i, w) in writes.into_iter().enumerate() {
                failed_at = Some(i);
                out.push(match w {
                    CatalogWrite::CreateCampaign {
                        campaign,
                        creatives,
                    } => {
                        let campaign = campaigns::insert(tx, &campaign)?;
                        let creatives = add_creatives(tx, &campaign, creatives)?;
                        CatalogWritten::Campaign {
                            campaign,
                            creatives,
                        }
                    }
                    CatalogWrite::UpdateCampaign {
                        campaign,
                        creatives,
                    } => {
                        let campaign = campaigns::update(tx, &campaign)?;
                        let creatives = add_creatives(tx, &campaign, creatives)?;
                        CatalogWritten::Campaign {
                            campaign,
                            creatives,
                        }
                    }
                    CatalogWrite::UpdateCreative(c) => {
                        CatalogWritten::Creative(creatives::update(tx, &c)?)
                    }
                });
            }
            failed_at = None;
            Ok(out)
        });
        out.map_err(|error| BatchError {
            index: failed_at,
            error,
        })
    }
}

/// Inserts `drafts` as new creatives of `campaign`.
fn add_creatives(
    conn: &rusqlite::Connection,
    campaign: &Campaign,
    drafts: Vec<Creative>,
) -> Result<Vec<Creative>, StoreError> {
    drafts
        .into_iter()
        .map(|d| {
            creatives::insert(
                conn,
                &Creative {
                    campaign_id: campaign.id,
                    ..d
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use creative::{FixedCreative, HtmlCreative};
    use openrtb::Micros;

    use super::*;
    use crate::model::{
        Advertiser, AdvertiserId, CampaignId, CreativeId, CreativeStatus, UnixTime,
    };

    fn store_with_advertiser() -> (Store, AdvertiserId) {
        let store = Store::open_in_memory().unwrap();
        let a = store
            .create_advertiser(&Advertiser {
                id: AdvertiserId(0),
                name: "A".into(),
                domain: "a.example".into(),
                frequency: Default::default(),
                time_zone: "UTC".into(),
                version: 0,
                created_at: UnixTime(0),
                updated_at: UnixTime(0),
            })
            .unwrap();
        (store, a.id)
    }

    fn campaign(a: AdvertiserId, name: &str) -> Campaign {
        Campaign {
            name: name.into(),
            base_cpm_micros: Micros(1_000_000),
            max_cpm_micros: Micros(2_000_000),
            ..Campaign::blank(a)
        }
    }

    fn creative(name: &str) -> Creative {
        Creative {
            id: CreativeId(0),
            campaign_id: CampaignId(0),
            name: name.into(),
            status: CreativeStatus::Active,
            body: FixedCreative::Html(HtmlCreative {
                w: 300,
                h: 250,
                markup: "<div>x</div>".into(),
                landing_url: None,
            }),
            version: 0,
            created_at: UnixTime(0),
            updated_at: UnixTime(0),
        }
    }

    #[test]
    fn every_write_of_a_batch_commits_together() {
        let (store, a) = store_with_advertiser();
        let first = store.create_campaign(&campaign(a, "old")).unwrap();
        let written = store
            .write_catalog(vec![
                CatalogWrite::CreateCampaign {
                    campaign: campaign(a, "new"),
                    creatives: vec![creative("one"), creative("two")],
                },
                CatalogWrite::UpdateCampaign {
                    campaign: Campaign {
                        id: first.id,
                        version: first.version,
                        ..campaign(a, "renamed")
                    },
                    creatives: vec![creative("three")],
                },
            ])
            .unwrap();
        let CatalogWritten::Campaign {
            campaign: made,
            creatives,
        } = &written[0]
        else {
            panic!("{written:?}")
        };
        assert_eq!(creatives.len(), 2);
        assert!(creatives.iter().all(|c| c.campaign_id == made.id));
        let catalog = store.load_catalog().unwrap();
        assert_eq!(catalog.campaigns.len(), 2);
        assert_eq!(catalog.campaigns[0].name, "renamed");
        assert_eq!(catalog.campaigns[0].version, 2);
        assert_eq!(catalog.creatives.len(), 3);
    }

    #[test]
    fn a_failing_write_leaves_nothing_of_its_batch_and_names_itself() {
        let (store, a) = store_with_advertiser();
        let first = store.create_campaign(&campaign(a, "old")).unwrap();
        let e = store
            .write_catalog(vec![
                CatalogWrite::CreateCampaign {
                    campaign: campaign(a, "new"),
                    creatives: vec![creative("one")],
                },
                CatalogWrite::UpdateCampaign {
                    campaign: Campaign {
                        id: first.id,
                        version: first.version + 1,
                        ..campaign(a, "renamed")
                    },
                    creatives: vec![],
                },
            ])
            .unwrap_err();
        assert_eq!(e.index, Some(1));
        assert!(matches!(
            e.error,
            StoreError::Stale {
                expected: 2,
                current: 1
            }
        ));
        let catalog = store.load_catalog().unwrap();
        assert_eq!(catalog.campaigns, vec![first]);
        assert!(catalog.creatives.is_empty());
    }
}
