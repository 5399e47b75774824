//! `/api/v1/fragments`: advertisers upload message, content and tone
//! fragments; reviewers (admins, and buyers of the advertiser) approve or
//! reject each version; every decision is logged. Also the exchanges'
//! creative audits (`/api/v1/audits`) and the learning counts tests and
//! the event loop feed (`/api/v1/campaigns/{id}/reactions`).
//!
//! Every role sees and edits only the fragments of its advertisers; a
//! fragment of another advertiser is 403, one that does not exist 404.

use audiences::Stage;
use creative::assembly::{ComboKey, FragmentId};
use creative::fragment::{FragmentBody, FragmentKind};
use creative::learning::{Counts, Objective};
use http::{HeaderMap, Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::advertisers::{delete_body, scope};
use super::request::{expected_version, json, lookahead, page_of, parse_json, parse_query};
use super::{Admin, manages_campaigns, require};
use crate::control::auth::Principal;
use crate::error::{ApiError, Body, FieldError};
use crate::model::{AdvertiserId, AuditStatus, CampaignId, ComboStats, Fragment, FragmentStatus};
use crate::store::FragmentFilter;

/// A fragment as written: owner and set (fixed at creation), kind and body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FragmentInput {
    advertiser_id: AdvertiserId,
    set: String,
    kind: FragmentKind,
    body: serde_json::Value,
    #[serde(default)]
    version: Option<i64>,
}

/// Decodes the kind-specific body, naming the field path of any error.
fn body_of(kind: FragmentKind, body: serde_json::Value) -> Result<FragmentBody, ApiError> {
    let tagged = serde_json::json!({ "kind": kind, "body": body });
    serde_path_to_error::deserialize(tagged).map_err(|e| {
        ApiError::Unprocessable(vec![FieldError::new(
            e.path().to_string(),
            super::request::strip_position(e.inner()),
        )])
    })
}

