//! Upload jobs: a CSV or NDJSON file of members, optionally gzipped, read
//! as a stream and applied in chunks.
//!
//! Never holds the file: it reads one line at a time (at most
//! [`MAX_LINE_BYTES`]) and keeps one chunk of hashed rows. Each chunk is
//! committed to the store together with the job's progress, so the job
//! never reports a row that is not durable (the store stages the rows and
//! merges them once per `MERGE_ROWS` and at the job's end; see
//! `store/audience.rs`). Committed rows are applied to
//! the in-memory table [`APPLY_ROWS`] at a time, and every committed row
//! is applied before the job's answer, whether it completed, failed or
//! the store broke: an application rewrites every shard the rows touch,
//! and hashed keys touch them all, so applying each chunk on its own
//! would make a chunk cost a copy of the whole table.
//! A `replace` removes the members it did not name only once the whole
//! file is read; until then the old members keep serving.

use std::io::{BufRead, BufReader, Read};

use audiences::keys::UserKey;
use audiences::table::Change;
use audiences::upload::{Format, parse_line};
use flate2::read::MultiGzDecoder;

use crate::model::{Job, JobStatus, Rejection, StageNames, UploadMode};
use crate::state::audience::{Audiences, entry};
use crate::store::{ChunkProgress, MAX_REJECTIONS_KEPT, Member, Store, StoreError};

/// Rows per committed chunk: large enough that a commit's fsync is cheap
/// per row, small enough that progress moves every fraction of a second.
const CHUNK_ROWS: usize = 50_000;

/// Committed rows applied to the in-memory table at once (ten chunks): one
/// application costs a copy of the table, so the table's size per applied
/// row stays small as the funnel grows to ten million members, and the
/// rows held meanwhile stay a few megabytes.
pub const APPLY_ROWS: usize = 10 * CHUNK_ROWS;

/// Committed rows the store keeps staged before merging them into its
/// members table mid-job (it also merges at the job's end): a merge visits
/// every leaf of the table its keys fall in, so it is worth doing for
/// many rows at once, and this bounds the staged rows a crash leaves to
/// merge at start.
const MERGE_ROWS: usize = 40 * CHUNK_ROWS;

/// The longest line accepted; longer ones are refused and skipped.
pub const MAX_LINE_BYTES: usize = 8 * 1024;

/// How to read an upload.
#[derive(Debug, Clone, Copy, Default)]
pub struct UploadOptions {
    /// What to do with the rows.
    pub mode: UploadMode,
    /// The format; `None` = NDJSON if the first byte opens an object.
    pub format: Option<Format>,
}

/// Where an upload job writes: the store it commits each chunk to, and the
/// audiences that make each committed chunk visible.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    /// The store.
    pub store: &'a Store,
    /// The audiences.
    pub audience: &'a dyn Audiences,
}

/// Runs `job` over `body` to the end and returns the finished job. Errors
/// only when the store fails; a broken upload (read error, bad gzip) ends
/// the job as `failed` with the rows before it applied.
pub fn run_upload(
    aud: Target<'_>,
    job: &Job,
    names: &StageNames,
    opts: UploadOptions,
    body: impl Read,
) -> Result<Job, StoreError> {
    let mut chunk = Chunk::default();
    let read = read_upload(aud, job, names, opts, body, &mut chunk);
    // Whatever ended the reading, the rows committed before it are durable
    // and must serve.
    chunk.apply_committed(aud);
    let ended = read?;
    // The last staged rows, merged on their own rather than inside the
    // transaction that finishes the job (see `Store::merge_staged_members`).
    aud.store.merge_staged_members()?;
    match ended {
        Ended::Read => {}
        Ended::Broken(message) => return fail(aud, job, message),
    }
    let (done, stale) = aud.store.finish_job(job, JobStatus::Completed, None)?;
    for keys in stale.chunks(APPLY_ROWS) {
        let removals: Vec<Change> = keys
            .iter()
            .map(|&key| Change::Remove {
                key,
                funnel: job.funnel_id,
            })
            .collect();
        aud.audience.apply(&[], &removals);
    }
    Ok(done)
}

/// How reading an upload ended (short of a store failure).
enum Ended {
    /// At the end of the file.
    Read,
    /// The body broke off or was not valid: the job fails with this message.
    Broken(String),
}

