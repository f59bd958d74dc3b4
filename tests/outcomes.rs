//! What a worker records when the log refuses it at first, and when its clock disagrees with
//! its coordinator's: an outcome or dead letter the log refused is written once the log takes
//! it (the same bytes, never rebuilt), the partition's commits move on after it, and a task its
//! coordinator fired runs even on a worker whose clock says it is early.
//!
//! The refusals are made by deleting a topic under a running worker, which only the embedded
//! log does at once; the clock tests run on both backends.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use celeriac::prelude::*;
use celeriac::schemas::{
    DeadLetter, DeadLetterKind, Record as _, TaskEvent, TaskEventKind, TaskMessage,
};
use celeriac::topics::{OutRecord, TopicPartition};
use support::{Backend, TestApp};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The offsets the default queue's workers committed, per partition (0 where none).
async fn committed(app: &App) -> Vec<i64> {
    let tasks = app.names().tasks("default");
    let partitions: Vec<_> = (0..2).map(|p| TopicPartition::new(&tasks, p)).collect();
    let group = app.names().worker_group("default");
    let offsets = app
        .log()
        .committed_offsets(&group, &partitions)
        .await
        .expect("offsets");
    offsets.into_iter().map(|o| o.unwrap_or(0)).collect()
}

/// The worker's `processed` count, as `inspect stats` reports it (`None`: no answer within
/// the half second the inspection waits).
async fn processed(app: &App) -> Option<i64> {
    use celeriac::engine::inspect::{decode_body, InspectKind, WorkerStats};
    let replies = app
        .control()
        .inspect(InspectKind::Stats, Duration::from_millis(500))
        .await
        .expect("inspect");
    let reply = replies.first()?;
    Some(decode_body::<WorkerStats>(reply).expect("stats").processed)
}

/// Waits until the worker has counted `n` attempts (counted once their outcome went to the log).
async fn await_processed(app: &App, n: i64) {
    let deadline = tokio::time::Instant::now() + secs(30);
    while processed(app).await != Some(n) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the attempts never finished"
        );
    }
}

/// A task that counts its runs, says when one started and ends once the gate lets it:
/// `(task, runs, started, gate)`.
type Gated = (
    Task<(), u32>,
    Arc<AtomicU32>,
    Arc<tokio::sync::Notify>,
    Arc<tokio::sync::Semaphore>,
);

fn gated(
    app: &App,
    name: &str,
    options: TaskOptions,
    outcome: impl Fn(&Ctx) -> Result<u32, TaskError> + Send + Sync + 'static,
) -> Gated {
    let runs = Arc::new(AtomicU32::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let started = Arc::new(tokio::sync::Notify::new());
    let (counted, opened, told) = (runs.clone(), gate.clone(), started.clone());
    let outcome = Arc::new(outcome);
    let task = app
        .task_with(name, options, move |ctx: Ctx, (): ()| {
            counted.fetch_add(1, Ordering::SeqCst);
            let (gate, started, outcome) = (opened.clone(), told.clone(), outcome.clone());
            async move {
                started.notify_one();
                let permit = gate.acquire().await;
                permit
                    .map_err(|e| TaskError::new("Gate", e.to_string()))?
                    .forget();
                outcome(&ctx)
            }
        })
        .expect("register");
    (task, runs, started, gate)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_the_log_refused_is_recorded_once_the_log_takes_it() {
    let test = support::app(Backend::Embedded).await;
    let app = &test.app;
    let (task, runs, started, gate) = gated(app, "gated_once", TaskOptions::new(), |_| Ok(5));
    // No coordinator yet: the one started below reads the events topic as it is then.
    let worker = app.worker().coordinator(false).spawn();
    let result = task.delay(()).await.expect("sent");
    started.notified().await;
    // The outcome's topic goes away while the task runs: its event is refused.
    let events = app.names().events().to_string();
    app.log().delete_topics(&[events]).await.expect("delete");
    gate.add_permits(1);
    await_processed(app, 1).await;
    assert!(
        !result.ready().await.expect("state"),
        "nothing recorded while the log refuses"
    );
    // The worker commits every 100 ms; an inspection waits 500 ms for answers. Had it taken
    // the refused outcome for durable, it would have committed past the message by now.
    assert_eq!(processed(app).await, Some(1), "one attempt, not run again");
    let committed = committed(app).await;
    assert!(
        committed.iter().all(|&offset| offset == 0),
        "nothing committed past the only message while its outcome is refused: {committed:?}"
    );
    app.log()
        .create_topics(&app.names().core_topics())
        .await
        .expect("topics back");
    let coordinator = app.worker().queues(["unused"]).spawn();
    assert_eq!(
        result
            .get(secs(30))
            .await
            .expect("recorded once the log takes it"),
        5
    );
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "recorded without running again"
    );
    worker.shutdown().await.expect("clean shutdown");
    coordinator.shutdown().await.expect("clean shutdown");
}

/// A RETRIED event the log refused is sent again as it was built: its `next_eta` is the eta of
/// the retry message that was already durable, not a new draw made when it was sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resent_retry_event_agrees_with_the_retry_message() {
    let test = support::app(Backend::Embedded).await;
    let app = &test.app;
    let options = TaskOptions::new().max_retries(1);
    let (task, runs, started, gate) =
        gated(app, "retried", options, |ctx| match ctx.request().retries {
            0 => Err(ctx.retry_in(secs(600))),
            retries => Ok(retries),
        });
    // No coordinator: the retry stays parked on the timers topic, where the test reads it.
    let worker = app.worker().coordinator(false).spawn();
    let result = task.delay(()).await.expect("sent");
    started.notified().await;
    let events = app.names().events().to_string();
    app.log().delete_topics(&[events]).await.expect("delete");
    gate.add_permits(1);
    // The retry message is durable on `timers`; its event was refused and waits to be resent.
    await_processed(app, 1).await;
    let id = result.id();
    let parked: TaskMessage =
        support::await_record(app, &app.names().timers(), "the retry message", |r| {
            TaskMessage::decode(&r.payload)
                .ok()
                .filter(|m| m.id == id && m.retries == 1)
        })
        .await;
    app.log()
        .create_topics(&app.names().core_topics())
        .await
        .expect("topics back");
    let retried: TaskEvent =
        support::await_record(app, &app.names().events(), "the RETRIED event", |r| {
            TaskEvent::decode(&r.payload)
                .ok()
                .filter(|e| e.task_id == id && e.kind == TaskEventKind::Retried)
        })
        .await;
    assert!(parked.eta.is_some(), "the retry waits for its countdown");
    assert_eq!(
        retried.next_eta, parked.eta,
        "the event names the eta the retry message carries"
    );
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "the first attempt only: the retry is parked"
    );
    worker.shutdown().await.expect("clean shutdown");
}

