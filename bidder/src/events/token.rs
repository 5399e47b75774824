//! Event tokens: the signed claim every notice and tracker URL carries
//! (`t=`), binding what was bid (bid id, auction, campaign, creative
//! combination, stage, user key, price, time, exchange) so that what comes
//! back can be trusted, or refused.
//!
//! A token is 82 bytes of claims and the first 16 bytes of their
//! HMAC-SHA256, base64url without padding (131 characters). Version 3
//! added what the bid reserved of its budget and for how long; tokens of
//! version 2 (70 bytes of claims, 115 characters), handed out before an
//! upgrade, still verify and say nothing of it. The first key
//! of a [`Signer`] signs; every key verifies, so a key can be rotated by
//! putting the new one first and dropping the old one once the tokens it
//! signed have expired. Signing writes into a stack buffer: the bid path
//! never allocates here.

use audiences::Stage;
use audiences::keys::UserKey;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use creative::assembly::{ComboKey, FragmentId};
use hmac::{Hmac, Mac};
use openrtb::{Currency, Micros};
use sha2::Sha256;

use crate::model::CampaignId;

const VERSION: u8 = 3;
const CLAIMS: usize = 82;
/// Version 2's claims: those of version 3 without the reservation.
const CLAIMS_V2: usize = 70;
const MAC: usize = 16;
/// Length of the base64url text (no padding) of `n` bytes.
const fn text_len(n: usize) -> usize {
    n.div_ceil(3) * 4 - (3 - n % 3) % 3
}
/// Length of a token's text.
pub const TOKEN_LEN: usize = text_len(CLAIMS + MAC);
/// Length of a version 2 token's text.
pub const TOKEN_LEN_V2: usize = text_len(CLAIMS_V2 + MAC);

/// What a bid reserved of its campaign's budget, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserved {
    /// Micros of the campaign's currency.
    pub amount: Micros,
    /// The exchange's notice window when the bid was made, seconds.
    pub hold_secs: u32,
}

/// What a token says about the bid it was handed out with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claims {
    /// When the bid was made, Unix seconds.
    pub issued: u32,
    /// Index of the exchange in the configuration.
    pub exchange: u8,
    /// The campaign that bid.
    pub campaign: CampaignId,
    /// The bid price (CPM, micros of the answer's currency).
    pub price: Micros,
    /// The user's funnel stage, when known.
    pub stage: Option<Stage>,
    /// The assembled creative's combination, when assembled.
    pub combo: Option<ComboKey>,
    /// The user's key, only where consent allowed personalization.
    pub user: Option<UserKey>,
    /// The bid id (`{process:x}-{n:x}`) as its two numbers.
    pub bid: (u64, u64),
    /// [`auction_hash`] of the request id and imp id.
    pub auction: u64,
    /// Currency of `price` (the answer's).
    pub currency: Currency,
    /// The request's country (ISO-3166-1 alpha-3, uppercase), or zeros.
    pub country: [u8; 3],
    /// The request's OpenRTB device type, or 0.
    pub device_type: u8,
    /// What the bid reserved; `None` in tokens of version 2, whose bids
    /// reserved one impression at the bid price for the exchange's window.
    pub reserved: Option<Reserved>,
}

