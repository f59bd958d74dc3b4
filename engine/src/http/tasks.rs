//! Task routes: submit by name with JSON arguments (optionally idempotent), list recent
//! tasks, read one task's state and result, revoke or terminate.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use celeriac_schemas::TaskResult;
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::{integral_numbers, parse_id, parse_json, ApiError};
use super::idempotency::{fingerprint, validate_key, Submitted};
use super::monitor::v7_millis;
use super::router::ApiState;
use crate::results::AsyncResult;
use crate::SendOptions;

/// `POST /api/tasks`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitTask {
    task: String,
    #[serde(default)]
    args: Option<Value>,
    #[serde(default)]
    options: TaskOptionsJson,
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// `apply_async` options in JSON; times are milliseconds (since the epoch for `eta` and
/// `expires`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskOptionsJson {
    countdown_ms: Option<u64>,
    eta: Option<u64>,
    expires: Option<u64>,
    expires_in_ms: Option<u64>,
    queue: Option<String>,
    priority: Option<u8>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    max_retries: Option<u32>,
    soft_time_limit_ms: Option<u64>,
    time_limit_ms: Option<u64>,
}

/// A queue name Kafka accepts as part of a topic name.
pub(crate) fn check_queue(queue: &str) -> Result<(), ApiError> {
    let ok = !queue.is_empty()
        && queue.len() <= 100
        && queue
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "bad_queue",
            "a queue name is 1 to 100 characters of letters, digits, '.', '_' and '-'",
        ))
    }
}

/// The latest `eta` or `expires` accepted: the last millisecond of the year 9999.
pub(crate) const MAX_EPOCH_MS: u64 = 253_402_300_799_999;
/// The longest countdown, expiry or time limit accepted: ten years.
pub(crate) const MAX_SPAN_MS: u64 = 10 * 366 * 24 * 3600 * 1000;

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

impl TaskOptionsJson {
    fn into_send_options(self) -> Result<SendOptions, ApiError> {
        if let Some(queue) = &self.queue {
            check_queue(queue)?;
        }
        if self.priority.is_some_and(|p| p > 9) {
            return Err(ApiError::unprocessable(
                "bad_priority",
                "priority is 0 (lowest) to 9 (highest)",
            ));
        }
        let spans = [
            self.countdown_ms,
            self.expires_in_ms,
            self.soft_time_limit_ms,
            self.time_limit_ms,
        ];
        if spans.into_iter().flatten().any(|ms| ms > MAX_SPAN_MS) {
            return Err(ApiError::unprocessable(
                "bad_time",
                "countdown_ms, expires_in_ms and the time limits are at most ten years",
            ));
        }
        if [self.soft_time_limit_ms, self.time_limit_ms].contains(&Some(0)) {
            return Err(ApiError::unprocessable(
                "bad_time",
                "a time limit is at least 1 ms",
            ));
        }
        if [self.eta, self.expires]
            .into_iter()
            .flatten()
            .any(|ms| ms > MAX_EPOCH_MS)
        {
            return Err(ApiError::unprocessable(
                "bad_time",
                "eta and expires are milliseconds since the epoch, at most the end of year 9999",
            ));
        }
        let expires = match (self.expires, self.expires_in_ms) {
            (Some(ms), _) => Some(at(ms)),
            (None, Some(ms)) => Some(SystemTime::now() + Duration::from_millis(ms)),
            (None, None) => None,
        };
        Ok(SendOptions {
            countdown: self.countdown_ms.map(Duration::from_millis),
            eta: self.eta.map(at),
            expires,
            queue: self.queue,
            priority: self.priority,
            headers: self.headers,
            max_retries: self.max_retries,
            retry_policy: None,
            soft_time_limit: self.soft_time_limit_ms.map(Duration::from_millis),
            time_limit: self.time_limit_ms.map(Duration::from_millis),
            task_id: None,
        })
    }
}

/// The idempotency key of a request: the `Idempotency-Key` header, else the body's field.
pub(crate) fn idempotency_key(
    headers: &HeaderMap,
    body_key: Option<String>,
) -> Result<Option<String>, ApiError> {
    let header = match headers.get("idempotency-key") {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| {
                    ApiError::bad_request("bad_idempotency_key", "Idempotency-Key is not ASCII")
                })?
                .to_owned(),
        ),
        None => None,
    };
    // Both are checked: a malformed key in the body is refused even when the header wins.
    for key in header.iter().chain(body_key.iter()) {
        validate_key(key).map_err(|m| ApiError::bad_request("bad_idempotency_key", m))?;
    }
    Ok(header.or(body_key))
}

