//! The task life cycle end to end, through the public API, on both backends: results,
//! retries, countdowns, limits, expiry, revocation (remembered across worker restarts), panics,
//! poison messages, routing, msgpack messages from other producers, forgetting results.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use celeriac::engine::{Error, SendOptions};
use celeriac::prelude::*;
use celeriac::schemas::{DeadLetter, DeadLetterKind, Record, TaskMessage, TaskState};
use celeriac::topics::{OutRecord, TopicPartition};
use support::TestApp;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Every dead letter on the app's dead-letter topic so far.
async fn dead_letters(test: &TestApp) -> Vec<DeadLetter> {
    let log = test.app.log();
    let tp = TopicPartition::new(test.app.names().dead(), 0);
    let mut reader = log.read_partition(&tp, 0).await.expect("read dead letters");
    let mut letters = Vec::new();
    while let Some(batch) = reader.next_batch().await.expect("batch") {
        letters.extend(
            batch
                .iter()
                .map(|r| DeadLetter::decode(&r.payload).expect("a dead letter")),
        );
    }
    letters
}

on_both_backends! {
    async fn results_come_back_typed(test: TestApp) {
        let app = &test.app;
        let add = app.task("add", |(x, y): (i64, i64)| async move { Ok(x + y) }).expect("register");
        let worker = app.worker().concurrency(4).spawn();
        let result = add.delay((2, 3)).await.expect("sent");
        assert_eq!(result.get(secs(30)).await.expect("result"), 5);
        assert_eq!(result.state().await.expect("state"), TaskState::Success);
        assert!(result.ready().await.expect("ready"));
        let untyped = app.send_task("add", &serde_json::json!([40, 2]), SendOptions::default()).await.expect("sent");
        assert_eq!(untyped.get(secs(30)).await.expect("result"), serde_json::json!(42));
        worker.shutdown().await.expect("clean shutdown");
    }
}

on_both_backends! {
    async fn retries_back_off_and_then_give_up(test: TestApp) {
        let app = &test.app;
        let attempts = Arc::new(AtomicU32::new(0));
        let seen = attempts.clone();
        let options = TaskOptions::new().max_retries(3).autoretry_for("Flaky").retry_backoff(true).retry_backoff_base(millis(20));
        let flaky = app
            .task_with("flaky", options, move |ctx: Ctx, succeed_on: u32| {
                let seen = seen.clone();
                async move {
                    seen.fetch_add(1, Ordering::SeqCst);
                    if ctx.request().retries < succeed_on {
                        return Err(TaskError::new("Flaky", "not yet"));
                    }
                    Ok(ctx.request().retries)
                }
            })
            .expect("register");
        let worker = app.worker().spawn();
        assert_eq!(flaky.delay(2).await.expect("sent").get(secs(30)).await.expect("succeeds on the third attempt"), 2);
        let doomed = flaky.delay(99).await.expect("sent");
        match doomed.get(secs(30)).await {
            Err(Error::TaskFailed { error, .. }) => assert_eq!(error.kind(), "Flaky", "autoretry re-raises the error"),
            other => panic!("expected a failure after 3 retries, got {other:?}"),
        }
        assert_eq!(attempts.load(Ordering::SeqCst), 3 + 4, "3 attempts, then 1 + 3 retries");
        // A dead letter is durable before its FAILED event is sent: once the failure can be
        // seen, one read of the dead-letter topic finds it.
        let letters = dead_letters(&test).await;
        assert!(letters.iter().any(|l| l.kind == DeadLetterKind::RetriesExhausted && l.task_id == Some(doomed.id())), "the failure is visible before its dead letter");
        worker.shutdown().await.expect("clean shutdown");
    }
}