/// FNV-1a of the request id and imp id: binds a token to its auction
/// without carrying the ids (the exchange sends them back through the
/// `${AUCTION_ID}` and `${AUCTION_IMP_ID}` macros). Stable across builds.
pub fn auction_hash(request_id: &str, imp_id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in request_id.bytes().chain([0xff]).chain(imp_id.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Claims {
    fn encode(&self) -> [u8; CLAIMS] {
        let mut b = [0u8; CLAIMS];
        b[0] = VERSION;
        b[1..5].copy_from_slice(&self.issued.to_le_bytes());
        b[5] = self.exchange;
        b[6..10].copy_from_slice(&(self.campaign.0 as u32).to_le_bytes());
        b[10..18].copy_from_slice(&(self.price.0 as u64).to_le_bytes());
        b[18] = self
            .stage
            .and_then(|s| Stage::ALL.iter().position(|x| *x == s))
            .map_or(0xff, |i| i as u8);
        let (m, c, t) = self.combo.map_or((0, 0, 0), |k| {
            (k.message.0, k.content.0, k.tone.map_or(0, |t| t.0))
        });
        b[19..23].copy_from_slice(&(m as u32).to_le_bytes());
        b[23..27].copy_from_slice(&(c as u32).to_le_bytes());
        b[27..31].copy_from_slice(&(t as u32).to_le_bytes());
        b[31..39].copy_from_slice(&self.user.map_or(0, |u| u.0).to_le_bytes());
        b[39..47].copy_from_slice(&self.bid.0.to_le_bytes());
        b[47..55].copy_from_slice(&self.bid.1.to_le_bytes());
        b[55..63].copy_from_slice(&self.auction.to_le_bytes());
        b[63..66].copy_from_slice(self.currency.as_str().as_bytes());
        b[66..69].copy_from_slice(&self.country);
        b[69] = self.device_type;
        let r = self.reserved.unwrap_or(Reserved {
            amount: Micros(0),
            hold_secs: 0,
        });
        b[70..78].copy_from_slice(&(r.amount.0.max(0) as u64).to_le_bytes());
        b[78..82].copy_from_slice(&r.hold_secs.to_le_bytes());
        b
    }

    /// The claims of `b`: version 3's 82 bytes or version 2's 70.
    fn decode(b: &[u8]) -> Option<Claims> {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(x)
        };
        let reserved = match (b[0], b.len()) {
            (VERSION, CLAIMS) => Some(Reserved {
                amount: Micros(i64::try_from(u64_at(70)).ok()?),
                hold_secs: u32_at(78),
            }),
            (2, CLAIMS_V2) => None,
            _ => return None,
        };
        let stage = match b[18] {
            0xff => None,
            i => Some(*Stage::ALL.get(usize::from(i))?),
        };
        let (m, c, t) = (u32_at(19), u32_at(23), u32_at(27));
        let combo = (m != 0).then(|| ComboKey {
            message: FragmentId(i64::from(m)),
            content: FragmentId(i64::from(c)),
            tone: (t != 0).then_some(FragmentId(i64::from(t))),
        });
        let user = u64_at(31);
        Some(Claims {
            issued: u32_at(1),
            exchange: b[5],
            campaign: CampaignId(i64::from(u32_at(6))),
            price: Micros(i64::try_from(u64_at(10)).ok()?),
            stage,
            combo,
            user: (user != 0).then_some(UserKey(user)),
            bid: (u64_at(39), u64_at(47)),
            auction: u64_at(55),
            currency: Currency::parse(std::str::from_utf8(&b[63..66]).ok()?)?,
            country: [b[66], b[67], b[68]],
            device_type: b[69],
            reserved,
        })
    }
}

/// A signed token's text, on the stack.
#[derive(Clone, Copy)]
pub struct Token {
    text: [u8; TOKEN_LEN],
}

impl Token {
    /// The token as URL-safe text.
    pub fn as_str(&self) -> &str {
        // base64url output is ASCII.
        std::str::from_utf8(&self.text).unwrap_or("")
    }
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token at all: wrong length, not base64url, unknown version.
    #[error("malformed token")]
    Malformed,
    /// The signature matches no key: forged or altered.
    #[error("token signature does not match")]
    Forged,
    /// Signed, but older than the window (or from the future).
    #[error("token expired")]
    Expired,
}

/// Signs and verifies tokens with the deployment's keys.
#[derive(Clone)]
pub struct Signer {
    /// Keyed HMAC states, the signing key first. Cloning a keyed state is
    /// cheaper than keying again per token.
    keys: Vec<Hmac<Sha256>>,
    /// How long a token is accepted, seconds.
    pub ttl_secs: u32,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys.
        f.debug_struct("Signer")
            .field("keys", &self.keys.len())
            .field("ttl_secs", &self.ttl_secs)
            .finish()
    }
}

impl Signer {
    /// A signer with `keys` (the first signs; at least one) accepting
    /// tokens for `ttl_secs`.
    pub fn new(keys: &[[u8; 32]], ttl_secs: u32) -> Signer {
        assert!(!keys.is_empty(), "a signer needs a key");
        Signer {
            keys: keys
                .iter()
                .map(|k| Hmac::<Sha256>::new_from_slice(k).expect("HMAC takes any key length"))
                .collect(),
            ttl_secs,
        }
    }

    fn mac(key: &Hmac<Sha256>, claims: &[u8; CLAIMS]) -> [u8; 32] {
        let mut mac = key.clone();
        mac.update(claims);
        mac.finalize().into_bytes().into()
    }

