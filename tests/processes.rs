//! Real processes on the real broker: a `celeriac worker` process serves tasks a separate
//! process submits, and a worker killed with SIGKILL mid-task has its task run again by the
//! next worker and recorded once. (The embedded log belongs to one process, so these run on
//! Kafka only.)

mod support;

use std::time::Duration;

use celeriac::engine::SendOptions;
use celeriac::prelude::*;
use celeriac::schemas::{Record, TaskResult, TaskState};
use celeriac::topics::{partition_for_key, TopicPartition};
use support::process::{terminate, worker_process};
use support::TestApp;

async fn kafka_app() -> TestApp {
    support::app(support::Backend::Kafka).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_process_serves_another_process_and_exits_cleanly_on_sigterm() {
    let test = kafka_app().await;
    let worker = worker_process(&test, "worker", &[]);
    let result = test
        .app
        .send_task(
            "demo.add",
            &serde_json::json!([2, 3]),
            SendOptions::default(),
        )
        .await
        .expect("sent");
    assert_eq!(
        result
            .get(secs(60))
            .await
            .expect("the worker process ran it"),
        serde_json::json!(5)
    );
    let status = terminate(worker.take());
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_killed_mid_run_runs_again_and_is_recorded_once() {
    let test = kafka_app().await;
    let first = worker_process(&test, "first", &["--events"]);
    let sleeping = test
        .app
        .send_task(
            "demo.sleep",
            &serde_json::json!([3000]),
            SendOptions::default(),
        )
        .await
        .expect("sent");
    // The first worker sends RECEIVED (--events) when it takes the message: kill it only then.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while sleeping.state().await.expect("state") == TaskState::Pending {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first worker never took the task"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut first = first.take();
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    let second = worker_process(&test, "second", &[]);
    assert_eq!(
        sleeping
            .get(secs(90))
            .await
            .expect("the second worker finished it"),
        serde_json::json!(3000)
    );
    let status = terminate(second.take());
    assert!(status.success(), "graceful shutdown exits 0, got {status}");

    let topic = test.app.names().results();
    let partitions = test
        .app
        .log()
        .describe_topic(&topic)
        .await
        .expect("describe")
        .partitions;
    let key = sleeping.id().to_string();
    let tp = TopicPartition::new(topic, partition_for_key(key.as_bytes(), partitions));
    let mut reader = test.app.log().read_partition(&tp, 0).await.expect("read");
    let mut successes = 0;
    while let Some(batch) = reader.next_batch().await.expect("batch") {
        for record in batch
            .iter()
            .filter(|r| r.key.as_deref() == Some(key.as_bytes()))
        {
            let result = TaskResult::decode(&record.payload).expect("a result");
            successes += usize::from(result.state == TaskState::Success);
        }
    }
    assert_eq!(successes, 1, "the result is recorded exactly once");
}
