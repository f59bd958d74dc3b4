//! Several beat processes on one embedded log, a fake clock, and the leader stopped, killed
//! (its task aborted mid-flight) and fenced in turn: every window fires exactly once.

mod beat_support;

use std::sync::Arc;
use std::time::Duration;

use beat_support::{account, beat_records, task_messages, wait_until};
use celeriac_engine::beat::{
    Beat, BeatStatus, CatchUp, Clock, Crontab, Entry, FakeClock, Schedule,
};
use celeriac_engine::TopicNames;
use celeriac_topics::{EmbeddedConfig, EmbeddedLog, Log};
use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const QUEUE: &str = "periodic";
const WAIT: Duration = Duration::from_secs(10);

struct Process {
    name: String,
    shutdown: CancellationToken,
    task: JoinHandle<celeriac_engine::beat::Result<()>>,
    status: watch::Receiver<BeatStatus>,
}

struct Cluster {
    log: Arc<dyn Log>,
    names: TopicNames,
    clock: FakeClock,
    entries: Vec<Entry>,
    processes: Vec<Process>,
}

/// An embedded log in `dir`.
fn embedded_log(dir: &std::path::Path) -> Arc<dyn Log> {
    Arc::new(EmbeddedLog::open(EmbeddedConfig::new(dir)).expect("the log opens"))
}

impl Cluster {
    /// Stops every process and checks that each stops cleanly.
    async fn stop_all(self) {
        for process in self.processes {
            process.shutdown.cancel();
            process.task.await.expect("joins").expect("a clean stop");
        }
    }

    fn start(&mut self, name: &str) {
        let beat = Beat::builder()
            .entries(self.entries.clone())
            .log(self.log.clone())
            .names(self.names.clone())
            .clock(self.clock.clone())
            .hostname(name)
            .tick(Duration::from_millis(10))
            .grace(Duration::from_secs(3600))
            .build()
            .expect("a valid beat");
        let status = beat.status();
        let shutdown = CancellationToken::new();
        let task = beat.spawn(shutdown.clone());
        self.processes.push(Process {
            name: name.to_owned(),
            shutdown,
            task,
            status,
        });
    }

    fn leaders(&self) -> Vec<&str> {
        self.processes
            .iter()
            .filter(|p| p.status.borrow().leading)
            .map(|p| p.name.as_str())
            .collect()
    }

    async fn leader(&self) -> String {
        wait_until(WAIT, "one leader", || async { self.leaders().len() == 1 }).await;
        self.leaders()[0].to_owned()
    }

    fn take(&mut self, name: &str) -> Process {
        let index = self
            .processes
            .iter()
            .position(|p| p.name == name)
            .expect("a running process");
        self.processes.remove(index)
    }

    /// Windows due by the fake clock's time, per the schedules (registration at `start`).
    fn windows_until(&self, start: DateTime<Utc>, now: DateTime<Utc>) -> usize {
        self.entries
            .iter()
            .map(|e| {
                let mut count = 0;
                let mut w = if e.schedule().is_once() {
                    DateTime::<Utc>::MIN_UTC
                } else {
                    start
                };
                while let Some(next) = e.schedule().next_after(w).filter(|n| *n <= now) {
                    count += 1;
                    w = next;
                }
                count
            })
            .sum()
    }

    /// Waits until the beat topic has a FIRED record for every window due by now.
    async fn settled(&self, start: DateTime<Utc>) {
        let expected = self.windows_until(start, self.clock.now());
        wait_until(
            WAIT,
            &format!("{expected} fires by {}", self.clock.now()),
            || async {
                let records = beat_records(self.log.as_ref(), &self.names).await;
                let fired = records
                    .iter()
                    .filter(|r| r.kind == celeriac_schemas::BeatFireKind::Fired)
                    .count();
                assert!(fired <= expected, "more fires than windows: {records:#?}");
                fired == expected
            },
        )
        .await;
    }
}

