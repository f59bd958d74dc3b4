//! Beat processes on a real Kafka broker, the leader killed with SIGKILL at random moments:
//! every scheduled window fires exactly once — none twice, none skipped, none coalesced.
//!
//! The processes are this test binary run again (`--exact beat::kafka_beat_process
//! --ignored`) with `CELERIAC_BEAT_KAFKA_CHILD` set, so no other binary has to be built; each
//! prints a line whenever it starts or stops leading, which is how the test knows the leader
//! and measures failover. The broker is `CELERIAC_TEST_BROKERS` (default `127.0.0.1:9092`);
//! without one the test fails.
//!
//! A killed leader keeps the lead until the beat group's session times out (6 s, the broker's
//! default minimum), so each kill lands at a random moment of the few seconds before a window
//! of `every-10s`: that window falls in the failover gap for certain and must be fired late,
//! once, by the next leader (catch-up policy "fire once"). Every entry's period is longer than
//! a failover, so at most one window of each falls in a gap and "fire once" loses nothing.

mod beat_support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use beat_support::{account, beat_records, task_messages};
use celeriac_engine::beat::{Beat, Entry, Schedule, DEFAULT_SESSION_TIMEOUT};
use celeriac_engine::TopicNames;
use celeriac_schemas::{BeatFire, BeatFireKind};
use celeriac_topics::{open, KafkaConfig, Log, LogConfig};
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

const CHILD: &str = "CELERIAC_BEAT_KAFKA_CHILD";
const HOST: &str = "CELERIAC_BEAT_KAFKA_HOST";
const QUEUE: &str = "beat-kill";
const KILLS: usize = 3;
/// The period of the entry whose windows the kills are aimed before.
const AIM: Duration = Duration::from_secs(10);
/// What a child prints when it starts or stops leading: `<prefix><host> <true|false>`.
const LEADING: &str = "BEAT-LEADING ";
/// A fire recorded later than this after its window counts as late (a catch-up).
const LATE: Duration = Duration::from_secs(1);

fn brokers() -> String {
    std::env::var("CELERIAC_TEST_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

async fn kafka() -> Arc<dyn Log> {
    let brokers = brokers();
    let config = KafkaConfig::new(brokers.clone()).connect_timeout(Duration::from_secs(10));
    match open(LogConfig::Kafka(config)).await {
        Ok(log) => log,
        Err(error) => panic!("no Kafka broker at {brokers} ({error}): run `scripts/kafka start`"),
    }
}

fn names(prefix: &str) -> TopicNames {
    let mut names = TopicNames::new(prefix);
    names.coordinator_partitions = 1;
    names.task_partitions = 2;
    names
}

/// Every period is longer than a failover (session timeout + a heartbeat + taking the lead).
fn entries() -> Vec<Entry> {
    let every = |period| Schedule::every(period).expect("valid");
    vec![
        Entry::new("every-10s", every(AIM), "tick").queue(QUEUE),
        Entry::new("every-12s", every(Duration::from_secs(12)), "tack")
            .queue(QUEUE)
            .args(serde_json::json!([1, 2])),
    ]
}

fn epoch_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A beat process, its leading announcements forwarded to `events` as (host, leading, when).
fn spawn(
    prefix: &str,
    host: &str,
    events: &mpsc::UnboundedSender<(String, bool, SystemTime)>,
) -> Child {
    let exe = std::env::current_exe().expect("this test binary");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "beat::kafka_beat_process",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD, prefix)
        .env(HOST, host)
        .env("CELERIAC_TEST_BROKERS", brokers())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file(prefix, host))
        .spawn()
        .expect("the beat process starts");
    let stdout = child.stdout.take().expect("a piped stdout");
    let events = events.clone();
    // Ends when the process dies and its pipe closes.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let Some(rest) = line.strip_prefix(LEADING) else {
                continue;
            };
            if let Some((host, leading)) = rest.split_once(' ') {
                let _ = events.send((host.to_owned(), leading == "true", SystemTime::now()));
            }
        }
    });
    child
}

