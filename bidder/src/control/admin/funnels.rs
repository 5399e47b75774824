//! `/api/v1/funnels`: admins and buyers (for granted advertisers) create,
//! rename and delete funnels and move single users; advertiser tokens read
//! their own. Lists and reads show member counts per stage.
//!
//! Bulk uploads are streamed by the server (`routes.rs`) after
//! [`Admin::start_upload`] has checked access and opened the job.

use audiences::table::FunnelId;
use audiences::upload::Format;
use http::{HeaderMap, Response, StatusCode};
use serde::Deserialize;

use super::Admin;
use super::request::{
    created, delete_body, json, named_version, no_content, parse_json, parse_query,
};
use crate::control::auth::{self, Principal};
use crate::control::service::{FunnelDraft, MemberMove, UserRef};
use crate::control::uploads::UploadOptions;
use crate::error::{ApiError, Body, FieldError};
use crate::model::{AdvertiserId, FunnelMoves, Job, JobId, StageNames, UploadMode};

/// A funnel to create or rename.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FunnelInput {
    advertiser_id: AdvertiserId,
    name: String,
    #[serde(default)]
    stage_names: Option<[String; 6]>,
    #[serde(default)]
    moves: FunnelMoves,
    /// The version being replaced (instead of `If-Match`).
    #[serde(default)]
    version: Option<i64>,
}

impl FunnelInput {
    fn draft(&self) -> FunnelDraft {
        FunnelDraft {
            advertiser_id: self.advertiser_id,
            name: self.name.clone(),
            stage_names: self.stage_names.clone().map(StageNames),
            moves: self.moves,
        }
    }
}

/// A single user's move: `{"stage": "intent", "ttl": "30d"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberInput {
    stage: String,
    #[serde(default)]
    ttl: Option<serde_json::Value>,
}

impl From<MemberInput> for MemberMove {
    fn from(m: MemberInput) -> MemberMove {
        // A lifetime is text (`30d`) or a number of seconds.
        let ttl = match m.ttl {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s.trim().to_owned()),
            Some(other) => Some(other.to_string()),
        };
        MemberMove {
            stage: m.stage,
            ttl,
        }
    }
}

/// The user named by `key_type`/`id` path segments (percent-encoded); a
/// segment that does not decode names nothing.
fn user_of(key_type: &str, id: &str) -> Result<UserRef, ApiError> {
    Ok(UserRef {
        key_type: crate::percent_decoding::decode(key_type).ok_or(ApiError::NotFound)?,
        id: crate::percent_decoding::decode(id).ok_or(ApiError::NotFound)?,
    })
}

impl Admin {
    pub(super) fn list_funnels(
        &self,
        who: &Principal,
        query: Option<&str>,
    ) -> Result<Response<Body>, ApiError> {
        let q = parse_query(query, true)?;
        let advertiser = q.advertiser_id.map(AdvertiserId);
        let page = self.services.funnels().list(who, advertiser, q.page)?;
        json(StatusCode::OK, &page, None)
    }

    pub(super) fn get_funnel(&self, who: &Principal, id: u32) -> Result<Response<Body>, ApiError> {
        let f = self.services.funnels().get(who, FunnelId(id))?;
        json(StatusCode::OK, &f, Some(f.funnel.version))
    }

    pub(super) fn create_funnel(
        &self,
        who: &Principal,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let funnels = self.services.funnels();
        funnels.check_create(who)?;
        let input: FunnelInput = parse_json(body)?;
        let f = funnels.create(who, input.draft())?;
        created(
            &f,
            format!("/api/v1/funnels/{}", f.funnel.id.0),
            Some(f.funnel.version),
        )
    }

    pub(super) fn update_funnel(
        &self,
        who: &Principal,
        id: u32,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let (funnels, id) = (self.services.funnels(), FunnelId(id));
        funnels.check_update(who, id)?;
        let input: FunnelInput = parse_json(body)?;
        let version = named_version(headers, input.version)?;
        let f = funnels.update(who, id, input.draft(), version)?;
        json(StatusCode::OK, &f, Some(f.funnel.version))
    }

