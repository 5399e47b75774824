//! `/api/v1/fragments`: advertisers upload message, content and tone
//! fragments; reviewers (admins, and buyers of the advertiser) approve or
//! reject each version; every decision is logged. Also the exchanges'
//! creative audits (`/api/v1/audits`) and the learning counts tests and
//! the event loop feed (`/api/v1/campaigns/{id}/reactions`).
//!
//! Every role sees and edits only the fragments of its advertisers; a
//! fragment of another advertiser is 403, one that does not exist 404. The
//! service decides; this module reads queries and bodies (decoding a body
//! by its kind) and writes the answers.

use audiences::Stage;
use creative::assembly::{ComboKey, FragmentId};
use creative::fragment::{FragmentBody, FragmentKind};
use http::{HeaderMap, Response, StatusCode};
use serde::Deserialize;

use super::Admin;
use super::patch;
use super::request::{
    created, delete_body, json, named_version, no_content, parse_json, parse_query,
};
use crate::control::auth::Principal;
use crate::control::service::{FragmentDraft, FragmentHead, Verdict};
use crate::error::{ApiError, Body, FieldError};
use crate::model::{AdvertiserId, AuditStatus, CampaignId, ComboStats, FragmentStatus};
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

impl FragmentInput {
    /// What the input says the fragment is fixed to.
    fn head(&self) -> FragmentHead {
        FragmentHead {
            advertiser_id: self.advertiser_id,
            set: self.set.clone(),
            kind: self.kind,
        }
    }

    /// The draft, its body decoded by its kind.
    fn into_draft(self) -> Result<FragmentDraft, ApiError> {
        Ok(FragmentDraft {
            body: body_of(self.kind, self.body)?,
            advertiser_id: self.advertiser_id,
            set: self.set,
        })
    }
}

