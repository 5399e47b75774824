//! Funnels, their members and upload jobs: admins and buyers (for granted
//! advertisers) create, rename and delete funnels, move single users and
//! open uploads; advertiser tokens read their own. Views carry member
//! counts per stage, taken from the audience table the bid path reads.
//!
//! Funnels are not part of the catalog: writes publish nothing; deleting
//! one tells the audiences. Never parses requests or encodes answers; the
//! upload's body is streamed by the server into `control::uploads`.

use audiences::Stage;
use audiences::keys::{KeyType, UserKey};
use audiences::table::FunnelId;
use serde::Serialize;

use super::error::all_valid;
use super::page::{ListPage, Page, lookahead, page_of};
use super::{FieldError, ServiceError, Services, expected, scope};
use crate::control::auth::{Permission, Principal};
use crate::control::uploads::UploadOptions;
use crate::model::{AdvertiserId, Funnel, FunnelMoves, Job, JobId, StageNames, UnixTime};
use crate::store::Member;

/// Longest funnel name, in bytes.
const MAX_NAME: usize = 200;
/// Longest stage name, in bytes.
const MAX_STAGE_NAME: usize = 60;

/// A funnel to create or rename.
#[derive(Debug, Clone, PartialEq)]
pub struct FunnelDraft {
    /// Owner; fixed once created.
    pub advertiser_id: AdvertiserId,
    /// Display name (trimmed when stored).
    pub name: String,
    /// The buyer's names of the six stages; `None` for the defaults.
    pub stage_names: Option<StageNames>,
    /// Where events move a user.
    pub moves: FunnelMoves,
}

/// Members of one stage, in a funnel's view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageCount {
    /// The stage.
    pub stage: Stage,
    /// The funnel's name for it.
    pub name: String,
    /// Its members now.
    pub members: u64,
}

/// A funnel with its member counts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunnelView {
    /// The funnel.
    #[serde(flatten)]
    pub funnel: Funnel,
    /// Members in all stages.
    pub members_total: u64,
    /// Members per stage, in funnel order.
    pub stages: Vec<StageCount>,
}

/// A user, named as funnel members are: a key type (`buyeruid`, `user_id`,
/// `ifa`, `eid:<source>`) and the id of that type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRef {
    /// The key type.
    pub key_type: String,
    /// The id.
    pub id: String,
}

/// A single user's move: to a stage (named as the funnel names it, or by
/// position), for a while or for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMove {
    /// The stage's name or number.
    pub stage: String,
    /// How long the membership lasts (`30d`, `12h`, seconds); `None` for
    /// good.
    pub ttl: Option<String>,
}

/// One user's place in a funnel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Membership {
    /// The funnel.
    pub funnel_id: FunnelId,
    /// The key type the user was named by.
    pub key_type: String,
    /// The stage.
    #[serde(skip)]
    pub stage: Stage,
    /// The funnel's name of that stage.
    #[serde(rename = "stage")]
    pub stage_name: String,
    /// When the user was last moved (Unix seconds).
    pub updated_at: i64,
    /// When the membership ends; `None` for never.
    pub expires_at: Option<i64>,
}

