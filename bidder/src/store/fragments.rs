//! Fragment rows, their versions and review log; exchanges' creative
//! audits; learning counts per combination.
//!
//! Every change to a fragment and its log entry commit in one transaction,
//! so the log never misses a decision. An edit adds a version and never
//! touches the one serving; only approval moves `serving_version`.

use audiences::Stage;
use creative::assembly::{ComboKey, FragmentId};
use creative::fragment::{FragmentBody, FragmentKind};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Page, Scope, Store, StoreError, from_json, is_foreign_key_violation, to_json};
use crate::model::{
    Actor, AdvertiserId, Audit, AuditStatus, CampaignId, ComboStats, Fragment, FragmentStatus,
    Review, ReviewAction, ServingFragment, UnixTime,
};

const COLUMNS: &str = "f.id, f.advertiser_id, f.set_name, f.kind, f.archived, f.version,
    f.serving_version, f.created_at, f.updated_at, v.status, v.reason, v.body";

const FROM: &str =
    "fragments f JOIN fragment_versions v ON v.fragment_id = f.id AND v.version = f.version";

type RawRow = (Fragment, String, String, String, bool);

fn from_row(r: &Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((
        Fragment {
            id: FragmentId(r.get(0)?),
            advertiser_id: AdvertiserId(r.get(1)?),
            set: r.get(2)?,
            kind: FragmentKind::Message,
            status: FragmentStatus::Pending,
            reason: r.get(10)?,
            version: r.get(5)?,
            serving_version: r.get(6)?,
            // Replaced by `decode`.
            body: FragmentBody::Tone(placeholder_tone()),
            created_at: UnixTime(r.get(7)?),
            updated_at: UnixTime(r.get(8)?),
        },
        r.get(3)?,
        r.get(9)?,
        r.get(11)?,
        r.get::<_, i64>(4)? != 0,
    ))
}

fn placeholder_tone() -> creative::fragment::Tone {
    creative::fragment::Tone {
        language: String::new(),
        stages: Vec::new(),
        cta: String::new(),
        palette: creative::fragment::Palette {
            background: String::new(),
            foreground: String::new(),
            accent: String::new(),
        },
        font_stack: String::new(),
        voice: creative::fragment::Voice::Formal,
        formats: Vec::new(),
    }
}

fn decode((mut f, kind, status, body, archived): RawRow) -> Result<Fragment, StoreError> {
    f.kind = FragmentKind::parse(&kind).ok_or(StoreError::Corrupt("unknown fragment kind"))?;
    f.status = if archived {
        FragmentStatus::Archived
    } else {
        FragmentStatus::parse(&status).ok_or(StoreError::Corrupt("unknown fragment status"))?
    };
    f.body = from_json("fragment_versions.body", &body)?;
    Ok(f)
}

fn get(conn: &Connection, id: FragmentId) -> Result<Option<Fragment>, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM {FROM} WHERE f.id = ?1"),
        [id.0],
        from_row,
    )
    .optional()?
    .map(decode)
    .transpose()
}

fn log(
    conn: &Connection,
    id: FragmentId,
    version: i64,
    action: ReviewAction,
    who: Actor,
    reason: Option<&str>,
    now: UnixTime,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO fragment_history (fragment_id, version, action, token_id, role, reason, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            id.0,
            version,
            action.as_str(),
            who.token_id,
            who.role.as_str(),
            reason,
            now.0
        ],
    )?;
    Ok(())
}

/// The fragment at `expected` version, or why not.
fn current(conn: &Connection, id: FragmentId, expected: i64) -> Result<Fragment, StoreError> {
    let f = get(conn, id)?.ok_or(StoreError::NotFound)?;
    if f.version != expected {
        return Err(StoreError::Stale {
            expected,
            current: f.version,
        });
    }
    Ok(f)
}

/// Inserts a fragment at version 1, pending.
pub(crate) fn insert(
    conn: &Connection,
    advertiser: AdvertiserId,
    set: &str,
    body: &FragmentBody,
    who: Actor,
) -> Result<Fragment, StoreError> {
    let now = UnixTime::now();
    conn.execute(
        "INSERT INTO fragments (advertiser_id, kind, set_name, version, created_at, updated_at)
         VALUES (?1, ?2, ?3, 1, ?4, ?4)",
        params![advertiser.0, body.kind().as_str(), set, now.0],
    )
    .map_err(|e| {
        if is_foreign_key_violation(&e) {
            StoreError::MissingParent("advertiser")
        } else {
            StoreError::Sqlite(e)
        }
    })?;
    let id = FragmentId(conn.last_insert_rowid());
    conn.execute(
        "INSERT INTO fragment_versions (fragment_id, version, body, status, created_at)
         VALUES (?1, 1, ?2, 'pending', ?3)",
        params![id.0, to_json("fragment_versions.body", body)?, now.0],
    )?;
    log(conn, id, 1, ReviewAction::Created, who, None, now)?;
    get(conn, id)?.ok_or(StoreError::NotFound)
}

