//! Audience rows: funnel members (by hashed user key), upload jobs and the
//! secret the keys are hashed with.
//!
//! An upload writes its rows in chunks; each chunk and the job's progress
//! commit in one transaction, so the job never reports a row the store does
//! not hold. Members are read back in key order at start
//! ([`Store::load_audience`]), which lets the table build each shard once.
//!
//! An upload's rows are staged: appended in arrival order to
//! `audience_staged`, which costs a few pages per chunk, then merged into
//! `audience_members` in key order by one statement
//! ([`Store::merge_staged_members`]). Written straight into the members
//! table, hashed keys would spread each chunk over about one B-tree leaf
//! per row, so the bytes written per row would grow with the table; one
//! merge visits each leaf once for all of a job's rows. Staged rows are
//! never read around: every other read or write of members (and opening
//! the store, after a crash) merges them first, in one order (arrival), so
//! the later of two writes of a member always wins.

use audiences::Stage;
use audiences::keys::UserKey;
use audiences::table::{Entry, FunnelId};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Page, Scope, Store, StoreError, from_json, to_json};
use crate::model::{AdvertiserId, Job, JobId, JobStatus, Rejection, UnixTime, UploadMode};

/// Refused rows a job keeps with line numbers; it counts the rest.
pub const MAX_REJECTIONS_KEPT: usize = 1_000;

/// The stored form of a key: the sign bit flipped, so that SQLite's signed
/// order is the key's unsigned order.
fn to_sql(key: UserKey) -> i64 {
    (key.0 ^ (1 << 63)) as i64
}

fn from_sql(v: i64) -> UserKey {
    UserKey(v as u64 ^ (1 << 63))
}

/// One member as written by an upload or the single-user API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// Who.
    pub key: UserKey,
    /// Where in the funnel.
    pub stage: Stage,
    /// Unix seconds.
    pub updated: u32,
    /// Unix seconds from which it no longer counts; 0 = never.
    pub expires: u32,
}

/// What one chunk of an upload did, for the job's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChunkProgress {
    /// Data rows read in this chunk.
    pub rows_read: u64,
    /// Refused rows (all of them, even past the kept limit).
    pub rows_rejected: u64,
    /// Refused rows to keep, with reasons.
    pub rejections: Vec<Rejection>,
    /// The last line the chunk accounts for.
    pub last_line: u64,
}

const JOB_COLUMNS: &str = "id, funnel_id, advertiser_id, mode, status, rows_read, rows_accepted,
    rows_rejected, rows_removed, last_line, rejections, message, created_at, updated_at,
    finished_at";

fn job_from_row(r: &Row<'_>) -> rusqlite::Result<(Job, String, String, String)> {
    let count = |i| r.get::<_, i64>(i).map(|n| n.max(0) as u64);
    Ok((
        Job {
            id: JobId(r.get(0)?),
            funnel_id: FunnelId(r.get(1)?),
            advertiser_id: AdvertiserId(r.get(2)?),
            mode: UploadMode::Add,
            status: JobStatus::Running,
            rows_read: count(5)?,
            rows_accepted: count(6)?,
            rows_rejected: count(7)?,
            rows_removed: count(8)?,
            last_line: count(9)?,
            rejections: Vec::new(),
            message: r.get(11)?,
            created_at: UnixTime(r.get(12)?),
            updated_at: UnixTime(r.get(13)?),
            finished_at: r.get::<_, Option<i64>>(14)?.map(UnixTime),
        },
        r.get(3)?,
        r.get(4)?,
        r.get(10)?,
    ))
}

fn decode_job(
    (mut job, mode, status, rejections): (Job, String, String, String),
) -> Result<Job, StoreError> {
    job.mode = UploadMode::parse(&mode).ok_or_else(|| StoreError::Json {
        column: "jobs.mode",
        source: serde::de::Error::custom(format!("unknown mode {mode:?}")),
    })?;
    job.status = JobStatus::parse(&status).ok_or_else(|| StoreError::Json {
        column: "jobs.status",
        source: serde::de::Error::custom(format!("unknown status {status:?}")),
    })?;
    job.rejections = from_json("jobs.rejections", &rejections)?;
    Ok(job)
}

