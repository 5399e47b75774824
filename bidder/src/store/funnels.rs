//! Funnel rows: create, read, list, versioned rename and delete. Their
//! members are in `audience.rs`.
//!
//! Never deletes a funnel a campaign still targets; deleting one deletes its
//! members and jobs with it.

use audiences::table::FunnelId;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Page, Scope, Store, StoreError, from_json, stale_or_missing, to_json};
use crate::model::{AdvertiserId, Funnel, StageNames, UnixTime};

const COLUMNS: &str =
    "id, advertiser_id, name, stage_names, version, created_at, updated_at, moves";

fn from_row(r: &Row<'_>) -> rusqlite::Result<(Funnel, String, String)> {
    Ok((
        Funnel {
            id: FunnelId(r.get(0)?),
            advertiser_id: AdvertiserId(r.get(1)?),
            name: r.get(2)?,
            stage_names: StageNames::default(),
            moves: Default::default(),
            version: r.get(4)?,
            created_at: UnixTime(r.get(5)?),
            updated_at: UnixTime(r.get(6)?),
        },
        r.get(3)?,
        r.get(7)?,
    ))
}

fn decode((mut f, names, moves): (Funnel, String, String)) -> Result<Funnel, StoreError> {
    f.stage_names = from_json("funnels.stage_names", &names)?;
    f.moves = from_json("funnels.moves", &moves)?;
    Ok(f)
}

pub(crate) fn all(conn: &Connection) -> Result<Vec<Funnel>, StoreError> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM funnels ORDER BY id"))?;
    let rows = stmt.query_map([], from_row)?;
    rows.map(|r| decode(r?)).collect()
}

pub(crate) fn get(conn: &Connection, id: FunnelId) -> Result<Option<Funnel>, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM funnels WHERE id = ?1"),
        [id.0],
        from_row,
    )
    .optional()?
    .map(decode)
    .transpose()
}

/// Inserts `draft` (its id, version and times are ignored) as version 1.
pub(crate) fn insert(conn: &Connection, draft: &Funnel) -> Result<Funnel, StoreError> {
    let now = UnixTime::now();
    conn.execute(
        "INSERT INTO funnels (advertiser_id, name, stage_names, version, created_at, updated_at,
           moves)
         VALUES (?1, ?2, ?3, 1, ?4, ?4, ?5)",
        params![
            draft.advertiser_id.0,
            draft.name,
            to_json("funnels.stage_names", &draft.stage_names)?,
            now.0,
            to_json("funnels.moves", &draft.moves)?
        ],
    )
    .map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::MissingParent("advertiser")
        }
        other => StoreError::Sqlite(other),
    })?;
    let id = u32::try_from(conn.last_insert_rowid())
        .ok()
        .filter(|id| *id < FunnelId::LIMIT)
        .ok_or(StoreError::InUse("funnel ids are exhausted"))?;
    get(conn, FunnelId(id))?.ok_or(StoreError::NotFound)
}

impl Store {
    /// Creates a funnel from `draft`; the store assigns id, version 1 and
    /// times.
    pub fn create_funnel(&self, draft: &Funnel) -> Result<Funnel, StoreError> {
        self.write(|tx| insert(tx, draft))
    }

    /// One funnel, if it exists.
    pub fn funnel(&self, id: FunnelId) -> Result<Option<Funnel>, StoreError> {
        self.read(|tx| get(tx, id))
    }

    /// One page of the funnels `scope` allows (of one advertiser, when
    /// given), by id.
    pub fn list_funnels(
        &self,
        scope: Scope<'_>,
        advertiser: Option<AdvertiserId>,
        page: Page,
    ) -> Result<Vec<Funnel>, StoreError> {
        let (all, ids) = scope.params();
        self.read(|tx| {
            let mut stmt = tx.prepare(&format!(
                "SELECT {COLUMNS} FROM funnels
                 WHERE id > ?1 AND (?2 = 1 OR advertiser_id IN (SELECT value FROM json_each(?3)))
                   AND (?4 IS NULL OR advertiser_id = ?4)
                 ORDER BY id LIMIT ?5"
            ))?;
            let rows = stmt.query_map(
                params![page.after, all, ids, advertiser.map(|a| a.0), page.limit],
                from_row,
            )?;
            rows.map(|r| decode(r?)).collect()
        })
    }

    /// Every funnel of `advertiser`.
    pub fn advertiser_funnels(&self, advertiser: AdvertiserId) -> Result<Vec<Funnel>, StoreError> {
        self.read(|tx| {
            let mut stmt = tx.prepare(&format!(
                "SELECT {COLUMNS} FROM funnels WHERE advertiser_id = ?1 ORDER BY id"
            ))?;
            let rows = stmt.query_map([advertiser.0], from_row)?;
            rows.map(|r| decode(r?)).collect()
        })
    }

    /// Renames `draft.id` and its stages and replaces its moves, if
    /// `draft.version` is current.
    pub fn update_funnel(&self, draft: &Funnel) -> Result<Funnel, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE funnels SET name = ?1, stage_names = ?2, version = version + 1,
                     updated_at = ?3, moves = ?6
                 WHERE id = ?4 AND version = ?5",
                params![
                    draft.name,
                    to_json("funnels.stage_names", &draft.stage_names)?,
                    UnixTime::now().0,
                    draft.id.0,
                    draft.version,
                    to_json("funnels.moves", &draft.moves)?
                ],
            )?;
            if n == 0 {
                return Err(stale_or_missing(
                    tx,
                    "funnels",
                    i64::from(draft.id.0),
                    draft.version,
                ));
            }
            get(tx, draft.id)?.ok_or(StoreError::NotFound)
        })
    }

    /// Deletes a funnel at `version` with its members and jobs; refused
    /// while a campaign targets it.
    pub fn delete_funnel(&self, id: FunnelId, version: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            let targeted: i64 = tx.query_row(
                "SELECT COUNT(*) FROM campaigns
                 WHERE json_extract(targeting, '$.audience.funnel_id') = ?1",
                [id.0],
                |r| r.get(0),
            )?;
            if targeted > 0 {
                return Err(StoreError::InUse(
                    "a campaign still targets the funnel; change its targeting first",
                ));
            }
            let n = tx.execute(
                "DELETE FROM funnels WHERE id = ?1 AND version = ?2",
                params![id.0, version],
            )?;
            if n == 0 {
                return Err(stale_or_missing(tx, "funnels", i64::from(id.0), version));
            }
            Ok(())
        })
    }
}