    /// The token of `claims`.
    pub fn sign(&self, claims: &Claims) -> Token {
        let bytes = claims.encode();
        let mut raw = [0u8; CLAIMS + MAC];
        raw[..CLAIMS].copy_from_slice(&bytes);
        raw[CLAIMS..].copy_from_slice(&Self::mac(&self.keys[0], &bytes)[..MAC]);
        let mut text = [0u8; TOKEN_LEN];
        let n = URL_SAFE_NO_PAD
            .encode_slice(raw, &mut text)
            .expect("TOKEN_LEN holds the encoding");
        debug_assert_eq!(n, TOKEN_LEN);
        Token { text }
    }

    /// The claims of `text` if some key signed it and it is younger than
    /// the window at `now` (Unix seconds). Tokens of version 2 verify too.
    pub fn verify(&self, text: &str, now: u32) -> Result<Claims, TokenError> {
        let claims_len = match text.len() {
            TOKEN_LEN => CLAIMS,
            TOKEN_LEN_V2 => CLAIMS_V2,
            _ => return Err(TokenError::Malformed),
        };
        let mut raw = [0u8; CLAIMS + MAC + 2];
        let n = URL_SAFE_NO_PAD
            .decode_slice(text, &mut raw)
            .map_err(|_| TokenError::Malformed)?;
        if n != claims_len + MAC {
            return Err(TokenError::Malformed);
        }
        let bytes = &raw[..claims_len];
        let tag = &raw[claims_len..claims_len + MAC];
        let signed = self.keys.iter().any(|k| {
            let mut mac = k.clone();
            mac.update(bytes);
            mac.verify_truncated_left(tag).is_ok()
        });
        if !signed {
            return Err(TokenError::Forged);
        }
        let claims = Claims::decode(bytes).ok_or(TokenError::Malformed)?;
        // A minute of clock skew between bidders is tolerated.
        if claims.issued > now.saturating_add(60)
            || now.saturating_sub(claims.issued) > self.ttl_secs
        {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            issued: 1_700_000_000,
            exchange: 2,
            campaign: CampaignId(7),
            price: Micros(2_500_000),
            stage: Some(Stage::Intent),
            combo: Some(ComboKey {
                message: FragmentId(3),
                content: FragmentId(4),
                tone: Some(FragmentId(5)),
            }),
            user: Some(UserKey(0xdead_beef)),
            bid: (0x1234_5678_9abc, 42),
            auction: auction_hash("req-1", "1"),
            currency: Currency::EUR,
            country: *b"DEU",
            device_type: 4,
            reserved: Some(Reserved {
                amount: Micros(250),
                hold_secs: 60,
            }),
        }
    }

    #[test]
    fn a_signed_token_verifies_to_its_claims() {
        let s = Signer::new(&[[1; 32]], 3600);
        let t = s.sign(&claims());
        assert_eq!(t.as_str().len(), TOKEN_LEN);
        assert_eq!(TOKEN_LEN, 131);
        assert_eq!(s.verify(t.as_str(), 1_700_000_100), Ok(claims()));
        let bare = Claims {
            stage: None,
            combo: None,
            user: None,
            ..claims()
        };
        let t = s.sign(&bare);
        assert_eq!(s.verify(t.as_str(), 1_700_000_100), Ok(bare));
    }

