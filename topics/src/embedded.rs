//! The embedded backend (placeholder until the RocksDB implementation lands).

/// The embedded RocksDB log.
#[derive(Debug)]
pub struct EmbeddedLog;
