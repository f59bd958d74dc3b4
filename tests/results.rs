//! The results reader where a deployment strains it: waits that give up, task ids whose age
//! cannot be read from them (Celery's v4 ids), and a log whose clock is not the hosts'.

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use celeriac::engine::{AsyncResult, Error, SendOptions};
use celeriac::prelude::*;
use celeriac::schemas::TaskState;
use celeriac::topics::{EmbeddedConfig, LogConfig};
use serde_json::json;
use support::{Backend, TestApp};
use uuid::Uuid;

/// A second app on `test`'s log with no worker: its results reader starts fresh, after
/// whatever the first app's tasks recorded.
async fn second_app(test: &TestApp) -> (App, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let builder = App::builder()
        .state_dir(dir.path())
        .prefix(test.app.names().prefix())
        .partitions(2);
    let builder = match test.backend {
        Backend::Embedded => builder.log(test.app.log().clone()),
        Backend::Kafka => builder.brokers(support::brokers()),
    };
    (builder.build().await.expect("second app"), dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_that_give_up_leave_nothing_behind() {
    let test = support::app(Backend::Embedded).await;
    // Starts the reader.
    let first = AsyncResult::<i64>::from_id(&test.app, Uuid::now_v7());
    assert_eq!(first.state().await.expect("state"), TaskState::Pending);
    for _ in 0..500 {
        let waited = AsyncResult::<i64>::from_id(&test.app, Uuid::now_v7())
            .get(Duration::from_millis(1))
            .await;
        assert!(matches!(waited, Err(Error::Timeout { .. })), "{waited:?}");
    }
    let stats = test.app.results_stats();
    assert_eq!(stats.cache.waiters, 0, "{stats:?}");
}

on_both_backends! {
    async fn ids_of_unknown_age_are_found_with_one_shared_read_per_partition(test: TestApp) {
        test.app
            .task("add", |(x, y): (i64, i64)| async move { Ok(x + y) })
            .expect("add");
        let worker = test.app.worker().spawn();
        let id = Uuid::new_v4();
        let options = SendOptions {
            task_id: Some(id),
            ..SendOptions::default()
        };
        let sent = test
            .app
            .send_task("add", &json!([2, 3]), options)
            .await
            .expect("sent");
        assert_eq!(sent.get(secs(60)).await.expect("runs"), json!(5));

        let (other, _dir) = second_app(&test).await;
        let lookups = (0..20).map(|_| {
            let other = other.clone();
            async move {
                AsyncResult::<i64>::from_id(&other, Uuid::new_v4())
                    .state()
                    .await
                    .expect("state")
            }
        });
        let found = AsyncResult::<i64>::from_id(&other, id);
        let (states, value) = tokio::join!(futures::future::join_all(lookups), found.get(secs(30)));
        assert_eq!(value.expect("found in history"), 5);
        assert!(states.iter().all(|s| *s == TaskState::Pending), "{states:?}");
        let reads = other.results_stats().history_reads;
        assert!(
            (1..=2).contains(&reads),
            "21 look-ups of unknown age share one read per partition (2), made {reads}"
        );
        for _ in 0..20 {
            let state = AsyncResult::<i64>::from_id(&other, Uuid::new_v4())
                .state()
                .await
                .expect("state");
            assert_eq!(state, TaskState::Pending);
        }
        assert_eq!(
            other.results_stats().history_reads,
            reads,
            "a partition read whole is not read again"
        );
        if test.backend == Backend::Kafka {
            let results = test.app.names().results();
            let description = test.app.log().describe_topic(&results).await.expect("describe");
            assert_eq!(
                description.configs.get("message.timestamp.type").map(String::as_str),
                Some("LogAppendTime"),
                "the broker, not a coordinator's clock, stamps results"
            );
        }
        worker.shutdown().await.expect("stops");
    }
}

/// A task run on a log whose clock is `offset_ms` off every host's is found by an app whose
/// reader starts after the result was recorded.
async fn found_despite_a_skewed_log(offset_ms: i64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = EmbeddedConfig {
        clock_offset_ms: offset_ms,
        ..EmbeddedConfig::new(dir.path().join("log"))
    };
    let log = celeriac::topics::open(LogConfig::Embedded(config))
        .await
        .expect("log");
    let app = App::builder()
        .state_dir(dir.path().join("first"))
        .partitions(2)
        .log(log.clone())
        .build()
        .await
        .expect("app");
    let add = app
        .task("add", |(x, y): (i64, i64)| async move { Ok(x + y) })
        .expect("add");
    let worker = app.worker().spawn();
    let sent = add.delay((20, 22)).await.expect("sent");
    assert_eq!(sent.get(secs(60)).await.expect("runs"), 42);

    let later = App::builder()
        .state_dir(dir.path().join("second"))
        .partitions(2)
        .log(log)
        .build()
        .await
        .expect("second app");
    let value = AsyncResult::<i64>::from_id(&later, sent.id())
        .get(secs(10))
        .await;
    assert_eq!(
        value.expect("a finished task is found, not PENDING"),
        42,
        "log clock {offset_ms} ms off"
    );
    let measured = later.results_stats().clock_ahead_ms;
    assert!(
        (measured + offset_ms).abs() < 5_000,
        "measured this host {measured} ms ahead of a log {offset_ms} ms off"
    );
    worker.shutdown().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_is_found_when_the_log_clock_is_five_minutes_behind() {
    found_despite_a_skewed_log(-300_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_is_found_when_the_log_clock_is_five_minutes_ahead() {
    found_despite_a_skewed_log(300_000).await;
}
