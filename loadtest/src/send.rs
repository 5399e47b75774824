//! Sends bid requests at a URL (or a pool of them, [`run_pool`]) over
//! keep-alive HTTP/1.1 connections, in one of two modes, and
//! (optionally) closes the loop with notices ([`crate::notices`]):
//!
//! - **closed loop**: each connection sends its next request as soon as the
//!   previous answer arrived; finds the saturation throughput.
//! - **open loop**: requests are due on a fixed schedule (`rate` per second
//!   over all connections) whatever the answers do, and latency is measured
//!   from when a request was *due*, not when it was sent. A stalled server
//!   therefore shows up as latency instead of silently lowering the request
//!   rate (the "coordinated omission" a closed loop hides). Like an
//!   exchange's connection pool, a due request goes out on whichever
//!   connection is free; when none is, it waits for the first to free up,
//!   and the wait counts in its latency.
//!
//! With a pool of targets (a fleet's instances), connections are dealt
//! to them round robin, as an exchange's pool spreads its connections,
//! and the notices of a bid go to the *next* target in the pool, as an
//! exchange's notice calls reach any instance: the loop closes across
//! instances. The report is per target and in total.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::net::TcpStream;

use crate::notices::{self, Closing, Notifier, NotifierHandle};
use crate::report::Report;

pub use crate::plan::{Mode, Payload, Plan};

/// Counters the progress line reads while the run goes on.
#[derive(Default)]
struct Live {
    started: AtomicU64,
    answered: AtomicU64,
    bids: AtomicU64,
    errors: AtomicU64,
    late: AtomicU64,
}

/// Runs `plan` and reports what it measured.
pub async fn run(plan: Plan) -> anyhow::Result<Report> {
    Ok(run_pool(plan, &[]).await?.total)
}

/// What a run over a pool of targets measured.
pub struct PoolReport {
    /// Every target together.
    pub total: Report,
    /// Per target (its URL): the requests it answered and the notices it
    /// was sent.
    pub targets: Vec<(String, Report)>,
}

/// `host:port` of `url`, which must be on loopback.
fn loopback(url: &Uri) -> anyhow::Result<String> {
    let host = url.host().unwrap_or("127.0.0.1").to_string();
    anyhow::ensure!(
        host == "127.0.0.1" || host == "localhost" || host == "::1" || host == "[::1]",
        "loadtest only targets loopback addresses, not {host}"
    );
    Ok(format!("{host}:{}", url.port_u16().unwrap_or(80)))
}