/// Named `beat::…` so `cargo test -p celeriac-engine beat` selects them.
mod beat {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_window_fires_exactly_once_through_stop_crash_and_fencing_of_leaders() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let log = embedded_log(dir.path());
        // 29 March 2026, 00:30Z: London's clocks go forward at 01:00Z, in the middle of the run.
        let start = DateTime::parse_from_rfc3339("2026-03-29T00:30:00Z")
            .expect("a time")
            .with_timezone(&Utc);
        let london = Crontab::parse("*/5 * * * *")
            .expect("valid")
            .with_timezone(chrono_tz::Europe::London);
        let entries = vec![
            Entry::new(
                "every-minute",
                Schedule::every(Duration::from_secs(60)).expect("valid"),
                "tick",
            )
            .queue(QUEUE),
            Entry::new("five-minutes-london", london, "report")
                .args(serde_json::json!({"n": 5}))
                .queue(QUEUE),
            Entry::new(
                "once",
                Schedule::once(start + TimeDelta::seconds(450)),
                "launch",
            )
            .queue(QUEUE),
        ];
        let mut cluster = Cluster {
            log,
            names: TopicNames::default(),
            clock: FakeClock::new(start),
            entries,
            processes: Vec::new(),
        };
        cluster.start("a");
        assert_eq!(cluster.leader().await, "a");
        cluster.start("b");
        cluster.start("c");
        for step in 1..=60 {
            cluster.clock.advance(Duration::from_secs(30));
            cluster.settled(start).await;
            match step {
                // A graceful stop: the leader leaves the group and another takes over at once.
                15 => {
                    let leader = cluster.leader().await;
                    let process = cluster.take(&leader);
                    process.shutdown.cancel();
                    process.task.await.expect("joins").expect("a clean stop");
                    assert_ne!(cluster.leader().await, leader);
                }
                // A crash: the leader's task is dropped wherever it is, perhaps mid-transaction.
                30 => {
                    let leader = cluster.leader().await;
                    let process = cluster.take(&leader);
                    process.task.abort();
                    assert!(process.task.await.expect_err("aborted").is_cancelled());
                    cluster.start("d");
                    assert_ne!(cluster.leader().await, leader);
                }
                // A zombie's fate: a newer producer with the beat's transactional id fences the
                // leader; its next commit fails, and it reads the topic again before firing.
                45 => {
                    let leader = cluster.leader().await;
                    let fence = cluster
                        .log
                        .transactional_producer(&cluster.names.beat())
                        .await
                        .expect("a producer");
                    let terms = cluster
                        .processes
                        .iter()
                        .find(|p| p.name == leader)
                        .expect("leader")
                        .status
                        .borrow()
                        .terms;
                    cluster.clock.advance(Duration::from_secs(30));
                    let status = cluster
                        .processes
                        .iter()
                        .find(|p| p.name == leader)
                        .expect("leader")
                        .status
                        .clone();
                    wait_until(WAIT, "the fenced leader to lead again", || async {
                        status.borrow().terms > terms
                    })
                    .await;
                    drop(fence);
                    cluster.settled(start).await;
                }
                _ => {}
            }
        }
        let records = beat_records(cluster.log.as_ref(), &cluster.names).await;
        let tasks = task_messages(cluster.log.as_ref(), &cluster.names, QUEUE).await;
        let accounting = account(&cluster.names, &cluster.entries, &records, &tasks);
        // Nothing was missed: the clock waited for a leader at every step.
        assert!(
            accounting.missed.values().all(|m| *m == 0),
            "{:?}",
            accounting.missed
        );
        // 60 steps of 30 s and one more at the fencing: the run ends at 01:00:30Z.
        let end = cluster.clock.now();
        assert_eq!(end, start + TimeDelta::seconds(61 * 30));
        assert_eq!(
            accounting.fired["every-minute"].len(),
            30,
            "00:31 … 01:00, one per minute"
        );
        assert_eq!(
            accounting.fired["five-minutes-london"].len(),
            6,
            "00:35 … 01:00, through the change"
        );
        assert_eq!(
            accounting.fired["once"],
            vec![start + TimeDelta::seconds(450)]
        );
        assert_eq!(tasks.len(), 30 + 6 + 1, "one task per window");
        assert_eq!(tasks.len(), cluster.windows_until(start, end));
        assert!(
            accounting.leaders.len() >= 3,
            "leaders: {:?}",
            accounting.leaders
        );
        let five = tasks
            .iter()
            .find(|t| t.task == "report")
            .expect("a report task");
        assert_eq!(
            (five.args.as_slice(), five.content_type.as_str()),
            (&br#"{"n":5}"#[..], "application/json")
        );
        cluster.stop_all().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fire_each_fires_every_window_missed_while_no_leader_ran() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let log = embedded_log(dir.path());
        let start = DateTime::parse_from_rfc3339("2026-11-02T08:00:00Z")
            .expect("a time")
            .with_timezone(&Utc);
        let minute = Schedule::every(Duration::from_secs(60)).expect("valid");
        let mut cluster = Cluster {
            log,
            names: TopicNames::default(),
            clock: FakeClock::new(start),
            entries: vec![Entry::new("each-minute", minute, "tick")
                .queue(QUEUE)
                .catch_up(CatchUp::FireEach)],
            processes: Vec::new(),
        };
        cluster.start("a");
        cluster.leader().await;
        cluster.clock.advance(Duration::from_secs(120));
        cluster.settled(start).await;
        // The leader crashes, and nobody leads while seven windows pass.
        let leader = cluster.leader().await;
        let process = cluster.take(&leader);
        process.task.abort();
        assert!(process.task.await.expect_err("aborted").is_cancelled());
        cluster.clock.advance(Duration::from_secs(7 * 60 + 30));
        cluster.start("b");
        cluster.settled(start).await;
        let records = beat_records(cluster.log.as_ref(), &cluster.names).await;
        let tasks = task_messages(cluster.log.as_ref(), &cluster.names, QUEUE).await;
        let accounting = account(&cluster.names, &cluster.entries, &records, &tasks);
        let expected: Vec<DateTime<Utc>> = (1..=9).map(|m| start + TimeDelta::minutes(m)).collect();
        assert_eq!(
            accounting.fired["each-minute"], expected,
            "each window, in order"
        );
        assert_eq!(tasks.len(), 9, "one task per window");
        cluster.stop_all().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn leaders_killed_at_random_moments_never_double_or_drop_a_window() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let log = embedded_log(dir.path());
        let start = DateTime::parse_from_rfc3339("2026-10-25T00:00:00Z")
            .expect("a time")
            .with_timezone(&Utc);
        let entries = vec![
            Entry::new(
                "every-10s",
                Schedule::every(Duration::from_secs(10)).expect("valid"),
                "a",
            )
            .queue(QUEUE),
            Entry::new(
                "every-20s",
                Schedule::every(Duration::from_secs(20)).expect("valid"),
                "a",
            )
            .queue(QUEUE),
            Entry::new(
                "every-30s",
                Schedule::every(Duration::from_secs(30)).expect("valid"),
                "b",
            )
            .queue(QUEUE),
            Entry::new(
                "every-minute-london",
                Crontab::parse("* * * * *")
                    .expect("valid")
                    .with_timezone(chrono_tz::Europe::London),
                "c",
            )
            .queue(QUEUE),
        ];
        let mut cluster = Cluster {
            log,
            names: TopicNames::default(),
            clock: FakeClock::new(start),
            entries,
            processes: Vec::new(),
        };
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1;
        eprintln!("random seed {seed}");
        let mut rng = seed;
        let mut random = move |below: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % below
        };
        cluster.start("p0");
        cluster.start("p1");
        cluster.leader().await;
        for round in 1..=24 {
            // A window of each entry at most falls due (the clock moves less than the shortest
            // period); the leader is killed some 0–15 ms later: before, during or after its fire
            // transaction (it notices the clock within a 10 ms tick).
            cluster.clock.advance(Duration::from_secs(10));
            let leader = cluster.leader().await;
            tokio::time::sleep(Duration::from_micros(random(15_000))).await;
            let process = cluster.take(&leader);
            process.task.abort();
            let _ = process.task.await;
            cluster.start(&format!("p{}", round + 1));
            cluster.leader().await;
            cluster.settled(start).await;
        }
        let records = beat_records(cluster.log.as_ref(), &cluster.names).await;
        let tasks = task_messages(cluster.log.as_ref(), &cluster.names, QUEUE).await;
        let accounting = account(&cluster.names, &cluster.entries, &records, &tasks);
        assert!(
            accounting.missed.values().all(|m| *m == 0),
            "seed {seed}: {:?}",
            accounting.missed
        );
        assert_eq!(
            tasks.len(),
            cluster.windows_until(start, cluster.clock.now()),
            "seed {seed}"
        );
        // 240 s: 24 + 12 + 8 interval windows and 4 minutes (01:00:00Z, the first of the two
        // 01:00 BST … on 25 October London's 01:00–01:59 happens twice).
        assert_eq!(tasks.len(), 24 + 12 + 8 + 4, "seed {seed}");
        cluster.stop_all().await;
    }
}
