//! Shared by the coordinator tests: the task functions, what a worker does with a task
//! message (the same rules as the canvas reference evaluator), and record builders.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::HashMap;

use celeriac_canvas::TaskTable;
use celeriac_engine::coordinator::STEP_KIND_HEADER;
use celeriac_schemas::{TaskError, TaskEvent, TaskEventKind, TaskMessage};
use serde_json::{json, Value};
use uuid::Uuid;

/// Sums every number in the arguments, looking inside lists.
pub fn sum(value: &Value) -> i64 {
    match value {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::Array(items) => items.iter().map(sum).sum(),
        _ => 0,
    }
}

/// The test tasks: add, mul, tsum, double, log, eb (error callback), boom (fails).
pub fn tasks() -> TaskTable {
    TaskTable::new()
        .with("add", |args| Ok(json!(sum(&Value::Array(args)))))
        .with("mul", |args| {
            Ok(json!(args.iter().map(sum).product::<i64>()))
        })
        .with("tsum", |args| match args.as_slice() {
            [Value::Array(items)] => Ok(json!(items.iter().map(sum).sum::<i64>())),
            other => Err(format!("tsum takes one list, saw {other:?}")),
        })
        .with("double", |args| Ok(json!(2 * sum(&Value::Array(args)))))
        .with("log", |args| Ok(Value::Array(args)))
        .with("eb", |_| Ok(Value::Null))
        .with("boom", |args| Err(format!("boom {}", Value::Array(args))))
}