/// Where a beat process's log goes: a file in the temporary directory, named in the test's
/// output, to read when the test fails.
fn log_file(prefix: &str, host: &str) -> Stdio {
    let path = std::env::temp_dir().join(format!("{prefix}-{host}.log"));
    match std::fs::File::create(&path) {
        Ok(file) => Stdio::from(file),
        Err(_) => Stdio::null(),
    }
}

/// Who leads, from the processes' announcements, in the order they were made.
struct Leaders {
    events: mpsc::UnboundedReceiver<(String, bool, SystemTime)>,
}

impl Leaders {
    /// Waits for the next announcement that `host` leads (any host but those in `dead` when
    /// `host` is `None`); returns the host and when it announced.
    async fn leads(
        &mut self,
        host: Option<&str>,
        dead: &[String],
        within: Duration,
    ) -> (String, SystemTime) {
        let what = format!("{} to lead", host.unwrap_or("a live process"));
        self.next(&what, within, |h, leading| {
            leading && host.is_none_or(|host| h == host) && !dead.iter().any(|d| d == h)
        })
        .await
    }

    /// Waits for `host` to announce that it no longer leads.
    async fn steps_down(&mut self, host: &str, within: Duration) {
        let what = format!("{host} to step down (a replacement joined the group)");
        self.next(&what, within, |h, leading| !leading && h == host)
            .await;
    }

    async fn next(
        &mut self,
        what: &str,
        within: Duration,
        wanted: impl Fn(&str, bool) -> bool,
    ) -> (String, SystemTime) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv()).await;
            let Ok(Some((host, leading, at))) = event else {
                panic!("waited {within:?} for {what}: see the beat process logs named above");
            };
            eprintln!("{}: leading {leading}", host);
            if wanted(&host, leading) {
                return (host, at);
            }
        }
    }
}

/// Named `beat::…` so `cargo test -p celeriac-engine beat` selects them.
mod beat {
    use super::*;

