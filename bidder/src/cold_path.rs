//! Cold-path threads give way to the bid path. The event worker, the
//! report worker, the billing writer and the blocking pool (admin writes,
//! uploads, chores) share the machine's cores with the threads that answer
//! bid requests. Under the kernel's default policy a background thread
//! that wakes preempts a running bid thread and keeps the core until the
//! next scheduler tick (4 ms on a 250 Hz kernel): measured with
//! `perf sched`, a nice-10 admin thread took a busy bid thread's core for
//! 3 ms at once, and 30 bid requests waited behind it.
//!
//! - [`lower_priority`]: nice 10 under `SCHED_BATCH`. A batch thread never
//!   preempts a running thread when it wakes; it runs when the bid path
//!   leaves the core, with the weight of nice 10, so background work is
//!   delayed under overload, never starved. Used by every cold-path thread.
//! - [`idle_priority`]: `SCHED_IDLE`, for CPU-heavy work nothing waits on
//!   but a writer (compiling a bid snapshot, freeing the replaced one): it
//!   runs only on a core the bid path leaves, and a bid thread that wakes
//!   takes the core back at once. Under a saturated bid path such work
//!   waits until the load falls; bids come first. A thread never leaves
//!   `SCHED_IDLE` (an unprivileged thread may not), so it is set only on
//!   threads of their own ([`run_idle`]).
//!
//! Called only from the background threads themselves; never from the
//! bid path.
#![allow(unsafe_code)]

/// Lowers the calling thread to nice 10 under `SCHED_BATCH`: it no longer
/// preempts when it wakes, and it gets a tenth of the weight of a bid
/// thread. Best effort: where the system refuses, the thread runs at
/// normal priority.
pub fn lower_priority() {
    set_nice(10);
    set_policy(Policy::Batch);
}

/// Puts the calling thread under `SCHED_IDLE`, for good: it runs only
/// when nothing else wants the core. Where the system refuses, the thread
/// gets [`lower_priority`] at nice 19 instead.
pub fn idle_priority() {
    if !set_policy(Policy::Idle) {
        set_nice(19);
        set_policy(Policy::Batch);
    }
}

/// Runs `work` on a thread of its own under [`idle_priority`] and waits
/// for its result: CPU-heavy cold-path work that may borrow the caller's
/// data. A panic in `work` resumes in the caller. Where no thread can be
/// started, `work` runs on the calling thread.
pub fn run_idle<R: Send>(name: &str, work: impl FnOnce() -> R + Send) -> R {
    let mut work = Some(work);
    let joined = std::thread::scope(|scope| {
        let thread = std::thread::Builder::new().name(name.into());
        thread
            .spawn_scoped(scope, || {
                idle_priority();
                work.take().map(|w| w())
            })
            .map(|handle| handle.join())
    });
    match joined {
        Ok(Ok(Some(result))) => result,
        Ok(Ok(None)) => unreachable!("the idle thread runs the work it is handed"),
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(e) => {
            tracing::warn!(error = %e, "no thread for idle work; it runs here");
            let work = work.take().expect("no thread started, so none took it");
            work()
        }
    }
}

fn set_nice(nice: i32) {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take no pointers; on Linux the nice
    // value is per thread, and this changes only the calling thread's.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid, nice);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

#[derive(Clone, Copy)]
enum Policy {
    Batch,
    Idle,
}

/// Sets the calling thread's scheduling policy, keeping its nice value;
/// whether the system agreed.
fn set_policy(policy: Policy) -> bool {
    #[cfg(target_os = "linux")]
    {
        let policy = match policy {
            Policy::Batch => libc::SCHED_BATCH,
            Policy::Idle => libc::SCHED_IDLE,
        };
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` lives across the call; pid 0 is the calling
        // thread on Linux, so only this thread changes.
        unsafe { libc::sched_setscheduler(0, policy, &param) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = policy;
        false
    }
}

/// `tokio::task::spawn_blocking` for cold-path work (admin writes,
/// uploads, chores): the blocking-pool thread runs it at lowered priority.
/// A pool thread, once lowered, stays so; the pool only ever runs such
/// work (the bid path never blocks).
pub fn spawn_blocking<F, R>(f: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        lower_priority();
        f()
    })
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// The calling thread's policy and nice value.
    fn policy_and_nice() -> (i32, i32) {
        let tid = unsafe { libc::syscall(libc::SYS_gettid) } as libc::id_t;
        let policy = unsafe { libc::sched_getscheduler(0) };
        (policy, unsafe {
            libc::getpriority(libc::PRIO_PROCESS, tid)
        })
    }

    #[test]
    fn only_the_calling_thread_is_lowered_to_a_batch_thread_at_nice_10() {
        let (policy, before) = policy_and_nice();
        let lowered = std::thread::spawn(|| {
            super::lower_priority();
            policy_and_nice()
        })
        .join()
        .unwrap();
        assert_eq!(lowered, (libc::SCHED_BATCH, (before + 10).min(19)));
        assert_eq!(policy_and_nice(), (policy, before));
    }

    #[test]
    fn idle_work_runs_on_an_idle_thread_and_hands_back_its_result() {
        let caller = policy_and_nice();
        let borrowed: Vec<i32> = (1..=3).collect();
        let (sum, policy) = super::run_idle("idle-test", || {
            (borrowed.iter().sum::<i32>(), policy_and_nice().0)
        });
        assert_eq!((sum, policy), (6, libc::SCHED_IDLE));
        assert_eq!(policy_and_nice(), caller, "the caller keeps its priority");
    }

    #[test]
    fn a_panic_in_idle_work_reaches_the_caller() {
        let caught = std::panic::catch_unwind(|| super::run_idle("idle-test", || panic!("boom")));
        let message = caught.unwrap_err();
        assert_eq!(message.downcast_ref::<&str>(), Some(&"boom"));
    }
}