/// Sets the review status of the latest version, `expected`.
fn review(
    conn: &Connection,
    id: FragmentId,
    expected: i64,
    approve: bool,
    reason: Option<&str>,
    who: Actor,
) -> Result<Fragment, StoreError> {
    let f = current(conn, id, expected)?;
    match f.status {
        FragmentStatus::Pending => {}
        FragmentStatus::Archived => return Err(StoreError::InUse("the fragment is archived")),
        _ => return Err(StoreError::InUse("this version has already been reviewed")),
    }
    let now = UnixTime::now();
    let status = if approve { "approved" } else { "rejected" };
    conn.execute(
        "UPDATE fragment_versions SET status = ?1, reason = ?2 WHERE fragment_id = ?3 AND version = ?4",
        params![status, reason, id.0, expected],
    )?;
    if approve {
        conn.execute(
            "UPDATE fragments SET serving_version = ?1, updated_at = ?2 WHERE id = ?3",
            params![expected, now.0, id.0],
        )?;
    } else {
        conn.execute(
            "UPDATE fragments SET updated_at = ?1 WHERE id = ?2",
            params![now.0, id.0],
        )?;
    }
    let action = if approve {
        ReviewAction::Approved
    } else {
        ReviewAction::Rejected
    };
    log(conn, id, expected, action, who, reason, now)?;
    get(conn, id)?.ok_or(StoreError::NotFound)
}

/// Approves version `version` inside the caller's transaction (the demo
/// seeds approved fragments).
pub(crate) fn approve_in(
    conn: &Connection,
    id: FragmentId,
    version: i64,
    who: Actor,
) -> Result<Fragment, StoreError> {
    review(conn, id, version, true, None, who)
}

pub(crate) fn serving(conn: &Connection) -> Result<Vec<ServingFragment>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT f.id, f.advertiser_id, f.set_name, f.serving_version, v.body
         FROM fragments f JOIN fragment_versions v
           ON v.fragment_id = f.id AND v.version = f.serving_version
         WHERE f.archived = 0 ORDER BY f.id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(id, adv, set, version, body)| {
            Ok(ServingFragment {
                id: FragmentId(id),
                advertiser_id: AdvertiserId(adv),
                set,
                version,
                body: from_json("fragment_versions.body", &body)?,
            })
        })
        .collect()
}

pub(crate) fn rejected(conn: &Connection) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT exchange, crid FROM creative_audits WHERE status = 'rejected' ORDER BY exchange, crid",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn stats_query(
    conn: &Connection,
    campaign: Option<CampaignId>,
) -> Result<Vec<ComboStats>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT campaign_id, stage, combination, impressions, clicks, conversions
         FROM combination_stats WHERE ?1 IS NULL OR campaign_id = ?1
         ORDER BY campaign_id, stage, combination",
    )?;
    let rows = stmt
        .query_map([campaign.map(|c| c.0)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(c, stage, combo, imps, clicks, conv)| {
            Ok(ComboStats {
                campaign_id: CampaignId(c),
                stage: stage
                    .parse::<Stage>()
                    .map_err(|_| StoreError::Corrupt("unknown stage in combination_stats"))?,
                combination: ComboKey::parse(&combo)
                    .ok_or(StoreError::Corrupt("bad combination in combination_stats"))?,
                impressions: imps as u64,
                clicks: clicks as u64,
                conversions: conv as u64,
            })
        })
        .collect()
}

pub(crate) fn all_stats(conn: &Connection) -> Result<Vec<ComboStats>, StoreError> {
    stats_query(conn, None)
}

/// The learning counts of `campaign`.
pub(crate) fn stats_of(
    conn: &Connection,
    campaign: CampaignId,
) -> Result<Vec<ComboStats>, StoreError> {
    stats_query(conn, Some(campaign))
}