fn get_job(conn: &Connection, id: JobId) -> Result<Option<Job>, StoreError> {
    conn.query_row(
        &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"),
        [id.0],
        job_from_row,
    )
    .optional()?
    .map(decode_job)
    .transpose()
}

/// Upserts `members` into `funnel` as the single-user API does (job 0).
pub(crate) fn upsert_members_in(
    conn: &Connection,
    funnel: FunnelId,
    members: &[Member],
) -> Result<(), StoreError> {
    upsert_members(conn, funnel, JobId(0), members)
}

/// The audience key secret, made on first use.
pub(crate) fn secret_in(conn: &Connection) -> Result<[u8; 16], StoreError> {
    let found: Option<Vec<u8>> = conn
        .query_row(
            "SELECT value FROM settings WHERE name = 'audience_key_secret'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(secret) = found.and_then(|v| <[u8; 16]>::try_from(v).ok()) {
        return Ok(secret);
    }
    let mut secret = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    conn.execute(
        "INSERT OR REPLACE INTO settings (name, value) VALUES ('audience_key_secret', ?1)",
        [&secret[..]],
    )?;
    Ok(secret)
}

/// Upserts `members` into `funnel`, marked as written by `job` (0 for the
/// single-user API), in key order: hashed keys land on random B-tree
/// leaves, and writing them sorted touches each leaf in one visit instead
/// of reading it back (and spilling it) once per member it receives. Of
/// two members with the same key the later is written last and wins.
fn upsert_members(
    conn: &Connection,
    funnel: FunnelId,
    job: JobId,
    members: &[Member],
) -> Result<(), StoreError> {
    if members.is_empty() {
        return Ok(());
    }
    merge_staged(conn)?;
    let mut sorted: Vec<&Member> = members.iter().collect();
    sorted.sort_by_key(|m| m.key.0);
    let mut stmt = conn.prepare_cached(
        "INSERT INTO audience_members (key, funnel_id, stage, updated_at, expires_at, job_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (key, funnel_id) DO UPDATE SET stage = excluded.stage,
             updated_at = excluded.updated_at, expires_at = excluded.expires_at,
             job_id = excluded.job_id",
    )?;
    insert_each(&mut stmt, funnel, job, sorted)
}

/// Appends `members` of `funnel`, written by upload `job`, to the staged
/// rows, in arrival order: the table's last pages take them all.
fn stage_members(
    conn: &Connection,
    funnel: FunnelId,
    job: JobId,
    members: &[Member],
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO audience_staged (key, funnel_id, stage, updated_at, expires_at, job_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    insert_each(&mut stmt, funnel, job, members)
}

/// Runs `stmt`, an insert of the six member columns in table order, for
/// each of `members`.
fn insert_each<'m>(
    stmt: &mut rusqlite::CachedStatement<'_>,
    funnel: FunnelId,
    job: JobId,
    members: impl IntoIterator<Item = &'m Member>,
) -> Result<(), StoreError> {
    for m in members {
        stmt.execute(params![
            to_sql(m.key),
            funnel.0,
            m.stage as u8,
            m.updated,
            m.expires,
            job.0
        ])?;
    }
    Ok(())
}

/// Moves every staged row into `audience_members`, in key order (arrival
/// order among rows for one member, so the later wins), and empties the
/// staging table; returns how many rows moved. Cheap when nothing is
/// staged.
fn merge_staged(conn: &Connection) -> Result<u64, StoreError> {
    if !any_staged(conn)? {
        return Ok(0);
    }
    let moved = move_staged(conn)?;
    conn.execute("DELETE FROM audience_staged", [])?;
    Ok(moved)
}

fn any_staged(conn: &Connection) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM audience_staged)")?
        .query_row([], |r| r.get(0))?)
}

