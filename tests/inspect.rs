//! Inspection and control through the public API, on both backends: `app.control()` (ping,
//! inspect, rate limit, shutdown), `app.workers(..)`, `app.queues()`, `app.events(..)`.

mod support;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use celeriac::engine::inspect::{
    decode_body, ActiveEntry, Event, EventsFrom, InspectKind, ReservedEntry, ScheduledEntry,
    WorkerStats,
};
use celeriac::prelude::*;
use celeriac::schemas::TaskEventKind;
use celeriac::topics::OutRecord;
use support::TestApp;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// The longest any awaited state may take.
const WAIT: Duration = Duration::from_secs(60);

/// Calls `probe` until it returns `Some`, failing after [`WAIT`]. Each probe itself waits
/// (an inspect round trip, a read of the log), so this is a bounded retry, not a sleep.
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A task that waits until the test adds a permit to `gate`.
fn gated(app: &App, gate: &Arc<Semaphore>) -> Task<u32, u32> {
    let gate = gate.clone();
    app.task("gated", move |n: u32| {
        let gate = gate.clone();
        async move {
            gate.acquire()
                .await
                .map_err(|e| TaskError::new("Gate", e.to_string()))?
                .forget();
            Ok(n)
        }
    })
    .expect("register")
}

/// The single reply of `kind`, decoded, once the worker answers at all.
async fn inspect_one<T: serde::de::DeserializeOwned>(app: &App, kind: InspectKind) -> Option<T> {
    let replies = app.control().inspect(kind, secs(3)).await.expect("inspect");
    assert!(replies.len() <= 1, "one worker, replies {replies:?}");
    replies
        .first()
        .map(|r| decode_body(r).expect("a well-formed body"))
}

/// A second app on the same log and topics, under another host name.
async fn second_app(test: &TestApp, hostname: &str, dir: &std::path::Path) -> App {
    App::builder()
        .log(test.app.log().clone())
        .prefix(test.app.names().prefix())
        .state_dir(dir)
        .hostname(hostname)
        .build()
        .await
        .expect("second app")
}

on_both_backends! {
    async fn a_running_task_is_active_the_next_reserved_and_the_worker_listed(test: TestApp) {
        let app = &test.app;
        let gate = Arc::new(Semaphore::new(0));
        let task = gated(app, &gate);
        let worker = app.worker().concurrency(1).send_events(true).spawn();
        let first = task.delay(1).await.expect("sent");
        let second = task.delay(2).await.expect("sent");
        let ids = [first.id(), second.id()];
        let (active, reserved) = eventually("one active and one reserved", || async {
            let active: Vec<ActiveEntry> = inspect_one(app, InspectKind::Active).await?;
            let reserved: Vec<ReservedEntry> = inspect_one(app, InspectKind::Reserved).await?;
            (active.len() == 1 && reserved.len() == 1).then_some((active, reserved))
        })
        .await;
        assert!(ids.contains(&active[0].id) && ids.contains(&reserved[0].id));
        assert_ne!(active[0].id, reserved[0].id);
        assert_eq!(active[0].task, "gated");
        assert!(active[0].started_at > 0);
        assert_eq!(reserved[0].queue, "default");

        let registered: Vec<String> = inspect_one(app, InspectKind::Registered).await.expect("registered");
        assert!(registered.contains(&"gated".to_owned()), "{registered:?}");
        let stats: WorkerStats = inspect_one(app, InspectKind::Stats).await.expect("stats");
        assert_eq!((stats.concurrency, stats.active, stats.reserved), (1, 1, 1));
        assert_eq!(stats.pid, std::process::id());
        assert_eq!(stats.queues, vec!["default".to_owned()]);
        assert_eq!(stats.hostname, app.hostname());

        let listed = eventually("the worker in workers() with one active task", || async {
            let workers = app.workers(secs(30)).await.expect("workers");
            workers.into_iter().find(|w| w.hostname == app.hostname() && w.active == 1)
        })
        .await;
        assert!(listed.alive);
        assert_eq!(listed.concurrency, Some(1));
        assert_eq!(listed.pid, std::process::id() as i32);
        assert_eq!(listed.queues, vec!["default".to_owned()]);

        gate.add_permits(2);
        assert_eq!(first.get(WAIT).await.expect("first"), 1);
        assert_eq!(second.get(WAIT).await.expect("second"), 2);
        let stats: WorkerStats = eventually("processed counted", || async {
            let stats: WorkerStats = inspect_one(app, InspectKind::Stats).await?;
            (stats.processed == 2).then_some(stats)
        })
        .await;
        assert_eq!((stats.active, stats.reserved), (0, 0));
        worker.shutdown().await.expect("clean shutdown");
    }
}

