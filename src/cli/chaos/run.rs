//! One chaos run: set up, drive load under faults, wait for quiet, check, report.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use celeriac_engine::{App, Config};
use celeriac_schemas::{now_millis, Record as _, TaskMessage};
use celeriac_topics::{partition_for_key, OutRecord};
use tokio::sync::Mutex;

use super::check::{Acked, Checker, Expectations, Poison, Violation};
use super::history::History;
use super::nemesis::{Cluster, Nemesis, Schedule};
use super::procs::{Env, Proc, Role, Spec};
use super::workload::Workload;
use super::ChaosArgs;

/// How long, after the load, every acknowledged workflow has to finish: more than a member
/// stuck past `max.poll.interval.ms` (120 s) needs to lose its partitions and another to
/// finish its work.
const QUIET_WITHIN: Duration = Duration::from_secs(240);

/// The beat entry every run schedules.
const BEAT_ENTRY: &str = "chaos-tick";

/// One fault as it happened.
#[derive(Debug, Clone)]
struct Fault {
    nemesis: Nemesis,
    at_ms: i64,
    detail: String,
    /// When it was undone (the process restarted or woken, the broker back).
    ended_ms: i64,
    /// The worker it killed or froze (its label), if any.
    worker: Option<String>,
}

/// One takeover: kill -9 (or SIGSTOP) to work resuming on the worker's partitions.
#[derive(Debug, Clone, Copy)]
struct Takeover {
    ms: i64,
    /// A broker fault ran meanwhile, so the wait is not the takeover's alone.
    with_broker_fault: bool,
}

/// What a run found.
pub(crate) struct Outcome {
    seed: u64,
    pub(crate) violations: Vec<Violation>,
    faults: Vec<Fault>,
    acked: usize,
    results: usize,
    load_secs: f64,
    takeovers: BTreeMap<Nemesis, Vec<Takeover>>,
    longest_gap_ms: i64,
    /// How long acknowledged submissions took, in milliseconds, sorted.
    submit_ms: Vec<u64>,
    dir: PathBuf,
}

/// The processes of a run, shared by the load and the nemeses.
struct Procs {
    env: Env,
    workers: Vec<Proc>,
    others: Vec<Proc>,
    /// Processes that ended without the run ending them: (label, status, log tail).
    unexpected: Vec<(String, String, String)>,
}

impl Procs {
    /// Notes every process that ended on its own (a violation) and starts it again.
    fn reap(&mut self) {
        let env = self.env.clone();
        for proc in self.workers.iter_mut().chain(self.others.iter_mut()) {
            if let Some(status) = proc.exited() {
                self.unexpected
                    .push((proc.spec.label(), status.to_string(), proc.log_tail(30)));
                let _ = proc.restart(&env);
            }
        }
    }
}

#[derive(Clone)]
pub(crate) struct Run {
    seed: u64,
    args: ChaosArgs,
    cluster: String,
    dir: PathBuf,
    keep_dir: bool,
    prefix: String,
}

impl Run {
    pub(crate) fn new(seed: u64, cluster: &str, args: &ChaosArgs) -> anyhow::Result<Run> {
        let id = uuid::Uuid::now_v7().simple().to_string();
        let prefix = format!("chaos{seed}-{}", &id[id.len() - 8..]);
        let (dir, keep_dir) = match &args.dir {
            Some(dir) => (dir.join(&prefix), true),
            None => (
                std::env::temp_dir().join(format!("celeriac-{prefix}")),
                false,
            ),
        };
        std::fs::create_dir_all(&dir)?;
        Ok(Run {
            seed,
            args: args.clone(),
            cluster: cluster.to_owned(),
            dir,
            keep_dir,
            prefix,
        })
    }

    fn load_duration(&self) -> Duration {
        self.args
            .minutes
            .map_or(self.args.load, |m| Duration::from_secs_f64(m * 60.0))
    }

    /// The configuration every process reads: the beat entry, worker settings.
    fn write_config(&self) -> anyhow::Result<PathBuf> {
        let path = self.dir.join("celeriac.toml");
        std::fs::write(
            &path,
            format!(
                r#"partitions = 8
connect-timeout = "30s"

[worker]
concurrency = 4
events = true
grace = "10s"

[beat]
grace = "5m"
tick = "250ms"

[beat.entries.{BEAT_ENTRY}]
task = "demo.noop"
every = "1s"
catch-up = "fire-each"
"#
            ),
        )?;
        Ok(path)
    }

