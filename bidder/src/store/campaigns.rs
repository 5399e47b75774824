//! Campaign rows: create, read, list, versioned update and delete. Nested
//! values (targeting, multipliers, lists) are JSON text columns.
//!
//! Never deletes a campaign that still has creatives, and never stores one
//! whose advertiser does not exist.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{
    Page, Scope, Store, StoreError, from_json, is_foreign_key_violation, stale_or_missing, to_json,
};
use crate::model::{AdvertiserId, Campaign, CampaignId, CampaignStatus, UnixTime};
use openrtb::{Currency, Micros};

const COLUMNS: &str = "id, advertiser_id, name, status, flight_start, flight_end,
    total_budget_micros, daily_budget_micros, currency, base_cpm_micros, max_cpm_micros,
    adomain, cat, attr, app_bundle, language, targeting, stage_multipliers,
    version, created_at, updated_at, fragment_sets, pacing, frequency, learning";

/// The raw row, before JSON columns are decoded (a rusqlite row mapper cannot
/// return our error type).
struct RawRow {
    campaign: Campaign,
    status: String,
    currency: String,
    adomain: String,
    cat: String,
    attr: String,
    targeting: String,
    stage_multipliers: String,
    fragment_sets: String,
    pacing: String,
    frequency: String,
    learning: String,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        campaign: Campaign {
            id: CampaignId(r.get(0)?),
            advertiser_id: AdvertiserId(r.get(1)?),
            name: r.get(2)?,
            status: CampaignStatus::Paused,
            flight_start: r.get::<_, Option<i64>>(4)?.map(UnixTime),
            flight_end: r.get::<_, Option<i64>>(5)?.map(UnixTime),
            total_budget_micros: Micros(r.get(6)?),
            daily_budget_micros: Micros(r.get(7)?),
            currency: Currency::USD,
            base_cpm_micros: Micros(r.get(9)?),
            max_cpm_micros: Micros(r.get(10)?),
            adomain: Vec::new(),
            cat: Vec::new(),
            attr: Vec::new(),
            app_bundle: r.get(14)?,
            language: r.get(15)?,
            targeting: Default::default(),
            stage_multipliers: Default::default(),
            fragment_sets: Vec::new(),
            pacing: Default::default(),
            frequency: Default::default(),
            learning: Default::default(),
            version: r.get(18)?,
            created_at: UnixTime(r.get(19)?),
            updated_at: UnixTime(r.get(20)?),
        },
        status: r.get(3)?,
        currency: r.get(8)?,
        adomain: r.get(11)?,
        cat: r.get(12)?,
        attr: r.get(13)?,
        targeting: r.get(16)?,
        stage_multipliers: r.get(17)?,
        fragment_sets: r.get(21)?,
        pacing: r.get(22)?,
        frequency: r.get(23)?,
        learning: r.get(24)?,
    })
}

fn decode(raw: RawRow) -> Result<Campaign, StoreError> {
    let mut c = raw.campaign;
    c.status = from_json("campaigns.status", &format!("\"{}\"", raw.status))?;
    c.currency = from_json("campaigns.currency", &format!("\"{}\"", raw.currency))?;
    c.adomain = from_json("campaigns.adomain", &raw.adomain)?;
    c.cat = from_json("campaigns.cat", &raw.cat)?;
    c.attr = from_json("campaigns.attr", &raw.attr)?;
    c.targeting = from_json("campaigns.targeting", &raw.targeting)?;
    c.stage_multipliers = from_json("campaigns.stage_multipliers", &raw.stage_multipliers)?;
    c.fragment_sets = from_json("campaigns.fragment_sets", &raw.fragment_sets)?;
    c.pacing = from_json("campaigns.pacing", &raw.pacing)?;
    c.frequency = from_json("campaigns.frequency", &raw.frequency)?;
    c.learning = from_json("campaigns.learning", &raw.learning)?;
    Ok(c)
}

