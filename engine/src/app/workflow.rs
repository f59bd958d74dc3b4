//! Submitting canvases: compile to a DAG, route each step, publish one `WorkflowSpec`, and
//! hand back a handle whose `get` waits for the workflow's result.

use std::marker::PhantomData;
use std::time::Duration;

use bytes::Bytes;
use celeriac_canvas::{Canvas, StepKind, TypedCanvas};
use celeriac_schemas::{now_millis, Record, TaskState};
use celeriac_topics::OutRecord;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::App;
use crate::results::AsyncResult;
use crate::Result;

/// A submitted workflow: wait for its result, read its steps' states, revoke it.
pub struct WorkflowHandle<Out> {
    app: App,
    id: Uuid,
    sent_at: i64,
    output: Uuid,
    steps: Vec<(String, String, Uuid)>,
    result: PhantomData<fn() -> Out>,
}

impl<Out> std::fmt::Debug for WorkflowHandle<Out> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WorkflowHandle({}, {} steps)", self.id, self.steps.len())
    }
}

/// One step of a submitted workflow and its latest known state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepState {
    /// The step's id in the canvas (`0.1.2`).
    pub step_id: String,
    /// The task name (empty for internal COLLECT steps).
    pub task: String,
    /// The step's task id.
    pub task_id: Uuid,
    /// Its state (PENDING until something is known).
    pub state: TaskState,
}

impl<Out: DeserializeOwned> WorkflowHandle<Out> {
    /// The workflow id (the root id of its tasks).
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The task id whose result is the workflow's result.
    pub fn output_task_id(&self) -> Uuid {
        self.output
    }

    /// Waits up to `timeout` for the workflow's result: a chain's last result, a group's
    /// list, a chord body's result — or the error that failed it.
    pub async fn get(&self, timeout: Duration) -> Result<Out> {
        self.output_result().get(timeout).await
    }

    /// The handle of the output step's result.
    pub fn output_result(&self) -> AsyncResult<Out> {
        AsyncResult::new(self.app.clone(), self.output, self.sent_at)
    }

    /// The latest known state of every step, in step order.
    pub async fn steps(&self) -> Result<Vec<StepState>> {
        let mut states = Vec::with_capacity(self.steps.len());
        for (step_id, task, task_id) in &self.steps {
            let state =
                AsyncResult::<serde_json::Value>::new(self.app.clone(), *task_id, self.sent_at)
                    .state()
                    .await?;
            states.push(StepState {
                step_id: step_id.clone(),
                task: task.clone(),
                task_id: *task_id,
                state,
            });
        }
        Ok(states)
    }

    /// Revokes every step that has not run yet (running ones finish unless `terminate`).
    pub async fn revoke(&self, terminate: bool) -> Result<()> {
        let ids: Vec<Uuid> = self.steps.iter().map(|(_, _, id)| *id).collect();
        self.app.revoke(&ids, terminate).await
    }
}

impl App {
    /// Submits a typed canvas (`chain`, `group`, `chord`, a signature…) as one workflow.
    pub async fn submit<C: TypedCanvas>(&self, canvas: C) -> Result<WorkflowHandle<C::Out>> {
        let canvas = canvas.into_canvas()?;
        self.submit_canvas_as(&canvas).await
    }

    /// Submits an untyped canvas (the JSON form), first checked against the registered
    /// tasks: an unknown task or a wrong argument count is an error before anything is sent.
    pub async fn submit_canvas(
        &self,
        canvas: &Canvas,
    ) -> Result<WorkflowHandle<serde_json::Value>> {
        canvas.check(&self.inner.registry)?;
        self.submit_canvas_as(canvas).await
    }

    pub(crate) async fn submit_canvas_as<Out>(
        &self,
        canvas: &Canvas,
    ) -> Result<WorkflowHandle<Out>> {
        let id = Uuid::now_v7();
        let mut spec = canvas.compile(id)?.into_spec();
        spec.created_at = now_millis();
        for step in &mut spec.steps {
            if step.kind != StepKind::Collect && step.options.queue.is_none() {
                step.options.queue = Some(self.queue_for(&step.task));
            }
        }
        let queues: std::collections::BTreeSet<String> = spec
            .steps
            .iter()
            .filter_map(|s| s.options.queue.clone())
            .collect();
        for queue in &queues {
            crate::validate_queue(queue)?; // every one before any topic is made
        }
        for queue in &queues {
            self.ensure_queue(queue).await?;
        }
        let output = usize::try_from(spec.output)
            .ok()
            .and_then(|i| spec.steps.get(i))
            .map(|s| s.task_id);
        let steps = spec
            .steps
            .iter()
            .map(|s| (s.step_id.clone(), s.task.clone(), s.task_id))
            .collect();
        let bytes = spec.encode()?;
        self.check_size(
            "the workflow",
            bytes.len(),
            self.inner.names.max_record_bytes(),
        )?;
        let record = OutRecord::keyed(
            self.inner.names.workflows(),
            id.to_string(),
            Bytes::from(bytes),
        );
        self.inner.log.send(record)?.await?;
        Ok(WorkflowHandle {
            app: self.clone(),
            id,
            sent_at: spec.created_at,
            output: output.unwrap_or(id),
            steps,
            result: PhantomData,
        })
    }
}
