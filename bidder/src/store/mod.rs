//! The embedded store: the one durable copy of advertisers, campaigns,
//! creatives, fragments, funnels and their members, upload jobs and API tokens, in a
//! single SQLite file.
//!
//! Cold path only. Every write runs in its own immediate transaction that is
//! committed (and, with `synchronous=FULL`, on disk) before the call returns;
//! the caller then publishes a fresh [`Catalog`] to the bid path. The bid path
//! itself never touches this module.
//!
//! Writes that change a versioned row take the version the client last saw
//! and fail with [`StoreError::Stale`] when it is no longer current
//! (optimistic concurrency). Many catalog writes can share one transaction
//! ([`Store::write_catalog`]): all of them commit, or none.

mod advertisers;
mod audience;
mod batch;
mod campaigns;
mod conversions;
mod creatives;
mod events;
mod fragments;
mod funnels;
mod migrations;
mod reports;
mod tokens;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::model::{AdvertiserId, Catalog};

pub(crate) use advertisers::insert as insert_advertiser_in;
pub use audience::{ChunkProgress, MAX_REJECTIONS_KEPT, Member};
pub(crate) use audience::{secret_in as audience_secret_in, upsert_members_in};
pub use batch::{BatchError, CatalogWrite, CatalogWritten};
pub use campaigns::CampaignRows;
pub(crate) use campaigns::insert as insert_campaign_in;
pub use conversions::{Attribution, ConversionOutcome, NewConversion};
pub(crate) use creatives::insert as insert_creative_in;
pub use events::Recorded;
pub use fragments::FragmentFilter;
pub(crate) use fragments::{approve_in as approve_fragment_in, insert as insert_fragment_in};
pub(crate) use funnels::insert as insert_funnel_in;
pub use reports::{DimValue, Dimension, NoBidKey, ReportCounts, ReportKey, ReportQuery, ReportRow};
pub(crate) use tokens::insert as insert_token_in;
pub use tokens::{TokenInfo, TokenRecord};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "bidder.db";

/// The page size of a new database file, in bytes. An upload's merge
/// rewrites every leaf of the members table (hashed keys reach them all),
/// and most of its cost is per page (reading it, rebalancing it, writing
/// it to the WAL and back at checkpoint), so fewer, larger pages make a
/// merge into ten million members cheaper. A file made with another size
/// keeps it (changing it takes a `VACUUM`).
const PAGE_SIZE: i64 = 16 * 1024;

/// How long a write waits for another process holding the database lock
/// (e.g. `bidder token create` while the server runs) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// SQLite failed (disk, corruption, constraint we did not expect).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A JSON column did not hold what this version of the bidder writes.
    #[error("stored JSON in {column} is invalid: {source}")]
    Json {
        /// Table and column, e.g. `campaigns.targeting`.
        column: &'static str,
        /// The cause.
        source: serde_json::Error,
    },
    /// The database was written by a newer bidder; opening it could lose data.
    #[error("database schema version {found} is newer than this bidder knows ({known})")]
    SchemaTooNew {
        /// `PRAGMA user_version` of the file.
        found: i64,
        /// Highest version this build knows.
        known: i64,
    },
    /// No row with that id.
    #[error("not found")]
    NotFound,
    /// The thread that writes billing points in groups has stopped (only
    /// at shutdown); nothing was written.
    #[error("the billing writer has stopped")]
    WriterStopped,
    /// The client's version is no longer current.
    #[error("version {expected} is not current (current is {current})")]
    Stale {
        /// The version the client sent.
        expected: i64,
        /// The version in the store.
        current: i64,
    },
    /// The row still has dependants (campaigns of an advertiser, creatives of
    /// a campaign) and is kept rather than silently cascading.
    #[error("{0}")]
    InUse(&'static str),
    /// Stored data breaks an invariant this build relies on.
    #[error("the store is inconsistent: {0}")]
    Corrupt(&'static str),
    /// The parent a new row points at does not exist.
    #[error("{0} does not exist")]
    MissingParent(&'static str),
}

/// One page of a list: rows with an id greater than `after`, at most `limit`.
/// Keyset pagination, so pages stay stable while rows are inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Only ids strictly greater than this.
    pub after: i64,
    /// At most this many rows.
    pub limit: u32,
}

/// Which advertisers' rows a caller may see.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Every row (admins).
    All,
    /// Only rows of these advertisers (buyers and advertisers).
    Advertisers(&'a [AdvertiserId]),
}

impl Scope<'_> {
    /// SQL parameters `(all, ids_json)` for the clause
    /// `(?all = 1 OR advertiser_id IN (SELECT value FROM json_each(?ids)))`.
    fn params(&self) -> (i64, String) {
        match self {
            Scope::All => (1, "[]".to_owned()),
            Scope::Advertisers(ids) => {
                let ids: Vec<i64> = ids.iter().map(|a| a.0).collect();
                (
                    0,
                    serde_json::to_string(&ids).unwrap_or_else(|_| "[]".to_owned()),
                )
            }
        }
    }
}

