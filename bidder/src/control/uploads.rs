//! Upload jobs: a CSV or NDJSON file of members, optionally gzipped, read
//! as a stream and applied in chunks.
//!
//! Never holds the file: it reads one line at a time (at most
//! [`MAX_LINE_BYTES`]) and keeps one chunk of hashed rows. Each chunk is
//! committed to the store together with the job's progress, then applied
//! to the table, so the job never reports a row that is not durable.
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
    let mut raw = BufReader::with_capacity(64 * 1024, body);
    let gzipped = match raw.fill_buf() {
        Ok(head) => head.starts_with(&[0x1f, 0x8b]),
        Err(e) => return fail(aud, job, format!("the upload could not be read: {e}")),
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
            Err(e) => return fail(aud, job, format!("the upload could not be read: {e}")),
        },
    };

    let mut chunk = Chunk::default();
    let mut line = Vec::with_capacity(256);
    let mut number = 0u64;
    loop {
        let read = match read_line(&mut input, &mut line) {
            Ok(r) => r,
            Err(e) => {
                chunk.flush(aud, job)?;
                let what = if gzipped { "gzip stream" } else { "upload" };
                return fail(
                    aud,
                    job,
                    format!("the {what} broke off after line {number}: {e}"),
                );
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
    let (done, stale) = aud.store.finish_job(job, JobStatus::Completed, None)?;
    for keys in stale.chunks(CHUNK_ROWS * 4) {
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

/// The rows read since the last commit.
#[derive(Default)]
struct Chunk {
    upserts: Vec<Member>,
    removals: Vec<UserKey>,
    progress: ChunkProgress,
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

    /// Commits the chunk with the job's progress, then applies it to the
    /// table; empties the chunk.
    fn flush(&mut self, aud: Target<'_>, job: &Job) -> Result<(), StoreError> {
        if self.progress == ChunkProgress::default() && self.len() == 0 {
            return Ok(());
        }
        aud.store
            .write_chunk(job, &self.upserts, &self.removals, &self.progress)?;
        let changes: Vec<Change> = self
            .upserts
            .iter()
            .map(|m| Change::Upsert {
                key: m.key,
                entry: entry(job.funnel_id, m),
            })
            .chain(self.removals.iter().map(|&key| Change::Remove {
                key,
                funnel: job.funnel_id,
            }))
            .collect();
        if !changes.is_empty() {
            aud.audience.apply(&[], &changes);
        }
        self.upserts.clear();
        self.removals.clear();
        self.progress = ChunkProgress::default();
        Ok(())
    }
}
