//! Workflows: submit, readiness, fan-in, failure propagation and error callbacks.
//!
//! A step is ready when its last input slot fills; its parents' results wait in the `slots`
//! table meanwhile (only the count of filled slots is read per completion). A ready step is
//! published (or parked on `timers` until its eta), or — a COLLECT — completed at once with
//! the list of its slots, which may make its children ready in turn. A failed or revoked
//! step fails every step that depends on it, with its error, and publishes each of its
//! error callbacks once with the [`TaskFailure`] first.

use std::collections::{BTreeMap, VecDeque};

use celeriac_canvas::{assemble_args, collect_list, Dag, TaskFailure, MSGPACK};
use celeriac_schemas::{
    DeadLetter, DeadLetterKind, Record as _, StepKind, TaskError, TaskEvent, TaskMessage,
    TaskState, WorkflowSpec,
};
use celeriac_topics::OutRecord;
use uuid::Uuid;

use super::core::{record_key, Action, Apply, RecordMeta};
use super::error::{Error, Result};
use super::events::{error_of, NewResult};
use super::plan::Plan;
use super::state::{keys, u32_at, StateAccess, StepRecord, StepStatus, Table};

/// The header telling a worker to apply a MAP or STARMAP step's task to each item.
pub const STEP_KIND_HEADER: &str = "celeriac.step_kind";

/// A step whose inputs are all there.
struct Ready {
    index: usize,
    /// Slot values in slot order (for an error callback, the encoded failure).
    slots: Vec<Vec<u8>>,
    /// The task that made it ready, when not its slot-0 parent (an error callback's step).
    parent: Option<Uuid>,
}

/// How a step ended well.
struct Done {
    value: Option<Vec<u8>>,
    content_type: Option<String>,
    hostname: Option<String>,
    retries: i32,
    time: i64,
}

/// How a step ended badly.
struct Failed {
    error: TaskError,
    status: StepStatus,
    hostname: Option<String>,
    retries: i32,
    time: i64,
}

/// `null` in a content type: the slot value of a step that returned nothing.
fn null_in(content_type: &str) -> Vec<u8> {
    if content_type == MSGPACK {
        vec![0xc0]
    } else {
        b"null".to_vec()
    }
}

/// A failure of the coordinator's own making (arguments that do not assemble).
fn argument_error(error: impl ToString, time: i64) -> Failed {
    Failed {
        error: TaskError {
            type_name: "ArgumentError".into(),
            message: error.to_string(),
            traceback: None,
        },
        status: StepStatus::Failed,
        hostname: None,
        retries: 0,
        time,
    }
}

/// A step whose arguments (a chord body's collected inputs, say) are past the record limit: it
/// fails, as a record the log would refuse must never be sent.
fn too_large(kind: &str, what: &str, size: usize, limit: usize, time: i64) -> Failed {
    Failed {
        error: TaskError {
            type_name: kind.into(),
            message: format!(
                "{what} take {size} bytes, past the {limit}-byte limit of a record ([topics] max-record-bytes less 64 KiB)"
            ),
            traceback: None,
        },
        status: StepStatus::Failed,
        hostname: None,
        retries: 0,
        time,
    }
}