/// A dead letter the log refused is written once the log takes it, and the partition's commits
/// then move past the message (they stopped there for the life of the process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_the_log_refused_is_written_and_commits_move_on() {
    let test = support::app(Backend::Embedded).await;
    let app = &test.app;
    let add = app
        .task("add", |(x, y): (i64, i64)| async move { Ok(x + y) })
        .expect("register");
    let worker = app.worker().spawn();
    // Up and recording results (its coordinator looks the topics up as it starts).
    assert_eq!(
        add.delay((1, 1))
            .await
            .expect("sent")
            .get(secs(30))
            .await
            .expect("a first task"),
        2
    );
    let dead = app.names().dead().to_string();
    app.log().delete_topics(&[dead]).await.expect("delete");
    // The poison and then a good task on partition 0: once the good task's result is in, the
    // worker has screened the poison (a partition is read in order) and its dead letter was refused.
    let tasks = app.names().tasks("default");
    let poison =
        OutRecord::keyed(tasks, "poison", &b"\xc3\x01not an avro record"[..]).to_partition(0);
    let at = app
        .log()
        .send(poison)
        .expect("send")
        .await
        .expect("sent")
        .offset;
    let id = std::iter::repeat_with(uuid::Uuid::now_v7)
        .find(|id| celeriac::topics::partition_for_key(id.to_string().as_bytes(), 2) == 0)
        .expect("an id on partition 0");
    let after = add
        .apply_async((2, 2))
        .task_id(id)
        .send()
        .await
        .expect("sent");
    assert_eq!(
        after.get(secs(30)).await.expect("the worker keeps going"),
        4
    );
    let held = committed(app).await;
    assert!(
        held[0] <= at,
        "committed {held:?} past the poison at {at} before its dead letter was written"
    );
    app.log()
        .create_topics(&app.names().core_topics())
        .await
        .expect("topics back");
    let letter: DeadLetter =
        support::await_record(app, &app.names().dead(), "the poison's dead letter", |r| {
            DeadLetter::decode(&r.payload)
                .ok()
                .filter(|l| l.kind == DeadLetterKind::Undecodable && l.offset == at)
        })
        .await;
    assert!(letter.original.starts_with(b"\xc3\x01not"));
    // The worker commits every 100 ms; nothing to await but the offset itself.
    let deadline = tokio::time::Instant::now() + secs(30);
    while committed(app).await[0] <= at + 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "commits never moved past the poison and the task after it"
        );
        tokio::time::sleep(millis(50)).await;
    }
    worker.shutdown().await.expect("clean shutdown");
}

/// How far behind its coordinator the skewed worker's clock is.
const BEHIND_MS: i64 = 60_000;

on_both_backends! {
    /// A worker whose clock is a minute behind its coordinator's runs a countdown once the
    /// coordinator fires it (it used to send it back to the timers topic, fired again at once,
    /// for ever), and a message sent straight to its queue with an ETA waits on the timers path
    /// once and then runs.
    async fn a_worker_whose_clock_is_behind_runs_what_its_coordinator_fired(test: TestApp) {
        let app = &test.app;
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        let when = app.task("when", move |(_x, _y): (i64, i64)| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move { Ok(now_ms()) }
        }).expect("register");
        let worker = app.worker().clock_offset_ms(-BEHIND_MS).spawn();
        let sent = now_ms();
        let countdown = when.apply_async((1, 1)).countdown(millis(500)).send().await.expect("sent");
        let ran_at = countdown.get(secs(20)).await.expect("the fired countdown runs");
        assert!(ran_at >= sent + 500, "started {} ms after sending, before its countdown", ran_at - sent);
        // What a producer in another language may write: a message with an ETA on the queue.
        let mut message = TaskMessage::new("when", "application/json", b"[1, 2]".to_vec());
        message.eta = Some(now_ms() + 500);
        app.log().create_topics(&[app.names().queue_topic("default")]).await.expect("queue topic");
        let record = OutRecord::keyed(app.names().tasks("default"), message.id.to_string(), message.encode().expect("encode"));
        app.log().send(record).expect("send").await.expect("sent");
        let direct = AsyncResult::<i64>::from_id(app, message.id);
        let ran_at = direct.get(secs(20)).await.expect("the message with an ETA runs");
        assert!(ran_at >= message.eta.unwrap_or_default(), "started before its ETA");
        assert_eq!(runs.load(Ordering::SeqCst), 2, "each ran once");
        worker.shutdown().await.expect("clean shutdown");
    }
}
