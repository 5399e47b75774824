//! Accepted events written to the event log in groups. Every notice and
//! tracker call is durable before it is answered (a bill is money; a
//! win, loss, impression or click is a count an exchange or advertiser
//! reconciles against): in the store, or in a fleet in Redis or the
//! instance's spool. Writing each in its own transaction costs one
//! `fsync` (or one Redis round trip) per event, and at a few thousand
//! events a second those queue up behind each other and take the bid
//! path's core with them. One writer thread instead takes every event
//! waiting, writes them in one go (one transaction, one `fsync`) and
//! answers each caller. Nothing is acknowledged before its group commits.
//!
//! Never used by the bid path; the callers are the event endpoints.

use std::sync::Arc;
use std::sync::mpsc;

use tokio::sync::oneshot;

use crate::model::EventRecord;
use crate::state::StateError;
use crate::state::event_log::EventLog;
use crate::store::Recorded;
use crate::store::StoreError;

/// The most events one transaction takes.
const GROUP: usize = 512;

/// What a caller gets back: how its event was recorded, and the event.
pub type Written = Result<(Recorded, EventRecord), StateError>;

type Job = (EventRecord, oneshot::Sender<Written>);

/// The writer thread's queue.
pub struct EventWriter {
    queue: mpsc::SyncSender<Job>,
    log: Arc<dyn EventLog>,
}

impl EventWriter {
    /// Starts the writer thread on `store`; it stops when the writer is
    /// dropped.
    pub fn start(log: Arc<dyn EventLog>) -> std::io::Result<EventWriter> {
        let (queue, jobs) = mpsc::sync_channel::<Job>(4 * GROUP);
        let writer = Arc::clone(&log);
        std::thread::Builder::new()
            .name("event-writer".into())
            .spawn(move || write_groups(&*writer, &jobs))?;
        Ok(EventWriter { queue, log })
    }

    /// Records `event` in the log, with whatever other events are
    /// waiting; returns once it is committed.
    pub async fn write(&self, event: EventRecord) -> Written {
        let (reply, answer) = oneshot::channel();
        match self.queue.try_send((event, reply)) {
            Ok(()) => match answer.await {
                Ok(written) => written,
                // The writer thread is gone (only at shutdown).
                Err(_) => Err(StoreError::WriterStopped.into()),
            },
            // A full queue: this one is written on its own, as before
            // groups existed, rather than waited for or dropped.
            Err(mpsc::TrySendError::Full((event, _)))
            | Err(mpsc::TrySendError::Disconnected((event, _))) => {
                let log = Arc::clone(&self.log);
                crate::cold_path::spawn_blocking(move || write_one(&*log, event))
                    .await
                    .unwrap_or(Err(StoreError::WriterStopped.into()))
            }
        }
    }
}

fn write_groups(log: &dyn EventLog, jobs: &mpsc::Receiver<Job>) {
    crate::cold_path::lower_priority();
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let events: Vec<EventRecord> = group.iter().map(|(e, _)| e.clone()).collect();
        match log.record(&events) {
            Ok(recorded) => {
                for ((event, reply), r) in group.into_iter().zip(recorded) {
                    let _ = reply.send(Ok((r, event)));
                }
            }
            // The group failed as a whole: each gets its own attempt, so
            // one bad event cannot fail the others.
            Err(_) => {
                for (event, reply) in group {
                    let _ = reply.send(write_one(log, event));
                }
            }
        }
    }
}

fn write_one(log: &dyn EventLog, event: EventRecord) -> Written {
    let r = log.record(std::slice::from_ref(&event))?;
    Ok((r[0], event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CampaignId, EventKind, UnixTime};
    use openrtb::Micros;

    fn event(bid: u64) -> EventRecord {
        EventRecord {
            bid: format!("bid-{bid}"),
            kind: EventKind::Bill,
            campaign: CampaignId(1),
            exchange: "default".into(),
            stage: None,
            combo: None,
            user_key: None,
            bid_price: Micros(2_000_000),
            price: Some(Micros(1_500_000)),
            cost: Micros(1_500),
            reserved: Micros(2_000),
            held_until: UnixTime(0),
            held_here: true,
            issued: UnixTime(1_000),
            at: UnixTime(1_010),
            settles: true,
            country: String::new(),
            device_type: 0,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_events_are_each_recorded_once_and_answered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(crate::store::Store::open(dir.path()).unwrap());
        let writer = Arc::new(EventWriter::start(Arc::clone(&store) as _).unwrap());
        let mut tasks = Vec::new();
        for bid in 0..200u64 {
            let writer = Arc::clone(&writer);
            let e = event(bid % 100);
            tasks.push(tokio::spawn(async move { writer.write(e).await }));
        }
        let mut fresh = 0;
        for t in tasks {
            let (r, _) = t.await.unwrap().unwrap();
            fresh += usize::from(r.fresh);
        }
        // 100 bids billed twice each: the second of each is a replay.
        assert_eq!(fresh, 100);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_log_that_fails_acknowledges_nothing() {
        use crate::state::event_log::MemoryLog;
        use std::sync::atomic::Ordering;
        let log = Arc::new(MemoryLog::default());
        let writer = EventWriter::start(Arc::clone(&log) as _).unwrap();
        log.failing.store(true, Ordering::Relaxed);
        assert!(writer.write(event(1)).await.is_err());
        assert!(log.recorded().is_empty());
        log.failing.store(false, Ordering::Relaxed);
        let (first, _) = writer.write(event(1)).await.unwrap();
        let (again, _) = writer.write(event(1)).await.unwrap();
        assert!(first.fresh && first.settles);
        assert!(!again.fresh && !again.settles, "a replay settles nothing");
    }
}
