//! Creative fragments and what surrounds them: every role writes the
//! message, content and tone fragments of its advertisers; reviewers
//! (admins, and buyers of the advertiser) approve or reject each version,
//! and every decision is logged with its actor. Also the exchanges'
//! creative audits, the learning counts tests and the event loop feed, and
//! the combination report read from them.
//!
//! A fragment of another advertiser is forbidden, one that does not exist
//! not found. Only what can change serving publishes: an approval, an
//! archive, an audit, new learning counts. Never parses requests or
//! encodes answers.

use audiences::Stage;
use creative::assembly::FragmentId;
use creative::fragment::{FragmentBody, FragmentKind};
use creative::learning::{Counts, Objective};
use serde::Serialize;

use super::error::all_valid;
use super::page::{ListPage, Page, lookahead, page_of};
use super::{FieldError, ServiceError, Services, expected, scope};
use crate::control::auth::{Permission, Principal};
use crate::model::{
    AdvertiserId, Audit, AuditStatus, CampaignId, ComboStats, CreativeId, Fragment, Review,
};
use crate::store::FragmentFilter;

/// The most fragments of one kind a set holds (archived ones aside): 20
/// messages, contents and tones make 8,000 combinations a campaign's plan
/// checks against every template and stage.
pub const MAX_PER_SET: u64 = 20;

/// Longest set name.
const MAX_SET: usize = 64;

/// What a fragment is fixed to for life: its owner, its set and its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentHead {
    /// Owner.
    pub advertiser_id: AdvertiserId,
    /// The set campaigns name to use it.
    pub set: String,
    /// Message, content or tone.
    pub kind: FragmentKind,
}

/// A fragment to upload, or a new version of one.
#[derive(Debug, Clone, PartialEq)]
pub struct FragmentDraft {
    /// Owner.
    pub advertiser_id: AdvertiserId,
    /// The set campaigns name to use it.
    pub set: String,
    /// The body; its kind is the fragment's.
    pub body: FragmentBody,
}

impl FragmentDraft {
    /// What the draft says the fragment is fixed to.
    pub fn head(&self) -> FragmentHead {
        FragmentHead {
            advertiser_id: self.advertiser_id,
            set: self.set.clone(),
            kind: self.body.kind(),
        }
    }
}

/// A reviewer's decision on a fragment's latest version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It may serve.
    Approve,
    /// It may not, for this reason (which must not be blank).
    Reject(String),
}

/// One row of the combination report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CombinationRow {
    /// The user's stage.
    pub stage: Stage,
    /// The combination's key (`m<id>-c<id>-t<id or 0>`).
    pub combination: String,
    /// Impressions.
    pub impressions: u64,
    /// Clicks.
    pub clicks: u64,
    /// Clicks per impression.
    pub ctr: f64,
    /// 95 % credible interval of the CTR (Beta posterior, uniform prior).
    pub ctr_low: f64,
    /// Its upper end.
    pub ctr_high: f64,
    /// Conversions.
    pub conversions: u64,
    /// Conversions per impression.
    pub cvr: f64,
    /// 95 % credible interval of the CVR.
    pub cvr_low: f64,
    /// Its upper end.
    pub cvr_high: f64,
}

/// One row of the per-fragment report: a fragment's counts over every
/// combination it was in, at one stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FragmentRow {
    /// The user's stage.
    pub stage: Stage,
    /// The fragment's kind.
    pub kind: FragmentKind,
    /// The fragment.
    pub fragment_id: FragmentId,
    /// Impressions.
    pub impressions: u64,
    /// Clicks.
    pub clicks: u64,
    /// Clicks per impression.
    pub ctr: f64,
    /// 95 % credible interval of the CTR.
    pub ctr_low: f64,
    /// Its upper end.
    pub ctr_high: f64,
    /// Conversions.
    pub conversions: u64,
    /// Conversions per impression.
    pub cvr: f64,
    /// 95 % credible interval of the CVR.
    pub cvr_low: f64,
    /// Its upper end.
    pub cvr_high: f64,
}

/// What a campaign's combinations and their fragments did, per stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CombinationReport {
    /// Per stage and combination.
    pub combinations: Vec<CombinationRow>,
    /// Per stage and single fragment.
    pub fragments: Vec<FragmentRow>,
}

