//! Load shedding: whether a bid request that has already waited this long
//! should be decided or answered `204` at once.
//!
//! The wait is measured from when the kernel received the request
//! ([`crate::server::arrival`]), so it includes time in socket buffers and in the
//! runtime's queue, which is where requests wait when the server is
//! saturated. Past `max_queue_delay` the request is shed before it is
//! parsed: a `204` then costs a fraction of a decided answer, so the
//! backlog drains instead of growing until every answer is late. Requests
//! under the limit still meet the `tmax` check after parsing, which counts
//! from the same arrival time.
//!
//! One relaxed atomic store per request (the gauge); never blocks or locks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The shedding rule and the recent wait it saw.
#[derive(Debug)]
pub struct Admission {
    /// Smoothed wait of recent requests, nanoseconds (for `/metrics`).
    recent_nanos: AtomicU64,
    /// At or above this wait, requests are shed; zero never sheds.
    max_queue_delay: Duration,
}

impl Admission {
    /// Sheds requests that waited `max_queue_delay` or more; a zero limit
    /// turns shedding off (waits are still recorded).
    pub fn new(max_queue_delay: Duration) -> Admission {
        Admission {
            recent_nanos: AtomicU64::new(0),
            max_queue_delay,
        }
    }

    /// Recent requests' wait before their handler ran: jumps up at once,
    /// decays by an eighth per request.
    pub fn queue_delay(&self) -> Duration {
        Duration::from_nanos(self.recent_nanos.load(Ordering::Relaxed))
    }

    /// Whether a request that `waited` this long should be decided (`true`)
    /// or shed.
    pub fn admit(&self, waited: Duration) -> bool {
        self.observe(waited);
        self.max_queue_delay.is_zero() || waited < self.max_queue_delay
    }

    fn observe(&self, waited: Duration) {
        let sample = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        let old = self.recent_nanos.load(Ordering::Relaxed);
        // A lost update between two threads costs the gauge one sample,
        // nothing else: a load and a store, not a compare-and-swap loop.
        self.recent_nanos
            .store(sample.max(old - old / 8), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn admits_below_the_limit_and_sheds_at_it() {
        let a = Admission::new(ms(10));
        assert!(a.admit(Duration::ZERO));
        assert!(a.admit(ms(9)));
        assert!(!a.admit(ms(10)));
        assert!(!a.admit(ms(500)));
        assert!(a.admit(ms(1)), "each request is judged by its own wait");
    }

    #[test]
    fn the_recent_wait_jumps_at_once_and_decays_an_eighth_per_request() {
        let a = Admission::new(ms(10));
        a.admit(ms(16));
        assert_eq!(a.queue_delay(), ms(16));
        a.admit(Duration::ZERO);
        assert_eq!(a.queue_delay(), ms(14));
    }

    #[test]
    fn a_zero_limit_never_sheds() {
        let a = Admission::new(Duration::ZERO);
        assert!(a.admit(ms(500)));
        assert_eq!(a.queue_delay(), ms(500));
    }
}