/// Upserts every staged row into `audience_members` in key order (arrival
/// order among rows for one member, so the later wins), leaving the staged
/// rows in place; returns how many rows it wrote.
fn move_staged(conn: &Connection) -> Result<u64, StoreError> {
    // `WHERE true` tells the parser that ON CONFLICT belongs to the INSERT.
    let moved = conn.execute(
        "INSERT INTO audience_members (key, funnel_id, stage, updated_at, expires_at, job_id)
         SELECT key, funnel_id, stage, updated_at, expires_at, job_id FROM audience_staged
         WHERE true ORDER BY key, funnel_id, seq
         ON CONFLICT (key, funnel_id) DO UPDATE SET stage = excluded.stage,
             updated_at = excluded.updated_at, expires_at = excluded.expires_at,
             job_id = excluded.job_id",
        [],
    )?;
    Ok(moved as u64)
}

/// Deletes `keys` from `funnel`; returns how many were members.
fn delete_members(
    conn: &Connection,
    funnel: FunnelId,
    keys: &[UserKey],
) -> Result<u64, StoreError> {
    if keys.is_empty() {
        return Ok(0);
    }
    merge_staged(conn)?;
    let mut sorted = keys.to_vec();
    sorted.sort_unstable_by_key(|k| k.0);
    let mut stmt =
        conn.prepare_cached("DELETE FROM audience_members WHERE key = ?1 AND funnel_id = ?2")?;
    let mut n = 0;
    for k in sorted {
        n += stmt.execute(params![to_sql(k), funnel.0])? as u64;
    }
    Ok(n)
}

impl Store {
    /// The secret user keys are hashed with: made once per store, on first
    /// use, and kept, so that keys stay valid across restarts.
    pub fn audience_secret(&self) -> Result<[u8; 16], StoreError> {
        self.write(|tx| secret_in(tx))
    }

    /// Merges every staged upload row into the members (see the module's
    /// header); returns how many rows moved. Uploads call it once per job,
    /// and opening the store calls it for the rows a crash left staged.
    ///
    /// The upsert runs as a transaction of its own and the staged rows are
    /// deleted in a second one. Inside a larger transaction SQLite would
    /// keep a statement journal for the upsert, a copy of every page it
    /// changes, and the merge changes nearly every leaf of the members
    /// table. A crash between the two leaves the rows staged and merged,
    /// and merging them again on open changes nothing: the connection is
    /// held across both, so no other write comes between them.
    pub fn merge_staged_members(&self) -> Result<u64, StoreError> {
        let conn = self.lock();
        if !any_staged(&conn)? {
            return Ok(0);
        }
        let moved = move_staged(&conn)?;
        conn.execute("DELETE FROM audience_staged", [])?;
        Ok(moved)
    }

    /// Streams every live member, in ascending key order, through `f`.
    pub fn load_audience<R>(
        &self,
        now: u32,
        f: impl FnOnce(&mut dyn Iterator<Item = (UserKey, Entry)>) -> R,
    ) -> Result<R, StoreError> {
        self.write(|tx| {
            merge_staged(tx)?;
            let mut stmt = tx.prepare(
                "SELECT key, funnel_id, stage, updated_at, expires_at FROM audience_members
                 WHERE expires_at = 0 OR expires_at > ?1 ORDER BY key",
            )?;
            let mut failed = None;
            let rows = stmt.query_map([now], |r| {
                Ok((
                    from_sql(r.get(0)?),
                    Entry {
                        funnel: FunnelId(r.get(1)?),
                        stage: Stage::ALL[r.get::<_, usize>(2)?.min(5)],
                        updated: r.get(3)?,
                        expires: r.get(4)?,
                    },
                ))
            })?;
            let mut rows = rows.map_while(|r| match r {
                Ok(row) => Some(row),
                Err(e) => {
                    failed = Some(e);
                    None
                }
            });
            let out = f(&mut rows);
            drop(rows);
            match failed {
                Some(e) => Err(StoreError::Sqlite(e)),
                None => Ok(out),
            }
        })
    }

    /// Deletes members expired at `now`; returns how many.
    pub fn delete_expired_members(&self, now: u32) -> Result<u64, StoreError> {
        self.write(|tx| {
            merge_staged(tx)?;
            Ok(tx.execute(
                "DELETE FROM audience_members WHERE expires_at != 0 AND expires_at <= ?1",
                [now],
            )? as u64)
        })
    }

    /// Puts one user in `funnel` at `m.stage`.
    pub fn put_member(&self, funnel: FunnelId, m: &Member) -> Result<(), StoreError> {
        self.write(|tx| upsert_members(tx, funnel, JobId(0), std::slice::from_ref(m)))
    }