    /// One beat process; run by the test below, not on its own.
    #[test]
    #[ignore = "a beat process for beats_on_kafka_with_the_leader_killed_at_random_moments"]
    fn kafka_beat_process() {
        let (Ok(prefix), Ok(host)) = (std::env::var(CHILD), std::env::var(HOST)) else {
            return;
        };
        tracing_subscriber::fmt()
            .with_env_filter("celeriac_engine=debug")
            .with_writer(std::io::stderr)
            .init();
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        runtime.block_on(async {
            let beat = Beat::builder()
                .entries(entries())
                .log(kafka().await)
                .names(names(&prefix))
                .hostname(host.clone())
                .tick(Duration::from_millis(100))
                .grace(LATE)
                .session_timeout(DEFAULT_SESSION_TIMEOUT)
                .build()
                .expect("a valid beat");
            let mut status = beat.status();
            tokio::spawn(async move {
                let mut leading = false;
                while status.changed().await.is_ok() {
                    let now = status.borrow_and_update().leading;
                    if now != leading {
                        leading = now;
                        println!("{LEADING}{host} {leading}");
                    }
                }
            });
            let shutdown = tokio_util::sync::CancellationToken::new();
            let stop = shutdown.clone();
            // A process the test forgets to kill stops by itself.
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(120)).await;
                stop.cancel();
            });
            beat.run(shutdown).await.expect("beat runs");
        });
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn beats_on_kafka_with_the_leader_killed_at_random_moments() {
        let started = Instant::now();
        let log = kafka().await;
        let prefix = format!("beat-kill-{}", uuid::Uuid::new_v4().simple());
        let names = names(&prefix);
        let mut topics = names.core_topics();
        topics.push(names.queue_topic(QUEUE));
        log.create_topics(&topics).await.expect("topics");
        for topic in [names.beat(), names.tasks(QUEUE).into()] {
            let tp = celeriac_topics::TopicPartition::new(topic, 0);
            let deadline = Instant::now() + Duration::from_secs(10);
            while log.watermarks(&tp).await.is_err() {
                assert!(Instant::now() < deadline, "{tp} never became readable");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        eprintln!(
            "beat process logs: {}",
            std::env::temp_dir()
                .join(format!("{prefix}-beat-N.log"))
                .display()
        );
        let (tx, events) = mpsc::unbounded_channel();
        let mut leaders = Leaders { events };
        const WAIT: Duration = Duration::from_secs(30);
        // One process leads; a second joins, and the eager rebalance its join causes hands the
        // lead over (revoked, then assigned to one of the two). Processes join one at a time so
        // the test always knows who leads.
        let mut children = vec![("beat-0".to_owned(), spawn(&prefix, "beat-0", &tx))];
        let (mut leader, _) = leaders.leads(Some("beat-0"), &[], WAIT).await;
        children.push(("beat-1".to_owned(), spawn(&prefix, "beat-1", &tx)));
        leaders.steps_down(&leader, WAIT).await;
        (leader, _) = leaders.leads(None, &[], WAIT).await;
        let mut killed: Vec<String> = Vec::new();
        // (kill time, the next leader, when it announced the lead)
        let mut failovers: Vec<(SystemTime, String, SystemTime)> = Vec::new();
        let mut rng = started.elapsed().as_nanos() as u64 | 1;
        for round in 0..KILLS {
            // A random moment 0.3–4 s before a window of `every-10s`: the window falls in the
            // failover gap (at least the 6 s session) whatever the draw.
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let before = Duration::from_millis(300 + rng % 3_700);
            let now = epoch_ms(SystemTime::now());
            let aim = AIM.as_millis() as i64;
            let mut window = (now / aim + 1) * aim;
            if window - (before.as_millis() as i64) < now + 100 {
                window += aim;
            }
            let wait = (window - before.as_millis() as i64 - now).max(0) as u64;
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let index = children
                .iter()
                .position(|(name, _)| *name == leader)
                .expect("the leader is ours");
            let (name, mut child) = children.remove(index);
            child.kill().expect("SIGKILL");
            let at = SystemTime::now();
            child.wait().expect("reaped");
            eprintln!(
                "{:?}: killed {name} {before:?} before a window",
                started.elapsed()
            );
            killed.push(name);
            let (survivor, since) = leaders.leads(None, &killed, WAIT).await;
            failovers.push((at, survivor.clone(), since));
            // A replacement joins, and takes the lead or leaves it where it is.
            let next = format!("beat-{}", 2 + round);
            children.push((next.clone(), spawn(&prefix, &next, &tx)));
            leaders.steps_down(&survivor, WAIT).await;
            (leader, _) = leaders.leads(None, &killed, WAIT).await;
        }
        // The last leader must carry on: wait for an on-time fire of each entry after the last
        // failover, then stop everything.
        let settled_after = epoch_ms(failovers.last().map_or(SystemTime::now(), |f| f.2));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let records = beat_records(log.as_ref(), &names).await;
            let on_time = |entry: &Entry| {
                records.iter().any(|r| {
                    r.entry == entry.name()
                        && r.kind == BeatFireKind::Fired
                        && r.window > settled_after
                        && r.recorded_at - r.window <= LATE.as_millis() as i64
                })
            };
            if entries().iter().all(on_time) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the last leader did not fire every entry on time within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for (_, child) in &mut children {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Fence the last processes' transactional id: a transaction left open is aborted, so
        // read_committed readers see everything that was committed.
        drop(
            log.transactional_producer(&names.beat())
                .await
                .expect("a fencing producer"),
        );
        let records = beat_records(log.as_ref(), &names).await;
        let tasks = task_messages(log.as_ref(), &names, QUEUE).await;
        let accounting = account(&names, &entries(), &records, &tasks);
        let checked = every_window_fired_once(&entries(), &records);
        let late: Vec<&BeatFire> = records
            .iter()
            .filter(|r| {
                r.kind == BeatFireKind::Fired && r.recorded_at - r.window > LATE.as_millis() as i64
            })
            .collect();
        for (i, (killed_at, new, since)) in failovers.iter().enumerate() {
            let lead = since.duration_since(*killed_at).unwrap_or_default();
            let kill = epoch_ms(*killed_at);
            // The window aimed at lies in the gap between the kill and the new lead, so the new
            // leader fired it late (and `every_window_fired_once` has checked it fired once).
            let caught_up: Vec<String> = records
                .iter()
                .filter(|r| {
                    r.kind == BeatFireKind::Fired
                        && r.window > kill
                        && r.window <= epoch_ms(*since)
                        && r.leader == *new
                })
                .map(|r| format!("{} +{} ms", r.entry, r.recorded_at - r.window))
                .collect();
            eprintln!("failover {i}: {new} led {lead:?} after the kill; caught up {caught_up:?}");
            // The session runs from the dead leader's last heartbeat (every sixth of it), so
            // the lead cannot move sooner: if it did, the process killed was not the leader.
            let earliest = DEFAULT_SESSION_TIMEOUT - DEFAULT_SESSION_TIMEOUT / 6;
            assert!(
                lead >= earliest - Duration::from_millis(500),
                "failover {i} took {lead:?}: the lead moved before the dead one's session could end"
            );
            assert!(
                !caught_up.is_empty(),
                "failover {i}: the window before which the leader was killed was not fired late"
            );
        }
        eprintln!(
            "{:?}: {} records, {} tasks, leaders {:?}, windows checked {checked:?}, late fires {:?}",
            started.elapsed(),
            records.len(),
            tasks.len(),
            accounting.leaders,
            late.iter()
                .map(|r| format!("{} by {} +{} ms", r.entry, r.leader, r.recorded_at - r.window))
                .collect::<Vec<_>>()
        );
        assert!(
            accounting.leaders.len() > KILLS,
            "a new leader after each kill: {:?}",
            accounting.leaders
        );
        let topics: Vec<String> = topics.into_iter().map(|t| t.name).collect();
        log.delete_topics(&topics).await.expect("clean up");
        for i in 0..2 + KILLS {
            let path = std::env::temp_dir().join(format!("{prefix}-beat-{i}.log"));
            let _ = std::fs::remove_file(path);
        }
        assert!(
            started.elapsed() < Duration::from_secs(75),
            "took {:?}",
            started.elapsed()
        );
    }
}

/// The full promise: for each entry, every window of its schedule after its registration, up
/// to the last one settled, has exactly one record and it is a fire — no window skipped or
/// coalesced into a later fire. Returns how many windows were checked per entry.
fn every_window_fired_once(entries: &[Entry], records: &[BeatFire]) -> BTreeMap<String, usize> {
    let at = |ms| DateTime::<Utc>::from_timestamp_millis(ms).expect("a time in range");
    let mut checked = BTreeMap::new();
    for entry in entries {
        let mine: Vec<&BeatFire> = records.iter().filter(|r| r.entry == entry.name()).collect();
        let [registered, settled @ ..] = mine.as_slice() else {
            panic!("{}: never registered", entry.name());
        };
        assert_eq!(
            registered.kind,
            BeatFireKind::Registered,
            "{}",
            entry.name()
        );
        let last = settled.last().map_or(registered.window, |r| r.window);
        let mut expected = Vec::new();
        let mut window = at(registered.window);
        while let Some(next) = entry
            .schedule()
            .next_after(window)
            .filter(|w| *w <= at(last))
        {
            expected.push(next.timestamp_millis());
            window = next;
        }
        let fired: Vec<i64> = settled
            .iter()
            .map(|r| {
                assert_eq!(
                    (r.kind, r.missed),
                    (BeatFireKind::Fired, 0),
                    "{}: window {} was not fired on its own",
                    entry.name(),
                    at(r.window)
                );
                r.window
            })
            .collect();
        assert_eq!(fired, expected, "{}: windows fired", entry.name());
        checked.insert(entry.name().to_owned(), fired.len());
    }
    checked
}
