//! Task events: each task's state recorded once per change, its terminal state exactly once;
//! workflow steps move their workflow on. Also the result store's expiry sweep.

use bytes::Bytes;
use celeriac_schemas::{Record as _, TaskError, TaskEvent, TaskEventKind, TaskResult, TaskState};
use celeriac_topics::OutRecord;
use uuid::Uuid;

use super::core::{record_key, Action, Apply, RecordMeta};
use super::error::{Error, Result};
use super::state::{keys, u64_at, uuid_at, StateAccess, StepStatus, Table};
use crate::names::TopicNames;

/// A result to record: everything but the fields the recorder fills.
pub(super) struct NewResult<'a> {
    pub(super) task_id: Uuid,
    pub(super) root_id: Uuid,
    pub(super) parent_id: Option<Uuid>,
    pub(super) task: &'a str,
    pub(super) state: TaskState,
    pub(super) result: Option<Vec<u8>>,
    pub(super) content_type: Option<String>,
    pub(super) error: Option<TaskError>,
    pub(super) retries: i32,
    pub(super) hostname: Option<String>,
    pub(super) date_done: i64,
}

/// The state an event moves its task to.
fn state_of(kind: TaskEventKind) -> TaskState {
    match kind {
        TaskEventKind::Received => TaskState::Received,
        TaskEventKind::Started => TaskState::Started,
        TaskEventKind::Retried => TaskState::Retry,
        TaskEventKind::Succeeded => TaskState::Success,
        TaskEventKind::Failed | TaskEventKind::Rejected => TaskState::Failure,
        TaskEventKind::Revoked => TaskState::Revoked,
    }
}

/// A success whose result is past the record limit, as the failure it becomes: a result
/// record the log would refuse must never be sent (it would be resent forever).
pub(super) fn result_too_large(mut event: TaskEvent, names: &TopicNames) -> TaskEvent {
    if event.kind != TaskEventKind::Succeeded {
        return event;
    }
    let Some(message) = names.result_past_limit(event.result.as_ref().map_or(0, Vec::len)) else {
        return event;
    };
    event.kind = TaskEventKind::Failed;
    event.result = None;
    event.content_type = None;
    event.error = Some(TaskError {
        type_name: "ResultTooLarge".into(),
        message,
        traceback: None,
    });
    event
}

/// The error of a failed or revoked event, made up when the event carries none.
pub(super) fn error_of(event: &TaskEvent) -> TaskError {
    event.error.clone().unwrap_or_else(|| match event.kind {
        TaskEventKind::Revoked => TaskError {
            type_name: "TaskRevokedError".into(),
            message: "revoked".into(),
            traceback: None,
        },
        TaskEventKind::Rejected => TaskError {
            type_name: "Rejected".into(),
            message: "rejected by the worker".into(),
            traceback: None,
        },
        _ => TaskError {
            type_name: "TaskError".into(),
            message: "failed without an error".into(),
            traceback: None,
        },
    })
}