    /// Puts each `(funnel, member)` in place, all in one transaction.
    pub fn put_members(&self, members: &[(FunnelId, Member)]) -> Result<(), StoreError> {
        self.write(|tx| {
            for (funnel, m) in members {
                upsert_members(tx, *funnel, JobId(0), std::slice::from_ref(m))?;
            }
            Ok(())
        })
    }

    /// Takes one user out of `funnel`; false if it was not a member.
    pub fn delete_member(&self, funnel: FunnelId, key: UserKey) -> Result<bool, StoreError> {
        self.write(|tx| Ok(delete_members(tx, funnel, &[key])? > 0))
    }

    /// One user's membership of `funnel`. Merges staged rows first, so a
    /// read during an upload costs that merge.
    pub fn member(&self, funnel: FunnelId, key: UserKey) -> Result<Option<Member>, StoreError> {
        self.write(|tx| {
            merge_staged(tx)?;
            Ok(tx
                .query_row(
                    "SELECT stage, updated_at, expires_at FROM audience_members
                     WHERE key = ?1 AND funnel_id = ?2",
                    params![to_sql(key), funnel.0],
                    |r| {
                        Ok(Member {
                            key,
                            stage: Stage::ALL[r.get::<_, usize>(0)?.min(5)],
                            updated: r.get(1)?,
                            expires: r.get(2)?,
                        })
                    },
                )
                .optional()?)
        })
    }

    /// Starts a job on `funnel`.
    pub fn create_job(
        &self,
        funnel: FunnelId,
        advertiser: AdvertiserId,
        mode: UploadMode,
    ) -> Result<Job, StoreError> {
        self.write(|tx| {
            let now = UnixTime::now().0;
            tx.execute(
                "INSERT INTO jobs (funnel_id, advertiser_id, mode, status, created_at, updated_at)
                 VALUES (?1, ?2, ?3, 'running', ?4, ?4)",
                params![funnel.0, advertiser.0, mode.as_str(), now],
            )?;
            get_job(tx, JobId(tx.last_insert_rowid()))?.ok_or(StoreError::NotFound)
        })
    }

    /// Commits one chunk of job `job`: `upserts` (staged, see the module's
    /// header) and `removals` of its funnel and the job's progress,
    /// together. Returns how many of `removals` were members.
    pub fn write_chunk(
        &self,
        job: &Job,
        upserts: &[Member],
        removals: &[UserKey],
        progress: &ChunkProgress,
    ) -> Result<u64, StoreError> {
        self.write(|tx| {
            stage_members(tx, job.funnel_id, job.id, upserts)?;
            let removed = delete_members(tx, job.funnel_id, removals)?;
            let kept: String = tx.query_row(
                "SELECT rejections FROM jobs WHERE id = ?1",
                [job.id.0],
                |r| r.get(0),
            )?;
            let mut rejections: Vec<Rejection> = from_json("jobs.rejections", &kept)?;
            let room = MAX_REJECTIONS_KEPT.saturating_sub(rejections.len());
            rejections.extend(progress.rejections.iter().take(room).cloned());
            tx.execute(
                "UPDATE jobs SET rows_read = rows_read + ?1, rows_accepted = rows_accepted + ?2,
                     rows_rejected = rows_rejected + ?3, rows_removed = rows_removed + ?4,
                     last_line = ?5, rejections = ?6, updated_at = ?7
                 WHERE id = ?8",
                params![
                    progress.rows_read as i64,
                    (upserts.len() + removals.len()) as i64,
                    progress.rows_rejected as i64,
                    removed as i64,
                    progress.last_line as i64,
                    to_json("jobs.rejections", &rejections)?,
                    UnixTime::now().0,
                    job.id.0
                ],
            )?;
            Ok(removed)
        })
    }

