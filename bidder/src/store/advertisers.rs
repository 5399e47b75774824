//! Advertiser rows: create, read, list, versioned update and delete.
//!
//! Never deletes an advertiser that still has campaigns.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{
    Page, Scope, Store, StoreError, from_json, is_foreign_key_violation, stale_or_missing, to_json,
};
use crate::model::{Advertiser, AdvertiserId, UnixTime};

const COLUMNS: &str = "id, name, domain, version, created_at, updated_at, frequency, time_zone";

fn from_row(r: &Row<'_>) -> rusqlite::Result<(Advertiser, String)> {
    Ok((
        Advertiser {
            id: AdvertiserId(r.get(0)?),
            name: r.get(1)?,
            domain: r.get(2)?,
            frequency: Default::default(),
            time_zone: r.get(7)?,
            version: r.get(3)?,
            created_at: UnixTime(r.get(4)?),
            updated_at: UnixTime(r.get(5)?),
        },
        r.get(6)?,
    ))
}

fn decode((mut a, frequency): (Advertiser, String)) -> Result<Advertiser, StoreError> {
    a.frequency = from_json("advertisers.frequency", &frequency)?;
    Ok(a)
}

pub(crate) fn all(conn: &Connection) -> Result<Vec<Advertiser>, StoreError> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM advertisers ORDER BY id"))?;
    let rows = stmt.query_map([], from_row)?;
    rows.map(|r| decode(r?)).collect()
}

pub(crate) fn get(conn: &Connection, id: AdvertiserId) -> Result<Option<Advertiser>, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM advertisers WHERE id = ?1"),
        [id.0],
        from_row,
    )
    .optional()?
    .map(decode)
    .transpose()
}

/// Inserts `draft` (its id, version and times are ignored) as version 1.
pub(crate) fn insert(conn: &Connection, draft: &Advertiser) -> Result<Advertiser, StoreError> {
    let now = UnixTime::now();
    conn.execute(
        "INSERT INTO advertisers (name, domain, version, created_at, updated_at, frequency,
             time_zone)
         VALUES (?1, ?2, 1, ?3, ?3, ?4, ?5)",
        params![
            draft.name,
            draft.domain,
            now.0,
            to_json("advertisers.frequency", &draft.frequency)?,
            draft.time_zone,
        ],
    )?;
    get(conn, AdvertiserId(conn.last_insert_rowid()))?.ok_or(StoreError::NotFound)
}

impl Store {
    /// Creates an advertiser from `draft`; the store assigns id, version 1
    /// and times.
    pub fn create_advertiser(&self, draft: &Advertiser) -> Result<Advertiser, StoreError> {
        self.write(|tx| insert(tx, draft))
    }

    /// One advertiser, if it exists.
    pub fn advertiser(&self, id: AdvertiserId) -> Result<Option<Advertiser>, StoreError> {
        self.read(|tx| get(tx, id))
    }

    /// One page of the advertisers `scope` allows, by id.
    pub fn list_advertisers(
        &self,
        scope: Scope<'_>,
        page: Page,
    ) -> Result<Vec<Advertiser>, StoreError> {
        let (all, ids) = scope.params();
        self.read(|tx| {
            let mut stmt = tx.prepare(&format!(
                "SELECT {COLUMNS} FROM advertisers
                 WHERE id > ?1 AND (?2 = 1 OR id IN (SELECT value FROM json_each(?3)))
                 ORDER BY id LIMIT ?4"
            ))?;
            let rows = stmt.query_map(params![page.after, all, ids, page.limit], from_row)?;
            rows.map(|r| decode(r?)).collect()
        })
    }

    /// Replaces name and domain of `draft.id`, if `draft.version` is still
    /// current; returns the row at its new version.
    pub fn update_advertiser(&self, draft: &Advertiser) -> Result<Advertiser, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE advertisers SET name = ?1, domain = ?2, version = version + 1,
                     updated_at = ?3, frequency = ?6, time_zone = ?7
                 WHERE id = ?4 AND version = ?5",
                params![
                    draft.name,
                    draft.domain,
                    UnixTime::now().0,
                    draft.id.0,
                    draft.version,
                    to_json("advertisers.frequency", &draft.frequency)?,
                    draft.time_zone,
                ],
            )?;
            if n == 0 {
                return Err(stale_or_missing(
                    tx,
                    "advertisers",
                    draft.id.0,
                    draft.version,
                ));
            }
            get(tx, draft.id)?.ok_or(StoreError::NotFound)
        })
    }

    /// Deletes an advertiser at `version`; refused while it has campaigns.
    /// Tokens lose their grant on it.
    pub fn delete_advertiser(&self, id: AdvertiserId, version: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            let n = tx
                .execute(
                    "DELETE FROM advertisers WHERE id = ?1 AND version = ?2",
                    params![id.0, version],
                )
                .map_err(|e| {
                    if is_foreign_key_violation(&e) {
                        StoreError::InUse(
                            "the advertiser still has campaigns or funnels; delete them first",
                        )
                    } else {
                        StoreError::Sqlite(e)
                    }
                })?;
            if n == 0 {
                return Err(stale_or_missing(tx, "advertisers", id.0, version));
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(name: &str) -> Advertiser {
        Advertiser {
            id: AdvertiserId(0),
            name: name.to_owned(),
            domain: format!("{}.example", name.to_lowercase()),
            frequency: Default::default(),
            time_zone: "UTC".into(),
            version: 0,
            created_at: UnixTime(0),
            updated_at: UnixTime(0),
        }
    }

    #[test]
    fn created_advertisers_start_at_version_one_with_their_fields() {
        let store = Store::open_in_memory().unwrap();
        let a = store.create_advertiser(&draft("Acme")).unwrap();
        assert_eq!(a.version, 1);
        assert_eq!(a.domain, "acme.example");
        assert_eq!(store.advertiser(a.id).unwrap(), Some(a));
    }

    #[test]
    fn update_with_a_stale_version_reports_the_current_one() {
        let store = Store::open_in_memory().unwrap();
        let a = store.create_advertiser(&draft("Acme")).unwrap();
        let mut next = a.clone();
        next.name = "Acme 2".into();
        let b = store.update_advertiser(&next).unwrap();
        assert_eq!(b.version, 2);
        match store.update_advertiser(&next) {
            Err(StoreError::Stale { expected, current }) => assert_eq!((expected, current), (1, 2)),
            other => panic!("expected Stale, got {other:?}"),
        }
    }

    #[test]
    fn update_of_a_missing_advertiser_is_not_found() {
        let store = Store::open_in_memory().unwrap();
        let mut d = draft("Ghost");
        d.id = AdvertiserId(42);
        assert!(matches!(
            store.update_advertiser(&d),
            Err(StoreError::NotFound)
        ));
    }

    #[test]
    fn lists_page_by_id_within_scope() {
        let store = Store::open_in_memory().unwrap();
        let ids: Vec<AdvertiserId> = (0..4)
            .map(|i| {
                store
                    .create_advertiser(&draft(&format!("A{i}")))
                    .unwrap()
                    .id
            })
            .collect();
        let page = Page {
            after: ids[0].0,
            limit: 2,
        };
        let got: Vec<_> = store
            .list_advertisers(Scope::All, page)
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(got, vec![ids[1], ids[2]]);
        let scoped: Vec<_> = store
            .list_advertisers(
                Scope::Advertisers(&[ids[3]]),
                Page {
                    after: 0,
                    limit: 10,
                },
            )
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(scoped, vec![ids[3]]);
    }
}