    pub(crate) async fn execute(self) -> anyhow::Result<Outcome> {
        eprintln!(
            "chaos: seed {} on {} ({} workers, {:?} of load, prefix {})",
            self.seed,
            self.cluster,
            self.args.workers,
            self.load_duration(),
            self.prefix
        );
        let config_path = self.write_config()?;
        let mut config = Config::load(Some(&config_path))?;
        config.brokers = Some(self.cluster.clone());
        config.prefix = Some(self.prefix.clone());
        config.state_dir = Some(self.dir.join("client"));
        let app = celeriac_engine::AppBuilder::from_config(&config)?
            .hostname(format!("chaos-client@{}", std::process::id()))
            .build()
            .await
            .context("connecting to the cluster under test")?;
        app.register_demo_tasks()?;
        let serve_port = free_port()?;
        let env = Env {
            binary: self.pin_binary()?,
            brokers: self.cluster.clone(),
            prefix: self.prefix.clone(),
            config: config_path,
            dir: self.dir.clone(),
        };
        let procs = Arc::new(Mutex::new(self.start_processes(&env, serve_port)?));
        self.await_workers(&app).await?;
        let load_started = now_millis();
        let faults = Arc::new(Mutex::new(Vec::new()));
        let stop_faults = tokio_util::sync::CancellationToken::new();
        let nemeses = {
            let (this, procs, faults, stop) = (
                self.clone(),
                Arc::clone(&procs),
                Arc::clone(&faults),
                stop_faults.clone(),
            );
            tokio::spawn(async move { this.nemeses(procs, faults, stop).await })
        };
        let (acked, poison, mut submit_ms) = self
            .drive_load(&app, serve_port, Arc::clone(&procs), &faults)
            .await?;
        submit_ms.sort_unstable();
        let load_ended = now_millis();
        stop_faults.cancel();
        nemeses.await??;
        eprintln!(
            "chaos: load done ({} workflows acknowledged); waiting for quiet",
            acked.len()
        );
        self.await_quiet(&app, &acked, &procs).await?;
        let beat_until = now_millis();
        let mut violations = self.stop_processes(&procs).await;
        // Read once nothing runs: a beat still firing while the topics are read one by one
        // would leave a fire on the beat topic whose task was published after its topic's read.
        let history = read_history(&app).await?;
        let expectations = Expectations {
            acked: acked.clone(),
            poison,
            beat_entry: BEAT_ENTRY.into(),
            beat_from_ms: load_started + 10_000,
            beat_until_ms: beat_until - 5_000,
            skew_ms: 3_000 + 500,
        };
        violations.extend(Checker::new(&history, &expectations).run());
        let faults = faults.lock().await.clone();
        let owners = |fault: &Fault| {
            let label = fault.worker.as_deref()?;
            let log = std::fs::read_to_string(self.dir.join(format!("{label}.log"))).ok()?;
            owned_at(&log, fault.at_ms)
        };
        let takeovers = takeovers(
            &history,
            &faults,
            app.names().coordinator_partitions,
            owners,
        );
        let results = history
            .results
            .iter()
            .filter(|r| r.value.state.is_terminal())
            .count();
        Ok(Outcome {
            seed: self.seed,
            violations,
            acked: acked.len(),
            results,
            load_secs: (load_ended - load_started) as f64 / 1000.0,
            longest_gap_ms: longest_gap(&history, load_started, load_ended),
            submit_ms,
            takeovers,
            faults,
            dir: self.dir.clone(),
        })
        .inspect(|outcome| {
            if outcome.violations.is_empty() && !self.keep_dir {
                let _ = std::fs::remove_dir_all(&self.dir);
            }
        })
    }

    /// The binary every process of the run starts from: a link to this one, so that a build
    /// replacing it meanwhile does not change the processes restarted during the run.
    fn pin_binary(&self) -> anyhow::Result<PathBuf> {
        let current = std::env::current_exe()?;
        let pinned = self.dir.join("celeriac-under-test");
        let _ = std::fs::remove_file(&pinned);
        if std::fs::hard_link(&current, &pinned).is_err() {
            std::fs::copy(&current, &pinned)
                .with_context(|| format!("copying {} for the run", current.display()))?;
        }
        Ok(pinned)
    }

