//! Idempotency keys: the same key sent twice makes one task (or one workflow).
//!
//! Key → what was submitted lives in a small RocksDB under the state directory, so it
//! survives restarts. A request with a key is handled under that key's own lock: look the
//! key up, publish if it is new, then record it. Requests with other keys (or none) never
//! wait for it, however slow the publish. If the process dies between the publish and the
//! record, a retry with the same key publishes again — at least once, like everything else
//! here — and never zero times.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Error, Result};

/// The lock of each key in use, by its store key.
type KeyLocks = Arc<Mutex<HashMap<Vec<u8>, Arc<tokio::sync::Mutex<()>>>>>;

/// The longest idempotency key accepted, in bytes.
pub(crate) const MAX_KEY_LEN: usize = 200;

/// What an idempotency key was first used for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Submitted {
    /// The task id (or the workflow id).
    pub(crate) id: Uuid,
    /// For a workflow, the task whose result is its result.
    pub(crate) output: Option<Uuid>,
    /// A fingerprint of the request, so reusing a key for another request is refused.
    pub(crate) fingerprint: u64,
}

/// The key → submission store.
#[derive(Clone)]
pub(crate) struct Idempotency {
    db: Arc<rocksdb::DB>,
    /// One lock per key in use, held from look-up to record, so two requests with one key
    /// cannot both publish. An entry goes when its last holder lets go.
    locks: KeyLocks,
}

/// Holds one key's lock; dropping it lets the next request with the key in.
pub(crate) struct KeyGuard {
    name: Vec<u8>,
    held: Option<tokio::sync::OwnedMutexGuard<()>>,
    locks: KeyLocks,
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        drop(self.held.take());
        let mut locks = crate::lock(&self.locks);
        if locks
            .get(&self.name)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            locks.remove(&self.name);
        }
    }
}

impl Idempotency {
    /// Opens (or creates) the store in `dir`.
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        let mut options = rocksdb::Options::default();
        options.create_if_missing(true);
        let db = rocksdb::DB::open(&options, dir).map_err(|e| Error::Storage {
            path: dir.display().to_string(),
            detail: format!("{e} (is another `celeriac serve` using this state directory?)"),
        })?;
        Ok(Self {
            db: Arc::new(db),
            locks: Arc::default(),
        })
    }

    /// Takes `key`'s lock (in namespace `kind`) for one look-up-publish-record sequence.
    pub(crate) async fn guard(&self, kind: &str, key: &str) -> KeyGuard {
        let name = db_key(kind, key);
        let lock = crate::lock(&self.locks)
            .entry(name.clone())
            .or_default()
            .clone();
        let held = lock.lock_owned().await;
        KeyGuard {
            name,
            held: Some(held),
            locks: self.locks.clone(),
        }
    }

    /// Keys whose lock is held or awaited now.
    #[cfg(test)]
    fn keys_in_use(&self) -> usize {
        crate::lock(&self.locks).len()
    }

    /// What `key` (in namespace `kind`) was used for, if anything.
    pub(crate) fn get(&self, kind: &str, key: &str) -> Result<Option<Submitted>> {
        let bytes = self
            .db
            .get(db_key(kind, key))
            .map_err(|e| self.storage_error(e))?;
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Records what `key` was used for.
    pub(crate) fn put(&self, kind: &str, key: &str, submitted: &Submitted) -> Result<()> {
        let value = serde_json::to_vec(submitted).map_err(|e| Error::Config(e.to_string()))?;
        self.db
            .put(db_key(kind, key), value)
            .map_err(|e| self.storage_error(e))
    }

    fn storage_error(&self, error: rocksdb::Error) -> Error {
        Error::Storage {
            path: self.db.path().display().to_string(),
            detail: error.to_string(),
        }
    }
}

fn db_key(kind: &str, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(kind.len() + 1 + key.len());
    out.extend_from_slice(kind.as_bytes());
    out.push(0);
    out.extend_from_slice(key.as_bytes());
    out
}

/// A stable 64-bit FNV-1a fingerprint of a request's canonical JSON.
pub(crate) fn fingerprint(value: &serde_json::Value) -> u64 {
    let text = value.to_string();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Checks a key's shape: 1 to [`MAX_KEY_LEN`] bytes of printable ASCII.
pub(crate) fn validate_key(key: &str) -> std::result::Result<(), String> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(format!(
            "an idempotency key is 1 to {MAX_KEY_LEN} bytes long, this one is {}",
            key.len()
        ));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err("an idempotency key is printable ASCII".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn one_key_waits_for_itself_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Idempotency::open(dir.path()).expect("opens");
        let first = store.guard("task", "a").await;
        // Another key is not held up by a publish under "a"...
        let other = tokio::time::timeout(Duration::from_secs(5), store.guard("task", "b")).await;
        assert!(
            other.is_ok(),
            "another key waited for a publish it has nothing to do with"
        );
        // ...the same key is.
        let again = tokio::time::timeout(Duration::from_millis(50), store.guard("task", "a")).await;
        assert!(
            again.is_err(),
            "two requests with one key held its lock at once"
        );
        drop(other);
        drop(first);
        let after = tokio::time::timeout(Duration::from_secs(5), store.guard("task", "a")).await;
        assert!(after.is_ok());
        drop(after);
        assert_eq!(
            store.keys_in_use(),
            0,
            "no lock is kept for a key no one holds"
        );
    }
}
