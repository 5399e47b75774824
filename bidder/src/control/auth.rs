//! API tokens and who a request is: issuing secrets, checking bearer tokens,
//! and the authorization rules: which [`Permission`] each [`Role`] holds
//! and which advertisers a [`Principal`] acts for. A refusal says what is
//! [`Missing`].
//!
//! Only a SHA-256 of each secret is stored; secrets are shown once, when
//! issued. Nothing here caches a token, so revoking one takes effect on the
//! next request. Never decides what a request does; the service layer asks
//! these rules before every action. Imports no HTTP error type: a failed
//! check is an [`AuthError`] or a [`Missing`], made HTTP in `crate::error`.

use http::HeaderMap;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::model::{Actor, AdvertiserId};
use crate::store::{Store, StoreError};

/// The roles a token can hold; stored as plain data in [`crate::model`],
/// re-exported here where what each may do is decided.
pub use crate::model::Role;

/// Prefix of every secret, so leaked tokens are easy to grep for and scan.
pub const SECRET_PREFIX: &str = "bdr_";

/// Random bytes in a secret: 256 bits, beyond guessing.
const SECRET_BYTES: usize = 32;

/// What a role may do beyond reading and writing the creatives and
/// fragments of the advertisers it acts for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Create and delete advertisers, issue and revoke tokens, feed
    /// learning counts by hand.
    Administer,
    /// Write campaigns, funnels and their members, review fragments,
    /// record exchanges' audits, rename advertisers.
    ManageCampaigns,
}

impl Permission {
    /// The roles that hold it: the one table of what each role may do.
    pub fn roles(self) -> &'static [Role] {
        match self {
            Permission::Administer => &[Role::Admin],
            Permission::ManageCampaigns => &[Role::Admin, Role::Buyer],
        }
    }

    /// A short name, for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Administer => "administer",
            Permission::ManageCampaigns => "manage campaigns",
        }
    }
}

/// What a caller lacks for an action it was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Missing {
    /// Its role does not hold the permission.
    Role {
        /// What the action needs.
        permission: Permission,
        /// The role the caller holds.
        held: Role,
    },
    /// It does not act for this advertiser.
    Grant(AdvertiserId),
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Missing::Role { permission, held } => {
                let roles: Vec<&str> = permission.roles().iter().map(|r| r.as_str()).collect();
                write!(
                    f,
                    "to {} needs the role {}; this token is {held}",
                    permission.as_str(),
                    roles.join(" or ")
                )
            }
            Missing::Grant(a) => write!(f, "this token does not act for advertiser {}", a.0),
        }
    }
}

/// Why a request has no [`Principal`].
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No bearer token, or one that is unknown or revoked.
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// The token could not be looked up.
    #[error("token lookup: {0}")]
    Store(#[from] StoreError),
}

/// The caller of one request, as its token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// What it may do.
    pub role: Role,
    /// Advertisers it acts for (ignored for admins, who act for all).
    pub advertisers: Vec<AdvertiserId>,
    /// The token, for audit logs.
    pub token_id: i64,
}

impl Principal {
    /// True for admins.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether it may see and act for `advertiser` at all.
    pub fn is_granted(&self, advertiser: AdvertiserId) -> bool {
        self.is_admin() || self.advertisers.contains(&advertiser)
    }

    /// Whether its role holds `permission`.
    pub fn holds(&self, permission: Permission) -> bool {
        permission.roles().contains(&self.role)
    }

    /// `Ok` if its role holds `permission`, else what is missing.
    pub fn require(&self, permission: Permission) -> Result<(), Missing> {
        if self.holds(permission) {
            Ok(())
        } else {
            Err(Missing::Role {
                permission,
                held: self.role,
            })
        }
    }

    /// `Ok` if it acts for `advertiser`, else what is missing.
    pub fn require_grant(&self, advertiser: AdvertiserId) -> Result<(), Missing> {
        if self.is_granted(advertiser) {
            Ok(())
        } else {
            Err(Missing::Grant(advertiser))
        }
    }

    /// Who it is in history rows: its token and role.
    pub fn actor(&self) -> Actor {
        Actor {
            token_id: self.token_id,
            role: self.role,
        }
    }
}

/// A freshly issued token. The secret exists only here: it is not stored and
/// cannot be shown again.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// Id, to list or revoke it later.
    pub id: i64,
    /// `bdr_` and 64 hex digits; what clients send as `Bearer`.
    pub secret: String,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keeps secrets out of logs that debug-print values.
        f.debug_struct("IssuedToken")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A new random secret.
fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", hex::encode(bytes))
}

/// The stored form of a secret.
fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Issues a token: stores its hash with `role` and `advertisers` and returns
/// the secret, once. Used by the admin API and the `bidder token create` CLI.
pub fn create_token(
    store: &Store,
    role: Role,
    advertisers: &[AdvertiserId],
    label: &str,
) -> Result<IssuedToken, StoreError> {
    let secret = new_secret();
    let id = store.insert_token(&hash(&secret), role, advertisers, label)?;
    Ok(IssuedToken { id, secret })
}

