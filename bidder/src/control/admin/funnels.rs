//! `/api/v1/funnels`: admins and buyers (for granted advertisers) create,
//! rename and delete funnels and move single users; advertiser tokens read
//! their own. Lists and reads show member counts per stage, taken from the
//! audience table the bid path reads.
//!
//! Bulk uploads are streamed by the server (`routes.rs`) after
//! [`Admin::start_upload`] has checked access and opened the job.

use audiences::keys::KeyType;
use audiences::table::FunnelId;
use audiences::upload::Format;
use http::{HeaderMap, Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::advertisers::{delete_body, scope};
use super::request::{
    created, expected_version, json, lookahead, no_content, page_of, parse_json, parse_query,
};
use super::{Admin, manages_campaigns, require};
use crate::control::auth::Principal;
use crate::control::uploads::UploadOptions;
use crate::error::{ApiError, Body, FieldError};
use crate::model::{AdvertiserId, Funnel, FunnelMoves, Job, StageNames, UnixTime, UploadMode};
use crate::store::Member;

/// A funnel to create or rename.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FunnelInput {
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

/// A single user's move: `{"stage": "intent", "ttl": "30d"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberInput {
    stage: String,
    #[serde(default)]
    ttl: Option<serde_json::Value>,
}

/// Members of one stage, in a funnel's view.
#[derive(Serialize)]
struct StageCount<'a> {
    stage: &'static str,
    name: &'a str,
    members: u64,
}

/// A funnel as the API shows it.
#[derive(Serialize)]
struct FunnelView<'a> {
    #[serde(flatten)]
    funnel: &'a Funnel,
    members_total: u64,
    stages: Vec<StageCount<'a>>,
}

/// A membership as the API shows it.
#[derive(Serialize)]
struct MemberView<'a> {
    funnel_id: FunnelId,
    key_type: &'a str,
    stage: &'a str,
    updated_at: i64,
    expires_at: Option<i64>,
}

fn validate(input: &FunnelInput) -> Result<StageNames, ApiError> {
    let mut errors = Vec::new();
    if input.name.trim().is_empty() || input.name.len() > 200 {
        errors.push(FieldError::new("name", "must be 1 to 200 characters"));
    }
    let names = input
        .stage_names
        .clone()
        .map(StageNames)
        .unwrap_or_default();
    for (i, n) in names.0.iter().enumerate() {
        if n.trim().is_empty() || n.len() > 60 {
            errors.push(FieldError::new(
                format!("stage_names[{i}]"),
                "must be 1 to 60 characters",
            ));
        } else if names.0[..i].iter().any(|m| m.eq_ignore_ascii_case(n)) {
            errors.push(FieldError::new(
                format!("stage_names[{i}]"),
                "repeats an earlier stage name",
            ));
        } else if n.trim().parse::<u32>().is_ok() {
            errors.push(FieldError::new(
                format!("stage_names[{i}]"),
                "must not be a number (numbers name stages by position)",
            ));
        }
    }
    if errors.is_empty() {
        Ok(names)
    } else {
        Err(ApiError::Unprocessable(errors))
    }
}

impl Admin {
    /// The funnel `id` if it exists (404) and `who` may see it (403).
    pub(super) fn visible_funnel(&self, who: &Principal, id: u32) -> Result<Funnel, ApiError> {
        let f = self.store.funnel(FunnelId(id))?.ok_or(ApiError::NotFound)?;
        require(who.is_granted(f.advertiser_id))?;
        Ok(f)
    }

