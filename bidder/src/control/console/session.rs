//! Console sessions: a pasted API token becomes a session id in a cookie;
//! each session carries its CSRF token; failed sign-ins are counted per
//! client address and throttled.
//!
//! Keeps only the token's digest ([`TokenDigest`]), never the secret, and
//! only a SHA-256 of each session id, so a memory dump holds nothing a
//! browser could replay. The token is looked up on every request, so
//! revoking it ends its sessions. Times come from the injected clock.
//! In memory: a restart signs everyone out. Never runs on the bid path;
//! the lock is held for one map operation, never across I/O.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::control::auth::TokenDigest;
use crate::model::UnixTime;
use crate::state::clock::SharedClock;

/// The cookie's name. The `__Host-` prefix (when served over https) makes
/// the browser refuse it unless Secure, host-only and for path `/`.
pub const COOKIE_SECURE: &str = "__Host-bidder_session";
/// The cookie's name over plain http (local runs), where browsers refuse
/// the `__Host-` prefix.
pub const COOKIE_PLAIN: &str = "bidder_session";

/// A session unused this long ends.
pub const IDLE_SECS: i64 = 30 * 60;
/// No session lives longer than this, used or not.
pub const LIFETIME_SECS: i64 = 12 * 3600;
/// Sessions held at once; beyond it the oldest is ended, so sign-ins
/// cannot grow memory without bound.
pub const MAX_SESSIONS: usize = 10_000;

/// Failed sign-ins from one address within [`THROTTLE_WINDOW_SECS`] before
/// further attempts are refused unchecked.
pub const MAX_FAILURES: u32 = 5;
/// The window failures are counted in.
pub const THROTTLE_WINDOW_SECS: i64 = 60;
/// Addresses tracked at once; beyond it the oldest windows are dropped.
const MAX_TRACKED: usize = 10_000;

/// A new random value: 32 bytes as 64 hex digits.
fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What a session id is stored under.
fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// One signed-in browser.
#[derive(Debug, Clone)]
struct Entry {
    token: TokenDigest,
    csrf: String,
    started: UnixTime,
    last_seen: UnixTime,
}

/// A live session as a request sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The token it signed in with.
    pub token: TokenDigest,
    /// What every form of this session must carry back.
    pub csrf: String,
}

impl Session {
    /// Whether `sent` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, sent: Option<&str>) -> bool {
        match sent {
            Some(s) => s.as_bytes().ct_eq(self.csrf.as_bytes()).into(),
            None => false,
        }
    }
}

/// A session just started: the id to set as the cookie, once.
#[derive(Clone, PartialEq, Eq)]
pub struct Started {
    /// The cookie's value.
    pub id: String,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Started(..)")
    }
}

/// The sessions of one console.
#[derive(Debug)]
pub struct Sessions {
    clock: SharedClock,
    live: Mutex<HashMap<[u8; 32], Entry>>,
    failures: Mutex<HashMap<IpAddr, (UnixTime, u32)>>,
}

impl Sessions {
    /// No sessions yet; times from `clock`.
    pub fn new(clock: SharedClock) -> Sessions {
        Sessions {
            clock,
            live: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Starts a session for `token`.
    pub fn start(&self, token: TokenDigest) -> Started {
        let now = self.clock.now();
        let id = random_hex();
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|_, e| alive(e, now));
        if live.len() >= MAX_SESSIONS {
            let oldest = live
                .iter()
                .min_by_key(|(_, e)| e.started.0)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                live.remove(&k);
            }
        }
        live.insert(
            key(&id),
            Entry {
                token,
                csrf: random_hex(),
                started: now,
                last_seen: now,
            },
        );
        Started { id }
    }

    /// The live session `id` names, touched; `None` when unknown or
    /// expired (an expired one is ended).
    pub fn get(&self, id: &str) -> Option<Session> {
        let now = self.clock.now();
        let k = key(id);
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = live.get_mut(&k)?;
        if !alive(entry, now) {
            live.remove(&k);
            return None;
        }
        entry.last_seen = now;
        Some(Session {
            token: entry.token.clone(),
            csrf: entry.csrf.clone(),
        })
    }

