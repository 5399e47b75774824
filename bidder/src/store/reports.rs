//! Per-minute report aggregates: what each campaign's bids, wins, spend,
//! impressions, clicks and conversions were, per stage, creative
//! combination, exchange, country and device type, and the no-bids by
//! reason; and the queries reports are read with.
//!
//! Events add to these rows in the transaction that records them; bids
//! and no-bids are counted in memory on the bid path and added here in
//! batches. Never deletes.

use std::collections::BTreeMap;

use audiences::Stage;
use creative::assembly::ComboKey;
use rusqlite::{Transaction, params, params_from_iter};

use super::{Scope, Store, StoreError};
use crate::model::{AdvertiserId, CampaignId, UnixTime};

/// The dimensions of one aggregate row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReportKey {
    /// Unix minute.
    pub minute: i64,
    /// The campaign.
    pub campaign: CampaignId,
    /// The user's stage, when known.
    pub stage: Option<Stage>,
    /// The assembled creative's combination, when assembled.
    pub combo: Option<ComboKey>,
    /// The exchange's name.
    pub exchange: String,
    /// ISO-3166-1 alpha-3, or empty.
    pub country: String,
    /// OpenRTB device type, or 0.
    pub device_type: u8,
}

/// The counts of one aggregate row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportCounts {
    /// Bids sent.
    pub bids: i64,
    /// Wins.
    pub wins: i64,
    /// Booked spend, micros of the campaign's currency.
    pub spend_micros: i64,
    /// Impressions.
    pub impressions: i64,
    /// Clicks.
    pub clicks: i64,
    /// Conversions.
    pub conversions: i64,
    /// Their value, micros of the campaign's currency.
    pub conversion_value_micros: i64,
}

impl ReportCounts {
    fn add(&mut self, o: &ReportCounts) {
        self.bids += o.bids;
        self.wins += o.wins;
        self.spend_micros += o.spend_micros;
        self.impressions += o.impressions;
        self.clicks += o.clicks;
        self.conversions += o.conversions;
        self.conversion_value_micros += o.conversion_value_micros;
    }
}

/// The dimensions of a no-bid row.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NoBidKey {
    /// Unix minute.
    pub minute: i64,
    /// The exchange's name.
    pub exchange: String,
    /// ISO-3166-1 alpha-3, or empty.
    pub country: String,
    /// OpenRTB device type, or 0.
    pub device_type: u8,
    /// Why (`NoBidReason::as_str`).
    pub reason: &'static str,
}

/// Adds `c` to the row of `k`.
pub(super) fn add_in(
    tx: &Transaction<'_>,
    k: &ReportKey,
    c: &ReportCounts,
) -> Result<(), StoreError> {
    let mut add = tx.prepare_cached(
        "INSERT INTO report_minutes (minute, campaign_id, stage, combination, exchange, country,
           device_type, bids, wins, spend_micros, impressions, clicks, conversions,
           conversion_value_micros)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (campaign_id, minute, stage, combination, exchange, country, device_type)
         DO UPDATE SET bids = bids + excluded.bids, wins = wins + excluded.wins,
           spend_micros = spend_micros + excluded.spend_micros,
           impressions = impressions + excluded.impressions,
           clicks = clicks + excluded.clicks, conversions = conversions + excluded.conversions,
           conversion_value_micros = conversion_value_micros + excluded.conversion_value_micros",
    )?;
    add.execute(params![
        k.minute,
        k.campaign.0,
        k.stage.map_or("", |s| s.as_str()),
        k.combo.map(|c| c.to_string()).unwrap_or_default(),
        k.exchange,
        k.country,
        k.device_type,
        c.bids,
        c.wins,
        c.spend_micros,
        c.impressions,
        c.clicks,
        c.conversions,
        c.conversion_value_micros,
    ])?;
    Ok(())
}

/// A dimension reports can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dimension {
    /// Unix minute.
    Minute,
    /// Clock hour (UTC).
    Hour,
    /// Day (UTC).
    Day,
    /// Campaign.
    Campaign,
    /// Funnel stage.
    Stage,
    /// Creative combination.
    Combination,
    /// Fragment: a combination's rows count once for each of its
    /// fragments, so fragment rows do not add up to the total.
    Fragment,
    /// Exchange.
    Exchange,
    /// Country.
    Country,
    /// Device type.
    DeviceType,
}