    /// Ends job `job` with `status`, merging the rows it staged. For a
    /// completed `replace`, also deletes every member of the funnel the job
    /// did not write and returns their keys (in the same transaction, so
    /// the funnel is never half replaced in the store).
    pub fn finish_job(
        &self,
        job: &Job,
        status: JobStatus,
        message: Option<&str>,
    ) -> Result<(Job, Vec<UserKey>), StoreError> {
        self.write(|tx| {
            merge_staged(tx)?;
            let mut stale = Vec::new();
            if status == JobStatus::Completed && job.mode == UploadMode::Replace {
                let mut stmt = tx.prepare(
                    "DELETE FROM audience_members WHERE funnel_id = ?1 AND job_id != ?2
                     RETURNING key",
                )?;
                let keys = stmt.query_map(params![job.funnel_id.0, job.id.0], |r| r.get(0))?;
                for k in keys {
                    stale.push(from_sql(k?));
                }
            }
            let now = UnixTime::now().0;
            tx.execute(
                "UPDATE jobs SET status = ?1, message = ?2, rows_removed = rows_removed + ?3,
                     updated_at = ?4, finished_at = ?4
                 WHERE id = ?5",
                params![status.as_str(), message, stale.len() as i64, now, job.id.0],
            )?;
            Ok((get_job(tx, job.id)?.ok_or(StoreError::NotFound)?, stale))
        })
    }

    /// One job, if it exists.
    pub fn job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        self.read(|tx| get_job(tx, id))
    }

    /// One page of the jobs `scope` allows (of one funnel, when given),
    /// newest first is not kept: by id, like every list.
    pub fn list_jobs(
        &self,
        scope: Scope<'_>,
        funnel: Option<FunnelId>,
        page: Page,
    ) -> Result<Vec<Job>, StoreError> {
        let (all, ids) = scope.params();
        self.read(|tx| {
            let mut stmt = tx.prepare(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs
                 WHERE id > ?1 AND (?2 = 1 OR advertiser_id IN (SELECT value FROM json_each(?3)))
                   AND (?4 IS NULL OR funnel_id = ?4)
                 ORDER BY id LIMIT ?5"
            ))?;
            let rows = stmt.query_map(
                params![page.after, all, ids, funnel.map(|f| f.0), page.limit],
                job_from_row,
            )?;
            rows.map(|r| decode_job(r?)).collect()
        })
    }

    /// Marks jobs that were running when the server stopped as
    /// interrupted; returns how many.
    pub fn interrupt_running_jobs(&self) -> Result<u64, StoreError> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE jobs SET status = 'interrupted',
                     message = 'the server stopped during the upload; rows up to last_line are applied, none after',
                     finished_at = updated_at
                 WHERE status = 'running'",
                [],
            )? as u64)
        })
    }
}