/// `POST /api/tasks`: 202 with the new task's id; 200 with the first one's id when the
/// idempotency key was seen before with the same request.
pub(crate) async fn submit(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut raw: Value = parse_json(&body?)?;
    integral_numbers(&mut raw);
    let request: SubmitTask = serde_json::from_value(raw.clone()).map_err(|e| {
        ApiError::unprocessable(
            "invalid_request",
            format!("the body is not a task request: {e}"),
        )
    })?;
    let key = idempotency_key(&headers, request.idempotency_key.clone())?;
    let args = request.args.clone().unwrap_or_else(|| json!([]));
    if !args.is_array() {
        return Err(ApiError::unprocessable(
            "bad_args",
            format!("args is a JSON array of positional arguments, not {args}"),
        ));
    }
    let known = state.app.task_names().contains(&request.task);
    if known || !state.allow_unregistered {
        state
            .app
            .check_task_call(&request.task, &args)
            .map_err(|error| match error {
                crate::Error::UnknownTask(name) => ApiError::unprocessable(
                    "unknown_task",
                    format!(
                        "no task named {name:?} is registered; known tasks: {}",
                        state.app.task_names().join(", ")
                    ),
                ),
                crate::Error::Config(message) => ApiError::unprocessable("bad_args", message),
                other => ApiError::unprocessable("bad_args", other.to_string()),
            })?;
    }
    let options = request.options.into_send_options()?;
    let task = request.task;
    let Some(key) = key else {
        let id = send(&state, &task, &args, options).await?;
        return Ok((StatusCode::ACCEPTED, Json(accepted(id, &task, false))));
    };
    let print = fingerprint(&json!({"task": task, "args": args, "options": raw.get("options")}));
    let _guard = state.idempotency.guard("task", &key).await;
    if let Some(first) = state.idempotency.get("task", &key)? {
        if first.fingerprint != print {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_reused",
                format!("the idempotency key {key:?} was used for another request"),
            ));
        }
        return Ok((StatusCode::OK, Json(accepted(first.id, &task, true))));
    }
    let id = send(&state, &task, &args, options).await?;
    let submitted = Submitted {
        id,
        output: None,
        fingerprint: print,
    };
    state.idempotency.put("task", &key, &submitted)?;
    Ok((StatusCode::ACCEPTED, Json(accepted(id, &task, false))))
}

async fn send(
    state: &ApiState,
    task: &str,
    args: &Value,
    options: SendOptions,
) -> Result<uuid::Uuid, ApiError> {
    let queue = options
        .queue
        .clone()
        .unwrap_or_else(|| state.app.queue_for(task));
    let result = state.app.send_task(task, args, options).await?;
    state.monitor.submitted(result.id(), task, Some(queue));
    Ok(result.id())
}

fn accepted(id: uuid::Uuid, task: &str, duplicate: bool) -> Value {
    json!({
        "id": id, "task": task, "state": "PENDING", "duplicate": duplicate,
        "links": {"self": format!("/api/tasks/{id}"), "revoke": format!("/api/tasks/{id}/revoke")},
    })
}

