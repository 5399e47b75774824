//! The `loadtest` binary: `loadtest run` sends generated (or replayed) bid
//! requests at a bidder and closes the loop with notices, `loadtest seed`
//! loads a test catalog and audience into a bidder, `loadtest writes`
//! updates its campaigns at a steady rate, `loadtest ceiling`
//! serves the baseline to compare with.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use loadtest::ceiling::Work;
use loadtest::notices::Closing;
use loadtest::seed::{self, Catalog};
use loadtest::send::{self, Mode, Payload, Plan};
use loadtest::traffic::{Generator, Mix};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exchange simulator for the bidder (loopback targets only).
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
        /// Pad the answer to this many bytes (e.g. the bidder's average
        /// answer), to see what the bytes alone cost.
        #[arg(long)]
        answer_bytes: Option<usize>,
        /// Parse each request with the bidder's OpenRTB parser before
        /// answering (400 when it does not parse): what parsing alone
        /// costs, apart from deciding.
        #[arg(long)]
        parse: bool,
    },
    /// Send bid requests at a bidder and report throughput and latency.
    Run(RunArgs),
    /// Load campaigns, creatives and audience users into a running bidder
    /// through its admin API.
    Seed {
        /// The bidder's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// An admin API token.
        #[arg(long, env = "BIDDER_TOKEN", hide_env_values = true)]
        token: String,
        /// Campaigns to create (one advertiser and funnel per 50).
        #[arg(long, default_value_t = 1000)]
        campaigns: u32,
        /// Audience users to upload (ranks 1..=N of `run`'s population).
        #[arg(long, default_value_t = 1_000_000)]
        users: u64,
        /// Share of campaigns with a small daily budget (asap pacing).
        #[arg(long, default_value_t = 0.02)]
        small_budgets: f64,
        /// That small daily budget, micros.
        #[arg(long, default_value_t = 50_000_000)]
        small_budget_micros: i64,
        /// Seed of the catalog.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Update campaigns through the admin API at a steady rate (read,
    /// change the base CPM, PUT with If-Match), one write at a time.
    Writes {
        /// The bidder's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// An admin API token.
        #[arg(long, env = "BIDDER_TOKEN", hide_env_values = true)]
        token: String,
        /// Writes per second.
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
        /// Seconds to write at most.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Writes to send at most.
        #[arg(long)]
        writes: Option<u64>,
        /// Seed of the order campaigns are written in.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Args)]
struct RunArgs {
    /// Endpoint to post to; several (repeated, or comma-separated) make
    /// a pool like a fleet's instances: connections dealt round robin,
    /// each bid's notices sent to the next one, reported per instance
    /// and in total.
    #[arg(
        long,
        default_value = "http://127.0.0.1:8080/openrtb2/bid",
        value_delimiter = ','
    )]
    url: Vec<String>,
    /// Replay the *.json bid requests of this folder instead of generating.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds to run at most.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Requests to send at most.
    #[arg(long)]
    requests: Option<u64>,
    /// Open loop at this many requests per second (latency from each
    /// request's due time); without it, closed loop at saturation.
    #[arg(long)]
    rate: Option<u64>,
    /// With --rate: like an exchange, do not send a request that found no
    /// free connection within half its tmax (counted as given up).
    #[arg(long)]
    give_up: bool,
    /// Keep the generator's thread polling instead of sleeping between
    /// answers, so that the server's core never pays to wake it (as with
    /// an exchange on another machine). For comparing servers.
    #[arg(long)]
    busy_poll: bool,
    /// Send every Nth request gzipped (0 = never).
    #[arg(long, default_value_t = 0)]
    gzip_every: usize,
    /// Share of bids followed up with notices (0 = none).
    #[arg(long, default_value_t = 0.0)]
    notices: f64,
    /// Of followed-up bids, the share won (win, bill, impression); the
    /// rest get a loss notice.
    #[arg(long, default_value_t = 0.3)]
    win_rate: f64,
    /// Of impressions, the share clicked.
    #[arg(long, default_value_t = 0.02)]
    click_rate: f64,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress line every second.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    mix: MixArgs,
}

/// The generated traffic's mix (ignored with --dir).
#[derive(Args)]
struct MixArgs {
    /// Seed of the generator (same seed, same requests).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Distinct requests generated before the run and sent round-robin
    /// (generating during the run would slow the generator down).
    #[arg(long, default_value_t = 20_000)]
    pool: usize,
    /// User population (buyeruids lt-u1 .. lt-uN).
    #[arg(long, default_value_t = 2_000_000)]
    users: u64,
    /// Zipf exponent of how often users come back.
    #[arg(long, default_value_t = 1.0)]
    zipf: f64,
    /// Share of app (rather than site) requests.
    #[arg(long, default_value_t = 0.35)]
    app_share: f64,
    /// Share of native imps.
    #[arg(long, default_value_t = 0.1)]
    native_share: f64,
    /// Share of video imps (connected TV is always video).
    #[arg(long, default_value_t = 0.1)]
    video_share: f64,
    /// Share of requests with 2-3 imps.
    #[arg(long, default_value_t = 0.1)]
    multi_imp_share: f64,
    /// Share of requests with a deal.
    #[arg(long, default_value_t = 0.08)]
    deal_share: f64,
    /// Share of requests without a user id.
    #[arg(long, default_value_t = 0.1)]
    anonymous_share: f64,
    /// Of GDPR requests, the share whose TC string consents to our vendor.
    #[arg(long, default_value_t = 0.7)]
    gdpr_consent: f64,
    /// Share of child-directed (COPPA) requests.
    #[arg(long, default_value_t = 0.01)]
    coppa_share: f64,
    /// Our IAB TCF vendor id (the bidder's `tcf_vendor_id`).
    #[arg(long, default_value_t = 1234)]
    vendor_id: u16,
}

