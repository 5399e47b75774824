//! Who acted, as stored: the role an API token holds and the actor a
//! history row names.
//!
//! Plain data. What each role may do is `control::auth`'s rule, never
//! decided here, so storage can keep roles without knowing the API.

use serde::{Deserialize, Serialize};

/// The role an API token holds, as stored and shown (`admin`, `buyer`,
/// `advertiser`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The operator's role: acts for every advertiser.
    Admin,
    /// A media buyer, acting for the advertisers it is granted.
    Buyer,
    /// One advertiser's own token.
    Advertiser,
}

impl Role {
    /// Every role, in order of reach.
    pub const ALL: [Role; 3] = [Role::Admin, Role::Buyer, Role::Advertiser];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Buyer => "buyer",
            Role::Advertiser => "advertiser",
        }
    }

    /// The role of a stored or typed name.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who did something, for history rows: the API token and the role it
/// held then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The token's id (0 for the demo seed, which acts without one).
    pub token_id: i64,
    /// Its role at the time.
    pub role: Role,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
