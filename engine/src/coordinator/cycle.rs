//! The coordinator's loop.
//!
//! One consumer in the coordinator group reads `workflows`, `timers` and `events`; one
//! transactional producer per process publishes. Per polled batch: begin; apply each record
//! to a write batch (the applied offsets inside it); apply ticks of due timers; send the
//! actions; send the next offsets with the group's metadata (fencing); commit; only then
//! write the batch. An abortable failure aborts, drops the batch and seeks back to the
//! applied offsets; a fatal one also rebuilds the producer. A newly owned partition is
//! restored from the log first: `[applied, committed)` of `workflows` and `events`, and
//! `timers` to its end, state only (see [`apply_range`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use celeriac_schemas::now_millis;
use celeriac_topics::{
    CommitOffset, Consumer, ConsumerEvent, OutRecord, Record, TopicName, TopicPartition, TopicSpec,
    TransactionalProducer, TxnErrorClass,
};
use tokio_util::sync::CancellationToken;

use super::core::{Action, Input, Source};
use super::error::{Error, Result};
use super::restore::{apply_range, Range};
use super::runner::Coordinator;
use super::state::{keys, set_applied_offset, StateAccess, Table};
use super::store::Batch;
use super::txn::{after_failure, transactional_id, Next, Step, RETRY_FOR, RETRY_PAUSE};
use super::watchdog::Progress;

/// The most expired results one sweep transaction deletes.
const SWEEP_LIMIT: usize = 10_000;

/// The loop's state.
pub(super) struct Runner {
    pub(super) c: Coordinator,
    sources: HashMap<TopicName, Source>,
    timers_topic: TopicName,
    pub(super) consumer: Box<dyn Consumer>,
    /// The producer of the lowest owned partition's transactional id (none while nothing is
    /// owned), and that id.
    producer: Option<(String, Box<dyn TransactionalProducer>)>,
    /// Next offset to apply per owned partition (mirrors the store).
    applied: HashMap<TopicPartition, i64>,
    owned_timers: BTreeSet<i32>,
    /// Topics known to exist (task queues are created on first use).
    known_topics: HashSet<String>,
    commits: u64,
    last_sweep: Instant,
    /// When the last transaction began (see [`CoordinatorBuilder::commit_interval`](super::CoordinatorBuilder::commit_interval)).
    last_commit: Instant,
    /// Records the last transaction applied.
    last_records: usize,
    /// Which phase the loop is in, for the watchdog.
    progress: Progress,
}

/// What became of a transaction.
enum Outcome {
    Committed,
    Aborted,
}

impl Runner {
    pub(super) fn new(
        c: Coordinator,
        topics: [TopicName; 3],
        consumer: Box<dyn Consumer>,
        progress: Progress,
    ) -> Self {
        let [workflows, timers, events] = topics;
        Runner {
            sources: [
                (workflows, Source::Workflows),
                (timers.clone(), Source::Timers),
                (events, Source::Events),
            ]
            .into_iter()
            .collect(),
            timers_topic: timers,
            consumer,
            producer: None,
            applied: HashMap::new(),
            owned_timers: BTreeSet::new(),
            known_topics: HashSet::new(),
            commits: 0,
            last_sweep: Instant::now(),
            last_commit: Instant::now(),
            last_records: 0,
            progress,
            c,
        }
    }

