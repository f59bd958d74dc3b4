//! The coordinator process is killed with SIGKILL in the middle of a 10,000-member chord's
//! fan-in (every completion arriving twice); a new process on the same state directory
//! finishes it: the body is published exactly once and no result is recorded twice.
//!
//! The test binary runs itself as the child (`child_process_killed_by_the_parent`, which
//! does nothing unless the parent set `CELERIAC_COORDINATOR_CHILD`).

#![allow(clippy::unwrap_used)]

mod coordinator_support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use celeriac_canvas::{Canvas, Dag};
use celeriac_engine::coordinator::Coordinator;
use serde_json::json;
use uuid::Uuid;

use coordinator_support::log::{
    embedded, published, submit, terminal_results, wait_result, Worker,
};

const CHILD: &str = "CELERIAC_COORDINATOR_CHILD";

fn chord() -> Dag {
    let header = (0..10_000).map(|i| Canvas::task("add", vec![json!(i), json!(1)]));
    Canvas::chord(header, Canvas::partial("tsum", vec![]))
        .compile(Uuid::from_u128(42))
        .unwrap()
}

/// In the child: the log, a worker and a coordinator, reporting progress until killed.
#[test]
fn child_process_killed_by_the_parent() {
    let Some(dir) = std::env::var_os(CHILD).map(PathBuf::from) else {
        return; // run as an ordinary test: nothing to do
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let (log, names) = embedded(&dir.join("log")).await;
        let worker = Worker::spawn(log.clone(), names.clone(), true);
        let events = names.events();
        let coordinator = Coordinator::builder(log)
            .names(names)
            .state_dir(dir.join("state"))
            .max_batch(500);
        let handle = coordinator.build().unwrap().spawn();
        loop {
            // Completions the coordinator applied and wrote to its store so far.
            let applied: i64 = (handle.store().applied_offsets().unwrap())
                .iter()
                .filter(|(tp, _)| tp.topic == events)
                .map(|(_, next)| next)
                .sum();
            let executed = worker.executed.load(Ordering::Relaxed);
            println!("\nprogress {applied} {executed}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
}

fn spawn_child(dir: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "child_process_killed_by_the_parent",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_killed_mid_fan_in_runs_the_chord_body_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let dag = chord();
    {
        let (log, names) = embedded(&dir.path().join("log")).await;
        submit(log.as_ref(), &names, &dag.to_spec()).await;
    } // the child opens the log next: this process lets go of it

    let mut child = spawn_child(dir.path());
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut killed_at = None;
    for line in lines {
        let line = line.unwrap();
        let Some(progress) = line.strip_prefix("progress ") else {
            continue;
        };
        let mut numbers = progress.split(' ').map(|n| n.parse::<i64>().unwrap_or(0));
        let (applied, executed) = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
        // 20,000 completions will arrive (each member's twice): kill once some are applied.
        if applied >= 2_000 {
            child.kill().unwrap(); // SIGKILL
            killed_at = Some((applied, executed));
            break;
        }
    }
    let status = child.wait().unwrap();
    assert!(
        killed_at.is_some() && !status.success(),
        "the child must be killed mid-way ({status})"
    );

    let (log, names) = embedded(&dir.path().join("log")).await;
    let worker = Worker::spawn(log.clone(), names.clone(), true);
    let state = dir.path().join("state");
    let handle = Coordinator::builder(log.clone())
        .names(names.clone())
        .state_dir(state)
        .build()
        .unwrap()
        .spawn();
    let body = dag.step(dag.output()).task_id;
    let result = wait_result(handle.store(), &body, Duration::from_secs(30)).await;
    let total: serde_json::Value =
        serde_json::from_slice(result.result.as_deref().unwrap()).unwrap();
    assert_eq!(total, json!((0..10_000).map(|i| i + 1).sum::<i64>()));
    worker.stop().await;
    handle.shutdown().await.unwrap();

    let published = published(log.as_ref(), &names).await;
    assert_eq!(
        published.get(&body),
        Some(&1),
        "the body is published exactly once"
    );
    assert!(
        published.values().all(|n| *n == 1),
        "a member was published twice"
    );
    let results = terminal_results(log.as_ref(), &names).await;
    assert_eq!(results.len(), 10_001);
    assert!(
        results.values().all(|n| *n == 1),
        "a terminal result was recorded twice"
    );
    let (applied, executed) = killed_at.unwrap_or_default();
    eprintln!("killed with {applied} of 20000 completions applied, {executed} members executed");
}
