//! Cold-path threads give way to the bid path. The event worker, the
//! report worker, the billing writer and the blocking pool (admin writes,
//! uploads, chores) share the machine's cores with
//! the threads that answer bid requests; under the default scheduler a
//! busy background thread gets an equal share of a core, and a bid
//! request arriving meanwhile waits a time slice (milliseconds) behind it.
//! At a lower priority (nice 10) the kernel runs a waking bid thread at
//! once and gives background work what the bid path leaves. Background
//! work still runs when the bid path is busy (nice is a weight, not a
//! ban), so events are delayed under overload, never starved.
//!
//! Called only from the background threads themselves; never from the
//! bid path.
#![allow(unsafe_code)]

/// Lowers the calling thread's priority to nice 10. Best effort: where the
/// system refuses, the thread runs at normal priority.
pub fn lower_priority() {
    set_nice(10);
}

/// Lowers the calling thread's priority to nice 19, below the other
/// cold-path work: for chores nobody waits for (freeing replaced
/// snapshots). Best effort, as [`lower_priority`].
pub fn lowest_priority() {
    set_nice(19);
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
    #[test]
    fn only_the_calling_thread_is_lowered() {
        let before = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let lowered = std::thread::spawn(|| {
            super::lower_priority();
            let tid = unsafe { libc::syscall(libc::SYS_gettid) } as libc::id_t;
            unsafe { libc::getpriority(libc::PRIO_PROCESS, tid) }
        })
        .join()
        .unwrap();
        assert_eq!(lowered, (before + 10).min(19));
        assert_eq!(unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }, before);
    }
}