/// Runs `plan` against its URL and every URL of `also` (a pool, like a
/// fleet's instances): connection `k` goes to target `k % n`, the notices
/// of a bid to the target after the one that bid.
pub async fn run_pool(plan: Plan, also: &[Uri]) -> anyhow::Result<PoolReport> {
    anyhow::ensure!(!plan.payloads.is_empty(), "no request bodies to send");
    anyhow::ensure!(plan.connections > 0, "at least one connection is needed");
    if let Mode::Open { rate } = plan.mode {
        anyhow::ensure!(rate > 0, "an open-loop rate must be above 0");
    }
    let urls: Vec<Uri> = std::iter::once(plan.url.clone())
        .chain(also.iter().cloned())
        .collect();
    anyhow::ensure!(
        plan.connections >= urls.len(),
        "{} connections cannot reach {} targets",
        plan.connections,
        urls.len()
    );
    let addrs = urls
        .iter()
        .map(loopback)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let started = Instant::now();
    let until = started + plan.duration;
    let live = Arc::new(Live::default());
    let progress = plan.progress.then(|| {
        let live = Arc::clone(&live);
        tokio::spawn(async move {
            let mut last = 0;
            let mut tick = tokio::time::interval_at(
                tokio::time::Instant::now() + Duration::from_secs(1),
                Duration::from_secs(1),
            );
            loop {
                tick.tick().await;
                let now = live.answered.load(Ordering::Relaxed);
                let bids = live.bids.load(Ordering::Relaxed);
                eprintln!(
                    "{:>4.0} s {:>8} /s  answers {:>9}  bids {:>5.1} %  late {}  errors {}",
                    started.elapsed().as_secs_f64(),
                    now - last,
                    now,
                    100.0 * bids as f64 / now.max(1) as f64,
                    live.late.load(Ordering::Relaxed),
                    live.errors.load(Ordering::Relaxed),
                );
                last = now;
            }
        })
    });
    let _busy = plan.busy_poll.then(BusyPoll::start);
    let notifiers: Vec<Option<Notifier>> = addrs
        .iter()
        .map(|addr| {
            plan.closing
                .map(|_| Notifier::start(addr, (plan.connections / 8 / addrs.len()).max(2), 4096))
        })
        .collect();
    let schedule = match plan.mode {
        Mode::Closed => None,
        Mode::Open { rate } => Some(Arc::new(Schedule {
            started,
            rate: rate as f64,
            next: AtomicU64::new(0),
        })),
    };
    let mut tasks = Vec::new();
    for worker in 0..plan.connections {
        let target = worker % urls.len();
        let notices_to = (target + 1) % urls.len();
        let job = Worker {
            addr: addrs[target].clone(),
            url: urls[target].clone(),
            payloads: Arc::clone(&plan.payloads),
            first: worker,
            schedule: schedule.clone(),
            until,
            max_requests: plan.max_requests,
            spin: if plan.connections <= SPINNING_CONNECTIONS {
                Duration::from_millis(2)
            } else {
                Duration::ZERO
            },
            give_up: plan.give_up,
            live: Arc::clone(&live),
            closing: plan
                .closing
                .zip(notifiers[notices_to].as_ref().map(Notifier::handle)),
            rng: StdRng::seed_from_u64(plan.seed.wrapping_mul(1_000_003) + worker as u64),
        };
        tasks.push((target, tokio::spawn(job.run())));
    }
    let mut total = Report::new(plan.mode)?;
    let mut targets = Vec::new();
    for url in &urls {
        targets.push((url.to_string(), Report::new(plan.mode)?));
    }
    for (target, task) in tasks {
        targets[target].1.merge(task.await??)?;
    }
    // Bid requests are done; what is measured stops here. Notices still
    // queued are sent before the report is complete.
    let elapsed = started.elapsed();
    for (notifier, (_, report)) in notifiers.into_iter().zip(&mut targets) {
        report.elapsed = elapsed;
        if let Some(n) = notifier {
            report.notices.merge(n.finish().await);
        }
    }
    total.elapsed = elapsed;
    for (_, report) in &targets {
        total.merge_copy(report)?;
    }
    if let Some(p) = progress {
        p.abort();
    }
    Ok(PoolReport { total, targets })
}

