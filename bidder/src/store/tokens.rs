//! API token rows: only the SHA-256 of each secret is kept, with its role,
//! label, revocation flag and advertiser grants.
//!
//! Never stores or returns a secret; issuing secrets is `auth`'s job.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{Page, Store, StoreError};
use crate::model::{AdvertiserId, Role, UnixTime};

/// A token as the auth check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Id.
    pub id: i64,
    /// SHA-256 of the secret, compared in constant time by `auth`.
    pub hash: Vec<u8>,
    /// What it may do.
    pub role: Role,
    /// Advertisers it may act for (empty for admins, who may act for all).
    pub advertisers: Vec<AdvertiserId>,
    /// Revoked tokens authenticate nothing.
    pub revoked: bool,
}

/// A token as the admin API lists it: everything but the hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Id.
    pub id: i64,
    /// Role.
    pub role: Role,
    /// Granted advertisers.
    pub advertisers: Vec<AdvertiserId>,
    /// Free text saying whom it was issued to.
    pub label: String,
    /// Creation time.
    pub created_at: UnixTime,
    /// Whether it was revoked.
    pub revoked: bool,
}

fn grants(conn: &Connection, token: i64) -> Result<Vec<AdvertiserId>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT advertiser_id FROM token_advertisers WHERE token_id = ?1 ORDER BY advertiser_id",
    )?;
    let rows = stmt.query_map([token], |r| r.get::<_, i64>(0).map(AdvertiserId))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn role_from_text(text: &str) -> Result<Role, StoreError> {
    Role::parse(text).ok_or(StoreError::Json {
        column: "tokens.role",
        source: serde::de::Error::custom(format!("unknown role {text:?}")),
    })
}

/// Inserts a token with its grants; returns its id.
pub(crate) fn insert(
    conn: &Connection,
    hash: &[u8],
    role: Role,
    advertisers: &[AdvertiserId],
    label: &str,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO tokens (hash, role, label, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![hash, role.as_str(), label, UnixTime::now().0],
    )?;
    let id = conn.last_insert_rowid();
    for a in advertisers {
        conn.execute(
            "INSERT OR IGNORE INTO token_advertisers (token_id, advertiser_id) VALUES (?1, ?2)",
            params![id, a.0],
        )
        .map_err(|e| {
            if super::is_foreign_key_violation(&e) {
                StoreError::MissingParent("advertiser")
            } else {
                StoreError::Sqlite(e)
            }
        })?;
    }
    Ok(id)
}

impl Store {
    /// Stores a token by the hash of its secret; [`StoreError::MissingParent`]
    /// when a granted advertiser does not exist.
    pub fn insert_token(
        &self,
        hash: &[u8],
        role: Role,
        advertisers: &[AdvertiserId],
        label: &str,
    ) -> Result<i64, StoreError> {
        self.write(|tx| insert(tx, hash, role, advertisers, label))
    }

    /// The token whose secret hashes to `hash`, read fresh on every call so
    /// a revocation takes effect on the next request.
    pub fn token_by_hash(&self, hash: &[u8]) -> Result<Option<TokenRecord>, StoreError> {
        self.read(|tx| {
            let row = tx
                .query_row(
                    "SELECT id, hash, role, revoked FROM tokens WHERE hash = ?1",
                    [hash],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, Vec<u8>>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, bool>(3)?,
                        ))
                    },
                )
                .optional()?;
            let Some((id, hash, role, revoked)) = row else {
                return Ok(None);
            };
            Ok(Some(TokenRecord {
                id,
                hash,
                role: role_from_text(&role)?,
                advertisers: grants(tx, id)?,
                revoked,
            }))
        })
    }

    /// One page of tokens, by id.
    pub fn list_tokens(&self, page: Page) -> Result<Vec<TokenInfo>, StoreError> {
        self.read(|tx| {
            let mut stmt = tx.prepare(
                "SELECT id, role, label, created_at, revoked FROM tokens
                 WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let rows = stmt
                .query_map(params![page.after, page.limit], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, bool>(4)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(id, role, label, created_at, revoked)| {
                    Ok(TokenInfo {
                        id,
                        role: role_from_text(&role)?,
                        advertisers: grants(tx, id)?,
                        label,
                        created_at: UnixTime(created_at),
                        revoked,
                    })
                })
                .collect()
        })
    }

    /// Revokes a token; [`StoreError::NotFound`] when there is none. The row
    /// is kept so the audit trail (label, dates) survives.
    pub fn revoke_token(&self, id: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            let n = tx.execute("UPDATE tokens SET revoked = 1 WHERE id = ?1", [id])?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
    }
}
