//! The deterministic core: [`Core::apply`] takes the state, one [`Input`] and the time, and
//! returns the [`Action`]s to publish. It reads no clock and does no I/O; every state change
//! goes through [`StateAccess`], so the runner can stage it in a write batch, replay can
//! run it with actions discarded, and tests can drive it against the canvas's reference
//! evaluator.
//!
//! State changes depend only on the inputs — times that end up in the state come from the
//! records (an event's `timestamp`, a workflow record's log timestamp), never from `now` —
//! so replaying the same records into an empty state rebuilds the same bytes. `now` only
//! shapes actions: `published_at`, a countdown's eta, which timers a tick fires.

use std::time::Duration;

use bytes::Bytes;
use celeriac_schemas::{
    fingerprint, lookup, DeadLetter, DeadLetterKind, Record as _, TaskEvent, TaskMessage,
    WorkerHeartbeat, WorkflowSpec,
};
use celeriac_topics::{OutRecord, Record};
use uuid::Uuid;

use super::error::{Error, Result};
use super::plan::PlanCache;
use super::state::StateAccess;
use crate::TopicNames;

/// Where an input record was read: its partition, offset and log timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMeta {
    /// Partition of the input topic (the same for workflows, timers and events of one root).
    pub partition: i32,
    /// Offset in that partition.
    pub offset: i64,
    /// The record's log timestamp in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

/// One thing that happens to the coordinator.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A workflow submitted on `workflows`.
    Workflow {
        /// Where it was read.
        meta: RecordMeta,
        /// The decoded spec.
        spec: WorkflowSpec,
        /// The record's bytes, stored as they were read.
        bytes: Vec<u8>,
    },
    /// A task event from `events`.
    Event {
        /// Where it was read.
        meta: RecordMeta,
        /// The event.
        event: TaskEvent,
    },
    /// A task message with an eta on `timers`: arms its timer.
    TimerArm {
        /// Where it was read.
        meta: RecordMeta,
        /// The message.
        message: TaskMessage,
        /// The record's bytes, published as they are when the timer fires.
        bytes: Vec<u8>,
    },
    /// A task message without an eta on `timers`: the marker of a fired timer; disarms it.
    TimerFired {
        /// Where it was read.
        meta: RecordMeta,
        /// The marker.
        message: TaskMessage,
    },
    /// A record the coordinator reads past on purpose (a worker heartbeat on `events`).
    Ignored {
        /// Where it was read.
        meta: RecordMeta,
        /// What it was.
        what: &'static str,
    },
    /// A record that is not what its topic carries; it goes to `dead` with the reason.
    Undecodable {
        /// Where it was read.
        meta: RecordMeta,
        /// The topic it was read from.
        topic: String,
        /// Its key.
        key: Option<Vec<u8>>,
        /// Its bytes.
        bytes: Vec<u8>,
        /// Why it could not be used.
        reason: String,
    },
    /// The clock passed `now_ms`: fire up to `limit` timers of `partition` due by then.
    Tick {
        /// The timers partition.
        partition: i32,
        /// Now, in milliseconds since the Unix epoch.
        now_ms: i64,
        /// At most this many timers fire in one tick.
        limit: usize,
    },
    /// Forget up to `limit` results that expired by `now_ms`.
    Sweep {
        /// Now, in milliseconds since the Unix epoch.
        now_ms: i64,
        /// At most this many results are deleted.
        limit: usize,
    },
}

/// Which coordinator topic a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `workflows`.
    Workflows,
    /// `timers`.
    Timers,
    /// `events`.
    Events,
}

impl Input {
    /// Decodes a record of one of the coordinator's topics. Never fails: a record that is not
    /// what its topic carries becomes [`Input::Undecodable`].
    pub fn from_record(source: Source, record: &Record) -> Input {
        let meta = RecordMeta {
            partition: record.partition,
            offset: record.offset,
            timestamp_ms: record.timestamp_ms,
        };
        let bytes = &record.payload[..];
        let decoded = match source {
            Source::Workflows => decode::<WorkflowSpec>(bytes).map(|spec| Input::Workflow {
                meta,
                spec,
                bytes: bytes.to_vec(),
            }),
            Source::Timers => decode::<TaskMessage>(bytes).map(|message| match message.eta {
                Some(_) => Input::TimerArm {
                    meta,
                    message,
                    bytes: bytes.to_vec(),
                },
                None => Input::TimerFired { meta, message },
            }),
            Source::Events => match decode::<TaskEvent>(bytes) {
                Ok(event) => Ok(Input::Event { meta, event }),
                Err(_) if is::<WorkerHeartbeat>(bytes) => Ok(Input::Ignored {
                    meta,
                    what: "worker heartbeat",
                }),
                Err(reason) => Err(reason),
            },
        };
        decoded.unwrap_or_else(|reason| Input::Undecodable {
            meta,
            topic: record.topic.to_string(),
            key: record.key.as_ref().map(|k| k.to_vec()),
            bytes: bytes.to_vec(),
            reason,
        })
    }