/// The store. `Send + Sync`; one connection behind a mutex, because every
/// caller is on the cold path and SQLite serialises writers anyway.
pub struct Store {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) `data_dir/bidder.db` and brings its schema
    /// up to date. Durable settings: WAL journal, `synchronous=FULL` so a
    /// committed write survives power loss, foreign keys enforced.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            path: data_dir.to_owned(),
            source,
        })?;
        let conn = Connection::open(data_dir.join(DB_FILE))?;
        // Only a new file takes it; it must come before the first write,
        // and journal_mode=WAL is one.
        conn.pragma_update(None, "page_size", PAGE_SIZE)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        Store::configure(conn)
    }

    /// A store that lives in memory only: for tests and dry runs.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Store::configure(Connection::open_in_memory()?)
    }

    fn configure(mut conn: Connection) -> Result<Store, StoreError> {
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        migrations::migrate(&mut conn)?;
        let store = Store {
            conn: Mutex::new(conn),
        };
        // Rows an upload staged before a crash: committed, so they count.
        store.merge_staged_members()?;
        Ok(store)
    }

    /// The connection. A poisoned lock only means a panic while it was held;
    /// the open transaction was rolled back when it dropped, so the
    /// connection is still consistent and safe to reuse.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` in one immediate transaction and commits it before returning;
    /// any error rolls everything back.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` in one read transaction, so it sees a single consistent state.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Everything the bid path needs, each list sorted by id, read in one
    /// transaction so campaigns never point at advertisers it did not see.
    pub fn load_catalog(&self) -> Result<Catalog, StoreError> {
        self.read(|tx| {
            Ok(Catalog {
                advertisers: advertisers::all(tx)?,
                campaigns: campaigns::all(tx)?,
                creatives: creatives::all(tx)?,
                fragments: fragments::serving(tx)?,
                rejected: fragments::rejected(tx)?,
                stats: fragments::all_stats(tx)?,
                funnels: funnels::all(tx)?,
            })
        })
    }

    /// What one campaign's plan is built from, read in one transaction:
    /// `campaign` as the only campaign, its creatives, its advertiser's
    /// serving fragments, its learning counts, and the advertisers, audit
    /// rejections and funnels. Previews, the gallery and the audits page
    /// read this rather than the whole catalog, so they cost the same at
    /// 10,000 campaigns as at 10.
    pub fn catalog_of_campaign(
        &self,
        campaign: &crate::model::Campaign,
    ) -> Result<Catalog, StoreError> {
        self.read(|tx| {
            let mut fragments = fragments::serving(tx)?;
            fragments.retain(|f| f.advertiser_id == campaign.advertiser_id);
            Ok(Catalog {
                advertisers: advertisers::all(tx)?,
                campaigns: vec![campaign.clone()],
                creatives: creatives::of_campaign(tx, campaign.id)?,
                fragments,
                rejected: fragments::rejected(tx)?,
                stats: fragments::stats_of(tx, campaign.id)?,
                funnels: funnels::all(tx)?,
            })
        })
    }

    /// The campaigns `ids` that exist, and all their creatives, read in
    /// one transaction: what a catalog held in memory needs after writes
    /// that changed only those campaigns.
    pub fn campaigns_with_creatives(
        &self,
        ids: &[crate::model::CampaignId],
    ) -> Result<(Vec<crate::model::Campaign>, Vec<crate::model::Creative>), StoreError> {
        self.read(|tx| {
            let mut found = Vec::with_capacity(ids.len());
            let mut creatives = Vec::new();
            for &id in ids {
                if let Some(c) = campaigns::get(tx, id)? {
                    found.push(c);
                }
                creatives.extend(creatives::of_campaign(tx, id)?);
            }
            Ok((found, creatives))
        })
    }

    /// True when there is no advertiser yet: a fresh install (the demo seeds
    /// only then).
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        self.read(|tx| {
            let n: i64 = tx.query_row("SELECT COUNT(*) FROM advertisers", [], |r| r.get(0))?;
            Ok(n == 0)
        })
    }
}