on_both_backends! {
    async fn a_countdown_never_starts_early(test: TestApp) {
        let app = &test.app;
        let started = app.task("when", |(): ()| async move { Ok(now_ms()) }).expect("register");
        let worker = app.worker().spawn();
        let sent = now_ms();
        let result = started.apply_async(()).countdown(millis(1500)).send().await.expect("sent");
        let ran_at = result.get(secs(30)).await.expect("result");
        assert!(ran_at >= sent + 1500, "started {} ms after sending, before its countdown", ran_at - sent);
        worker.shutdown().await.expect("clean shutdown");
    }
}

on_both_backends! {
    async fn time_limits_soft_then_hard(test: TestApp) {
        let app = &test.app;
        let options = TaskOptions::new().soft_time_limit(millis(100)).time_limit(millis(400));
        let sleepy = app
            .task_with("sleepy", options, |ctx: Ctx, ms: u64| async move {
                tokio::select! {
                    _ = ctx.soft_deadline() => Ok("cleaned up".to_owned()),
                    _ = tokio::time::sleep(millis(ms)) => Ok("finished".to_owned()),
                }
            })
            .expect("register");
        let stuck = app
            .task_with("stuck", TaskOptions::new().time_limit(millis(200)), |_ctx: Ctx, (): ()| async move {
                tokio::time::sleep(secs(3600)).await;
                Ok(())
            })
            .expect("register");
        let worker = app.worker().spawn();
        assert_eq!(sleepy.delay(10_000).await.expect("sent").get(secs(30)).await.expect("soft"), "cleaned up");
        match stuck.delay(()).await.expect("sent").get(secs(30)).await {
            Err(Error::TaskFailed { error, .. }) => assert_eq!(error.kind(), "TimeLimitExceeded"),
            other => panic!("expected a hard time limit failure, got {other:?}"),
        }
        worker.shutdown().await.expect("clean shutdown");
    }
}

on_both_backends! {
    async fn panics_fail_the_task_not_the_worker(test: TestApp) {
        let app = &test.app;
        let boom = app.task("boom", |(): ()| async move {
            if now_ms() > 0 { panic!("kaboom"); }
            Ok(())
        }).expect("register");
        let add = app.task("add", |(x, y): (i64, i64)| async move { Ok(x + y) }).expect("register");
        let worker = app.worker().spawn();
        match boom.delay(()).await.expect("sent").get(secs(30)).await {
            Err(Error::TaskFailed { error, .. }) => {
                assert_eq!(error.kind(), "Panic");
                assert!(error.message().contains("kaboom"));
            }
            other => panic!("expected a panic failure, got {other:?}"),
        }
        assert_eq!(add.delay((1, 1)).await.expect("sent").get(secs(30)).await.expect("still working"), 2);
        worker.shutdown().await.expect("clean shutdown");
    }
}

on_both_backends! {
    async fn expired_and_revoked_tasks_do_not_run(test: TestApp) {
        let app = &test.app;
        let ran = Arc::new(Mutex::new(Vec::new()));
        let log = ran.clone();
        let record = app
            .task("record", move |tag: String| {
                let log = log.clone();
                async move {
                    log.lock().expect("lock").push(tag);
                    Ok(())
                }
            })
            .expect("register");
        let expired = record.apply_async("expired".into()).expires(SystemTime::now() - secs(1)).send().await.expect("sent");
        let revoked = record.apply_async("revoked".into()).countdown(millis(500)).send().await.expect("sent");
        app.revoke(&[revoked.id()], false).await.expect("revoke");
        let worker = app.worker().spawn();
        assert!(matches!(expired.get(secs(30)).await, Err(Error::Revoked(_))));
        assert!(matches!(revoked.get(secs(30)).await, Err(Error::Revoked(_))));
        record.delay("normal".into()).await.expect("sent").get(secs(30)).await.expect("runs");
        assert_eq!(*ran.lock().expect("lock"), vec!["normal".to_owned()]);
        worker.shutdown().await.expect("clean shutdown");
    }
}

