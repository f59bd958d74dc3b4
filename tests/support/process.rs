//! Worker processes of the stock `celeriac` binary, for tests that kill and restart them.

use std::process::{Child, Command, Stdio};

use super::TestApp;

/// A child process killed when dropped, so a failing test leaves no worker behind.
pub struct Worker(Option<Child>);

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Worker {
    /// The child, which the caller now stops itself.
    pub fn take(mut self) -> Child {
        self.0.take().expect("the child is there until taken")
    }

    /// The process id (worker hostnames end in `@pid`).
    pub fn pid(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }

    /// Kills the process with SIGKILL (no drain, no goodbye) and reaps it.
    pub fn kill_9(self) {
        let mut child = self.take();
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
    }
}

/// The binary under test: `CELERIAC_TEST_BIN` if set (a copy built elsewhere), else the one
/// cargo built with these tests.
pub fn celeriac_binary() -> std::path::PathBuf {
    std::env::var_os("CELERIAC_TEST_BIN")
        .map(Into::into)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_celeriac").into())
}

/// A `celeriac worker` process (the stock binary, with its demo tasks) on `test`'s topics.
pub fn worker_process(test: &TestApp, name: &str, extra: &[&str]) -> Worker {
    let state = test.dir.path().join(name);
    Command::new(celeriac_binary())
        .args([
            "--brokers",
            &super::brokers(),
            "--prefix",
            test.app.names().prefix(),
        ])
        .arg("--state-dir")
        .arg(&state)
        .args(["worker", "--grace", "5s"])
        .args(if extra.contains(&"--concurrency") {
            &[][..]
        } else {
            &["--concurrency", "4"][..]
        })
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map(|child| Worker(Some(child)))
        .expect("the celeriac binary starts")
}

/// Sends SIGTERM and waits for the exit status.
pub fn terminate(mut child: Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "SIGTERM delivered");
    child.wait().expect("the worker exits")
}
