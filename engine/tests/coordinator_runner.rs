//! The coordinator on the embedded log, with a simulated worker: workflows run end to end;
//! a crash between a commit and the state write, or a lost state directory, is restored
//! from the log without publishing anything twice; two coordinators share the partitions
//! and one finishes the other's workflows; replay rebuilds the live store's digest.

#![allow(clippy::unwrap_used)]

mod coordinator_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use celeriac_canvas::{Canvas, Dag};
use celeriac_engine::coordinator::{
    record_key, replay, Coordinator, CoordinatorStore, ReplayOptions, StepStatus,
};
use celeriac_engine::TopicNames;
use celeriac_schemas::{now_millis, Record as _, TaskMessage, TaskState};
use celeriac_topics::{Log, OutRecord};
use serde_json::{json, Value};
use uuid::Uuid;

use coordinator_support::log::{
    embedded, published, submit, terminal_results, wait_caught_up, wait_result, Worker,
};

const WAIT: Duration = Duration::from_secs(15);

fn coordinator(
    log: &Arc<dyn Log>,
    names: &TopicNames,
    dir: &std::path::Path,
) -> celeriac_engine::coordinator::CoordinatorBuilder {
    Coordinator::builder(log.clone())
        .names(names.clone())
        .state_dir(dir)
        .hostname("test")
}

/// `(2 + 2) * 8`, a chord of `n` adds into tsum, and a group of chains.
fn workflows(n: i64) -> Vec<Dag> {
    let chain = Canvas::chain([
        Canvas::task("add", vec![json!(2), json!(2)]),
        Canvas::partial("mul", vec![json!(8)]),
    ]);
    let chord = Canvas::chord(
        (0..n).map(|i| Canvas::task("add", vec![json!(i), json!(i)])),
        Canvas::partial("tsum", vec![]),
    );
    let group = Canvas::group((0..3).map(|i| {
        Canvas::chain([
            Canvas::task("add", vec![json!(i)]),
            Canvas::partial("double", vec![]),
        ])
    }));
    [chain, chord, group]
        .iter()
        .map(|c| c.compile(Uuid::new_v4()).unwrap())
        .collect()
}

fn expected(n: i64) -> Vec<Value> {
    vec![
        json!(32),
        json!((0..n).map(|i| 2 * i).sum::<i64>()),
        json!([0, 2, 4]),
    ]
}

async fn output(store: &CoordinatorStore, dag: &Dag) -> Value {
    let result = wait_result(store, &dag.step(dag.output()).task_id, WAIT).await;
    assert_eq!(result.state, TaskState::Success, "{result:?}");
    serde_json::from_slice(result.result.as_deref().unwrap()).unwrap()
}