/// The status as stored: its serde name, without quotes.
fn status_text(s: CampaignStatus) -> &'static str {
    match s {
        CampaignStatus::Active => "active",
        CampaignStatus::Paused => "paused",
        CampaignStatus::Archived => "archived",
    }
}

fn query(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Campaign>, StoreError> {
    let mut stmt = conn.prepare(sql)?;
    let raws = stmt
        .query_map(params, from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    raws.into_iter().map(decode).collect()
}

pub(crate) fn all(conn: &Connection) -> Result<Vec<Campaign>, StoreError> {
    query(
        conn,
        &format!("SELECT {COLUMNS} FROM campaigns ORDER BY id"),
        [],
    )
}

pub(crate) fn get(conn: &Connection, id: CampaignId) -> Result<Option<Campaign>, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM campaigns WHERE id = ?1"),
        [id.0],
        from_row,
    )
    .optional()?
    .map(decode)
    .transpose()
}

fn missing_advertiser(e: rusqlite::Error) -> StoreError {
    if is_foreign_key_violation(&e) {
        StoreError::MissingParent("advertiser")
    } else {
        StoreError::Sqlite(e)
    }
}

/// Inserts `draft` (its id, version and times are ignored) as version 1.
pub(crate) fn insert(conn: &Connection, d: &Campaign) -> Result<Campaign, StoreError> {
    let now = UnixTime::now();
    conn.execute(
        &format!(
            "INSERT INTO campaigns ({COLUMNS}) VALUES (NULL, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,
             ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, 1, ?18, ?18, ?19, ?20, ?21, ?22)"
        ),
        params![
            d.advertiser_id.0,
            d.name,
            status_text(d.status),
            d.flight_start.map(|t| t.0),
            d.flight_end.map(|t| t.0),
            d.total_budget_micros.0,
            d.daily_budget_micros.0,
            d.currency.as_str(),
            d.base_cpm_micros.0,
            d.max_cpm_micros.0,
            to_json("campaigns.adomain", &d.adomain)?,
            to_json("campaigns.cat", &d.cat)?,
            to_json("campaigns.attr", &d.attr)?,
            d.app_bundle,
            d.language,
            to_json("campaigns.targeting", &d.targeting)?,
            to_json("campaigns.stage_multipliers", &d.stage_multipliers)?,
            now.0,
            to_json("campaigns.fragment_sets", &d.fragment_sets)?,
            to_json("campaigns.pacing", &d.pacing)?,
            to_json("campaigns.frequency", &d.frequency)?,
            to_json("campaigns.learning", &d.learning)?,
        ],
    )
    .map_err(missing_advertiser)?;
    get(conn, CampaignId(conn.last_insert_rowid()))?.ok_or(StoreError::NotFound)
}

/// Which campaigns a list keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CampaignRows<'a> {
    /// Only this advertiser's.
    pub advertiser: Option<AdvertiserId>,
    /// Archived campaigns too; hidden otherwise (unless `status` asks
    /// for them).
    pub include_archived: bool,
    /// Only campaigns in this status.
    pub status: Option<CampaignStatus>,
    /// Only campaigns whose name contains this, ignoring ASCII case.
    pub name: Option<&'a str>,
}