on_both_backends! {
    async fn terminate_aborts_a_running_task(test: TestApp) {
        let app = &test.app;
        let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel();
        let forever = app
            .task("forever", move |(): ()| {
                let started = started_tx.clone();
                async move {
                    let _ = started.send(());
                    std::future::pending::<()>().await;
                    Ok(())
                }
            })
            .expect("register");
        let worker = app.worker().spawn();
        let running = forever.delay(()).await.expect("sent");
        started_rx.recv().await.expect("the task started");
        app.revoke(&[running.id()], true).await.expect("terminate");
        let outcome = running.get(secs(30)).await;
        assert!(matches!(outcome, Err(Error::Revoked(_))), "expected REVOKED, got {outcome:?}");
        worker.shutdown().await.expect("clean shutdown");
    }
}

on_both_backends! {
    async fn poison_and_unknown_tasks_are_dead_lettered(test: TestApp) {
        let app = &test.app;
        let add = app.task("add", |(x, y): (i64, i64)| async move { Ok(x + y) }).expect("register");
        let worker = app.worker().spawn();
        let topic = app.names().tasks("default");
        app.log().create_topics(&[app.names().queue_topic("default")]).await.expect("queue topic");
        app.log().send(OutRecord::keyed(topic, "poison", &b"\xc3\x01not an avro record"[..])).expect("send").await.expect("sent");
        let unknown = app.send_task("no.such.task", &serde_json::json!([]), SendOptions::default()).await.expect("sent");
        match unknown.get(secs(30)).await {
            Err(Error::TaskFailed { error, .. }) => assert_eq!(error.kind(), "UnknownTask"),
            other => panic!("expected an unknown-task failure, got {other:?}"),
        }
        assert_eq!(add.delay((2, 2)).await.expect("sent").get(secs(30)).await.expect("the worker keeps going"), 4);
        // The unknown task's dead letter is durable before its failure is visible.
        let letters = dead_letters(&test).await;
        assert!(letters.iter().any(|l| l.kind == DeadLetterKind::UnknownTask && l.task_id == Some(unknown.id())), "the failure is visible before its dead letter");
        // The poison has no result to wait for, and the tasks after it may sit in the other
        // partition: its dead letter is awaited.
        support::await_record(app, &app.names().dead(), "the poison's dead letter", |r| {
            DeadLetter::decode(&r.payload).ok().filter(|l| l.kind == DeadLetterKind::Undecodable && l.original.starts_with(b"\xc3\x01not"))
        })
        .await;
        worker.shutdown().await.expect("clean shutdown");
    }
}

on_both_backends! {
    async fn rate_limits_space_out_starts(test: TestApp) {
        let app = &test.app;
        let starts = Arc::new(Mutex::new(Vec::new()));
        let log = starts.clone();
        let limited = app
            .task_with("limited", TaskOptions::new().rate_limit("10/s"), move |_ctx: Ctx, (): ()| {
                let log = log.clone();
                async move {
                    log.lock().expect("lock").push(now_ms());
                    Ok(())
                }
            })
            .expect("register");
        let worker = app.worker().concurrency(8).spawn();
        let ids = app.send_tasks("limited", vec![serde_json::json!([]); 25], SendOptions::default()).await.expect("sent");
        app.wait_for_all(&ids, secs(30)).await.expect("all ran");
        let mut starts = starts.lock().expect("lock").clone();
        starts.sort_unstable();
        // A bucket of 10 starts at once, then one every 100 ms: the 25th start is ≥ 1.5 s after the first.
        let span = starts[24] - starts[0];
        assert!(span >= 1400, "25 starts at 10/s took only {span} ms");
        drop(limited);
        worker.shutdown().await.expect("clean shutdown");
    }
}