/// Reads `body` to its end and commits every row of it to the store, in
/// chunks, through `chunk` (which keeps the committed rows the table has
/// not been given yet).
fn read_upload(
    aud: Target<'_>,
    job: &Job,
    names: &StageNames,
    opts: UploadOptions,
    body: impl Read,
    chunk: &mut Chunk,
) -> Result<Ended, StoreError> {
    let broken =
        |e: std::io::Error| Ok(Ended::Broken(format!("the upload could not be read: {e}")));
    let mut raw = BufReader::with_capacity(64 * 1024, body);
    let gzipped = match raw.fill_buf() {
        Ok(head) => head.starts_with(&[0x1f, 0x8b]),
        Err(e) => return broken(e),
    };
    let mut input: Box<dyn BufRead> = if gzipped {
        Box::new(BufReader::with_capacity(
            64 * 1024,
            MultiGzDecoder::new(raw),
        ))
    } else {
        Box::new(raw)
    };
    let format = match opts.format {
        Some(f) => f,
        None => match input.fill_buf() {
            Ok(head) => head
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .map_or(Format::Csv, |&b| Format::sniff(b)),
            Err(e) => return broken(e),
        },
    };

    let mut line = Vec::with_capacity(256);
    let mut number = 0u64;
    loop {
        let read = match read_line(&mut input, &mut line) {
            Ok(r) => r,
            Err(e) => {
                chunk.flush(aud, job)?;
                let what = if gzipped { "gzip stream" } else { "upload" };
                return Ok(Ended::Broken(format!(
                    "the {what} broke off after line {number}: {e}"
                )));
            }
        };
        let Some(too_long) = read else { break };
        number += 1;
        chunk.progress.last_line = number;
        if too_long {
            chunk.reject(number, format!("line longer than {MAX_LINE_BYTES} bytes"));
        } else {
            match std::str::from_utf8(&line) {
                Ok(text) => chunk.row(aud, names, opts.mode, format, number, text),
                Err(_) => chunk.reject(number, "not UTF-8".to_owned()),
            }
        }
        if chunk.len() >= CHUNK_ROWS {
            chunk.flush(aud, job)?;
        }
    }
    chunk.flush(aud, job)?;
    Ok(Ended::Read)
}

fn fail(aud: Target<'_>, job: &Job, message: String) -> Result<Job, StoreError> {
    Ok(aud
        .store
        .finish_job(job, JobStatus::Failed, Some(&message))?
        .0)
}

/// Reads one line into `buf` (without its end). `None` at the end of the
/// input; `Some(true)` for a line over [`MAX_LINE_BYTES`], which is skipped.
fn read_line(r: &mut dyn BufRead, buf: &mut Vec<u8>) -> std::io::Result<Option<bool>> {
    buf.clear();
    let n = r.take(MAX_LINE_BYTES as u64 + 1).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        return Ok(Some(false));
    }
    if buf.len() <= MAX_LINE_BYTES {
        return Ok(Some(false));
    }
    loop {
        let avail = r.fill_buf()?;
        if avail.is_empty() {
            break;
        }
        match avail.iter().position(|&b| b == b'\n') {
            Some(i) => {
                r.consume(i + 1);
                break;
            }
            None => {
                let n = avail.len();
                r.consume(n);
            }
        }
    }
    Ok(Some(true))
}

/// The rows read since the last commit, and the committed rows not yet
/// applied to the table.
#[derive(Default)]
struct Chunk {
    upserts: Vec<Member>,
    removals: Vec<UserKey>,
    progress: ChunkProgress,
    committed: Vec<Change>,
    /// Rows committed since the store last merged its staged rows.
    staged: usize,
}

impl Chunk {
    fn len(&self) -> usize {
        self.upserts.len() + self.removals.len()
    }

    fn reject(&mut self, line: u64, reason: String) {
        self.progress.rows_read += 1;
        self.progress.rows_rejected += 1;
        if self.progress.rejections.len() < MAX_REJECTIONS_KEPT {
            self.progress.rejections.push(Rejection { line, reason });
        }
    }

