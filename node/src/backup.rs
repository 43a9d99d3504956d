//! Backups of a running node and their restore into an empty data directory.
//!
//! `silkline node backup --config C --out FILE` asks the node of configuration `C` through its
//! operations listener (`POST /backup` on `opsListen`, `ops.rs`), which hands the request to the
//! replica's thread (`replication::runtime::BackupRequest`): between two blocks it opens a view
//! of the ledger store at the applied index (the same pre-image views streamed Raft snapshots
//! are read from, `ledger::stream`) and notes that entry's term and the voters and learners as
//! of it. The view is then read on a blocking thread while the node goes on applying, so the
//! backup is the state at one applied index whatever the load. The file:
//!
//! ```text
//! "SLKBKUP1" || header length u32 || header (JSON, BackupHeader)
//!            || (chunk length u32 || chunk)* || 0u32 || SHA-256 of every byte before
//! chunk = (key length u32 || key || value length u32 || value)*, keys ascending
//! ```
//!
//! The CLI writes it to `FILE.partial`, checks the checksum and renames it: a file at `FILE` is
//! always whole.
//!
//! `silkline node restore --config C --from FILE` (the node stopped) checks the checksum over
//! the whole file, the genesis the header names against the configuration's, and that the data
//! directory is empty or absent; then it imports the chunks into a new ledger state through
//! the streamed-snapshot importer, checks the state hash the header gives, and initializes the
//! Raft log at the backup's position (`LogStore::restore_point`: a snapshot that holds no state,
//! the term, voters and learners). Started, the node goes on from there like one after a
//! compaction: the leader sends it the entries after the backup, or a snapshot if its log no
//! longer has them.
//!
//! Refusals, each with a stable code: `BACKUP_NO_OPS_LISTENER`, `BACKUP_CHECKSUM_MISMATCH`,
//! `BACKUP_MALFORMED`, `BACKUP_OTHER_GENESIS`, `RESTORE_DIR_NOT_EMPTY`,
//! `BACKUP_STATE_HASH_MISMATCH`.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ledger::{Genesis, Hash32, LedgerState};
use replication::runtime::BackupRequest;
use replication::{LogStore, RedbLog};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use tokio::sync::{mpsc, oneshot};

use crate::config::NodeFileConfig;
use crate::ops::OpsContext;

/// First bytes of a backup file, with the format version.
pub const BACKUP_MAGIC: &[u8; 8] = b"SLKBKUP1";

/// Bytes of state per chunk of a backup: large enough that framing costs nothing, small
/// enough that the stream holds little in memory.
pub const BACKUP_CHUNK_BYTES: usize = 1024 * 1024;

/// Longest a chunk of a backup file may be when read back: a chunk is `BACKUP_CHUNK_BYTES`
/// plus one record, and a record is bounded by sled's values (a document's history entry).
pub const BACKUP_CHUNK_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Longest header a backup file may have.
const BACKUP_HEADER_BYTES_MAX: usize = 64 * 1024;

/// Chunks buffered between the blocking reader and the HTTP response.
const BACKUP_STREAM_CHUNKS: usize = 4;

/// How long the replica has to open the view (one wake-up of its thread).
const BACKUP_OPEN_TIMEOUT_MS: u64 = 10_000;

/// The ledger state's directory and the Raft log's file inside a data directory (as `run`).
const STATE_DIR: &str = "state";
const RAFT_LOG_FILE: &str = "raft.redb";

/// What a backup is of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackupHeader {
    /// The network id of the genesis.
    pub network: String,
    /// The genesis hash, hex: a backup restores only into a node of the same genesis.
    pub genesis_hash: String,
    /// The node it was taken from.
    pub node: String,
    /// The applied index the state is at.
    pub applied_index: u64,
    /// The term of the entry at that index.
    pub term: u64,
    /// Raft's voters and learners as of that index.
    pub voters: Vec<u64>,
    pub learners: Vec<u64>,
    /// The replica's state hash at that index (the chain's state hash and the index), hex.
    pub state_hash: String,
}

/// How the operations listener reaches the replica's thread for a backup.
pub type BackupSource = mpsc::Sender<BackupRequest>;

