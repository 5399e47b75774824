//! `bidder audiences upload FILE --funnel ID`: streams a member file to a
//! running bidder's upload route, with a progress bar on the terminal, and
//! returns the job the server reports.
//!
//! Client side only: it never opens the store, so it works against any
//! bidder it can reach over plain HTTP. The file is read in 256 KiB pieces
//! as the connection takes them; it is never held whole.

use std::io::{Read, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use hyper_util::rt::TokioIo;

use crate::model::{Job, UploadMode};

/// What to upload where.
#[derive(Debug, Clone)]
pub struct UploadRequest {
    /// The file (CSV or NDJSON, gzipped or not).
    pub file: std::path::PathBuf,
    /// The funnel's id.
    pub funnel: u32,
    /// What the rows do.
    pub mode: UploadMode,
    /// `http://host:port` of the bidder.
    pub url: String,
    /// An API token of a buyer of the funnel's advertiser (or an admin).
    pub token: String,
}

/// Why an upload could not be done.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The URL is not `http://host:port`.
    #[error("--url must look like http://host:port (got {0})")]
    Url(String),
    /// The connection failed.
    #[error("cannot reach the bidder: {0}")]
    Connect(String),
    /// The server refused the upload.
    #[error("the bidder answered {status}: {body}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Its error body.
        body: String,
    },
}

/// The upload body: pieces of the file sent by a reader thread.
struct ChannelBody(tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|piece| piece.map(|r| r.map(Frame::data)))
    }
}

/// Uploads `req.file`, drawing progress on `progress` (stderr on a
/// terminal), and returns the finished job.
pub async fn upload(req: &UploadRequest, mut progress: impl Write) -> Result<Job, UploadError> {
    let path = req.file.display().to_string();
    let file_err = |source| UploadError::File {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::File::open(&req.file).map_err(file_err)?;
    let total = file.metadata().map_err(file_err)?.len();
    let authority = req
        .url
        .strip_prefix("http://")
        .map(|rest| rest.trim_end_matches('/'))
        .filter(|a| !a.is_empty() && !a.contains('/'))
        .ok_or_else(|| UploadError::Url(req.url.clone()))?
        .to_owned();

    let sent = Arc::new(AtomicU64::new(0));
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let reader = {
        let sent = Arc::clone(&sent);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if tx
                            .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                            .is_err()
                        {
                            break;
                        }
                        sent.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        break;
                    }
                }
            }
        })
    };

    let stream = tokio::net::TcpStream::connect(&authority)
        .await
        .map_err(|e| UploadError::Connect(format!("{authority}: {e}")))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| UploadError::Connect(e.to_string()))?;
    tokio::spawn(conn);
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!(
            "/api/v1/funnels/{}/uploads?mode={}",
            req.funnel,
            req.mode.as_str()
        ))
        .header(header::HOST, &authority)
        .header(header::AUTHORIZATION, format!("Bearer {}", req.token))
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(ChannelBody(rx))
        .map_err(|e| UploadError::Url(e.to_string()))?;

    let started = Instant::now();
    let response = sender.send_request(request);
    tokio::pin!(response);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let response = loop {
        tokio::select! {
            r = &mut response => break r,
            _ = tick.tick() => draw(&mut progress, sent.load(Ordering::Relaxed), total, started.elapsed(), false),
        }
    };
    draw(
        &mut progress,
        sent.load(Ordering::Relaxed),
        total,
        started.elapsed(),
        true,
    );
    let _ = reader.join();
    let response = response.map_err(|e| UploadError::Connect(e.to_string()))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| UploadError::Connect(e.to_string()))?
        .to_bytes();
    if status != 201 {
        return Err(UploadError::Refused {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    serde_json::from_slice(&body).map_err(|e| UploadError::Refused {
        status,
        body: format!("unreadable job report: {e}"),
    })
}

/// One progress line: bar, bytes, rate, time left.
fn draw(out: &mut impl Write, sent: u64, total: u64, elapsed: Duration, done: bool) {
    const WIDTH: usize = 30;
    let fraction = if total == 0 {
        1.0
    } else {
        sent as f64 / total as f64
    };
    let filled = ((fraction * WIDTH as f64) as usize).min(WIDTH);
    let rate = sent as f64 / elapsed.as_secs_f64().max(1e-3);
    let left = if rate > 0.0 {
        total.saturating_sub(sent) as f64 / rate
    } else {
        0.0
    };
    let _ = write!(
        out,
        "\r[{}{}] {:>5.1}%  {:.1} / {:.1} MB  {:.1} MB/s  {}   ",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled),
        fraction * 100.0,
        sent as f64 / 1e6,
        total as f64 / 1e6,
        rate / 1e6,
        if done {
            "sent, waiting for the last rows to commit".to_owned()
        } else {
            format!("{left:.0}s left")
        },
    );
    if done {
        let _ = writeln!(out);
    }
    let _ = out.flush();
}

/// The job as a few lines for the terminal.
pub fn summary(job: &Job) -> String {
    let mut s = format!(
        "job {} {}: {} rows read, {} accepted, {} rejected, {} removed (last line {})",
        job.id.0,
        job.status.as_str(),
        job.rows_read,
        job.rows_accepted,
        job.rows_rejected,
        job.rows_removed,
        job.last_line
    );
    if let Some(m) = &job.message {
        s.push_str(&format!("\n  {m}"));
    }
    for r in job.rejections.iter().take(10) {
        s.push_str(&format!("\n  line {}: {}", r.line, r.reason));
    }
    if job.rejections.len() > 10 {
        s.push_str(&format!(
            "\n  ... {} more rejections: GET /api/v1/jobs/{}",
            job.rows_rejected - 10,
            job.id.0
        ));
    }
    s
}