impl<S: StateAccess + ?Sized> Apply<'_, S> {
    /// `event`, a success past the record limit turned into its failure.
    fn within_limit(&self, event: TaskEvent) -> TaskEvent {
        result_too_large(event, &self.core.config.names)
    }

    /// Applies one task event.
    pub(super) fn event(&mut self, meta: RecordMeta, event: TaskEvent) -> Result<()> {
        self.core.stats.events += 1;
        let event = self.within_limit(event);
        let state = state_of(event.kind);
        let mut previous = self.result(&event.task_id)?;
        if previous.as_ref().is_some_and(|r| r.state.is_terminal()) {
            if state.is_terminal() {
                self.core.stats.duplicate_terminal += 1;
            } else {
                self.core.stats.late_events += 1;
            }
            return Ok(());
        }
        if let Some(step) = event.workflow_step {
            match self.step_event(meta.partition, &event, step, state, previous)? {
                Some(unhandled) => previous = unhandled,
                None => return Ok(()),
            }
        }
        let failed = matches!(state, TaskState::Failure | TaskState::Revoked);
        self.record(
            NewResult {
                task_id: event.task_id,
                root_id: event.root_id,
                parent_id: None,
                task: &event.task,
                state,
                result: if state == TaskState::Success {
                    event.result.clone()
                } else {
                    None
                },
                content_type: if state == TaskState::Success {
                    event.content_type.clone()
                } else {
                    None
                },
                error: if failed || state == TaskState::Retry {
                    Some(error_of(&event))
                } else {
                    None
                },
                retries: event.retries,
                hostname: Some(event.hostname.clone()),
                date_done: event.timestamp,
            },
            previous,
        )
    }

    /// The stored result of a task.
    pub(super) fn result(&self, task: &Uuid) -> Result<Option<TaskResult>> {
        let Some(bytes) = self.state.get(Table::Results, &keys::task(task))? else {
            return Ok(None);
        };
        TaskResult::decode(&bytes)
            .map(Some)
            .map_err(|e| Error::corrupt("results", e.to_string()))
    }

    /// Records a result in the store and, when emitting, on `results`. `previous` is the
    /// stored result it replaces (its expiry entry goes).
    pub(super) fn record(
        &mut self,
        new: NewResult<'_>,
        previous: Option<TaskResult>,
    ) -> Result<()> {
        let result = TaskResult {
            task_id: new.task_id,
            root_id: new.root_id,
            parent_id: new.parent_id,
            task: new.task.to_owned(),
            state: new.state,
            result: new.result,
            content_type: new.content_type,
            error: new.error,
            retries: new.retries,
            hostname: new.hostname,
            date_done: new.date_done,
            expires_at: self.expires_at(new.date_done),
        };
        let bytes = result.encode().map_err(|source| Error::Encode {
            what: "TaskResult",
            source,
        })?;
        let key = keys::task(&result.task_id);
        if let Some(old) = previous.and_then(|p| p.expires_at) {
            self.state
                .delete(Table::Expiry, &keys::expiry(old, &result.task_id));
        }
        if let Some(at) = result.expires_at {
            self.state
                .put(Table::Expiry, &keys::expiry(at, &result.task_id), &[]);
        }
        self.state.put(Table::Results, &key, &bytes);
        if self.emit {
            let topic = self.core.config.names.results();
            self.actions.push(Action::Result(OutRecord::keyed(
                topic,
                record_key(&result.task_id),
                bytes,
            )));
        }
        Ok(())
    }

    /// Deletes up to `limit` results whose expiry passed by `now_ms`, and publishes a
    /// tombstone for each.
    pub(super) fn sweep(&mut self, now_ms: i64, limit: usize) -> Result<()> {
        let to = (now_ms.max(-1) as u64 + 1).to_be_bytes();
        for (key, _) in self.state.scan(Table::Expiry, &[], &to, limit)? {
            let task = uuid_at(&key, 8).ok_or_else(|| Error::corrupt("expiry", "short key"))?;
            debug_assert!(u64_at(&key, 0).is_some());
            self.state.delete(Table::Expiry, &key);
            self.state.delete(Table::Results, &keys::task(&task));
            self.core.stats.results_swept += 1;
            if self.emit {
                // The tombstone `AsyncResult::forget` sends: readers forget the result too.
                let topic = self.core.config.names.results();
                let tombstone = OutRecord::keyed(topic, record_key(&task), Bytes::new());
                self.actions.push(Action::Result(tombstone));
            }
        }
        Ok(())
    }

    /// Applies an event of a workflow step. When the workflow does not know the step, hands
    /// `previous` back (`Some`): the event is then recorded as a lone task's.
    fn step_event(
        &mut self,
        partition: i32,
        event: &TaskEvent,
        step: i32,
        state: TaskState,
        previous: Option<TaskResult>,
    ) -> Result<Option<Option<TaskResult>>> {
        let Some(plan) = self.core.plans.get(&*self.state, &event.root_id)? else {
            return Ok(Some(previous));
        };
        let Some(index) = usize::try_from(step).ok().filter(|i| *i < plan.len()) else {
            return Ok(Some(previous));
        };
        if plan.spec.steps[index].task_id != event.task_id {
            tracing::warn!(task_id = %event.task_id, root_id = %event.root_id, step, "event names a step of another task");
            return Ok(Some(previous));
        }
        match self.step_record(&plan.spec.id, index)?.status {
            StepStatus::Published => {}
            StepStatus::Waiting => {
                // Only a published step can have run: someone ran this task out of band.
                self.core.stats.stray_events += 1;
                tracing::warn!(task_id = %event.task_id, root_id = %event.root_id, step, "event for a step never published");
                return Ok(None);
            }
            _ => {
                // Terminal already (its result may have been swept): a duplicate.
                self.core.stats.duplicate_terminal += u64::from(state.is_terminal());
                self.core.stats.late_events += u64::from(!state.is_terminal());
                return Ok(None);
            }
        }
        match state {
            TaskState::Success => self.step_succeeded(&plan, index, partition, event, previous)?,
            TaskState::Failure | TaskState::Revoked => {
                self.step_failed(&plan, index, partition, event, previous)?
            }
            _ => {
                let new = NewResult {
                    task_id: event.task_id,
                    root_id: event.root_id,
                    parent_id: plan.parent_task(index),
                    task: &event.task,
                    state,
                    result: None,
                    content_type: None,
                    error: (state == TaskState::Retry).then(|| error_of(event)),
                    retries: event.retries,
                    hostname: Some(event.hostname.clone()),
                    date_done: event.timestamp,
                };
                self.record(new, previous)?;
            }
        }
        Ok(None)
    }
}