/// Filters of a fragment list.
#[derive(Debug, Clone, Default)]
pub struct FragmentFilter {
    /// Only this advertiser's.
    pub advertiser: Option<AdvertiserId>,
    /// Only this kind.
    pub kind: Option<FragmentKind>,
    /// Only this status.
    pub status: Option<FragmentStatus>,
    /// Only this set.
    pub set: Option<String>,
}

impl Store {
    /// Stores a new fragment (version 1, pending) and logs its creation.
    pub fn create_fragment(
        &self,
        advertiser: AdvertiserId,
        set: &str,
        body: &FragmentBody,
        who: Actor,
    ) -> Result<Fragment, StoreError> {
        self.write(|tx| insert(tx, advertiser, set, body, who))
    }

    /// How many fragments of `kind` the set `set` of `advertiser` holds,
    /// archived ones left out.
    pub fn fragments_in_set(
        &self,
        advertiser: AdvertiserId,
        set: &str,
        kind: FragmentKind,
    ) -> Result<u64, StoreError> {
        self.read(|tx| {
            let n: i64 = tx.query_row(
                "SELECT COUNT(*) FROM fragments
                 WHERE advertiser_id = ?1 AND set_name = ?2 AND kind = ?3 AND archived = 0",
                params![advertiser.0, set, kind.as_str()],
                |r| r.get(0),
            )?;
            Ok(n as u64)
        })
    }

    /// One fragment (its latest version), if it exists.
    pub fn fragment(&self, id: FragmentId) -> Result<Option<Fragment>, StoreError> {
        self.read(|tx| get(tx, id))
    }

