//! `GET /api/v1/reports`: the per-minute aggregates, filtered, grouped and
//! with the rates buyers read (win rate, eCPM, CTR, CPC, CPA, ROAS), as JSON
//! or CSV; and `GET /api/v1/campaigns/{id}/budget`, a campaign's budget and
//! pacing state. The service scopes both by role; this module reads the
//! query and writes the formats.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use serde_json::{Map, Value, json as j};

use super::Admin;
use super::request::json;
use crate::control::auth::Principal;
use crate::control::service::ReportRequest;
use crate::error::{ApiError, Body, FieldError};
use crate::model::{AdvertiserId, CampaignId, UnixTime};
use crate::store::{DimValue, Dimension, ReportCounts, ReportRow};

/// How a report is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

/// A time parameter: Unix seconds, a UTC date (`2026-11-23`) or an RFC 3339
/// timestamp.
fn parse_time(s: &str) -> Option<UnixTime> {
    if let Ok(n) = s.parse::<i64>() {
        return Some(UnixTime(n));
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>() {
        let z = d.to_zoned(jiff::tz::TimeZone::UTC).ok()?;
        return Some(UnixTime(z.timestamp().as_second()));
    }
    s.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| UnixTime(t.as_second()))
}

fn ratio(num: i64, den: i64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// The rates of one row, by column name.
fn rates(c: &ReportCounts) -> [(&'static str, Option<f64>); 6] {
    [
        ("win_rate", ratio(c.wins, c.bids)),
        (
            "ecpm_micros",
            // In floating point: a thousand times a sum of micros can be
            // past i64.
            (c.impressions > 0)
                .then(|| (c.spend_micros as f64 * 1000.0 / c.impressions as f64).round()),
        ),
        ("ctr", ratio(c.clicks, c.impressions)),
        (
            "cpc_micros",
            ratio(c.spend_micros, c.clicks).map(f64::round),
        ),
        (
            "cpa_micros",
            ratio(c.spend_micros, c.conversions).map(f64::round),
        ),
        ("roas", ratio(c.conversion_value_micros, c.spend_micros)),
    ]
}

fn counts(c: &ReportCounts) -> [(&'static str, i64); 7] {
    [
        ("bids", c.bids),
        ("wins", c.wins),
        ("spend_micros", c.spend_micros),
        ("impressions", c.impressions),
        ("clicks", c.clicks),
        ("conversions", c.conversions),
        ("conversion_value_micros", c.conversion_value_micros),
    ]
}

/// A dimension value as reports show it.
fn dim_value(d: Dimension, v: &DimValue) -> Value {
    let time = |secs: i64, date_only: bool| {
        jiff::Timestamp::from_second(secs).map_or(Value::Null, |t| {
            let s = t.to_string();
            Value::String(if date_only { s[..10].to_owned() } else { s })
        })
    };
    match (d, v) {
        (Dimension::Minute | Dimension::Hour, DimValue::Int(t)) => time(*t, false),
        (Dimension::Day, DimValue::Int(t)) => time(*t, true),
        (Dimension::Stage | Dimension::Country, DimValue::Text(t)) if t.is_empty() => {
            Value::String("unknown".into())
        }
        (Dimension::Combination, DimValue::Text(t)) if t.is_empty() => {
            Value::String("fixed".into())
        }
        (_, DimValue::Int(n)) => j!(n),
        (_, DimValue::Text(t)) => j!(t),
    }
}

fn row_json(group_by: &[Dimension], r: &ReportRow) -> Value {
    let mut m = Map::new();
    for (d, v) in group_by.iter().zip(&r.dims) {
        m.insert(d.as_str().into(), dim_value(*d, v));
    }
    m.insert("currency".into(), j!(r.currency));
    for (k, v) in counts(&r.counts) {
        m.insert(k.into(), j!(v));
    }
    for (k, v) in rates(&r.counts) {
        m.insert(k.into(), v.map_or(Value::Null, |v| j!(v)));
    }
    Value::Object(m)
}

/// RFC 4180 field: quoted when it holds a comma, quote or line break;
/// a leading `=`, `+`, `-` or `@` is prefixed with `'` so spreadsheets do
/// not run it as a formula.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn csv(group_by: &[Dimension], rows: &[ReportRow]) -> String {
    let mut out = String::new();
    let mut header: Vec<&str> = group_by.iter().map(|d| d.as_str()).collect();
    header.push("currency");
    header.extend(counts(&ReportCounts::default()).map(|(k, _)| k));
    header.extend(rates(&ReportCounts::default()).map(|(k, _)| k));
    out.push_str(&header.join(","));
    out.push_str("\r\n");
    for r in rows {
        let mut fields: Vec<String> = group_by
            .iter()
            .zip(&r.dims)
            .map(|(d, v)| match dim_value(*d, v) {
                Value::String(s) => csv_field(&s),
                other => other.to_string(),
            })
            .collect();
        fields.push(csv_field(&r.currency));
        fields.extend(counts(&r.counts).map(|(_, v)| v.to_string()));
        fields.extend(rates(&r.counts).map(|(_, v)| v.map_or(String::new(), |v| v.to_string())));
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

impl Admin {
    /// `GET /api/v1/reports?advertiser=&campaign=&from=&to=&group_by=&format=`;
    /// also the console's CSV export, so both write the same file.
    pub(crate) fn report(
        &self,
        who: &Principal,
        query: Option<&str>,
    ) -> Result<Response<Body>, ApiError> {
        let mut errors = Vec::new();
        let (mut advertiser, mut campaign, mut from, mut to) = (None, None, None, None);
        let mut group_by = Vec::new();
        let mut format = Format::Json;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = crate::percent_decoding::decode(v).unwrap_or_default();
            match k {
                "advertiser" | "advertiser_id" => match v.parse() {
                    Ok(n) => advertiser = Some(AdvertiserId(n)),
                    Err(_) => errors.push(FieldError::new(k, "must be an id")),
                },
                "campaign" | "campaign_id" => match v.parse() {
                    Ok(n) => campaign = Some(CampaignId(n)),
                    Err(_) => errors.push(FieldError::new(k, "must be an id")),
                },
                "from" | "to" => match parse_time(&v) {
                    Some(t) if k == "from" => from = Some(t),
                    Some(t) => to = Some(t),
                    None => errors.push(FieldError::new(
                        k,
                        "must be Unix seconds, a date (2026-11-23) or an RFC 3339 time",
                    )),
                },
                "group_by" => {
                    for name in v.split(',').filter(|s| !s.is_empty()) {
                        match Dimension::parse(name.trim()) {
                            Some(d) if !group_by.contains(&d) => group_by.push(d),
                            Some(_) => {}
                            None => errors.push(FieldError::new(
                                "group_by",
                                format!(
                                    "unknown dimension {name:?}; one of minute, hour, day, campaign, stage, combination, fragment, exchange, country, device_type"
                                ),
                            )),
                        }
                    }
                }
                "format" => match v.as_str() {
                    "json" => format = Format::Json,
                    "csv" => format = Format::Csv,
                    _ => errors.push(FieldError::new("format", "must be json or csv")),
                },
                other => errors.push(FieldError::new(other, "unknown query parameter")),
            }
        }
        let reports = self.services.reports();
        // A bad span is listed with the query's other mistakes.
        let span = reports.span(from, to).map_err(|e| errors.push(e)).ok();
        let Some((from, to)) = span.filter(|_| errors.is_empty()) else {
            return Err(ApiError::Unprocessable(errors));
        };
        let report = reports.report(
            who,
            &ReportRequest {
                advertiser,
                campaign,
                from,
                to,
                group_by,
            },
        )?;
        let (group_by, rows) = (&report.group_by, &report.rows);
        match format {
            Format::Json => json(
                StatusCode::OK,
                &j!({
                    "from": report.from,
                    "to": report.to,
                    "group_by": group_by.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
                    "rows": rows.iter().map(|r| row_json(group_by, r)).collect::<Vec<_>>(),
                }),
                None,
            ),
            Format::Csv => {
                let mut resp = Response::new(Full::new(Bytes::from(csv(group_by, rows))));
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/csv; charset=utf-8"),
                );
                Ok(resp)
            }
        }
    }

    /// `GET /api/v1/campaigns/{id}/budget`.
    pub(super) fn budget(&self, who: &Principal, id: i64) -> Result<Response<Body>, ApiError> {
        let state = self.services.campaigns().budget(who, CampaignId(id))?;
        json(StatusCode::OK, &state, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_as_seconds_dates_or_rfc3339() {
        assert_eq!(parse_time("1700000000"), Some(UnixTime(1_700_000_000)));
        assert_eq!(parse_time("2026-11-23"), Some(UnixTime(1_795_392_000)));
        assert_eq!(
            parse_time("2026-11-23T01:00:00Z"),
            Some(UnixTime(1_795_395_600))
        );
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=1+1"), "'=1+1");
    }

    #[test]
    fn rates_are_absent_rather_than_divided_by_zero() {
        let c = ReportCounts {
            bids: 10,
            wins: 4,
            spend_micros: 6_000,
            impressions: 4,
            clicks: 1,
            conversions: 0,
            conversion_value_micros: 0,
        };
        let r = rates(&c);
        assert_eq!(r[0], ("win_rate", Some(0.4)));
        assert_eq!(r[1], ("ecpm_micros", Some(1_500_000.0)));
        assert_eq!(r[2], ("ctr", Some(0.25)));
        assert_eq!(r[3], ("cpc_micros", Some(6_000.0)));
        assert_eq!(r[4], ("cpa_micros", None));
        assert_eq!(r[5], ("roas", Some(0.0)));
    }
}