    fn row(
        &mut self,
        aud: Target<'_>,
        names: &StageNames,
        mode: UploadMode,
        format: Format,
        line: u64,
        text: &str,
    ) {
        let row = match parse_line(format, text) {
            Ok(Some(row)) => row,
            Ok(None) => return,
            Err(e) => return self.reject(line, e.to_string()),
        };
        let Some(key) = aud
            .audience
            .hasher()
            .key(row.key_type, &row.source, &row.id)
        else {
            return self.reject(line, "the id identifies nobody (all-zero IFA)".into());
        };
        if mode == UploadMode::Remove {
            self.progress.rows_read += 1;
            self.removals.push(key);
            return;
        }
        let Some(stage_text) = row.stage else {
            return self.reject(line, "stage is missing".into());
        };
        let Some(stage) = names.parse(&stage_text) else {
            return self.reject(
                line,
                format!(
                    "unknown stage {stage_text:?} (this funnel's stages: {})",
                    names.0.join(", ")
                ),
            );
        };
        let now = aud.audience.now_secs();
        self.progress.rows_read += 1;
        self.upserts.push(Member {
            key,
            stage,
            updated: now,
            expires: row.ttl.map_or(0, |t| now.saturating_add(t)),
        });
    }

    /// Commits the chunk with the job's progress and keeps its rows for
    /// the table, applying them once [`APPLY_ROWS`] are waiting; empties
    /// the chunk.
    fn flush(&mut self, aud: Target<'_>, job: &Job) -> Result<(), StoreError> {
        if self.progress == ChunkProgress::default() && self.len() == 0 {
            return Ok(());
        }
        aud.store
            .write_chunk(job, &self.upserts, &self.removals, &self.progress)?;
        self.staged += self.upserts.len();
        self.committed.extend(
            self.upserts
                .drain(..)
                .map(|m| Change::Upsert {
                    key: m.key,
                    entry: entry(job.funnel_id, &m),
                })
                .chain(self.removals.drain(..).map(|key| Change::Remove {
                    key,
                    funnel: job.funnel_id,
                })),
        );
        self.progress = ChunkProgress::default();
        if self.committed.len() >= APPLY_ROWS {
            self.apply_committed(aud);
        }
        if self.staged >= MERGE_ROWS {
            aud.store.merge_staged_members()?;
            self.staged = 0;
        }
        Ok(())
    }

    /// Applies the committed rows to the table, in commit order.
    fn apply_committed(&mut self, aud: Target<'_>) {
        if !self.committed.is_empty() {
            aud.audience.apply(&[], &self.committed);
            self.committed.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::model::UploadMode;
    use crate::state::audience::MemoryAudiences;

    fn gzip(rows: usize) -> Vec<u8> {
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for i in 0..rows {
            writeln!(z, "buyeruid,u{i},intent").unwrap();
        }
        z.finish().unwrap()
    }

    /// Runs an upload of `body` into a fresh funnel; the job, and the
    /// members per stage the table serves.
    fn upload(body: &[u8]) -> (Job, [u64; 6]) {
        let store = Store::open_in_memory().unwrap();
        let (advertiser, funnel) = store.test_funnel();
        let audience = MemoryAudiences::at(1_000);
        let job = store
            .create_job(funnel, advertiser, UploadMode::Add)
            .unwrap();
        let target = Target {
            store: &store,
            audience: &audience,
        };
        let done = run_upload(
            target,
            &job,
            &StageNames::default(),
            UploadOptions::default(),
            body,
        )
        .unwrap();
        (done, audience.table().snapshot().counts(funnel))
    }

    #[test]
    fn every_committed_row_serves_when_the_job_completes() {
        let rows = 2 * CHUNK_ROWS + 7;
        let (job, counts) = upload(&gzip(rows));
        assert_eq!(job.status, JobStatus::Completed);
        assert_eq!(job.rows_accepted, rows as u64);
        assert_eq!(counts.iter().sum::<u64>(), rows as u64);
    }

    #[test]
    fn the_rows_committed_before_a_broken_gzip_serve_when_the_job_fails() {
        let mut body = gzip(CHUNK_ROWS + CHUNK_ROWS / 2);
        body.truncate(body.len() * 9 / 10);
        let (job, counts) = upload(&body);
        assert_eq!(job.status, JobStatus::Failed, "{:?}", job.message);
        assert!(job.rows_accepted >= CHUNK_ROWS as u64, "{job:?}");
        assert_eq!(counts.iter().sum::<u64>(), job.rows_accepted);
    }
}