    /// The input record's position, for record inputs.
    pub fn meta(&self) -> Option<RecordMeta> {
        match self {
            Input::Workflow { meta, .. }
            | Input::Event { meta, .. }
            | Input::TimerArm { meta, .. }
            | Input::TimerFired { meta, .. }
            | Input::Ignored { meta, .. }
            | Input::Undecodable { meta, .. } => Some(*meta),
            Input::Tick { .. } | Input::Sweep { .. } => None,
        }
    }
}

/// Decodes a record of type `R`, saying what it is instead when it is another record.
fn decode<R: celeriac_schemas::Record>(bytes: &[u8]) -> std::result::Result<R, String> {
    R::decode(bytes).map_err(|e| {
        let seen = fingerprint(bytes).ok().and_then(lookup).map(|v| v.name());
        match seen {
            Some(name) if name != R::NAME => {
                format!("expected a {} record, saw a {name} record", R::NAME)
            }
            _ => format!("undecodable {} record: {e}", R::NAME),
        }
    })
}

/// True when the bytes carry a record of type `R` (any released version).
fn is<R: celeriac_schemas::Record>(bytes: &[u8]) -> bool {
    fingerprint(bytes).is_ok_and(|fp| R::versions().iter().any(|v| v.has_fingerprint(fp)))
}

/// Something to publish, in the transaction that consumes the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A task message for workers: to `tasks.<queue>`, key the task id.
    Enqueue(OutRecord),
    /// A task parked until its eta: to `timers`, in the workflow's partition, key the root id.
    Delay(OutRecord),
    /// The marker of a fired timer: to `timers`, in the timer's partition, key the root id.
    TimerFired(OutRecord),
    /// A task's latest state: to `results`, key the task id.
    Result(OutRecord),
    /// An input that could not be used: to `dead`, with the reason.
    DeadLetter(OutRecord),
}

impl Action {
    /// The record to publish.
    pub fn record(&self) -> &OutRecord {
        match self {
            Action::Enqueue(r)
            | Action::Delay(r)
            | Action::TimerFired(r)
            | Action::Result(r)
            | Action::DeadLetter(r) => r,
        }
    }

    /// Takes the record to publish.
    pub fn into_record(self) -> OutRecord {
        match self {
            Action::Enqueue(r)
            | Action::Delay(r)
            | Action::TimerFired(r)
            | Action::Result(r)
            | Action::DeadLetter(r) => r,
        }
    }
}

/// The record key for an id: its hyphenated lower-case text, the same bytes a producer in any
/// language writes (`str(uuid)` in Python, `UUID.toString()` in Java). Records of one root on
/// `workflows`, `timers` and `events` are keyed by the root id so they share a partition.
pub fn record_key(id: &Uuid) -> Bytes {
    let mut buf = [0u8; 36];
    Bytes::copy_from_slice(id.hyphenated().encode_lower(&mut buf).as_bytes())
}

/// What the core needs to know besides the state and the input.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Topic names.
    pub names: TopicNames,
    /// Host name written as `origin` of published tasks and `hostname` of coordinator results.
    pub hostname: String,
    /// How long results are kept after they are recorded; `None` keeps them.
    pub result_expiry: Option<Duration>,
}

impl CoreConfig {
    /// Defaults: results kept one day.
    pub fn new(names: TopicNames, hostname: impl Into<String>) -> Self {
        CoreConfig {
            names,
            hostname: hostname.into(),
            result_expiry: Some(Duration::from_secs(24 * 3600)),
        }
    }
}

/// Counters of what the core has seen, for logs, metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreStats {
    /// Workflows accepted.
    pub workflows: u64,
    /// Workflow submissions of a known id (ignored).
    pub duplicate_workflows: u64,
    /// Workflows refused as invalid (dead-lettered; their output step fails).
    pub invalid_workflows: u64,
    /// Task events applied.
    pub events: u64,
    /// Terminal events for a task already terminal (ignored: a body that ran twice).
    pub duplicate_terminal: u64,
    /// Non-terminal events for a task already terminal (ignored).
    pub late_events: u64,
    /// Events for a workflow step that was never published (ignored).
    pub stray_events: u64,
    /// Records read past on purpose (heartbeats).
    pub ignored: u64,
    /// Records that could not be used (dead-lettered).
    pub undecodable: u64,
    /// Steps published (or parked on the timers topic).
    pub published: u64,
    /// Timers armed.
    pub timers_armed: u64,
    /// Timers fired by ticks.
    pub timers_fired: u64,
    /// Results deleted by sweeps.
    pub results_swept: u64,
}