impl<S: StateAccess + ?Sized> Apply<'_, S> {
    /// Submits a workflow: stores it and starts every step ready at submit. A known id is a
    /// no-op; an invalid spec is dead-lettered and its output step fails.
    pub(super) fn submit(
        &mut self,
        meta: RecordMeta,
        spec: WorkflowSpec,
        bytes: Vec<u8>,
    ) -> Result<()> {
        let key = keys::spec(&spec.id);
        if self.state.get(Table::Specs, &key)?.is_some() {
            self.core.stats.duplicate_workflows += 1;
            return Ok(());
        }
        if let Err(error) = Dag::from_spec(spec.clone()) {
            return self.invalid(meta, spec, bytes, error.to_string());
        }
        let bad_queue = (spec.steps.iter())
            .filter_map(|step| step.options.queue.as_deref())
            .find(|queue| !queue.is_empty() && crate::validate_queue(queue).is_err());
        if let Some(queue) = bad_queue {
            let reason = crate::Error::InvalidQueue(queue.to_owned()).to_string();
            return self.invalid(meta, spec, bytes, reason);
        }
        self.state.put(Table::Specs, &key, &bytes);
        self.core.stats.workflows += 1;
        let plan = self.core.plans.insert(Plan::new(spec));
        let ready = (plan.spec.steps.iter().enumerate())
            .filter(|(_, step)| step.input_slots == 0 && !step.errback)
            .map(|(index, _)| Ready {
                index,
                slots: Vec::new(),
                parent: None,
            })
            .collect();
        self.run(&plan, ready, meta.partition, meta.timestamp_ms)
    }

    fn invalid(
        &mut self,
        meta: RecordMeta,
        spec: WorkflowSpec,
        bytes: Vec<u8>,
        reason: String,
    ) -> Result<()> {
        self.core.stats.invalid_workflows += 1;
        tracing::warn!(workflow = %spec.id, %reason, "refusing an invalid workflow");
        let output = usize::try_from(spec.output)
            .ok()
            .and_then(|i| spec.steps.get(i));
        if let Some(step) = output {
            let previous = self.result(&step.task_id)?;
            if !previous.as_ref().is_some_and(|r| r.state.is_terminal()) {
                let error = TaskError {
                    type_name: "InvalidWorkflow".into(),
                    message: reason.clone(),
                    traceback: None,
                };
                let new = NewResult {
                    task_id: step.task_id,
                    root_id: spec.id,
                    parent_id: None,
                    task: &step.task,
                    state: TaskState::Failure,
                    result: None,
                    content_type: None,
                    error: Some(error),
                    retries: 0,
                    hostname: None,
                    date_done: meta.timestamp_ms,
                };
                self.record(new, previous)?;
            }
        }
        self.dead_letter(DeadLetter {
            original: bytes,
            source_topic: self.core.config.names.workflows().to_string(),
            partition: meta.partition,
            offset: meta.offset,
            key: Some(record_key(&spec.id).to_vec()),
            reason,
            kind: DeadLetterKind::Rejected,
            task_id: Some(spec.id),
            dead_at: self.now_ms,
        })
    }

    /// The stored state of a step (waiting with nothing filled when absent).
    pub(super) fn step_record(&self, workflow: &Uuid, index: usize) -> Result<StepRecord> {
        match self
            .state
            .get(Table::Steps, &keys::step(workflow, index as u32))?
        {
            Some(bytes) => StepRecord::decode(&bytes),
            None => Ok(StepRecord::default()),
        }
    }

    fn put_step(&mut self, workflow: &Uuid, index: usize, record: StepRecord) {
        self.state.put(
            Table::Steps,
            &keys::step(workflow, index as u32),
            &record.encode(),
        );
    }

    /// A published step succeeded.
    pub(super) fn step_succeeded(
        &mut self,
        plan: &Plan,
        index: usize,
        partition: i32,
        event: &TaskEvent,
        previous: Option<celeriac_schemas::TaskResult>,
    ) -> Result<()> {
        let done = Done {
            value: event.result.clone(),
            content_type: event.content_type.clone(),
            hostname: Some(event.hostname.clone()),
            retries: event.retries,
            time: event.timestamp,
        };
        let mut ready = VecDeque::new();
        self.succeed(plan, index, done, previous, &mut ready)?;
        self.run(plan, ready, partition, event.timestamp)
    }

    /// A published step failed or was revoked.
    pub(super) fn step_failed(
        &mut self,
        plan: &Plan,
        index: usize,
        partition: i32,
        event: &TaskEvent,
        previous: Option<celeriac_schemas::TaskResult>,
    ) -> Result<()> {
        let status = match event.kind {
            celeriac_schemas::TaskEventKind::Revoked => StepStatus::Revoked,
            _ => StepStatus::Failed,
        };
        let failed = Failed {
            error: error_of(event),
            status,
            hostname: Some(event.hostname.clone()),
            retries: event.retries,
            time: event.timestamp,
        };
        let mut ready = VecDeque::new();
        self.fail(plan, index, failed, previous, &mut ready)?;
        self.run(plan, ready, partition, event.timestamp)
    }

    /// Starts ready steps until none is left: publishes tasks, completes COLLECT steps
    /// (whose children may become ready in turn).
    fn run(
        &mut self,
        plan: &Plan,
        mut ready: VecDeque<Ready>,
        partition: i32,
        time: i64,
    ) -> Result<()> {
        while let Some(Ready {
            index,
            slots,
            parent,
        }) = ready.pop_front()
        {
            let step = &plan.spec.steps[index];
            if step.kind == StepKind::Collect {
                match collect_list(&step.content_type, &slots) {
                    Ok(list) => {
                        let done = Done {
                            value: Some(list),
                            content_type: Some(step.content_type.clone()),
                            // No worker ran it; and the state must not depend on who replays.
                            hostname: None,
                            retries: 0,
                            time,
                        };
                        self.succeed(plan, index, done, None, &mut ready)?;
                    }
                    Err(error) => {
                        self.fail(plan, index, argument_error(error, time), None, &mut ready)?
                    }
                }
                continue;
            }
            let limit = self.core.config.names.max_payload_bytes();
            match assemble_args(&step.content_type, &step.args, step.input_mode, &slots) {
                Ok(args) if args.len() > limit => {
                    let failed = too_large(
                        "ArgumentsTooLarge",
                        "its arguments",
                        args.len(),
                        limit,
                        time,
                    );
                    self.fail(plan, index, failed, None, &mut ready)?
                }
                Ok(args) => self.publish(plan, index, args, parent, partition)?,
                Err(error) => {
                    self.fail(plan, index, argument_error(error, time), None, &mut ready)?
                }
            }
        }
        Ok(())
    }

    /// Records a step's success and fills its children's slots; children whose slots are
    /// all filled join `ready`.
    fn succeed(
        &mut self,
        plan: &Plan,
        index: usize,
        done: Done,
        previous: Option<celeriac_schemas::TaskResult>,
        ready: &mut VecDeque<Ready>,
    ) -> Result<()> {
        let workflow = plan.spec.id;
        let step = &plan.spec.steps[index];
        let filled = step.input_slots.max(0) as u32;
        self.put_step(
            &workflow,
            index,
            StepRecord {
                status: StepStatus::Succeeded,
                filled,
            },
        );
        let value = done
            .value
            .clone()
            .unwrap_or_else(|| null_in(&step.content_type));
        let new = NewResult {
            task_id: step.task_id,
            root_id: workflow,
            parent_id: plan.parent_task(index),
            task: &step.task,
            state: TaskState::Success,
            result: done.value,
            content_type: done.content_type,
            error: None,
            retries: done.retries,
            hostname: done.hostname,
            date_done: done.time,
        };
        self.record(new, previous)?;
        for &(child, slot) in plan.children(index) {
            let child = child as usize;
            let mut record = self.step_record(&workflow, child)?;
            if record.status != StepStatus::Waiting {
                continue;
            }
            record.filled += 1;
            let needed = plan.spec.steps[child].input_slots.max(0) as u32;
            if record.filled >= needed {
                let slots = self.take_slots(&workflow, child, needed, slot, &value)?;
                ready.push_back(Ready {
                    index: child,
                    slots,
                    parent: None,
                });
                // Out of `Waiting` at once, so nothing else can touch it before it starts.
                record.status = StepStatus::Published;
            } else {
                self.state.put(
                    Table::Slots,
                    &keys::slot(&workflow, child as u32, slot),
                    &value,
                );
            }
            self.put_step(&workflow, child, record);
        }
        Ok(())
    }

    /// Reads (and deletes) the stored slots of a step that just became ready, with the slot
    /// being filled now.
    fn take_slots(
        &mut self,
        workflow: &Uuid,
        index: usize,
        count: u32,
        slot: u32,
        value: &[u8],
    ) -> Result<Vec<Vec<u8>>> {
        let from = keys::slot(workflow, index as u32, 0);
        let to = keys::slot(workflow, index as u32, count);
        let mut slots: Vec<Option<Vec<u8>>> = vec![None; count as usize];
        for (key, stored) in self.state.scan(Table::Slots, &from, &to, count as usize)? {
            self.state.delete(Table::Slots, &key);
            if let Some(at) = u32_at(&key, 20).and_then(|s| slots.get_mut(s as usize)) {
                *at = Some(stored);
            }
        }
        if let Some(at) = slots.get_mut(slot as usize) {
            *at = Some(value.to_vec());
        }
        slots
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                s.ok_or_else(|| {
                    Error::corrupt(
                        "slots",
                        format!("workflow {workflow} step {index}: slot {i} is missing"),
                    )
                })
            })
            .collect()
    }

    /// Deletes whatever slots of a step were stored.
    fn drop_slots(&mut self, workflow: &Uuid, index: usize, count: u32) -> Result<()> {
        let from = keys::slot(workflow, index as u32, 0);
        let to = keys::slot(workflow, index as u32, count);
        for (key, _) in self.state.scan(Table::Slots, &from, &to, count as usize)? {
            self.state.delete(Table::Slots, &key);
        }
        Ok(())
    }

    /// Records a step's failure, fails every step depending on it with the same error, and
    /// makes its error callbacks ready (each once).
    fn fail(
        &mut self,
        plan: &Plan,
        index: usize,
        failed: Failed,
        previous: Option<celeriac_schemas::TaskResult>,
        ready: &mut VecDeque<Ready>,
    ) -> Result<()> {
        let workflow = plan.spec.id;
        let step = &plan.spec.steps[index];
        let filled = step.input_slots.max(0) as u32;
        self.put_step(
            &workflow,
            index,
            StepRecord {
                status: failed.status,
                filled,
            },
        );
        let state = if failed.status == StepStatus::Revoked {
            TaskState::Revoked
        } else {
            TaskState::Failure
        };
        let new = NewResult {
            task_id: step.task_id,
            root_id: workflow,
            parent_id: plan.parent_task(index),
            task: &step.task,
            state,
            result: None,
            content_type: None,
            error: Some(failed.error.clone()),
            retries: failed.retries,
            hostname: failed.hostname,
            date_done: failed.time,
        };
        self.record(new, previous)?;
        self.fail_dependents(plan, index, &failed.error, failed.time)?;
        let failure = TaskFailure {
            task_id: step.task_id,
            step_id: step.step_id.clone(),
            task: step.task.clone(),
            error: failed.error.message.clone(),
        };
        for &errback in &step.link_error {
            let Some(errback) = usize::try_from(errback).ok().filter(|e| *e < plan.len()) else {
                continue;
            };
            if self.step_record(&workflow, errback)?.status != StepStatus::Waiting {
                continue;
            }
            match failure.encode(&plan.spec.steps[errback].content_type) {
                Ok(bytes) => ready.push_back(Ready {
                    index: errback,
                    slots: vec![bytes],
                    parent: Some(step.task_id),
                }),
                Err(error) => self.fail(
                    plan,
                    errback,
                    argument_error(error, failed.time),
                    None,
                    ready,
                )?,
            }
        }
        Ok(())
    }

    /// Marks every waiting step downstream of `index` failed with `error`.
    fn fail_dependents(
        &mut self,
        plan: &Plan,
        index: usize,
        error: &TaskError,
        time: i64,
    ) -> Result<()> {
        let workflow = plan.spec.id;
        let mut stack: Vec<usize> = plan
            .children(index)
            .iter()
            .map(|&(c, _)| c as usize)
            .collect();
        while let Some(child) = stack.pop() {
            let mut record = self.step_record(&workflow, child)?;
            if record.status != StepStatus::Waiting {
                continue;
            }
            let step = &plan.spec.steps[child];
            self.drop_slots(&workflow, child, step.input_slots.max(0) as u32)?;
            record.status = StepStatus::ParentFailed;
            self.put_step(&workflow, child, record);
            let new = NewResult {
                task_id: step.task_id,
                root_id: workflow,
                parent_id: plan.parent_task(child),
                task: &step.task,
                state: TaskState::Failure,
                result: None,
                content_type: None,
                error: Some(error.clone()),
                retries: 0,
                hostname: None,
                date_done: time,
            };
            let previous = self.result(&step.task_id)?;
            self.record(new, previous)?;
            stack.extend(plan.children(child).iter().map(|&(c, _)| c as usize));
        }
        Ok(())
    }

    /// Publishes a ready step to its queue, or parks it on `timers` until its eta.
    fn publish(
        &mut self,
        plan: &Plan,
        index: usize,
        args: Vec<u8>,
        parent: Option<Uuid>,
        partition: i32,
    ) -> Result<()> {
        let workflow = plan.spec.id;
        let step = &plan.spec.steps[index];
        let filled = step.input_slots.max(0) as u32;
        self.put_step(
            &workflow,
            index,
            StepRecord {
                status: StepStatus::Published,
                filled,
            },
        );
        self.core.stats.published += 1;
        if !self.emit {
            return Ok(());
        }
        let options = &step.options;
        let queue = options
            .queue
            .as_deref()
            .filter(|q| !q.is_empty())
            .unwrap_or("default");
        let eta = match (options.eta, options.countdown_ms) {
            (Some(eta), _) => Some(eta),
            (None, Some(countdown)) if countdown > 0 => Some(self.now_ms.saturating_add(countdown)),
            _ => None,
        };
        let mut headers: BTreeMap<String, String> = options
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if eta.is_some_and(|eta| eta > self.now_ms) {
            // Parked on timers: once fired, a worker runs it whatever its own clock says.
            headers.insert(crate::PARKED_HEADER.into(), "true".into());
        }
        match step.kind {
            StepKind::Map => drop(headers.insert(STEP_KIND_HEADER.into(), "MAP".into())),
            StepKind::Starmap => drop(headers.insert(STEP_KIND_HEADER.into(), "STARMAP".into())),
            StepKind::Task | StepKind::Collect => {}
        }
        let message = TaskMessage {
            id: step.task_id,
            task: step.task.clone(),
            args,
            content_type: step.content_type.clone(),
            root_id: workflow,
            parent_id: parent.or_else(|| plan.parent_task(index)),
            group_id: None,
            workflow_step: Some(index as i32),
            retries: 0,
            max_retries: options.max_retries,
            eta,
            expires: options.expires,
            priority: options.priority,
            queue: queue.to_owned(),
            routing_key: None,
            soft_time_limit_ms: options.soft_time_limit_ms,
            time_limit_ms: options.time_limit_ms,
            retry_policy: None,
            headers,
            trace_context: BTreeMap::new(),
            published_at: self.now_ms,
            origin: Some(self.core.config.hostname.clone()),
            ignore_result: false,
            args_repr: None,
        };
        let bytes = message.encode().map_err(|source| Error::Encode {
            what: "TaskMessage",
            source,
        })?;
        let names = &self.core.config.names;
        let action = if eta.is_some_and(|eta| eta > self.now_ms) {
            Action::Delay(
                OutRecord::keyed(names.timers(), record_key(&workflow), bytes)
                    .to_partition(partition),
            )
        } else {
            Action::Enqueue(OutRecord::keyed(
                names.tasks(queue),
                record_key(&step.task_id),
                bytes,
            ))
        };
        self.actions.push(action);
        Ok(())
    }
}
