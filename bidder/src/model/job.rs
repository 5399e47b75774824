//! An audience upload job: what it was asked to do and how far it got.
//! Its progress is written in the same transaction as the rows it counts,
//! so after a crash the job says exactly which rows were applied.

use audiences::table::FunnelId;
use serde::{Deserialize, Serialize};

use super::{AdvertiserId, UnixTime};

/// Store-assigned job id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub i64);

/// What an upload does with its rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadMode {
    /// Add the users, or move them to the row's stage.
    #[default]
    Add,
    /// Take the users out of the funnel.
    Remove,
    /// The file is the whole funnel: add its users, then remove everyone
    /// the file did not name.
    Replace,
}

impl UploadMode {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            UploadMode::Add => "add",
            UploadMode::Remove => "remove",
            UploadMode::Replace => "replace",
        }
    }

    /// Parses [`UploadMode::as_str`] names.
    pub fn parse(s: &str) -> Option<UploadMode> {
        Some(match s {
            "add" => UploadMode::Add,
            "remove" => UploadMode::Remove,
            "replace" => UploadMode::Replace,
            _ => return None,
        })
    }
}

/// Where a job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Reading rows.
    Running,
    /// Every row was read; the accepted ones are applied.
    Completed,
    /// Stopped by an error (the upload broke off, the body was not valid
    /// gzip); the rows counted as accepted are applied.
    Failed,
    /// The server stopped while it ran; the rows counted as accepted (up to
    /// `last_line`) are applied, none after.
    Interrupted,
}

impl JobStatus {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Interrupted => "interrupted",
        }
    }

    /// Parses [`JobStatus::as_str`] names.
    pub fn parse(s: &str) -> Option<JobStatus> {
        Some(match s {
            "running" => JobStatus::Running,
            "completed" => JobStatus::Completed,
            "failed" => JobStatus::Failed,
            "interrupted" => JobStatus::Interrupted,
            _ => return None,
        })
    }
}

/// A row the job did not apply, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// 1-based line number in the (decompressed) file.
    pub line: u64,
    /// What was wrong with it.
    pub reason: String,
}

/// An upload job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Id.
    pub id: JobId,
    /// The funnel it writes.
    pub funnel_id: FunnelId,
    /// The funnel's advertiser (for access checks).
    pub advertiser_id: AdvertiserId,
    /// What it does with its rows.
    pub mode: UploadMode,
    /// Where it is.
    pub status: JobStatus,
    /// Data rows read (a CSV header line is not one).
    pub rows_read: u64,
    /// Rows applied: in the store and in the bid path's table.
    pub rows_accepted: u64,
    /// Rows refused (see `rejections`).
    pub rows_rejected: u64,
    /// Members removed: by `remove` rows, or by `replace` at the end.
    pub rows_removed: u64,
    /// Last line whose row is applied (or refused): everything up to here
    /// is accounted for.
    pub last_line: u64,
    /// The first refused rows, with line numbers and reasons.
    pub rejections: Vec<Rejection>,
    /// Why it failed or was interrupted.
    pub message: Option<String>,
    /// Start.
    pub created_at: UnixTime,
    /// Last progress.
    pub updated_at: UnixTime,
    /// End, once it is not running.
    pub finished_at: Option<UnixTime>,
}
