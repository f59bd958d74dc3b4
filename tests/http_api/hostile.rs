//! `celeriac serve` under malformed and hostile requests: each is a 4xx with a message that
//! says what was wrong — never a 500, never a hang — and no task is lost or invented.

use std::time::{Duration, Instant};

use crate::client::{accepted_id, messages_on_queue, parse, raw, request, serve};
use crate::support::Backend;
use celeriac::engine::AsyncResult;
use celeriac::prelude::*;
use serde_json::json;

/// One hostile request and the status it must get.
struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    status: u16,
}

fn case(
    name: &'static str,
    method: &'static str,
    path: &str,
    body: Option<&[u8]>,
    status: u16,
) -> Case {
    Case {
        name,
        method,
        path: path.to_owned(),
        headers: Vec::new(),
        body: body.map(<[u8]>::to_vec),
        status,
    }
}

fn task(name: &'static str, body: serde_json::Value, status: u16) -> Case {
    case(
        name,
        "POST",
        "/api/tasks",
        Some(body.to_string().as_bytes()),
        status,
    )
}

fn cases() -> Vec<Case> {
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    let huge = format!(
        "{{\"task\":\"add\",\"args\":[1,2],\"pad\":\"{}\"}}",
        "x".repeat(200_000)
    );
    let mut cases = vec![
        case("not JSON", "POST", "/api/tasks", Some(b"{task: add"), 400),
        case("empty body", "POST", "/api/tasks", Some(b""), 400),
        case("truncated JSON", "POST", "/api/tasks", Some(b"{\"task\": \"add\", \"args\": [1,"), 400),
        case("invalid UTF-8", "POST", "/api/tasks", Some(b"{\"task\": \"\xff\xfe\"}"), 400),
        case("deeply nested", "POST", "/api/tasks", Some(deep.as_bytes()), 400),
        case("huge body", "POST", "/api/tasks", Some(huge.as_bytes()), 413),
        task("a JSON array", json!([1, 2]), 422),
        task("task name not a string", json!({"task": 5, "args": []}), 422),
        task("no task name", json!({"args": [1, 2]}), 422),
        task("args not a list", json!({"task": "add", "args": {"x": 1}}), 422),
        task("too few args", json!({"task": "add", "args": [1]}), 422),
        task("too many args", json!({"task": "add", "args": [1, 2, 3]}), 422),
        task("wrong argument type", json!({"task": "add", "args": ["one", 2]}), 422),
        task("argument out of range", json!({"task": "nap", "args": [-5]}), 422),
        task("unknown task", json!({"task": "no.such.task", "args": []}), 422),
        task("unknown field", json!({"task": "add", "args": [1, 2], "kwargs": {}}), 422),
        task("unknown option", json!({"task": "add", "args": [1, 2], "options": {"retry": true}}), 422),
        task("priority out of range", json!({"task": "add", "args": [1, 2], "options": {"priority": 99}}), 422),
        task("negative countdown", json!({"task": "add", "args": [1, 2], "options": {"countdown_ms": -1}}), 422),
        task("absurd countdown", json!({"task": "add", "args": [1, 2], "options": {"countdown_ms": u64::MAX}}), 422),
        task("queue with a path", json!({"task": "add", "args": [1, 2], "options": {"queue": "../../etc"}}), 422),
        task("empty queue", json!({"task": "add", "args": [1, 2], "options": {"queue": ""}}), 422),
        task("long idempotency key", json!({"task": "add", "args": [1, 2], "idempotency_key": "k".repeat(500)}), 400),
        case("bad UUID", "GET", "/api/tasks/not-a-uuid", None, 400),
        case("UUID too long", "GET", "/api/tasks/0190b8a2-0000-7000-8000-0000000000001", None, 400),
        case("encoded traversal in id", "GET", "/api/tasks/..%2F..%2Fetc%2Fpasswd", None, 400),
        case("traversal to assets", "GET", "/assets/../../../etc/passwd", None, 404),
        case("traversal encoded", "GET", "/assets/%2e%2e/%2e%2e/etc/passwd", None, 404),
        case("unknown asset", "GET", "/assets/secret.txt", None, 404),
        case("unknown route", "GET", "/api/nothing", None, 404),
        case("wrong method", "DELETE", "/api/tasks", None, 405),
        case("revoke a bad id", "POST", "/api/tasks/xyz/revoke", None, 400),
        case("revoke with bad JSON", "POST", "/api/tasks/0190b8a2-0000-7000-8000-000000000001/revoke", Some(b"{terminate"), 400),
        case("revoke with wrong type", "POST", "/api/tasks/0190b8a2-0000-7000-8000-000000000001/revoke", Some(b"{\"terminate\": \"yes\"}"), 422),
        case("revoke with bad query", "POST", "/api/tasks/0190b8a2-0000-7000-8000-000000000001/revoke?terminate=maybe", None, 400),
        case("list with bad limit", "GET", "/api/tasks?limit=-1", None, 400),
        case("list with unknown filter", "GET", "/api/tasks?colour=red", None, 400),
        case("workflow bad UUID", "GET", "/api/workflows/123", None, 400),
        case("workflow not JSON", "POST", "/api/workflows", Some(b"chain(add)"), 400),
        case("workflow a string", "POST", "/api/workflows", Some(b"\"chain\""), 422),
        case("workflow unknown kind", "POST", "/api/workflows", Some(json!({"loop": []}).to_string().as_bytes()), 422),
        case("workflow unknown task", "POST", "/api/workflows", Some(json!({"chain": [{"task": "nope"}]}).to_string().as_bytes()), 422),
        case("workflow wrong arity", "POST", "/api/workflows", Some(json!({"chain": [{"task": "add", "args": [1, 2]}, {"task": "add", "args": [1, 2], "partial": true}]}).to_string().as_bytes()), 422),
        case("workflow empty chain", "POST", "/api/workflows", Some(json!({"chain": []}).to_string().as_bytes()), 422),
        case("workflow extra field", "POST", "/api/workflows", Some(json!({"canvas": {"task": "add", "args": [1, 2]}, "why": 1}).to_string().as_bytes()), 422),
    ];
    let mut bad_key = task(
        "non-ASCII idempotency header",
        json!({"task": "add", "args": [1, 2]}),
        400,
    );
    bad_key
        .headers
        .push(("Idempotency-Key", "\u{e9}t\u{e9}".to_owned()));
    cases.push(bad_key);
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_hostile_requests_are_4xx_with_a_message_and_lose_nothing() {
    let served = serve(Backend::Embedded, None).await;
    let mut failures = Vec::new();
    for case in cases() {
        let headers: Vec<(&str, &str)> =
            case.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let answer = request(
            served.addr,
            case.method,
            &case.path,
            &headers,
            case.body.as_deref(),
        )
        .await;
        let message = serde_json::from_slice::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned));
        if answer.status != case.status || message.as_deref().is_none_or(str::is_empty) {
            failures.push(format!(
                "{}: {} {} → {} {}",
                case.name,
                case.method,
                case.path.chars().take(80).collect::<String>(),
                answer.status,
                answer.text().chars().take(200).collect::<String>()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "unexpected answers:\n{}",
        failures.join("\n")
    );

    // Nothing was sent by the bad requests, and a good one still works.
    assert_eq!(
        messages_on_queue(&served.test.app, "default").await,
        0,
        "no bad request became a task"
    );
    let id = accepted_id(
        &served
            .post("/api/tasks", json!({"task": "add", "args": [4, 5]}))
            .await,
    );
    let sum = AsyncResult::<i64>::from_id(&served.test.app, id)
        .get(secs(60))
        .await
        .expect("runs");
    assert_eq!(sum, 9);
    assert_eq!(messages_on_queue(&served.test.app, "default").await, 1);
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_and_garbage_are_refused() {
    let served = serve(Backend::Embedded, None).await;
    let big_header = format!(
        "GET /api/workers HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(100_000)
    );
    let answer = parse(&raw(served.addr, big_header.as_bytes()).await).expect("an HTTP answer");
    assert_eq!(answer.status, 431, "a head over the buffer limit");
    let garbage = raw(
        served.addr,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
    )
    .await;
    if let Some(answer) = parse(&garbage) {
        assert_eq!(answer.status, 400, "TLS hello or garbage on a plain port");
    }
    // The server is still up.
    assert_eq!(served.get("/api/workers").await.status, 200);
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_dribbles_its_head_is_cut_off_in_bounded_time() {
    let served = serve(Backend::Embedded, None).await; // header timeout: 1 s
    let started = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(served.addr)
        .await
        .expect("connect");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /api/workers HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut buffer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buffer)).await;
    let elapsed = started.elapsed();
    assert!(read.is_ok(), "the server closed the connection within 10 s");
    assert!(
        elapsed >= Duration::from_millis(900),
        "not before the timeout: {elapsed:?}"
    );
    if let Some(answer) = parse(&buffer) {
        assert_eq!(answer.status, 408);
    }
    assert_eq!(
        served.get("/api/workers").await.status,
        200,
        "others are still served"
    );
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polls_that_give_up_leave_no_waiter_behind() {
    let served = serve(Backend::Embedded, None).await;
    for _ in 0..200 {
        let id = uuid::Uuid::now_v7();
        let answer = served.get(&format!("/api/tasks/{id}?wait_ms=1")).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(answer.json()["state"], "PENDING");
    }
    let metrics = served.get("/metrics").await.text();
    assert!(
        metrics.lines().any(|l| l == "celeriac_results_waiters 0"),
        "200 given-up waits leave none open:\n{metrics}"
    );
    served.stop().await;
}