    fn start_processes(&self, env: &Env, serve_port: u16) -> anyhow::Result<Procs> {
        let mut workers = Vec::new();
        for index in 1..=self.args.workers {
            let spec = Spec {
                role: Role::Worker,
                index,
                state_dir: self.dir.join(format!("worker-{index}")),
                clock_offset_ms: 0,
                args: vec!["--concurrency".into(), "4".into()],
            };
            workers.push(Proc::start(env, spec)?);
        }
        let mut others = Vec::new();
        for index in 1..=2 {
            let spec = Spec {
                role: Role::Beat,
                index,
                state_dir: self.dir.join(format!("beat-{index}")),
                clock_offset_ms: 0,
                args: Vec::new(),
            };
            others.push(Proc::start(env, spec)?);
        }
        let spec = Spec {
            role: Role::Serve,
            index: 1,
            state_dir: self.dir.join("serve-1"),
            clock_offset_ms: 0,
            args: vec!["--bind".into(), format!("127.0.0.1:{serve_port}")],
        };
        others.push(Proc::start(env, spec)?);
        Ok(Procs {
            env: env.clone(),
            workers,
            others,
            unexpected: Vec::new(),
        })
    }

    /// Waits until every worker answers a ping.
    async fn await_workers(&self, app: &App) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let replies = app.control().ping(Duration::from_secs(2)).await?;
            if replies.len() >= self.args.workers {
                return Ok(());
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(90),
                "only {} of {} workers answered within 90 s (logs in {})",
                replies.len(),
                self.args.workers,
                self.dir.display()
            );
        }
    }

    /// Submits workflows at the configured rate for the load duration (one in five through
    /// the HTTP front), and a little poison; returns what was acknowledged.
    /// Submits the seeded workload at the configured rate for the load duration, and on
    /// until every kind of fault has run once (at most three times the duration): what was
    /// acknowledged, the poison injected, and each acknowledgement's latency (ms).
    async fn drive_load(
        &self,
        app: &App,
        serve_port: u16,
        procs: Arc<Mutex<Procs>>,
        faults: &Mutex<Vec<Fault>>,
    ) -> anyhow::Result<(Vec<Acked>, Poison, Vec<u64>)> {
        let mut workload = Workload::new(self.seed, self.args.chord_scale);
        let mut acked = Vec::new();
        let mut submit_ms = Vec::new();
        let mut poison = Poison::default();
        let every = Duration::from_secs_f64(1.0 / self.args.rate.max(0.01));
        let started = Instant::now();
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut n = 0u64;
        let load = self.load_duration();
        while started.elapsed() < load
            || (started.elapsed() < 3 * load
                && kinds_run(&faults.lock().await).len() < Nemesis::ALL.len())
        {
            ticker.tick().await;
            n += 1;
            let planned = workload.next()?;
            let via_http = workload.pick(0..=4) == 0;
            let submit_started = Instant::now();
            let submitted = if via_http {
                submit_http(serve_port, &planned.canvas.to_json()).await
            } else {
                app.submit_canvas(&planned.canvas)
                    .await
                    .map(|h| h.id())
                    .map_err(anyhow::Error::from)
            };
            match submitted {
                Ok(id) => {
                    submit_ms.push(
                        u64::try_from(submit_started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    );
                    acked.push(Acked {
                        id,
                        kind: planned.kind.name(),
                        expected: planned.expected,
                        via_http,
                    })
                }
                // Not acknowledged (a broker fault, the front restarting): nothing is promised.
                Err(error) => eprintln!("chaos: submission not acknowledged: {error:#}"),
            }
            if n % 97 == 0 {
                self.inject_poison(app, &mut poison).await;
            }
            procs.lock().await.reap();
        }
        Ok((acked, poison, submit_ms))
    }

    /// One undecodable record and one message for an unknown task, on the default queue.
    async fn inject_poison(&self, app: &App, poison: &mut Poison) {
        let topic = app.names().tasks("default");
        if let Ok(delivery) = app.log().send(OutRecord::keyed(
            topic.clone(),
            "poison",
            b"\x00not an avro record".to_vec(),
        )) {
            if let Ok(position) = delivery.await {
                poison
                    .undecodable
                    .insert((topic.clone(), position.partition, position.offset));
            }
        }
        let message = TaskMessage::new("chaos.unknown", "application/json", b"[]".to_vec());
        if let Ok(bytes) = message.encode() {
            let record = OutRecord::keyed(topic, message.id.to_string(), bytes);
            if let Ok(delivery) = app.log().send(record) {
                if delivery.await.is_ok() {
                    poison.unknown_tasks.insert(message.id);
                }
            }
        }
    }
}

