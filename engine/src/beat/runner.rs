//! A beat process: it joins the beat group, leads while it owns the beat topic's single
//! partition, and fires what is due in transactions.
//!
//! # Leading
//!
//! Every beat process is a member of the group `<prefix>.beat` subscribed to the one-partition
//! topic `<prefix>.beat`; the member assigned partition 0 leads, the others wait for a
//! rebalance. On becoming leader a process
//! 1. builds the transactional producer with the id `<prefix>.beat` — one id for all beat
//!    processes, so the new producer fences the previous leader's and settles any transaction
//!    it left open (committed or aborted) before anything is read;
//! 2. asks the group for its committed offset, which on Kafka waits out offsets a previous
//!    leader committed in a transaction still settling (KIP-447);
//! 3. reads the beat topic from its start into a [`Ledger`]: the last settled window of each
//!    entry (isolation hides aborted and open transactions).
//!
//! Then, whenever something is due, it publishes the task messages and their [`BeatFire`]
//! records, and adds the beat partition's offset with the group's metadata, in **one
//! transaction** — so a deposed leader's commit is refused (stale generation or fenced
//! producer), and a fire and its record are visible together or not at all. Only after the
//! commit does the ledger settle the windows. Any failure drops the producer and the ledger;
//! the process leads again from step 1 if it still owns the partition.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use celeriac_schemas::{BeatFire, Record};
use celeriac_topics::{
    CommitOffset, Consumer, ConsumerConfig, ConsumerEvent, Log, TopicPartition,
    TransactionalProducer,
};
use chrono::DateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::clock::{Clock, SystemClock};
use super::config::{check_session_timeout, BeatConfig};
use super::entry::Entry;
use super::error::{Error, Result};
use super::fire;
use super::ledger::{Action, Due, Ledger};
use crate::TopicNames;

/// What a beat process is doing, for tests, logs and `celeriac inspect`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BeatStatus {
    /// True while this process leads (owns the beat partition and has read the ledger).
    pub leading: bool,
    /// How many times this process has become leader.
    pub terms: u64,
    /// Tasks this process has published (committed).
    pub fired: u64,
    /// Windows this process has skipped under [`CatchUp::Skip`](super::CatchUp::Skip).
    pub skipped: u64,
}

/// Builds a [`Beat`]: entries, the log, topic names, a clock and a host name.
pub struct BeatBuilder {
    config: BeatConfig,
    clock: Arc<dyn Clock>,
    log: Option<Arc<dyn Log>>,
    names: TopicNames,
    hostname: Option<String>,
}

/// A beat process: any number may run; exactly one leads at a time.
///
/// ```no_run
/// # async fn demo(log: std::sync::Arc<dyn celeriac_topics::Log>) -> celeriac_engine::beat::Result<()> {
/// use celeriac_engine::beat::{Beat, Entry, Schedule};
/// use tokio_util::sync::CancellationToken;
///
/// let beat = Beat::builder()
///     .entry(Entry::new("nightly", Schedule::cron("0 3 * * *")?, "tasks.cleanup"))
///     .log(log)
///     .build()?;
/// let shutdown = CancellationToken::new();
/// let running = beat.spawn(shutdown.clone());
/// // … later
/// shutdown.cancel();
/// running.await.expect("beat task")?;
/// # Ok(()) }
/// ```
pub struct Beat {
    entries: Arc<[Entry]>,
    grace: Duration,
    tick: Duration,
    session_timeout: Duration,
    clock: Arc<dyn Clock>,
    log: Arc<dyn Log>,
    names: TopicNames,
    hostname: String,
    status: watch::Sender<BeatStatus>,
}

impl std::fmt::Debug for Beat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Beat")
            .field("entries", &self.entries.len())
            .field("hostname", &self.hostname)
            .field("prefix", &self.names.prefix())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for BeatBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BeatBuilder")
            .field("config", &self.config)
            .field("clock", &self.clock)
            .field("log", &self.log.as_ref().map(|log| log.backend()))
            .field("names", &self.names)
            .field("hostname", &self.hostname)
            .finish()
    }
}

/// One term of leadership: the fencing producer and what the log says was settled.
struct Term {
    producer: Box<dyn TransactionalProducer>,
    ledger: Ledger,
    /// The next offset of the beat partition after everything this leader has read or written.
    next_offset: i64,
}

