//! A timeout that costs nothing when the future is ready at once.
//!
//! `tokio::time::timeout` reads the clock when it is created and registers
//! a timer (under the time driver's lock) the first time the future is
//! pending. A bid request's body is nearly always in the connection's
//! buffer already, yet hyper hands it over through a channel that fills
//! only after the handler's first poll: that first poll is always pending,
//! so every request paid for a timer it never needed. [`within`] gives the
//! future one more poll before it arms the timer, and dates the timer from
//! the caller's instant, so the limit still counts from the start.
//!
//! Never blocks; the timer is tokio's.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

/// The future did not finish within its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// Runs `fut` until it finishes or until `limit` after `started`. Until the
/// future has been pending twice, no timer exists.
pub async fn within<F: Future>(
    started: Instant,
    limit: Duration,
    fut: F,
) -> Result<F::Output, Elapsed> {
    let mut fut = pin!(fut);
    let mut pending_once = false;
    let early = poll_fn(|cx| match fut.as_mut().poll(cx) {
        Poll::Ready(out) => Poll::Ready(Some(out)),
        Poll::Pending if !pending_once => {
            pending_once = true;
            // Be polled again even if whatever the future waits on never
            // wakes it: the second poll must come, to arm the timer.
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Poll::Pending => Poll::Ready(None),
    })
    .await;
    if let Some(out) = early {
        return Ok(out);
    }
    let deadline = tokio::time::Instant::from_std(started) + limit;
    tokio::time::timeout_at(deadline, fut)
        .await
        .map_err(|_| Elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_future_that_never_finishes_times_out_counting_from_the_start() {
        // Started ten seconds ago with a limit of ten seconds and a bit:
        // the timeout comes after the bit, not after ten more seconds.
        let started = Instant::now() - Duration::from_secs(10);
        let called = Instant::now();
        let never = std::future::pending::<()>();
        let result = within(started, Duration::from_millis(10_050), never).await;
        assert_eq!(result, Err(Elapsed));
        assert!(started.elapsed() >= Duration::from_millis(10_050));
        assert!(
            called.elapsed() < Duration::from_secs(5),
            "{:?}",
            called.elapsed()
        );
    }

    #[test]
    fn a_future_ready_on_its_second_poll_arms_no_timer() {
        // Outside a runtime's time driver, arming a timer panics: the
        // future below finishes on its second poll, so none is armed.
        let mut polls = 0;
        let second = poll_fn(|cx| {
            polls += 1;
            if polls == 1 {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(7)
            }
        });
        let no_timers = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let result = no_timers.block_on(within(Instant::now(), Duration::from_secs(1), second));
        assert_eq!(result, Ok(7));
    }

    #[tokio::test]
    async fn a_future_that_finishes_later_is_not_cut_short() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            let _ = tx.send(5);
        });
        let result = within(Instant::now(), Duration::from_secs(5), rx).await;
        assert_eq!(result, Ok(Ok(5)));
    }
}
