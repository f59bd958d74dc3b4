//! The conformance suite against the embedded RocksDB log, each test in its own temporary
//! directory.

mod conformance;

use std::sync::Arc;

use celeriac_topics::{EmbeddedConfig, EmbeddedLog};
use conformance::{conformance_tests, Backend};

async fn embedded() -> anyhow::Result<Backend> {
    let dir = tempfile::tempdir()?;
    let log = EmbeddedLog::open(EmbeddedConfig::new(dir.path()))?;
    Ok(Backend::new(Arc::new(log), Some(Box::new(dir))))
}

conformance_tests!(embedded);