impl Run {
    /// Applies faults until `stop`: one every `fault_min`..`fault_max`, the kind by the seed.
    async fn nemeses(
        &self,
        procs: Arc<Mutex<Procs>>,
        faults: Arc<Mutex<Vec<Fault>>>,
        stop: tokio_util::sync::CancellationToken,
    ) -> anyhow::Result<()> {
        let mut schedule = Schedule::new(self.seed);
        let cluster = Cluster {
            script: self.args.kafka_script.clone(),
            nodes: self.args.nodes,
            port: self.args.kafka_port,
        };
        let (low, high) = (
            self.args.fault_min.as_secs(),
            self.args.fault_max.as_secs().max(1),
        );
        loop {
            let pause = schedule.seconds(low, high.max(low));
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                () = tokio::time::sleep(pause) => {}
            }
            let nemesis = schedule.next();
            let at_ms = now_millis();
            let (detail, worker) = self
                .apply(nemesis, &mut schedule, &cluster, &procs, &stop)
                .await
                .with_context(|| format!("applying {}", nemesis.name()))?;
            eprintln!("chaos: {} ({detail})", nemesis.name());
            faults.lock().await.push(Fault {
                nemesis,
                at_ms,
                ended_ms: now_millis(),
                detail,
                worker,
            });
        }
    }

    /// One fault, undone before it returns (a killed process restarted, a broker back): what
    /// happened, and the label of the worker it hit, if any.
    async fn apply(
        &self,
        nemesis: Nemesis,
        schedule: &mut Schedule,
        cluster: &Cluster,
        procs: &Mutex<Procs>,
        stop: &tokio_util::sync::CancellationToken,
    ) -> anyhow::Result<(String, Option<String>)> {
        let pick = schedule.index(self.args.workers);
        match nemesis {
            Nemesis::KillWorker | Nemesis::KillWorkerFresh | Nemesis::ClockOffset => {
                let offset = schedule.clock_offset_ms();
                let down = schedule.seconds(1, 5);
                let label = {
                    let mut procs = procs.lock().await;
                    let worker = &mut procs.workers[pick];
                    worker.kill9()?;
                    worker.paused = true;
                    worker.spec.label()
                };
                tokio::time::sleep(down).await;
                let mut procs = procs.lock().await;
                let env = procs.env.clone();
                let worker = &mut procs.workers[pick];
                let mut detail = format!("{label} killed, back after {down:?}");
                if nemesis == Nemesis::KillWorkerFresh {
                    let _ = std::fs::remove_dir_all(&worker.spec.state_dir);
                    detail.push_str(", state deleted");
                }
                if nemesis == Nemesis::ClockOffset {
                    worker.spec.clock_offset_ms = offset;
                    detail.push_str(&format!(", clock {offset:+} ms"));
                }
                worker.restart(&env)?;
                Ok((detail, Some(label)))
            }
            Nemesis::PauseWorker => {
                let label = {
                    let mut procs = procs.lock().await;
                    let worker = &mut procs.workers[pick];
                    worker.signal("STOP")?;
                    worker.paused = true;
                    worker.spec.label()
                };
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = tokio::time::sleep(self.args.freeze) => {}
                }
                let mut procs = procs.lock().await;
                let worker = &mut procs.workers[pick];
                worker.signal("CONT")?;
                worker.paused = false;
                let detail = format!("{label} frozen for {:?}", self.args.freeze);
                Ok((detail, Some(label)))
            }
            Nemesis::KillBroker => {
                let node = 1 + schedule.index(cluster.nodes);
                let down = schedule.seconds(3, 10);
                let c = cluster.clone();
                tokio::task::spawn_blocking(move || c.kill(node)).await??;
                tokio::time::sleep(down).await;
                let c = cluster.clone();
                tokio::task::spawn_blocking(move || c.start(node)).await??;
                Ok((format!("broker {node} killed, back after {down:?}"), None))
            }
            Nemesis::RollingRestart => {
                for node in 1..=cluster.nodes {
                    let c = cluster.clone();
                    tokio::task::spawn_blocking(move || {
                        c.stop(node)?;
                        c.start(node)
                    })
                    .await??;
                }
                Ok((
                    format!("{} brokers restarted one by one", cluster.nodes),
                    None,
                ))
            }
        }
    }

    /// Waits until every acknowledged workflow's output is terminal, at most [`QUIET_WITHIN`]
    /// (past them, the checker says what is missing).
    async fn await_quiet(
        &self,
        app: &App,
        acked: &[Acked],
        procs: &Mutex<Procs>,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            procs.lock().await.reap();
            let history = read_history(app).await?;
            let specs: std::collections::HashMap<uuid::Uuid, uuid::Uuid> = history
                .workflows
                .iter()
                .filter_map(|w| {
                    let output = usize::try_from(w.value.output).ok()?;
                    Some((w.value.id, w.value.steps.get(output)?.task_id))
                })
                .collect();
            let done: std::collections::HashSet<uuid::Uuid> = history
                .results
                .iter()
                .filter(|r| r.value.state.is_terminal())
                .map(|r| r.value.task_id)
                .collect();
            let waiting = acked
                .iter()
                .filter(|a| !specs.get(&a.id).is_some_and(|out| done.contains(out)))
                .count();
            if waiting == 0 {
                return Ok(());
            }
            if started.elapsed() > QUIET_WITHIN {
                eprintln!(
                    "chaos: {waiting} workflows still unfinished after {QUIET_WITHIN:?} of quiet"
                );
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    /// Stops every process with SIGTERM; a process that does not exit 0 is a violation, as is
    /// any that ended on its own during the run.
    async fn stop_processes(&self, procs: &Mutex<Procs>) -> Vec<Violation> {
        let mut procs = procs.lock().await;
        procs.reap();
        let mut violations: Vec<Violation> = procs
            .unexpected
            .iter()
            .map(|(label, status, tail)| Violation {
                check: "no process exits that the run did not kill",
                detail: format!("{label} exited on its own: {status}"),
                history: tail.clone(),
            })
            .collect();
        let Procs {
            workers, others, ..
        } = &mut *procs;
        for proc in workers.iter_mut().chain(others.iter_mut()) {
            match proc.terminate(Duration::from_secs(30)) {
                Ok(status) if status.success() => {}
                Ok(status) => violations.push(Violation {
                    check: "every process stops cleanly",
                    detail: format!("{} exited with {status} on SIGTERM", proc.spec.label()),
                    history: proc.log_tail(30),
                }),
                Err(error) => violations.push(Violation {
                    check: "every process stops cleanly",
                    detail: format!("{}: {error:#}", proc.spec.label()),
                    history: proc.log_tail(30),
                }),
            }
        }
        violations
    }
}

/// A free port on loopback.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `POST /api/workflows` with a JSON canvas; the workflow id from a 2xx answer.
async fn submit_http(port: u16, canvas: &serde_json::Value) -> anyhow::Result<uuid::Uuid> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = canvas.to_string();
    let mut stream = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await??;
    let request = format!(
        "POST /api/workflows HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut response)).await??;
    let text = String::from_utf8_lossy(&response);
    let status = text.split(' ').nth(1).unwrap_or("");
    anyhow::ensure!(status.starts_with('2'), "HTTP {status}");
    let json = text.split("\r\n\r\n").nth(1).unwrap_or("");
    let value: serde_json::Value = serde_json::from_str(json.trim())
        .or_else(|_| serde_json::from_str(dechunk(json).trim()))?;
    let id = value["id"].as_str().context("no id in the answer")?;
    Ok(id.parse()?)
}

/// The body of a chunked HTTP/1.1 answer.
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(len) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if len == 0 || after.len() < len {
            break;
        }
        out.push_str(&after[..len]);
        rest = after[len..].trim_start_matches("\r\n");
    }
    out
}