impl Dimension {
    /// The name in `group_by` and in report columns.
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Minute => "minute",
            Dimension::Hour => "hour",
            Dimension::Day => "day",
            Dimension::Campaign => "campaign",
            Dimension::Stage => "stage",
            Dimension::Combination => "combination",
            Dimension::Fragment => "fragment",
            Dimension::Exchange => "exchange",
            Dimension::Country => "country",
            Dimension::DeviceType => "device_type",
        }
    }

    /// The dimension called `s`.
    pub fn parse(s: &str) -> Option<Dimension> {
        [
            Dimension::Minute,
            Dimension::Hour,
            Dimension::Day,
            Dimension::Campaign,
            Dimension::Stage,
            Dimension::Combination,
            Dimension::Fragment,
            Dimension::Exchange,
            Dimension::Country,
            Dimension::DeviceType,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }

    /// Its SQL expression over `report_minutes r`.
    fn sql(self) -> &'static str {
        match self {
            Dimension::Minute => "r.minute * 60",
            Dimension::Hour => "(r.minute / 60) * 3600",
            Dimension::Day => "(r.minute / 1440) * 86400",
            Dimension::Campaign => "r.campaign_id",
            Dimension::Stage => "r.stage",
            Dimension::Combination | Dimension::Fragment => "r.combination",
            Dimension::Exchange => "r.exchange",
            Dimension::Country => "r.country",
            Dimension::DeviceType => "r.device_type",
        }
    }
}

/// What a report covers.
#[derive(Debug, Clone)]
pub struct ReportQuery<'a> {
    /// Whose campaigns.
    pub scope: Scope<'a>,
    /// Only this advertiser's.
    pub advertiser: Option<AdvertiserId>,
    /// Only this campaign.
    pub campaign: Option<CampaignId>,
    /// From (inclusive).
    pub from: UnixTime,
    /// To (exclusive).
    pub to: UnixTime,
    /// Grouped by these, in this order.
    pub group_by: Vec<Dimension>,
}

/// A dimension's value in one report row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum DimValue {
    /// Times, ids, device types, fragment ids.
    Int(i64),
    /// Stages, combinations, exchanges, countries.
    Text(String),
}

/// One row of a report: its dimension values (in `group_by` order), the
/// currency of its money, and its counts.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRow {
    /// Values of the `group_by` dimensions.
    pub dims: Vec<DimValue>,
    /// Currency of spend and conversion value.
    pub currency: String,
    /// The counts.
    pub counts: ReportCounts,
}