/// Runs a task message as a worker would: JSON arguments, MAP/STARMAP per item, failures
/// injected by step id (`step_ids[workflow_step]`), with the evaluator's error messages.
pub fn execute(
    tasks: &TaskTable,
    message: &TaskMessage,
    step_id: Option<&str>,
    injected: &HashMap<String, String>,
) -> Result<Value, String> {
    if let Some(error) = step_id.and_then(|id| injected.get(id)) {
        return Err(error.clone());
    }
    let Value::Array(args) =
        serde_json::from_slice::<Value>(&message.args).map_err(|e| e.to_string())?
    else {
        return Err("arguments are not a list".into());
    };
    let task = tasks
        .get(&message.task)
        .ok_or_else(|| format!("unknown task `{}`", message.task))?;
    let star = match message.headers.get(STEP_KIND_HEADER).map(String::as_str) {
        Some("MAP") => false,
        Some("STARMAP") => true,
        _ => return task(args),
    };
    let items = match <[Value; 1]>::try_from(args) {
        Ok([Value::Array(items)]) => items,
        Ok([other]) => return Err(format!("expected a list of items, saw {other}")),
        Err(args) => {
            return Err(format!(
                "expected one argument (the items), saw {}",
                args.len()
            ))
        }
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::Array(args) if star => task(args),
            other if star => task(vec![other]),
            other => task(vec![other]),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// An event about a task message.
pub fn event(message: &TaskMessage, kind: TaskEventKind, at: i64) -> TaskEvent {
    TaskEvent {
        id: Uuid::new_v4(),
        task_id: message.id,
        root_id: message.root_id,
        workflow_step: message.workflow_step,
        task: message.task.clone(),
        kind,
        timestamp: at,
        hostname: "worker@test".into(),
        retries: message.retries,
        result: None,
        content_type: None,
        error: None,
        runtime_ms: None,
        next_eta: None,
        queue: message.queue.clone(),
    }
}

/// The terminal event of an outcome.
pub fn outcome_event(message: &TaskMessage, outcome: &Result<Value, String>, at: i64) -> TaskEvent {
    match outcome {
        Ok(value) => TaskEvent {
            result: Some(serde_json::to_vec(value).unwrap()),
            content_type: Some("application/json".into()),
            ..event(message, TaskEventKind::Succeeded, at)
        },
        Err(message_text) => TaskEvent {
            error: Some(TaskError {
                type_name: "TaskError".into(),
                message: message_text.clone(),
                traceback: None,
            }),
            ..event(message, TaskEventKind::Failed, at)
        },
    }
}

/// A small deterministic generator (xorshift), so property tests can shuffle by seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

pub mod log {
    //! A log with the app's topics, a simulated worker, and readers of what was published.

    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use celeriac_engine::coordinator::{record_key, CoordinatorStore};
    use celeriac_engine::TopicNames;
    use celeriac_schemas::{Record as _, TaskMessage, TaskResult, WorkflowSpec};
    use celeriac_topics::{
        CommitOffset, ConsumerConfig, ConsumerEvent, EmbeddedConfig, EmbeddedLog, Log, OutRecord,
        TopicPartition,
    };
    use tokio_util::sync::CancellationToken;
    use uuid::Uuid;

    use super::{execute, outcome_event, tasks};

    /// An embedded log with the core topics and the `default` queue.
    pub async fn embedded(dir: &std::path::Path) -> (Arc<dyn Log>, TopicNames) {
        let log: Arc<dyn Log> = Arc::new(EmbeddedLog::open(EmbeddedConfig::new(dir)).unwrap());
        let mut names = TopicNames::default();
        names.coordinator_partitions = 4;
        names.task_partitions = 2;
        let mut topics = names.core_topics();
        topics.push(names.queue_topic("default"));
        log.create_topics(&topics).await.unwrap();
        (log, names)
    }

    /// Submits a workflow.
    pub async fn submit(log: &dyn Log, names: &TopicNames, spec: &WorkflowSpec) {
        let record = OutRecord::keyed(
            names.workflows(),
            record_key(&spec.id),
            spec.encode().unwrap(),
        );
        log.send_batch(vec![record]).await.unwrap();
    }

    /// A worker on the `default` queue: runs each message with the test tasks and emits its
    /// completion (twice when `duplicate`), acks after the events are written.
    pub struct Worker {
        pub cancel: CancellationToken,
        pub executed: Arc<AtomicU64>,
        join: tokio::task::JoinHandle<()>,
    }

    impl Worker {
        pub fn spawn(log: Arc<dyn Log>, names: TopicNames, duplicate: bool) -> Self {
            let cancel = CancellationToken::new();
            let executed = Arc::new(AtomicU64::new(0));
            let join = tokio::spawn(run_worker(
                log,
                names,
                duplicate,
                cancel.clone(),
                executed.clone(),
            ));
            Worker {
                cancel,
                executed,
                join,
            }
        }

        pub async fn stop(self) {
            self.cancel.cancel();
            let _ = self.join.await;
        }
    }

    async fn run_worker(
        log: Arc<dyn Log>,
        names: TopicNames,
        duplicate: bool,
        cancel: CancellationToken,
        executed: Arc<AtomicU64>,
    ) {
        let tasks = tasks();
        let consumer = log
            .consumer(ConsumerConfig::new(
                "test-workers",
                [names.tasks("default")],
            ))
            .await
            .unwrap();
        let none = HashMap::new();
        loop {
            let event = tokio::select! {
                () = cancel.cancelled() => break,
                event = consumer.poll(5_000, Duration::from_millis(20)) => event.unwrap(),
            };
            let ConsumerEvent::Records(records) = event else {
                continue;
            };
            if records.is_empty() {
                continue;
            }
            let mut events = Vec::with_capacity(records.len() * 2);
            let mut offsets: HashMap<TopicPartition, i64> = HashMap::new();
            for record in &records {
                let message = TaskMessage::decode(&record.payload).unwrap();
                let outcome = execute(&tasks, &message, None, &none);
                let event = outcome_event(&message, &outcome, celeriac_schemas::now_millis());
                let bytes = event.encode().unwrap();
                events.push(OutRecord::keyed(
                    names.events(),
                    record_key(&message.root_id),
                    bytes.clone(),
                ));
                if duplicate {
                    events.push(OutRecord::keyed(
                        names.events(),
                        record_key(&message.root_id),
                        bytes,
                    ));
                }
                offsets.insert(record.topic_partition(), record.offset + 1);
            }
            executed.fetch_add(records.len() as u64, Ordering::Relaxed);
            log.send_batch(events).await.unwrap();
            let commits: Vec<CommitOffset> = offsets
                .into_iter()
                .map(|(tp, next)| CommitOffset { tp, next })
                .collect();
            let _ = consumer.commit(&commits).await; // a rebalance may refuse it: at least once
        }
        let _ = consumer.close().await;
    }

    /// Every record of a topic, decoded.
    pub async fn read_all<R: celeriac_schemas::Record>(log: &dyn Log, topic: &str) -> Vec<R> {
        let partitions = log.describe_topic(topic).await.unwrap().partitions;
        let mut out = Vec::new();
        for partition in 0..partitions {
            let mut reader = log
                .read_partition(&TopicPartition::new(topic, partition), 0)
                .await
                .unwrap();
            while let Some(batch) = reader.next_batch().await.unwrap() {
                // Tombstones (expiries, the results reader's clock probe) hold no record.
                out.extend(
                    batch
                        .iter()
                        .filter(|r| !r.payload.is_empty())
                        .map(|r| R::decode(&r.payload).unwrap()),
                );
            }
        }
        out
    }

    /// How many times each task id was published to the `default` queue.
    pub async fn published(log: &dyn Log, names: &TopicNames) -> HashMap<Uuid, usize> {
        let mut counts = HashMap::new();
        for message in read_all::<TaskMessage>(log, &names.tasks("default")).await {
            *counts.entry(message.id).or_default() += 1;
        }
        counts
    }

    /// How many terminal results each task id has on `results`.
    pub async fn terminal_results(log: &dyn Log, names: &TopicNames) -> HashMap<Uuid, usize> {
        let mut counts = HashMap::new();
        for result in read_all::<TaskResult>(log, &names.results()).await {
            if result.state.is_terminal() {
                *counts.entry(result.task_id).or_default() += 1;
            }
        }
        counts
    }

    /// Waits until the store holds a terminal result for `task`.
    pub async fn wait_result(
        store: &CoordinatorStore,
        task: &Uuid,
        within: Duration,
    ) -> TaskResult {
        let deadline = Instant::now() + within;
        loop {
            if let Some(result) = store
                .task_result(task)
                .unwrap()
                .filter(|r| r.state.is_terminal())
            {
                return result;
            }
            assert!(
                Instant::now() < deadline,
                "no terminal result for {task} within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until the store has applied every record of the coordinator topics.
    pub async fn wait_caught_up(
        log: &dyn Log,
        names: &TopicNames,
        store: &CoordinatorStore,
        within: Duration,
    ) {
        let deadline = Instant::now() + within;
        loop {
            let applied = store.applied_offsets().unwrap();
            let mut behind = false;
            for topic in [names.workflows(), names.timers(), names.events()] {
                for partition in 0..names.coordinator_partitions {
                    let tp = TopicPartition::new(topic.clone(), partition);
                    let (_, high) = log.watermarks(&tp).await.unwrap();
                    behind |= applied.get(&tp).copied().unwrap_or(0) < high;
                }
            }
            if !behind {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the coordinator did not catch up within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