#[cfg(test)]
impl Store {
    /// An advertiser with one funnel, for tests of what hangs off funnels.
    pub(crate) fn test_funnel(&self) -> (AdvertiserId, FunnelId) {
        use crate::model::{Advertiser, Funnel, StageNames};
        let a = self
            .create_advertiser(&Advertiser {
                id: AdvertiserId(0),
                name: "A".into(),
                domain: "a.example".into(),
                frequency: Default::default(),
                time_zone: "UTC".into(),
                version: 0,
                created_at: UnixTime(0),
                updated_at: UnixTime(0),
            })
            .unwrap();
        let f = self
            .create_funnel(&Funnel {
                id: FunnelId(0),
                advertiser_id: a.id,
                name: "F".into(),
                stage_names: StageNames::default(),
                moves: Default::default(),
                version: 0,
                created_at: UnixTime(0),
                updated_at: UnixTime(0),
            })
            .unwrap();
        (a.id, f.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store opened in `dir` with a funnel and one upload chunk of
    /// `members` staged, not yet merged.
    fn staged_in_a_new_store(dir: &std::path::Path, members: &[Member]) -> (Store, FunnelId) {
        let store = Store::open(dir).unwrap();
        let (a, f) = store.test_funnel();
        let job = store.create_job(f, a, UploadMode::Add).unwrap();
        store
            .write_chunk(&job, members, &[], &ChunkProgress::default())
            .unwrap();
        (store, f)
    }

    fn store_with_funnel() -> (Store, FunnelId, AdvertiserId) {
        let store = Store::open_in_memory().unwrap();
        let (a, f) = store.test_funnel();
        (store, f, a)
    }

    fn member(k: u64, stage: Stage) -> Member {
        Member {
            key: UserKey(k),
            stage,
            updated: 10,
            expires: 0,
        }
    }

    #[test]
    fn members_load_in_unsigned_key_order_without_expired_ones() {
        let (store, f, _) = store_with_funnel();
        for k in [u64::MAX, 1, 1 << 63, (1 << 63) - 1] {
            store.put_member(f, &member(k, Stage::Intent)).unwrap();
        }
        store
            .put_member(
                f,
                &Member {
                    expires: 50,
                    ..member(7, Stage::Loyal)
                },
            )
            .unwrap();
        let keys: Vec<u64> = store
            .load_audience(60, |rows| rows.map(|(k, _)| k.0).collect())
            .unwrap();
        assert_eq!(keys, vec![1, (1 << 63) - 1, 1 << 63, u64::MAX]);
        assert_eq!(store.delete_expired_members(60).unwrap(), 1);
    }

    #[test]
    fn a_chunk_and_its_progress_commit_together() {
        let (store, f, a) = store_with_funnel();
        let job = store.create_job(f, a, UploadMode::Add).unwrap();
        let progress = ChunkProgress {
            rows_read: 3,
            rows_rejected: 1,
            rejections: vec![Rejection {
                line: 2,
                reason: "bad".into(),
            }],
            last_line: 3,
        };
        store
            .write_chunk(
                &job,
                &[member(1, Stage::Intent), member(2, Stage::Customer)],
                &[],
                &progress,
            )
            .unwrap();
        let j = store.job(job.id).unwrap().unwrap();
        assert_eq!(
            (j.rows_read, j.rows_accepted, j.rows_rejected, j.last_line),
            (3, 2, 1, 3)
        );
        assert_eq!(j.rejections, progress.rejections);
        assert_eq!(
            store.member(f, UserKey(2)).unwrap().unwrap().stage,
            Stage::Customer
        );
    }

    #[test]
    fn of_two_rows_for_one_member_in_a_chunk_the_later_wins() {
        let (store, f, a) = store_with_funnel();
        let job = store.create_job(f, a, UploadMode::Add).unwrap();
        let rows = [
            member(9, Stage::Intent),
            member(u64::MAX, Stage::Intent),
            member(3, Stage::Awareness),
            member(9, Stage::Loyal),
            member(u64::MAX, Stage::Customer),
        ];
        store
            .write_chunk(&job, &rows, &[], &ChunkProgress::default())
            .unwrap();
        let stage = |k| store.member(f, UserKey(k)).unwrap().unwrap().stage;
        assert_eq!(stage(9), Stage::Loyal);
        assert_eq!(stage(u64::MAX), Stage::Customer);
        assert_eq!(stage(3), Stage::Awareness);
        let removed = store
            .write_chunk(
                &job,
                &[],
                &[UserKey(9), UserKey(3), UserKey(9), UserKey(4)],
                &ChunkProgress::default(),
            )
            .unwrap();
        assert_eq!(removed, 2);
    }

    #[test]
    fn staged_rows_and_direct_writes_keep_their_order_so_the_later_wins() {
        let (store, f, a) = store_with_funnel();
        let job = store.create_job(f, a, UploadMode::Add).unwrap();
        let chunk = |rows: &[Member]| {
            store
                .write_chunk(&job, rows, &[], &ChunkProgress::default())
                .unwrap()
        };
        chunk(&[member(1, Stage::Intent), member(2, Stage::Intent)]);
        chunk(&[member(1, Stage::Loyal)]);
        // A direct write after staged rows comes after them.
        store.put_member(f, &member(2, Stage::Customer)).unwrap();
        // A staged row after a direct write comes after it.
        store.put_member(f, &member(3, Stage::Customer)).unwrap();
        chunk(&[member(3, Stage::Awareness)]);
        assert_eq!(store.merge_staged_members().unwrap(), 1);
        assert_eq!(store.merge_staged_members().unwrap(), 0);
        let stage = |k| store.member(f, UserKey(k)).unwrap().unwrap().stage;
        assert_eq!(
            [stage(1), stage(2), stage(3)],
            [Stage::Loyal, Stage::Customer, Stage::Awareness]
        );
    }

    #[test]
    fn a_member_read_sees_rows_still_staged() {
        let (store, f, a) = store_with_funnel();
        let job = store.create_job(f, a, UploadMode::Add).unwrap();
        store
            .write_chunk(
                &job,
                &[member(5, Stage::Intent), member(5, Stage::Loyal)],
                &[],
                &ChunkProgress::default(),
            )
            .unwrap();
        assert_eq!(
            store.member(f, UserKey(5)).unwrap().unwrap().stage,
            Stage::Loyal
        );
        let keys: Vec<u64> = store
            .load_audience(0, |rows| rows.map(|(k, _)| k.0).collect())
            .unwrap();
        assert_eq!(keys, vec![5]);
    }

    #[test]
    fn rows_staged_before_a_crash_are_merged_when_the_store_opens() {
        let dir = tempfile::tempdir().unwrap();
        let staged = |dir: &std::path::Path| -> i64 {
            Connection::open(dir.join(crate::store::DB_FILE))
                .unwrap()
                .query_row("SELECT count(*) FROM audience_staged", [], |r| r.get(0))
                .unwrap()
        };
        // The process ends between the chunk and the merge.
        let (_, f) = staged_in_a_new_store(
            dir.path(),
            &[member(7, Stage::Intent), member(8, Stage::Customer)],
        );
        assert_eq!(staged(dir.path()), 2);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(staged(dir.path()), 0);
        let rows: i64 = store
            .read(|tx| {
                Ok(tx.query_row(
                    "SELECT count(*) FROM audience_members WHERE funnel_id = ?1",
                    [f.0],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(rows, 2);
    }

    #[test]
    fn a_merge_cut_off_before_the_staged_rows_go_is_merged_again_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let f = {
            let (store, f) = staged_in_a_new_store(
                dir.path(),
                &[member(7, Stage::Intent), member(7, Stage::Loyal)],
            );
            // The upsert of a merge commits; the process ends before the
            // staged rows are deleted.
            assert_eq!(move_staged(&store.lock()).unwrap(), 2);
            f
        };
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.merge_staged_members().unwrap(), 0);
        assert_eq!(
            store.member(f, UserKey(7)).unwrap().unwrap().stage,
            Stage::Loyal
        );
    }

    #[test]
    fn a_completed_replace_removes_exactly_the_members_it_did_not_write() {
        let (store, f, a) = store_with_funnel();
        store.put_member(f, &member(1, Stage::Intent)).unwrap();
        store.put_member(f, &member(2, Stage::Intent)).unwrap();
        let job = store.create_job(f, a, UploadMode::Replace).unwrap();
        store
            .write_chunk(
                &job,
                &[member(2, Stage::Loyal), member(3, Stage::Awareness)],
                &[],
                &ChunkProgress::default(),
            )
            .unwrap();
        let (done, stale) = store.finish_job(&job, JobStatus::Completed, None).unwrap();
        assert_eq!(stale, vec![UserKey(1)]);
        assert_eq!(done.rows_removed, 1);
        assert_eq!(done.status, JobStatus::Completed);
        assert!(store.member(f, UserKey(1)).unwrap().is_none());
        assert!(store.member(f, UserKey(3)).unwrap().is_some());
    }

    #[test]
    fn running_jobs_are_marked_interrupted_and_keep_their_progress() {
        let (store, f, a) = store_with_funnel();
        let job = store.create_job(f, a, UploadMode::Add).unwrap();
        store
            .write_chunk(
                &job,
                &[member(1, Stage::Intent)],
                &[],
                &ChunkProgress {
                    rows_read: 1,
                    last_line: 1,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(store.interrupt_running_jobs().unwrap(), 1);
        let j = store.job(job.id).unwrap().unwrap();
        assert_eq!(j.status, JobStatus::Interrupted);
        assert_eq!((j.rows_accepted, j.last_line), (1, 1));
    }

    #[test]
    fn the_secret_is_made_once_and_kept() {
        let (store, _, _) = store_with_funnel();
        assert_eq!(
            store.audience_secret().unwrap(),
            store.audience_secret().unwrap()
        );
    }
}
