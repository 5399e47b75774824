//! A campaign's creatives and what each exchange's audit said of them:
//! its fixed creatives and every creative its plan assembles, each with
//! the audit every exchange recorded (or none: it bids there).
//!
//! Owns which crids belong to a campaign and which exchanges are shown;
//! the role checks are the audits' own ([`Fragments::check_audits`]), so
//! the console shows what `GET /api/v1/audits` would. Never records an
//! audit (that is [`Fragments::put_audit`]) and never writes markup.

use std::collections::{HashMap, HashSet};

use audiences::Stage;
use creative::template::Format;

use super::{Fragments, ServiceError};
use crate::bid::snapshot::preview_plan;
use crate::control::auth::Principal;
use crate::model::{Audit, Campaign, CampaignId};
use crate::store::Page;

/// The most fixed creatives of one campaign listed.
const MAX_FIXED: u32 = 1_000;

/// One creative of a campaign and each exchange's audit of it.
#[derive(Debug, Clone, PartialEq)]
pub struct CreativeAudits {
    /// Its creative id, as bids carry it.
    pub crid: String,
    /// What it is: a fixed creative's name, or an assembled one's format.
    pub label: String,
    /// Per exchange of [`CampaignAudits::exchanges`], in that order: what
    /// its audit said, `None` where none is recorded (it bids there).
    pub audits: Vec<Option<Audit>>,
}

/// A campaign's creatives and the exchanges' audits of them.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignAudits {
    /// The campaign.
    pub campaign: Campaign,
    /// The exchanges: those the bidder is configured with, then any other
    /// an audit of these creatives names.
    pub exchanges: Vec<String>,
    /// Fixed creatives by id, then assembled ones by format.
    pub creatives: Vec<CreativeAudits>,
    /// Whether fixed creatives beyond the first 1,000 were left out.
    pub truncated: bool,
}

impl Fragments<'_> {
    /// Campaign `id`'s creatives and every exchange's audit of them, to
    /// whoever may read audits (admins, and buyers for their advertisers'
    /// campaigns).
    pub fn campaign_audits(
        &self,
        who: &Principal,
        id: CampaignId,
    ) -> Result<CampaignAudits, ServiceError> {
        self.check_audits(who)?;
        let campaign = self.s.campaigns().get(who, id)?;
        let fixed = self.s.creatives().list(
            who,
            id,
            Page {
                after: 0,
                limit: MAX_FIXED,
            },
        )?;
        let mut creatives: Vec<CreativeAudits> = fixed
            .items
            .iter()
            .map(|c| CreativeAudits {
                crid: c.id.0.to_string(),
                label: c.name.clone(),
                audits: Vec::new(),
            })
            .collect();
        let catalog = self.s.store.catalog_of_campaign(&campaign)?;
        if let Some(plan) = preview_plan(&catalog, &campaign, &self.s.settings) {
            let mut seen = HashSet::new();
            for format in Format::ALL {
                for lang in 0..plan.languages().len() {
                    for stage in Stage::ALL {
                        for (item, _) in plan.group(lang, stage, format) {
                            if seen.insert(item.crid.clone()) {
                                let label =
                                    format!("{} · {}", format.name(), plan.languages()[lang]);
                                creatives.push(CreativeAudits {
                                    crid: item.crid.to_string(),
                                    label,
                                    audits: Vec::new(),
                                });
                            }
                        }
                    }
                }
            }
        }
        let crids: HashSet<&str> = creatives.iter().map(|c| c.crid.as_str()).collect();
        let mut recorded: HashMap<(String, String), Audit> = HashMap::new();
        let mut exchanges: Vec<String> = self
            .s
            .explainer
            .as_ref()
            .map(|e| e.exchanges.iter().map(|x| x.name.clone()).collect())
            .unwrap_or_default();
        let configured = exchanges.len();
        for a in self.s.store.list_audits(None)? {
            if !crids.contains(a.crid.as_str()) {
                continue;
            }
            if !exchanges.contains(&a.exchange) {
                exchanges.push(a.exchange.clone());
            }
            recorded.insert((a.exchange.clone(), a.crid.clone()), a);
        }
        exchanges[configured..].sort();
        for c in &mut creatives {
            c.audits = exchanges
                .iter()
                .map(|x| recorded.remove(&(x.clone(), c.crid.clone())))
                .collect();
        }
        Ok(CampaignAudits {
            campaign,
            exchanges,
            creatives,
            truncated: fixed.next_after.is_some(),
        })
    }
}
