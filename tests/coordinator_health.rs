//! A worker's coordinator that stops on an error is noticed: it is restarted with backoff and
//! says so in `inspect stats` (and heartbeats); one that cannot stay up stops its worker with
//! the cause. On the embedded log, where deleting a topic under a running coordinator fails
//! its next transaction at once (on Kafka the same send waits out the metadata timeout).

mod support;

use std::time::{Duration, Instant};

use celeriac::canvas::chain;
use celeriac::engine::coordinator::RestartPolicy;
use celeriac::engine::inspect::decode_body;
use celeriac::engine::{Error, InspectKind};
use celeriac::prelude::*;
use celeriac::schemas::{Record as _, TaskMessage};
use celeriac::topics::TopicPartition;
use support::Backend;

const WAIT: Duration = Duration::from_secs(30);

fn quick_restarts(give_up_after: u32) -> RestartPolicy {
    RestartPolicy {
        first_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        give_up_after,
        healthy_after: Duration::from_secs(60),
    }
}

/// The ids of the task messages on `topic` so far.
async fn messages_on(app: &App, topic: &str) -> Vec<uuid::Uuid> {
    let Ok(description) = app.log().describe_topic(topic).await else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    for partition in 0..description.partitions {
        let tp = TopicPartition::new(topic, partition);
        let mut reader = app.log().read_partition(&tp, 0).await.expect("read");
        while let Some(batch) = reader.next_batch().await.expect("batch") {
            ids.extend(
                batch
                    .iter()
                    .filter_map(|r| TaskMessage::decode(&r.payload).ok().map(|m| m.id)),
            );
        }
    }
    ids
}

/// Waits until the task message `id` is on `topic`.
async fn await_message(app: &App, topic: &str, id: uuid::Uuid) {
    let started = Instant::now();
    while !messages_on(app, topic).await.contains(&id) {
        assert!(
            started.elapsed() < WAIT,
            "the successor {id} was never published (coordinator: {})",
            coordinator_state(app).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The coordinator state the one worker reports in `inspect stats`.
async fn coordinator_state(app: &App) -> String {
    let replies = app
        .control()
        .inspect(InspectKind::Stats, Duration::from_secs(2))
        .await
        .expect("inspect stats");
    replies
        .first()
        .map(|reply| {
            decode_body::<celeriac::engine::inspect::WorkerStats>(reply)
                .expect("stats")
                .coordinator
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_that_stops_on_an_error_is_restarted_and_says_so() {
    let test = support::app_with(Backend::Embedded, |b| b.route("side.*", "side")).await;
    let app = &test.app;
    let add = app
        .task("add", |(x, y): (i64, i64)| async move { Ok(x + y) })
        .expect("register");
    let side = app
        .task("side.add", |(x, y): (i64, i64)| async move { Ok(x + y) })
        .expect("register");
    let worker = app
        .worker()
        .coordinator_restarts(quick_restarts(50))
        .send_events(true)
        .spawn();
    let side_topic = app.names().tasks("side");

    // A chain whose second step goes to a queue nobody serves: its message shows the
    // coordinator published it.
    let first = app
        .submit(chain(add.s((1, 2)), side.partial(1)))
        .await
        .expect("submitted");
    let first_step = first.steps().await.expect("steps")[1].task_id;
    let started = Instant::now();
    while !messages_on(app, &side_topic).await.contains(&first_step) {
        assert!(
            started.elapsed() < WAIT,
            "the first successor was never published"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(coordinator_state(app).await, "running");

    // Another producer takes the coordinator's transactional id (as a member that took its
    // partitions over would): its next transaction is fenced, and it stops. The supervisor
    // starts it again; the new run rejoins, reclaims the id and publishes.
    let id = format!("{}.coordinator.p0", app.names().prefix());
    let _usurper = app
        .log()
        .transactional_producer(&id)
        .await
        .expect("a producer with the coordinator's id");
    let second = app
        .submit(chain(add.s((3, 4)), side.partial(1)))
        .await
        .expect("submitted");
    let second_step = second.steps().await.expect("steps")[1].task_id;
    await_message(app, &side_topic, second_step).await;
    let state = coordinator_state(app).await;
    assert!(
        state.starts_with("running (restarted"),
        "inspect stats tells of the restart: {state}"
    );

    // The queue's topic vanishes under the coordinator: the publish there fails, the
    // transaction is aborted, and the next try creates the topic again.
    app.log()
        .delete_topics(std::slice::from_ref(&side_topic))
        .await
        .expect("delete the side queue");
    let third = app
        .submit(chain(add.s((5, 6)), side.partial(1)))
        .await
        .expect("submitted");
    let third_step = third.steps().await.expect("steps")[1].task_id;
    await_message(app, &side_topic, third_step).await;
    let beats = app.workers(Duration::from_secs(60)).await.expect("workers");
    assert!(
        beats.iter().all(|w| !w.coordinator.is_empty()),
        "heartbeats carry the coordinator's state: {beats:?}"
    );
    worker.shutdown().await.expect("worker stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_that_cannot_stay_up_stops_its_worker_with_the_cause() {
    let test = support::app(Backend::Embedded).await;
    let app = &test.app;
    // Without the dead-letter topic no coordinator can start.
    app.log()
        .delete_topics(&[app.names().dead().to_string()])
        .await
        .expect("delete the dead-letter topic");
    let mut worker = app.worker().coordinator_restarts(quick_restarts(3)).spawn();
    let outcome = tokio::time::timeout(WAIT, worker.finished())
        .await
        .expect("the worker stops by itself within the bound");
    match outcome {
        Err(Error::CoordinatorFailed(cause)) => assert!(
            cause.contains(&*app.names().dead()),
            "the cause names what is wrong: {cause}"
        ),
        other => panic!("expected the worker to stop with the coordinator's cause, got {other:?}"),
    }
}
