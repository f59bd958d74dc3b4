//! The dashboard in a real headless Chromium, driven through chromedriver's WebDriver API on
//! 127.0.0.1: what a person sees — the worker list, the task table, a finished-task counter
//! that moves when tasks run, and a workflow's DAG with each step's state.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/setup --with-browser`, which
//! `scripts/test` runs). Without them the test fails and says so; it is never skipped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::{accepted_id, request, serve};
use crate::support::Backend;
use celeriac::engine::AsyncResult;
use celeriac::prelude::*;
use serde_json::{json, Value};

/// How long the browser may take to show something.
const BOUND: Duration = Duration::from_secs(60);

fn find(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// chromedriver, killed when dropped.
struct Driver {
    child: Child,
    addr: std::net::SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start() -> Driver {
        let driver = find("chromedriver").unwrap_or_else(|| {
            panic!("chromedriver is not installed: run `scripts/setup --with-browser` (Debian: chromium chromium-driver)")
        });
        let browser = find("chromium").unwrap_or_else(|| {
            panic!("chromium is not installed: run `scripts/setup --with-browser` (Debian: chromium chromium-driver)")
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let profile = tempfile::tempdir().expect("profile dir");
        let mut driver = Driver {
            child,
            addr,
            session: String::new(),
            _profile: profile,
        };
        let started = Instant::now();
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(
                started.elapsed() < BOUND,
                "chromedriver did not listen on {addr}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": browser,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         format!("--user-data-dir={}", driver._profile.path().display())],
            }
        }}});
        let created = driver.call("POST", "/session", Some(capabilities)).await;
        driver.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_owned();
        driver
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string());
        let answer = request(
            self.addr,
            method,
            path,
            &[],
            body.as_deref().map(str::as_bytes),
        )
        .await;
        let value = answer.json();
        assert_eq!(answer.status, 200, "WebDriver {method} {path}: {value}");
        value["value"].clone()
    }

    async fn open(&self, url: &str) {
        let path = format!("/session/{}/url", self.session);
        self.call("POST", &path, Some(json!({"url": url}))).await;
    }

    async fn js(&self, script: &str) -> Value {
        let path = format!("/session/{}/execute/sync", self.session);
        self.call("POST", &path, Some(json!({"script": script, "args": []})))
            .await
    }

    /// Evaluates `script` until `ok` accepts its value (the page updates on its own clock).
    async fn until(&self, what: &str, script: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let value = self.js(script).await;
            if ok(&value) {
                return value;
            }
            assert!(
                started.elapsed() < BOUND,
                "{what}: the page shows {value} after {BOUND:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn quit(&self) {
        let path = format!("/session/{}", self.session);
        self.call("DELETE", &path, None).await;
    }
}

fn count(value: &Value) -> i64 {
    value
        .as_str()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_workers_tasks_a_moving_counter_and_a_workflow() {
    let served = serve(Backend::Embedded, None).await;
    let driver = Driver::start().await;
    driver.open(&format!("http://{}/", served.addr)).await;

    let hostname = served.test.app.hostname().to_owned();
    let workers = "return document.querySelector('#workers tbody').innerText";
    driver
        .until("the worker list", workers, |v| {
            v.as_str()
                .is_some_and(|t| t.contains(&hostname) && t.contains("online"))
        })
        .await;
    driver
        .until(
            "the live badge",
            "return document.getElementById('connection').innerText",
            |v| v == "live",
        )
        .await;
    let before = count(
        &driver
            .js("return document.getElementById('finished-count').innerText")
            .await,
    );
    assert_eq!(before, 0, "nothing finished yet");

    let mut ids = Vec::new();
    for i in 0..5 {
        let sent = served
            .post("/api/tasks", json!({"task": "add", "args": [i, i]}))
            .await;
        ids.push(accepted_id(&sent));
    }
    for id in &ids {
        AsyncResult::<i64>::from_id(&served.test.app, *id)
            .get(secs(60))
            .await
            .expect("runs");
    }
    driver
        .until(
            "the finished counter",
            "return document.getElementById('finished-count').innerText",
            |v| count(v) >= 5,
        )
        .await;
    let rows = "return Array.from(document.querySelectorAll('#tasks tbody tr')).map(r => r.innerText).join('\\n')";
    let table = driver
        .until("the task table", rows, |v| {
            v.as_str()
                .is_some_and(|t| ids.iter().all(|id| t.contains(&id.to_string())))
        })
        .await;
    assert!(
        table
            .as_str()
            .is_some_and(|t| t.matches("SUCCESS").count() >= 5),
        "{table}"
    );

    // The throughput chart drew bars (the green of its bars) for the finished tasks.
    let green = "const c = document.getElementById('throughput'); \
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; \
        for (let i = 0; i < d.length; i += 4) { if (d[i] === 76 && d[i + 1] === 175 && d[i + 2] === 80) n++; } \
        return n";
    driver
        .until("the throughput chart", green, |v| {
            v.as_i64().is_some_and(|n| n > 0)
        })
        .await;

    // Filter by state: a FAILURE filter empties the table.
    driver
        .js("const s = document.getElementById('filter-state'); s.value = 'FAILURE'; s.dispatchEvent(new Event('input')); return true")
        .await;
    driver
        .until(
            "the state filter",
            "return document.querySelectorAll('#tasks tbody tr').length",
            |v| v == 0,
        )
        .await;

    // A workflow's DAG, each step with its state.
    let canvas = json!({"chain": [{"task": "add", "args": [1, 2]}, {"task": "mul", "args": [10], "partial": true}]});
    let sent = served.post("/api/workflows", canvas).await;
    let workflow = accepted_id(&sent);
    let output: uuid::Uuid = sent.json()["output_task_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("output");
    assert_eq!(
        AsyncResult::<i64>::from_id(&served.test.app, output)
            .get(secs(60))
            .await
            .expect("runs"),
        30
    );
    driver
        .js(&format!("document.getElementById('workflow-id').value = '{workflow}'; document.querySelector('#workflow-form button').click(); return true"))
        .await;
    let states = "return Array.from(document.querySelectorAll('#workflow-dag .node')).map(n => n.getAttribute('data-state') + ' ' + n.textContent)";
    let nodes = driver
        .until("the workflow DAG", states, |v| {
            v.as_array().is_some_and(|n| {
                n.len() == 2
                    && n.iter()
                        .all(|s| s.as_str().is_some_and(|s| s.starts_with("SUCCESS")))
            })
        })
        .await;
    assert!(
        nodes.to_string().contains("add") && nodes.to_string().contains("mul"),
        "{nodes}"
    );
    let edges = driver
        .js("return document.querySelectorAll('#workflow-dag path.edge').length")
        .await;
    assert_eq!(edges, 1, "one edge from add to mul");

    driver.quit().await;
    served.stop().await;
}