on_both_backends! {
    async fn a_countdown_is_scheduled_until_due(test: TestApp) {
        let app = &test.app;
        let add = app.task("add", |(x, y): (i64, i64)| async move { Ok(x + y) }).expect("register");
        let worker = app.worker().spawn();
        let later = add.apply_async((1, 2)).countdown(secs(600)).send().await.expect("sent");
        let entry = eventually("the countdown in inspect scheduled", || async {
            let scheduled: Vec<ScheduledEntry> = inspect_one(app, InspectKind::Scheduled).await?;
            scheduled.into_iter().find(|s| s.id == later.id())
        })
        .await;
        assert_eq!(entry.task, "add");
        assert_eq!(entry.queue, "default");
        let due_in = entry.eta - support_now_ms();
        assert!((500_000..=600_000).contains(&due_in), "due in {due_in} ms");
        worker.shutdown().await.expect("clean shutdown");
    }
}

fn support_now_ms() -> i64 {
    celeriac::schemas::now_millis()
}

on_both_backends! {
    async fn ping_gets_one_reply_per_worker_and_shutdown_stops_the_one_named(test: TestApp) {
        let app = &test.app;
        let dir = tempfile::tempdir().expect("tempdir");
        let other = second_app(&test, "second@inspect-test", dir.path()).await;
        let first = app.worker().send_events(true).coordinator(false).spawn();
        let second = other.worker().send_events(true).coordinator(false).spawn();
        let control = app.control();
        eventually("both workers answer a ping", || async {
            let replies = control.ping(secs(3)).await.expect("ping");
            (replies.len() == 2).then_some(())
        })
        .await;
        // Both send heartbeats, so a ping returns as soon as both answered.
        let asked = Instant::now();
        let replies = control.ping(WAIT).await.expect("ping");
        assert!(asked.elapsed() < WAIT, "returned only at the timeout");
        let mut hosts: Vec<_> = replies.iter().map(|r| r.hostname.clone()).collect();
        hosts.sort();
        let mut want = vec![app.hostname().to_owned(), "second@inspect-test".to_owned()];
        want.sort();
        assert_eq!(hosts, want);
        for reply in &replies {
            let pong: celeriac::engine::inspect::Pong = decode_body(reply).expect("pong");
            assert_eq!(pong.ok, "pong");
        }
        let only = control.clone().destination(["second@inspect-test"]).ping(WAIT).await.expect("ping");
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].hostname, "second@inspect-test");

        control.shutdown(Some("second@inspect-test")).await.expect("shutdown sent");
        let stopped = second.cancellation();
        tokio::time::timeout(WAIT, stopped.cancelled()).await.expect("the named worker stops");
        second.shutdown().await.expect("it drained cleanly");
        let replies = control.ping(secs(3)).await.expect("ping");
        let hosts: Vec<_> = replies.iter().map(|r| r.hostname.as_str()).collect();
        assert_eq!(hosts, vec![app.hostname()], "the other worker still answers");
        first.shutdown().await.expect("clean shutdown");
    }
}