/// 422 unless the body and set pass every rule.
fn check(set: &str, body: &FragmentBody) -> Result<(), ApiError> {
    let mut errors: Vec<FieldError> = creative::validate::fragment(body)
        .into_iter()
        .map(|p| FieldError::new(p.path, p.message))
        .collect();
    let set_ok = (1..=64).contains(&set.len())
        && set
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_ ".contains(&b));
    if !set_ok {
        errors.push(FieldError::new(
            "set",
            "1 to 64 letters, digits, spaces, hyphens or underscores",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Unprocessable(errors))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewInput {
    #[serde(default)]
    version: Option<i64>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditInput {
    status: AuditStatus,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReactionsInput {
    stage: Stage,
    combination: String,
    #[serde(default)]
    impressions: u64,
    #[serde(default)]
    clicks: u64,
    #[serde(default)]
    conversions: u64,
}

/// One row of the combination report.
#[derive(Debug, Serialize)]
struct ComboRow {
    stage: Stage,
    combination: String,
    impressions: u64,
    clicks: u64,
    ctr: f64,
    /// 95 % credible interval of the CTR (Beta posterior, uniform prior).
    ctr_low: f64,
    ctr_high: f64,
    conversions: u64,
    /// Conversions per impression, and its 95 % credible interval.
    cvr: f64,
    cvr_low: f64,
    cvr_high: f64,
}

/// One row of the per-fragment report.
#[derive(Debug, Serialize)]
struct FragmentRow {
    stage: Stage,
    kind: FragmentKind,
    fragment_id: FragmentId,
    impressions: u64,
    clicks: u64,
    ctr: f64,
    ctr_low: f64,
    ctr_high: f64,
    conversions: u64,
    /// Conversions per impression, and its 95 % credible interval.
    cvr: f64,
    cvr_low: f64,
    cvr_high: f64,
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

/// Splits `kind`, `status` and `set` off a query; the rest goes to the
/// shared parser.
fn fragment_filter(query: Option<&str>) -> Result<(FragmentFilter, String), ApiError> {
    let mut filter = FragmentFilter::default();
    let mut rest = Vec::new();
    let mut errors = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "kind" => match FragmentKind::parse(value) {
                Some(k) => filter.kind = Some(k),
                None => errors.push(FieldError::new("kind", "message, content or tone")),
            },
            "status" => match FragmentStatus::parse(value) {
                Some(s) => filter.status = Some(s),
                None => errors.push(FieldError::new(
                    "status",
                    "pending, approved, rejected or archived",
                )),
            },
            "set" => match crate::percent_decoding::decode(value) {
                Some(s) => filter.set = Some(s),
                None => errors.push(FieldError::new("set", "invalid percent-encoding")),
            },
            _ => rest.push(pair),
        }
    }
    if errors.is_empty() {
        Ok((filter, rest.join("&")))
    } else {
        Err(ApiError::Unprocessable(errors))
    }
}

impl Admin {
    /// The fragment `id` if it exists (404) and `who` acts for its
    /// advertiser (403).
    fn visible_fragment(&self, who: &Principal, id: i64) -> Result<Fragment, ApiError> {
        let f = self
            .store
            .fragment(FragmentId(id))?
            .ok_or(ApiError::NotFound)?;
        require(who.is_granted(f.advertiser_id))?;
        Ok(f)
    }

    pub(super) fn list_fragments(
        &self,
        who: &Principal,
        query: Option<&str>,
    ) -> Result<Response<Body>, ApiError> {
        let (mut filter, rest) = fragment_filter(query)?;
        let q = parse_query(Some(&rest), true)?;
        filter.advertiser = q.advertiser_id.map(AdvertiserId);
        if let Some(a) = filter.advertiser {
            require(who.is_granted(a))?;
        }
        let rows = self
            .store
            .list_fragments(scope(who), &filter, lookahead(q.page))?;
        json(
            StatusCode::OK,
            &page_of(rows, q.page.limit, |f| f.id.0),
            None,
        )
    }

    pub(super) fn get_fragment(
        &self,
        who: &Principal,
        id: i64,
    ) -> Result<Response<Body>, ApiError> {
        let f = self.visible_fragment(who, id)?;
        json(StatusCode::OK, &f, Some(f.version))
    }

    pub(super) fn create_fragment(
        &self,
        who: &Principal,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let input: FragmentInput = parse_json(body)?;
        require(who.is_granted(input.advertiser_id))?;
        let fragment = body_of(input.kind, input.body)?;
        check(&input.set, &fragment)?;
        let f =
            self.store
                .create_fragment(input.advertiser_id, &input.set, &fragment, who.actor())?;
        // Pending: nothing serves yet, so the bid path is not republished.
        super::request::created(&f, format!("/api/v1/fragments/{}", f.id.0), Some(f.version))
    }

    pub(super) fn edit_fragment(
        &self,
        who: &Principal,
        id: i64,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let current = self.visible_fragment(who, id)?;
        let input: FragmentInput = parse_json(body)?;
        let version = expected_version(headers, input.version)?;
        let mut errors = Vec::new();
        if input.advertiser_id != current.advertiser_id {
            errors.push(FieldError::new("advertiser_id", "cannot change"));
        }
        if input.set != current.set {
            errors.push(FieldError::new("set", "cannot change"));
        }
        if input.kind != current.kind {
            errors.push(FieldError::new("kind", "cannot change"));
        }
        if !errors.is_empty() {
            return Err(ApiError::Unprocessable(errors));
        }
        let fragment = body_of(input.kind, input.body)?;
        check(&input.set, &fragment)?;
        let f = self
            .store
            .edit_fragment(FragmentId(id), version, &fragment, who.actor())?;
        json(StatusCode::OK, &f, Some(f.version))
    }

    pub(super) fn archive_fragment(
        &self,
        who: &Principal,
        id: i64,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        self.visible_fragment(who, id)?;
        let input = delete_body(body)?;
        let version = expected_version(headers, input.version)?;
        let f = self
            .store
            .archive_fragment(FragmentId(id), version, who.actor())?;
        self.publish()?;
        json(StatusCode::OK, &f, Some(f.version))
    }

    /// `POST /fragments/{id}/approve` and `/reject`: reviewers only.
    pub(super) fn review_fragment(
        &self,
        who: &Principal,
        id: i64,
        approve: bool,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let f = self.visible_fragment(who, id)?;
        require(manages_campaigns(who))?;
        let input: ReviewInput = if body.iter().all(u8::is_ascii_whitespace) {
            ReviewInput {
                version: None,
                reason: None,
            }
        } else {
            parse_json(body)?
        };
        let version = expected_version(headers, input.version)?;
        let f = if approve {
            self.store.approve_fragment(f.id, version, who.actor())?
        } else {
            let reason = input
                .reason
                .filter(|r| !r.trim().is_empty())
                .ok_or_else(|| {
                    ApiError::Unprocessable(vec![FieldError::new(
                        "reason",
                        "say why the version is rejected",
                    )])
                })?;
            self.store
                .reject_fragment(f.id, version, &reason, who.actor())?
        };
        if approve {
            self.publish()?;
        }
        json(StatusCode::OK, &f, Some(f.version))
    }

    pub(super) fn fragment_history(
        &self,
        who: &Principal,
        id: i64,
    ) -> Result<Response<Body>, ApiError> {
        let f = self.visible_fragment(who, id)?;
        let log = self.store.fragment_history(f.id)?;
        json(StatusCode::OK, &serde_json::json!({ "items": log }), None)
    }

    /// `PUT /audits/{exchange}/{crid}`: admins and buyers record what an
    /// exchange's creative audit said; a buyer only for creatives of its
    /// advertisers.
    pub(super) fn put_audit(
        &self,
        who: &Principal,
        exchange: &str,
        crid: &str,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        require(manages_campaigns(who))?;
        let exchange = crate::percent_decoding::decode(exchange).ok_or(ApiError::NotFound)?;
        let crid = crate::percent_decoding::decode(crid).ok_or(ApiError::NotFound)?;
        if !who.is_admin() {
            let owner = self.crid_owner(&crid)?.ok_or(ApiError::NotFound)?;
            require(who.is_granted(owner))?;
        }
        let input: AuditInput = parse_json(body)?;
        let audit =
            self.store
                .put_audit(&exchange, &crid, input.status, input.reason.as_deref())?;
        self.publish()?;
        json(StatusCode::OK, &audit, None)
    }

    /// The advertiser a crid belongs to: a fixed creative's id, or the
    /// message of an assembled one (`a<format>-m<id>v..`).
    fn crid_owner(&self, crid: &str) -> Result<Option<AdvertiserId>, ApiError> {
        if let Ok(id) = crid.parse::<i64>() {
            let Some(c) = self.store.creative(crate::model::CreativeId(id))? else {
                return Ok(None);
            };
            return Ok(self.store.campaign(c.campaign_id)?.map(|c| c.advertiser_id));
        }
        let message = crid
            .split('-')
            .find_map(|p| p.strip_prefix('m'))
            .and_then(|p| p.split('v').next())
            .and_then(|n| n.parse::<i64>().ok());
        match message {
            Some(id) => Ok(self
                .store
                .fragment(FragmentId(id))?
                .map(|f| f.advertiser_id)),
            None => Ok(None),
        }
    }

    pub(super) fn list_audits(
        &self,
        who: &Principal,
        query: Option<&str>,
    ) -> Result<Response<Body>, ApiError> {
        require(manages_campaigns(who))?;
        let mut exchange = None;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("exchange", v)) => exchange = crate::percent_decoding::decode(v),
                _ => {
                    return Err(ApiError::Unprocessable(vec![FieldError::new(
                        pair.split('=').next().unwrap_or(pair),
                        "unknown query parameter",
                    )]));
                }
            }
        }
        let mut rows = self.store.list_audits(exchange.as_deref())?;
        if !who.is_admin() {
            let mut visible = Vec::new();
            for a in rows.drain(..) {
                if self.crid_owner(&a.crid)?.is_some_and(|o| who.is_granted(o)) {
                    visible.push(a);
                }
            }
            rows = visible;
        }
        json(StatusCode::OK, &serde_json::json!({ "items": rows }), None)
    }

    /// `POST /campaigns/{id}/reactions`: adds impressions, clicks and
    /// conversions of a combination (admins; the event loop feeds the same
    /// counts), then republishes so the learner's choice follows.
    pub(super) fn add_reactions(
        &self,
        who: &Principal,
        campaign: i64,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        require(who.is_admin())?;
        self.visible_campaign(who, campaign)?;
        let input: ReactionsInput = parse_json(body)?;
        let combination = ComboKey::parse(&input.combination).ok_or_else(|| {
            ApiError::Unprocessable(vec![FieldError::new(
                "combination",
                "expected m<message id>-c<content id>-t<tone id or 0>",
            )])
        })?;
        if input.clicks > input.impressions {
            return Err(ApiError::Unprocessable(vec![FieldError::new(
                "clicks",
                "cannot exceed impressions",
            )]));
        }
        let stats = ComboStats {
            campaign_id: CampaignId(campaign),
            stage: input.stage,
            combination,
            impressions: input.impressions,
            clicks: input.clicks,
            conversions: input.conversions,
        };
        self.store.add_reactions(&stats)?;
        self.publish()?;
        Ok(super::request::no_content())
    }

    /// `GET /campaigns/{id}/combinations`: per stage and combination, and
    /// per stage and single fragment: impressions, clicks, CTR with its
    /// 95 % credible interval, conversions.
    pub(super) fn combination_report(
        &self,
        who: &Principal,
        campaign: i64,
    ) -> Result<Response<Body>, ApiError> {
        self.visible_campaign(who, campaign)?;
        let stats = self.store.combination_stats(CampaignId(campaign))?;
        let combinations: Vec<ComboRow> = stats
            .iter()
            .map(|s| {
                let counts = Counts {
                    impressions: s.impressions,
                    clicks: s.clicks,
                    conversions: s.conversions,
                };
                let (ctr, ctr_low, ctr_high) = rates(counts, Objective::Clicks);
                let (cvr, cvr_low, cvr_high) = rates(counts, Objective::Conversions);
                ComboRow {
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
        let fragments: Vec<FragmentRow> = per_fragment
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
        json(
            StatusCode::OK,
            &serde_json::json!({ "combinations": combinations, "fragments": fragments }),
            None,
        )
    }
}