impl Store {
    /// Adds the bid path's counts: bids per aggregate row and no-bids.
    pub fn add_bid_counts(
        &self,
        bids: &[(ReportKey, i64)],
        no_bids: &[(NoBidKey, i64)],
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            for (k, n) in bids {
                let c = ReportCounts {
                    bids: *n,
                    ..ReportCounts::default()
                };
                add_in(tx, k, &c)?;
            }
            let mut nb = tx.prepare_cached(
                "INSERT INTO nobid_minutes (minute, exchange, country, device_type, reason, count)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (minute, exchange, country, device_type, reason)
                 DO UPDATE SET count = count + excluded.count",
            )?;
            for (k, n) in no_bids {
                nb.execute(params![
                    k.minute,
                    k.exchange,
                    k.country,
                    k.device_type,
                    k.reason,
                    n
                ])?;
            }
            Ok(())
        })
    }

    /// Each campaign's counts over its own span `[from, to)`, in the order
    /// asked: one range read of the primary key per campaign, so a page
    /// of a list costs its rows, whatever the catalog's size.
    pub fn campaign_counts(
        &self,
        spans: &[(CampaignId, UnixTime, UnixTime)],
    ) -> Result<Vec<ReportCounts>, StoreError> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT COALESCE(SUM(bids), 0), COALESCE(SUM(wins), 0),
                   COALESCE(SUM(spend_micros), 0), COALESCE(SUM(impressions), 0),
                   COALESCE(SUM(clicks), 0), COALESCE(SUM(conversions), 0),
                   COALESCE(SUM(conversion_value_micros), 0)
                 FROM report_minutes
                 WHERE campaign_id = ?1 AND minute >= ?2 AND minute < ?3",
            )?;
            let mut out = Vec::with_capacity(spans.len());
            for (id, from, to) in spans {
                out.push(stmt.query_row(
                    params![id.0, from.0.div_euclid(60), to.0.div_euclid(60)],
                    |r| {
                        Ok(ReportCounts {
                            bids: r.get(0)?,
                            wins: r.get(1)?,
                            spend_micros: r.get(2)?,
                            impressions: r.get(3)?,
                            clicks: r.get(4)?,
                            conversions: r.get(5)?,
                            conversion_value_micros: r.get(6)?,
                        })
                    },
                )?);
            }
            Ok(out)
        })
    }

    /// The report `q` asks for, rows in dimension order.
    pub fn report(&self, q: &ReportQuery<'_>) -> Result<Vec<ReportRow>, StoreError> {
        let (all, ids) = q.scope.params();
        let dims: Vec<&str> = q.group_by.iter().map(|d| d.sql()).collect();
        let select_dims: String = dims.iter().map(|d| format!("{d}, ")).collect();
        let group: String = dims.iter().map(|d| format!(", {d}")).collect();
        let sql = format!(
            "SELECT {select_dims} c.currency, SUM(r.bids), SUM(r.wins), SUM(r.spend_micros),
               SUM(r.impressions), SUM(r.clicks), SUM(r.conversions),
               SUM(r.conversion_value_micros)
             FROM report_minutes r JOIN campaigns c ON c.id = r.campaign_id
             WHERE r.minute >= ?1 AND r.minute < ?2
               AND (?3 = 1 OR c.advertiser_id IN (SELECT value FROM json_each(?4)))
               AND (?5 IS NULL OR c.advertiser_id = ?5)
               AND (?6 IS NULL OR r.campaign_id = ?6)
             GROUP BY c.currency{group}"
        );
        let n = dims.len();
        let rows: Vec<ReportRow> = self.read(|tx| {
            let mut stmt = tx.prepare(&sql)?;
            let params: Vec<rusqlite::types::Value> = vec![
                q.from.0.div_euclid(60).into(),
                q.to.0.div_euclid(60).into(),
                all.into(),
                ids.clone().into(),
                q.advertiser.map(|a| a.0).into(),
                q.campaign.map(|c| c.0).into(),
            ];
            let rows = stmt.query_map(params_from_iter(params), |r| {
                let mut dims = Vec::with_capacity(n);
                for i in 0..n {
                    dims.push(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Integer(v) => DimValue::Int(v),
                        other => DimValue::Text(other.as_str().unwrap_or_default().to_owned()),
                    });
                }
                Ok(ReportRow {
                    dims,
                    currency: r.get(n)?,
                    counts: ReportCounts {
                        bids: r.get(n + 1)?,
                        wins: r.get(n + 2)?,
                        spend_micros: r.get(n + 3)?,
                        impressions: r.get(n + 4)?,
                        clicks: r.get(n + 5)?,
                        conversions: r.get(n + 6)?,
                        conversion_value_micros: r.get(n + 7)?,
                    },
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        Ok(by_fragment(rows, &q.group_by))
    }
}

/// Rows grouped by combination where `fragment` was asked, re-grouped by
/// each of the combination's fragments; every result sorted.
fn by_fragment(rows: Vec<ReportRow>, group_by: &[Dimension]) -> Vec<ReportRow> {
    let at = group_by.iter().position(|d| *d == Dimension::Fragment);
    let mut merged: BTreeMap<(Vec<DimValue>, String), ReportCounts> = BTreeMap::new();
    for row in rows {
        let fragments: Vec<DimValue> = match at {
            None => vec![],
            Some(i) => match &row.dims[i] {
                DimValue::Text(t) => ComboKey::parse(t)
                    .map(|k| {
                        [Some(k.message), Some(k.content), k.tone]
                            .into_iter()
                            .flatten()
                            .map(|f| DimValue::Int(f.0))
                            .collect()
                    })
                    // Fixed creatives have no fragments.
                    .unwrap_or_default(),
                DimValue::Int(_) => vec![],
            },
        };
        match at {
            None => merged
                .entry((row.dims, row.currency))
                .or_default()
                .add(&row.counts),
            Some(i) => {
                for f in fragments {
                    let mut dims = row.dims.clone();
                    dims[i] = f;
                    merged
                        .entry((dims, row.currency.clone()))
                        .or_default()
                        .add(&row.counts);
                }
            }
        }
    }
    merged
        .into_iter()
        .map(|((dims, currency), counts)| ReportRow {
            dims,
            currency,
            counts,
        })
        .collect()
}