on_both_backends! {
    async fn a_rate_limit_set_by_command_holds_tasks_back(test: TestApp) {
        let app = &test.app;
        let add = app.task("add", |(x, y): (i64, i64)| async move { Ok(x + y) }).expect("register");
        let worker = app.worker().concurrency(4).grace(millis(200)).spawn();
        let control = app.control();
        assert!(control.rate_limit("add", "ten a second", None).await.is_err(), "a bad rate is refused");
        // Wait until the worker follows commands, then limit `add` to one a minute.
        eventually("the worker answers", || async {
            (control.ping(secs(3)).await.expect("ping").len() == 1).then_some(())
        })
        .await;
        control.rate_limit("add", "1/m", None).await.expect("rate limit sent");
        let stats: WorkerStats = eventually("the limit in stats", || async {
            let stats: WorkerStats = inspect_one(app, InspectKind::Stats).await?;
            stats.rate_limits.contains_key("add").then_some(stats)
        })
        .await;
        assert_eq!(stats.rate_limits["add"], "1/m");
        let first = add.delay((1, 1)).await.expect("sent");
        let second = add.delay((2, 2)).await.expect("sent");
        // The bucket holds one token: whichever is taken first runs, the other waits a minute
        // (reserved: taken from the queue, not started).
        let held = eventually("one finished and the other held back, reserved", || async {
            let reserved: Vec<ReservedEntry> = inspect_one(app, InspectKind::Reserved).await?;
            let held = reserved
                .into_iter()
                .find(|r| r.id == first.id() || r.id == second.id())?;
            let other = if held.id == first.id() { &second } else { &first };
            other.ready().await.expect("state").then_some(held)
        })
        .await;
        let (ran, want) = if held.id == first.id() { (&second, 4) } else { (&first, 2) };
        assert_eq!(ran.get(WAIT).await.expect("the other ran"), want);
        let stats: WorkerStats = inspect_one(app, InspectKind::Stats).await.expect("stats");
        assert_eq!((stats.reserved, stats.processed), (1, 1), "still held back");
        assert_eq!(held.task, "add");
        worker.shutdown().await.expect("clean shutdown");
    }
}

on_both_backends! {
    async fn queue_lag_counts_waiting_messages_and_drops_to_zero(test: TestApp) {
        let app = &test.app;
        let add = app.task("add", |(x, y): (i64, i64)| async move { Ok(x + y) }).expect("register");
        let mut results = Vec::new();
        for i in 0..5 {
            results.push(add.delay((i, i)).await.expect("sent"));
        }
        let queues = app.queues().await.expect("queues");
        let default = queues.iter().find(|q| q.queue == "default").expect("the default queue");
        assert_eq!(default.topic, app.names().tasks("default"));
        assert_eq!(default.partitions.len(), 2);
        assert_eq!(default.lag, 5, "{default:?}");
        assert!(default.partitions.iter().all(|p| p.committed.is_none()));
        let worker = app.worker().spawn();
        for result in results {
            result.get(WAIT).await.expect("result");
        }
        let drained = eventually("lag back to 0", || async {
            let queues = app.queues().await.expect("queues");
            queues.into_iter().find(|q| q.queue == "default" && q.lag == 0)
        })
        .await;
        assert_eq!(drained.partitions.iter().map(|p| p.end_offset).sum::<i64>(), 5);
        worker.shutdown().await.expect("clean shutdown");
    }
}

on_both_backends! {
    async fn the_event_stream_shows_a_task_run_and_survives_garbage(test: TestApp) {
        let app = &test.app;
        let add = app.task("add", |(x, y): (i64, i64)| async move { Ok(x + y) }).expect("register");
        let mut stream = app.events(EventsFrom::Now).await.expect("events");
        app.log()
            .send(OutRecord::keyed(app.names().events(), "junk", "not an event"))
            .expect("queued")
            .await
            .expect("garbage written");
        let worker = app.worker().send_events(true).spawn();
        let result = add.delay((20, 22)).await.expect("sent");
        assert_eq!(result.get(WAIT).await.expect("result"), 42);
        let (mut kinds, mut errors, mut heartbeat) = (Vec::new(), 0, false);
        let deadline = Instant::now() + WAIT;
        while !(kinds.contains(&TaskEventKind::Succeeded) && errors > 0 && heartbeat) {
            let item = tokio::time::timeout_at(deadline, stream.next())
                .await
                .expect("the events within the bound")
                .expect("the stream goes on");
            match item {
                Ok(Event::Task(event)) if event.task_id == result.id() => {
                    assert_eq!(event.task, "add");
                    kinds.push(event.kind);
                }
                Ok(Event::Task(_)) => {}
                Ok(Event::Heartbeat(beat)) => heartbeat |= beat.hostname == app.hostname(),
                Err(celeriac::Error::Undecodable { .. }) => errors += 1,
                Err(other) => panic!("unexpected error item {other}"),
            }
        }
        assert_eq!(kinds.first(), Some(&TaskEventKind::Received), "{kinds:?}");
        assert_eq!(errors, 1);
        stream.close().await.expect("closed");
        worker.shutdown().await.expect("clean shutdown");
    }
}