/// Nothing was published or recorded twice.
async fn exactly_once(log: &dyn Log, names: &TopicNames) {
    let published = published(log, names).await;
    assert!(
        published.values().all(|n| *n == 1),
        "a task was published twice: {:?}",
        published.iter().find(|(_, n)| **n > 1)
    );
    let results = terminal_results(log, names).await;
    assert!(
        results.values().all(|n| *n == 1),
        "a terminal result was produced twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_and_timers_run_end_to_end_and_replay_rebuilds_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let (log, names) = embedded(&dir.path().join("log")).await;
    let worker = Worker::spawn(log.clone(), names.clone(), true);
    let handle = coordinator(&log, &names, &dir.path().join("state"))
        .build()
        .unwrap()
        .spawn();
    let dags = workflows(100);
    for dag in &dags {
        submit(log.as_ref(), &names, &dag.to_spec()).await;
    }
    // A lone task with an eta, parked on `timers` as a producer would.
    let mut delayed = TaskMessage::new("add", "application/json", b"[20,22]".to_vec());
    delayed.eta = Some(now_millis() + 200);
    let record = OutRecord::keyed(
        names.timers(),
        record_key(&delayed.root_id),
        delayed.encode().unwrap(),
    );
    log.send_batch(vec![record]).await.unwrap();

    let store = handle.store().clone();
    for (dag, expected) in dags.iter().zip(expected(100)) {
        assert_eq!(output(&store, dag).await, expected);
    }
    let lone = wait_result(&store, &delayed.id, WAIT).await;
    assert!(
        lone.date_done >= delayed.eta.unwrap(),
        "the timer fired before it was due"
    );
    assert_eq!(lone.result.as_deref(), Some(&b"42"[..]));
    let view = store.workflow(&dags[1].id).unwrap().unwrap();
    assert!(view.steps.iter().all(|s| s.status == StepStatus::Succeeded));

    wait_caught_up(log.as_ref(), &names, &store, WAIT).await;
    let live = store.digest().unwrap();
    worker.stop().await;
    let stats = handle.shutdown().await.unwrap();
    assert_eq!(
        stats.duplicate_terminal as usize,
        published(log.as_ref(), &names).await.len()
    );
    exactly_once(log.as_ref(), &names).await;

    let mut reports = 0;
    let rebuilt = dir.path().join("rebuilt");
    let summary = replay(
        log.as_ref(),
        &names,
        &rebuilt,
        ReplayOptions::default(),
        |_| reports += 1,
    )
    .await
    .unwrap();
    assert!(reports > 0);
    assert_eq!(summary.workflows, 3);
    assert_eq!(summary.timers, 0);
    assert_eq!(summary.digest, live, "replay rebuilds the live store");
    assert_eq!(
        CoordinatorStore::open_read_only(&rebuilt)
            .unwrap()
            .digest()
            .unwrap(),
        live
    );
    let again = replay(
        log.as_ref(),
        &names,
        &rebuilt,
        ReplayOptions::default(),
        |_| {},
    )
    .await;
    assert!(again.is_err(), "replay refuses a directory in use");
}

/// Chains of `len` adds: `i + len - 1` after `len` steps, one transaction per step at least.
fn chains(count: i64, len: usize) -> Vec<Dag> {
    (0..count)
        .map(|i| {
            let steps = (0..len).map(|k| match k {
                0 => Canvas::task("add", vec![json!(i)]),
                _ => Canvas::partial("add", vec![json!(1)]),
            });
            Canvas::chain(steps).compile(Uuid::new_v4()).unwrap()
        })
        .collect()
}

/// Runs a coordinator (batches of `batch` records) that stops itself after `commits`
/// transactions, before writing the last one's state.
async fn crash_after(
    log: &Arc<dyn Log>,
    names: &TopicNames,
    state: &std::path::Path,
    batch: usize,
    commits: u64,
) {
    let coordinator = coordinator(log, names, state)
        .max_batch(batch)
        .crash_after_commits(commits)
        .build()
        .unwrap();
    let outcome = tokio::time::timeout(WAIT, coordinator.run(Default::default())).await;
    let error = outcome
        .expect("the coordinator ran out of work before the injected crash")
        .unwrap_err();
    assert!(error.to_string().contains("injected crash"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_commit_and_state_write_or_a_lost_state_dir_publishes_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (log, names) = embedded(&dir.path().join("log")).await;
    let state = dir.path().join("state");
    let worker = Worker::spawn(log.clone(), names.clone(), true);
    let dags = workflows(300);
    let long = chains(8, 12);
    for dag in dags.iter().chain(&long) {
        submit(log.as_ref(), &names, &dag.to_spec()).await;
    }
    // A crash after a commit, before its state is written: the store lags the log.
    crash_after(&log, &names, &state, 50, 3).await;
    // Again, and this time the state directory is lost as well.
    crash_after(&log, &names, &state, 50, 2).await;
    std::fs::remove_dir_all(&state).unwrap();
    // And killed at a random point.
    let handle = coordinator(&log, &names, &state).build().unwrap().spawn();
    tokio::time::sleep(Duration::from_millis(30)).await;
    handle.abort().await;

    let handle = coordinator(&log, &names, &state).build().unwrap().spawn();
    let store = handle.store().clone();
    for (dag, expected) in dags.iter().zip(expected(300)) {
        assert_eq!(output(&store, dag).await, expected);
    }
    for (i, dag) in long.iter().enumerate() {
        assert_eq!(output(&store, dag).await, json!(i + 11));
    }
    wait_caught_up(log.as_ref(), &names, &store, WAIT).await;
    worker.stop().await;
    handle.shutdown().await.unwrap();
    exactly_once(log.as_ref(), &names).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_coordinators_share_partitions_and_one_finishes_the_others_workflows() {
    let dir = tempfile::tempdir().unwrap();
    let (log, names) = embedded(&dir.path().join("log")).await;
    let worker = Worker::spawn(log.clone(), names.clone(), false);
    let a = coordinator(&log, &names, &dir.path().join("a"))
        .hostname("a")
        .build()
        .unwrap()
        .spawn();
    let b = coordinator(&log, &names, &dir.path().join("b"))
        .hostname("b")
        .build()
        .unwrap()
        .spawn();
    let chains: Vec<Dag> = (0..40)
        .map(|i| {
            let steps = (0..5).map(|k| {
                if k == 0 {
                    Canvas::task("add", vec![json!(i)])
                } else {
                    Canvas::partial("add", vec![json!(1)])
                }
            });
            Canvas::chain(steps).compile(Uuid::new_v4()).unwrap()
        })
        .collect();
    for dag in &chains {
        submit(log.as_ref(), &names, &dag.to_spec()).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    a.abort().await; // B restores A's partitions from the log and finishes their workflows
    let store = b.store().clone();
    for (i, dag) in chains.iter().enumerate() {
        assert_eq!(output(&store, dag).await, json!(i + 4));
    }
    worker.stop().await;
    b.shutdown().await.unwrap();
    exactly_once(log.as_ref(), &names).await;
    let results = terminal_results(log.as_ref(), &names).await;
    assert_eq!(results.len(), 40 * 5, "no result lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chord_of_10000_members_completing_twice_runs_its_body_once_across_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let (log, names) = embedded(&dir.path().join("log")).await;
    let state = dir.path().join("state");
    let header = (0..10_000).map(|i| Canvas::task("add", vec![json!(i), json!(1)]));
    let dag = Canvas::chord(header, Canvas::partial("tsum", vec![]))
        .compile(Uuid::new_v4())
        .unwrap();
    let body = dag.step(dag.output()).task_id;

    let worker = Worker::spawn(log.clone(), names.clone(), true);
    let started = Instant::now();
    submit(log.as_ref(), &names, &dag.to_spec()).await;
    // Crash in the middle of the fan-in, between a commit and its state write.
    crash_after(&log, &names, &state, 1_000, 6).await;
    let handle = coordinator(&log, &names, &state)
        .max_batch(1_000)
        .build()
        .unwrap()
        .spawn();
    let total = output(handle.store(), &dag).await;
    eprintln!(
        "10k chord end to end with a crash, duplicated completions (debug build): {:?}",
        started.elapsed()
    );
    assert_eq!(total, json!((0..10_000).map(|i| i + 1).sum::<i64>()));
    worker.stop().await;
    handle.shutdown().await.unwrap();
    let published = published(log.as_ref(), &names).await;
    assert_eq!(
        published.get(&body),
        Some(&1),
        "the body is published exactly once"
    );
    exactly_once(log.as_ref(), &names).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mismatched_partition_count_is_a_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn Log> = Arc::new(
        celeriac_topics::EmbeddedLog::open(celeriac_topics::EmbeddedConfig::new(
            dir.path().join("log"),
        ))
        .unwrap(),
    );
    let names = TopicNames::default();
    let mut topics = names.core_topics();
    topics[1].partitions = 3; // timers
    log.create_topics(&topics).await.unwrap();
    let error = coordinator(&log, &names, &dir.path().join("state"))
        .build()
        .unwrap()
        .run(Default::default())
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("must have the same partition count"),
        "{error}"
    );
}

/// Measures how fast the coordinator applies lone-task events (`--ignored`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn throughput_of_lone_task_events() {
    use celeriac_schemas::TaskEventKind;
    use coordinator_support::{event, outcome_event};
    let n = 50_000;
    for kinds in [1usize, 3] {
        let dir = tempfile::tempdir().unwrap();
        let (log, names) = embedded(&dir.path().join("log")).await;
        let mut records = Vec::new();
        for _ in 0..n {
            let message = TaskMessage::new("noop", "application/json", b"[]".to_vec());
            let mut events = vec![outcome_event(&message, &Ok(Value::Null), 1)];
            if kinds == 3 {
                events.insert(0, event(&message, TaskEventKind::Started, 1));
                events.insert(0, event(&message, TaskEventKind::Received, 1));
            }
            for e in events {
                let key = record_key(&message.root_id);
                records.push(OutRecord::keyed(names.events(), key, e.encode().unwrap()));
            }
        }
        for chunk in records.chunks(10_000) {
            log.send_batch(chunk.to_vec()).await.unwrap();
        }
        let started = Instant::now();
        let handle = coordinator(&log, &names, &dir.path().join("state"))
            .build()
            .unwrap()
            .spawn();
        let store = handle.store().clone();
        wait_caught_up(log.as_ref(), &names, &store, Duration::from_secs(300)).await;
        let elapsed = started.elapsed();
        handle.shutdown().await.unwrap();
        eprintln!(
            "{n} lone tasks x {kinds} event(s): {elapsed:?}, {:.0} tasks/s, {:.0} events/s (debug build)",
            n as f64 / elapsed.as_secs_f64(),
            (n * kinds) as f64 / elapsed.as_secs_f64()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_ahead_of_the_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    {
        let (log, names) = embedded(&dir.path().join("log")).await;
        let worker = Worker::spawn(log.clone(), names.clone(), false);
        let handle = coordinator(&log, &names, &state).build().unwrap().spawn();
        let dag = &chains(1, 2)[0];
        submit(log.as_ref(), &names, &dag.to_spec()).await;
        output(handle.store(), dag).await;
        worker.stop().await;
        handle.shutdown().await.unwrap();
    }
    // The log is wiped; the state directory stays.
    let (log, names) = embedded(&dir.path().join("other-log")).await;
    let outcome = coordinator(&log, &names, &state)
        .build()
        .unwrap()
        .run(Default::default());
    let error = tokio::time::timeout(WAIT, outcome)
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        error.to_string().contains("belongs to another log"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_transactions_are_applied_again_and_publish_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (log, names) = embedded(&dir.path().join("log")).await;
    let worker = Worker::spawn(log.clone(), names.clone(), true);
    let handle = coordinator(&log, &names, &dir.path().join("state"))
        .max_batch(20)
        .abort_transactions(25)
        .build()
        .unwrap()
        .spawn();
    let dags = workflows(50);
    let long = chains(4, 6);
    for dag in dags.iter().chain(&long) {
        submit(log.as_ref(), &names, &dag.to_spec()).await;
    }
    let store = handle.store().clone();
    for (dag, expected) in dags.iter().zip(expected(50)) {
        assert_eq!(output(&store, dag).await, expected);
    }
    for (i, dag) in long.iter().enumerate() {
        assert_eq!(output(&store, dag).await, json!(i + 5));
    }
    worker.stop().await;
    handle.shutdown().await.unwrap();
    exactly_once(log.as_ref(), &names).await;
}

/// A commit that went through but answers with a retriable error (its response was lost) is
/// retried, never aborted: aborting would apply the batch again and publish its successors a
/// second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_that_may_have_succeeded_is_retried_not_aborted() {
    let dir = tempfile::tempdir().unwrap();
    let (log, names) = embedded(&dir.path().join("log")).await;
    let worker = Worker::spawn(log.clone(), names.clone(), false);
    let handle = coordinator(&log, &names, &dir.path().join("state"))
        .max_batch(20)
        .lying_commits(40)
        .build()
        .unwrap()
        .spawn();
    let dags = workflows(30);
    let long = chains(4, 6);
    for dag in dags.iter().chain(&long) {
        submit(log.as_ref(), &names, &dag.to_spec()).await;
    }
    let store = handle.store().clone();
    for (dag, expected) in dags.iter().zip(expected(30)) {
        assert_eq!(output(&store, dag).await, expected);
    }
    for (i, dag) in long.iter().enumerate() {
        assert_eq!(output(&store, dag).await, json!(i + 5));
    }
    worker.stop().await;
    handle.shutdown().await.unwrap();
    exactly_once(log.as_ref(), &names).await;
}

/// A commit that goes through and then never returns (a wedged client) leaves the loop in
/// one await forever. The watchdog notices the phase that outlived its bound, the coordinator
/// stops as stalled, its supervisor starts a new one, and every workflow still ends once,
/// its successors published once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_stuck_in_a_call_is_noticed_and_started_again() {
    use celeriac_engine::coordinator::{supervise, CoordinatorState, RestartPolicy};
    let dir = tempfile::tempdir().unwrap();
    let (log, names) = embedded(&dir.path().join("log")).await;
    let worker = Worker::spawn(log.clone(), names.clone(), false);
    let store = CoordinatorStore::open(dir.path().join("state")).unwrap();
    let builder = coordinator(&log, &names, &dir.path().join("state"))
        .max_batch(20)
        .hanging_commits(3)
        .stall_after(Duration::from_secs(1));
    let policy = RestartPolicy {
        first_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        give_up_after: 10,
        healthy_after: Duration::from_secs(60),
    };
    let supervised = supervise(
        builder,
        store.clone(),
        policy,
        tokio_util::sync::CancellationToken::new(),
        |error| panic!("the coordinator gave up: {error}"),
    );
    let dags = workflows(30);
    let long = chains(4, 6);
    for dag in dags.iter().chain(&long) {
        submit(log.as_ref(), &names, &dag.to_spec()).await;
    }
    for (dag, expected) in dags.iter().zip(expected(30)) {
        assert_eq!(output(&store, dag).await, expected);
    }
    for (i, dag) in long.iter().enumerate() {
        assert_eq!(output(&store, dag).await, json!(i + 5));
    }
    match supervised.state() {
        // A slow machine may see another phase outlast the short bound: more restarts, never
        // fewer.
        CoordinatorState::Running { restarts, .. } => assert!(
            restarts >= 3,
            "each of the 3 hung commits was noticed and ended its run: {restarts} restarts"
        ),
        other => panic!("expected a running coordinator, got {other:?}"),
    }
    worker.stop().await;
    supervised.shutdown().await.unwrap();
    exactly_once(log.as_ref(), &names).await;
}

/// Times a 10,000-member chord end to end on the embedded log (`--ignored`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn time_a_chord_of_10000_members_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let (log, names) = embedded(&dir.path().join("log")).await;
    let header = (0..10_000).map(|i| Canvas::task("add", vec![json!(i), json!(1)]));
    let dag = Canvas::chord(header, Canvas::partial("tsum", vec![]))
        .compile(Uuid::new_v4())
        .unwrap();
    let worker = Worker::spawn(log.clone(), names.clone(), false);
    let handle = coordinator(&log, &names, &dir.path().join("state"))
        .build()
        .unwrap()
        .spawn();
    tokio::time::sleep(Duration::from_millis(100)).await; // assigned and restored
    let started = Instant::now();
    submit(log.as_ref(), &names, &dag.to_spec()).await;
    output(handle.store(), &dag).await;
    eprintln!(
        "10k chord end to end (debug build): {:?}",
        started.elapsed()
    );
    worker.stop().await;
    handle.shutdown().await.unwrap();
}
