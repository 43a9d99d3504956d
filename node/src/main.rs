//! # silkline: the node binary
//!
//! The only crate that knows all the others: it reads a node's configuration and its genesis,
//! opens the Raft log (`replication::RedbLog`) and the ledger state (`ledger::LedgerState`),
//! bootstraps or reopens the replica, starts the mutual-TLS transport with a trust store built
//! from the genesis members' CAs and CRLs, and drives it all with `replication::runtime`.
//!
//! - `silkline node run --config FILE`: run one node ([`config`], [`run`]).
//! - `silkline dev init --dir DIR [--nodes N]`: generate a dev network ([`dev`]).
//! - `silkline dev up --dir DIR [--nodes N]`: create (if new) and run a dev network until
//!   Ctrl-C ([`dev_up`]).
//! - `silkline dev add-node --dir DIR [--member CODE]`: prepare one more node's certificate and
//!   configuration for a dev network, to join it by `tx add-node` ([`dev`]).
//! - `silkline gov propose|vote|withdraw|show|add-ca|retire-ca`: governance by vote ([`gov`]).
//! - `silkline member init|issue-node|issue-user|revoke|node-config`: one member's own CA and
//!   nodes, in a directory only it holds ([`member`]).
//! - `silkline genesis assemble|hash|ca-bundle`: the genesis from the members' public bundles,
//!   and its hash ([`genesis`]).
//! - `silkline cluster-test run`: the fault suite against three node containers
//!   ([`cluster_test`]; `scripts/cluster-test`).
//! - `silkline tx`, `silkline doc show|verify`, `silkline status`: the GraphQL API from a shell,
//!   JSON out ([`cli`], [`client`]); `tx revoke` publishes a member's next revocation list.
//!
//! Every command prints through [`out`], so output piped into a reader that stops early ends
//! quietly; a failure is one `silkline: ...` line on stderr and exit status 1.
//!
//! What it deliberately is not: no consensus, apply or verification logic lives here; it wires
//! the libraries together and reports what they do. Each node serves the GraphQL API (crate
//! `graphql`) and rewrites a `status.json` in its data directory for scripts and tests.