/// `GET /api/tasks`'s filters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    state: Option<String>,
    name: Option<String>,
    q: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/tasks`: recent tasks, newest first, by state, by name, or by id prefix.
pub(crate) async fn list(
    State(state): State<Arc<ApiState>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("bad_query", "limit is 1 to 1000"));
    }
    if let Some(wanted) = &query.state {
        if !STATES.contains(&wanted.as_str()) {
            return Err(ApiError::bad_request(
                "bad_query",
                format!("state is one of {}", STATES.join(", ")),
            ));
        }
    }
    let wanted_state = query.state;
    let search = query.q.map(|s| s.to_lowercase());
    let tasks = state.monitor.tasks(
        |row| {
            wanted_state.as_deref().is_none_or(|s| row.state == s)
                && query.name.as_deref().is_none_or(|n| row.task == n)
                && search
                    .as_deref()
                    .is_none_or(|q| row.id.to_string().starts_with(q))
        },
        limit,
    );
    let (totals, events_seen) = state.monitor.totals();
    Ok(Json(
        json!({"tasks": tasks, "totals": totals, "events_seen": events_seen}),
    ))
}

/// The longest `wait_ms` of `GET /api/tasks/{id}`, whatever the request timeout.
pub(crate) const MAX_WAIT_MS: u64 = 300_000;

/// The states a task is shown in, as `GET /api/tasks?state=` takes them.
pub(crate) const STATES: [&str; 7] = [
    "PENDING", "RECEIVED", "STARTED", "RETRY", "SUCCESS", "FAILURE", "REVOKED",
];

/// `GET /api/tasks/{id}`'s query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShowQuery {
    /// Wait up to this long for the task to finish (long polling), then answer.
    wait_ms: Option<u64>,
}

/// `GET /api/tasks/{id}`: the latest state; the result or error once terminal. With
/// `?wait_ms=N`, first waits up to N ms for the task to finish, at most a second less than the
/// request timeout.
pub(crate) async fn show(
    State(state): State<Arc<ApiState>>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ShowQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(text) = path?;
    let id = parse_id(&text)?;
    let Query(query) = query?;
    let sent_at = state
        .monitor
        .task(id)
        .and_then(|row| row.sent_at)
        .or_else(|| v7_millis(id))
        .unwrap_or(0);
    if let Some(wait_ms) = query.wait_ms {
        if wait_ms > MAX_WAIT_MS {
            return Err(ApiError::unprocessable(
                "bad_wait",
                format!("wait_ms is at most {MAX_WAIT_MS}"),
            ));
        }
        // A wait ends a second before the request timeout would cut it: the client gets the
        // state then, not a 503.
        let wait_ms = wait_ms.min(state.max_wait_ms);
        let handle = AsyncResult::<Value>::new(state.app.clone(), id, sent_at);
        match handle.wait(Duration::from_millis(wait_ms)).await {
            Ok(_) | Err(crate::Error::Timeout { .. }) => {}
            Err(error) => return Err(error.into()),
        }
    }
    let record = state.app.inner.results.latest(id, sent_at).await?;
    let row = state.monitor.task(id);
    let mut body = match &record {
        Some(record) => result_json(record),
        None => json!({
            "id": id,
            "task": row.as_ref().map(|r| r.task.clone()),
            "state": task_state(None, row.as_ref().map(|r| r.state)),
        }),
    };
    if let Some(object) = body.as_object_mut() {
        object.insert("event_state".into(), json!(row.map(|r| r.state)));
    }
    Ok(Json(body))
}

/// The state a task is shown in: its result record's, else what the monitor saw of a task
/// still on its way (RECEIVED, STARTED, RETRY), else PENDING. A terminal state comes only from
/// the result record: a worker's SUCCEEDED event can be seen long before the record that
/// carries the result is readable (a coordinator takeover holds it up).
pub(crate) fn task_state(record: Option<&TaskResult>, seen: Option<&'static str>) -> &'static str {
    match (record, seen) {
        (Some(record), _) => record.state.name(),
        (None, Some(seen @ ("RECEIVED" | "STARTED" | "RETRY"))) => seen,
        (None, _) => "PENDING",
    }
}

/// A result record as JSON; the value is decoded when it is JSON.
pub(crate) fn result_json(record: &TaskResult) -> Value {
    let value = match (&record.result, record.content_type.as_deref()) {
        (Some(bytes), Some(celeriac_canvas::JSON) | None) => {
            serde_json::from_slice::<Value>(bytes).unwrap_or(Value::Null)
        }
        (Some(bytes), Some(other)) => json!(format!("<{} bytes of {other}>", bytes.len())),
        (None, _) => Value::Null,
    };
    json!({
        "id": record.task_id, "task": record.task, "state": record.state.name(),
        "result": value,
        "error": record.error.as_ref().map(|e| json!({"type": e.type_name, "message": e.message})),
        "retries": record.retries, "worker": record.hostname, "date_done": record.date_done,
        "root_id": record.root_id, "parent_id": record.parent_id,
    })
}

/// `POST /api/tasks/{id}/revoke`'s optional body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeBody {
    #[serde(default)]
    terminate: bool,
}

/// `POST /api/tasks/{id}/revoke`: workers will not start it; with `terminate`, a running
/// attempt is aborted too. Body `{"terminate": true}` or query `?terminate=true`.
pub(crate) async fn revoke(
    State(state): State<Arc<ApiState>>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<RevokeBody>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Path(text) = path?;
    let id = parse_id(&text)?;
    let Query(from_query) = query?;
    let body = body?;
    let from_body: RevokeBody = if body.iter().all(u8::is_ascii_whitespace) {
        RevokeBody::default()
    } else {
        parse_json(&body)?
    };
    let terminate = from_query.terminate || from_body.terminate;
    state.app.revoke(&[id], terminate).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"id": id, "revoked": true, "terminate": terminate})),
    ))
}
