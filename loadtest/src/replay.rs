//! Replays bid requests against a URL: `connections` keep-alive HTTP/1.1
//! connections, each sending the next request as soon as the previous answer
//! arrived (closed loop), for `duration`.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::report::Report;

/// One request body, possibly gzipped, as it goes on the wire.
#[derive(Clone)]
pub struct Payload {
    /// The bytes sent.
    pub body: Bytes,
    /// Whether `body` is gzip (sent with `Content-Encoding: gzip`).
    pub gzip: bool,
}

impl Payload {
    /// A payload; when `gzip`, `json` is compressed first.
    pub fn new(json: &[u8], gzip: bool) -> Payload {
        if !gzip {
            return Payload {
                body: Bytes::copy_from_slice(json),
                gzip,
            };
        }
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        // Writing to a Vec cannot fail.
        let _ = enc.write_all(json);
        Payload {
            body: Bytes::from(enc.finish().unwrap_or_default()),
            gzip,
        }
    }
}

/// What to send, where, how hard and how long.
pub struct Plan {
    /// The endpoint, e.g. `http://127.0.0.1:8080/openrtb2/bid`.
    pub url: Uri,
    /// Bodies, sent round-robin.
    pub payloads: Arc<Vec<Payload>>,
    /// Concurrent connections.
    pub connections: usize,
    /// How long to send.
    pub duration: Duration,
}

/// Runs `plan` and reports what it measured.
pub async fn run(plan: Plan) -> anyhow::Result<Report> {
    anyhow::ensure!(!plan.payloads.is_empty(), "no request bodies to send");
    anyhow::ensure!(plan.connections > 0, "at least one connection is needed");
    let host = plan.url.host().unwrap_or("127.0.0.1").to_string();
    let port = plan.url.port_u16().unwrap_or(80);
    let started = Instant::now();
    let until = started + plan.duration;
    let mut tasks = Vec::new();
    for worker in 0..plan.connections {
        let payloads = Arc::clone(&plan.payloads);
        let url = plan.url.clone();
        let addr = format!("{host}:{port}");
        tasks.push(tokio::spawn(async move {
            worker_loop(addr, url, payloads, worker, until).await
        }));
    }
    let mut statuses = BTreeMap::new();
    let mut latency_us = Histogram::<u64>::new(3)?;
    for task in tasks {
        let (s, h) = task.await??;
        for (k, v) in s {
            *statuses.entry(k).or_insert(0) += v;
        }
        latency_us.add(h)?;
    }
    Ok(Report {
        elapsed: started.elapsed(),
        statuses,
        latency_us,
    })
}

type Tally = (BTreeMap<u16, u64>, Histogram<u64>);

async fn worker_loop(
    addr: String,
    url: Uri,
    payloads: Arc<Vec<Payload>>,
    worker: usize,
    until: Instant,
) -> anyhow::Result<Tally> {
    let mut statuses = BTreeMap::new();
    let mut hist = Histogram::<u64>::new(3)?;
    let mut next = worker % payloads.len();
    'connect: while Instant::now() < until {
        let stream = TcpStream::connect(&addr).await?;
        stream.set_nodelay(true)?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        while Instant::now() < until {
            let p = &payloads[next];
            next = (next + 1) % payloads.len();
            let mut req = Request::post(url.clone())
                .header("content-type", "application/json")
                .header("x-openrtb-version", "2.6");
            if p.gzip {
                req = req.header("content-encoding", "gzip");
            }
            let req = req.body(Full::new(p.body.clone()))?;
            let t0 = Instant::now();
            let answer = match sender.send_request(req).await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    resp.into_body().collect().await.map(|_| status)
                }
                Err(e) => Err(e),
            };
            match answer {
                Ok(status) => {
                    hist.saturating_record(t0.elapsed().as_micros() as u64);
                    *statuses.entry(status).or_insert(0) += 1;
                }
                Err(_) => {
                    *statuses.entry(0).or_insert(0) += 1;
                    continue 'connect;
                }
            }
        }
    }
    Ok((statuses, hist))
}