/// Serialises a nested field for a JSON text column.
fn to_json<T: serde::Serialize>(column: &'static str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|source| StoreError::Json { column, source })
}

/// Reads a nested field back from a JSON text column.
fn from_json<T: serde::de::DeserializeOwned>(
    column: &'static str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|source| StoreError::Json { column, source })
}

/// After an update or delete matched no row: tells "gone" from "stale".
fn stale_or_missing(conn: &Connection, table: &'static str, id: i64, expected: i64) -> StoreError {
    let sql = format!("SELECT version FROM {table} WHERE id = ?1");
    match conn.query_row(&sql, [id], |r| r.get::<_, i64>(0)) {
        Ok(current) => StoreError::Stale { expected, current },
        Err(rusqlite::Error::QueryReturnedNoRows) => StoreError::NotFound,
        Err(e) => StoreError::Sqlite(e),
    }
}

/// True when `e` is SQLite refusing a write because of a foreign key. An
/// `ON DELETE RESTRICT` refusal comes with the trigger code rather than the
/// foreign-key one, so the message decides between those.
fn is_foreign_key_violation(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(f, msg) => {
            f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY
                || (f.code == rusqlite::ErrorCode::ConstraintViolation
                    && msg.as_deref() == Some("FOREIGN KEY constraint failed"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_store_is_empty_and_has_an_empty_catalog() {
        let store = Store::open_in_memory().unwrap();
        assert!(store.is_empty().unwrap());
        assert_eq!(store.load_catalog().unwrap(), Catalog::default());
    }

    #[test]
    fn open_creates_the_data_directory_and_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("nested").join("data");
        Store::open(&data).unwrap();
        assert!(data.join(DB_FILE).is_file());
    }

    #[test]
    fn the_store_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Store>();
    }

    #[test]
    fn reopening_a_database_keeps_its_rows_and_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let draft = crate::model::Advertiser {
            id: AdvertiserId(0),
            name: "Acme".into(),
            domain: "acme.example".into(),
            frequency: Default::default(),
            time_zone: "UTC".into(),
            version: 0,
            created_at: crate::model::UnixTime(0),
            updated_at: crate::model::UnixTime(0),
        };
        let created = Store::open(dir.path())
            .unwrap()
            .create_advertiser(&draft)
            .unwrap();
        let again = Store::open(dir.path()).unwrap();
        assert_eq!(again.load_catalog().unwrap().advertisers, vec![created]);
        let version: i64 = again
            .lock()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, migrations::LATEST);
    }

    #[test]
    fn a_new_file_gets_large_pages_and_an_old_one_keeps_its_own() {
        let page_size = |store: &Store| -> i64 {
            store
                .lock()
                .query_row("PRAGMA page_size", [], |r| r.get(0))
                .unwrap()
        };
        let new = tempfile::tempdir().unwrap();
        assert_eq!(page_size(&Store::open(new.path()).unwrap()), PAGE_SIZE);
        let old = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(old.path().join(DB_FILE)).unwrap();
            conn.pragma_update(None, "page_size", 4096).unwrap();
            conn.execute("CREATE TABLE made_before (x INTEGER)", [])
                .unwrap();
        }
        let store = Store::open(old.path()).unwrap();
        assert_eq!(page_size(&store), 4096);
        assert!(store.is_empty().unwrap());
    }

    #[test]
    fn a_database_from_a_newer_bidder_is_refused_on_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            conn.pragma_update(None, "user_version", 99).unwrap();
        }
        assert!(matches!(
            Store::open(dir.path()),
            Err(StoreError::SchemaTooNew { found: 99, .. })
        ));
    }

    #[test]
    fn open_sets_durable_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let conn = store.lock();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        let fk: i64 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(sync, 2, "FULL");
        assert_eq!(fk, 1);
    }
}
