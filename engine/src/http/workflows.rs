//! Workflow routes: submit a canvas in its JSON form (optionally idempotent) and read a
//! workflow back — its DAG (steps and edges) with each step's state.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use celeriac_canvas::Canvas;
use celeriac_schemas::StepKind;
use serde_json::{json, Value};
use uuid::Uuid;

use super::errors::{integral_numbers, parse_id, parse_json, ApiError};
use super::idempotency::{fingerprint, Submitted};
use super::router::ApiState;
use super::tasks::{idempotency_key, result_json, task_state};
use crate::App;

/// `POST /api/workflows`: the body is a canvas (`{"chain": [..]}`…) or
/// `{"canvas": .., "idempotency_key": ..}`. 202 with the workflow id and its output task.
pub(crate) async fn submit(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut raw: Value = parse_json(&body?)?;
    integral_numbers(&mut raw);
    let (canvas_json, body_key) = match raw.as_object() {
        Some(object) if object.contains_key("canvas") => {
            if let Some(extra) = object
                .keys()
                .find(|k| !matches!(k.as_str(), "canvas" | "idempotency_key"))
            {
                return Err(ApiError::unprocessable(
                    "invalid_request",
                    format!("unknown field {extra:?}: expected \"canvas\" and \"idempotency_key\""),
                ));
            }
            let key = match object.get("idempotency_key") {
                None | Some(Value::Null) => None,
                Some(Value::String(key)) => Some(key.clone()),
                Some(other) => {
                    return Err(ApiError::unprocessable(
                        "bad_idempotency_key",
                        format!("idempotency_key is a string, not {other}"),
                    ))
                }
            };
            (object.get("canvas").cloned().unwrap_or(Value::Null), key)
        }
        Some(_) => (raw.clone(), None),
        None => {
            return Err(ApiError::unprocessable(
                "invalid_request",
                "the body is a canvas object such as {\"chain\": [..]}",
            ))
        }
    };
    let key = idempotency_key(&headers, body_key)?;
    let canvas = Canvas::from_json(&canvas_json)
        .map_err(|e| ApiError::unprocessable("bad_canvas", e.to_string()))?;
    if !state.allow_unregistered {
        canvas
            .check(&state.app.inner.registry)
            .map_err(|e| ApiError::unprocessable("bad_canvas", e.to_string()))?;
        state
            .app
            .check_canvas_args(&canvas)
            .map_err(|e| ApiError::unprocessable("bad_canvas", e.to_string()))?;
    }
    let Some(key) = key else {
        let (id, output) = send(&state.app, &canvas).await?;
        return Ok((StatusCode::ACCEPTED, Json(accepted(id, output, false))));
    };
    let print = fingerprint(&canvas_json);
    let _guard = state.idempotency.guard("workflow", &key).await;
    if let Some(first) = state.idempotency.get("workflow", &key)? {
        if first.fingerprint != print {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_reused",
                format!("the idempotency key {key:?} was used for another workflow"),
            ));
        }
        let output = first.output.unwrap_or(first.id);
        return Ok((StatusCode::OK, Json(accepted(first.id, output, true))));
    }
    let (id, output) = send(&state.app, &canvas).await?;
    let submitted = Submitted {
        id,
        output: Some(output),
        fingerprint: print,
    };
    state.idempotency.put("workflow", &key, &submitted)?;
    Ok((StatusCode::ACCEPTED, Json(accepted(id, output, false))))
}

async fn send(app: &App, canvas: &Canvas) -> Result<(Uuid, Uuid), ApiError> {
    let handle = app.submit_canvas_as::<Value>(canvas).await?;
    Ok((handle.id(), handle.output_task_id()))
}

fn accepted(id: Uuid, output: Uuid, duplicate: bool) -> Value {
    json!({
        "id": id, "output_task_id": output, "state": "PENDING", "duplicate": duplicate,
        "links": {"self": format!("/api/workflows/{id}"), "result": format!("/api/tasks/{output}")},
    })
}

/// `GET /api/workflows/{id}`: the DAG and each step's state.
pub(crate) async fn show(
    State(state): State<Arc<ApiState>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(text) = path?;
    let id = parse_id(&text)?;
    let Some(spec) = state.app.workflow_spec(id).await? else {
        return Err(ApiError::not_found(format!("no workflow {id} on the log")));
    };
    let mut steps = Vec::with_capacity(spec.steps.len());
    let mut states = Vec::with_capacity(spec.steps.len());
    for (index, step) in spec.steps.iter().enumerate() {
        let record = state
            .app
            .inner
            .results
            .latest(step.task_id, spec.created_at)
            .await?;
        let seen = state.monitor.task(step.task_id).map(|row| row.state);
        let step_state = task_state(record.as_ref(), seen);
        let detail = record.as_ref().map_or(Value::Null, result_json);
        states.push(step_state);
        steps.push(json!({
            "index": index, "step_id": step.step_id, "task": step.task, "task_id": step.task_id,
            "kind": kind_name(step.kind), "state": step_state, "event_state": seen,
            "errback": step.errback,
            "input_slots": step.input_slots, "link_error": step.link_error,
            "result": detail.get("result"), "error": detail.get("error"),
        }));
    }
    let output = usize::try_from(spec.output).ok();
    let output_state = output.and_then(|i| states.get(i)).copied();
    let overall = match output_state {
        Some(s @ ("SUCCESS" | "FAILURE" | "REVOKED")) => s,
        _ if states.iter().any(|s| *s != "PENDING") => "STARTED",
        _ => "PENDING",
    };
    let output_task = output.and_then(|i| spec.steps.get(i)).map(|s| s.task_id);
    let edges: Vec<Value> = spec
        .edges
        .iter()
        .map(|e| json!({"from": e.from, "to": e.to, "slot": e.slot}))
        .collect();
    Ok(Json(json!({
        "id": spec.id, "label": spec.label, "created_at": spec.created_at, "state": overall,
        "output": spec.output, "output_task_id": output_task, "steps": steps, "edges": edges,
    })))
}

fn kind_name(kind: StepKind) -> &'static str {
    match kind {
        StepKind::Task => "TASK",
        StepKind::Collect => "COLLECT",
        StepKind::Map => "MAP",
        StepKind::Starmap => "STARMAP",
    }
}
