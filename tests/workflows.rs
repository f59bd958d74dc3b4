//! Canvases run as workflows end to end, on both backends: every primitive and a nesting,
//! error callbacks, the JSON form, and per-step states.

mod support;

use std::sync::{Arc, Mutex};

use celeriac::canvas::{Canvas, TaskFailure};
use celeriac::engine::{Error, Task};
use celeriac::prelude::*;
use celeriac::schemas::TaskState;
use support::TestApp;

struct Tasks {
    add: Task<(i64, i64), i64>,
    mul: Task<(i64, i64), i64>,
    tsum: Task<Vec<i64>, i64>,
    fail: Task<String, i64>,
    errbacks: Arc<Mutex<Vec<TaskFailure>>>,
    errback_ran: Arc<tokio::sync::Notify>,
    report: Task<TaskFailure, ()>,
}

fn register(app: &App) -> Tasks {
    let errbacks = Arc::new(Mutex::new(Vec::new()));
    let errback_ran = Arc::new(tokio::sync::Notify::new());
    let seen = errbacks.clone();
    let ran = errback_ran.clone();
    Tasks {
        add: app
            .task("add", |(x, y): (i64, i64)| async move { Ok(x + y) })
            .expect("add"),
        mul: app
            .task("mul", |(x, y): (i64, i64)| async move { Ok(x * y) })
            .expect("mul"),
        tsum: app
            .task("tsum", |xs: Vec<i64>| async move {
                Ok(xs.into_iter().sum::<i64>())
            })
            .expect("tsum"),
        fail: app
            .task("fail", |why: String| async move {
                Err::<i64, _>(TaskError::new("Oops", why))
            })
            .expect("fail"),
        report: app
            .task("report", move |failure: TaskFailure| {
                let seen = seen.clone();
                let ran = ran.clone();
                async move {
                    seen.lock().expect("lock").push(failure);
                    ran.notify_one();
                    Ok(())
                }
            })
            .expect("report"),
        errbacks,
        errback_ran,
    }
}

on_both_backends! {
    async fn every_primitive_gives_celerys_result(test: TestApp) {
        let app = &test.app;
        let t = register(app);
        let worker = app.worker().concurrency(16).spawn();
        let chained = app.submit(chain(t.add.s((2, 2)), t.mul.partial(8))).await.expect("chain");
        assert_eq!(chained.get(secs(30)).await.expect("chain result"), 32);
        let grouped = app.submit(group((0..5).map(|i| t.add.s((i, i))))).await.expect("group");
        assert_eq!(grouped.get(secs(30)).await.expect("group result"), vec![0, 2, 4, 6, 8]);
        let chorded = app.submit(chord((0..100).map(|i| t.add.s((i, i))), t.tsum.partial(()))).await.expect("chord");
        assert_eq!(chorded.get(secs(30)).await.expect("chord result"), 9900);
        let nested = chord((1..=3).map(|i| chain(t.add.s((i, i)), t.mul.partial(10))), t.tsum.partial(()));
        assert_eq!(app.submit(nested).await.expect("nested").get(secs(30)).await.expect("nested result"), 120);
        let empty = app.submit(group(Vec::<celeriac::canvas::Signature<i64>>::new())).await.expect("empty group");
        assert_eq!(empty.get(secs(30)).await.expect("empty result"), Vec::<i64>::new());
        let mapped = app.submit(t.add.starmap([(1, 2), (3, 4)])).await.expect("starmap");
        assert_eq!(mapped.get(secs(30)).await.expect("starmap result"), vec![3, 7]);
        let states = chorded.steps().await.expect("steps");
        assert_eq!(states.len(), 101);
        assert!(states.iter().all(|s| s.state == TaskState::Success), "every step succeeded: {states:?}");
        worker.shutdown().await.expect("clean shutdown");
    }
}

on_both_backends! {
    async fn a_failure_fails_dependents_and_fires_its_errback_once(test: TestApp) {
        let app = &test.app;
        let t = register(app);
        let worker = app.worker().spawn();
        let header = vec![t.add.s((1, 1)), t.fail.s("member down".into()).link_error(t.report.partial(())), t.add.s((2, 2))];
        let failing = app.submit(chord(header, t.tsum.partial(()))).await.expect("chord");
        match failing.get(secs(30)).await {
            Err(Error::TaskFailed { error, .. }) => {
                assert_eq!(error.kind(), "Oops");
                assert!(error.message().contains("member down"), "the body fails with the member's error: {error}");
            }
            other => panic!("expected the chord to fail, got {other:?}"),
        }
        tokio::time::timeout(secs(30), t.errback_ran.notified()).await.expect("the errback ran");
        worker.shutdown().await.expect("clean shutdown");
        let errbacks = t.errbacks.lock().expect("lock").clone();
        assert_eq!(errbacks.len(), 1, "the errback fires exactly once: {errbacks:?}");
        assert_eq!(errbacks[0].task, "fail");
    }
}

on_both_backends! {
    async fn the_json_form_is_checked_then_run(test: TestApp) {
        let app = &test.app;
        let _t = register(app);
        let worker = app.worker().spawn();
        let json = r#"{"chord": {"header": [{"task": "add", "args": [1, 2]}, {"task": "add", "args": [3, 4]}],
                                "body": {"task": "tsum", "args": []}}}"#;
        let canvas = Canvas::from_json_str(json).expect("valid JSON canvas");
        let handle = app.submit_canvas(&canvas).await.expect("submitted");
        assert_eq!(handle.get(secs(30)).await.expect("result"), serde_json::json!(10));
        let unknown = Canvas::from_json_str(r#"{"chain": [{"task": "add", "args": [1, 2]}, {"task": "nope"}]}"#).expect("parses");
        let error = app.submit_canvas(&unknown).await.expect_err("an unknown task is refused before anything is sent");
        assert!(error.to_string().contains("nope"), "{error}");
        let wrong = Canvas::from_json_str(r#"{"task": "add", "args": [1, 2, 3]}"#).expect("parses");
        assert!(app.submit_canvas(&wrong).await.is_err(), "a wrong argument count is refused");
        worker.shutdown().await.expect("clean shutdown");
    }
}

on_both_backends! {
    async fn a_workflow_past_a_mebibyte_is_taken_and_runs(test: TestApp) {
        // One record on the workflows topic carries the whole workflow: a big chord (10,000
        // members is ~1.1 MB) is past Kafka's 1 MiB default record limit.
        let app = &test.app;
        let t = register(app);
        let len = app.task("len", |text: String| async move { Ok(text.len() as i64) }).expect("len");
        let worker = app.worker().spawn();
        let member = "x".repeat(400_000);
        let big = chord((0..3).map(|_| len.s(member.clone())), t.tsum.partial(()));
        let handle = app.submit(big).await.expect("a 1.2 MB workflow is taken");
        assert_eq!(handle.get(secs(60)).await.expect("chord result"), 1_200_000);
        worker.shutdown().await.expect("clean shutdown");
    }
}
