//! The FastAPI example of the Celery guide, in axum: `POST /add?a=1&b=2` enqueues `add` and
//! answers the task id; `GET /result/{id}` answers the task's state and result.
//!
//! ```python
//! @app.post("/add")
//! def enqueue_add(a: int, b: int):
//!     task = add.delay(a, b)
//!     return {"task_id": task.id}
//! ```
//!
//! Here the web app, a worker and a client share one process so the example runs and exits
//! on its own: it serves on 127.0.0.1 (a free port), calls itself once, prints, and stops.
//!
//! ```sh
//! cargo run --example http_api
//! ```
//!
//! (`celeriac serve` is the same idea, ready-made: every task by name, workflows, revoke,
//! workers, queues, live events, metrics and a dashboard.)

use std::net::SocketAddr;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use celeriac::engine::AsyncResult;
use celeriac::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The query of `POST /add`.
#[derive(Deserialize)]
struct AddQuery {
    a: i64,
    b: i64,
}

/// The web app's state: the Celeriac app and the `add` task's handle.
#[derive(Clone)]
struct Web {
    app: App,
    add: Task<(i64, i64), i64>,
}

/// `POST /add?a=1&b=2` → `{"task_id": ..}` (`add.delay(a, b)`).
async fn enqueue_add(
    State(web): State<Web>,
    Query(query): Query<AddQuery>,
) -> Result<Json<Value>, (StatusCode, String)> {
    let task = web
        .add
        .delay((query.a, query.b))
        .await
        .map_err(unavailable)?;
    Ok(Json(json!({ "task_id": task.id() })))
}

/// `GET /result/{id}` → `{"task_id", "status", "result"}` (`AsyncResult(id)`).
async fn result(
    State(web): State<Web>,
    Path(id): Path<uuid::Uuid>,
) -> Result<Json<Value>, (StatusCode, String)> {
    let handle = AsyncResult::<i64>::from_id(&web.app, id);
    let status = handle.state().await.map_err(unavailable)?;
    let value = if status.is_terminal() {
        handle.get(secs(5)).await.ok()
    } else {
        None
    };
    Ok(Json(
        json!({ "task_id": id, "status": format!("{status:?}").to_uppercase(), "result": value }),
    ))
}

fn unavailable(error: celeriac::Error) -> (StatusCode, String) {
    (StatusCode::SERVICE_UNAVAILABLE, error.to_string())
}

/// One HTTP/1.1 request over a plain TCP stream; the response body as JSON.
async fn call(addr: SocketAddr, method: &str, path: &str) -> anyhow::Result<Value> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("not an HTTP response: {response:?}"))?;
    anyhow::ensure!(head.starts_with("HTTP/1.1 200"), "{method} {path}: {head}");
    Ok(serde_json::from_str(body)?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let app = App::from_env().await?;
    let add = app.task("add", |(x, y): (i64, i64)| async move { Ok(x + y) })?;
    let worker = app.worker().spawn(); // `celeriac worker` in its own process, in real life

    let web = Router::new()
        .route("/add", post(enqueue_add))
        .route("/result/{id}", get(result))
        .with_state(Web {
            app: app.clone(),
            add,
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let stop = tokio_util::sync::CancellationToken::new();
    let stopped = stop.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, web)
            .with_graceful_shutdown(stopped.cancelled_owned())
            .await
    });
    println!("serving on http://{addr}");

    let sent = call(addr, "POST", "/add?a=1&b=2").await?;
    println!("POST /add?a=1&b=2 -> {sent}");
    let id: uuid::Uuid = sent["task_id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no task_id in {sent}"))?
        .parse()?;
    // Wait for the worker, then ask the web app like any client would.
    AsyncResult::<i64>::from_id(&app, id).get(secs(30)).await?;
    let shown = call(addr, "GET", &format!("/result/{id}")).await?;
    println!("GET /result/{id} -> {shown}");
    anyhow::ensure!(shown["result"] == 3, "1 + 2 should be 3: {shown}");

    stop.cancel();
    server.await??;
    worker.shutdown().await?;
    Ok(())
}
