//! # silkline: the node binary
//!
//! The only crate that knows all the others: it reads a node's configuration and its genesis,
//! opens the Raft log (`ledger::RedbLog`) and the ledger state (`ledger::chain::LedgerState`),
//! bootstraps or reopens the replica, starts the mutual-TLS transport with a trust store built
//! from the genesis members' CAs and CRLs, and drives it all with `ledger::runtime`.
//!
//! - `silkline node run --config FILE`: run one node ([`config`], [`run`]).
//! - `silkline dev init --dir DIR [--nodes N]`: generate a dev network ([`dev`]).
//! - `silkline dev up --dir DIR [--nodes N]`: create (if new) and run a dev network until
//!   Ctrl-C ([`dev_up`]).
//!
//! What it deliberately is not: no consensus, apply or verification logic lives here; it wires
//! the libraries together and reports what they do. Until the GraphQL API exists, a node's
//! observation point is the `status.json` file it rewrites in its data directory.

#![forbid(unsafe_code)]

mod config;
mod dev;
mod dev_up;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Silkline: an electronic bill of lading ledger.
#[derive(Debug, Parser)]
#[command(name = "silkline", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run and manage a node.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Local development networks.
    #[command(subcommand)]
    Dev(DevCommand),
}

#[derive(Debug, Subcommand)]
enum NodeCommand {
    /// Run a node until SIGTERM or SIGINT.
    Run {
        /// The node's JSON configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum DevCommand {
    /// Generate a dev consortium, a genesis and one configuration per node into DIR.
    Init {
        /// The directory to create the network in; must not already hold a genesis.
        #[arg(long)]
        dir: PathBuf,
        /// How many nodes.
        #[arg(long, default_value_t = 3)]
        nodes: usize,
    },
    /// Create a dev network in DIR if there is none, run one node process per node until
    /// Ctrl-C or SIGTERM, and write DIR/network.json once every node serves.
    Up {
        /// The network's directory: created if new, resumed (with its data) if not.
        #[arg(long)]
        dir: PathBuf,
        /// How many nodes, for a new network.
        #[arg(long, default_value_t = 3)]
        nodes: usize,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Node(NodeCommand::Run { config }) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(run::run(&config))),
        Command::Dev(DevCommand::Init { dir, nodes }) => dev::init(&dir, nodes),
        Command::Dev(DevCommand::Up { dir, nodes }) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(dev_up::up(&dir, nodes))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("silkline: {e:#}");
            ExitCode::FAILURE
        }
    }
}
