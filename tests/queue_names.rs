//! A queue name that cannot name a topic is refused wherever a message or a canvas is built —
//! a call's options, a task's options, a canvas step, a route — before anything is sent, on
//! both backends (the embedded log would take the name; Kafka would not, and a coordinator
//! meeting one used to stop). Payloads past the record limit are refused the same way, and a
//! result past it fails its task instead of being resent forever.

mod support;

use celeriac::canvas::Canvas;
use celeriac::engine::{Error, SendOptions, TopicNames};
use celeriac::prelude::*;
use serde_json::json;
use support::TestApp;

fn invalid_queue<T: std::fmt::Debug>(result: celeriac::Result<T>, queue: &str) {
    match result {
        Err(Error::InvalidQueue(name)) => assert_eq!(name, queue),
        other => panic!("expected InvalidQueue({queue:?}), got {other:?}"),
    }
}

on_both_backends! {
    async fn bad_queue_names_are_refused_before_anything_is_sent(test: TestApp) {
        let app = &test.app;
        app.task("add", |(x, y): (i64, i64)| async move { Ok(x + y) }).expect("register");
        let options = SendOptions { queue: Some("a b".into()), ..SendOptions::default() };
        invalid_queue(app.send_task("add", &json!([1, 2]), options).await, "a b");
        let countdown = SendOptions {
            queue: Some("tab\tbed".into()),
            countdown: Some(secs(60)),
            ..SendOptions::default()
        };
        invalid_queue(app.send_task("add", &json!([1, 2]), countdown).await, "tab\tbed");
        invalid_queue(
            app.task_with("bad", TaskOptions::new().queue("spaces here"), |_: Ctx, (): ()| async move { Ok(()) }),
            "spaces here",
        );
        let mut step = Canvas::task("add", vec![json!(1), json!(2)]);
        step.options.queue = Some("x/y".into());
        let canvas = Canvas::chain([step, Canvas::partial("add", vec![json!(3)])]);
        invalid_queue(app.submit_canvas(&canvas).await, "x/y");
        // Nothing reached the log: no task topic was made, no workflow sent.
        let topics = app.log().list_topics().await.expect("topics");
        let prefix = format!("{}.tasks.", app.names().prefix());
        let made = topics.iter().filter(|t| t.starts_with(&prefix)).count();
        assert_eq!(made, 0, "queue topics were created");
        let workflows = celeriac::topics::TopicPartition::new(app.names().workflows(), 0);
        let (_, high) = app.log().watermarks(&workflows).await.expect("watermarks");
        assert_eq!(high, 0, "no workflow was sent");
    }
}

on_both_backends! {
    async fn arguments_past_the_record_limit_are_refused(test: TestApp) {
        let app = &test.app;
        app.task("echo", |s: String| async move { Ok(s) }).expect("register");
        let limit = TopicNames::default().max_payload_bytes();
        let big = "x".repeat(limit + 1);
        match app.send_task("echo", &json!([big]), SendOptions::default()).await {
            Err(Error::TooLarge { size, limit: l, .. }) => assert!(size > l),
            other => panic!("expected TooLarge, got {:?}", other.map(|r| r.id())),
        }
    }
}

on_both_backends! {
    async fn a_result_past_the_record_limit_fails_its_task_and_the_worker_goes_on(test: TestApp) {
        let app = &test.app;
        let limit = app.names().max_payload_bytes();
        let huge = app.task("huge", move |(): ()| async move { Ok("x".repeat(limit)) }).expect("register");
        let add = app.task("add", |(x, y): (i64, i64)| async move { Ok(x + y) }).expect("register");
        let worker = app.worker().spawn();
        match huge.delay(()).await.expect("sent").get(secs(30)).await {
            Err(Error::TaskFailed { error, .. }) => {
                assert_eq!(error.kind(), "ResultTooLarge");
                assert!(error.message().contains(&limit.to_string()), "{}", error.message());
            }
            other => panic!("expected ResultTooLarge, got {:?}", other.map(|s| s.len())),
        }
        assert_eq!(add.delay((2, 3)).await.expect("sent").get(secs(30)).await.expect("the worker goes on"), 5);
        worker.shutdown().await.expect("clean shutdown");
    }
}

#[tokio::test]
async fn a_route_to_a_bad_queue_is_refused_when_the_app_is_built() {
    let dir = tempfile::tempdir().expect("tempdir");
    let built = celeriac::App::builder()
        .state_dir(dir.path())
        .route("math.*", "math queue")
        .build()
        .await;
    invalid_queue(built.map(|_| ()), "math queue");
}
