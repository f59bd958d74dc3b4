//! The command line through the built binary: `topics`, `control`, `workflow show` and
//! `inspect` on the embedded log in a temporary state directory, and `inspect`, `events` and
//! `control shutdown` against a running `celeriac worker` process on Kafka.

mod support;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when dropped, so a failing test leaves no worker behind.
struct Worker(Option<Child>);

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `celeriac` with the embedded log under `dir` (fresh topics per directory).
fn embedded(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_celeriac"));
    command
        .env_remove("CELERIAC_BROKERS")
        .args(["--prefix", "clitest"])
        .arg("--state-dir")
        .arg(dir);
    command
}

/// `celeriac` on the test broker under `prefix`.
fn on_kafka(prefix: &str, state: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_celeriac"));
    command
        .args(["--brokers", &support::brokers(), "--prefix", prefix])
        .arg("--state-dir")
        .arg(state);
    command
}

/// Runs to completion; returns stdout, failing with stderr when the exit is not success.
fn ok(command: &mut Command) -> String {
    let out = run(command);
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn run(command: &mut Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .expect("the celeriac binary runs")
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn topics_create_and_describe_show_partitions_and_lag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let created = ok(embedded(dir.path()).args(["topics", "create", "-Q", "default,math"]));
    assert!(created.contains("clitest.tasks.math"), "{created}");
    assert!(created.contains("clitest.replies"), "{created}");
    let sent = ok(embedded(dir.path()).args(["submit", "demo.add", "--args", "[1, 2]"]));
    assert!(sent.starts_with("sent demo.add as "), "{sent}");
    let text = ok(embedded(dir.path()).args(["topics", "describe"]));
    assert!(text.contains("clitest.events"), "{text}");
    assert!(text.contains("queue default"), "{text}");
    assert!(text.contains("lag 1"), "one message waits: {text}");
    let described = json(&ok(
        embedded(dir.path()).args(["--json", "topics", "describe"])
    ));
    let queues = described["queues"].as_array().expect("queues");
    let default = queues
        .iter()
        .find(|q| q["queue"] == "default")
        .expect("the default queue");
    assert_eq!(default["lag"], 1);
    assert_eq!(default["partitions"].as_array().map(Vec::len), Some(8));
    let math = queues.iter().find(|q| q["queue"] == "math").expect("math");
    assert_eq!(math["lag"], 0);
    let topics = described["topics"].as_array().expect("topics");
    assert!(topics
        .iter()
        .any(|t| t["topic"] == "clitest.results" && t["configs"]["cleanup.policy"] == "compact"));
}

#[test]
fn control_commands_are_sent_and_bad_input_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let id = uuid::Uuid::now_v7().to_string();
    let revoked = ok(embedded(dir.path()).args(["control", "revoke", &id]));
    assert!(revoked.contains("revoke sent to all workers"), "{revoked}");
    let limited = json(&ok(embedded(dir.path()).args([
        "--json",
        "control",
        "rate-limit",
        "demo.add",
        "10/s",
        "--destination",
        "w1@host",
    ])));
    assert_eq!(limited["sent"], "rate_limit");
    assert_eq!(limited["command"]["destination"], "w1@host");
    let bad_rate = run(embedded(dir.path()).args(["control", "rate-limit", "demo.add", "fast"]));
    assert!(!bad_rate.status.success());
    assert!(String::from_utf8_lossy(&bad_rate.stderr).contains("rate limit \"fast\""));
    let bad_id = run(embedded(dir.path()).args(["control", "terminate", "not-a-uuid"]));
    assert!(!bad_id.status.success());
    let nobody = run(embedded(dir.path()).args(["inspect", "ping", "--timeout", "300ms"]));
    assert!(!nobody.status.success(), "no worker runs");
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("no worker replied"));
}

