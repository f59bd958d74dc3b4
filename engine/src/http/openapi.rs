//! The OpenAPI 3.1 document served at `/openapi.json`, written for the server that serves it.
//!
//! It tells the truth about this server, not servers in general: bearer auth (and 401s) only
//! when a token is set; each registered task with the JSON Schema of its arguments (traced
//! from the Rust types, see [`celeriac_canvas::schema_of`]), so a request the document
//! allows is one the server accepts; how long a `wait_ms` really waits (a second under the
//! request timeout); and the event stream's events as they are sent. Workflows are documented as the canvases
//! that always type-check — tasks with all their arguments, groups, chains and chords whose
//! later steps are immutable; the server accepts more (partial steps, map, starmap, chunks),
//! checked when submitted. schemathesis checks the document against the server in the suite
//! (`tests/http_api/contract.rs`).

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Map, Value};

use super::router::ApiState;
use super::tasks::{MAX_EPOCH_MS, MAX_SPAN_MS, MAX_WAIT_MS, STATES};

/// `GET /openapi.json`.
pub(crate) async fn document(State(state): State<Arc<ApiState>>) -> Json<Value> {
    Json(spec(&state))
}

/// What the document depends on.
struct Shape {
    token: bool,
    /// `(name, JSON Schema of its positional arguments)` per registered task.
    tasks: Vec<(String, Value)>,
    allow_unregistered: bool,
    max_wait_ms: u64,
}

fn spec(state: &ApiState) -> Value {
    let registry = &state.app.inner.registry;
    let tasks = registry
        .names()
        .into_iter()
        .filter_map(|name| {
            let entry = registry.get(&name)?;
            let args = match &entry.arg_schemas {
                Some(schemas) => json!({"type": "array", "prefixItems": schemas, "items": false,
                    "minItems": schemas.len(), "maxItems": schemas.len()}),
                None => json!({"type": "array"}),
            };
            Some((name, args))
        })
        .collect();
    document_for(&Shape {
        token: state.token.is_some(),
        tasks,
        allow_unregistered: state.allow_unregistered,
        max_wait_ms: state.max_wait_ms,
    })
}

