//! The clock every time-dependent piece of state reads: budgets and their
//! pacing curves, reservations, frequency windows and their calendars,
//! notice tokens, audience expiry.
//!
//! # Consistency promise
//! [`Clock::now`] is wall-clock seconds (UTC) and may step backwards when
//! the host's clock is corrected; state that counts in windows (days,
//! hours, token lifetimes) tolerates that by comparing, never by
//! subtracting unsigned. Deadlines within one request use
//! [`std::time::Instant`] instead, which never steps.
//!
//! Why `dyn`: the bid path reads the clock once per request (a few
//! nanoseconds of indirect call against a 20 ns system call), and a test
//! can then hand the same running server a clock it moves by hand.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::model::UnixTime;

/// Wall-clock time, injected.
pub trait Clock: Send + Sync + Debug {
    /// Seconds since the Unix epoch, UTC.
    fn now(&self) -> UnixTime;

    /// [`Clock::now`] as the `u32` seconds the audience table and tokens
    /// count in (clamped; `u32` seconds last until 2106).
    fn now_secs(&self) -> u32 {
        self.now().0.clamp(0, i64::from(u32::MAX)) as u32
    }
}

/// A clock shared by everything one instance runs.
pub type SharedClock = Arc<dyn Clock>;

/// The host's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        UnixTime::now()
    }
}

/// A clock that moves only when told: for tests of expiry, pacing and
/// day boundaries that must not sleep.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock standing at `at`.
    pub fn at(at: UnixTime) -> Arc<ManualClock> {
        Arc::new(ManualClock(AtomicI64::new(at.0)))
    }

    /// Moves the clock forward by `secs` (backward when negative).
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }

    /// Sets the clock to `at`.
    pub fn set(&self, at: UnixTime) {
        self.0.store(at.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        UnixTime(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::at(UnixTime(1_000));
        assert_eq!(clock.now(), UnixTime(1_000));
        clock.advance(61);
        assert_eq!(clock.now(), UnixTime(1_061));
        clock.set(UnixTime(-5));
        assert_eq!(clock.now_secs(), 0, "clamped, not wrapped");
    }

    #[test]
    fn the_system_clock_is_the_hosts() {
        let before = UnixTime::now();
        let read = SystemClock.now();
        assert!(read >= before && read.0 - before.0 <= 1);
    }
}
