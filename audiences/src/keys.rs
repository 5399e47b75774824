//! User keys: the identifiers a bid request carries, normalised and hashed
//! with a secret key to fixed-width keys, so that memory tables never hold a
//! raw id.
//!
//! The hash is SipHash-1-3 keyed with the deployment's secret: stable
//! across restarts (the table is rebuilt from the store) and not
//! reversible or linkable by anyone without the secret. Never allocates.

use std::hash::Hasher;

use openrtb::BidRequest;
use siphasher::sip::SipHasher13;
use smallvec::SmallVec;

/// Which identifier a key was made from. The discriminant is hashed in, so
/// the same string as a `user.id` and as a `buyeruid` gives different keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// `user.buyeruid`: our own id, synced with the exchange.
    BuyerUid,
    /// `user.id`: the exchange's id.
    UserId,
    /// `device.ifa`: IDFA / GAID.
    Ifa,
    /// `user.eids[].uids[].id`, qualified by the eid's `source`.
    Eid,
}

impl KeyType {
    /// Stable name, as in upload files (`eid` rows name their source).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::BuyerUid => "buyeruid",
            KeyType::UserId => "user_id",
            KeyType::Ifa => "ifa",
            KeyType::Eid => "eid",
        }
    }

    /// Parses [`KeyType::as_str`] names.
    pub fn parse(s: &str) -> Option<KeyType> {
        Some(match s {
            "buyeruid" => KeyType::BuyerUid,
            "user_id" => KeyType::UserId,
            "ifa" => KeyType::Ifa,
            "eid" => KeyType::Eid,
            _ => return None,
        })
    }
}

/// A hashed user identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserKey(pub u64);

/// Hashes identifiers with the deployment's secret.
#[derive(Clone, Copy)]
pub struct KeyHasher {
    k0: u64,
    k1: u64,
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHasher(<secret>)")
    }
}

impl KeyHasher {
    /// A hasher with a 128-bit secret.
    pub fn new(secret: [u8; 16]) -> KeyHasher {
        let (a, b) = secret.split_at(8);
        let k = |s: &[u8]| s.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
        KeyHasher { k0: k(a), k1: k(b) }
    }

    /// The key of identifier `id` of type `kind` (`source` for eids).
    /// `None` for ids that identify nobody: empty, or an all-zero IFA.
    pub fn key(&self, kind: KeyType, source: &str, id: &str) -> Option<UserKey> {
        let id = id.trim();
        if id.is_empty() || (kind == KeyType::Ifa && is_zero_ifa(id)) {
            return None;
        }
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        h.write_u8(kind as u8);
        if kind == KeyType::Eid {
            write_lower(&mut h, source.trim());
        }
        h.write_u8(0xff);
        // IFAs are UUIDs that devices report in either case.
        if kind == KeyType::Ifa {
            write_lower(&mut h, id);
        } else {
            h.write(id.as_bytes());
        }
        Some(UserKey(h.finish()))
    }

    /// The keys of `req`'s user, in fixed priority: buyeruid, eids in
    /// request order, IFA (unless the device limits ad tracking), user.id.
    pub fn request_keys(&self, req: &BidRequest<'_>) -> SmallVec<[UserKey; 4]> {
        let mut keys = SmallVec::new();
        let user = req.user.as_ref();
        if let Some(id) = user.and_then(|u| u.buyeruid.as_deref()) {
            keys.extend(self.key(KeyType::BuyerUid, "", id));
        }
        for eid in user.map(|u| u.eids.as_slice()).unwrap_or_default() {
            for uid in &eid.uids {
                keys.extend(self.key(KeyType::Eid, &eid.source, &uid.id));
            }
        }
        if let Some(device) = &req.device
            && device.lmt != Some(1)
            && let Some(ifa) = device.ifa.as_deref()
        {
            keys.extend(self.key(KeyType::Ifa, "", ifa));
        }
        if let Some(id) = user.and_then(|u| u.id.as_deref()) {
            keys.extend(self.key(KeyType::UserId, "", id));
        }
        keys
    }
}

fn write_lower(h: &mut SipHasher13, s: &str) {
    let mut buf = [0u8; 64];
    for chunk in s.as_bytes().chunks(64) {
        let out = &mut buf[..chunk.len()];
        for (o, c) in out.iter_mut().zip(chunk) {
            *o = c.to_ascii_lowercase();
        }
        h.write(out);
    }
}

fn is_zero_ifa(id: &str) -> bool {
    id.bytes().all(|b| b == b'0' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> KeyHasher {
        KeyHasher::new(*b"0123456789abcdef")
    }

    #[test]
    fn same_id_different_type_gives_different_keys() {
        let h = hasher();
        assert_ne!(
            h.key(KeyType::UserId, "", "abc"),
            h.key(KeyType::BuyerUid, "", "abc")
        );
        assert_ne!(
            h.key(KeyType::Eid, "uidapi.com", "abc"),
            h.key(KeyType::Eid, "id5-sync.com", "abc")
        );
    }

    #[test]
    fn keys_depend_on_the_secret() {
        let other = KeyHasher::new(*b"fedcba9876543210");
        assert_ne!(
            hasher().key(KeyType::UserId, "", "abc"),
            other.key(KeyType::UserId, "", "abc")
        );
    }

    #[test]
    fn ifa_case_and_eid_source_case_do_not_matter() {
        let h = hasher();
        assert_eq!(
            h.key(KeyType::Ifa, "", "6D92078A-8246-4BA4-AE5B-76104861E7DC"),
            h.key(KeyType::Ifa, "", "6d92078a-8246-4ba4-ae5b-76104861e7dc")
        );
        assert_eq!(
            h.key(KeyType::Eid, "UIDAPI.com", "x"),
            h.key(KeyType::Eid, "uidapi.com", "x")
        );
    }

    #[test]
    fn empty_and_zero_ids_identify_nobody() {
        let h = hasher();
        assert_eq!(
            h.key(KeyType::Ifa, "", "00000000-0000-0000-0000-000000000000"),
            None
        );
        assert_eq!(h.key(KeyType::UserId, "", "  "), None);
    }

    #[test]
    fn request_keys_come_in_priority_order_and_skip_lmt_ifas() {
        let h = hasher();
        let json = br#"{"id":"r","imp":[{"id":"1","banner":{}}],
            "user":{"id":"exch-1","buyeruid":"ours-1","eids":[{"source":"uidapi.com","uids":[{"id":"u2"}]}]},
            "device":{"ifa":"AAAA-1","lmt":0}}"#;
        let mut p = openrtb::Parser::new();
        let req = p.parse(json).unwrap();
        let keys = h.request_keys(&req);
        let expected: Vec<UserKey> = [
            h.key(KeyType::BuyerUid, "", "ours-1"),
            h.key(KeyType::Eid, "uidapi.com", "u2"),
            h.key(KeyType::Ifa, "", "aaaa-1"),
            h.key(KeyType::UserId, "", "exch-1"),
        ]
        .into_iter()
        .flatten()
        .collect();
        assert_eq!(keys.as_slice(), expected.as_slice());

        let lmt = String::from_utf8_lossy(json).replace("\"lmt\":0", "\"lmt\":1");
        let mut p = openrtb::Parser::new();
        let req = p.parse(lmt.as_bytes()).unwrap();
        assert_eq!(h.request_keys(&req).len(), 3);
    }
}
