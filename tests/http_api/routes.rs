//! `celeriac serve` end to end: every route, idempotency keys, bearer-token auth, the event
//! stream and the metrics — the server on 127.0.0.1:0 with an in-process worker.

use crate::client::{accepted_id, messages_on_queue, serve, EventStream};
use crate::support::Backend;
use std::time::Duration;

use celeriac::engine::{AsyncResult, Error};
use celeriac::prelude::*;
use serde_json::json;

/// Waits for a task's terminal record through the engine (an event, not a sleep).
async fn finished(app: &App, id: uuid::Uuid) -> celeriac::schemas::TaskResult {
    AsyncResult::<serde_json::Value>::from_id(app, id)
        .wait(secs(60))
        .await
        .expect("the task finished")
}

async fn submit_then_read(backend: Backend) {
    let served = serve(backend, None).await;
    let sent = served
        .post("/api/tasks", json!({"task": "add", "args": [2, 3]}))
        .await;
    assert_eq!(sent.status, 202, "{}", sent.text());
    assert_eq!(sent.json()["state"], "PENDING");
    let id = accepted_id(&sent);
    finished(&served.test.app, id).await;
    let shown = served.get(&format!("/api/tasks/{id}")).await;
    assert_eq!(shown.status, 200, "{}", shown.text());
    let body = shown.json();
    assert_eq!(body["state"], "SUCCESS");
    assert_eq!(body["result"], 5);
    assert_eq!(body["task"], "add");
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_then_read_the_result_embedded() {
    submit_then_read(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_then_read_the_result_kafka() {
    submit_then_read(Backend::Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_idempotency_key_makes_one_task_even_after_a_restart() {
    let mut served = serve(Backend::Embedded, None).await;
    let request = json!({"task": "add", "args": [20, 22], "options": {"queue": "idem"}});
    let first = crate::client::request(
        served.addr,
        "POST",
        "/api/tasks",
        &[("Idempotency-Key", "order-42")],
        Some(request.to_string().as_bytes()),
    )
    .await;
    assert_eq!(first.status, 202, "{}", first.text());
    let id = accepted_id(&first);
    let again = crate::client::request(
        served.addr,
        "POST",
        "/api/tasks",
        &[("Idempotency-Key", "order-42")],
        Some(request.to_string().as_bytes()),
    )
    .await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(accepted_id(&again), id);
    assert_eq!(again.json()["duplicate"], true);
    // The key in the body works the same way.
    let mut in_body = request.clone();
    in_body["idempotency_key"] = json!("order-42");
    assert_eq!(accepted_id(&served.post("/api/tasks", in_body).await), id);
    // The same key for another request is refused.
    let other = crate::client::request(
        served.addr,
        "POST",
        "/api/tasks",
        &[("Idempotency-Key", "order-42")],
        Some(
            json!({"task": "add", "args": [1, 1]})
                .to_string()
                .as_bytes(),
        ),
    )
    .await;
    assert_eq!(other.status, 409, "{}", other.text());
    assert!(other.json()["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("order-42")));

    // Ten racing requests with a fresh key make one task too.
    let racing = json!({"task": "add", "args": [1, 1], "options": {"queue": "race"}});
    let addr = served.addr;
    let answers = futures::future::join_all((0..10).map(|_| {
        let body = racing.to_string();
        async move {
            let answer = crate::client::request(
                addr,
                "POST",
                "/api/tasks",
                &[("Idempotency-Key", "race-1")],
                Some(body.as_bytes()),
            )
            .await;
            accepted_id(&answer)
        }
    }))
    .await;
    assert!(answers.iter().all(|id| *id == answers[0]), "{answers:?}");
    assert_eq!(messages_on_queue(&served.test.app, "race").await, 1);

    // A new server on the same state directory remembers the key.
    if let Some(server) = served.server.take() {
        server.shutdown().await;
    }
    let server = served
        .test
        .app
        .serve(crate::client::options(None))
        .await
        .expect("restarts");
    served.addr = server.local_addr();
    served.server = Some(server);
    let after_restart = crate::client::request(
        served.addr,
        "POST",
        "/api/tasks",
        &[("Idempotency-Key", "order-42")],
        Some(request.to_string().as_bytes()),
    )
    .await;
    assert_eq!(accepted_id(&after_restart), id);
    assert_eq!(
        messages_on_queue(&served.test.app, "idem").await,
        1,
        "one message for one key"
    );
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_are_submitted_and_shown_with_their_dag() {
    let served = serve(Backend::Embedded, None).await;
    let canvas = json!({"chain": [
        {"group": [{"task": "add", "args": [1, 1]}, {"task": "add", "args": [2, 2]}]},
        {"task": "tsum", "partial": true},
        {"task": "mul", "args": [10], "partial": true}
    ]});
    let sent = served
        .post(
            "/api/workflows",
            json!({"canvas": canvas, "idempotency_key": "wf-1"}),
        )
        .await;
    assert_eq!(sent.status, 202, "{}", sent.text());
    let body = sent.json();
    let id = accepted_id(&sent);
    let output: uuid::Uuid = body["output_task_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("output id");
    let record = finished(&served.test.app, output).await;
    assert_eq!(record.result.as_deref(), Some(b"60".as_slice()));
    let again = served
        .post(
            "/api/workflows",
            json!({"canvas": canvas, "idempotency_key": "wf-1"}),
        )
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(accepted_id(&again), id);

    let shown = served.get(&format!("/api/workflows/{id}")).await;
    assert_eq!(shown.status, 200, "{}", shown.text());
    let workflow = shown.json();
    assert_eq!(workflow["state"], "SUCCESS");
    let steps = workflow["steps"].as_array().expect("steps");
    let tasks: Vec<&str> = steps.iter().filter_map(|s| s["task"].as_str()).collect();
    for name in ["add", "tsum", "mul"] {
        assert!(tasks.contains(&name), "{name} in {tasks:?}");
    }
    assert!(steps.iter().all(|s| s["state"] == "SUCCESS"), "{steps:?}");
    assert!(workflow["edges"].as_array().is_some_and(|e| e.len() >= 3));
    let missing = served
        .get(&format!("/api/workflows/{}", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(missing.status, 404, "{}", missing.text());
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_task_does_not_run() {
    let served = serve(Backend::Embedded, None).await;
    let sent = served
        .post(
            "/api/tasks",
            json!({"task": "add", "args": [1, 2], "options": {"countdown_ms": 500}}),
        )
        .await;
    let id = accepted_id(&sent);
    let revoked = served
        .post(
            &format!("/api/tasks/{id}/revoke"),
            json!({"terminate": false}),
        )
        .await;
    assert_eq!(revoked.status, 202, "{}", revoked.text());
    assert_eq!(revoked.json()["revoked"], true);
    let outcome = AsyncResult::<i64>::from_id(&served.test.app, id)
        .get(secs(60))
        .await;
    assert!(matches!(outcome, Err(Error::Revoked(_))), "{outcome:?}");
    assert_eq!(
        served.get(&format!("/api/tasks/{id}")).await.json()["state"],
        "REVOKED"
    );
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_workers_queues_tasks_and_metrics_follow_the_work() {
    let served = serve(Backend::Embedded, None).await;
    let mut events = EventStream::open(served.addr, "/api/events", None).await;
    let hostname = served.test.app.hostname().to_owned();
    events
        .until(|kind, data| kind == "worker" && data["hostname"] == hostname.as_str())
        .await;
    let id = accepted_id(
        &served
            .post("/api/tasks", json!({"task": "nap", "args": [5]}))
            .await,
    );
    let done = events
        .until(|kind, data| {
            kind == "task"
                && data["task_id"] == id.to_string().as_str()
                && data["state"] == "SUCCESS"
        })
        .await;
    assert_eq!(done["task"], "nap");

    let workers = served.get("/api/workers").await.json();
    let listed = workers["workers"].as_array().expect("workers");
    let me = listed
        .iter()
        .find(|w| w["hostname"] == hostname.as_str())
        .expect("the worker is listed");
    assert_eq!(me["online"], true);
    assert!(me["queues"]
        .as_array()
        .is_some_and(|q| q.contains(&json!("default"))));

    let queues = served.get("/api/queues").await.json();
    let default = queues["queues"]
        .as_array()
        .and_then(|q| q.iter().find(|q| q["queue"] == "default"))
        .expect("the default queue is listed");
    assert!(default["lag"].is_i64() && default["partitions"].as_array().is_some());

    let tasks = served.get("/api/tasks?state=SUCCESS&name=nap").await.json();
    let rows = tasks["tasks"].as_array().expect("rows");
    assert!(
        rows.iter().any(|r| r["id"] == id.to_string().as_str()),
        "{rows:?}"
    );
    let prefix = &id.to_string()[..13];
    let found = served.get(&format!("/api/tasks?q={prefix}")).await.json();
    assert_eq!(found["tasks"][0]["id"], id.to_string().as_str());
    let none = served.get("/api/tasks?state=FAILURE&name=nap").await.json();
    assert_eq!(none["tasks"].as_array().map(Vec::len), Some(0));

    let metrics = served.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(metrics
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/plain")));
    let text = metrics.text();
    for needle in [
        "celeriac_task_events_total{task=\"nap\",state=\"SUCCESS\"} 1",
        "celeriac_task_runtime_seconds_count{task=\"nap\"} 1",
        "celeriac_task_queue_wait_seconds_count{task=\"nap\"} 1",
        "celeriac_tasks{task=\"nap\",state=\"SUCCESS\"} 1",
        "celeriac_queue_lag{queue=\"default\",partition=\"0\"} ",
        "celeriac_workers 1",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polls_return_the_result_and_end_within_the_request_timeout() {
    let test = crate::support::app(Backend::Embedded).await;
    crate::client::register(&test.app);
    let worker = test.app.worker().spawn();
    let mut options = crate::client::options(None);
    options.request_timeout = Duration::from_secs(2);
    let server = test.app.serve(options).await.expect("serves");
    let addr = server.local_addr();
    // A first task through the engine, so the worker is surely up.
    let warm = test
        .app
        .send_task("nap", &json!([1]), Default::default())
        .await
        .expect("sent");
    warm.wait(secs(60)).await.expect("the worker runs tasks");
    let id = accepted_id(
        &crate::client::post(
            addr,
            "/api/tasks",
            &json!({"task": "nap", "args": [10]}),
            None,
        )
        .await,
    );
    // The long poll answers once the task finishes.
    let done = crate::client::get(addr, &format!("/api/tasks/{id}?wait_ms=1900"), None).await;
    assert_eq!(done.json()["state"], "SUCCESS", "{}", done.text());
    // A task due in a minute: a poll longer than the 2 s request timeout allows waits as long
    // as it can (a second under it) and answers the state then, not a 503.
    let later = accepted_id(
        &crate::client::post(
            addr,
            "/api/tasks",
            &json!({"task": "nap", "args": [1], "options": {"countdown_ms": 60_000}}),
            None,
        )
        .await,
    );
    let started = std::time::Instant::now();
    let cut = crate::client::get(addr, &format!("/api/tasks/{later}?wait_ms=10000"), None).await;
    assert_eq!(cut.status, 200, "{}", cut.text());
    assert_eq!(cut.json()["state"], "PENDING");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(2),
        "waited {waited:?}: about 1 s, within the request timeout, not the 10 s asked"
    );
    let bad =
        crate::client::get(addr, &format!("/api/tasks/{later}?wait_ms=999999999"), None).await;
    assert_eq!(bad.status, 422, "{}", bad.text());
    server.shutdown().await;
    worker.shutdown().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_required_and_compared_exactly() {
    let served = serve(Backend::Embedded, Some("s3cret-token")).await;
    let addr = served.addr;
    let missing = crate::client::get(addr, "/api/workers", None).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    assert!(missing.json()["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("Authorization")));
    for wrong in ["s3cret-toke", "s3cret-token2", "S3CRET-TOKEN", ""] {
        let answer = crate::client::get(addr, "/api/workers", Some(wrong)).await;
        assert_eq!(answer.status, 401, "token {wrong:?}");
    }
    let sent = crate::client::post(
        addr,
        "/api/tasks",
        &json!({"task": "add", "args": [1, 1]}),
        Some("nope"),
    )
    .await;
    assert_eq!(sent.status, 401, "no task without the token");
    assert_eq!(crate::client::get(addr, "/metrics", None).await.status, 401);
    assert_eq!(
        crate::client::get(addr, "/api/workers", Some("s3cret-token"))
            .await
            .status,
        200
    );
    // The dashboard page and the API description are public; the data is not.
    assert_eq!(crate::client::get(addr, "/", None).await.status, 200);
    assert_eq!(
        crate::client::get(addr, "/openapi.json", None).await.status,
        200
    );
    // EventSource cannot send headers: the stream takes the token in the query.
    EventStream::open(addr, "/api/events?access_token=s3cret-token", None).await;
    let refused = crate::client::get(addr, "/api/events?access_token=wrong", None).await;
    assert_eq!(refused.status, 401);
    served.stop().await;

    // Off loopback, a token is required.
    let test = crate::support::app(Backend::Embedded).await;
    let mut options = crate::client::options(None);
    options.bind = "0.0.0.0:0".parse().expect("addr");
    let refused = test.app.serve(options).await;
    assert!(
        matches!(&refused, Err(Error::Config(m)) if m.contains("token")),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_route_and_the_dashboard_is_embedded() {
    let served = serve(Backend::Embedded, None).await;
    let document = served.get("/openapi.json").await.json();
    assert_eq!(document["openapi"], "3.1.0");
    for path in [
        "/api/tasks",
        "/api/tasks/{id}",
        "/api/tasks/{id}/revoke",
        "/api/workflows",
        "/api/workflows/{id}",
        "/api/workers",
        "/api/queues",
        "/api/events",
        "/metrics",
    ] {
        assert!(document["paths"][path].is_object(), "{path} is documented");
    }
    let page = served.get("/").await;
    assert!(page
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/html")));
    let html = page.text();
    for id in [
        "id=\"workers\"",
        "id=\"tasks\"",
        "id=\"throughput\"",
        "id=\"workflow-dag\"",
    ] {
        assert!(html.contains(id), "{id} on the page");
    }
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "no CDN"
    );
    let script = served.get("/assets/app.js").await;
    assert_eq!(script.status, 200);
    assert!(script.text().contains("EventSource"));
    assert_eq!(served.get("/assets/style.css").await.status, 200);
    served.stop().await;
}
