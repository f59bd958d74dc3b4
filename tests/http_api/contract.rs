//! `/openapi.json` tells the truth: schemathesis generates requests from the document served
//! and checks every answer against it (status codes, content types, response schemas, valid
//! data accepted, invalid data refused), once against a loopback server without a token and
//! once against a token-protected one. Zero failures on both.
//!
//! Needs schemathesis (`scripts/setup --with-python`). Without it the test fails and says so;
//! it is never skipped. The run is bounded: a fixed seed and a fixed number of examples per
//! operation.

use std::path::PathBuf;
use std::time::Duration;

use tokio::process::Command;

use crate::client::{options, Served};
use crate::support::Backend;

/// The seed, so a failure reproduces.
const SEED: &str = "20260518";
/// Generated cases per operation and phase (about 3,000 requests per server in all).
const EXAMPLES: &str = "15";
/// One run against one server takes well under this (about 35 s here).
const BOUND: Duration = Duration::from_secs(90);

fn schemathesis() -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("schemathesis"))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "schemathesis is not installed: run `scripts/setup --with-python` (pip install schemathesis)"
            )
        })
}

/// A fresh app with `add`, `mul` and `tsum` (no task that sleeps on a generated number),
/// a worker and `celeriac serve` on 127.0.0.1:0.
async fn serve(token: Option<&str>) -> Served {
    let test = crate::support::app(Backend::Embedded).await;
    let app = &test.app;
    app.task(
        "add",
        |(x, y): (i64, i64)| async move { Ok(x.wrapping_add(y)) },
    )
    .expect("add");
    app.task(
        "mul",
        |(x, y): (i64, i64)| async move { Ok(x.wrapping_mul(y)) },
    )
    .expect("mul");
    app.task("tsum", |xs: Vec<i64>| async move {
        Ok(xs.into_iter().fold(0i64, i64::wrapping_add))
    })
    .expect("tsum");
    let worker = app.worker().spawn();
    // Long polls are bounded by the request timeout (the document says so): a short one keeps
    // the generated waits short.
    let mut options = options(token);
    options.request_timeout = Duration::from_secs(3);
    let server = app.serve(options).await.expect("the server starts");
    let addr = server.local_addr();
    Served {
        test,
        worker: Some(worker),
        server: Some(server),
        addr,
        token: token.map(str::to_owned),
    }
}

/// Runs schemathesis against `served`; its report when it found anything.
async fn run(served: &Served, bin: &PathBuf) -> Result<String, String> {
    let url = format!("http://{}/openapi.json", served.addr);
    // Its cache and reports go to a directory of the run's own; an event stream is read up to
    // its first event (`ready`), since it never ends.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(&config, "max-stream-events = 1\n").expect("config");
    let mut command = Command::new(bin);
    command
        .current_dir(dir.path())
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(&url)
        .args([
            "--checks",
            "all",
            "--seed",
            SEED,
            "--max-examples",
            EXAMPLES,
        ])
        .args(["--phases", "examples,coverage,fuzzing", "--workers", "2"])
        .args(["--request-timeout", "20", "--no-shrink"])
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", "")
        .kill_on_drop(true);
    if let Some(token) = &served.token {
        command.args(["--header", &format!("Authorization: Bearer {token}")]);
    }
    let output = tokio::time::timeout(BOUND, command.output())
        .await
        .expect("schemathesis finished within its bound")
        .expect("schemathesis runs");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(report)
    } else {
        Err(report)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_contract_failure_with_or_without_a_token() {
    let bin = schemathesis();
    let mut failures = Vec::new();
    for token in [None, Some("contract-token")] {
        let served = serve(token).await;
        match run(&served, &bin).await {
            Ok(report) => {
                let summary = report.lines().rev().find(|l| l.contains("passed"));
                eprintln!("token {token:?}: {}", summary.unwrap_or("passed"));
            }
            Err(report) => failures.push(format!("token {token:?}:\n{report}")),
        }
        served.stop().await;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