    /// One page of the fragments `scope` allows, by id.
    pub fn list_fragments(
        &self,
        scope: Scope<'_>,
        filter: &FragmentFilter,
        page: Page,
    ) -> Result<Vec<Fragment>, StoreError> {
        let (all, ids) = scope.params();
        self.read(|tx| {
            let mut stmt = tx.prepare(&format!(
                "SELECT {COLUMNS} FROM {FROM}
                 WHERE f.id > ?1
                   AND (?2 = 1 OR f.advertiser_id IN (SELECT value FROM json_each(?3)))
                   AND (?4 IS NULL OR f.advertiser_id = ?4)
                   AND (?5 IS NULL OR f.kind = ?5)
                   AND (?6 IS NULL OR (CASE WHEN f.archived = 1 THEN 'archived' ELSE v.status END) = ?6)
                   AND (?7 IS NULL OR f.set_name = ?7)
                 ORDER BY f.id LIMIT ?8"
            ))?;
            let raws = stmt
                .query_map(
                    params![
                        page.after,
                        all,
                        ids,
                        filter.advertiser.map(|a| a.0),
                        filter.kind.map(FragmentKind::as_str),
                        filter.status.map(FragmentStatus::as_str),
                        filter.set,
                        page.limit
                    ],
                    from_row,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            raws.into_iter().map(decode).collect()
        })
    }

    /// Adds version `expected + 1` (pending) with `body`; the serving
    /// version keeps serving until this one is approved.
    pub fn edit_fragment(
        &self,
        id: FragmentId,
        expected: i64,
        body: &FragmentBody,
        who: Actor,
    ) -> Result<Fragment, StoreError> {
        self.write(|tx| {
            let f = current(tx, id, expected)?;
            if f.status == FragmentStatus::Archived {
                return Err(StoreError::InUse("the fragment is archived"));
            }
            let now = UnixTime::now();
            let version = expected + 1;
            tx.execute(
                "INSERT INTO fragment_versions (fragment_id, version, body, status, created_at)
                 VALUES (?1, ?2, ?3, 'pending', ?4)",
                params![
                    id.0,
                    version,
                    to_json("fragment_versions.body", body)?,
                    now.0
                ],
            )?;
            tx.execute(
                "UPDATE fragments SET version = ?1, updated_at = ?2 WHERE id = ?3",
                params![version, now.0, id.0],
            )?;
            log(tx, id, version, ReviewAction::Edited, who, None, now)?;
            get(tx, id)?.ok_or(StoreError::NotFound)
        })
    }

    /// Approves the latest version, `expected`: it serves from now on.
    pub fn approve_fragment(
        &self,
        id: FragmentId,
        expected: i64,
        who: Actor,
    ) -> Result<Fragment, StoreError> {
        self.write(|tx| review(tx, id, expected, true, None, who))
    }

    /// Rejects the latest version, `expected`, with `reason`.
    pub fn reject_fragment(
        &self,
        id: FragmentId,
        expected: i64,
        reason: &str,
        who: Actor,
    ) -> Result<Fragment, StoreError> {
        self.write(|tx| review(tx, id, expected, false, Some(reason), who))
    }

    /// Archives the fragment at `expected`: no version serves any more.
    pub fn archive_fragment(
        &self,
        id: FragmentId,
        expected: i64,
        who: Actor,
    ) -> Result<Fragment, StoreError> {
        self.write(|tx| {
            let f = current(tx, id, expected)?;
            if f.status == FragmentStatus::Archived {
                return Ok(f);
            }
            let now = UnixTime::now();
            tx.execute(
                "UPDATE fragments SET archived = 1, updated_at = ?1 WHERE id = ?2",
                params![now.0, id.0],
            )?;
            log(tx, id, expected, ReviewAction::Archived, who, None, now)?;
            get(tx, id)?.ok_or(StoreError::NotFound)
        })
    }

    /// The review log of a fragment, oldest first.
    pub fn fragment_history(&self, id: FragmentId) -> Result<Vec<Review>, StoreError> {
        self.read(|tx| {
            let mut stmt = tx.prepare(
                "SELECT version, action, token_id, role, reason, at FROM fragment_history
                 WHERE fragment_id = ?1 ORDER BY id",
            )?;
            let rows = stmt
                .query_map([id.0], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, i64>(5)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(version, action, token_id, role, reason, at)| {
                    Ok(Review {
                        version,
                        action: from_json("fragment_history.action", &format!("\"{action}\""))?,
                        token_id,
                        role,
                        reason,
                        at: UnixTime(at),
                    })
                })
                .collect()
        })
    }

    /// Records an exchange's audit of `crid`.
    pub fn put_audit(
        &self,
        exchange: &str,
        crid: &str,
        status: AuditStatus,
        reason: Option<&str>,
    ) -> Result<Audit, StoreError> {
        let now = UnixTime::now();
        let status_text = match status {
            AuditStatus::Pending => "pending",
            AuditStatus::Approved => "approved",
            AuditStatus::Rejected => "rejected",
        };
        self.write(|tx| {
            tx.execute(
                "INSERT INTO creative_audits (exchange, crid, status, reason, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (exchange, crid) DO UPDATE SET
                   status = excluded.status, reason = excluded.reason, updated_at = excluded.updated_at",
                params![exchange, crid, status_text, reason, now.0],
            )?;
            Ok(())
        })?;
        Ok(Audit {
            exchange: exchange.to_owned(),
            crid: crid.to_owned(),
            status,
            reason: reason.map(str::to_owned),
            updated_at: now,
        })
    }

    /// Audits, optionally of one exchange, oldest change first.
    pub fn list_audits(&self, exchange: Option<&str>) -> Result<Vec<Audit>, StoreError> {
        self.read(|tx| {
            let mut stmt = tx.prepare(
                "SELECT exchange, crid, status, reason, updated_at FROM creative_audits
                 WHERE ?1 IS NULL OR exchange = ?1 ORDER BY exchange, crid",
            )?;
            let rows = stmt
                .query_map([exchange], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(exchange, crid, status, reason, at)| {
                    Ok(Audit {
                        exchange,
                        crid,
                        status: from_json("creative_audits.status", &format!("\"{status}\""))?,
                        reason,
                        updated_at: UnixTime(at),
                    })
                })
                .collect()
        })
    }

    /// Adds impressions, clicks and conversions to a combination's counts.
    pub fn add_reactions(&self, s: &ComboStats) -> Result<(), StoreError> {
        let combo = s.combination.to_string();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO combination_stats
                   (campaign_id, stage, combination, impressions, clicks, conversions)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (campaign_id, stage, combination) DO UPDATE SET
                   impressions = impressions + excluded.impressions,
                   clicks = clicks + excluded.clicks,
                   conversions = conversions + excluded.conversions",
                params![
                    s.campaign_id.0,
                    s.stage.as_str(),
                    combo,
                    s.impressions as i64,
                    s.clicks as i64,
                    s.conversions as i64
                ],
            )
            .map_err(|e| {
                if is_foreign_key_violation(&e) {
                    StoreError::MissingParent("campaign")
                } else {
                    StoreError::Sqlite(e)
                }
            })?;
            Ok(())
        })
    }

    /// The counts of one campaign.
    pub fn combination_stats(&self, campaign: CampaignId) -> Result<Vec<ComboStats>, StoreError> {
        self.read(|tx| stats_query(tx, Some(campaign)))
    }
}