#[tokio::test]
async fn apply_runs_locally_without_a_worker() {
    let test = support::app(support::Backend::Embedded).await;
    let attempts = Arc::new(AtomicU32::new(0));
    let seen = attempts.clone();
    let twice = test
        .app
        .task_with(
            "twice",
            TaskOptions::new().max_retries(3),
            move |ctx: Ctx, x: i64| {
                let seen = seen.clone();
                async move {
                    if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                        return Err(ctx.retry_in(secs(60)));
                    }
                    Ok(x * 2)
                }
            },
        )
        .expect("register");
    assert_eq!(twice.apply(21).await.expect("applied"), 42);
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        2,
        "the retry ran at once, eagerly"
    );
}

#[tokio::test]
async fn routes_send_tasks_to_their_queues() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = App::builder()
        .state_dir(dir.path())
        .route("math.*", "math")
        .build()
        .await
        .expect("app");
    let add = app
        .task("math.add", |(x, y): (i64, i64)| async move { Ok(x + y) })
        .expect("register");
    assert_eq!(app.queue_for("math.add"), "math");
    assert_eq!(app.queue_for("other"), "default");
    let math_worker = app.worker().queues(["math"]).spawn();
    assert_eq!(
        add.delay((1, 2))
            .await
            .expect("sent")
            .get(secs(30))
            .await
            .expect("the math worker ran it"),
        3
    );
    math_worker.shutdown().await.expect("clean shutdown");
}

on_both_backends! {
    async fn a_msgpack_message_from_another_producer_runs_and_answers_in_msgpack(test: TestApp) {
        let app = &test.app;
        app.task("add", |(x, y): (i64, i64)| async move { Ok(x + y) }).expect("register");
        let worker = app.worker().spawn();
        // What a producer in another language writes: a TaskMessage record with msgpack args.
        let mut message = TaskMessage::new("add", "application/x-msgpack", rmp_serde::to_vec(&(20, 22)).expect("msgpack"));
        message.queue = "default".into();
        app.log().create_topics(&[app.names().queue_topic("default")]).await.expect("queue topic");
        let record = OutRecord::keyed(app.names().tasks("default"), message.id.to_string(), message.encode().expect("encode"));
        app.log().send(record).expect("send").await.expect("sent");
        let result = AsyncResult::<i64>::from_id(app, message.id);
        assert_eq!(result.get(secs(30)).await.expect("the msgpack task ran"), 42);
        let recorded = result.wait(secs(5)).await.expect("the recorded result");
        assert_eq!(recorded.content_type.as_deref(), Some("application/x-msgpack"), "the result is in the caller's content type");
        assert_eq!(rmp_serde::from_slice::<i64>(recorded.result.as_deref().unwrap_or_default()).expect("msgpack result"), 42);
        worker.shutdown().await.expect("clean shutdown");
    }
}

on_both_backends! {
    async fn a_forgotten_result_is_pending_again_everywhere(test: TestApp) {
        let app = &test.app;
        let add = app.task("add", |(x, y): (i64, i64)| async move { Ok(x + y) }).expect("register");
        let worker = app.worker().spawn();
        let result = add.delay((1, 2)).await.expect("sent");
        assert_eq!(result.get(secs(30)).await.expect("result"), 3);
        result.forget().await.expect("forget");
        assert_eq!(result.state().await.expect("state"), TaskState::Pending);
        // A fresh handle reads the topic's history (the result, then the tombstone).
        let fresh = AsyncResult::<i64>::from_id(app, result.id());
        assert_eq!(fresh.state().await.expect("state"), TaskState::Pending);
        worker.shutdown().await.expect("clean shutdown");
    }
}

