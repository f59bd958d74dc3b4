//! Two worker processes — each with its coordinator — share the partitions on the real
//! broker; one is killed with SIGKILL while workflows are in flight, and the other restores
//! the lost partitions' state from the log and finishes every workflow: each result right,
//! each step's terminal result recorded exactly once. (Kafka only: the embedded log belongs
//! to one process.) The survivor takes the killed one's partitions over once its session
//! times out (6 s) and, opening their transactional ids, aborts the dead producer's open
//! transaction at once: the whole run takes about 20 s where it took over 80 s when readers
//! waited out the 60 s transaction timeout.

mod support;

use std::collections::HashMap;

use celeriac::canvas::Canvas;
use celeriac::prelude::*;
use celeriac::schemas::{Record, TaskResult};
use celeriac::topics::TopicPartition;
use serde_json::{json, Value};
use support::process::{terminate, worker_process};
use support::TestApp;
use uuid::Uuid;

/// Workflows of each kind submitted.
const EACH: i64 = 16;

/// A chain of sleeps and adds: `sleep(200) -> add(+i) -> add(+1)` gives `201 + i`.
fn chain(i: i64) -> (Canvas, Value) {
    let canvas = Canvas::chain([
        Canvas::task("demo.sleep", vec![json!(200)]),
        Canvas::partial("demo.add", vec![json!(i)]),
        Canvas::partial("demo.add", vec![json!(1)]),
    ]);
    (canvas, json!(200 + i + 1))
}

/// A chord of eight sleeps summed: `8 * ms` with `ms = 80 + i`.
fn chord(i: i64) -> (Canvas, Value) {
    let header = (0..8).map(|_| Canvas::task("demo.sleep", vec![json!(80 + i)]));
    let canvas = Canvas::chord(header, Canvas::partial("demo.sum", vec![]));
    (canvas, json!(8 * (80 + i)))
}

/// The results recorded since `next` (one offset per partition of the results topic, moved
/// past what is read).
async fn results_since(test: &TestApp, next: &mut Vec<i64>) -> Vec<TaskResult> {
    let topic = test.app.names().results();
    let log = test.app.log();
    let partitions = log
        .describe_topic(&topic)
        .await
        .expect("describe")
        .partitions;
    next.resize(partitions as usize, 0);
    let mut results = Vec::new();
    for (partition, offset) in next.iter_mut().enumerate() {
        let tp = TopicPartition::new(topic.clone(), partition as i32);
        let mut reader = log.read_partition(&tp, *offset).await.expect("read");
        while let Some(batch) = reader.next_batch().await.expect("batch") {
            for record in batch {
                *offset = record.offset + 1;
                if record.payload.is_empty() {
                    continue; // a tombstone: the results reader's clock probe
                }
                results.push(TaskResult::decode(&record.payload).expect("a result record"));
            }
        }
    }
    results
}

/// Waits until a result recorded by the process `pid` is on the results topic.
async fn await_work_by(test: &TestApp, pid: u32) {
    let suffix = format!("@{pid}");
    let mut next = Vec::new();
    let deadline = tokio::time::Instant::now() + secs(60);
    loop {
        let results = results_since(test, &mut next).await;
        if results
            .iter()
            .any(|r| r.hostname.as_deref().is_some_and(|h| h.ends_with(&suffix)))
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "process {pid} recorded no result in 60 s"
        );
        tokio::time::sleep(millis(100)).await;
    }
}

/// Every terminal result on the results topic, counted by task id.
async fn terminal_results(test: &TestApp) -> HashMap<Uuid, usize> {
    let mut counts = HashMap::new();
    for result in results_since(test, &mut Vec::new()).await {
        if result.state.is_terminal() {
            *counts.entry(result.task_id).or_default() += 1;
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_s_workflows_are_finished_by_the_other_exactly_once() {
    let test = support::app(support::Backend::Kafka).await;
    test.app.register_demo_tasks().expect("demo tasks");
    let slow = ["--concurrency", "2"];
    let first = worker_process(&test, "first", &slow);
    let second = worker_process(&test, "second", &slow);

    let mut workflows = Vec::new();
    for i in 0..EACH {
        for (canvas, expected) in [chain(i), chord(i)] {
            let handle = test.app.submit_canvas(&canvas).await.expect("submitted");
            workflows.push((handle, expected));
        }
    }
    // Both processes share the partitions; once each has recorded a result, while most
    // workflows are in flight, the first is killed without a chance to drain.
    await_work_by(&test, first.pid()).await;
    await_work_by(&test, second.pid()).await;
    first.kill_9();
    let mut unfinished = 0;
    for (handle, _) in &workflows {
        unfinished += usize::from(!handle.output_result().ready().await.expect("state"));
    }

    for (handle, expected) in &workflows {
        let value = match handle.get(secs(150)).await {
            Ok(value) => value,
            Err(error) => panic!(
                "workflow {} did not finish: {error}; its steps: {:?}",
                handle.id(),
                handle.steps().await
            ),
        };
        assert_eq!(&value, expected, "workflow {}", handle.id());
    }
    let status = terminate(second.take());
    assert!(status.success(), "graceful shutdown exits 0, got {status}");

    // Every step of every workflow has exactly one terminal result on the log.
    let counts = terminal_results(&test).await;
    let mut steps = 0;
    for (handle, _) in &workflows {
        for step in handle.steps().await.expect("steps") {
            steps += 1;
            assert_eq!(
                counts.get(&step.task_id),
                Some(&1),
                "step {} of workflow {} has one terminal result",
                step.step_id,
                handle.id()
            );
        }
    }
    assert_eq!(steps, EACH * (3 + 9), "every step was counted");
    assert!(
        unfinished > 0,
        "some workflows were in flight when the first process died"
    );
}
