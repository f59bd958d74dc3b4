//! `celeriac serve` as a person starts it: the built binary with its demo tasks and an
//! in-process worker, then refusing a non-loopback address without a token.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::client::{accepted_id, get, post};

/// The child process, killed when dropped so a failing test leaves no server behind.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn celeriac(state: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_celeriac"));
    command
        .env("CELERIAC_STATE_DIR", state)
        .env("CELERIAC_BROKERS", "")
        .env_remove("CELERIAC_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serve_command_serves_the_demo_tasks_and_needs_a_token_off_loopback() {
    let state = tempfile::tempdir().expect("state dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let _server = Killed(
        celeriac(state.path())
            .args(["serve", "--worker", "--bind", &addr.to_string()])
            .spawn()
            .expect("celeriac serve starts"),
    );
    let started = Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "celeriac serve did not listen on {addr}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let id = accepted_id(
        &post(
            addr,
            "/api/tasks",
            &json!({"task": "demo.add", "args": [20, 22]}),
            None,
        )
        .await,
    );
    let shown = get(addr, &format!("/api/tasks/{id}?wait_ms=20000"), None).await;
    assert_eq!(shown.json()["result"], 42, "{}", shown.text());

    let other = tempfile::tempdir().expect("state dir");
    let refused = celeriac(other.path())
        .args(["serve", "--bind", "0.0.0.0:0"])
        .output()
        .expect("runs");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("token"), "says a token is needed: {stderr}");
}