impl BeatBuilder {
    /// Adds an entry.
    pub fn entry(mut self, entry: Entry) -> Self {
        self.config.entries.push(entry);
        self
    }

    /// Adds entries.
    pub fn entries(mut self, entries: impl IntoIterator<Item = Entry>) -> Self {
        self.config.entries.extend(entries);
        self
    }

    /// Takes entries, grace and tick from a configuration (entries already added are kept).
    pub fn config(mut self, config: BeatConfig) -> Self {
        self.config.entries.extend(config.entries);
        self.config.grace = config.grace;
        self.config.tick = config.tick;
        self.config.session_timeout = config.session_timeout;
        self
    }

    /// The log to lead through and publish to (required).
    pub fn log(mut self, log: Arc<dyn Log>) -> Self {
        self.log = Some(log);
        self
    }

    /// The app's topic names (default prefix `celeriac`).
    pub fn names(mut self, names: TopicNames) -> Self {
        self.names = names;
        self
    }

    /// Where to read the time ([`SystemClock`] by default).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// This process's name in the group, in records and as the tasks' origin
    /// (default `beat-<pid>@<host>`).
    pub fn hostname(mut self, hostname: impl Into<String>) -> Self {
        self.hostname = Some(hostname.into());
        self
    }

    /// A window at most this late still counts as on time (default 1 minute).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.config.grace = grace;
        self
    }

    /// How often beat re-reads the clock and polls its group, at most (default 1 s).
    pub fn tick(mut self, tick: Duration) -> Self {
        self.config.tick = tick;
        self
    }

    /// On Kafka, how long the beat group waits for a silent member — a leader killed without
    /// leaving — before another takes the lead (default [6 s](super::DEFAULT_SESSION_TIMEOUT),
    /// the lowest a broker accepts by default). See [`BeatConfig::session_timeout`].
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.config.session_timeout = timeout;
        self
    }

    /// Checks the entries (each error names its entry) and builds the process.
    pub fn build(self) -> Result<Beat> {
        let log = self
            .log
            .ok_or_else(|| Error::Config("no log to lead through: call .log(…)".into()))?;
        if self.config.tick.is_zero() {
            return Err(Error::Config("tick must be longer than zero".into()));
        }
        check_session_timeout(self.config.session_timeout)?;
        let mut seen = BTreeSet::new();
        let hostname = self.hostname.unwrap_or_else(default_hostname);
        for entry in &self.config.entries {
            entry.validate()?;
            if !seen.insert(entry.name.as_str()) {
                return Err(Error::Entry {
                    entry: entry.name.clone(),
                    reason: "two entries have this name".into(),
                });
            }
            // A task that cannot be encoded now never will be: refuse it before leading.
            let due = Due {
                entry: entry.name.clone(),
                window: DateTime::UNIX_EPOCH,
                action: Action::Fire,
                missed: 0,
            };
            fire::records(&self.names, entry, &due, DateTime::UNIX_EPOCH, &hostname)
                .map_err(|e| e.in_entry(&entry.name))?;
        }
        Ok(Beat {
            entries: self.config.entries.into(),
            grace: self.config.grace,
            tick: self.config.tick,
            session_timeout: self.config.session_timeout,
            clock: self.clock,
            log,
            names: self.names,
            hostname,
            status: watch::Sender::new(BeatStatus::default()),
        })
    }
}

impl Beat {
    /// A builder with no entries, the system clock and default topic names.
    pub fn builder() -> BeatBuilder {
        BeatBuilder {
            config: BeatConfig::default(),
            clock: Arc::new(SystemClock),
            log: None,
            names: TopicNames::default(),
            hostname: None,
        }
    }

    /// Watches what this process is doing.
    pub fn status(&self) -> watch::Receiver<BeatStatus> {
        self.status.subscribe()
    }

    /// This process's name.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// Runs [`run`](Self::run) on the tokio runtime.
    pub fn spawn(self, shutdown: CancellationToken) -> JoinHandle<Result<()>> {
        tokio::spawn(self.run(shutdown))
    }

