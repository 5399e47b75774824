//! The `loadtest` binary: `loadtest ceiling` serves the baseline,
//! `loadtest replay` sends a folder of bid requests at a URL.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use loadtest::replay::{self, Mode, Payload, Plan};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exchange simulator for the bidder.
#[derive(Parser)]
#[command(name = "loadtest")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the minimal server that answers every request with a fixed bid response.
    Ceiling {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: String,
    },
    /// Replay the *.json bid requests of a folder against a URL.
    Replay {
        /// Endpoint to post to.
        #[arg(long, default_value = "http://127.0.0.1:8080/openrtb2/bid")]
        url: String,
        /// Folder of bid requests.
        #[arg(long, default_value = "testdata/requests")]
        dir: PathBuf,
        /// Concurrent keep-alive connections.
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// Seconds to run.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Send every Nth request gzipped (0 = never).
        #[arg(long, default_value_t = 0)]
        gzip_every: usize,
        /// Open loop at this many requests per second (latency from each
        /// request's due time); without it, closed loop at saturation.
        #[arg(long)]
        rate: Option<u64>,
        /// Also write the report as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// No progress line every second.
        #[arg(long)]
        quiet: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // One worker thread: the load generator is pinned to one core
    // (`taskset`) and the server under test to the other.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Ceiling { listen } => {
                let listener = tokio::net::TcpListener::bind(&listen).await?;
                eprintln!("ceiling listening on {}", listener.local_addr()?);
                loadtest::ceiling::serve(listener).await?;
            }
            Command::Replay {
                url,
                dir,
                connections,
                seconds,
                gzip_every,
                rate,
                json,
                quiet,
            } => {
                let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                    .with_context(|| format!("reading {}", dir.display()))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect();
                files.sort();
                let mut payloads = Vec::new();
                for (i, f) in files.iter().enumerate() {
                    let json = std::fs::read(f)?;
                    let gzip = gzip_every > 0 && (i + 1) % gzip_every == 0;
                    payloads.push(Payload::new(&json, gzip));
                }
                let report = replay::run(Plan {
                    url: url.parse().context("--url")?,
                    payloads: Arc::new(payloads),
                    connections,
                    duration: Duration::from_secs(seconds),
                    mode: rate.map_or(Mode::Closed, |rate| Mode::Open { rate }),
                    progress: !quiet,
                })
                .await?;
                println!("{report}");
                if let Some(path) = json {
                    std::fs::write(&path, serde_json::to_vec_pretty(&report.to_json())?)
                        .with_context(|| format!("writing {}", path.display()))?;
                }
            }
        }
        anyhow::Ok(())
    })
}
