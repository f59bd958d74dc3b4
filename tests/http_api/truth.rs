//! What `GET /api/tasks/{id}` says is true: a terminal state comes only from the task's result
//! record. What the event monitor saw is shown apart, as `event_state`.

use celeriac::schemas::{Record as _, TaskEvent, TaskEventKind};
use celeriac::topics::OutRecord;

use crate::client::{get, options, EventStream};
use crate::support::Backend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_succeeded_event_without_its_result_record_is_not_success() {
    // No worker, so no coordinator: a SUCCEEDED event reaches the monitor and no result record
    // is ever written, as when a takeover holds the record up.
    let test = crate::support::app(Backend::Embedded).await;
    let app = &test.app;
    let server = app.serve(options(None)).await.expect("the server starts");
    let addr = server.local_addr();
    let mut events = EventStream::open(addr, "/api/events", None).await;
    let id = uuid::Uuid::now_v7();
    let event = TaskEvent {
        id: uuid::Uuid::now_v7(),
        task_id: id,
        root_id: id,
        workflow_step: None,
        task: "add".into(),
        kind: TaskEventKind::Succeeded,
        timestamp: celeriac::schemas::now_millis(),
        hostname: "elsewhere".into(),
        retries: 0,
        result: Some(b"5".to_vec()),
        content_type: Some("application/json".into()),
        error: None,
        runtime_ms: Some(1),
        next_eta: None,
        queue: "default".into(),
    };
    let record = OutRecord::keyed(
        app.names().events(),
        id.to_string().into_bytes(),
        event.encode().expect("encodes"),
    );
    app.log()
        .send(record)
        .expect("queued")
        .await
        .expect("written");
    events
        .until(|kind, data| kind == "task" && data["task_id"] == id.to_string().as_str())
        .await;

    let shown = get(addr, &format!("/api/tasks/{id}"), None).await;
    assert_eq!(shown.status, 200, "{}", shown.text());
    let body = shown.json();
    assert_eq!(
        body["state"], "PENDING",
        "no result record, so not finished: {body}"
    );
    assert_eq!(body["event_state"], "SUCCESS", "{body}");
    let waited = get(addr, &format!("/api/tasks/{id}?wait_ms=200"), None).await;
    assert_eq!(waited.json()["state"], "PENDING", "{}", waited.text());
    server.shutdown().await;
}