/// `POST /backup`: the backup file as the response body, streamed.
pub async fn serve_backup(State(context): State<Arc<OpsContext>>) -> Response {
    let Some(source) = context.backups.clone() else {
        return failure(StatusCode::NOT_FOUND, "this node offers no backups");
    };
    let (reply, point) = oneshot::channel();
    if source.try_send(BackupRequest { reply }).is_err() {
        return failure(
            StatusCode::SERVICE_UNAVAILABLE,
            "another backup is being opened, or the replica stopped",
        );
    }
    let point = match tokio::time::timeout(Duration::from_millis(BACKUP_OPEN_TIMEOUT_MS), point)
        .await
    {
        Ok(Ok(Ok(Some(point)))) => point,
        Ok(Ok(Ok(None))) => return failure(StatusCode::NOT_FOUND, "the state offers no backups"),
        Ok(Ok(Err(e))) => return failure(StatusCode::INTERNAL_SERVER_ERROR, &e),
        Ok(Err(_)) => return failure(StatusCode::SERVICE_UNAVAILABLE, "the replica stopped"),
        Err(_) => {
            return failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "the replica did not open a view in time",
            );
        }
    };
    let header = BackupHeader {
        network: context.network_id.clone(),
        genesis_hash: context.genesis_hash.clone(),
        node: context.node_id.clone(),
        applied_index: point.index,
        term: point.term,
        voters: point.voters,
        learners: point.learners,
        state_hash: hex::encode(point.state_hash),
    };
    tracing::info!(
        index = header.applied_index,
        term = header.term,
        "backup started"
    );
    let (tx, rx) = mpsc::channel::<Result<Vec<u8>, std::io::Error>>(BACKUP_STREAM_CHUNKS);
    let mut reader = point.reader;
    tokio::task::spawn_blocking(move || {
        let mut hasher = sha2::Sha256::new();
        let mut send = |bytes: Vec<u8>| -> bool {
            hasher.update(&bytes);
            tx.blocking_send(Ok(bytes)).is_ok()
        };
        let mut head = BACKUP_MAGIC.to_vec();
        let json = serde_json::to_vec(&header).expect("serializable");
        head.extend_from_slice(&u32::try_from(json.len()).unwrap_or(u32::MAX).to_be_bytes());
        head.extend_from_slice(&json);
        if !send(head) {
            return;
        }
        let mut entries_bytes = 0u64;
        loop {
            match reader.next_chunk(BACKUP_CHUNK_BYTES) {
                Ok(Some(chunk)) => {
                    entries_bytes += chunk.len() as u64;
                    let mut framed = Vec::with_capacity(4 + chunk.len());
                    framed.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
                    framed.extend_from_slice(&chunk);
                    if !send(framed) {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "backup failed while reading the view");
                    let _ = tx.blocking_send(Err(std::io::Error::other(e)));
                    return;
                }
            }
        }
        if !send(0u32.to_be_bytes().to_vec()) {
            return;
        }
        let digest: [u8; 32] = hasher.finalize().into();
        let _ = tx.blocking_send(Ok(digest.to_vec()));
        tracing::info!(
            index = header.applied_index,
            bytes = entries_bytes,
            "backup sent"
        );
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from_stream(stream),
    )
        .into_response()
}

fn failure(status: StatusCode, message: &str) -> Response {
    (status, format!("backup: {message}\n")).into_response()
}

/// A refusal with its stable code.
fn refused(code: &str, message: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{code}: {message}")
}

