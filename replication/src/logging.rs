//! raft-rs logs through `slog`; Silkline logs through `tracing`. This bridges the two.

use std::fmt::Write as _;

/// A `slog::Drain` that forwards every record to `tracing` under the target `raft`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingDrain;

/// Collects a record's key-value pairs into one `key=value` string.
struct KvString(String);

impl slog::Serializer for KvString {
    fn emit_arguments(&mut self, key: slog::Key, val: &std::fmt::Arguments<'_>) -> slog::Result {
        let _ = write!(self.0, " {key}={val}");
        Ok(())
    }
}

impl slog::Drain for TracingDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &slog::Record<'_>, values: &slog::OwnedKVList) -> Result<(), Self::Err> {
        use slog::KV as _;
        let mut kv = KvString(String::new());
        let _ = record.kv().serialize(record, &mut kv);
        let _ = values.serialize(record, &mut kv);
        let msg = record.msg();
        match record.level() {
            slog::Level::Critical | slog::Level::Error => {
                tracing::error!(target: "raft", "{msg}{}", kv.0)
            }
            slog::Level::Warning => tracing::warn!(target: "raft", "{msg}{}", kv.0),
            slog::Level::Info => tracing::info!(target: "raft", "{msg}{}", kv.0),
            slog::Level::Debug => tracing::debug!(target: "raft", "{msg}{}", kv.0),
            slog::Level::Trace => tracing::trace!(target: "raft", "{msg}{}", kv.0),
        }
        Ok(())
    }
}

/// A logger for raft-rs that writes to `tracing`, tagged with the replica id.
pub fn tracing_logger(replica_id: u64) -> slog::Logger {
    slog::Logger::root(TracingDrain, slog::o!("replica" => replica_id))
}

/// A logger that drops everything: the simulator runs thousands of clusters and checks
/// properties instead of reading logs.
pub fn discard_logger() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}