/// Every broken rule of a draft; the stage names it asks for.
fn validate(draft: &FunnelDraft) -> Result<StageNames, ServiceError> {
    let mut errors = Vec::new();
    if draft.name.trim().is_empty() || draft.name.len() > MAX_NAME {
        errors.push(FieldError::new(
            "name",
            format!("must be 1 to {MAX_NAME} characters"),
        ));
    }
    let names = draft.stage_names.clone().unwrap_or_default();
    for (i, n) in names.0.iter().enumerate() {
        if n.trim().is_empty() || n.len() > MAX_STAGE_NAME {
            errors.push(FieldError::new(
                format!("stage_names[{i}]"),
                format!("must be 1 to {MAX_STAGE_NAME} characters"),
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
    all_valid(errors)?;
    Ok(names)
}

/// A membership as shown.
fn membership(funnel: &Funnel, key_type: &str, m: &Member) -> Membership {
    Membership {
        funnel_id: funnel.id,
        key_type: key_type.to_owned(),
        stage: m.stage,
        stage_name: funnel.stage_names.name(m.stage).to_owned(),
        updated_at: i64::from(m.updated),
        expires_at: (m.expires != 0).then_some(i64::from(m.expires)),
    }
}

/// Funnels, members and upload jobs, as one caller may see and change them.
#[derive(Debug, Clone, Copy)]
pub struct Funnels<'s> {
    pub(super) s: &'s Services,
}

impl Funnels<'_> {
    /// The funnel with its member counts now.
    fn view(&self, f: Funnel) -> FunnelView {
        let counts = self.s.audience.table().snapshot().counts(f.id);
        let stages = Stage::ALL
            .into_iter()
            .map(|s| StageCount {
                stage: s,
                name: f.stage_names.name(s).to_owned(),
                members: counts[s.index()],
            })
            .collect();
        FunnelView {
            funnel: f,
            members_total: counts.iter().sum(),
            stages,
        }
    }

    /// One page of the funnels `who` may see, optionally of one advertiser.
    pub fn list(
        &self,
        who: &Principal,
        advertiser: Option<AdvertiserId>,
        page: Page,
    ) -> Result<ListPage<FunnelView>, ServiceError> {
        if let Some(a) = advertiser {
            who.require_grant(a)?;
        }
        let rows = self
            .s
            .store
            .list_funnels(scope(who), advertiser, lookahead(page))?;
        let views = rows.into_iter().map(|f| self.view(f)).collect();
        Ok(page_of(views, page.limit, |v: &FunnelView| {
            i64::from(v.funnel.id.0)
        }))
    }

    /// Whether `who` may see funnel `id`; the funnel, without counts.
    pub fn check_read(&self, who: &Principal, id: FunnelId) -> Result<Funnel, ServiceError> {
        let f = self.s.store.funnel(id)?.ok_or(ServiceError::NotFound)?;
        who.require_grant(f.advertiser_id)?;
        Ok(f)
    }

    /// Funnel `id` with its member counts.
    pub fn get(&self, who: &Principal, id: FunnelId) -> Result<FunnelView, ServiceError> {
        Ok(self.view(self.check_read(who, id)?))
    }

    /// Whether `who`'s role may create funnels (admins and buyers); the
    /// advertiser's grant is checked by [`Funnels::create`].
    pub fn check_create(&self, who: &Principal) -> Result<(), ServiceError> {
        Ok(who.require(Permission::ManageCampaigns)?)
    }

    /// Creates a funnel for an advertiser `who` acts for.
    pub fn create(&self, who: &Principal, draft: FunnelDraft) -> Result<FunnelView, ServiceError> {
        self.check_create(who)?;
        who.require_grant(draft.advertiser_id)?;
        let stage_names = validate(&draft)?;
        if self.s.store.advertiser(draft.advertiser_id)?.is_none() {
            return Err(ServiceError::invalid("advertiser_id", "no such advertiser"));
        }
        let f = self.s.store.create_funnel(&Funnel {
            id: FunnelId(0),
            advertiser_id: draft.advertiser_id,
            name: draft.name.trim().to_owned(),
            stage_names,
            moves: draft.moves,
            version: 0,
            created_at: UnixTime(0),
            updated_at: UnixTime(0),
        })?;
        Ok(self.view(f))
    }

    /// Whether `who` may change funnel `id`, delete it, move its users or
    /// upload to it; the funnel as it is.
    pub fn check_update(&self, who: &Principal, id: FunnelId) -> Result<Funnel, ServiceError> {
        who.require(Permission::ManageCampaigns)?;
        self.check_read(who, id)
    }

    /// Renames funnel `id` at version `version` (its stages and moves too);
    /// it cannot move to another advertiser.
    pub fn update(
        &self,
        who: &Principal,
        id: FunnelId,
        draft: FunnelDraft,
        version: Option<i64>,
    ) -> Result<FunnelView, ServiceError> {
        let current = self.check_update(who, id)?;
        if draft.advertiser_id != current.advertiser_id {
            return Err(ServiceError::invalid(
                "advertiser_id",
                "a funnel cannot move to another advertiser",
            ));
        }
        let version = expected(version)?;
        let stage_names = validate(&draft)?;
        let f = self.s.store.update_funnel(&Funnel {
            name: draft.name.trim().to_owned(),
            stage_names,
            moves: draft.moves,
            version,
            ..current
        })?;
        Ok(self.view(f))
    }

    /// Deletes funnel `id` at version `version` with its members, and
    /// takes them out of the table the bid path reads.
    pub fn delete(
        &self,
        who: &Principal,
        id: FunnelId,
        version: Option<i64>,
    ) -> Result<(), ServiceError> {
        let f = self.check_update(who, id)?;
        self.s.store.delete_funnel(f.id, expected(version)?)?;
        self.s.audience.apply(&[f.id], &[]);
        Ok(())
    }

    /// The key of `user`.
    pub fn user_key(&self, user: &UserRef) -> Result<UserKey, ServiceError> {
        let (name, source) = user
            .key_type
            .split_once(':')
            .unwrap_or((&user.key_type, ""));
        let kind = KeyType::parse(name).ok_or_else(|| {
            ServiceError::invalid("key_type", "must be buyeruid, user_id, ifa or eid:<source>")
        })?;
        if (kind == KeyType::Eid) == source.is_empty() {
            return Err(ServiceError::invalid(
                "key_type",
                "eid needs a source (eid:<source>); other types take none",
            ));
        }
        self.s
            .audience
            .hasher()
            .key(kind, source, &user.id)
            .ok_or_else(|| ServiceError::invalid("id", "identifies nobody"))
    }

    /// Where `user` stands in funnel `funnel`; not found when it is not
    /// a member (or its membership expired).
    pub fn member(
        &self,
        who: &Principal,
        funnel: FunnelId,
        user: &UserRef,
    ) -> Result<Membership, ServiceError> {
        let f = self.check_read(who, funnel)?;
        let key = self.user_key(user)?;
        let now = self.s.clock.now_secs();
        let m = self
            .s
            .store
            .member(f.id, key)?
            .filter(|m| m.expires == 0 || m.expires > now)
            .ok_or(ServiceError::NotFound)?;
        Ok(membership(&f, &user.key_type, &m))
    }

    /// Puts `user` at a stage of funnel `funnel`, whatever stage it was at.
    pub fn put_member(
        &self,
        who: &Principal,
        funnel: FunnelId,
        user: &UserRef,
        to: &MemberMove,
    ) -> Result<Membership, ServiceError> {
        let f = self.check_update(who, funnel)?;
        let key = self.user_key(user)?;
        let stage = f.stage_names.parse(&to.stage).ok_or_else(|| {
            ServiceError::invalid(
                "stage",
                format!(
                    "unknown stage (this funnel's stages: {})",
                    f.stage_names.0.join(", ")
                ),
            )
        })?;
        let ttl = match &to.ttl {
            None => None,
            Some(text) => audiences::upload::parse_ttl(text)
                .map_err(|e| ServiceError::invalid("ttl", e.to_string()))?,
        };
        let now = self.s.clock.now_secs();
        let m = Member {
            key,
            stage,
            updated: now,
            expires: ttl.map_or(0, |t| now.saturating_add(t)),
        };
        self.s.audience.put_member(f.id, &m)?;
        Ok(membership(&f, &user.key_type, &m))
    }

    /// Takes `user` out of funnel `funnel`; not found when it was not in it.
    pub fn delete_member(
        &self,
        who: &Principal,
        funnel: FunnelId,
        user: &UserRef,
    ) -> Result<(), ServiceError> {
        let f = self.check_update(who, funnel)?;
        let key = self.user_key(user)?;
        if self.s.audience.delete_member(f.id, key)? {
            Ok(())
        } else {
            Err(ServiceError::NotFound)
        }
    }

    /// Opens an upload job on funnel `funnel`, which the caller then runs
    /// over the uploaded rows (`control::uploads`); also the stage names
    /// the rows are read with.
    pub fn start_upload(
        &self,
        who: &Principal,
        funnel: FunnelId,
        opts: UploadOptions,
    ) -> Result<(Job, StageNames), ServiceError> {
        let f = self.check_update(who, funnel)?;
        let job = self.s.store.create_job(f.id, f.advertiser_id, opts.mode)?;
        Ok((job, f.stage_names))
    }

    /// Upload job `id`, if `who` acts for its advertiser.
    pub fn job(&self, who: &Principal, id: JobId) -> Result<Job, ServiceError> {
        let job = self.s.store.job(id)?.ok_or(ServiceError::NotFound)?;
        who.require_grant(job.advertiser_id)?;
        Ok(job)
    }

    /// One page of the upload jobs `who` may see, optionally of one funnel.
    pub fn jobs(
        &self,
        who: &Principal,
        funnel: Option<FunnelId>,
        page: Page,
    ) -> Result<ListPage<Job>, ServiceError> {
        if let Some(id) = funnel {
            self.check_read(who, id)?;
        }
        let rows = self
            .s
            .store
            .list_jobs(scope(who), funnel, lookahead(page))?;
        Ok(page_of(rows, page.limit, |j| j.id.0))
    }
}