    pub(super) fn delete_funnel(
        &self,
        who: &Principal,
        id: u32,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let (funnels, id) = (self.services.funnels(), FunnelId(id));
        funnels.check_update(who, id)?;
        let input = delete_body(body)?;
        let version = named_version(headers, input.version)?;
        funnels.delete(who, id, version)?;
        Ok(no_content())
    }

    /// Checks that the caller may upload to funnel `id` and opens the job
    /// the server then streams the body into. Query: `mode` (add, remove,
    /// replace) and `format` (csv, ndjson; sniffed when absent).
    pub fn start_upload(
        &self,
        headers: &HeaderMap,
        id: u32,
        query: Option<&str>,
    ) -> Result<(Job, StageNames, UploadOptions), ApiError> {
        let who = auth::authenticate(self.services.store(), headers)?;
        let (funnels, id) = (self.services.funnels(), FunnelId(id));
        funnels.check_update(&who, id)?;
        let mut opts = UploadOptions::default();
        let mut errors = Vec::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=').unwrap_or((pair, "")) {
                ("mode", m) => match UploadMode::parse(m) {
                    Some(mode) => opts.mode = mode,
                    None => errors.push(FieldError::new("mode", "must be add, remove or replace")),
                },
                ("format", "csv") => opts.format = Some(Format::Csv),
                ("format", "ndjson") => opts.format = Some(Format::Ndjson),
                ("format", _) => errors.push(FieldError::new("format", "must be csv or ndjson")),
                (other, _) => errors.push(FieldError::new(other, "unknown query parameter")),
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::Unprocessable(errors));
        }
        let (job, names) = funnels.start_upload(&who, id, opts)?;
        Ok((job, names, opts))
    }

    pub(super) fn get_job(&self, who: &Principal, id: i64) -> Result<Response<Body>, ApiError> {
        let job = self.services.funnels().job(who, JobId(id))?;
        json(StatusCode::OK, &job, None)
    }

    pub(super) fn list_jobs(
        &self,
        who: &Principal,
        query: Option<&str>,
    ) -> Result<Response<Body>, ApiError> {
        let funnels = self.services.funnels();
        // `funnel_id` is this list's own filter; the rest is shared.
        let mut funnel = None;
        let mut rest = Vec::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("funnel_id", v)) => match v.parse::<u32>() {
                    Ok(n) => funnel = Some(funnels.check_read(who, FunnelId(n))?.id),
                    Err(_) => {
                        return Err(ApiError::Unprocessable(vec![FieldError::new(
                            "funnel_id",
                            "must be an id",
                        )]));
                    }
                },
                _ => rest.push(pair),
            }
        }
        let q = parse_query(Some(&rest.join("&")), false)?;
        json(StatusCode::OK, &funnels.jobs(who, funnel, q.page)?, None)
    }

    pub(super) fn put_member(
        &self,
        who: &Principal,
        funnel: u32,
        key_type: &str,
        id: &str,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        let (funnels, funnel) = (self.services.funnels(), FunnelId(funnel));
        funnels.check_update(who, funnel)?;
        let user = user_of(key_type, id)?;
        funnels.user_key(&user)?;
        let input: MemberInput = parse_json(body)?;
        let m = funnels.put_member(who, funnel, &user, &input.into())?;
        json(StatusCode::OK, &m, None)
    }

    pub(super) fn get_member(
        &self,
        who: &Principal,
        funnel: u32,
        key_type: &str,
        id: &str,
    ) -> Result<Response<Body>, ApiError> {
        let (funnels, funnel) = (self.services.funnels(), FunnelId(funnel));
        funnels.check_read(who, funnel)?;
        let user = user_of(key_type, id)?;
        let m = funnels.member(who, funnel, &user)?;
        json(StatusCode::OK, &m, None)
    }

    pub(super) fn delete_member(
        &self,
        who: &Principal,
        funnel: u32,
        key_type: &str,
        id: &str,
    ) -> Result<Response<Body>, ApiError> {
        let (funnels, funnel) = (self.services.funnels(), FunnelId(funnel));
        funnels.check_update(who, funnel)?;
        let user = user_of(key_type, id)?;
        funnels.delete_member(who, funnel, &user)?;
        Ok(no_content())
    }
}