    pub(super) async fn run(&mut self, cancel: &CancellationToken) -> Result<()> {
        loop {
            let wait = (self.c.commit_pacing).wait(self.last_commit.elapsed(), self.last_records);
            if !wait.is_zero() {
                tokio::select! {
                    () = cancel.cancelled() => return Ok(()),
                    () = tokio::time::sleep(wait) => {}
                }
            }
            let timeout = self.poll_timeout()?;
            self.progress.enter("polling the coordinator topics");
            let event = tokio::select! {
                () = cancel.cancelled() => return Ok(()),
                event = self.consumer.poll(self.c.max_batch, timeout) => event,
            };
            match event {
                Ok(ConsumerEvent::Assigned(tps)) => self.assigned(tps).await?,
                Ok(ConsumerEvent::Revoked(tps)) => self.revoked(&tps),
                Ok(ConsumerEvent::Records(records)) => self.process(records).await?,
                Err(error) if error.is_retriable() => {
                    tracing::warn!(%error, "polling the coordinator topics; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => return Err(Error::log("polling the coordinator topics", error)),
            }
            if self.last_sweep.elapsed() >= self.c.sweep_interval {
                self.sweep().await?;
            }
        }
    }

    /// Waits no longer than the tick interval, nor past the earliest owned timer.
    fn poll_timeout(&self) -> Result<Duration> {
        let now = now_millis();
        let mut timeout = self.c.tick_interval;
        for &partition in &self.owned_timers {
            if let Some(due) = self.c.store.next_due(partition)? {
                timeout = timeout.min(Duration::from_millis(due.saturating_sub(now).max(0) as u64));
            }
        }
        Ok(timeout)
    }

    /// Restores newly owned partitions from the log, then reads on from where they end.
    async fn assigned(&mut self, mut tps: Vec<TopicPartition>) -> Result<()> {
        let order = |tp: &TopicPartition| match self.sources.get(&tp.topic) {
            Some(Source::Workflows) => 0,
            Some(Source::Events) => 1,
            _ => 2,
        };
        tps.sort_by_key(|tp| (tp.partition, order(tp)));
        // Fence first: a previous owner's open transaction holds its offsets pending, and a
        // read-committed offset fetch waits on pending offsets (KIP-447) until that
        // transaction ends, which without a fence is its timeout.
        self.take_over(&tps).await?;
        self.progress.enter("reading committed offsets");
        let committed = self
            .consumer
            .committed(&tps)
            .await
            .map_err(|e| Error::log("reading committed offsets", e))?;
        self.progress
            .enter("reading the watermarks of newly owned partitions");
        let log = self.c.log.as_ref();
        let highs = futures::future::join_all(tps.iter().map(|tp| log.watermarks(tp))).await;
        let started = Instant::now();
        let mut restored = 0;
        for ((tp, committed), high) in tps.iter().zip(committed).zip(highs) {
            let Some(&source) = self.sources.get(&tp.topic) else {
                continue;
            };
            let stored = self.c.store.applied_offset(tp)?;
            let applied = stored.unwrap_or(0);
            let (_, high) =
                high.map_err(|e| Error::log(format!("reading the watermarks of {tp}"), e))?;
            if applied > high {
                return Err(Error::Config {
                    what: "state_dir",
                    detail: format!(
                        "the store at {} applied {tp} up to offset {applied}, but the log ends at {high}: \
                         it belongs to another log; delete it to rebuild from this one",
                        self.c.store.path().display()
                    ),
                });
            }
            // Workflows and events up to what the group committed (their actions are in the
            // log already); timers to the end, since applying them publishes nothing.
            let end = match source {
                Source::Timers => high,
                _ => committed.unwrap_or(applied).max(applied),
            };
            // A store that is caught up (the usual case after a rebalance) reads nothing:
            // no reader is opened, and taking a partition over costs no round trip.
            let next = if applied >= end {
                if stored.is_none() {
                    // Recorded as a restore would, so the store's digest matches a replay's.
                    let mut batch = self.c.store.batch();
                    set_applied_offset(&mut batch, &tp.topic, tp.partition, applied);
                    batch.write()?;
                }
                applied
            } else {
                self.progress.enter("restoring a newly owned partition");
                let progress = self.progress.clone();
                let range = Range {
                    source,
                    tp,
                    from: applied,
                    end: Some(end),
                };
                let done = apply_range(
                    log,
                    &self.c.store,
                    &mut self.c.core,
                    range,
                    self.c.max_batch,
                    &mut |_, _| progress.touch(),
                )
                .await?;
                restored += done.applied;
                done.next
            };
            let position = next.max(committed.unwrap_or(0));
            if let Err(error) = self.consumer.seek(tp, position) {
                tracing::warn!(%tp, %error, "seeking a restored partition; records below {position} will be skipped");
            }
            self.applied.insert(tp.clone(), next);
            if source == Source::Timers {
                self.owned_timers.insert(tp.partition);
            }
        }
        let owned: BTreeSet<i32> = tps.iter().map(|tp| tp.partition).collect();
        let owned = owned
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        tracing::info!(partitions = tps.len(), %owned, restored, elapsed = ?started.elapsed(), "partitions assigned");
        Ok(())
    }

    /// Publishes with the transactional id of the lowest owned partition, and fences every
    /// other owned partition's id: whoever last used one — a member killed or frozen
    /// mid-transaction — is fenced and its open transaction aborted now (see `txn.rs`).
    async fn take_over(&mut self, tps: &[TopicPartition]) -> Result<()> {
        let owned: BTreeSet<i32> = tps.iter().map(|tp| tp.partition).collect();
        let Some(&lowest) = owned.first() else {
            return Ok(());
        };
        self.progress
            .enter("fencing the previous owners' transactional ids");
        let prefix = self.c.names.prefix().to_owned();
        let id = transactional_id(&prefix, lowest);
        if self.producer.as_ref().map(|(current, _)| current) != Some(&id) {
            self.producer = None; // the old one's id may now be another member's
            let producer = (self.c.log.transactional_producer(&id))
                .await
                .map_err(|e| Error::log(format!("opening transactional producer {id}"), e))?;
            let producer = super::faults::faulty_commits(
                producer,
                self.c.lying_commits,
                &self.c.hanging_commits,
            );
            tracing::info!(transactional_id = %id, "publishing with the lowest owned partition's id");
            self.producer = Some((id, producer));
        }
        let log = &self.c.log;
        let fences = owned.iter().filter(|&&p| p != lowest).map(|&p| {
            let id = transactional_id(&prefix, p);
            async move {
                log.transactional_producer(&id)
                    .await
                    .map(drop)
                    .map_err(|e| Error::log(format!("fencing transactional id {id}"), e))
            }
        });
        for fenced in futures::future::join_all(fences).await {
            fenced?;
        }
        Ok(())
    }

    fn revoked(&mut self, tps: &[TopicPartition]) {
        for tp in tps {
            self.applied.remove(tp);
            if tp.topic == self.timers_topic {
                self.owned_timers.remove(&tp.partition);
            }
        }
        self.c.core.forget_cache();
        tracing::info!(partitions = tps.len(), "partitions revoked");
    }

    /// Applies a polled batch and due timers in one transaction.
    async fn process(&mut self, records: Vec<Record>) -> Result<()> {
        self.progress.enter("applying records");
        let now = now_millis();
        let mut batch = self.c.store.batch();
        let mut actions = Vec::new();
        let mut offsets: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        for record in &records {
            let Some(&source) = self.sources.get(&record.topic) else {
                continue;
            };
            let tp = record.topic_partition();
            let next = offsets
                .get(&tp)
                .copied()
                .or_else(|| self.applied.get(&tp).copied())
                .unwrap_or(0);
            if record.offset < next {
                continue; // applied already (a partition read again after a restore)
            }
            actions.extend(self.c.core.apply(
                &mut batch,
                Input::from_record(source, record),
                now,
            )?);
            offsets.insert(tp, record.offset + 1);
        }
        for (tp, next) in &offsets {
            set_applied_offset(&mut batch, &tp.topic, tp.partition, *next);
        }
        for &partition in &self.owned_timers {
            let due = batch.scan(
                Table::Timers,
                &keys::timer_bound(partition as u32, 0),
                &keys::timer_bound(partition as u32, now.saturating_add(1)),
                1,
            )?;
            if due.is_empty() {
                continue;
            }
            let input = Input::Tick {
                partition,
                now_ms: now,
                limit: self.c.max_batch,
            };
            actions.extend(self.c.core.apply(&mut batch, input, now)?);
            let tp = TopicPartition::new(self.timers_topic.clone(), partition);
            let next = self.applied.get(&tp).copied().unwrap_or(0);
            offsets.entry(tp).or_insert(next); // commits nothing new, but fences a zombie
        }
        if actions.is_empty() && offsets.is_empty() {
            return Ok(());
        }
        self.last_commit = Instant::now();
        self.last_records = records.len();
        match self.transact(actions, &offsets).await? {
            Outcome::Committed => self.committed(batch, offsets),
            Outcome::Aborted => {
                drop(batch);
                self.c.core.forget_cache();
                for tp in offsets.keys() {
                    if let Some(&next) = self.applied.get(tp) {
                        // A seek that fails would let the aborted records be skipped: a new
                        // run restarts from the committed offsets and the store instead.
                        self.consumer.seek(tp, next).map_err(|e| {
                            Error::log(format!("seeking {tp} back to {next} after an abort"), e)
                        })?;
                    }
                }
                Ok(())
            }
        }
    }

    /// The transaction committed: write the state batch (the store now matches the log).
    fn committed(&mut self, batch: Batch, offsets: BTreeMap<TopicPartition, i64>) -> Result<()> {
        self.commits += 1;
        if self
            .c
            .crash_after_commits
            .is_some_and(|n| self.commits >= n)
        {
            return Err(Error::Config {
                what: "crash_after_commits",
                detail: "injected crash before the state write".into(),
            });
        }
        batch.write()?;
        self.applied.extend(offsets);
        Ok(())
    }

    /// Publishes actions and commits offsets atomically, following the rules in `txn.rs`:
    /// retriable calls are tried again (a commit is never aborted), abortable failures abort,
    /// and a fenced or unusable producer ends this run (its supervisor starts another).
    async fn transact(
        &mut self,
        actions: Vec<Action>,
        offsets: &BTreeMap<TopicPartition, i64>,
    ) -> Result<Outcome> {
        for action in &actions {
            if let Action::Enqueue(record) = action {
                self.progress.enter("creating a queue topic");
                self.ensure_topic(&record.topic).await?;
            }
        }
        let commits: Vec<CommitOffset> = offsets
            .iter()
            .map(|(tp, &next)| CommitOffset {
                tp: tp.clone(),
                next,
            })
            .collect();
        let Err((step, error)) = self.try_transact(actions, &commits).await else {
            return Ok(Outcome::Committed);
        };
        match after_failure(step, &error, RETRY_FOR) {
            Next::Abort | Next::Retry => {
                tracing::info!(%error, ?step, "aborting the transaction; the batch will be applied again");
                self.abort().await;
                // A queue topic deleted under us is created again before the next try.
                self.known_topics.clear();
                if error.is_retriable() {
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Ok(Outcome::Aborted)
            }
            Next::Restart => Err(Error::log(
                format!("transaction {step:?} (the coordinator rejoins its group)"),
                error,
            )),
        }
    }

    /// Aborts the open transaction, if any (best effort: a failed abort is logged).
    async fn abort(&self) {
        let Some((_, producer)) = &self.producer else {
            return;
        };
        self.progress.enter("aborting a transaction");
        if let Err(error) = producer.abort().await {
            tracing::warn!(%error, "aborting a transaction");
        }
    }

    /// Begin, send, send the offsets, commit — each retriable call tried again until it
    /// succeeds or [`after_failure`] says otherwise. The error says which step failed.
    async fn try_transact(
        &mut self,
        actions: Vec<Action>,
        offsets: &[CommitOffset],
    ) -> std::result::Result<(), (Step, celeriac_topics::Error)> {
        let Some((_, producer)) = &self.producer else {
            let closed =
                celeriac_topics::Error::Closed("transactional producer (no partition owned)");
            return Err((Step::Begin, closed));
        };
        let producer = producer.as_ref();
        self.progress.enter("beginning a transaction");
        retrying(Step::Begin, || producer.begin()).await?;
        self.progress.enter("sending a transaction's records");
        for action in actions {
            send(producer, action.into_record())
                .await
                .map_err(|e| (Step::Send, e))?;
        }
        if !offsets.is_empty() {
            let group = self
                .consumer
                .group_metadata()
                .map_err(|e| (Step::SendOffsets, e))?;
            self.progress.enter("sending a transaction's offsets");
            retrying(Step::SendOffsets, || producer.send_offsets(offsets, &group)).await?;
        }
        if self.c.abort_transactions > 0 {
            self.c.abort_transactions -= 1;
            let injected = celeriac_topics::Error::Transaction {
                operation: "commit",
                class: TxnErrorClass::Abortable,
                detail: "injected failure".into(),
            };
            return Err((Step::Commit, injected));
        }
        self.progress.enter("committing a transaction");
        retrying(Step::Commit, || producer.commit()).await
    }

    /// Creates a task queue's topic the first time the coordinator publishes to it.
    async fn ensure_topic(&mut self, topic: &str) -> Result<()> {
        if self.known_topics.contains(topic) {
            return Ok(());
        }
        match self.c.log.describe_topic(topic).await {
            Ok(_) => {}
            Err(celeriac_topics::Error::UnknownTopic(_)) => {
                let spec = match self.c.names.queue_of(topic) {
                    Some(queue) => self.c.names.queue_topic(queue),
                    None => TopicSpec::new(topic, self.c.names.task_partitions),
                };
                match self.c.log.create_topics(&[spec]).await {
                    Ok(()) | Err(celeriac_topics::Error::PartitionMismatch { .. }) => {}
                    Err(e) => return Err(Error::log(format!("creating queue topic {topic:?}"), e)),
                }
            }
            Err(e) => return Err(Error::log(format!("describing queue topic {topic:?}"), e)),
        }
        self.known_topics.insert(topic.to_owned());
        Ok(())
    }

    /// Deletes expired results from the store and publishes their tombstones, in
    /// transactions of up to [`SWEEP_LIMIT`] results. An aborted one is tried at the next sweep.
    async fn sweep(&mut self) -> Result<()> {
        self.last_sweep = Instant::now();
        self.progress.enter("sweeping expired results");
        loop {
            let mut batch = self.c.store.batch();
            let before = self.c.core.stats().results_swept;
            let now = now_millis();
            let sweep = Input::Sweep {
                now_ms: now,
                limit: SWEEP_LIMIT,
            };
            let actions = self.c.core.apply(&mut batch, sweep, now)?;
            let swept = self.c.core.stats().results_swept - before;
            if swept == 0 {
                return Ok(());
            }
            match self.transact(actions, &BTreeMap::new()).await? {
                Outcome::Committed => batch.write()?,
                Outcome::Aborted => {
                    self.c.core.forget_cache();
                    return Ok(());
                }
            }
            if swept < SWEEP_LIMIT as u64 {
                return Ok(());
            }
        }
    }
}

/// Calls `call` until it succeeds, or fails in a way [`after_failure`] does not retry.
async fn retrying<F, Fut>(
    step: Step,
    mut call: F,
) -> std::result::Result<(), (Step, celeriac_topics::Error)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = celeriac_topics::Result<()>>,
{
    let first = Instant::now();
    loop {
        match call().await {
            Ok(()) => return Ok(()),
            Err(error) => match after_failure(step, &error, first.elapsed()) {
                Next::Retry => {
                    tracing::debug!(%error, ?step, "retrying a transaction call");
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Next::Abort | Next::Restart => return Err((step, error)),
            },
        }
    }
}

/// Sends one record in the open transaction, waiting while the producer's queue is full.
async fn send(
    producer: &dyn TransactionalProducer,
    mut record: OutRecord,
) -> celeriac_topics::Result<()> {
    let mut waited = Duration::ZERO;
    loop {
        match producer.send(record) {
            Ok(_delivery) => return Ok(()), // the commit waits for every delivery
            Err(celeriac_topics::Error::QueueFull(back)) if waited < Duration::from_secs(30) => {
                record = *back;
                tokio::time::sleep(Duration::from_millis(2)).await;
                waited += Duration::from_millis(2);
            }
            Err(error) => return Err(error),
        }
    }
}
