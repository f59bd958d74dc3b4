//! A workflow read back from the log (`app.workflow_status(id)`): its compiled spec from the
//! workflows topic and each step's latest state from the results topic — what
//! `celeriac workflow show` prints, from any process that reaches the log.

use celeriac_schemas::{Record as _, WorkflowSpec};
use celeriac_topics::{partition_for_key, TopicPartition};
use uuid::Uuid;

use crate::app::{App, StepState};
use crate::results::AsyncResult;
use crate::Result;

/// How far before a workflow id's own timestamp its spec is looked for (clock skew).
const MARGIN_MS: i64 = 60_000;

/// A submitted workflow: its spec and each step's latest state, in step order.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowStatus {
    /// The spec as submitted.
    pub spec: WorkflowSpec,
    /// Every step's state (PENDING until something is known).
    pub steps: Vec<StepState>,
}

impl App {
    /// The spec of workflow `id` as found on the workflows topic (`None` if it is not there),
    /// and each step's latest state. Reads the id's partition from shortly before the id's
    /// timestamp (ids are UUIDv7) to its end.
    pub async fn workflow_status(&self, id: Uuid) -> Result<Option<WorkflowStatus>> {
        let Some(spec) = self.workflow_spec(id).await? else {
            return Ok(None);
        };
        let mut steps = Vec::with_capacity(spec.steps.len());
        for step in &spec.steps {
            let state = AsyncResult::<serde_json::Value>::from_id(self, step.task_id)
                .state()
                .await?;
            steps.push(StepState {
                step_id: step.step_id.clone(),
                task: step.task.clone(),
                task_id: step.task_id,
                state,
            });
        }
        Ok(Some(WorkflowStatus { spec, steps }))
    }

    /// The spec of workflow `id` on the workflows topic.
    pub async fn workflow_spec(&self, id: Uuid) -> Result<Option<WorkflowSpec>> {
        let log = &self.inner.log;
        let topic = self.inner.names.workflows();
        let partitions = log.describe_topic(&topic).await?.partitions;
        let key = crate::coordinator::record_key(&id);
        let tp = TopicPartition::new(topic, partition_for_key(&key, partitions));
        let since = id.get_timestamp().map_or(0, |ts| {
            let (secs, _) = ts.to_unix();
            i64::try_from(secs).unwrap_or(0) * 1000 - MARGIN_MS
        });
        let from = log.offset_for_time(&tp, since.max(0)).await?;
        let mut reader = log.read_partition(&tp, from).await?;
        while let Some(batch) = reader.next_batch().await? {
            for record in batch {
                if record.key.as_deref() != Some(&key[..]) {
                    continue;
                }
                if let Ok(spec) = WorkflowSpec::decode(&record.payload) {
                    if spec.id == id {
                        return Ok(Some(spec));
                    }
                }
            }
        }
        Ok(None)
    }
}