    fn view<'a>(&self, f: &'a Funnel) -> FunnelView<'a> {
        let counts = self.audience.table().snapshot().counts(f.id);
        FunnelView {
            funnel: f,
            members_total: counts.iter().sum(),
            stages: audiences::Stage::ALL
                .into_iter()
                .map(|s| StageCount {
                    stage: s.as_str(),
                    name: f.stage_names.name(s),
                    members: counts[s.index()],
                })
                .collect(),
        }
    }

    pub(super) fn list_funnels(
        &self,
        who: &Principal,
        query: Option<&str>,
    ) -> Result<Response<Body>, ApiError> {
        let q = parse_query(query, true)?;
        let advertiser = q.advertiser_id.map(AdvertiserId);
        if let Some(a) = advertiser {
            require(who.is_granted(a))?;
        }
        let rows = self
            .store
            .list_funnels(scope(who), advertiser, lookahead(q.page))?;
        let views: Vec<FunnelView<'_>> = rows.iter().map(|f| self.view(f)).collect();
        json(
            StatusCode::OK,
            &page_of(views, q.page.limit, |v| i64::from(v.funnel.id.0)),
            None,
        )
    }

    pub(super) fn get_funnel(&self, who: &Principal, id: u32) -> Result<Response<Body>, ApiError> {
        let f = self.visible_funnel(who, id)?;
        json(StatusCode::OK, &self.view(&f), Some(f.version))
    }

    pub(super) fn create_funnel(
        &self,
        who: &Principal,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        require(manages_campaigns(who))?;
        let input: FunnelInput = parse_json(body)?;
        require(who.is_granted(input.advertiser_id))?;
        let stage_names = validate(&input)?;
        if self.store.advertiser(input.advertiser_id)?.is_none() {
            return Err(ApiError::Unprocessable(vec![FieldError::new(
                "advertiser_id",
                "no such advertiser",
            )]));
        }
        let f = self.store.create_funnel(&Funnel {
            id: FunnelId(0),
            advertiser_id: input.advertiser_id,
            name: input.name.trim().to_owned(),
            stage_names,
            moves: input.moves,
            version: 0,
            created_at: UnixTime(0),
            updated_at: UnixTime(0),
        })?;
        created(
            &self.view(&f),
            format!("/api/v1/funnels/{}", f.id.0),
            Some(f.version),
        )
    }

    pub(super) fn update_funnel(
        &self,
        who: &Principal,
        id: u32,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        require(manages_campaigns(who))?;
        let current = self.visible_funnel(who, id)?;
        let input: FunnelInput = parse_json(body)?;
        if input.advertiser_id != current.advertiser_id {
            return Err(ApiError::Unprocessable(vec![FieldError::new(
                "advertiser_id",
                "a funnel cannot move to another advertiser",
            )]));
        }
        let version = expected_version(headers, input.version)?;
        let stage_names = validate(&input)?;
        let f = self.store.update_funnel(&Funnel {
            name: input.name.trim().to_owned(),
            stage_names,
            moves: input.moves,
            version,
            ..current
        })?;
        json(StatusCode::OK, &self.view(&f), Some(f.version))
    }

    pub(super) fn delete_funnel(
        &self,
        who: &Principal,
        id: u32,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        require(manages_campaigns(who))?;
        let f = self.visible_funnel(who, id)?;
        let input = delete_body(body)?;
        let version = expected_version(headers, input.version)?;
        self.store.delete_funnel(f.id, version)?;
        self.audience.apply(&[f.id], &[]);
        Ok(no_content())
    }

    /// Checks that `who` may upload to funnel `id` and opens the job the
    /// server then streams the body into. Query: `mode` (add, remove,
    /// replace) and `format` (csv, ndjson; sniffed when absent).
    pub fn start_upload(
        &self,
        headers: &HeaderMap,
        id: u32,
        query: Option<&str>,
    ) -> Result<(Job, StageNames, UploadOptions), ApiError> {
        let who = crate::control::auth::authenticate(&self.store, headers)?;
        require(manages_campaigns(&who))?;
        let f = self.visible_funnel(&who, id)?;
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
        let job = self.store.create_job(f.id, f.advertiser_id, opts.mode)?;
        Ok((job, f.stage_names, opts))
    }

    pub(super) fn get_job(&self, who: &Principal, id: i64) -> Result<Response<Body>, ApiError> {
        let job = self
            .store
            .job(crate::model::JobId(id))?
            .ok_or(ApiError::NotFound)?;
        require(who.is_granted(job.advertiser_id))?;
        json(StatusCode::OK, &job, None)
    }

    pub(super) fn list_jobs(
        &self,
        who: &Principal,
        query: Option<&str>,
    ) -> Result<Response<Body>, ApiError> {
        // `funnel_id` is this list's own filter; the rest is shared.
        let mut funnel = None;
        let mut rest = Vec::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("funnel_id", v)) => match v.parse::<u32>() {
                    Ok(n) => funnel = Some(self.visible_funnel(who, n)?.id),
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
        let rows = self
            .store
            .list_jobs(scope(who), funnel, lookahead(q.page))?;
        json(
            StatusCode::OK,
            &page_of(rows, q.page.limit, |j| j.id.0),
            None,
        )
    }

    /// The member key of `key_type`/`id` path segments (percent-encoded).
    fn member_key(
        &self,
        key_type: &str,
        id: &str,
    ) -> Result<(audiences::keys::UserKey, String), ApiError> {
        let key_type = crate::percent_decoding::decode(key_type).ok_or(ApiError::NotFound)?;
        let id = crate::percent_decoding::decode(id).ok_or(ApiError::NotFound)?;
        Ok((self.key_of(&key_type, &id)?, key_type))
    }

    /// The user key of `id` of `key_type` (`buyeruid`, `user_id`, `ifa`,
    /// `eid:<source>`).
    pub(super) fn key_of(
        &self,
        key_type: &str,
        id: &str,
    ) -> Result<audiences::keys::UserKey, ApiError> {
        let (name, source) = key_type.split_once(':').unwrap_or((key_type, ""));
        let kind = KeyType::parse(name).ok_or_else(|| {
            ApiError::Unprocessable(vec![FieldError::new(
                "key_type",
                "must be buyeruid, user_id, ifa or eid:<source>",
            )])
        })?;
        if (kind == KeyType::Eid) == source.is_empty() {
            return Err(ApiError::Unprocessable(vec![FieldError::new(
                "key_type",
                "eid needs a source (eid:<source>); other types take none",
            )]));
        }
        self.audience.hasher().key(kind, source, id).ok_or_else(|| {
            ApiError::Unprocessable(vec![FieldError::new("id", "identifies nobody")])
        })
    }

    pub(super) fn put_member(
        &self,
        who: &Principal,
        funnel: u32,
        key_type: &str,
        id: &str,
        body: &[u8],
    ) -> Result<Response<Body>, ApiError> {
        require(manages_campaigns(who))?;
        let f = self.visible_funnel(who, funnel)?;
        let (key, key_type) = self.member_key(key_type, id)?;
        let input: MemberInput = parse_json(body)?;
        let stage = f.stage_names.parse(&input.stage).ok_or_else(|| {
            ApiError::Unprocessable(vec![FieldError::new(
                "stage",
                format!(
                    "unknown stage (this funnel's stages: {})",
                    f.stage_names.0.join(", ")
                ),
            )])
        })?;
        let ttl = match &input.ttl {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => {
                let text = match v {
                    serde_json::Value::String(s) => s.trim().to_owned(),
                    other => other.to_string(),
                };
                audiences::upload::parse_ttl(&text).map_err(|e| {
                    ApiError::Unprocessable(vec![FieldError::new("ttl", e.to_string())])
                })?
            }
        };
        let now = self.clock.now_secs();
        let m = Member {
            key,
            stage,
            updated: now,
            expires: ttl.map_or(0, |t| now.saturating_add(t)),
        };
        self.audience.put_member(f.id, &m)?;
        json(
            StatusCode::OK,
            &member_view(f.id, &key_type, &f.stage_names, &m),
            None,
        )
    }

    pub(super) fn get_member(
        &self,
        who: &Principal,
        funnel: u32,
        key_type: &str,
        id: &str,
    ) -> Result<Response<Body>, ApiError> {
        let f = self.visible_funnel(who, funnel)?;
        let (key, key_type) = self.member_key(key_type, id)?;
        let m = self
            .store
            .member(f.id, key)?
            .filter(|m| m.expires == 0 || m.expires > self.clock.now_secs())
            .ok_or(ApiError::NotFound)?;
        json(
            StatusCode::OK,
            &member_view(f.id, &key_type, &f.stage_names, &m),
            None,
        )
    }

    pub(super) fn delete_member(
        &self,
        who: &Principal,
        funnel: u32,
        key_type: &str,
        id: &str,
    ) -> Result<Response<Body>, ApiError> {
        require(manages_campaigns(who))?;
        let f = self.visible_funnel(who, funnel)?;
        let (key, _) = self.member_key(key_type, id)?;
        if self.audience.delete_member(f.id, key)? {
            Ok(no_content())
        } else {
            Err(ApiError::NotFound)
        }
    }
}

fn member_view<'a>(
    funnel: FunnelId,
    key_type: &'a str,
    names: &'a StageNames,
    m: &Member,
) -> MemberView<'a> {
    MemberView {
        funnel_id: funnel,
        key_type,
        stage: names.name(m.stage),
        updated_at: i64::from(m.updated),
        expires_at: (m.expires != 0).then_some(i64::from(m.expires)),
    }
}
