//! Creative rows: create, read, list per campaign, versioned update and
//! delete. The creative itself (HTML, native assets or VAST) is one JSON
//! text column.
//!
//! Never stores a creative whose campaign does not exist.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{
    Page, Scope, Store, StoreError, from_json, is_foreign_key_violation, stale_or_missing, to_json,
};
use crate::model::{CampaignId, Creative, CreativeId, CreativeStatus, UnixTime};

const COLUMNS: &str =
    "c.id, c.campaign_id, c.name, c.status, c.body, c.version, c.created_at, c.updated_at";

/// The raw row, before the JSON body is decoded.
struct RawRow {
    creative: Creative,
    status: String,
    body: String,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        creative: Creative {
            id: CreativeId(r.get(0)?),
            campaign_id: CampaignId(r.get(1)?),
            name: r.get(2)?,
            status: CreativeStatus::Paused,
            // Replaced by `decode`; a placeholder keeps the mapper infallible.
            body: creative::FixedCreative::Html(creative::HtmlCreative {
                w: 0,
                h: 0,
                markup: String::new(),
                landing_url: None,
            }),
            version: r.get(5)?,
            created_at: UnixTime(r.get(6)?),
            updated_at: UnixTime(r.get(7)?),
        },
        status: r.get(3)?,
        body: r.get(4)?,
    })
}

fn decode(raw: RawRow) -> Result<Creative, StoreError> {
    let mut c = raw.creative;
    c.status = from_json("creatives.status", &format!("\"{}\"", raw.status))?;
    c.body = from_json("creatives.body", &raw.body)?;
    Ok(c)
}

fn status_text(s: CreativeStatus) -> &'static str {
    match s {
        CreativeStatus::Active => "active",
        CreativeStatus::Paused => "paused",
    }
}

fn query(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Creative>, StoreError> {
    let mut stmt = conn.prepare(sql)?;
    let raws = stmt
        .query_map(params, from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    raws.into_iter().map(decode).collect()
}

/// Every creative, grouped by campaign (campaigns by id, then each
/// campaign's by id): a campaign's creatives are one range of the list.
pub(crate) fn all(conn: &Connection) -> Result<Vec<Creative>, StoreError> {
    query(
        conn,
        &format!("SELECT {COLUMNS} FROM creatives c ORDER BY c.campaign_id, c.id"),
        [],
    )
}

/// Every creative of `campaign`, by id.
pub(crate) fn of_campaign(
    conn: &Connection,
    campaign: CampaignId,
) -> Result<Vec<Creative>, StoreError> {
    query(
        conn,
        &format!("SELECT {COLUMNS} FROM creatives c WHERE c.campaign_id = ?1 ORDER BY c.id"),
        [campaign.0],
    )
}

pub(crate) fn get(conn: &Connection, id: CreativeId) -> Result<Option<Creative>, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM creatives c WHERE c.id = ?1"),
        [id.0],
        from_row,
    )
    .optional()?
    .map(decode)
    .transpose()
}

/// Inserts `draft` (its id, version and times are ignored) as version 1.
pub(crate) fn insert(conn: &Connection, d: &Creative) -> Result<Creative, StoreError> {
    let now = UnixTime::now();
    conn.execute(
        "INSERT INTO creatives (campaign_id, name, status, body, version, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 1, ?5, ?5)",
        params![
            d.campaign_id.0,
            d.name,
            status_text(d.status),
            to_json("creatives.body", &d.body)?,
            now.0
        ],
    )
    .map_err(|e| {
        if is_foreign_key_violation(&e) {
            StoreError::MissingParent("campaign")
        } else {
            StoreError::Sqlite(e)
        }
    })?;
    get(conn, CreativeId(conn.last_insert_rowid()))?.ok_or(StoreError::NotFound)
}

/// Replaces name, status and body of `d.id` (it stays in its campaign), if
/// `d.version` is still current; returns the row at its new version.
pub(crate) fn update(conn: &Connection, d: &Creative) -> Result<Creative, StoreError> {
    let n = conn.execute(
        "UPDATE creatives SET name = ?1, status = ?2, body = ?3,
            version = version + 1, updated_at = ?4
         WHERE id = ?5 AND version = ?6",
        params![
            d.name,
            status_text(d.status),
            to_json("creatives.body", &d.body)?,
            UnixTime::now().0,
            d.id.0,
            d.version
        ],
    )?;
    if n == 0 {
        return Err(stale_or_missing(conn, "creatives", d.id.0, d.version));
    }
    get(conn, d.id)?.ok_or(StoreError::NotFound)
}

impl Store {
    /// Creates a creative from `draft`; the store assigns id, version 1 and
    /// times. [`StoreError::MissingParent`] when its campaign is gone.
    pub fn create_creative(&self, draft: &Creative) -> Result<Creative, StoreError> {
        self.write(|tx| insert(tx, draft))
    }

    /// One creative, if it exists.
    pub fn creative(&self, id: CreativeId) -> Result<Option<Creative>, StoreError> {
        self.read(|tx| get(tx, id))
    }

    /// One page of the creatives of `campaign` that `scope` allows, by id.
    pub fn list_creatives(
        &self,
        scope: Scope<'_>,
        campaign: CampaignId,
        page: Page,
    ) -> Result<Vec<Creative>, StoreError> {
        let (all, ids) = scope.params();
        self.read(|tx| {
            query(
                tx,
                &format!(
                    "SELECT {COLUMNS} FROM creatives c JOIN campaigns p ON p.id = c.campaign_id
                     WHERE c.campaign_id = ?1 AND c.id > ?2
                       AND (?3 = 1 OR p.advertiser_id IN (SELECT value FROM json_each(?4)))
                     ORDER BY c.id LIMIT ?5"
                ),
                params![campaign.0, page.after, all, ids, page.limit],
            )
        })
    }

    /// Replaces name, status and body of `draft.id` (it stays in its
    /// campaign), if `draft.version` is still current.
    pub fn update_creative(&self, d: &Creative) -> Result<Creative, StoreError> {
        self.write(|tx| update(tx, d))
    }

    /// Deletes a creative at `version`.
    pub fn delete_creative(&self, id: CreativeId, version: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "DELETE FROM creatives WHERE id = ?1 AND version = ?2",
                params![id.0, version],
            )?;
            if n == 0 {
                return Err(stale_or_missing(tx, "creatives", id.0, version));
            }
            Ok(())
        })
    }
}