/// The deterministic core of the coordinator.
#[derive(Debug)]
pub struct Core {
    pub(super) config: CoreConfig,
    pub(super) plans: PlanCache,
    pub(super) stats: CoreStats,
}

impl Core {
    /// A core with this configuration.
    pub fn new(config: CoreConfig) -> Self {
        Core {
            config,
            plans: PlanCache::default(),
            stats: CoreStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// What the core has seen so far.
    pub fn stats(&self) -> CoreStats {
        self.stats
    }

    /// Applies one input: changes the state and returns what to publish. `now_ms` is the
    /// caller's clock; it never reaches the state.
    ///
    /// An error means the state could not be read (or holds something the coordinator did
    /// not write); the input must not be considered applied.
    pub fn apply<S: StateAccess + ?Sized>(
        &mut self,
        state: &mut S,
        input: Input,
        now_ms: i64,
    ) -> Result<Vec<Action>> {
        let mut apply = Apply {
            core: self,
            state,
            now_ms,
            emit: true,
            actions: Vec::new(),
        };
        apply.input(input)?;
        Ok(apply.actions)
    }

    /// Applies one input to the state only, as [`apply`](Self::apply) would, without
    /// building actions: how a partition is restored from the log.
    pub fn restore<S: StateAccess + ?Sized>(&mut self, state: &mut S, input: Input) -> Result<()> {
        let mut apply = Apply {
            core: self,
            state,
            now_ms: 0,
            emit: false,
            actions: Vec::new(),
        };
        apply.input(input)
    }

    /// Forgets cached derived data (call when pending state was dropped).
    pub fn forget_cache(&mut self) {
        self.plans.clear();
    }
}

/// One application of one input.
pub(super) struct Apply<'a, S: ?Sized> {
    pub(super) core: &'a mut Core,
    pub(super) state: &'a mut S,
    pub(super) now_ms: i64,
    /// False while restoring: state only.
    pub(super) emit: bool,
    pub(super) actions: Vec<Action>,
}

impl<S: StateAccess + ?Sized> Apply<'_, S> {
    fn input(&mut self, input: Input) -> Result<()> {
        match input {
            Input::Workflow { meta, spec, bytes } => self.submit(meta, spec, bytes),
            Input::Event { meta, event } => self.event(meta, event),
            Input::TimerArm {
                meta,
                message,
                bytes,
            } => self.arm(meta, &message, &bytes),
            Input::TimerFired { meta, message } => self.disarm(meta, &message),
            Input::Ignored { .. } => {
                self.core.stats.ignored += 1;
                Ok(())
            }
            Input::Undecodable {
                meta,
                topic,
                key,
                bytes,
                reason,
            } => {
                self.core.stats.undecodable += 1;
                tracing::warn!(%topic, partition = meta.partition, offset = meta.offset, %reason, "dead-lettering a record");
                let letter = DeadLetter {
                    original: bytes,
                    source_topic: topic,
                    partition: meta.partition,
                    offset: meta.offset,
                    key,
                    reason,
                    kind: DeadLetterKind::Undecodable,
                    task_id: None,
                    dead_at: self.now_ms,
                };
                self.dead_letter(letter)
            }
            Input::Tick {
                partition,
                now_ms,
                limit,
            } => self.tick(partition, now_ms, limit),
            Input::Sweep { now_ms, limit } => self.sweep(now_ms, limit),
        }
    }

    /// Publishes a dead letter (key: its task id, when known).
    pub(super) fn dead_letter(&mut self, letter: DeadLetter) -> Result<()> {
        if !self.emit {
            return Ok(());
        }
        let bytes = letter.encode().map_err(|source| Error::Encode {
            what: "DeadLetter",
            source,
        })?;
        let topic = self.core.config.names.dead();
        let record = match letter.task_id {
            Some(id) => OutRecord::keyed(topic, record_key(&id), bytes),
            None => OutRecord {
                topic,
                partition: None,
                key: None,
                payload: bytes.into(),
            },
        };
        self.actions.push(Action::DeadLetter(record));
        Ok(())
    }

    /// When a result recorded at `date_done` expires, if ever.
    pub(super) fn expires_at(&self, date_done: i64) -> Option<i64> {
        self.core
            .config
            .result_expiry
            .map(|d| date_done.saturating_add(d.as_millis().min(i64::MAX as u128) as i64))
    }
}