/// Issues a token inside a caller's transaction (the demo seed).
pub(crate) fn create_token_in(
    conn: &rusqlite::Connection,
    role: Role,
    advertisers: &[AdvertiserId],
    label: &str,
) -> Result<IssuedToken, StoreError> {
    let secret = new_secret();
    let id = crate::store::insert_token_in(conn, &hash(&secret), role, advertisers, label)?;
    Ok(IssuedToken { id, secret })
}

/// Who sent `headers`: `Authorization: Bearer bdr_...` naming a token that
/// exists and is not revoked; otherwise [`AuthError::Unauthorized`].
pub fn authenticate(store: &Store, headers: &HeaderMap) -> Result<Principal, AuthError> {
    let secret = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|s| s.starts_with(SECRET_PREFIX))
        .ok_or(AuthError::Unauthorized)?;
    let wanted = hash(secret);
    let record = store
        .token_by_hash(&wanted)?
        .ok_or(AuthError::Unauthorized)?;
    // The lookup was by hash already; comparing again in constant time means
    // no code path's timing depends on how much of a guess matched.
    let same: bool = record.hash.as_slice().ct_eq(&wanted).into();
    if !same || record.revoked {
        return Err(AuthError::Unauthorized);
    }
    Ok(Principal {
        role: record.role,
        advertisers: record.advertisers,
        token_id: record.id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn bearer(secret: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {secret}")).unwrap(),
        );
        h
    }

    #[test]
    fn secrets_are_prefixed_hex_of_32_random_bytes() {
        let a = new_secret();
        assert!(a.starts_with("bdr_"));
        assert_eq!(a.len(), 4 + 64);
        assert!(a[4..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, new_secret());
    }

    #[test]
    fn an_issued_token_authenticates_with_its_role() {
        let store = Store::open_in_memory().unwrap();
        let t = create_token(&store, Role::Admin, &[], "ops").unwrap();
        let p = authenticate(&store, &bearer(&t.secret)).unwrap();
        assert_eq!(p.role, Role::Admin);
        assert_eq!(p.token_id, t.id);
    }

    #[test]
    fn missing_malformed_and_unknown_tokens_are_unauthorized() {
        let store = Store::open_in_memory().unwrap();
        create_token(&store, Role::Admin, &[], "ops").unwrap();
        assert!(matches!(
            authenticate(&store, &HeaderMap::new()),
            Err(AuthError::Unauthorized)
        ));
        assert!(matches!(
            authenticate(&store, &bearer("not-a-token")),
            Err(AuthError::Unauthorized)
        ));
        assert!(matches!(
            authenticate(&store, &bearer(&new_secret())),
            Err(AuthError::Unauthorized)
        ));
    }

    #[test]
    fn a_revoked_token_stops_working_at_once() {
        let store = Store::open_in_memory().unwrap();
        let t = create_token(&store, Role::Admin, &[], "ops").unwrap();
        authenticate(&store, &bearer(&t.secret)).unwrap();
        store.revoke_token(t.id).unwrap();
        assert!(matches!(
            authenticate(&store, &bearer(&t.secret)),
            Err(AuthError::Unauthorized)
        ));
    }

    #[test]
    fn only_the_hash_of_a_secret_is_stored() {
        let store = Store::open_in_memory().unwrap();
        let t = create_token(&store, Role::Admin, &[], "ops").unwrap();
        let rec = store.token_by_hash(&hash(&t.secret)).unwrap().unwrap();
        assert_eq!(rec.hash, hash(&t.secret).to_vec());
        assert!(!String::from_utf8_lossy(&rec.hash).contains(&t.secret[4..]));
    }

    #[test]
    fn grants_limit_non_admins_to_their_advertisers() {
        let buyer = Principal {
            role: Role::Buyer,
            advertisers: vec![AdvertiserId(1)],
            token_id: 1,
        };
        assert!(buyer.is_granted(AdvertiserId(1)));
        assert!(!buyer.is_granted(AdvertiserId(2)));
        let admin = Principal {
            role: Role::Admin,
            advertisers: vec![],
            token_id: 2,
        };
        assert!(admin.is_granted(AdvertiserId(2)));
        assert_eq!(
            buyer.require_grant(AdvertiserId(2)),
            Err(Missing::Grant(AdvertiserId(2)))
        );
    }

    #[test]
    fn a_refused_role_says_which_permission_and_roles_it_needs() {
        let advertiser = Principal {
            role: Role::Advertiser,
            advertisers: vec![AdvertiserId(1)],
            token_id: 3,
        };
        let missing = advertiser.require(Permission::ManageCampaigns).unwrap_err();
        assert_eq!(
            missing,
            Missing::Role {
                permission: Permission::ManageCampaigns,
                held: Role::Advertiser
            }
        );
        assert_eq!(
            missing.to_string(),
            "to manage campaigns needs the role admin or buyer; this token is advertiser"
        );
        let buyer = Principal {
            role: Role::Buyer,
            ..advertiser
        };
        assert!(buyer.require(Permission::ManageCampaigns).is_ok());
        assert!(buyer.require(Permission::Administer).is_err());
    }
}