/// Per fault that stopped a worker, the longest wait, over the coordinator partitions that
/// worker owned (per `owners`) with a workflow in flight at the fault, from the fault to that
/// partition's next terminal result: kill -9 to work resuming, as its successor sees it.
fn takeovers(
    history: &History,
    faults: &[Fault],
    partitions: i32,
    owners: impl Fn(&Fault) -> Option<BTreeSet<i32>>,
) -> BTreeMap<Nemesis, Vec<Takeover>> {
    let mut by_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    let mut finished: std::collections::HashMap<uuid::Uuid, i64> = Default::default();
    for result in history
        .results
        .iter()
        .filter(|r| r.value.state.is_terminal())
    {
        let key = celeriac_engine::coordinator::record_key(&result.value.root_id);
        by_partition
            .entry(partition_for_key(&key, partitions))
            .or_default()
            .push(result.timestamp_ms);
        let at = finished.entry(result.value.task_id).or_insert(i64::MAX);
        *at = (*at).min(result.timestamp_ms);
    }
    for times in by_partition.values_mut() {
        times.sort_unstable();
    }
    // (submitted, finished) of each workflow, by the partition that coordinates it.
    let mut spans: BTreeMap<i32, Vec<(i64, i64)>> = BTreeMap::new();
    for workflow in &history.workflows {
        let output = usize::try_from(workflow.value.output).ok();
        let end = output
            .and_then(|o| workflow.value.steps.get(o))
            .and_then(|step| finished.get(&step.task_id).copied())
            .unwrap_or(i64::MAX);
        spans
            .entry(workflow.partition)
            .or_default()
            .push((workflow.timestamp_ms, end));
    }
    let mut out: BTreeMap<Nemesis, Vec<Takeover>> = BTreeMap::new();
    for fault in faults
        .iter()
        .filter(|f| f.nemesis.kills_a_worker() || f.nemesis == Nemesis::PauseWorker)
    {
        let Some(owned) = owners(fault) else {
            continue;
        };
        let waits = owned.iter().filter_map(|partition| {
            let in_flight = spans
                .get(partition)?
                .iter()
                .any(|&(from, to)| from < fault.at_ms && to > fault.at_ms);
            let after = by_partition
                .get(partition)?
                .iter()
                .find(|&&t| t >= fault.at_ms)?;
            in_flight.then_some(after - fault.at_ms)
        });
        if let Some(worst) = waits.max() {
            let until = fault.at_ms + worst;
            let with_broker_fault = faults
                .iter()
                .any(|f| f.nemesis.hits_brokers() && f.at_ms <= until && f.ended_ms >= fault.at_ms);
            out.entry(fault.nemesis).or_default().push(Takeover {
                ms: worst,
                with_broker_fault,
            });
        }
    }
    out
}