    /// A version 2 token as the bidder signed them before version 3: the
    /// first 70 bytes of the claims, version byte 2.
    fn sign_v2(key: [u8; 32], claims: &Claims) -> String {
        let mut bytes = claims.encode();
        bytes[0] = 2;
        let v2 = &bytes[..CLAIMS_V2];
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(v2);
        let tag = mac.finalize().into_bytes();
        let mut raw = v2.to_vec();
        raw.extend_from_slice(&tag[..MAC]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    #[test]
    fn a_token_signed_before_version_3_still_verifies_without_a_reservation() {
        let s = Signer::new(&[[1; 32]], 3600);
        let old = sign_v2([1; 32], &claims());
        assert_eq!(old.len(), TOKEN_LEN_V2);
        assert_eq!(TOKEN_LEN_V2, 115);
        let got = s.verify(&old, 1_700_000_100).unwrap();
        assert_eq!(
            got,
            Claims {
                reserved: None,
                ..claims()
            }
        );
        // Tampered, or claiming the wrong version, it is refused.
        let mut b = old.clone().into_bytes();
        b[0] = if b[0] == b'A' { b'B' } else { b'A' };
        assert!(
            s.verify(&String::from_utf8(b).unwrap(), 1_700_000_100)
                .is_err()
        );
    }

    #[test]
    fn any_changed_character_is_refused() {
        let s = Signer::new(&[[1; 32]], 3600);
        let t = s.sign(&claims()).as_str().to_owned();
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for i in 0..t.len() {
            for &c in alphabet.iter().step_by(7) {
                let mut b = t.clone().into_bytes();
                if b[i] == c {
                    continue;
                }
                b[i] = c;
                let changed = String::from_utf8(b).unwrap();
                assert!(
                    s.verify(&changed, 1_700_000_100).is_err(),
                    "{changed} accepted"
                );
            }
        }
        assert_eq!(s.verify("", 0), Err(TokenError::Malformed));
        assert_eq!(
            s.verify(&t[..t.len() - 1], 1_700_000_100),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn another_key_is_a_forgery_until_rotated_in() {
        let old = Signer::new(&[[1; 32]], 3600);
        let t = old.sign(&claims());
        let other = Signer::new(&[[2; 32]], 3600);
        assert_eq!(
            other.verify(t.as_str(), 1_700_000_100),
            Err(TokenError::Forged)
        );
        // Rotation: the new key signs, the old one still verifies.
        let rotated = Signer::new(&[[2; 32], [1; 32]], 3600);
        assert!(rotated.verify(t.as_str(), 1_700_000_100).is_ok());
        let fresh = rotated.sign(&claims());
        assert!(other.verify(fresh.as_str(), 1_700_000_100).is_ok());
    }

    #[test]
    fn tokens_expire_after_the_window() {
        let s = Signer::new(&[[1; 32]], 3600);
        let t = s.sign(&claims());
        assert!(s.verify(t.as_str(), 1_700_003_600).is_ok());
        assert_eq!(
            s.verify(t.as_str(), 1_700_003_601),
            Err(TokenError::Expired)
        );
        assert_eq!(
            s.verify(t.as_str(), 1_699_999_000),
            Err(TokenError::Expired),
            "issued in the future"
        );
    }

    #[test]
    fn the_auction_hash_tells_auctions_and_imps_apart() {
        assert_ne!(auction_hash("a", "1"), auction_hash("a", "2"));
        assert_ne!(auction_hash("a1", ""), auction_hash("a", "1"));
        assert_eq!(auction_hash("r", "1"), auction_hash("r", "1"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        prop_compose! {
            fn any_claims()(
                issued in 1_600_000_000u32..1_900_000_000,
                exchange in any::<u8>(),
                campaign in 1i64..1_000_000,
                price in 0i64..1_000_000_000,
                stage in prop::option::of(0usize..Stage::ALL.len()),
                combo in prop::option::of((any::<u32>(), any::<u32>(), prop::option::of(any::<u32>()))),
                user in prop::option::of(any::<u64>()),
                bid in (any::<u64>(), any::<u64>()),
                auction in any::<u64>(),
                eur in any::<bool>(),
                country in prop::sample::select(vec![*b"DEU", *b"USA", [0u8; 3]]),
                device_type in 0u8..8,
                reserved in (0i64..1_000_000, 1u32..86_400),
            ) -> Claims {
                Claims {
                    issued,
                    exchange,
                    campaign: CampaignId(campaign),
                    price: Micros(price),
                    stage: stage.map(|i| Stage::ALL[i]),
                    combo: combo.map(|(m, c, t)| ComboKey {
                        message: FragmentId(m.into()),
                        content: FragmentId(c.into()),
                        tone: t.map(|t| FragmentId(t.into())),
                    }),
                    user: user.map(UserKey),
                    bid,
                    auction,
                    currency: if eur { Currency::EUR } else { Currency::USD },
                    country,
                    device_type,
                    reserved: Some(Reserved {
                        amount: Micros(reserved.0),
                        hold_secs: reserved.1,
                    }),
                }
            }
        }

        proptest! {
            /// Whatever a token says, changing any one character of it to
            /// any other is refused: the MAC covers every bit.
            #[test]
            fn any_changed_byte_is_refused(
                claims in any_claims(),
                at in 0usize..TOKEN_LEN,
                to in any::<u8>(),
            ) {
                let s = Signer::new(&[[9; 32]], 86_400);
                let token = s.sign(&claims);
                prop_assert_eq!(s.verify(token.as_str(), claims.issued), Ok(claims));
                let mut bytes = token.as_str().as_bytes().to_vec();
                prop_assume!(bytes[at] != to);
                bytes[at] = to;
                let tampered = String::from_utf8_lossy(&bytes);
                prop_assert!(s.verify(&tampered, claims.issued).is_err(), "{} accepted", tampered);
            }
        }
    }
}
