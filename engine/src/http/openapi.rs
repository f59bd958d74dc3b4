//! The OpenAPI 3.0 document served at `/openapi.json`.

use axum::Json;
use serde_json::{json, Value};

/// `GET /openapi.json`.
pub(crate) async fn document() -> Json<Value> {
    Json(spec())
}

fn error_responses() -> Value {
    let error = json!({"description": "what was wrong", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    json!({"400": error, "401": error, "404": error, "409": error, "413": error, "422": error, "503": error})
}

fn with_errors(ok_code: &str, ok: Value) -> Value {
    let mut responses = error_responses();
    if let Some(map) = responses.as_object_mut() {
        map.insert(ok_code.to_owned(), ok);
    }
    responses
}

fn json_ok(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn id_param() -> Value {
    json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}})
}

/// The document: every route, its parameters, bodies and answers.
pub fn spec() -> Value {
    let accepted = json!({"$ref": "#/components/schemas/Accepted"});
    let idem_header = json!({"name": "Idempotency-Key", "in": "header", "required": false,
        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
        "description": "the same key twice makes one task; reusing it for another request is 409"});
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Celeriac", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Submit and inspect tasks and workflows on an event log."},
        "security": [{"bearer": []}],
        "paths": {
            "/api/tasks": {
                "post": {"summary": "Send a task by name with JSON positional arguments",
                    "parameters": [idem_header],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SubmitTask"}}}},
                    "responses": with_errors("202", json_ok("sent (200 when the idempotency key was seen)", accepted.clone()))},
                "get": {"summary": "Recent tasks, newest first",
                    "parameters": [
                        {"name": "state", "in": "query", "schema": {"type": "string", "enum": ["PENDING", "RECEIVED", "STARTED", "RETRY", "SUCCESS", "FAILURE", "REVOKED"]}},
                        {"name": "name", "in": "query", "schema": {"type": "string"}},
                        {"name": "q", "in": "query", "schema": {"type": "string"}, "description": "task id prefix"},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
                    "responses": with_errors("200", json_ok("tasks", json!({"type": "object"})))}
            },
            "/api/tasks/{id}": {"get": {"summary": "A task's state, and its result or error once finished",
                "parameters": [id_param(), {"name": "wait_ms", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 300000},
                    "description": "first wait up to this long for the task to finish"}],
                "responses": with_errors("200", json_ok("the task", json!({"$ref": "#/components/schemas/Task"})))}},
            "/api/tasks/{id}/revoke": {"post": {"summary": "Revoke a task; terminate aborts a running attempt",
                "parameters": [id_param(), {"name": "terminate", "in": "query", "schema": {"type": "boolean"}}],
                "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object", "properties": {"terminate": {"type": "boolean"}}, "additionalProperties": false}}}},
                "responses": with_errors("202", json_ok("revoked", json!({"type": "object"})))}},
            "/api/workflows": {"post": {"summary": "Submit a canvas in its JSON form",
                "parameters": [idem_header],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Canvas"}}}},
                "responses": with_errors("202", json_ok("submitted", accepted))}},
            "/api/workflows/{id}": {"get": {"summary": "A workflow's DAG with each step's state",
                "parameters": [id_param()],
                "responses": with_errors("200", json_ok("the workflow", json!({"$ref": "#/components/schemas/Workflow"})))}},
            "/api/workers": {"get": {"summary": "Workers seen through heartbeats and events",
                "responses": with_errors("200", json_ok("workers", json!({"type": "object"})))}},
            "/api/queues": {"get": {"summary": "Queues and their partition lag",
                "responses": with_errors("200", json_ok("queues", json!({"type": "object"})))}},
            "/api/events": {"get": {"summary": "Live server-sent events: ready, task, worker",
                "parameters": [{"name": "access_token", "in": "query", "schema": {"type": "string"}, "description": "the bearer token, for EventSource"}],
                "responses": with_errors("200", json!({"description": "an event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}}))}},
            "/metrics": {"get": {"summary": "Prometheus metrics",
                "responses": with_errors("200", json!({"description": "text format 0.0.4", "content": {"text/plain": {"schema": {"type": "string"}}}}))}}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object",
                    "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
                "SubmitTask": {"type": "object", "required": ["task"], "additionalProperties": false, "properties": {
                    "task": {"type": "string"},
                    "args": {"type": "array", "items": {}},
                    "idempotency_key": {"type": "string", "minLength": 1, "maxLength": 200},
                    "options": {"type": "object", "additionalProperties": false, "properties": {
                        "countdown_ms": {"type": "integer", "minimum": 0},
                        "eta": {"type": "integer", "minimum": 0, "description": "ms since the epoch"},
                        "expires": {"type": "integer", "minimum": 0, "description": "ms since the epoch"},
                        "expires_in_ms": {"type": "integer", "minimum": 0},
                        "queue": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,100}$"},
                        "priority": {"type": "integer", "minimum": 0, "maximum": 9},
                        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                        "max_retries": {"type": "integer", "minimum": 0},
                        "soft_time_limit_ms": {"type": "integer", "minimum": 0},
                        "time_limit_ms": {"type": "integer", "minimum": 0}}}}},
                "Accepted": {"type": "object", "properties": {"id": {"type": "string", "format": "uuid"},
                    "state": {"type": "string"}, "duplicate": {"type": "boolean"}}},
                "Task": {"type": "object", "properties": {"id": {"type": "string", "format": "uuid"},
                    "task": {"type": "string", "nullable": true}, "state": {"type": "string"}, "result": {},
                    "error": {"type": "object", "nullable": true}}},
                "Canvas": {"type": "object", "description": "the JSON canvas form: {\"task\": ..}, {\"chain\": [..]}, {\"group\": [..]}, {\"chord\": {\"header\": [..], \"body\": ..}}, {\"map\": ..}, {\"starmap\": ..}, {\"chunks\": ..}; or {\"canvas\": .., \"idempotency_key\": ..}"},
                "Workflow": {"type": "object", "properties": {"id": {"type": "string", "format": "uuid"},
                    "state": {"type": "string"}, "steps": {"type": "array", "items": {"type": "object"}},
                    "edges": {"type": "array", "items": {"type": "object"}}}}
            }
        }
    })
}
