//! Conversions an advertiser reports (server to server): each recorded once
//! per advertiser and conversion id, attributed to the click it names or to
//! the user's last click (7 days) or impression (1 day) of the advertiser's
//! campaigns, and counted (learning counts, report aggregates) in the
//! transaction that records it.

use audiences::Stage;
use creative::assembly::ComboKey;
use openrtb::{Currency, Micros};
use rusqlite::{OptionalExtension, params};

use super::reports::{ReportCounts, ReportKey, add_in};
use super::{Store, StoreError};
use crate::model::{AdvertiserId, CampaignId, UnixTime};

/// Clicks this recent are credited with a user's conversion.
pub const CLICK_WINDOW_SECS: i64 = 7 * 86_400;
/// Impressions this recent, when no click is.
pub const VIEW_WINDOW_SECS: i64 = 86_400;

/// A conversion as reported.
#[derive(Debug, Clone)]
pub struct NewConversion {
    /// Whose.
    pub advertiser: AdvertiserId,
    /// The advertiser's id for it (an order number): reporting it twice
    /// counts it once.
    pub id: String,
    /// The click it follows (`bclid` on the landing page).
    pub click: Option<String>,
    /// The user's key, when given.
    pub user: Option<u64>,
    /// Its value.
    pub value: Micros,
    /// Currency of `value`.
    pub currency: Currency,
    /// When it happened.
    pub at: UnixTime,
}

/// The bid a conversion is credited to.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribution {
    /// The bid id.
    pub bid: String,
    /// Through `click` or `imp`.
    pub through: String,
    /// Its campaign.
    pub campaign: CampaignId,
    /// The user's key on that bid, where consent allowed.
    pub user: Option<u64>,
    /// The value counted, in the campaign's currency.
    pub value: Micros,
    /// The campaign's currency.
    pub currency: Currency,
}

/// What recording a conversion did.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversionOutcome {
    /// Reported before: nothing counted again.
    pub duplicate: bool,
    /// Whom it was credited to, if anyone.
    pub attribution: Option<Attribution>,
}

impl Store {
    /// Records `c` and, the first time, counts it for the bid it is
    /// attributed to. `convert` turns a value into the campaign's currency.
    pub fn record_conversion(
        &self,
        c: &NewConversion,
        convert: &dyn Fn(Micros, Currency, Currency) -> Option<Micros>,
    ) -> Result<ConversionOutcome, StoreError> {
        self.write(|tx| {
            let seen: Option<Option<String>> = tx
                .query_row(
                    "SELECT bid FROM conversions WHERE advertiser_id = ?1 AND id = ?2",
                    params![c.advertiser.0, c.id],
                    |r| r.get(0),
                )
                .optional()?;
            if seen.is_some() {
                return Ok(ConversionOutcome {
                    duplicate: true,
                    attribution: None,
                });
            }
            type Row = (
                String,
                String,
                i64,
                Option<String>,
                Option<String>,
                Option<i64>,
                String,
                String,
                i64,
                String,
            );
            let map = |r: &rusqlite::Row<'_>| -> rusqlite::Result<Row> {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                ))
            };
            const COLS: &str = "e.bid, e.kind, e.campaign_id, e.stage, e.combination, e.user_key,
                e.exchange, e.country, e.device_type, c.currency";
            let found: Option<Row> = match (&c.click, c.user) {
                (Some(click), _) => tx
                    .query_row(
                        &format!(
                            "SELECT {COLS} FROM events e JOIN campaigns c ON c.id = e.campaign_id
                             WHERE e.bid = ?1 AND e.kind = 'click' AND c.advertiser_id = ?2"
                        ),
                        params![click, c.advertiser.0],
                        map,
                    )
                    .optional()?,
                (None, Some(user)) => tx
                    .query_row(
                        &format!(
                            "SELECT {COLS} FROM events e JOIN campaigns c ON c.id = e.campaign_id
                             WHERE e.user_key = ?1 AND c.advertiser_id = ?2 AND e.at <= ?3
                               AND ((e.kind = 'click' AND e.at >= ?3 - ?4)
                                 OR (e.kind = 'imp' AND e.at >= ?3 - ?5))
                             ORDER BY e.kind = 'click' DESC, e.at DESC LIMIT 1"
                        ),
                        params![
                            user as i64,
                            c.advertiser.0,
                            c.at.0,
                            CLICK_WINDOW_SECS,
                            VIEW_WINDOW_SECS
                        ],
                        map,
                    )
                    .optional()?,
                (None, None) => None,
            };
            let attribution = found.map(
                |(bid, through, campaign, stage, combo, user, exchange, country, device, cur)| {
                    let currency = Currency::parse(&cur).unwrap_or(c.currency);
                    let value = convert(c.value, c.currency, currency).unwrap_or(Micros(0));
                    let stage = stage.and_then(|s| s.parse::<Stage>().ok());
                    let combo = combo.and_then(|k| ComboKey::parse(&k));
                    (
                        Attribution {
                            bid,
                            through,
                            campaign: CampaignId(campaign),
                            user: user.map(|u| u as u64),
                            value,
                            currency,
                        },
                        stage,
                        combo,
                        exchange,
                        country,
                        device,
                    )
                },
            );
            tx.execute(
                "INSERT INTO conversions (advertiser_id, id, bid, campaign_id, user_key,
                   value_micros, currency, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    c.advertiser.0,
                    c.id,
                    attribution.as_ref().map(|a| a.0.bid.clone()),
                    attribution.as_ref().map(|a| a.0.campaign.0),
                    c.user
                        .or(attribution.as_ref().and_then(|a| a.0.user))
                        .map(|u| u as i64),
                    attribution.as_ref().map_or(c.value.0, |a| a.0.value.0),
                    attribution
                        .as_ref()
                        .map_or(c.currency, |a| a.0.currency)
                        .as_str(),
                    c.at.0,
                ],
            )?;
            let Some((a, stage, combo, exchange, country, device)) = attribution else {
                return Ok(ConversionOutcome {
                    duplicate: false,
                    attribution: None,
                });
            };
            if let (Some(stage), Some(combo)) = (stage, combo) {
                tx.execute(
                    "UPDATE combination_stats SET conversions = conversions + 1
                     WHERE campaign_id = ?1 AND stage = ?2 AND combination = ?3",
                    params![a.campaign.0, stage.as_str(), combo.to_string()],
                )?;
            }
            add_in(
                tx,
                &ReportKey {
                    minute: c.at.0.div_euclid(60),
                    campaign: a.campaign,
                    stage,
                    combo,
                    exchange,
                    country,
                    device_type: u8::try_from(device).unwrap_or(0),
                },
                &ReportCounts {
                    conversions: 1,
                    conversion_value_micros: a.value.0,
                    ..ReportCounts::default()
                },
            )?;
            Ok(ConversionOutcome {
                duplicate: false,
                attribution: Some(a),
            })
        })
    }
}