/// The coordinator partitions a worker's log says its process owned at `at_ms`: those of its
/// last "partitions assigned" line before then, none after a "partitions revoked" line; `None`
/// when the log says neither.
fn owned_at(log: &str, at_ms: i64) -> Option<BTreeSet<i32>> {
    let mut owned = None;
    for line in log.lines() {
        let Some(Ok(at)) = line
            .split_whitespace()
            .next()
            .map(chrono::DateTime::parse_from_rfc3339)
        else {
            continue;
        };
        if at.timestamp_millis() > at_ms {
            break;
        }
        if line.contains("partitions revoked") {
            owned = Some(BTreeSet::new());
        } else if line.contains("partitions assigned") {
            let list = line
                .split_whitespace()
                .find_map(|field| field.strip_prefix("owned="))
                .unwrap_or("");
            owned = Some(list.split(',').filter_map(|p| p.parse().ok()).collect());
        }
    }
    owned
}

/// The p50 and max of some takeovers (ms), if any.
fn spread<'a>(takeovers: impl Iterator<Item = &'a Takeover>) -> Option<(i64, i64)> {
    let mut ms: Vec<i64> = takeovers.map(|t| t.ms).collect();
    ms.sort_unstable();
    Some((*ms.get(ms.len() / 2)?, *ms.last()?))
}

