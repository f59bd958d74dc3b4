//! Many tasks with random failures and retries: each reaches exactly one terminal state, the
//! one its failure pattern predicts, recorded once on the results topic.

mod support;

use std::collections::HashMap;

use celeriac::engine::SendOptions;
use celeriac::prelude::*;
use celeriac::schemas::{Record, TaskResult, TaskState};
use celeriac::topics::TopicPartition;
use support::TestApp;
use uuid::Uuid;

/// What attempt `retries` of task `seed` does: 0 → succeed, 1 → ask for a retry, 2 → fail.
fn fate(seed: u64, retries: u32) -> u64 {
    let mixed = seed
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(u64::from(retries) * 0xbf58_476d_1ce4_e5b9);
    match (mixed >> 33) % 10 {
        0..=2 => 1,
        3 => 2,
        _ => 0,
    }
}

/// The terminal state task `seed` must reach with a budget of `max_retries`.
fn expected(seed: u64, max_retries: u32) -> TaskState {
    for retries in 0..=max_retries {
        match fate(seed, retries) {
            0 => return TaskState::Success,
            2 => return TaskState::Failure,
            _ => {}
        }
    }
    TaskState::Failure
}

/// Every terminal record on the results topic, by task id.
async fn terminal_records(test: &TestApp) -> HashMap<Uuid, Vec<TaskResult>> {
    let log = test.app.log();
    let topic = test.app.names().results();
    let partitions = log
        .describe_topic(&topic)
        .await
        .expect("describe")
        .partitions;
    let mut seen: HashMap<Uuid, Vec<TaskResult>> = HashMap::new();
    for partition in 0..partitions {
        let mut reader = log
            .read_partition(&TopicPartition::new(topic.clone(), partition), 0)
            .await
            .expect("read");
        while let Some(batch) = reader.next_batch().await.expect("batch") {
            // Tombstones (expiries, the results reader's clock probe) carry no result.
            for record in batch.into_iter().filter(|r| !r.payload.is_empty()) {
                let result = TaskResult::decode(&record.payload).expect("a task result");
                if result.state.is_terminal() {
                    seen.entry(result.task_id).or_default().push(result);
                }
            }
        }
    }
    seen
}

async fn chaos(test: TestApp, tasks: u64) {
    let app = &test.app;
    const MAX_RETRIES: u32 = 3;
    let options = TaskOptions::new()
        .max_retries(MAX_RETRIES)
        .default_retry_delay(millis(5));
    app.task_with("chaos", options, |ctx: Ctx, seed: u64| async move {
        match fate(seed, ctx.request().retries) {
            0 => Ok(seed),
            1 => Err(ctx.retry_in(millis(5))),
            _ => Err(TaskError::new("Chaos", format!("task {seed} failed"))),
        }
    })
    .expect("register");
    let worker = app.worker().concurrency(64).prefetch(2_000).spawn();
    let calls = (0..tasks).map(|seed| serde_json::json!([seed])).collect();
    let ids = app
        .send_tasks("chaos", calls, SendOptions::default())
        .await
        .expect("sent");
    app.wait_for_all(&ids, secs(120))
        .await
        .expect("every task finished");
    worker.shutdown().await.expect("clean shutdown");

    let records = terminal_records(&test).await;
    let mut by_state: HashMap<String, usize> = HashMap::new();
    for (seed, id) in ids.iter().enumerate() {
        let results = records.get(id).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(
            results.len(),
            1,
            "task {seed} ({id}) has {} terminal records",
            results.len()
        );
        let want = expected(seed as u64, MAX_RETRIES);
        assert_eq!(
            results[0].state, want,
            "task {seed} ended {:?}, expected {want:?}",
            results[0].state
        );
        *by_state.entry(format!("{want:?}")).or_default() += 1;
    }
    assert!(by_state.len() == 2, "both outcomes occur: {by_state:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_tasks_with_random_failures_end_once_each_embedded() {
    chaos(support::app(support::Backend::Embedded).await, 10_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_tasks_with_random_failures_end_once_each_kafka() {
    chaos(support::app(support::Backend::Kafka).await, 10_000).await;
}