/// Decodes the kind-specific body as its kind's own type, listing every
/// shape error in it with its path (`body.…`). The console's fragment
/// form decodes with it too, so both name the same paths.
pub(crate) fn body_of(
    kind: FragmentKind,
    body: serde_json::Value,
) -> Result<FragmentBody, ApiError> {
    use super::shape::decode;
    let decoded = match kind {
        FragmentKind::Message => decode(body).map(FragmentBody::Message),
        FragmentKind::Content => decode(body).map(FragmentBody::Content),
        FragmentKind::Tone => decode(body).map(FragmentBody::Tone),
    };
    decoded.map_err(|errors| {
        ApiError::Unprocessable(
            errors
                .into_iter()
                .map(|e| {
                    let field = match e.field.as_str() {
                        "." => "body".to_owned(),
                        f if f.starts_with('[') => format!("body{f}"),
                        f => format!("body.{f}"),
                    };
                    FieldError::new(field, e.message)
                })
                .collect(),
        )
    })
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
    pub(super) fn list_fragments(
        &self,
        who: &Principal,
        query: Option<&str>,
    ) -> Result<Response<Body>, ApiError> {
        let (mut filter, rest) = fragment_filter(query)?;
        let q = parse_query(Some(&rest), true)?;
        filter.advertiser = q.advertiser_id.map(AdvertiserId);
        let page = self.services.fragments().list(who, &filter, q.page)?;
        json(StatusCode::OK, &page, None)
    }

    pub(super) fn get_fragment(
        &self,
        who: &Principal,
        id: i64,
    ) -> Result<Response<Body>, ApiError> {
        let f = self.services.fragments().get(who, FragmentId(id))?;
        json(StatusCode::OK, &f, Some(f.version))
    }

    pub(super) fn create_fragment(
        &self,
        who: &Principal,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let fragments = self.services.fragments();
        let input: FragmentInput = parse_json(body)?;
        fragments.check_create(who, input.advertiser_id)?;
        let f = fragments.create(who, &input.into_draft()?)?;
        created(&f, format!("/api/v1/fragments/{}", f.id.0), Some(f.version))
    }

    pub(super) fn edit_fragment(
        &self,
        who: &Principal,
        id: i64,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let (fragments, id) = (self.services.fragments(), FragmentId(id));
        fragments.get(who, id)?;
        let input: FragmentInput = parse_json(body)?;
        let version = named_version(headers, input.version)?;
        // Owner, set and kind are checked before the body is decoded by
        // its kind, so a changed kind is named as such.
        fragments.check_edit(who, id, &input.head(), version)?;
        let f = fragments.edit(who, id, &input.into_draft()?, version)?;
        json(StatusCode::OK, &f, Some(f.version))
    }

    /// `PATCH`: a merge patch onto the fragment's latest version, then
    /// as `PUT` (a new version, to be reviewed).
    pub(super) fn patch_fragment(
        &self,
        who: &Principal,
        id: i64,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let current = self.services.fragments().get(who, FragmentId(id))?;
        let version = patch::version(headers)?;
        let merged = patch::merged(&current, current.version, version, patch::FRAGMENT, body)?;
        self.edit_fragment(who, id, headers, &merged)
    }

    pub(super) fn archive_fragment(
        &self,
        who: &Principal,
        id: i64,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let (fragments, id) = (self.services.fragments(), FragmentId(id));
        fragments.check_archive(who, id)?;
        let input = delete_body(body)?;
        let version = named_version(headers, input.version)?;
        let f = fragments.archive(who, id, version)?;
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
        let (fragments, id) = (self.services.fragments(), FragmentId(id));
        fragments.check_review(who, id)?;
        let input: ReviewInput = if body.iter().all(u8::is_ascii_whitespace) {
            ReviewInput {
                version: None,
                reason: None,
            }
        } else {
            parse_json(body)?
        };
        let version = named_version(headers, input.version)?;
        let verdict = if approve {
            Verdict::Approve
        } else {
            Verdict::Reject(input.reason.unwrap_or_default())
        };
        let f = fragments.review(who, id, &verdict, version)?;
        json(StatusCode::OK, &f, Some(f.version))
    }

    pub(super) fn fragment_history(
        &self,
        who: &Principal,
        id: i64,
    ) -> Result<Response<Body>, ApiError> {
        let log = self.services.fragments().history(who, FragmentId(id))?;
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
        let fragments = self.services.fragments();
        fragments.check_audits(who)?;
        let exchange = crate::percent_decoding::decode(exchange).ok_or(ApiError::NotFound)?;
        let crid = crate::percent_decoding::decode(crid).ok_or(ApiError::NotFound)?;
        fragments.check_audit(who, &crid)?;
        let input: AuditInput = parse_json(body)?;
        let audit =
            fragments.put_audit(who, &exchange, &crid, input.status, input.reason.as_deref())?;
        json(StatusCode::OK, &audit, None)
    }

    pub(super) fn list_audits(
        &self,
        who: &Principal,
        query: Option<&str>,
    ) -> Result<Response<Body>, ApiError> {
        let fragments = self.services.fragments();
        fragments.check_audits(who)?;
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
        let rows = fragments.audits(who, exchange.as_deref())?;
        json(StatusCode::OK, &serde_json::json!({ "items": rows }), None)
    }

    /// `POST /campaigns/{id}/reactions`: adds impressions, clicks and
    /// conversions of a combination (admins).
    pub(super) fn add_reactions(
        &self,
        who: &Principal,
        campaign: i64,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let (fragments, campaign) = (self.services.fragments(), CampaignId(campaign));
        fragments.check_reactions(who, campaign)?;
        let input: ReactionsInput = parse_json(body)?;
        let combination = ComboKey::parse(&input.combination).ok_or_else(|| {
            ApiError::Unprocessable(vec![FieldError::new(
                "combination",
                "expected m<message id>-c<content id>-t<tone id or 0>",
            )])
        })?;
        fragments.add_reactions(
            who,
            &ComboStats {
                campaign_id: campaign,
                stage: input.stage,
                combination,
                impressions: input.impressions,
                clicks: input.clicks,
                conversions: input.conversions,
            },
        )?;
        Ok(no_content())
    }

    /// `GET /campaigns/{id}/combinations`: per stage and combination, and
    /// per stage and single fragment: impressions, clicks, CTR with its
    /// 95 % credible interval, conversions.
    pub(super) fn combination_report(
        &self,
        who: &Principal,
        campaign: i64,
    ) -> Result<Response<Body>, ApiError> {
        let report = self
            .services
            .fragments()
            .combinations(who, CampaignId(campaign))?;
        json(StatusCode::OK, &report, None)
    }
}
