//! The `bidder` binary: parses flags, opens the store, and either serves or
//! runs a one-shot command. Everything else lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use bidder::auth::{self, Role};
use bidder::config::{Config, Overrides};
use bidder::model::AdvertiserId;
use bidder::store::Store;
use bidder::{App, demo, shutdown};
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
    tracing_subscriber::fmt()
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
    let overrides = Overrides {
        listen: cli.listen,
        data_dir: cli.data_dir,
        public_url: cli.public_url,
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

    if cli.demo {
        match demo::seed_if_empty(&store)? {
            Some(tokens) => println!("{tokens}"),
            None => println!(
                "The store in {} already has data; demo data was not seeded. \
                 Create a token with `bidder token create --role admin`.",
                config.data_dir.display()
            ),
        }
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let app = Arc::new(App::new(config, Arc::new(store))?);
        let listener = tokio::net::TcpListener::bind(app.config.listen)
            .await
            .with_context(|| format!("binding {}", app.config.listen))?;
        tracing::info!(
            addr = %listener.local_addr()?,
            data_dir = %app.config.data_dir.display(),
            campaigns = app.snapshot.load().campaign_count(),
            "bidder listening"
        );
        bidder::run(listener, app, shutdown::signal()).await?;
        tracing::info!("stopped");
        anyhow::Ok(())
    })
}
