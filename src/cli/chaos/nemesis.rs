//! Nemeses: the faults a run injects, chosen by the seed — kill -9 of a worker (restarted after
//! a pause, sometimes with its state directory gone), SIGSTOP for a while then SIGCONT (a
//! zombie that must be fenced), kill -9 of a broker and its restart, a rolling restart of every
//! broker, a worker restarted with its clock off.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::Context as _;

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Nemesis {
    KillWorker,
    KillWorkerFresh,
    PauseWorker,
    KillBroker,
    RollingRestart,
    ClockOffset,
}

impl Nemesis {
    /// Every kind, in a fixed order.
    pub(crate) const ALL: [Nemesis; 6] = [
        Nemesis::KillWorker,
        Nemesis::KillWorkerFresh,
        Nemesis::PauseWorker,
        Nemesis::KillBroker,
        Nemesis::RollingRestart,
        Nemesis::ClockOffset,
    ];

    /// A short name for reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Nemesis::KillWorker => "kill -9 worker",
            Nemesis::KillWorkerFresh => "kill -9 worker, state deleted",
            Nemesis::PauseWorker => "SIGSTOP worker",
            Nemesis::KillBroker => "kill -9 broker",
            Nemesis::RollingRestart => "rolling broker restart",
            Nemesis::ClockOffset => "worker clock offset",
        }
    }

    /// How many processes (workers or brokers) one run of this fault kills with SIGKILL.
    pub(crate) fn kills(self) -> usize {
        match self {
            Nemesis::PauseWorker | Nemesis::RollingRestart => 0,
            _ => 1,
        }
    }

    /// True for the faults of the brokers.
    pub(crate) fn hits_brokers(self) -> bool {
        matches!(self, Nemesis::KillBroker | Nemesis::RollingRestart)
    }

    /// True for the faults that end a worker process abruptly (takeover is measured for them).
    pub(crate) fn kills_a_worker(self) -> bool {
        matches!(
            self,
            Nemesis::KillWorker | Nemesis::KillWorkerFresh | Nemesis::ClockOffset
        )
    }
}

/// The order nemeses come in: every kind once (shuffled by the seed), then picks by the seed.
pub(crate) struct Schedule {
    first: Vec<Nemesis>,
    rng: fastrand::Rng,
}

impl Schedule {
    pub(crate) fn new(seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed_cafe);
        let mut first = Nemesis::ALL.to_vec();
        rng.shuffle(&mut first);
        first.reverse(); // popped from the back
        Schedule { first, rng }
    }

    /// The next fault.
    pub(crate) fn next(&mut self) -> Nemesis {
        self.first
            .pop()
            .unwrap_or_else(|| Nemesis::ALL[self.rng.usize(0..Nemesis::ALL.len())])
    }

    /// A duration in `[low, high]` seconds, by the seed.
    pub(crate) fn seconds(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(self.rng.u64(low * 1000..=high * 1000))
    }

    /// An index in `0..n`, by the seed.
    pub(crate) fn index(&mut self, n: usize) -> usize {
        self.rng.usize(0..n.max(1))
    }

    /// A clock offset of ±0.5–3 s, by the seed.
    pub(crate) fn clock_offset_ms(&mut self) -> i64 {
        let ms = self.rng.i64(500..=3_000);
        if self.rng.bool() {
            ms
        } else {
            -ms
        }
    }
}

/// The cluster under test, steered through `scripts/kafka`.
#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    pub(crate) script: PathBuf,
    pub(crate) nodes: usize,
    /// `KAFKA_PORT` of the cluster (its first node).
    pub(crate) port: u16,
}

impl Cluster {
    fn run(&self, verb: &str, node: usize) -> anyhow::Result<()> {
        let out = Command::new(&self.script)
            .arg(verb)
            .arg(node.to_string())
            .env("KAFKA_PORT", self.port.to_string())
            .output()
            .with_context(|| format!("running {} {verb} {node}", self.script.display()))?;
        anyhow::ensure!(
            out.status.success(),
            "`scripts/kafka {verb} {node}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    /// kill -9 of node `node` (1-based).
    pub(crate) fn kill(&self, node: usize) -> anyhow::Result<()> {
        self.run("kill-broker", node)
    }

    /// Clean stop of node `node`.
    pub(crate) fn stop(&self, node: usize) -> anyhow::Result<()> {
        self.run("stop-broker", node)
    }

    /// Starts node `node` and waits until it answers.
    pub(crate) fn start(&self, node: usize) -> anyhow::Result<()> {
        self.run("start-broker", node)
    }
}
