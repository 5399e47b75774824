//! Reports: the per-minute aggregates over a span, filtered and grouped,
//! scoped by role: a token sees only its advertisers'.
//!
//! Returns rows; never picks a format (JSON, CSV) or encodes.

use super::{FieldError, ServiceError, Services, scope};
use crate::control::auth::Principal;
use crate::model::{AdvertiserId, CampaignId, UnixTime};
use crate::store::{Dimension, ReportQuery, ReportRow};

/// The longest span one report covers.
const MAX_SPAN_SECS: i64 = 400 * 86_400;
/// The span of a report that names no start.
const DEFAULT_SPAN_SECS: i64 = 7 * 86_400;
/// How far past now a report that names no end reaches, so the current
/// minute is in.
const DEFAULT_END_AHEAD_SECS: i64 = 60;

/// What a report covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRequest {
    /// Only this advertiser's (which the caller must act for).
    pub advertiser: Option<AdvertiserId>,
    /// Only this campaign (which the caller must see).
    pub campaign: Option<CampaignId>,
    /// From (inclusive).
    pub from: UnixTime,
    /// To (exclusive).
    pub to: UnixTime,
    /// Grouped by these, in this order.
    pub group_by: Vec<Dimension>,
}

/// A report: its span and grouping, and one row per group and currency.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// From (inclusive).
    pub from: UnixTime,
    /// To (exclusive).
    pub to: UnixTime,
    /// The grouping.
    pub group_by: Vec<Dimension>,
    /// The rows.
    pub rows: Vec<ReportRow>,
}

/// Reports, as one caller may see them.
#[derive(Debug, Clone, Copy)]
pub struct Reports<'s> {
    pub(super) s: &'s Services,
}

impl Reports<'_> {
    /// The span of a report asked for with these ends: the end defaults to
    /// a minute from now, the start to a week before the end. A span that
    /// is empty or longer than 400 days is refused, naming its field.
    pub fn span(
        &self,
        from: Option<UnixTime>,
        to: Option<UnixTime>,
    ) -> Result<(UnixTime, UnixTime), FieldError> {
        let to = to.unwrap_or(UnixTime(self.s.clock.now().0 + DEFAULT_END_AHEAD_SECS));
        let from = from.unwrap_or(UnixTime(to.0 - DEFAULT_SPAN_SECS));
        if from.0 >= to.0 {
            Err(FieldError::new("from", "must be before to"))
        } else if to.0 - from.0 > MAX_SPAN_SECS {
            Err(FieldError::new("to", "a report spans at most 400 days"))
        } else {
            Ok((from, to))
        }
    }

    /// The report `r` asks for, over what `who` may see.
    pub fn report(&self, who: &Principal, r: &ReportRequest) -> Result<Report, ServiceError> {
        let (from, to) = self
            .span(Some(r.from), Some(r.to))
            .map_err(|e| ServiceError::Invalid(vec![e]))?;
        if let Some(a) = r.advertiser {
            who.require_grant(a)?;
        }
        if let Some(c) = r.campaign {
            self.s.campaigns().get(who, c)?;
        }
        let rows = self.s.store.report(&ReportQuery {
            scope: scope(who),
            advertiser: r.advertiser,
            campaign: r.campaign,
            from,
            to,
            group_by: r.group_by.clone(),
        })?;
        Ok(Report {
            from,
            to,
            group_by: r.group_by.clone(),
            rows,
        })
    }
}