    /// Ends session `id` (sign out); unknown ids are ignored.
    pub fn end(&self, id: &str) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.remove(&key(id));
    }

    /// Whether `from` may try to sign in now: `Err` with the seconds to
    /// wait after [`MAX_FAILURES`] failures within the window.
    pub fn may_try(&self, from: IpAddr) -> Result<(), i64> {
        let now = self.clock.now();
        let failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        match failures.get(&from) {
            Some((since, n)) if now.0 - since.0 < THROTTLE_WINDOW_SECS && *n >= MAX_FAILURES => {
                Err(THROTTLE_WINDOW_SECS - (now.0 - since.0))
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed sign-in from `from`.
    pub fn failed(&self, from: IpAddr) {
        let now = self.clock.now();
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, (since, _)| now.0 - since.0 < THROTTLE_WINDOW_SECS);
        }
        let slot = failures.entry(from).or_insert((now, 0));
        if now.0 - slot.0.0 >= THROTTLE_WINDOW_SECS {
            *slot = (now, 0);
        }
        slot.1 += 1;
    }
}

/// Whether `e` is still within both its idle and absolute limits at `now`.
fn alive(e: &Entry, now: UnixTime) -> bool {
    now.0 - e.last_seen.0 < IDLE_SECS && now.0 - e.started.0 < LIFETIME_SECS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::clock::ManualClock;

    fn token() -> TokenDigest {
        TokenDigest::of("bdr_0123").unwrap()
    }

    #[test]
    fn a_started_session_is_found_by_its_id_only() {
        let s = Sessions::new(ManualClock::at(UnixTime(1_000)));
        let started = s.start(token());
        let got = s.get(&started.id).unwrap();
        assert_eq!(got.token, token());
        assert_eq!(got.csrf.len(), 64);
        assert!(s.get("not-the-id").is_none());
    }

    #[test]
    fn sessions_end_when_idle_too_long_or_too_old() {
        let clock = ManualClock::at(UnixTime(1_000));
        let s = Sessions::new(clock.clone());
        let idle = s.start(token());
        clock.advance(IDLE_SECS);
        assert!(s.get(&idle.id).is_none(), "idle past the limit");

        let busy = s.start(token());
        for _ in 0..(LIFETIME_SECS / (IDLE_SECS / 2)) {
            clock.advance(IDLE_SECS / 2);
            if s.get(&busy.id).is_none() {
                return;
            }
        }
        panic!("a session in use still ends after its lifetime");
    }

    #[test]
    fn signing_out_ends_the_session() {
        let s = Sessions::new(ManualClock::at(UnixTime(1_000)));
        let started = s.start(token());
        s.end(&started.id);
        assert!(s.get(&started.id).is_none());
    }

    #[test]
    fn csrf_tokens_differ_per_session_and_must_match_exactly() {
        let s = Sessions::new(ManualClock::at(UnixTime(1_000)));
        let a = s.get(&s.start(token()).id).unwrap();
        let b = s.get(&s.start(token()).id).unwrap();
        assert_ne!(a.csrf, b.csrf);
        assert!(a.csrf_matches(Some(&a.csrf)));
        assert!(!a.csrf_matches(Some(&b.csrf)));
        assert!(!a.csrf_matches(Some("")));
        assert!(!a.csrf_matches(None));
    }

    #[test]
    fn failed_sign_ins_are_throttled_per_address_for_a_window() {
        let clock = ManualClock::at(UnixTime(1_000));
        let s = Sessions::new(clock.clone());
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..MAX_FAILURES {
            assert!(s.may_try(a).is_ok());
            s.failed(a);
        }
        assert_eq!(s.may_try(a), Err(THROTTLE_WINDOW_SECS));
        assert!(s.may_try(b).is_ok(), "another address is not affected");
        clock.advance(THROTTLE_WINDOW_SECS);
        assert!(s.may_try(a).is_ok(), "the window passes");
    }
}
