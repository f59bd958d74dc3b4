//! Shared by the beat failover tests: reading what beat wrote and checking that every window
//! of every entry is accounted for exactly once.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use celeriac_engine::beat::{fire_task_id, Entry, HEADER_ENTRY, HEADER_WINDOW};
use celeriac_engine::TopicNames;
use celeriac_schemas::{BeatFire, BeatFireKind, Record, TaskMessage};
use celeriac_topics::{Log, TopicPartition};
use chrono::{DateTime, Utc};

/// Every record of every partition of `topic`, partition by partition, in offset order.
pub async fn read_topic(log: &dyn Log, topic: &str) -> Vec<celeriac_topics::Record> {
    let partitions = log
        .describe_topic(topic)
        .await
        .expect("the topic exists")
        .partitions;
    let mut out = Vec::new();
    for partition in 0..partitions {
        let tp = TopicPartition::new(topic, partition);
        let (low, _) = log.watermarks(&tp).await.expect("watermarks");
        let mut reader = log.read_partition(&tp, low).await.expect("a reader");
        let mut next = low;
        while let Some(batch) = reader.next_batch().await.expect("a batch") {
            for record in batch {
                assert!(
                    record.offset >= next,
                    "{tp}: offset {} read again (the reader was past {next})",
                    record.offset
                );
                next = record.offset + 1;
                out.push(record);
            }
        }
    }
    out
}

/// The beat topic's records, in order.
pub async fn beat_records(log: &dyn Log, names: &TopicNames) -> Vec<BeatFire> {
    read_topic(log, &names.beat())
        .await
        .iter()
        .map(|r| BeatFire::decode(&r.payload).expect("a BeatFire"))
        .collect()
}

/// The task messages on a queue's topic.
pub async fn task_messages(log: &dyn Log, names: &TopicNames, queue: &str) -> Vec<TaskMessage> {
    read_topic(log, &names.tasks(queue))
        .await
        .iter()
        .map(|r| TaskMessage::decode(&r.payload).expect("a TaskMessage"))
        .collect()
}

/// Polls `check` every 10 ms until it returns true, failing with `what` after `within`.
pub async fn wait_until<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).expect("a time in range")
}

/// What the records say of each entry: windows fired, windows missed (skipped, or passed over
/// by a catch-up fire).
#[derive(Debug, Default)]
pub struct Accounting {
    /// Windows fired, per entry, in order.
    pub fired: BTreeMap<String, Vec<DateTime<Utc>>>,
    /// Windows settled without a fire, per entry.
    pub missed: BTreeMap<String, i64>,
    /// Leaders that wrote records, in order of first appearance.
    pub leaders: Vec<String>,
}

/// Checks the beat topic and the tasks against each other and the schedules:
/// - each entry registers once, then its windows strictly increase (nothing settled twice);
/// - between two records of an entry, exactly `missed` windows of its schedule lie (nothing
///   lost silently);
/// - every fired window has exactly one task message, with the window's deterministic id and
///   the entry's headers, and there is no other task message.
pub fn account(
    names: &TopicNames,
    entries: &[Entry],
    records: &[BeatFire],
    tasks: &[TaskMessage],
) -> Accounting {
    let mut accounting = Accounting::default();
    let mut last: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
    let mut expected_tasks = BTreeSet::new();
    for record in records {
        if !accounting.leaders.contains(&record.leader) {
            accounting.leaders.push(record.leader.clone());
        }
        let entry = entries
            .iter()
            .find(|e| e.name() == record.entry)
            .expect("a known entry");
        let window = at(record.window);
        match (last.get(record.entry.as_str()), record.kind) {
            (None, BeatFireKind::Registered) => {}
            (None, _) if entry.schedule().is_once() => {}
            (None, kind) => panic!(
                "{}: first record is {kind:?}, not a registration",
                record.entry
            ),
            (Some(_), BeatFireKind::Registered) => panic!("{}: registered twice", record.entry),
            (Some(previous), _) => {
                assert!(
                    window > *previous,
                    "{}: window {window} settled again (previous {previous})",
                    record.entry
                );
                let mut between = 0;
                let mut w = entry
                    .schedule()
                    .next_after(*previous)
                    .expect("a next window");
                while w < window {
                    between += 1;
                    w = entry.schedule().next_after(w).expect("a next window");
                }
                assert_eq!(
                    w, window,
                    "{}: {window} is not a window of the schedule",
                    record.entry
                );
                assert_eq!(
                    between, record.missed,
                    "{}: windows before {window} not accounted for",
                    record.entry
                );
            }
        }
        match record.kind {
            BeatFireKind::Fired => {
                let id = fire_task_id(names.prefix(), &record.entry, window);
                assert_eq!(
                    record.task_id,
                    Some(id),
                    "{}: task id of {window}",
                    record.entry
                );
                assert!(
                    expected_tasks.insert(id),
                    "{}: {window} fired twice",
                    record.entry
                );
                accounting
                    .fired
                    .entry(record.entry.clone())
                    .or_default()
                    .push(window);
                *accounting.missed.entry(record.entry.clone()).or_default() += record.missed;
            }
            BeatFireKind::Skipped => {
                *accounting.missed.entry(record.entry.clone()).or_default() += record.missed + 1
            }
            BeatFireKind::Registered => {}
        }
        last.insert(entry.name(), window);
    }
    let mut seen = BTreeSet::new();
    for task in tasks {
        assert!(seen.insert(task.id), "task {} published twice", task.id);
        assert!(
            expected_tasks.contains(&task.id),
            "task {} has no fire record: {task:?}",
            task.id
        );
        let entry = &task.headers[HEADER_ENTRY];
        let window =
            DateTime::parse_from_rfc3339(&task.headers[HEADER_WINDOW]).expect("a window header");
        assert_eq!(
            task.id,
            fire_task_id(names.prefix(), entry, window.with_timezone(&Utc))
        );
    }
    assert_eq!(
        seen.len(),
        expected_tasks.len(),
        "every fire record has its task message"
    );
    accounting
}