/// The rate of `objective` per impression and its 95 % credible interval
/// (Beta posterior, uniform prior).
fn rates(counts: Counts, objective: Objective) -> (f64, f64, f64) {
    let (lo, hi) = creative::learning::rate_interval(counts, objective, 0.95);
    let rate = if counts.impressions == 0 {
        0.0
    } else {
        counts.successes(objective) as f64 / counts.impressions as f64
    };
    (rate, lo, hi)
}

/// Every broken rule of a body and its set.
fn validate(set: &str, body: &FragmentBody) -> Result<(), ServiceError> {
    let mut errors: Vec<FieldError> = creative::validate::fragment(body)
        .into_iter()
        .map(|p| FieldError::new(p.path, p.message))
        .collect();
    let set_ok = (1..=MAX_SET).contains(&set.len())
        && set
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_ ".contains(&b));
    if !set_ok {
        errors.push(FieldError::new(
            "set",
            "1 to 64 letters, digits, spaces, hyphens or underscores",
        ));
    }
    all_valid(errors)
}

/// Fragments, reviews, audits and learning counts, as one caller may see
/// and change them.
#[derive(Debug, Clone, Copy)]
pub struct Fragments<'s> {
    pub(super) s: &'s Services,
}

impl Fragments<'_> {
    /// One page of the fragments `who` may see that pass `filter`, by id.
    pub fn list(
        &self,
        who: &Principal,
        filter: &FragmentFilter,
        page: Page,
    ) -> Result<ListPage<Fragment>, ServiceError> {
        if let Some(a) = filter.advertiser {
            who.require_grant(a)?;
        }
        let rows = self
            .s
            .store
            .list_fragments(scope(who), filter, lookahead(page))?;
        Ok(page_of(rows, page.limit, |f| f.id.0))
    }

    /// Fragment `id` (its latest version) if it exists and `who` acts for
    /// its advertiser.
    pub fn get(&self, who: &Principal, id: FragmentId) -> Result<Fragment, ServiceError> {
        let f = self.s.store.fragment(id)?.ok_or(ServiceError::NotFound)?;
        who.require_grant(f.advertiser_id)?;
        Ok(f)
    }

    /// Whether `who` may upload fragments for `advertiser`.
    pub fn check_create(
        &self,
        who: &Principal,
        advertiser: AdvertiserId,
    ) -> Result<(), ServiceError> {
        Ok(who.require_grant(advertiser)?)
    }

    /// Stores a new fragment, version 1, pending review. Nothing serves
    /// yet, so nothing is published.
    pub fn create(&self, who: &Principal, draft: &FragmentDraft) -> Result<Fragment, ServiceError> {
        self.check_create(who, draft.advertiser_id)?;
        validate(&draft.set, &draft.body)?;
        // Every combination of a set's messages, contents and tones is
        // checked and rendered per template and stage when a snapshot is
        // built: the set's size bounds that work.
        let kind = draft.body.kind();
        let held = self
            .s
            .store
            .fragments_in_set(draft.advertiser_id, &draft.set, kind)?;
        if held >= MAX_PER_SET {
            return Err(ServiceError::Invalid(vec![FieldError::new(
                "set",
                format!(
                    "at most {MAX_PER_SET} {} fragments per set (archive one first)",
                    kind.as_str()
                ),
            )]));
        }
        Ok(self.s.store.create_fragment(
            draft.advertiser_id,
            &draft.set,
            &draft.body,
            who.actor(),
        )?)
    }

    /// Whether `who` may add a version to fragment `id` at version
    /// `version`, keeping `head` (owner, set and kind never change); the
    /// fragment as it is.
    pub fn check_edit(
        &self,
        who: &Principal,
        id: FragmentId,
        head: &FragmentHead,
        version: Option<i64>,
    ) -> Result<Fragment, ServiceError> {
        let current = self.get(who, id)?;
        expected(version)?;
        let mut errors = Vec::new();
        if head.advertiser_id != current.advertiser_id {
            errors.push(FieldError::new("advertiser_id", "cannot change"));
        }
        if head.set != current.set {
            errors.push(FieldError::new("set", "cannot change"));
        }
        if head.kind != current.kind {
            errors.push(FieldError::new("kind", "cannot change"));
        }
        all_valid(errors)?;
        Ok(current)
    }

    /// Adds version `version + 1` of fragment `id`, pending review; the
    /// approved version keeps serving, so nothing is published.
    pub fn edit(
        &self,
        who: &Principal,
        id: FragmentId,
        draft: &FragmentDraft,
        version: Option<i64>,
    ) -> Result<Fragment, ServiceError> {
        self.check_edit(who, id, &draft.head(), version)?;
        validate(&draft.set, &draft.body)?;
        Ok(self
            .s
            .store
            .edit_fragment(id, expected(version)?, &draft.body, who.actor())?)
    }

    /// Whether `who` may archive fragment `id`; the fragment as it is.
    pub fn check_archive(&self, who: &Principal, id: FragmentId) -> Result<Fragment, ServiceError> {
        self.get(who, id)
    }

    /// Archives fragment `id` at version `version`: no version serves any
    /// more. Publishes.
    pub fn archive(
        &self,
        who: &Principal,
        id: FragmentId,
        version: Option<i64>,
    ) -> Result<Fragment, ServiceError> {
        self.check_archive(who, id)?;
        let f = self
            .s
            .store
            .archive_fragment(id, expected(version)?, who.actor())?;
        self.s.publish()?;
        Ok(f)
    }

    /// Whether `who` may review fragment `id` (admins, and buyers of its
    /// advertiser); the fragment as it is.
    pub fn check_review(&self, who: &Principal, id: FragmentId) -> Result<Fragment, ServiceError> {
        let f = self.get(who, id)?;
        who.require(Permission::ManageCampaigns)?;
        Ok(f)
    }

    /// Decides on fragment `id`'s latest version, `version`; an approval
    /// serves from now on and is published.
    pub fn review(
        &self,
        who: &Principal,
        id: FragmentId,
        verdict: &Verdict,
        version: Option<i64>,
    ) -> Result<Fragment, ServiceError> {
        let f = self.check_review(who, id)?;
        let version = expected(version)?;
        match verdict {
            Verdict::Approve => {
                let f = self.s.store.approve_fragment(f.id, version, who.actor())?;
                self.s.publish()?;
                Ok(f)
            }
            Verdict::Reject(reason) if reason.trim().is_empty() => Err(ServiceError::invalid(
                "reason",
                "say why the version is rejected",
            )),
            Verdict::Reject(reason) => {
                Ok(self
                    .s
                    .store
                    .reject_fragment(f.id, version, reason, who.actor())?)
            }
        }
    }

    /// Fragment `id`'s review log, oldest first.
    pub fn history(&self, who: &Principal, id: FragmentId) -> Result<Vec<Review>, ServiceError> {
        let f = self.get(who, id)?;
        Ok(self.s.store.fragment_history(f.id)?)
    }

    /// Whether `who`'s role may read and record exchanges' audits (admins
    /// and buyers).
    pub fn check_audits(&self, who: &Principal) -> Result<(), ServiceError> {
        Ok(who.require(Permission::ManageCampaigns)?)
    }

    /// Whether `who` may record an audit of `crid`: any for admins, else
    /// only of creatives of its advertisers (unknown ones are not found).
    pub fn check_audit(&self, who: &Principal, crid: &str) -> Result<(), ServiceError> {
        self.check_audits(who)?;
        if !who.is_admin() {
            let owner = self.crid_owner(crid)?.ok_or(ServiceError::NotFound)?;
            who.require_grant(owner)?;
        }
        Ok(())
    }

    /// Records what `exchange`'s audit of `crid` said, and publishes (a
    /// rejected crid never bids there again).
    pub fn put_audit(
        &self,
        who: &Principal,
        exchange: &str,
        crid: &str,
        status: AuditStatus,
        reason: Option<&str>,
    ) -> Result<Audit, ServiceError> {
        self.check_audit(who, crid)?;
        let audit = self.s.store.put_audit(exchange, crid, status, reason)?;
        self.s.publish()?;
        Ok(audit)
    }

    /// The audits `who` may see, optionally of one exchange.
    pub fn audits(
        &self,
        who: &Principal,
        exchange: Option<&str>,
    ) -> Result<Vec<Audit>, ServiceError> {
        self.check_audits(who)?;
        let rows = self.s.store.list_audits(exchange)?;
        if who.is_admin() {
            return Ok(rows);
        }
        let mut visible = Vec::new();
        for a in rows {
            if self.crid_owner(&a.crid)?.is_some_and(|o| who.is_granted(o)) {
                visible.push(a);
            }
        }
        Ok(visible)
    }

    /// The advertiser a crid belongs to: a fixed creative's id, or the
    /// message of an assembled one (`a<format>-m<id>v..`).
    fn crid_owner(&self, crid: &str) -> Result<Option<AdvertiserId>, ServiceError> {
        let store = &self.s.store;
        if let Ok(id) = crid.parse::<i64>() {
            let Some(c) = store.creative(CreativeId(id))? else {
                return Ok(None);
            };
            return Ok(store.campaign(c.campaign_id)?.map(|c| c.advertiser_id));
        }
        let message = crid
            .split('-')
            .find_map(|p| p.strip_prefix('m'))
            .and_then(|p| p.split('v').next())
            .and_then(|n| n.parse::<i64>().ok());
        match message {
            Some(id) => Ok(store.fragment(FragmentId(id))?.map(|f| f.advertiser_id)),
            None => Ok(None),
        }
    }

    /// Whether `who` may add learning counts to `campaign` by hand
    /// (admins).
    pub fn check_reactions(
        &self,
        who: &Principal,
        campaign: CampaignId,
    ) -> Result<(), ServiceError> {
        who.require(Permission::Administer)?;
        self.s.campaigns().get(who, campaign)?;
        Ok(())
    }

    /// Adds impressions, clicks and conversions to a combination's counts
    /// (the event loop feeds the same counts), then publishes so the
    /// learner's choice follows.
    pub fn add_reactions(&self, who: &Principal, counts: &ComboStats) -> Result<(), ServiceError> {
        self.check_reactions(who, counts.campaign_id)?;
        if counts.clicks > counts.impressions {
            return Err(ServiceError::invalid("clicks", "cannot exceed impressions"));
        }
        self.s.store.add_reactions(counts)?;
        self.s.publish()?;
        Ok(())
    }

    /// Per stage and combination, and per stage and single fragment, of
    /// `campaign`: impressions, clicks, CTR and conversion rate with their
    /// 95 % credible intervals, conversions.
    pub fn combinations(
        &self,
        who: &Principal,
        campaign: CampaignId,
    ) -> Result<CombinationReport, ServiceError> {
        self.s.campaigns().get(who, campaign)?;
        let stats = self.s.store.combination_stats(campaign)?;
        let combinations = stats
            .iter()
            .map(|s| {
                let counts = Counts {
                    impressions: s.impressions,
                    clicks: s.clicks,
                    conversions: s.conversions,
                };
                let (ctr, ctr_low, ctr_high) = rates(counts, Objective::Clicks);
                let (cvr, cvr_low, cvr_high) = rates(counts, Objective::Conversions);
                CombinationRow {
                    stage: s.stage,
                    combination: s.combination.to_string(),
                    impressions: s.impressions,
                    clicks: s.clicks,
                    ctr,
                    ctr_low,
                    ctr_high,
                    conversions: s.conversions,
                    cvr,
                    cvr_low,
                    cvr_high,
                }
            })
            .collect();
        let mut per_fragment: std::collections::BTreeMap<
            (Stage, FragmentKind, FragmentId),
            Counts,
        > = Default::default();
        for s in &stats {
            let k = s.combination;
            let parts = [
                Some((FragmentKind::Message, k.message)),
                Some((FragmentKind::Content, k.content)),
                k.tone.map(|t| (FragmentKind::Tone, t)),
            ];
            for (kind, id) in parts.into_iter().flatten() {
                let e = per_fragment.entry((s.stage, kind, id)).or_default();
                e.impressions += s.impressions;
                e.clicks += s.clicks;
                e.conversions += s.conversions;
            }
        }
        let fragments = per_fragment
            .into_iter()
            .map(|((stage, kind, fragment_id), counts)| {
                let (ctr, ctr_low, ctr_high) = rates(counts, Objective::Clicks);
                let (cvr, cvr_low, cvr_high) = rates(counts, Objective::Conversions);
                FragmentRow {
                    stage,
                    kind,
                    fragment_id,
                    impressions: counts.impressions,
                    clicks: counts.clicks,
                    ctr,
                    ctr_low,
                    ctr_high,
                    conversions: counts.conversions,
                    cvr,
                    cvr_low,
                    cvr_high,
                }
            })
            .collect();
        Ok(CombinationReport {
            combinations,
            fragments,
        })
    }
}