fn error_ref() -> Value {
    json!({"description": "what was wrong", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// The answers of an operation: `ok` under `ok_code`, and every error it can give.
fn responses(shape: &Shape, ok_code: &str, ok: Value, extra: &[&str]) -> Value {
    let mut map = Map::new();
    let mut codes = vec!["400", "403", "404", "413", "415", "422", "503"];
    if shape.token {
        codes.push("401");
    }
    codes.extend_from_slice(extra);
    for code in codes {
        map.insert(code.to_owned(), error_ref());
    }
    map.insert(ok_code.to_owned(), ok);
    Value::Object(map)
}

/// Adds `200`, the answer to a repeated idempotency key: the first request's `202` body.
fn with_duplicate(mut responses: Value) -> Value {
    let accepted = responses.get("202").cloned().unwrap_or(Value::Null);
    responses["200"] = accepted;
    responses
}

/// A schema that also takes `null` (the server reads a `null` field as a missing one).
fn or_null(schema: Value) -> Value {
    json!({"anyOf": [schema, {"type": "null"}]})
}

fn json_ok(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn id_param() -> Value {
    json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}})
}

fn nullable(kind: &str) -> Value {
    json!({"type": [kind, "null"]})
}

/// The request body of one registered task: its name and exactly its arguments.
fn task_request(name: &str, args: &Value) -> Value {
    let takes_args = args.get("minItems").and_then(Value::as_u64) != Some(0);
    let mut required = vec!["task"];
    if takes_args {
        required.push("args");
    }
    json!({"type": "object", "additionalProperties": false, "required": required, "properties": {
        "task": {"const": name}, "args": args,
        "options": {"$ref": "#/components/schemas/Options"},
        "idempotency_key": or_null(json!({"$ref": "#/components/schemas/IdempotencyKey"}))}})
}

/// A canvas task object with all its arguments; `immutable` ones ignore a parent's result.
fn signature(name: &str, args: &Value, immutable: bool) -> Value {
    let takes_args = args.get("minItems").and_then(Value::as_u64) != Some(0);
    let mut required = vec!["task"];
    if takes_args {
        required.push("args");
    }
    let mut properties = json!({"task": {"const": name}, "args": args});
    if immutable {
        required.push("immutable");
        properties["immutable"] = json!({"const": true});
    }
    json!({"type": "object", "additionalProperties": false, "required": required, "properties": properties})
}

fn canvas_schemas(shape: &Shape) -> (Value, Value) {
    if shape.allow_unregistered || shape.tasks.is_empty() {
        let any = json!({"type": "object", "description": "a canvas in its JSON form"});
        return (any.clone(), any);
    }
    let immutable: Vec<Value> = shape
        .tasks
        .iter()
        .map(|(name, args)| signature(name, args, true))
        .collect();
    let mut alternatives: Vec<Value> = shape
        .tasks
        .iter()
        .map(|(name, args)| signature(name, args, false))
        .collect();
    alternatives.extend(immutable.iter().cloned());
    // An empty group is a step with no inputs: its result is [].
    let members = json!({"type": "array", "items": {"$ref": "#/components/schemas/Canvas"}});
    alternatives.push(
        json!({"type": "object", "additionalProperties": false, "required": ["group"],
        "properties": {"group": members}}),
    );
    alternatives.push(
        json!({"type": "object", "additionalProperties": false, "required": ["chain"],
        "properties": {"chain": {"type": "array", "minItems": 1,
            "prefixItems": [{"$ref": "#/components/schemas/Canvas"}],
            "items": {"$ref": "#/components/schemas/Immutable"}}}}),
    );
    // A chord without a header (or with an empty one) calls its body with no results.
    let header = json!({"type": "array",
        "items": {"$ref": "#/components/schemas/Canvas"}});
    alternatives.push(json!({"type": "object", "additionalProperties": false, "required": ["chord"],
        "properties": {"chord": {"type": "object", "additionalProperties": false, "required": ["body"],
            "properties": {"header": header, "body": {"$ref": "#/components/schemas/Immutable"}}}}}));
    (json!({"oneOf": alternatives}), json!({"oneOf": immutable}))
}

fn document_for(shape: &Shape) -> Value {
    let accepted = json!({"type": "object", "required": ["id", "state", "duplicate"], "properties": {
        "id": {"type": "string", "format": "uuid"}, "task": {"type": "string"},
        "output_task_id": {"type": "string", "format": "uuid"},
        "state": {"const": "PENDING"}, "duplicate": {"type": "boolean"}, "links": {"type": "object"}}});
    let idem_header = json!({"name": "Idempotency-Key", "in": "header", "required": false,
        "schema": {"type": "string", "pattern": "^[!-~]([ -~]{0,198}[!-~])?$"},
        "description": "the same key twice makes one task; reusing it for another request is 409"});
    let mut submit: Vec<Value> = shape
        .tasks
        .iter()
        .map(|(name, args)| task_request(name, args))
        .collect();
    if shape.allow_unregistered || shape.tasks.is_empty() {
        let known: Vec<&str> = shape.tasks.iter().map(|(n, _)| n.as_str()).collect();
        submit.push(json!({"type": "object", "additionalProperties": false, "required": ["task"], "properties": {
            "task": {"type": "string", "not": {"enum": known}}, "args": {"type": "array"},
            "options": {"$ref": "#/components/schemas/Options"},
            "idempotency_key": or_null(json!({"$ref": "#/components/schemas/IdempotencyKey"}))}}));
    }
    let (canvas, immutable) = canvas_schemas(shape);
    let mut events_params = Vec::new();
    if shape.token {
        events_params.push(
            json!({"name": "access_token", "in": "query", "schema": {"type": "string"},
            "description": "the bearer token, for EventSource (which cannot send headers)"}),
        );
    }
    let event = json!({"type": "object", "required": ["event", "data"], "properties": {
        "event": {"enum": ["ready", "task", "worker", "lagged"]},
        "data": {"type": "string", "contentMediaType": "application/json"},
        "id": {"type": "string"}, "retry": {"type": "integer"}}});
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {"title": "Celeriac", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Submit and inspect tasks and workflows on an event log."},
        "paths": {
            "/api/tasks": {
                "post": {"summary": "Send a registered task with its JSON positional arguments",
                    "parameters": [idem_header.clone()],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"oneOf": submit}}}},
                    "responses": with_duplicate(responses(shape, "202", json_ok("sent", accepted.clone()),
                        &["409"]))},
                "get": {"summary": "Recent tasks the event monitor saw, newest first",
                    "parameters": [
                        {"name": "state", "in": "query", "schema": {"enum": STATES}},
                        {"name": "name", "in": "query", "schema": {"type": "string"}},
                        {"name": "q", "in": "query", "schema": {"type": "string"}, "description": "task id prefix"},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
                    "responses": responses(shape, "200", json_ok("tasks", json!({"type": "object",
                        "required": ["tasks", "totals", "events_seen"], "properties": {
                            "tasks": {"type": "array", "items": {"type": "object"}},
                            "totals": {"type": "object", "additionalProperties": {"type": "integer"}},
                            "events_seen": {"type": "integer"}}})), &[])}
            },
            "/api/tasks/{id}": {"get": {"summary": "A task's state, and its result or error once finished",
                "parameters": [id_param(), {"name": "wait_ms", "in": "query",
                    "schema": {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_MS},
                    "description": format!("first wait up to this long for the task to finish; this server waits {} ms at most (a second under its request timeout), then answers the state", shape.max_wait_ms)}],
                "responses": responses(shape, "200", json_ok("the task", json!({"$ref": "#/components/schemas/Task"})), &["504"])}},
            "/api/tasks/{id}/revoke": {"post": {"summary": "Revoke a task; terminate aborts a running attempt",
                "parameters": [id_param(), {"name": "terminate", "in": "query", "schema": {"type": "boolean"}}],
                "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object",
                    "properties": {"terminate": {"type": "boolean"}}, "additionalProperties": false}}}},
                "responses": responses(shape, "202", json_ok("revoked", json!({"type": "object",
                    "required": ["id", "revoked", "terminate"], "properties": {
                        "id": {"type": "string", "format": "uuid"}, "revoked": {"const": true},
                        "terminate": {"type": "boolean"}}})), &[])}},
            "/api/workflows": {"post": {"summary": "Submit a canvas in its JSON form",
                "parameters": [idem_header],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"oneOf": [
                    {"$ref": "#/components/schemas/Canvas"},
                    {"type": "object", "additionalProperties": false, "required": ["canvas"], "properties": {
                        "canvas": {"$ref": "#/components/schemas/Canvas"},
                        "idempotency_key": or_null(json!({"$ref": "#/components/schemas/IdempotencyKey"}))}}]}}}},
                "responses": with_duplicate(responses(shape, "202", json_ok("submitted", accepted), &["409"]))}},
            "/api/workflows/{id}": {"get": {"summary": "A workflow's DAG with each step's state",
                "parameters": [id_param()],
                "responses": responses(shape, "200", json_ok("the workflow", json!({"$ref": "#/components/schemas/Workflow"})), &[])}},
            "/api/workers": {"get": {"summary": "Workers seen through heartbeats and events",
                "responses": responses(shape, "200", json_ok("workers", json!({"type": "object", "required": ["workers"],
                    "properties": {"workers": {"type": "array", "items": {"type": "object"}}}})), &[])}},
            "/api/queues": {"get": {"summary": "Queues and their partition lag",
                "responses": responses(shape, "200", json_ok("queues", json!({"type": "object", "required": ["queues"],
                    "properties": {"queues": {"type": "array", "items": {"type": "object"}}}})), &[])}},
            "/api/events": {"get": {"summary": "Live server-sent events: ready first, then task, worker and lagged",
                "parameters": events_params,
                "responses": responses(shape, "200", json!({"description": "an event stream; each event's data is a JSON object",
                    "content": {"text/event-stream": {"schema": event}}}), &[])}},
            "/metrics": {"get": {"summary": "Prometheus metrics",
                "responses": responses(shape, "200", json!({"description": "text format 0.0.4",
                    "content": {"text/plain": {"schema": {"type": "string"}}}}), &[])}}
        },
        "components": {
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object",
                    "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
                "IdempotencyKey": {"type": "string", "pattern": "^[ -~]{1,200}$"},
                "Options": {"type": "object", "additionalProperties": false, "properties": {
                    "countdown_ms": or_null(json!({"type": "integer", "minimum": 0, "maximum": MAX_SPAN_MS})),
                    "eta": or_null(json!({"type": "integer", "minimum": 0, "maximum": MAX_EPOCH_MS, "description": "ms since the epoch"})),
                    "expires": or_null(json!({"type": "integer", "minimum": 0, "maximum": MAX_EPOCH_MS, "description": "ms since the epoch"})),
                    "expires_in_ms": or_null(json!({"type": "integer", "minimum": 0, "maximum": MAX_SPAN_MS})),
                    "queue": or_null(json!({"type": "string", "pattern": "^[A-Za-z0-9._-]{1,100}$"})),
                    "priority": or_null(json!({"type": "integer", "minimum": 0, "maximum": 9})),
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                    "max_retries": or_null(json!({"type": "integer", "minimum": 0, "maximum": u32::MAX})),
                    "soft_time_limit_ms": or_null(json!({"type": "integer", "minimum": 1, "maximum": MAX_SPAN_MS})),
                    "time_limit_ms": or_null(json!({"type": "integer", "minimum": 1, "maximum": MAX_SPAN_MS}))}},
                "Task": {"type": "object", "required": ["id", "state"], "properties": {
                    "id": {"type": "string", "format": "uuid"}, "task": nullable("string"),
                    "state": {"enum": STATES}, "event_state": {"anyOf": [{"enum": STATES}, {"type": "null"}]},
                    "result": {}, "error": {"anyOf": [{"type": "null"}, {"type": "object",
                        "properties": {"type": {"type": "string"}, "message": {"type": "string"}}}]},
                    "retries": {"type": "integer"}, "worker": nullable("string"), "date_done": {"type": "integer"},
                    "root_id": {"type": "string", "format": "uuid"}, "parent_id": nullable("string")}},
                "Canvas": canvas,
                "Immutable": immutable,
                "Workflow": {"type": "object", "required": ["id", "state", "steps", "edges"], "properties": {
                    "id": {"type": "string", "format": "uuid"}, "state": {"type": "string"},
                    "steps": {"type": "array", "items": {"type": "object"}},
                    "edges": {"type": "array", "items": {"type": "object"}}}}
            }
        }
    });
    if shape.token {
        document["security"] = json!([{"bearer": []}]);
        document["components"]["securitySchemes"] =
            json!({"bearer": {"type": "http", "scheme": "bearer"}});
    }
    document
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(token: bool) -> Shape {
        Shape {
            token,
            tasks: vec![(
                "add".into(),
                json!({"type": "array", "minItems": 2, "maxItems": 2}),
            )],
            allow_unregistered: false,
            max_wait_ms: 1000,
        }
    }

    #[test]
    fn auth_is_declared_only_when_a_token_is_set() {
        let open = document_for(&shape(false));
        assert!(open.get("security").is_none());
        assert!(open["paths"]["/api/workers"]["get"]["responses"]
            .get("401")
            .is_none());
        let closed = document_for(&shape(true));
        assert_eq!(closed["security"], json!([{"bearer": []}]));
        assert!(closed["paths"]["/api/workers"]["get"]["responses"]
            .get("401")
            .is_some());
    }

    #[test]
    fn each_task_is_documented_with_its_arguments() {
        let document = document_for(&shape(false));
        let body = &document["paths"]["/api/tasks"]["post"]["requestBody"]["content"]
            ["application/json"]["schema"];
        assert_eq!(
            body["oneOf"][0]["properties"]["task"],
            json!({"const": "add"})
        );
        assert_eq!(body["oneOf"][0]["required"], json!(["task", "args"]));
        let wait = &document["paths"]["/api/tasks/{id}"]["get"]["parameters"][1]["schema"];
        assert_eq!(wait["maximum"], MAX_WAIT_MS);
    }
}