/// Waits until `due`. tokio's timer ticks in milliseconds, which would add
/// up to a millisecond of our own lateness to every open-loop latency, so
/// the last `spin` is spent yielding instead (the generator has its own
/// core). With many connections, each spinning would eat that core, so
/// they sleep all the way and accept the timer's lateness.
async fn wait_until(due: Instant, spin: Duration) {
    loop {
        let now = Instant::now();
        if now >= due {
            return;
        }
        let left = due - now;
        if left > spin {
            tokio::time::sleep(left - spin).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
}

/// While alive, a task that only yields, so that the runtime always has
/// work and polls the sockets (epoll with no timeout) instead of parking.
/// Dropping it stops the polling, however the run ends.
struct BusyPoll(tokio::task::JoinHandle<()>);

impl BusyPoll {
    fn start() -> BusyPoll {
        BusyPoll(tokio::spawn(async {
            loop {
                tokio::task::yield_now().await;
            }
        }))
    }
}

impl Drop for BusyPoll {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The open loop's due times, shared by the connections: a connection that
/// is free takes the next request not yet taken. Giving each connection
/// its own share of the schedule instead would make the requests behind a
/// slow answer wait for it while other connections sit idle, which no
/// exchange does, and add that wait to the tail.
struct Schedule {
    started: Instant,
    /// Requests per second.
    rate: f64,
    /// The next request not yet taken, counted from 0.
    next: AtomicU64,
}

impl Schedule {
    /// Takes the next request: its number and when it is due.
    fn take(&self) -> (u64, Instant) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        (
            n,
            self.started + Duration::from_secs_f64(n as f64 / self.rate),
        )
    }
}

/// Connections up to which open-loop waits spin their last 2 ms.
const SPINNING_CONNECTIONS: usize = 64;

/// One connection's share of the run.
struct Worker {
    addr: String,
    url: Uri,
    payloads: Arc<Vec<Payload>>,
    /// Closed loop: the payload this connection sends first.
    first: usize,
    /// Open loop only: the due times.
    schedule: Option<Arc<Schedule>>,
    until: Instant,
    max_requests: Option<u64>,
    spin: Duration,
    give_up: bool,
    live: Arc<Live>,
    closing: Option<(Closing, NotifierHandle)>,
    rng: StdRng,
}

impl Worker {
    async fn run(mut self) -> anyhow::Result<Report> {
        let mut tally = Report::new(Mode::Closed)?;
        let mut next = self.first % self.payloads.len();
        'connect: while Instant::now() < self.until {
            let stream = match TcpStream::connect(&self.addr).await {
                Ok(s) => s,
                Err(_) => {
                    tally.error("connect");
                    self.live.errors.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            stream.set_nodelay(true)?;
            let Ok((mut sender, conn)) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
            else {
                tally.error("handshake");
                self.live.errors.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            tokio::spawn(conn);
            while Instant::now() < self.until {
                let start = match &self.schedule {
                    Some(schedule) => {
                        let (n, due) = schedule.take();
                        if due >= self.until {
                            break 'connect;
                        }
                        // The same requests in the same order, whichever
                        // connection sends them.
                        next = (n % self.payloads.len() as u64) as usize;
                        wait_until(due, self.spin).await;
                        due
                    }
                    None => Instant::now(),
                };
                if self.give_up {
                    let p = &self.payloads[next];
                    let patience = p.tmax.unwrap_or(Duration::from_millis(100)) / 2;
                    // Giving up is open loop only: the next request taken
                    // from the schedule brings its own payload.
                    if start.elapsed() > patience {
                        tally.given_up += 1;
                        continue;
                    }
                }
                let n = self.live.started.fetch_add(1, Ordering::Relaxed);
                if self.max_requests.is_some_and(|max| n >= max) {
                    break 'connect;
                }
                let p = &self.payloads[next];
                next = (next + 1) % self.payloads.len();
                let mut req = Request::post(self.url.clone())
                    .header("content-type", "application/json")
                    .header("x-openrtb-version", "2.6");
                if p.gzip {
                    req = req.header("content-encoding", "gzip");
                }
                let req = req.body(Full::new(p.body.clone()))?;
                let answer = match sender.send_request(req).await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        resp.into_body()
                            .collect()
                            .await
                            .map(|b| (status, b.to_bytes()))
                            .map_err(|_| "body")
                    }
                    Err(_) => Err("send"),
                };
                match answer {
                    Ok((status, body)) => {
                        let took = start.elapsed();
                        let late = tally.answer(status, took, p.tmax);
                        tally.answer_bytes += body.len() as u64;
                        self.live.answered.fetch_add(1, Ordering::Relaxed);
                        self.live
                            .bids
                            .fetch_add(u64::from(status == 200), Ordering::Relaxed);
                        self.live.late.fetch_add(u64::from(late), Ordering::Relaxed);
                        if let (Some((closing, queue)), 200) = (self.closing.as_mut(), status) {
                            queue.send(notices::follow_up(&body, closing, &mut self.rng));
                        }
                    }
                    Err(kind) => {
                        tally.error(kind);
                        self.live.errors.fetch_add(1, Ordering::Relaxed);
                        continue 'connect;
                    }
                }
            }
        }
        if let Some((_, queue)) = self.closing {
            tally.notices.dropped += queue.dropped;
        }
        Ok(tally)
    }
}
