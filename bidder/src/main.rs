//! The `bidder` binary: parses flags, opens the store, and either serves or
//! runs a one-shot command. Everything else lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use bidder::Instance;
use bidder::config::{Config, Overrides};
use bidder::control::auth::{self, Role};
use bidder::control::{demo, upload_client};
use bidder::model::{AdvertiserId, UploadMode};
use bidder::server::shutdown;
use bidder::store::Store;
use clap::{Parser, Subcommand, ValueEnum};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An OpenRTB 2.5/2.6 real-time bidder with an embedded store.
#[derive(Parser)]
#[command(name = "bidder", version)]
struct Cli {
    /// TOML configuration file (see docs/ARCHITECTURE.md for the keys).
    #[arg(long, env = "BIDDER_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Directory of the embedded store [default: ./data].
    #[arg(long, env = "BIDDER_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "BIDDER_LISTEN")]
    listen: Option<String>,
    /// Base URL exchanges reach this bidder at, for notice URLs
    /// [default: http://<listen>].
    #[arg(long, env = "BIDDER_PUBLIC_URL")]
    public_url: Option<String>,
    /// Seed demo advertisers, campaigns and tokens into an empty store.
    #[arg(long, env = "BIDDER_DEMO")]
    demo: bool,
    /// Run as an instance of a fleet sharing state in this Redis
    /// (`redis://host:port`, or `redis+cluster://host:port,...`); without
    /// --bid-only, the control instance (owner of the data dir's catalog).
    #[arg(long, env = "BIDDER_REDIS")]
    redis: Option<String>,
    /// With --redis: a bid instance (no catalog of its own; the admin API
    /// is the control instance's).
    #[arg(long, env = "BIDDER_BID_ONLY")]
    bid_only: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Work with a running bidder's audiences.
    Audiences {
        #[command(subcommand)]
        command: AudiencesCommand,
    },
}

#[derive(Subcommand)]
enum AudiencesCommand {
    /// Stream a CSV or NDJSON member file (gzipped or not) into a funnel,
    /// with a progress bar; prints the job's report.
    Upload {
        /// The file: rows `key_type,id,stage[,ttl]` (see docs/API.md).
        file: PathBuf,
        /// The funnel's id.
        #[arg(long)]
        funnel: u32,
        /// add (or move), remove, or replace the whole funnel.
        #[arg(long, value_enum, default_value = "add")]
        mode: ModeArg,
        /// The bidder's admin URL.
        #[arg(long, env = "BIDDER_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// A buyer or admin API token.
        #[arg(long, env = "BIDDER_TOKEN", hide_env_values = true)]
        token: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    Add,
    Remove,
    Replace,
}

impl From<ModeArg> for UploadMode {
    fn from(m: ModeArg) -> UploadMode {
        match m {
            ModeArg::Add => UploadMode::Add,
            ModeArg::Remove => UploadMode::Remove,
            ModeArg::Replace => UploadMode::Replace,
        }
    }
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print its secret (shown once).
    Create {
        /// What the token may do.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Advertiser the token is granted (repeat for several); required for
        /// buyer and advertiser tokens.
        #[arg(long = "advertiser")]
        advertisers: Vec<i64>,
        /// A label to recognise the token by.
        #[arg(long, default_value = "created on the command line")]
        label: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Admin,
    Buyer,
    Advertiser,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Admin => Role::Admin,
            RoleArg::Buyer => Role::Buyer,
            RoleArg::Advertiser => Role::Advertiser,
        }
    }
}

fn main() -> ExitCode {
    // Colour only on a terminal: escape codes in a log file or journal
    // break every grep.
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match try_main(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bidder: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn try_main(cli: Cli) -> anyhow::Result<()> {
    // A client of a running bidder: no config, no store.
    if let Some(Command::Audiences {
        command:
            AudiencesCommand::Upload {
                file,
                funnel,
                mode,
                url,
                token,
            },
    }) = cli.command
    {
        let req = upload_client::UploadRequest {
            file,
            funnel,
            mode: mode.into(),
            url,
            token,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the tokio runtime")?;
        let job = runtime.block_on(upload_client::upload(&req, std::io::stderr()))?;
        println!("{}", upload_client::summary(&job));
        return Ok(());
    }
    let overrides = Overrides {
        listen: cli.listen,
        data_dir: cli.data_dir,
        public_url: cli.public_url,
        redis: cli.redis,
        bid_only: cli.bid_only,
    };
    let config = Config::load(cli.config.as_deref(), overrides)?;
    let store = Store::open(&config.data_dir)
        .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;

    if let Some(Command::Token { command }) = cli.command {
        let TokenCommand::Create {
            role,
            advertisers,
            label,
        } = command;
        let advertisers: Vec<AdvertiserId> = advertisers.into_iter().map(AdvertiserId).collect();
        let token = auth::create_token(&store, role.into(), &advertisers, &label)?;
        println!("{}", token.secret);
        return Ok(());
    }

    let bid_only = config.fleet.as_ref().map(|f| f.role) == Some(bidder::config::Role::Bid);
    if cli.demo && !bid_only {
        let open: Vec<&str> = config
            .exchanges
            .iter()
            .filter(|e| e.allowed_sources.is_open())
            .map(|e| e.name.as_str())
            .collect();
        if !open.is_empty() {
            println!(
                "warning: exchange(s) {} accept bid requests from any address; \
                 set allowed_sources per exchange before production traffic",
                open.join(", ")
            );
        }
        match demo::seed_if_empty(&store, &config.public_url)? {
            Some(tokens) => println!("{tokens}"),
            None => println!(
                "The store in {} already has data; demo data was not seeded. \
                 Create a token with `bidder token create --role admin`.",
                config.data_dir.display()
            ),
        }
    }

    // A worker keeps woken tasks in a local queue of 256; with more ready
    // connections than that, the rest overflow to the global queue, which
    // it visits only every few dozen tasks by default. Under overload with
    // 1,024 connections that left a tenth of requests waiting 100-250 ms
    // while the others waited 2-5 ms, and those answered after tmax.
    // Visiting it every other task makes service close to first come,
    // first served, at no cost measurable at saturation (PERFORMANCE.md).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .global_queue_interval(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let app = Arc::new(Instance::start(config, Arc::new(store))?);
        let listener = tokio::net::TcpListener::bind(app.config.listen)
            .await
            .with_context(|| format!("binding {}", app.config.listen))?;
        let loaded = app.audience_loaded;
        tracing::info!(
            users = loaded.users,
            expired_dropped = loaded.expired,
            interrupted_jobs = loaded.interrupted_jobs,
            millis = loaded.took.as_millis() as u64,
            "audience table rebuilt from the store"
        );
        tracing::info!(
            addr = %listener.local_addr()?,
            data_dir = %app.config.data_dir.display(),
            campaigns = app.snapshot.load().campaign_count(),
            fleet = ?app.fleet.as_ref().map(|f| f.role),
            "bidder listening"
        );
        bidder::run(listener, app, shutdown::signal()).await?;
        tracing::info!("stopped");
        anyhow::Ok(())
    })
}