/// Replaces every field of `d.id` but the id, if `d.version` is still
/// current; returns the row at its new version.
pub(crate) fn update(conn: &Connection, d: &Campaign) -> Result<Campaign, StoreError> {
    let n = conn
        .execute(
            "UPDATE campaigns SET advertiser_id = ?1, name = ?2, status = ?3,
                flight_start = ?4, flight_end = ?5, total_budget_micros = ?6,
                daily_budget_micros = ?7, currency = ?8, base_cpm_micros = ?9,
                max_cpm_micros = ?10, adomain = ?11, cat = ?12, attr = ?13,
                app_bundle = ?14, language = ?15, targeting = ?16,
                stage_multipliers = ?17, version = version + 1, updated_at = ?18,
                fragment_sets = ?21, pacing = ?22, frequency = ?23, learning = ?24
             WHERE id = ?19 AND version = ?20",
            params![
                d.advertiser_id.0,
                d.name,
                status_text(d.status),
                d.flight_start.map(|t| t.0),
                d.flight_end.map(|t| t.0),
                d.total_budget_micros.0,
                d.daily_budget_micros.0,
                d.currency.as_str(),
                d.base_cpm_micros.0,
                d.max_cpm_micros.0,
                to_json("campaigns.adomain", &d.adomain)?,
                to_json("campaigns.cat", &d.cat)?,
                to_json("campaigns.attr", &d.attr)?,
                d.app_bundle,
                d.language,
                to_json("campaigns.targeting", &d.targeting)?,
                to_json("campaigns.stage_multipliers", &d.stage_multipliers)?,
                UnixTime::now().0,
                d.id.0,
                d.version,
                to_json("campaigns.fragment_sets", &d.fragment_sets)?,
                to_json("campaigns.pacing", &d.pacing)?,
                to_json("campaigns.frequency", &d.frequency)?,
                to_json("campaigns.learning", &d.learning)?,
            ],
        )
        .map_err(missing_advertiser)?;
    if n == 0 {
        return Err(stale_or_missing(conn, "campaigns", d.id.0, d.version));
    }
    get(conn, d.id)?.ok_or(StoreError::NotFound)
}

impl Store {
    /// Creates a campaign from `draft`; the store assigns id, version 1 and
    /// times. [`StoreError::MissingParent`] when its advertiser is gone.
    pub fn create_campaign(&self, draft: &Campaign) -> Result<Campaign, StoreError> {
        self.write(|tx| insert(tx, draft))
    }

    /// One campaign, if it exists.
    pub fn campaign(&self, id: CampaignId) -> Result<Option<Campaign>, StoreError> {
        self.read(|tx| get(tx, id))
    }

    /// One page of the campaigns `scope` allows that `filter` keeps, by
    /// id. Walks the primary key from the cursor, so a page costs the
    /// rows it skips, never a sort of the table.
    pub fn list_campaigns(
        &self,
        scope: Scope<'_>,
        filter: &CampaignRows<'_>,
        page: Page,
    ) -> Result<Vec<Campaign>, StoreError> {
        let (all, ids) = scope.params();
        self.read(|tx| {
            query(
                tx,
                &format!(
                    "SELECT {COLUMNS} FROM campaigns
                     WHERE id > ?1
                       AND (?2 = 1 OR advertiser_id IN (SELECT value FROM json_each(?3)))
                       AND (?4 IS NULL OR advertiser_id = ?4)
                       AND (?6 = 1 OR status != 'archived')
                       AND (?7 IS NULL OR status = ?7)
                       AND (?8 IS NULL OR instr(lower(name), lower(?8)) > 0)
                     ORDER BY id LIMIT ?5"
                ),
                params![
                    page.after,
                    all,
                    ids,
                    filter.advertiser.map(|a| a.0),
                    page.limit,
                    filter.include_archived || filter.status == Some(CampaignStatus::Archived),
                    filter.status.map(status_text),
                    filter.name,
                ],
            )
        })
    }

    /// Replaces every field of `draft.id` but the id, if `draft.version` is
    /// still current; returns the row at its new version.
    pub fn update_campaign(&self, d: &Campaign) -> Result<Campaign, StoreError> {
        self.write(|tx| update(tx, d))
    }

    /// Deletes a campaign at `version`; refused while it has creatives.
    pub fn delete_campaign(&self, id: CampaignId, version: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            let n = tx
                .execute(
                    "DELETE FROM campaigns WHERE id = ?1 AND version = ?2",
                    params![id.0, version],
                )
                .map_err(|e| {
                    if is_foreign_key_violation(&e) {
                        StoreError::InUse("the campaign still has creatives; delete them first")
                    } else {
                        StoreError::Sqlite(e)
                    }
                })?;
            if n == 0 {
                return Err(stale_or_missing(tx, "campaigns", id.0, version));
            }
            Ok(())
        })
    }
}