mod backup;
mod bench;
mod cli;
mod client;
mod cluster_test;
mod config;
mod dev;
mod dev_up;
mod genesis;
mod gov;
mod member;
mod notify;
mod ops;
mod pint_node;
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
    /// One member's own CA, certificates and node configurations (forming a consortium).
    #[command(subcommand)]
    Member(member::MemberCommand),
    /// The network's genesis from the members' bundles, and its hash.
    #[command(subcommand)]
    Genesis(genesis::GenesisCommand),
    /// Build, sign and submit one transaction; prints its outcome as JSON (exit status 3 if
    /// the ledger refused it).
    // Boxed: its many options would make every `Command` as large as it is.
    Tx(Box<cli::TxArgs>),
    /// Read documents.
    #[command(subcommand)]
    Doc(DocCommand),
    /// Governance by vote: propose, vote, withdraw, show; a member's own CA rotation.
    #[command(subcommand)]
    Gov(gov::GovCommand),
    /// Bills to and from other eBL platforms (DCSA PINT 3.0).
    #[command(subcommand)]
    Pint(PintCommand),
    /// Confirmed transactions per second through the API, with latency and the nodes' CPU time
    /// (against a running network: `silkline dev up`).
    Bench(bench::BenchArgs),
    /// A Jepsen-style fault suite against three node containers (run by scripts/cluster-test,
    /// which builds the image and the members first); prints one summary line, exit status 3
    /// on any violation.
    #[command(subcommand)]
    ClusterTest(cluster_test::ClusterTestCommand),
    /// One JSON line per node of a network: role, term, height, indexes, state hash.
    Status {
        /// The dev network's `network.json`.
        #[arg(long)]
        network: PathBuf,
        /// The identity to connect as (default: the file's first).
        #[arg(long = "as", value_name = "IDENTITY")]
        as_identity: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum DocCommand {
    /// A document with its full history, as JSON.
    Show {
        #[command(flatten)]
        target: client::Target,
        /// CARRIER/REFERENCE.
        #[arg(value_name = "CARRIER/REFERENCE")]
        document: String,
        /// The cargo release of that bill, not the bill.
        #[arg(long)]
        cargo_release: bool,
    },
    /// Render a bill or waybill as PDF (a copy, or with --switch-to-paper the paper original
    /// after an accepted switch-to-paper surrender).
    Pdf {
        #[command(flatten)]
        target: client::Target,
        /// CARRIER/REFERENCE.
        #[arg(value_name = "CARRIER/REFERENCE")]
        document: String,
        /// Where to write the PDF.
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
        /// Render the paper original that replaces the electronic record.
        #[arg(long)]
        switch_to_paper: bool,
    },
    /// The document and its endorsement chain as DCSA eBL 3.0 JSON.
    Export {
        #[command(flatten)]
        target: client::Target,
        /// CARRIER/REFERENCE.
        #[arg(value_name = "CARRIER/REFERENCE")]
        document: String,
    },
    /// The gate check: may the haulier (default: the nominated one) collect the container now?
    /// JSON with `mayCollect`, `reason`, the bill, the holder, the haulier and the status.
    Container {
        #[command(flatten)]
        target: client::Target,
        /// The ISO 6346 container number.
        #[arg(long)]
        container: String,
        /// The haulier presenting at the gate.
        #[arg(long)]
        haulier: Option<String>,
        /// The truck or driver reference presenting.
        #[arg(long)]
        truck: Option<String>,
    },
    /// Whether the ledger holds exactly this DCSA document (JSON), with its status and
    /// history (exit status 3 if it does not).
    Verify {
        #[command(flatten)]
        target: client::Target,
        /// The DCSA transport document, JSON.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum NodeCommand {
    /// Run a node until SIGTERM or SIGINT.
    Run {
        /// The node's JSON configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Back up a running node's ledger state, at one applied index, through its operations
    /// listener (`opsListen`); the file carries its SHA-256.
    Backup {
        /// The running node's JSON configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The backup file to write (written whole, or not at all).
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup into the (stopped) node's empty data directory; the node then
    /// catches up from its peers when started.
    Restore {
        /// The node's JSON configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The backup file (`silkline node backup`).
        #[arg(long)]
        from: PathBuf,
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
        /// The network's DCSA PINT platform code (4 capital letters or digits): bills may then
        /// cross to and from other eBL platforms it trusts by vote.
        #[arg(long)]
        platform: Option<String>,
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
        /// The network's DCSA PINT platform code, for a new network (see `dev init`).
        #[arg(long)]
        platform: Option<String>,
    },
    /// Prepare one more node for the dev network in DIR: a node certificate from MEMBER's CA
    /// and DIR/nodes/nodeK/config.json. Starts nothing; prints the raft id, node id and address
    /// that `tx add-node` needs.
    AddNode {
        /// The dev network's directory.
        #[arg(long)]
        dir: PathBuf,
        /// The member that runs the node (its admin signs `tx add-node`).
        #[arg(long, default_value = "CARRIER")]
        member: String,
    },
}

/// `silkline pint` subcommands.
#[derive(Debug, Subcommand)]
enum PintCommand {
    /// Hand a bill to a party on another eBL platform (the possessor signs). The ledger records
    /// it at once; a node of the holder's member then delivers the envelope and records the
    /// receiving platform's signed answer. `doc show` tells where it stands.
    Send(pint_node::SendArgs),
}

/// The one JSON line `node backup` and `node restore` print.
fn print_backup(done: &str, header: &backup::BackupHeader) -> anyhow::Result<()> {
    let line = serde_json::json!({
        "result": done,
        "node": header.node,
        "network": header.network,
        "appliedIndex": header.applied_index,
        "term": header.term,
        "stateHash": header.state_hash,
    });
    Ok(out(line)?)
}

/// Set once a write to stdout found its reader gone (see [`out`]).
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Prints `line` and a newline on stdout: how every command prints (never `println!`). A
/// reader that went away (`silkline doc show ... | head`) is no error: the rest of the output
/// is dropped quietly and the command ends as it would have, its exit status unchanged, where
/// `println!` would panic with a backtrace. Any other write error is returned.
pub(crate) fn out(line: impl std::fmt::Display) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::sync::atomic::Ordering;
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        other => other,
    }
}

/// mimalloc instead of glibc's malloc: a replica allocates for every JSON value it parses and
/// every sled node it touches, and glibc's allocator was a quarter of its CPU (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a node's log is usually a file that people and tests
        // search, where escape codes would split every `field=value`.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
    };
    // `Ok(false)`: the command ran, and its answer is "no" (refused, not found, not serving).
    let verdict = |r: anyhow::Result<bool>| r.map(|yes| if yes { None } else { Some(3u8) });
    let result: anyhow::Result<Option<u8>> = match cli.command {
        Command::Tx(args) => verdict(runtime().and_then(|rt| rt.block_on(cli::tx(&args)))),
        Command::Gov(command) => verdict(runtime().and_then(|rt| rt.block_on(gov::run(command)))),
        Command::Pint(PintCommand::Send(args)) => {
            verdict(runtime().and_then(|rt| rt.block_on(pint_node::send(&args))))
        }
        Command::ClusterTest(command) => {
            verdict(runtime().and_then(|rt| rt.block_on(cluster_test::run(command))))
        }
        Command::Bench(args) => runtime()
            .and_then(|rt| rt.block_on(bench::bench(&args)))
            .map(|()| None),
        Command::Doc(DocCommand::Show {
            target,
            document,
            cargo_release,
        }) => runtime()
            .and_then(|rt| rt.block_on(cli::doc_show(&target, &document, cargo_release)))
            .map(|()| None),
        Command::Doc(DocCommand::Pdf {
            target,
            document,
            out,
            switch_to_paper,
        }) => runtime()
            .and_then(|rt| rt.block_on(cli::doc_pdf(&target, &document, &out, switch_to_paper)))
            .map(|()| None),
        Command::Doc(DocCommand::Export { target, document }) => runtime()
            .and_then(|rt| rt.block_on(cli::doc_export(&target, &document)))
            .map(|()| None),
        Command::Doc(DocCommand::Container {
            target,
            container,
            haulier,
            truck,
        }) => runtime()
            .and_then(|rt| {
                rt.block_on(cli::doc_container(
                    &target,
                    &container,
                    haulier.as_deref(),
                    truck.as_deref(),
                ))
            })
            .map(|()| None),
        Command::Doc(DocCommand::Verify { target, file }) => {
            verdict(runtime().and_then(|rt| rt.block_on(cli::doc_verify(&target, &file))))
        }
        Command::Status {
            network,
            as_identity,
        } => verdict(
            runtime().and_then(|rt| rt.block_on(cli::status(&network, as_identity.as_deref()))),
        ),
        Command::Node(NodeCommand::Run { config }) => runtime()
            .and_then(|rt| rt.block_on(run::run(&config)))
            .map(|()| None),
        Command::Node(NodeCommand::Backup { config, out }) => runtime()
            .and_then(|rt| rt.block_on(backup::backup(&config, &out)))
            .and_then(|h| print_backup("backed up", &h))
            .map(|()| None),
        Command::Node(NodeCommand::Restore { config, from }) => backup::restore(&config, &from)
            .and_then(|h| print_backup("restored", &h))
            .map(|()| None),
        Command::Dev(DevCommand::Init {
            dir,
            nodes,
            platform,
        }) => dev::init(&dir, nodes, platform.as_deref()).map(|()| None),
        Command::Member(command) => member::run(&command).map(|()| None),
        Command::Genesis(command) => genesis::run(&command).map(|()| None),
        Command::Dev(DevCommand::AddNode { dir, member }) => {
            dev::add_node(&dir, &member).map(|()| None)
        }
        Command::Dev(DevCommand::Up {
            dir,
            nodes,
            platform,
        }) => runtime()
            .and_then(|rt| rt.block_on(dev_up::up(&dir, nodes, platform.as_deref())))
            .map(|()| None),
    };
    match result {
        Ok(None) => ExitCode::SUCCESS,
        Ok(Some(code)) => ExitCode::from(code),
        Err(e) => {
            // Once, as a message: not also as a log line (stderr is where both would go).
            eprintln!("silkline: {e:#}");
            ExitCode::FAILURE
        }
    }
}
