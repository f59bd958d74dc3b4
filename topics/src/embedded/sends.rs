//! Group commit of single-record sends.
//!
//! [`Log::send`](crate::Log::send) on the embedded log queues the record and returns at once;
//! a writer thread drains the queue and writes everything queued since its last write as one
//! RocksDB write batch. Under load (a worker's many tasks each reporting an event) that turns
//! thousands of small writes, each with its own write-ahead-log append, into a few large ones.
//! Every other append first writes what is queued, under the same lock, so records a caller
//! queued earlier are never ordered after records it appends later. Whatever is still queued
//! when the log is dropped is written then.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, Weak};

use tokio::sync::oneshot;

use super::group::lock;
use super::{store, Inner};
use crate::error::Result;
use crate::record::{OutRecord, Position};

/// One queued send and where its delivery goes.
pub(super) type QueuedSend = (OutRecord, oneshot::Sender<Result<Position>>);

/// Sends written together: where their deliveries go, and where they landed.
pub(super) type Written = (
    Vec<oneshot::Sender<Result<Position>>>,
    Result<Vec<Position>>,
);

/// Sends waiting for the writer.
#[derive(Default)]
pub(super) struct SendQueue {
    state: Mutex<QueueState>,
    wake: Condvar,
}

#[derive(Default)]
struct QueueState {
    sends: Vec<QueuedSend>,
    closed: bool,
    /// The writer sleeps on the condition variable: the next send wakes it (a send while it
    /// writes needs no wake-up call, which is a system call).
    writer_waiting: bool,
}

impl SendQueue {
    /// Queues one send and wakes the writer if it was idle.
    pub(super) fn push(&self, send: QueuedSend) {
        let mut state = lock(&self.state);
        state.sends.push(send);
        if state.writer_waiting {
            state.writer_waiting = false;
            self.wake.notify_one();
        }
    }

    /// Everything queued so far.
    pub(super) fn take(&self) -> Vec<QueuedSend> {
        std::mem::take(&mut lock(&self.state).sends)
    }

    /// Stops the writer thread (after the log itself has written what was queued).
    pub(super) fn close(&self) {
        lock(&self.state).closed = true;
        self.wake.notify_all();
    }

    /// Blocks until something is queued; false once the queue is closed.
    fn wait(&self) -> bool {
        let mut state = lock(&self.state);
        while state.sends.is_empty() && !state.closed {
            state.writer_waiting = true;
            state = self
                .wake
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        state.writer_waiting = false;
        !state.closed
    }
}

/// Starts the writer thread of `inner`; it ends when the log is dropped.
pub(super) fn spawn_writer(inner: Weak<Inner>, queue: Arc<SendQueue>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("celeriac-log-writer".into())
        .spawn(move || {
            while queue.wait() {
                let Some(inner) = inner.upgrade() else { break };
                let written = {
                    let _ordered = lock(&inner.append_lock);
                    inner.write_queued_undelivered_locked()
                };
                let path = inner.path.clone();
                // Let go of the log before waking anyone: a sender that then drops the last
                // handle closes the store on its own thread, not on this one while the
                // process exits (RocksDB aborts on a mutex torn down under it).
                drop(inner);
                if let Some((senders, written)) = written {
                    deliver(&path, senders, written);
                }
            }
        })
        .map(drop)
}

/// Hands each queued send its outcome (a failed write fails every send in it).
pub(super) fn deliver(
    path: &Path,
    senders: Vec<oneshot::Sender<Result<Position>>>,
    written: Result<Vec<Position>>,
) {
    match written {
        Ok(positions) => {
            for (sender, position) in senders.into_iter().zip(positions) {
                let _ = sender.send(Ok(position));
            }
        }
        Err(error) => {
            let detail = error.to_string();
            for sender in senders {
                let _ = sender.send(Err(store::storage(path, &detail)));
            }
        }
    }
}
