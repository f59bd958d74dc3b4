//! The whole history of a run, read back from the topics from offset 0 (read-committed): what
//! the checker judges.

use std::sync::Arc;

use celeriac_engine::TopicNames;
use celeriac_schemas::{
    BeatFire, DeadLetter, Record as _, TaskEvent, TaskMessage, TaskResult, WorkflowSpec,
};
use celeriac_topics::{Log, Record, TopicPartition};

/// A decoded record with where it sits and when the broker took it.
#[derive(Debug, Clone)]
pub(crate) struct At<T> {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) timestamp_ms: i64,
    pub(crate) value: T,
}

/// Everything the topics hold.
#[derive(Debug, Default)]
pub(crate) struct History {
    /// Task messages on every `tasks.<queue>` topic.
    pub(crate) tasks: Vec<At<TaskMessage>>,
    /// Records on task topics that are not task messages (the injected poison).
    pub(crate) undecodable_tasks: Vec<At<Vec<u8>>>,
    /// Results, tombstones left out.
    pub(crate) results: Vec<At<TaskResult>>,
    /// Task events (heartbeats left out).
    pub(crate) events: Vec<At<TaskEvent>>,
    pub(crate) dead: Vec<At<DeadLetter>>,
    pub(crate) beat: Vec<At<BeatFire>>,
    /// Workflow specs as submitted.
    pub(crate) workflows: Vec<At<WorkflowSpec>>,
}

/// Every record of `topic`, all partitions.
async fn read_topic(log: &Arc<dyn Log>, topic: &str) -> anyhow::Result<Vec<Record>> {
    let partitions = log.describe_topic(topic).await?.partitions;
    let mut records = Vec::new();
    for partition in 0..partitions {
        let tp = TopicPartition::new(topic, partition);
        let mut reader = log.read_partition(&tp, 0).await?;
        while let Some(batch) = reader.next_batch().await? {
            records.extend(batch);
        }
    }
    Ok(records)
}

fn at<T>(record: &Record, value: T) -> At<T> {
    At {
        topic: record.topic.to_string(),
        partition: record.partition,
        offset: record.offset,
        timestamp_ms: record.timestamp_ms,
        value,
    }
}

impl History {
    /// Reads every topic of the app named by `names`.
    pub(crate) async fn read(log: &Arc<dyn Log>, names: &TopicNames) -> anyhow::Result<History> {
        let mut history = History::default();
        let prefix = format!("{}.tasks.", names.prefix());
        for topic in log.list_topics().await? {
            if !topic.starts_with(&prefix) {
                continue;
            }
            for record in read_topic(log, &topic).await? {
                match TaskMessage::decode(&record.payload) {
                    Ok(message) => history.tasks.push(at(&record, message)),
                    Err(_) => history
                        .undecodable_tasks
                        .push(at(&record, record.payload.to_vec())),
                }
            }
        }
        for record in read_topic(log, &names.results()).await? {
            if let Ok(result) = TaskResult::decode(&record.payload) {
                history.results.push(at(&record, result));
            }
        }
        for record in read_topic(log, &names.events()).await? {
            if let Ok(event) = TaskEvent::decode(&record.payload) {
                history.events.push(at(&record, event));
            }
        }
        for record in read_topic(log, &names.dead()).await? {
            let letter = DeadLetter::decode(&record.payload)?;
            history.dead.push(at(&record, letter));
        }
        for record in read_topic(log, &names.workflows()).await? {
            if let Ok(spec) = WorkflowSpec::decode(&record.payload) {
                history.workflows.push(at(&record, spec));
            }
        }
        for record in read_topic(log, &names.beat()).await? {
            if let Ok(fire) = BeatFire::decode(&record.payload) {
                history.beat.push(at(&record, fire));
            }
        }
        Ok(history)
    }
}
