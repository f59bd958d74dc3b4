//! The processes under test: workers, beats and the HTTP front, each a child process of this
//! binary with its own state directory, log file and (optionally) clock offset.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// What a child process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Worker,
    Beat,
    Serve,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Worker => "worker",
            Role::Beat => "beat",
            Role::Serve => "serve",
        }
    }
}

/// How to start one process again after a kill: everything but its pid.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) role: Role,
    pub(crate) index: usize,
    pub(crate) state_dir: PathBuf,
    pub(crate) clock_offset_ms: i64,
    pub(crate) args: Vec<String>,
}

impl Spec {
    /// `worker-2`, `beat-1`, `serve-1`.
    pub(crate) fn label(&self) -> String {
        format!("{}-{}", self.role.name(), self.index)
    }
}

/// One child process and what the run knows of it.
#[derive(Debug)]
pub(crate) struct Proc {
    pub(crate) spec: Spec,
    child: Option<Child>,
    log: PathBuf,
    /// Set while the run has it stopped (SIGSTOP) or dead on purpose.
    pub(crate) paused: bool,
    /// Starts of this slot so far (the first counts).
    pub(crate) starts: u32,
}

/// The environment every child shares: the binary, brokers, prefix, configuration, run dir.
#[derive(Debug, Clone)]
pub(crate) struct Env {
    pub(crate) binary: PathBuf,
    pub(crate) brokers: String,
    pub(crate) prefix: String,
    pub(crate) config: PathBuf,
    pub(crate) dir: PathBuf,
}

impl Proc {
    /// Starts the process `spec` describes.
    pub(crate) fn start(env: &Env, spec: Spec) -> anyhow::Result<Proc> {
        let log = env.dir.join(format!("{}.log", spec.label()));
        let mut proc = Proc {
            spec,
            child: None,
            log,
            paused: false,
            starts: 0,
        };
        proc.restart(env)?;
        Ok(proc)
    }

    /// Starts the process again (after it was killed), appending to its log.
    pub(crate) fn restart(&mut self, env: &Env) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.spec.state_dir)?;
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let child = Command::new(&env.binary)
            .arg(self.spec.role.name())
            .args(&self.spec.args)
            .env("CELERIAC_BROKERS", &env.brokers)
            .env("CELERIAC_PREFIX", &env.prefix)
            .env("CELERIAC_CONFIG", &env.config)
            .env("CELERIAC_STATE_DIR", &self.spec.state_dir)
            .env(
                celeriac_schemas::CLOCK_OFFSET_VAR,
                self.spec.clock_offset_ms.to_string(),
            )
            .env(
                "CELERIAC_LOG",
                "warn,celeriac_engine::coordinator=info,celeriac_engine::beat=info,rdkafka::consumer::base_consumer=off,librdkafka=off",
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.spec.label()))?;
        self.child = Some(child);
        self.paused = false;
        self.starts += 1;
        Ok(())
    }

    /// The process id, while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends `signal` (`KILL`, `STOP`, `CONT`, `TERM`).
    pub(crate) fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let pid = self.pid().context("the process is not running")?;
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()?;
        anyhow::ensure!(status.success(), "kill -{signal} {pid} failed");
        Ok(())
    }

    /// kill -9, and waits until it is gone.
    pub(crate) fn kill9(&mut self) -> anyhow::Result<()> {
        self.signal("KILL")?;
        if let Some(mut child) = self.child.take() {
            child.wait()?;
        }
        Ok(())
    }

    /// SIGTERM, then waits up to `grace` for a clean exit (kill -9 after it).
    pub(crate) fn terminate(&mut self, grace: Duration) -> anyhow::Result<ExitStatus> {
        if self.paused {
            let _ = self.signal("CONT");
        }
        self.signal("TERM")?;
        let mut child = self.child.take().context("the process is not running")?;
        let deadline = Instant::now() + grace;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Ok(child.wait()?);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The exit status of a process that ended without being killed by the run.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => {
                self.child = None;
                Some(status)
            }
            _ => None,
        }
    }

    /// The last `lines` lines of its log.
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }
}

/// A process the run still holds when it is dropped — a run that failed, or a runner stopped
/// by a signal — is killed with it, so no process under test outlives the run.
impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill(); // SIGKILL ends a frozen (SIGSTOP) process too
            let _ = child.wait();
        }
    }
}

/// The last `lines` lines of a file.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_process_is_killed_even_when_frozen() {
        let child = Command::new("sleep").arg("600").spawn().expect("sleep");
        let pid = child.id();
        let proc = Proc {
            spec: Spec {
                role: Role::Worker,
                index: 1,
                state_dir: PathBuf::new(),
                clock_offset_ms: 0,
                args: Vec::new(),
            },
            child: Some(child),
            log: PathBuf::new(),
            paused: true,
            starts: 1,
        };
        proc.signal("STOP").expect("freeze it");
        drop(proc);
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} outlived its run"
        );
    }
}