impl MixArgs {
    fn mix(&self) -> Mix {
        Mix {
            seed: self.seed,
            users: self.users,
            zipf_exponent: self.zipf,
            anonymous: self.anonymous_share,
            app: self.app_share,
            native: self.native_share,
            video: self.video_share,
            multi_imp: self.multi_imp_share,
            deals: self.deal_share,
            gdpr_consent: self.gdpr_consent,
            coppa: self.coppa_share,
            vendor_id: self.vendor_id,
            ..Mix::default()
        }
    }
}

/// The ceiling runs on the bidder's runtime settings (`bidder/src/main.rs`:
/// multi-threaded, a worker per core it may use, the global queue visited
/// every other task), so that the two servers differ only in their work
/// per request. (Measured against a current-thread ceiling: no difference
/// above the noise, 105,170 vs 97,689 req/s, 110,292 vs 109,329, 97,143 vs
/// 111,141.) Everything else runs on one thread: the load generator is
/// pinned to one core (`taskset`) and the server under test to the other.
fn runtime_for(command: &Command) -> std::io::Result<tokio::runtime::Runtime> {
    match command {
        Command::Ceiling { .. } => tokio::runtime::Builder::new_multi_thread()
            .global_queue_interval(2)
            .enable_all()
            .build(),
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = runtime_for(&cli.command)?;
    runtime.block_on(async move {
        match cli.command {
            Command::Ceiling {
                listen,
                answer_bytes,
                parse,
            } => {
                let listener = tokio::net::TcpListener::bind(&listen).await?;
                eprintln!("ceiling listening on {}", listener.local_addr()?);
                let answer = match answer_bytes {
                    Some(n) => loadtest::ceiling::answer_of_size(n),
                    None => loadtest::ceiling::ANSWER.to_string(),
                };
                let work = if parse { Work::Parse } else { Work::Read };
                loadtest::ceiling::serve_answer(listener, answer.into(), work).await?;
            }
            Command::Run(args) => run(args).await?,
            Command::Seed {
                url,
                token,
                campaigns,
                users,
                small_budgets,
                small_budget_micros,
                seed,
            } => {
                let catalog = Catalog {
                    seed,
                    campaigns,
                    users,
                    small_budgets,
                    small_daily_budget_micros: small_budget_micros,
                };
                let s = seed::load(&url, &token, &catalog).await?;
                println!(
                    "seeded {} advertisers, {} campaigns ({} with a small budget: {:?}), {} creatives, {} fragments, {} audience members",
                    s.advertisers.len(),
                    s.campaigns.len(),
                    s.small_budget_campaigns.len(),
                    s.small_budget_campaigns,
                    s.creatives,
                    s.fragments,
                    s.members
                );
            }
            Command::Writes {
                url,
                token,
                rate,
                seconds,
                writes,
                seed,
            } => {
                let plan = loadtest::writes::Writes {
                    rate,
                    duration: Duration::from_secs(seconds),
                    max_writes: writes,
                    seed,
                };
                println!("{}", loadtest::writes::run(&url, &token, &plan).await?);
            }
        }
        anyhow::Ok(())
    })
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let payloads = match &args.dir {
        Some(dir) => {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            files.sort();
            let mut payloads = Vec::new();
            for (i, f) in files.iter().enumerate() {
                let json = std::fs::read(f)?;
                payloads.push(Payload::new(&json, gzipped(args.gzip_every, i)));
            }
            payloads
        }
        None => {
            let mut generator = Generator::new(args.mix.mix())?;
            (0..args.mix.pool.max(1))
                .map(|i| Payload::new(&generator.next_request(), gzipped(args.gzip_every, i)))
                .collect()
        }
    };
    let closing = (args.notices > 0.0).then_some(Closing {
        share: args.notices.min(1.0),
        win_rate: args.win_rate.clamp(0.0, 1.0),
        click_rate: args.click_rate.clamp(0.0, 1.0),
    });
    let mut urls = Vec::new();
    for u in &args.url {
        urls.push(
            u.parse::<http::Uri>()
                .with_context(|| format!("--url {u}"))?,
        );
    }
    anyhow::ensure!(!urls.is_empty(), "--url: none given");
    let first = urls.remove(0);
    let pool = send::run_pool(
        Plan {
            url: first,
            payloads: Arc::new(payloads),
            connections: args.connections,
            duration: Duration::from_secs(args.seconds),
            max_requests: args.requests,
            mode: args.rate.map_or(Mode::Closed, |rate| Mode::Open { rate }),
            closing,
            seed: args.mix.seed,
            progress: !args.quiet,
            give_up: args.give_up,
            busy_poll: args.busy_poll,
        },
        &urls,
    )
    .await?;
    let mut json = pool.total.to_json();
    if pool.targets.len() > 1 {
        for (url, report) in &pool.targets {
            println!("{url}\n{report}\n");
            json["targets"][url] = report.to_json();
        }
        println!("total");
    }
    println!("{}", pool.total);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn gzipped(every: usize, i: usize) -> bool {
    every > 0 && (i + 1).is_multiple_of(every)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::runtime::RuntimeFlavor;

    #[test]
    fn the_ceiling_runs_on_the_bidders_runtime_flavor_and_the_generator_on_one_thread() {
        let flavor = |args: &[&str]| {
            let cli = Cli::try_parse_from(args).unwrap();
            runtime_for(&cli.command).unwrap().handle().runtime_flavor()
        };
        assert_eq!(flavor(&["loadtest", "ceiling"]), RuntimeFlavor::MultiThread);
        assert_eq!(
            flavor(&["loadtest", "run", "--seconds", "1"]),
            RuntimeFlavor::CurrentThread
        );
    }
}