fn seconds(ms: i64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// Reads the history, trying again for up to a minute while the cluster, just out of a
/// fault, times out (the run's own reads must not end it).
async fn read_history(app: &App) -> anyhow::Result<History> {
    let started = Instant::now();
    loop {
        match History::read(app.log(), app.names()).await {
            Ok(history) => return Ok(history),
            Err(error) if started.elapsed() < Duration::from_secs(60) => {
                eprintln!("chaos: reading the history failed ({error:#}); trying again");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(error) => return Err(error.context("reading the history for a minute")),
        }
    }
}

/// The kinds of fault that have run.
fn kinds_run(faults: &[Fault]) -> BTreeSet<Nemesis> {
    faults.iter().map(|f| f.nemesis).collect()
}

/// The longest time without any terminal result while load ran.
fn longest_gap(history: &History, from: i64, until: i64) -> i64 {
    let mut times: Vec<i64> = history
        .results
        .iter()
        .filter(|r| r.value.state.is_terminal())
        .map(|r| r.timestamp_ms)
        .filter(|t| (from..=until).contains(t))
        .collect();
    times.sort_unstable();
    times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0)
}

impl Outcome {
    /// The kinds of fault this run applied.
    pub(crate) fn kinds(&self) -> BTreeSet<Nemesis> {
        kinds_run(&self.faults)
    }

    pub(crate) fn print(&self) {
        println!("chaos seed {}: {} workflows acknowledged, {} terminal results, {:.0} s of load ({:.1} results/s), longest gap between results {} ms",
            self.seed, self.acked, self.results, self.load_secs,
            self.results as f64 / self.load_secs.max(1.0), self.longest_gap_ms);
        let mut counts: BTreeMap<Nemesis, usize> = BTreeMap::new();
        for fault in &self.faults {
            *counts.entry(fault.nemesis).or_default() += 1;
        }
        let mut kills: BTreeMap<Nemesis, usize> = BTreeMap::new();
        for fault in &self.faults {
            *kills.entry(fault.nemesis).or_default() += fault.nemesis.kills();
        }
        if let (Some(first), Some(last)) = (self.submit_ms.first(), self.submit_ms.last()) {
            let p50 = self.submit_ms[self.submit_ms.len() / 2];
            println!("  submissions acknowledged in {first}–{last} ms (p50 {p50} ms)");
        }
        println!(
            "  {:<32} {:>5} {:>6} {:>14} {:>14} {:>26}",
            "nemesis", "runs", "kills", "takeover p50", "takeover max", "with a broker fault (max)"
        );
        for nemesis in Nemesis::ALL {
            let runs = counts.get(&nemesis).copied().unwrap_or(0);
            let killed = kills.get(&nemesis).copied().unwrap_or(0);
            let takeovers = self.takeovers.get(&nemesis).map_or(&[][..], Vec::as_slice);
            let alone = spread(takeovers.iter().filter(|t| !t.with_broker_fault));
            let overlapped = spread(takeovers.iter().filter(|t| t.with_broker_fault));
            let (p50, max) = alone.map_or(("-".into(), "-".into()), |(p50, max)| {
                (seconds(p50), seconds(max))
            });
            let overlapped = overlapped.map_or("-".into(), |(_, max)| {
                let n = takeovers.iter().filter(|t| t.with_broker_fault).count();
                format!("{n} ({})", seconds(max))
            });
            println!(
                "  {:<32} {runs:>5} {killed:>6} {p50:>14} {max:>14} {overlapped:>26}",
                nemesis.name()
            );
        }
        for fault in &self.faults {
            println!(
                "  fault at {}: {} ({})",
                fault.at_ms,
                fault.nemesis.name(),
                fault.detail
            );
        }
        if self.violations.is_empty() {
            println!("  no violations");
            return;
        }
        println!(
            "  {} VIOLATIONS (seed {}; logs in {}):",
            self.violations.len(),
            self.seed,
            self.dir.display()
        );
        for v in self.violations.iter().take(20) {
            println!("  - [{}] {}", v.check, v.detail);
            if !v.history.is_empty() {
                println!("{}", v.history);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_is_read_from_the_last_assignment_or_revocation_before_the_fault() {
        let log = "\
celeriac worker vm@1 serving default with concurrency 4 (6 tasks registered)
2026-12-04T19:19:45.030294Z  INFO celeriac_engine::coordinator::cycle: partitions assigned partitions=12 owned=0,3,5 restored=0 elapsed=1.9s
2026-12-04T19:19:50.000000Z  INFO celeriac_engine::coordinator::cycle: partitions revoked partitions=12
2026-12-04T19:19:52.000000Z  INFO celeriac_engine::coordinator::cycle: partitions assigned partitions=6 owned=2,7 restored=0 elapsed=1.1s
";
        let at = |time: &str| {
            chrono::DateTime::parse_from_rfc3339(time)
                .expect("a time")
                .timestamp_millis()
        };
        assert_eq!(owned_at(log, at("2026-12-04T19:19:40Z")), None);
        assert_eq!(
            owned_at(log, at("2026-12-04T19:19:46Z")),
            Some(BTreeSet::from([0, 3, 5]))
        );
        assert_eq!(
            owned_at(log, at("2026-12-04T19:19:51Z")),
            Some(BTreeSet::new())
        );
        assert_eq!(
            owned_at(log, at("2026-12-04T19:30:00Z")),
            Some(BTreeSet::from([2, 7]))
        );
    }
}