/// `silkline node backup`: fetches a backup from the running node of `config_path` into `out`.
pub async fn backup(config_path: &Path, out: &Path) -> anyhow::Result<BackupHeader> {
    let config = NodeFileConfig::load(config_path)?;
    let Some(mut ops) = config.ops_listen else {
        return Err(refused(
            "BACKUP_NO_OPS_LISTENER",
            format!(
                "{} has no opsListen: a running node is backed up through its operations listener",
                config_path.display()
            ),
        ));
    };
    if ops.ip().is_unspecified() {
        ops.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    // Plain HTTP: the client's TLS configuration is never used, but reqwest wants one.
    let tls = rustls::ClientConfig::builder_with_provider(pki::tls::provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .context("the HTTP client")?;
    let url = format!("http://{ops}/backup");
    let mut response = http
        .post(&url)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    if !response.status().is_success() {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        bail!("{url} answered {status}: {}", text.trim());
    }
    let partial = out.with_extension("partial");
    let mut file =
        std::fs::File::create(&partial).with_context(|| format!("create {}", partial.display()))?;
    while let Some(bytes) = response
        .chunk()
        .await
        .with_context(|| format!("read the backup from {url}"))?
    {
        file.write_all(&bytes)?;
    }
    file.sync_all()?;
    drop(file);
    let header = verify_file(&partial)?;
    std::fs::rename(&partial, out)
        .with_context(|| format!("rename {} to {}", partial.display(), out.display()))?;
    Ok(header)
}

/// Checks a backup file's checksum and reads its header.
pub fn verify_file(path: &Path) -> anyhow::Result<BackupHeader> {
    let mut file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let len = file.metadata()?.len();
    if len < 8 + 4 + 4 + 32 {
        return Err(refused(
            "BACKUP_MALFORMED",
            "the file is too short to be a backup",
        ));
    }
    let mut hasher = sha2::Sha256::new();
    let mut left = len - 32;
    let mut buffer = vec![0u8; 1024 * 1024];
    while left > 0 {
        let n = usize::try_from(left.min(buffer.len() as u64)).expect("small");
        file.read_exact(&mut buffer[..n])?;
        hasher.update(&buffer[..n]);
        left -= n as u64;
    }
    let mut digest = [0u8; 32];
    file.read_exact(&mut digest)?;
    let computed: [u8; 32] = hasher.finalize().into();
    if computed != digest {
        return Err(refused(
            "BACKUP_CHECKSUM_MISMATCH",
            format!(
                "{} is damaged or incomplete: its SHA-256 does not match",
                path.display()
            ),
        ));
    }
    let mut file = std::io::BufReader::new(std::fs::File::open(path)?);
    read_header(&mut file)
}

fn read_header(file: &mut impl std::io::Read) -> anyhow::Result<BackupHeader> {
    let mut magic = [0u8; 8];
    file.read_exact(&mut magic)?;
    if &magic != BACKUP_MAGIC {
        return Err(refused(
            "BACKUP_MALFORMED",
            "not a Silkline backup (unknown format)",
        ));
    }
    let n = read_u32(file)? as usize;
    if n > BACKUP_HEADER_BYTES_MAX {
        return Err(refused("BACKUP_MALFORMED", "header too long"));
    }
    let mut json = vec![0u8; n];
    file.read_exact(&mut json)?;
    serde_json::from_slice(&json).map_err(|e| refused("BACKUP_MALFORMED", format!("header: {e}")))
}

fn read_u32(file: &mut impl std::io::Read) -> anyhow::Result<u32> {
    let mut b = [0u8; 4];
    file.read_exact(&mut b)?;
    Ok(u32::from_be_bytes(b))
}

/// `silkline node restore`: restores `from` into the empty data directory of `config_path`.
pub fn restore(config_path: &Path, from: &Path) -> anyhow::Result<BackupHeader> {
    let config = NodeFileConfig::load(config_path)?;
    let genesis_json = std::fs::read_to_string(&config.genesis)
        .with_context(|| format!("read genesis {}", config.genesis.display()))?;
    let genesis = Genesis::from_json(&genesis_json)
        .with_context(|| format!("genesis {}", config.genesis.display()))?;
    let genesis_hash = genesis.genesis_hash();
    let header = verify_file(from)?;
    if header.genesis_hash != genesis_hash.to_string() {
        return Err(refused(
            "BACKUP_OTHER_GENESIS",
            format!(
                "the backup is of network {} (genesis {}), this node's genesis is {genesis_hash}",
                header.network, header.genesis_hash
            ),
        ));
    }
    let data_dir = &config.data_dir;
    if let Ok(mut entries) = std::fs::read_dir(data_dir)
        && entries.next().is_some()
    {
        return Err(refused(
            "RESTORE_DIR_NOT_EMPTY",
            format!(
                "the data directory {} is not empty: a backup is restored only into an empty one",
                data_dir.display()
            ),
        ));
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("create {}", data_dir.display()))?;
    let restored = restore_into(data_dir, &genesis, genesis_hash, &header, from);
    if restored.is_err() {
        // Leave no half-restored directory behind: the next attempt finds it empty.
        clear_dir(data_dir);
    }
    restored?;
    Ok(header)
}

fn restore_into(
    data_dir: &Path,
    genesis: &Genesis,
    genesis_hash: Hash32,
    header: &BackupHeader,
    from: &Path,
) -> anyhow::Result<()> {
    let mut state =
        LedgerState::open(data_dir.join(STATE_DIR), genesis).context("create the ledger state")?;
    let descriptor = ledger::stream::Descriptor {
        applied: header.applied_index,
        genesis_hash,
        view: 0,
    }
    .encode();
    let mut importer = state
        .snapshot_streams()
        .importer(&descriptor)
        .map_err(anyhow::Error::msg)?;
    let mut file = std::io::BufReader::new(std::fs::File::open(from)?);
    read_header(&mut file)?;
    loop {
        let n = read_u32(&mut file)? as usize;
        if n == 0 {
            break;
        }
        if n > BACKUP_CHUNK_BYTES_MAX {
            return Err(refused("BACKUP_MALFORMED", format!("a chunk of {n} bytes")));
        }
        let mut chunk = vec![0u8; n];
        file.read_exact(&mut chunk)?;
        importer.chunk(&chunk).map_err(anyhow::Error::msg)?;
    }
    importer.finish().map_err(anyhow::Error::msg)?;
    let applied = state
        .restore_snapshot(&descriptor)
        .context("switch to the restored state")?;
    let hash = hex::encode(replication::StateMachine::state_hash(&state));
    if applied != header.applied_index || hash != header.state_hash {
        return Err(refused(
            "BACKUP_STATE_HASH_MISMATCH",
            format!(
                "the restored state is at {applied} with hash {hash}, the backup says {} with {}",
                header.applied_index, header.state_hash
            ),
        ));
    }
    state.flush().context("flush the restored state")?;
    drop(state);
    let path = data_dir.join(RAFT_LOG_FILE);
    let log = RedbLog::open(&path).with_context(|| format!("open {}", path.display()))?;
    let mut store = LogStore::open(Box::new(log)).context("read the new Raft log")?;
    store
        .restore_point(
            header.applied_index,
            header.term,
            &header.voters,
            &header.learners,
        )
        .context("write the Raft log's restore point")?;
    Ok(())
}

fn clear_dir(dir: &PathBuf) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.filter_map(Result::ok) {
            let p = e.path();
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
    }
}
