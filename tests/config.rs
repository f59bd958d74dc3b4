//! `celeriac.toml` drives an app end to end, on both backends: routes pick queues, a queue's
//! partitions and topic configs shape its topic, its retry policy applies to tasks without one
//! of their own, `[topics] retention` reaches the input topics, `[worker]` sets what
//! `app.worker()` starts from.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use celeriac::engine::{AppBuilder, Config, Error};
use celeriac::prelude::*;

const CONFIG: &str = r#"
partitions = 2
result-expires = "2h"

[topics]
retention = "3d"

[queues.math]
partitions = 3
max-retries = 1
retry-backoff = true
retry-backoff-base = "10ms"
topic = { "retention.ms" = 3600000 }

[routes]
"math.*" = "math"

[worker]
queues = ["math", "default"]
concurrency = 2
"#;

async fn app(kafka: bool, dir: &std::path::Path) -> App {
    let prefix = format!("cfg{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut text = format!("prefix = \"{prefix}\"\nstate-dir = \"{}\"\n", dir.display());
    if kafka {
        support::require_broker();
        text.push_str(&format!("brokers = \"{}\"\n", support::brokers()));
    }
    text.push_str(CONFIG);
    let config = Config::from_toml(&text).expect("valid configuration");
    AppBuilder::from_config(&config)
        .expect("builder")
        .build()
        .await
        .expect("app builds")
}

async fn the_file_drives_the_app(kafka: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(kafka, dir.path()).await;
    assert_eq!(app.queue_for("math.flaky"), "math", "routes from the file");
    assert_eq!(app.queue_for("io.fetch"), "default");

    let attempts = Arc::new(AtomicU32::new(0));
    let seen = attempts.clone();
    // Celery's default retry settings: the queue's policy (1 retry) applies.
    let flaky = app
        .task_with(
            "math.flaky",
            TaskOptions::new().autoretry_for("Flaky"),
            move |_: Ctx, _: ()| {
                let seen = seen.clone();
                async move {
                    seen.fetch_add(1, Ordering::SeqCst);
                    Err::<(), _>(TaskError::new("Flaky", "never"))
                }
            },
        )
        .expect("register");
    // A task with its own budget keeps it.
    let own = Arc::new(AtomicU32::new(0));
    let seen_own = own.clone();
    let stubborn = app
        .task_with(
            "math.stubborn",
            TaskOptions::new()
                .autoretry_for("Flaky")
                .max_retries(2)
                .retry_backoff(true)
                .retry_backoff_base(millis(10)),
            move |_: Ctx, _: ()| {
                let seen = seen_own.clone();
                async move {
                    seen.fetch_add(1, Ordering::SeqCst);
                    Err::<(), _>(TaskError::new("Flaky", "never"))
                }
            },
        )
        .expect("register");

    let worker = app.worker();
    assert_eq!(
        worker.served_queues(),
        ["math", "default"],
        "[worker] queues"
    );
    assert_eq!(worker.slots(), 2, "[worker] concurrency");
    let worker = worker.spawn();
    for (handle, counter, attempts_expected) in [
        (flaky.delay(()).await.expect("sent"), &attempts, 2),
        (stubborn.delay(()).await.expect("sent"), &own, 3),
    ] {
        match handle.get(secs(60)).await {
            Err(Error::TaskFailed { .. }) => {}
            other => panic!("expected a failure once retries ran out, got {other:?}"),
        }
        assert_eq!(counter.load(Ordering::SeqCst), attempts_expected);
    }
    worker.shutdown().await.expect("worker stops");

    let math = app
        .log()
        .describe_topic(&app.names().tasks("math"))
        .await
        .expect("the math queue's topic");
    assert_eq!(math.partitions, 3, "[queues.math] partitions");
    assert_eq!(
        math.configs.get("retention.ms").map(String::as_str),
        Some("3600000"),
        "the queue's own topic config wins over [topics] retention"
    );
    let default = app
        .log()
        .describe_topic(&app.names().tasks("default"))
        .await
        .expect("the default queue's topic");
    assert_eq!(default.partitions, 2, "the app's partitions");
    let three_days = (3 * 24 * 3600 * 1000i64).to_string();
    for topic in [
        app.names().workflows(),
        app.names().timers(),
        app.names().events(),
    ] {
        let described = app.log().describe_topic(&topic).await.expect("described");
        assert_eq!(
            described.configs.get("retention.ms"),
            Some(&three_days),
            "[topics] retention on {topic}"
        );
    }
    let results = app
        .log()
        .describe_topic(&app.names().results())
        .await
        .expect("described");
    assert_eq!(
        results.configs.get("retention.ms"),
        None,
        "the compacted results topic keeps its records"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_drives_the_app_embedded() {
    the_file_drives_the_app(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_drives_the_app_kafka() {
    the_file_drives_the_app(true).await;
}

#[test]
fn a_queue_name_kafka_cannot_take_is_refused_at_build() {
    let error = Config::from_toml("[queues.\"a b\"]\npartitions = 2\n")
        .and_then(|config| AppBuilder::from_config(&config))
        .map(|_| ())
        .err();
    // Checked when the app is built (it needs no broker to refuse it).
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let built = runtime.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config::from_toml(&format!(
            "state-dir = \"{}\"\n[queues.\"a b\"]\npartitions = 2\n",
            dir.path().display()
        ))
        .expect("parses");
        AppBuilder::from_config(&config)
            .expect("builder")
            .build()
            .await
            .map(|_| ())
    });
    assert!(error.is_none(), "parsing accepts it: {error:?}");
    match built {
        Err(Error::InvalidQueue(queue)) => assert_eq!(queue, "a b"),
        other => panic!("expected InvalidQueue, got {other:?}"),
    }
}