/// A result past `result_expires` reads PENDING everywhere: the coordinator's sweep deletes
/// it from its store and publishes a tombstone on the results topic.
async fn expired_results_are_forgotten(backend: support::Backend) {
    let expires = std::time::Duration::from_millis(600);
    let test = support::app_with(backend, |b| b.result_expires(expires)).await;
    let app = &test.app;
    let add = app
        .task("add", |(x, y): (i64, i64)| async move { Ok(x + y) })
        .expect("register");
    let worker = app.worker().spawn();
    let result = add.delay((1, 2)).await.expect("sent");
    assert_eq!(result.get(secs(30)).await.expect("result"), 3);
    let done = result.wait(secs(1)).await.expect("the result").date_done;
    // The sweep runs every quarter of the expiry; its tombstone reaches this reader.
    let deadline = std::time::Instant::now() + secs(30);
    while result.state().await.expect("state") != TaskState::Pending {
        assert!(
            std::time::Instant::now() < deadline,
            "the result never expired"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(now_ms() - done >= 600, "forgotten before it expired");
    // On the log, what every other reader sees: the result, then its tombstone.
    let key = result.id().to_string();
    let mut records = Vec::new();
    for partition in 0..2 {
        let tp = TopicPartition::new(app.names().results(), partition);
        let mut reader = app
            .log()
            .read_partition(&tp, 0)
            .await
            .expect("read results");
        while let Some(batch) = reader.next_batch().await.expect("batch") {
            records.extend(
                batch
                    .into_iter()
                    .filter(|r| r.key.as_deref() == Some(key.as_bytes())),
            );
        }
    }
    let last = records.last().expect("records of the task");
    assert!(last.payload.is_empty(), "the last record is a tombstone");
    assert!(records.iter().any(|r| {
        celeriac::schemas::TaskResult::decode(&r.payload)
            .is_ok_and(|r| r.state == TaskState::Success)
    }));
    worker.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_results_are_forgotten_embedded() {
    expired_results_are_forgotten(support::Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_results_are_forgotten_kafka() {
    expired_results_are_forgotten(support::Backend::Kafka).await;
}

on_both_backends! {
    /// A task still running when a shutdown's grace period ends is not recorded (least of
    /// all as revoked): its message stays uncommitted and the next worker runs it.
    async fn a_task_cut_off_by_shutdown_runs_again(test: TestApp) {
        let app = &test.app;
        let runs = Arc::new(AtomicU32::new(0));
        let started = Arc::new(tokio::sync::Notify::new());
        let (counted, first_started) = (runs.clone(), started.clone());
        let task = app.task("slow_first_time", move |(): ()| {
            let first = counted.fetch_add(1, Ordering::SeqCst) == 0;
            let first_started = first_started.clone();
            async move {
                if first {
                    first_started.notify_one();
                    tokio::time::sleep(secs(3600)).await;
                }
                Ok(7)
            }
        }).expect("register");
        let worker = app.worker().grace(std::time::Duration::from_millis(200)).spawn();
        let result = task.delay(()).await.expect("sent");
        started.notified().await;
        worker.shutdown().await.expect("shutdown after the grace period");
        assert!(!result.ready().await.expect("state"), "an abandoned attempt records nothing");
        let second = app.worker().spawn();
        assert_eq!(result.get(secs(30)).await.expect("the next worker runs it"), 7);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        second.shutdown().await.expect("clean shutdown");
    }
}

on_both_backends! {
    async fn a_revocation_outlives_the_worker_that_heard_it(test: TestApp) {
        let app = &test.app;
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        let task = app.task("counted", move |(): ()| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move { Ok(()) }
        }).expect("register");
        let first = app.worker().spawn();
        let id = uuid::Uuid::now_v7();
        app.revoke(&[id], false).await.expect("revoke");
        first.shutdown().await.expect("clean shutdown");
        // A worker started after the revocation reads it from the control topic's history.
        let second = app.worker().spawn();
        let revoked = task.apply_async(()).task_id(id).send().await.expect("sent");
        assert!(matches!(revoked.get(secs(30)).await, Err(Error::Revoked(_))), "the revoked id never runs");
        task.delay(()).await.expect("sent").get(secs(30)).await.expect("another task still runs");
        assert_eq!(runs.load(Ordering::SeqCst), 1, "only the unrevoked task ran");
        second.shutdown().await.expect("clean shutdown");
    }
}