#[test]
fn workflow_show_prints_steps_as_text_and_dot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let canvas = dir.path().join("canvas.json");
    std::fs::write(
        &canvas,
        r#"{"chain": [{"task": "demo.add", "args": [1, 2]}, {"task": "demo.add", "args": [3]}]}"#,
    )
    .expect("canvas written");
    let submitted = json(&ok(embedded(dir.path())
        .args(["--json", "submit", "--workflow"])
        .arg(&canvas)));
    let id = submitted["workflow"]
        .as_str()
        .expect("workflow id")
        .to_owned();
    let text = ok(embedded(dir.path()).args(["workflow", "show", &id]));
    assert!(text.contains(&format!("workflow {id} (2 steps)")), "{text}");
    assert_eq!(text.matches("PENDING").count(), 2, "{text}");
    let dot = ok(embedded(dir.path()).args(["workflow", "show", &id, "--format", "dot"]));
    assert!(dot.starts_with("digraph workflow {"), "{dot}");
    assert!(dot.contains("n0 -> n1"), "{dot}");
    assert!(dot.contains("fillcolor=\"white\""), "{dot}");
    let shown = json(&ok(
        embedded(dir.path()).args(["--json", "workflow", "show", &id])
    ));
    assert_eq!(shown["steps"].as_array().map(Vec::len), Some(2));
    assert_eq!(shown["output_task_id"], submitted["output_task"]);
    let unknown =
        run(embedded(dir.path()).args(["workflow", "show", &uuid::Uuid::now_v7().to_string()]));
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no workflow"));
}

#[test]
fn inspect_events_and_shutdown_against_a_worker_process() {
    support::require_broker();
    let dir = tempfile::tempdir().expect("tempdir");
    let prefix = format!("cli{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let state = dir.path().join("client");
    let mut worker = Worker(Some(
        on_kafka(&prefix, &dir.path().join("worker"))
            .args(["worker", "--concurrency", "3", "-E", "--grace", "5s"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the worker starts"),
    ));
    // The worker answers once it follows the control topic; each ping waits up to 3 s.
    let deadline = Instant::now() + Duration::from_secs(60);
    let pong = loop {
        let out =
            run(on_kafka(&prefix, &state).args(["--json", "inspect", "ping", "--timeout", "3s"]));
        let replies = json(&String::from_utf8_lossy(&out.stdout));
        if replies.as_object().is_some_and(|r| r.len() == 1) {
            break replies;
        }
        assert!(
            Instant::now() < deadline,
            "the worker never answered a ping"
        );
    };
    let (host, body) = pong
        .as_object()
        .and_then(|r| r.iter().next())
        .expect("one reply");
    assert_eq!(body["ok"], "pong");
    let text = ok(on_kafka(&prefix, &state).args(["inspect", "ping", "--timeout", "10s"]));
    assert!(text.contains(&format!("-> {host}: OK pong")), "{text}");
    assert!(text.contains("1 worker replied"), "{text}");

    let stats = json(&ok(on_kafka(&prefix, &state).args([
        "--json",
        "inspect",
        "stats",
        "--timeout",
        "10s",
    ])));
    assert_eq!(stats[host]["concurrency"], 3);
    let registered =
        ok(on_kafka(&prefix, &state).args(["inspect", "registered", "--timeout", "10s"]));
    assert!(registered.contains("* demo.add"), "{registered}");

    let sent = json(&ok(on_kafka(&prefix, &state)
        .args(["--json", "submit", "demo.add", "--args", "[2, 3]", "--wait"])));
    assert_eq!(sent["result"], 5, "{sent}");
    let events = ok(on_kafka(&prefix, &state).args([
        "events",
        "--from-beginning",
        "--no-heartbeats",
        "--limit",
        "2",
    ]));
    let lines: Vec<_> = events.lines().collect();
    assert_eq!(lines.len(), 2, "{events}");
    assert!(
        lines[0].contains(&format!("{host} RECEIVED")) && lines[0].contains("demo.add"),
        "{events}"
    );
    assert!(
        lines[1].contains("SUCCEEDED") && lines[1].contains("demo.add"),
        "{events}"
    );

    ok(on_kafka(&prefix, &state).args(["control", "shutdown", "--destination", host]));
    let child = worker.0.as_mut().expect("running");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the worker did not stop on `control shutdown`"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "the worker exited with {status}");
    worker.0 = None;
}