    /// Creates the topics it needs, joins the beat group and serves until `shutdown` is
    /// cancelled (noticed within one tick), then leaves the group so another process takes
    /// over at once. Fails only when the log fails in a way a retry cannot help.
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        let mut topics = self.names.core_topics();
        let queues: BTreeSet<&str> = self.entries.iter().map(|e| e.queue.as_str()).collect();
        topics.extend(queues.into_iter().map(|q| self.names.queue_topic(q)));
        self.log.create_topics(&topics).await?;
        let config = ConsumerConfig::new(self.names.beat_group(), [self.names.beat()])
            .client_id(self.hostname.clone())
            .kafka_property("session.timeout.ms", millis(self.session_timeout))
            .kafka_property(
                "heartbeat.interval.ms",
                millis(heartbeat(self.session_timeout)),
            );
        let consumer = self.log.consumer(config).await?;
        info!(hostname = %self.hostname, entries = self.entries.len(), "beat: joined the beat group");
        let outcome = self.serve(consumer.as_ref(), &shutdown).await;
        if let Err(error) = consumer.close().await {
            warn!(%error, "beat: leaving the beat group failed; the group will notice when the session times out");
        }
        self.status.send_modify(|s| s.leading = false);
        info!(hostname = %self.hostname, "beat: stopped");
        outcome
    }

    fn partition(&self) -> TopicPartition {
        TopicPartition::new(self.names.beat(), 0)
    }

    async fn serve(&self, consumer: &dyn Consumer, shutdown: &CancellationToken) -> Result<()> {
        let tp = self.partition();
        let mut owned = false;
        let mut term: Option<Term> = None;
        while !shutdown.is_cancelled() {
            let wait = match &mut term {
                Some(term) => self.until_due(&mut term.ledger),
                None => self.tick,
            };
            match consumer.poll(64, wait).await {
                Ok(ConsumerEvent::Assigned(partitions)) if partitions.contains(&tp) => {
                    owned = true;
                    term = None;
                }
                Ok(ConsumerEvent::Revoked(partitions)) if partitions.contains(&tp) => {
                    owned = false;
                    if term.take().is_some() {
                        info!(hostname = %self.hostname, "beat: no longer the leader");
                        self.status.send_modify(|s| s.leading = false);
                    }
                }
                Ok(_) => {}
                Err(error) if error.is_retriable() => {
                    warn!(%error, "beat: polling the beat group failed; retrying")
                }
                Err(error) => return Err(error.into()),
            }
            if shutdown.is_cancelled() {
                break;
            }
            if owned && term.is_none() {
                match self.lead(consumer, &tp).await {
                    Ok(new) => {
                        info!(hostname = %self.hostname, entries = new.ledger.len(), "beat: leading");
                        self.status.send_modify(|s| {
                            s.leading = true;
                            s.terms += 1;
                        });
                        term = Some(new);
                    }
                    Err(error) => warn!(%error, "beat: could not take the lead; trying again"),
                }
            }
            if let Some(current) = term.as_mut() {
                if let Err(error) = self.fire_due(current, consumer, &tp).await {
                    warn!(%error, "beat: a fire transaction failed; reading the beat topic again before firing");
                    self.status.send_modify(|s| s.leading = false);
                    term = None;
                }
            }
        }
        Ok(())
    }

    /// How long to wait before something is due, at most one tick.
    fn until_due(&self, ledger: &mut Ledger) -> Duration {
        let now = self.clock.now();
        match ledger.next_due(&self.entries, now) {
            Some(at) => (at - now).to_std().unwrap_or(Duration::ZERO).min(self.tick),
            None => self.tick,
        }
    }

    /// Takes the lead: fence, wait out settling offsets, read the ledger.
    async fn lead(&self, consumer: &dyn Consumer, tp: &TopicPartition) -> Result<Term> {
        // We never read the beat partition through the group; pausing keeps polls to events.
        if let Err(error) = consumer.pause(std::slice::from_ref(tp)) {
            debug!(%error, "beat: could not pause the beat partition");
        }
        let producer = self.log.transactional_producer(&self.names.beat()).await?;
        consumer.committed(std::slice::from_ref(tp)).await?;
        let (low, _) = self.log.watermarks(tp).await?;
        let mut reader = self.log.read_partition(tp, low).await?;
        let mut ledger = Ledger::new();
        while let Some(batch) = reader.next_batch().await? {
            for record in batch {
                match BeatFire::decode(&record.payload) {
                    Ok(fire) => match DateTime::from_timestamp_millis(fire.window) {
                        Some(window) => ledger.settle(&fire.entry, window),
                        None => warn!(
                            offset = record.offset,
                            "beat: a record's window is out of range; ignored"
                        ),
                    },
                    Err(error) => {
                        warn!(offset = record.offset, %error, "beat: an undecodable record on the beat topic; ignored")
                    }
                }
            }
        }
        Ok(Term {
            producer,
            ledger,
            next_offset: reader.end(),
        })
    }

    /// Publishes what is due in one transaction, then settles it in the ledger.
    async fn fire_due(
        &self,
        term: &mut Term,
        consumer: &dyn Consumer,
        tp: &TopicPartition,
    ) -> Result<()> {
        let now = self.clock.now();
        let decisions = term.ledger.due(&self.entries, now, self.grace);
        if decisions.is_empty() {
            return Ok(());
        }
        let mut records = Vec::new();
        for due in &decisions {
            let Some(entry) = self.entries.iter().find(|e| e.name == due.entry) else {
                continue;
            };
            records.extend(
                fire::records(&self.names, entry, due, now, &self.hostname)
                    .map_err(|e| e.in_entry(&entry.name))?,
            );
        }
        let beat_topic = self.names.beat();
        let on_beat: Vec<bool> = records.iter().map(|r| r.topic == beat_topic).collect();
        let group = consumer.group_metadata()?;
        let producer = term.producer.as_ref();
        let committed = async {
            producer.begin().await?;
            let mut deliveries = Vec::with_capacity(records.len());
            for record in records {
                deliveries.push(producer.send(record)?);
            }
            let offset = CommitOffset {
                tp: tp.clone(),
                next: term.next_offset,
            };
            producer.send_offsets(&[offset], &group).await?;
            producer.commit().await?;
            Ok::<_, celeriac_topics::Error>(deliveries)
        }
        .await;
        let deliveries = match committed {
            Ok(deliveries) => deliveries,
            Err(error) => {
                if let Err(abort) = producer.abort().await {
                    debug!(error = %abort, "beat: abort after a failed transaction failed too");
                }
                return Err(error.into());
            }
        };
        for (delivery, on_beat) in deliveries.into_iter().zip(on_beat) {
            match delivery.await {
                Ok(position) if on_beat => {
                    term.next_offset = term.next_offset.max(position.offset + 1)
                }
                Ok(_) => {}
                Err(error) => {
                    debug!(%error, "beat: a committed record's delivery reported an error")
                }
            }
        }
        self.settle(term, &decisions, now);
        Ok(())
    }

    fn settle(&self, term: &mut Term, decisions: &[Due], now: DateTime<chrono::Utc>) {
        let (mut fired, mut skipped) = (0, 0);
        for due in decisions {
            term.ledger.settle(&due.entry, due.window);
            let window = due.window.to_rfc3339();
            match due.action {
                Action::Fire => {
                    fired += 1;
                    let id = fire::fire_task_id(self.names.prefix(), &due.entry, due.window);
                    info!(entry = %due.entry, %window, task_id = %id, missed = due.missed, late_ms = (now - due.window).num_milliseconds(), "beat: fired");
                }
                Action::Skip => {
                    skipped += 1;
                    warn!(entry = %due.entry, %window, missed = due.missed + 1, "beat: missed windows skipped (catch-up policy skip)");
                }
                Action::Register => {
                    info!(entry = %due.entry, %window, "beat: registered a new entry")
                }
            }
        }
        self.status.send_modify(|s| {
            s.fired += fired;
            s.skipped += skipped;
        });
    }
}

/// Runs a beat process from a configuration until `shutdown`: what `celeriac beat` calls.
pub async fn run(
    config: BeatConfig,
    log: Arc<dyn Log>,
    names: TopicNames,
    shutdown: CancellationToken,
) -> Result<()> {
    Beat::builder()
        .config(config)
        .log(log)
        .names(names)
        .build()?
        .run(shutdown)
        .await
}

/// The beat group's heartbeat for a session timeout: a sixth of it (1 s at the default), at
/// least 1 ms. A survivor learns of the rebalance that follows a leader's death at its next
/// heartbeat, so this bounds the failover's wait beyond the session timeout; the beat group
/// has a handful of members, so the traffic is nothing.
fn heartbeat(session_timeout: Duration) -> Duration {
    (session_timeout / 6).max(Duration::from_millis(1))
}

/// Whole milliseconds, as Kafka client properties take them.
fn millis(duration: Duration) -> String {
    duration.as_millis().to_string()
}

/// `beat-<pid>@<host>`, the host from `$HOSTNAME` or `/etc/hostname`.
fn default_hostname() -> String {
    format!("beat-{}@{}", std::process::id(), crate::host::host_name())
}
