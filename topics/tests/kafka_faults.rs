//! Faults against a real Kafka broker.
//!
//! `streams_survive_a_broker_restart` stops and starts a broker with `scripts/kafka`. It runs
//! its own single-node broker on [`PRIVATE_PORT`], with empty data, so that neither the shared
//! test broker's life nor the thousands of partitions the rest of the suite leaves on it decide
//! how long a restart takes; the broker is stopped when the test ends, also when it fails.

#[allow(dead_code, unused_macros, unused_imports)] // only its helpers are used here
mod conformance;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use celeriac_topics::{
    ConsumerConfig, ConsumerEvent, Delivery, Error, KafkaConfig, KafkaLog, Log, OutRecord, Record,
    TopicPartition, TopicSpec, TransactionalProducer, TxnErrorClass,
};
use conformance::{next_offsets, replay, unique};

/// The plain listener of the test's own broker (its controller and SASL_SSL listener take
/// the ports 100 and 200 above), clear of the shared broker (9092), the chaos cluster
/// (19092–19094) and `scripts/test`'s fresh-machine check (19492).
const PRIVATE_PORT: u16 = 19892;

async fn connect(timeout: Duration) -> celeriac_topics::Result<KafkaLog> {
    let brokers = format!("127.0.0.1:{PRIVATE_PORT}");
    KafkaLog::connect(KafkaConfig::new(brokers).connect_timeout(timeout)).await
}

/// With no broker, `connect` fails with a clear error once its bound has passed — no hang.
#[tokio::test]
async fn connecting_without_a_broker_fails_within_the_bound() {
    let started = Instant::now();
    let bound = Duration::from_secs(2);
    // Port 1: nothing listens there.
    let outcome = KafkaLog::connect(KafkaConfig::new("127.0.0.1:1").connect_timeout(bound)).await;
    let elapsed = started.elapsed();
    match outcome {
        Err(Error::BrokerUnreachable {
            brokers, waited, ..
        }) => {
            assert_eq!((brokers.as_str(), waited), ("127.0.0.1:1", bound));
        }
        other => panic!("expected BrokerUnreachable, got {other:?}"),
    }
    assert!(
        elapsed >= bound && elapsed < bound + Duration::from_secs(3),
        "took {elapsed:?}"
    );
}

/// The test's own broker on [`PRIVATE_PORT`], through `scripts/kafka`; stopped when dropped.
struct Broker {
    script: PathBuf,
}

impl Broker {
    /// Starts the broker with empty data.
    async fn start_fresh() -> Result<Self> {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka");
        let broker = Self { script };
        broker.run("reset").await?;
        broker.run("start").await?;
        Ok(broker)
    }

    fn command(&self, verb: &str) -> std::process::Command {
        let mut command = std::process::Command::new(&self.script);
        command
            .arg(verb)
            .env("KAFKA_PORT", PRIVATE_PORT.to_string())
            .env_remove("KAFKA_CONTROLLER_PORT")
            .env_remove("KAFKA_SASL_PORT");
        command
    }

    async fn run(&self, verb: &str) -> Result<()> {
        let status = tokio::process::Command::from(self.command(verb))
            .status()
            .await
            .with_context(|| format!("running {} {verb}", self.script.display()))?;
        ensure!(
            status.success(),
            "`KAFKA_PORT={PRIVATE_PORT} scripts/kafka {verb}` failed: {status}"
        );
        Ok(())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.command("stop").status();
    }
}

/// The longest the whole test may take once the broker is back.
const RECOVERY: Duration = Duration::from_secs(240);
const PLAIN_RECORDS: usize = 30_000;
const INPUT_RECORDS: usize = 15_000;

/// The broker is stopped and started again while a producer, a group member and a
/// transactional copier are mid-stream. Afterwards: every record the producer saw
/// acknowledged is in the log and was read by the member (at-least-once), and the copier's
/// committed output holds every input record exactly once — none lost, none doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_survive_a_broker_restart() -> Result<()> {
    let broker = Broker::start_fresh().await?;
    let log: Arc<dyn Log> = Arc::new(
        connect(Duration::from_secs(10))
            .await
            .context("the test's own broker, just started, does not answer")?,
    );
    let (plain, input, output) = (
        unique("faults-plain"),
        unique("faults-in"),
        unique("faults-out"),
    );
    log.create_topics(&[
        TopicSpec::new(&plain, 3),
        TopicSpec::new(&input, 3),
        TopicSpec::new(&output, 3),
    ])
    .await?;
    let inputs =
        (0..INPUT_RECORDS).map(|i| OutRecord::keyed(&input, format!("k{i}"), format!("in-{i}")));
    log.send_batch(inputs.collect()).await?;

    let progress = Progress::default();
    let producer = tokio::spawn(produce(Arc::clone(&log), plain.clone(), progress.clone()));
    let member = tokio::spawn(consume(Arc::clone(&log), plain.clone(), progress.clone()));
    let copier = tokio::spawn(copy(
        Arc::clone(&log),
        input.clone(),
        output.clone(),
        progress.clone(),
    ));

    // Mid-stream: some records produced, read and copied, most not yet.
    let deadline = Instant::now() + Duration::from_secs(60);
    while progress.acked.load(Ordering::Relaxed) < PLAIN_RECORDS / 5
        || progress.copied.load(Ordering::Relaxed) < INPUT_RECORDS / 5
    {
        ensure!(
            Instant::now() < deadline,
            "the streams did not get going: {progress:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("stopping the broker at {progress:?}");
    broker.run("stop").await?;
    // Down at start: a clear error within the bound.
    match connect(Duration::from_secs(3)).await {
        Err(Error::BrokerUnreachable { .. }) => {}
        other => bail!("connecting to a stopped broker gave {other:?}"),
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    eprintln!("starting the broker at {progress:?}");
    broker.run("start").await?;
    let restarted = Instant::now();

    let acked = tokio::time::timeout(RECOVERY, producer)
        .await
        .context("the producer did not finish")???;
    ensure!(
        acked.len() == PLAIN_RECORDS,
        "{} of {PLAIN_RECORDS} records acknowledged",
        acked.len()
    );
    progress.expected.lock().expect("lock").clone_from(&acked);
    let left = RECOVERY.saturating_sub(restarted.elapsed());
    let seen = tokio::time::timeout(left, member)
        .await
        .context("the member did not catch up")???;
    let left = RECOVERY.saturating_sub(restarted.elapsed());
    let stats = tokio::time::timeout(left, copier)
        .await
        .context("the copier did not finish")???;
    eprintln!("recovered in {:?}; copier: {stats:?}", restarted.elapsed());

    // At-least-once: every acknowledged record is in the log and was read.
    let mut stored = BTreeSet::new();
    for partition in 0..3 {
        stored.extend(
            replay(&log, &TopicPartition::new(&plain, partition), 0)
                .await?
                .iter()
                .map(text),
        );
    }
    let lost: Vec<&String> = acked.difference(&stored).take(5).collect();
    ensure!(
        lost.is_empty(),
        "acknowledged records missing from the log: {lost:?}…"
    );
    let unread: Vec<&String> = acked.difference(&seen).take(5).collect();
    ensure!(
        unread.is_empty(),
        "acknowledged records the member never read: {unread:?}…"
    );

    // Exactly once through transactions: each input once in the committed output.
    let mut copies: BTreeMap<String, usize> = BTreeMap::new();
    for partition in 0..3 {
        for record in replay(&log, &TopicPartition::new(&output, partition), 0).await? {
            *copies.entry(text(&record)).or_default() += 1;
        }
    }
    let doubled: Vec<_> = copies.iter().filter(|(_, n)| **n > 1).take(5).collect();
    ensure!(
        doubled.is_empty(),
        "records copied more than once: {doubled:?}"
    );
    let missing: Vec<String> = (0..INPUT_RECORDS)
        .map(|i| format!("out-in-{i}"))
        .filter(|p| !copies.contains_key(p))
        .take(5)
        .collect();
    ensure!(
        missing.is_empty() && copies.len() == INPUT_RECORDS,
        "{} copies, missing {missing:?}",
        copies.len()
    );
    log.delete_topics(&[plain, input, output]).await?;
    Ok(())
}

fn text(record: &Record) -> String {
    String::from_utf8_lossy(&record.payload).into_owned()
}

#[derive(Clone, Default, Debug)]
struct Progress {
    acked: Arc<AtomicUsize>,
    read: Arc<AtomicUsize>,
    copied: Arc<AtomicUsize>,
    /// Set once the producer is done: what the member must have read before it stops.
    expected: Arc<Mutex<BTreeSet<String>>>,
}

/// Sends `PLAIN_RECORDS` records in paced chunks, resending any whose delivery failed;
/// returns the payloads acknowledged.
async fn produce(log: Arc<dyn Log>, topic: String, progress: Progress) -> Result<BTreeSet<String>> {
    // Start once the copier runs, so that both streams are mid-way when the broker stops.
    while progress.copied.load(Ordering::Relaxed) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut todo: Vec<String> = (0..PLAIN_RECORDS).map(|i| format!("plain-{i}")).collect();
    let mut acked = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(120) + RECOVERY;
    while !todo.is_empty() {
        ensure!(
            Instant::now() < deadline,
            "{} records never acknowledged",
            todo.len()
        );
        let mut chunks = Vec::new();
        for chunk in todo.chunks(100) {
            let mut sent: Vec<(String, Delivery)> = Vec::with_capacity(chunk.len());
            for payload in chunk {
                let mut record = OutRecord::keyed(&topic, payload.clone(), payload.clone());
                loop {
                    match log.send(record) {
                        Ok(delivery) => break sent.push((payload.clone(), delivery)),
                        Err(Error::QueueFull(back)) => {
                            record = *back;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        Err(other) => return Err(other.into()),
                    }
                }
            }
            let acked = Arc::clone(&progress.acked);
            chunks.push(tokio::spawn(async move {
                let mut outcome = (Vec::new(), Vec::new());
                for (payload, delivery) in sent {
                    match delivery.await {
                        Ok(_) => {
                            acked.fetch_add(1, Ordering::Relaxed);
                            outcome.0.push(payload);
                        }
                        Err(_) => outcome.1.push(payload),
                    }
                }
                outcome
            }));
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        todo.clear();
        for chunk in chunks {
            let (ok, failed) = chunk.await?;
            acked.extend(ok);
            todo.extend(failed);
        }
    }
    Ok(acked)
}

/// A group member reading and committing as it goes, riding out errors, until it has read
/// everything the producer saw acknowledged.
async fn consume(log: Arc<dyn Log>, topic: String, progress: Progress) -> Result<BTreeSet<String>> {
    let consumer = log
        .consumer(ConsumerConfig::new(
            unique("faults-member"),
            [topic.as_str()],
        ))
        .await?;
    let mut seen = BTreeSet::new();
    loop {
        {
            let expected = progress.expected.lock().expect("lock");
            if !expected.is_empty() && expected.is_subset(&seen) {
                break;
            }
        }
        match consumer.poll(500, Duration::from_millis(100)).await {
            Ok(ConsumerEvent::Records(records)) if !records.is_empty() => {
                progress.read.fetch_add(records.len(), Ordering::Relaxed);
                seen.extend(records.iter().map(text));
                if let Err(error) = consumer.commit(&next_offsets(&records)).await {
                    eprintln!("member: commit failed ({error}); records will be read again");
                }
            }
            Ok(_) => {}
            Err(error) => {
                eprintln!("member: poll failed: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    consumer.close().await?;
    Ok(seen)
}

#[derive(Debug, Default)]
struct CopyStats {
    transactions: usize,
    retries: usize,
    aborts: usize,
    rebuilt_producers: usize,
}

/// Consume-transform-produce in transactions, handling each error class as librdkafka
/// documents: retry the call; abort and rewind to the committed offsets; or rebuild the
/// producer (then rewind). Runs until the group has committed the whole input.
async fn copy(
    log: Arc<dyn Log>,
    input: String,
    output: String,
    progress: Progress,
) -> Result<CopyStats> {
    let group = unique("faults-copier");
    let id = unique("faults-copier-txn");
    let consumer = log
        .consumer(ConsumerConfig::new(&group, [input.as_str()]))
        .await?;
    let partitions: Vec<TopicPartition> = (0..3).map(|p| TopicPartition::new(&input, p)).collect();
    let mut ends = Vec::new();
    for tp in &partitions {
        ends.push(Some(log.watermarks(tp).await?.1));
    }
    let mut stats = CopyStats::default();
    let mut producer = open_producer(&log, &id).await?;
    let mut owned: BTreeSet<TopicPartition> = BTreeSet::new();
    loop {
        let records = match consumer.poll(100, Duration::from_millis(100)).await {
            Ok(ConsumerEvent::Records(records)) => records,
            Ok(ConsumerEvent::Assigned(tps)) => {
                owned.extend(tps);
                continue;
            }
            Ok(ConsumerEvent::Revoked(tps)) => {
                for tp in &tps {
                    owned.remove(tp);
                }
                continue;
            }
            Err(error) => {
                eprintln!("copier: poll failed: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if records.is_empty() {
            if matches!(log.committed_offsets(&group, &partitions).await, Ok(c) if c == ends) {
                return Ok(stats);
            }
            continue;
        }
        match transact(
            producer.as_ref(),
            consumer.as_ref(),
            &output,
            &records,
            &mut stats,
        )
        .await
        {
            Ok(()) => {
                stats.transactions += 1;
                progress.copied.fetch_add(records.len(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(15)).await;
                continue;
            }
            Err(error) if error.txn_class() == Some(TxnErrorClass::Fatal) => {
                eprintln!("copier: fatal ({error}); rebuilding the producer");
                producer = open_producer(&log, &id).await?;
                stats.rebuilt_producers += 1;
            }
            Err(error) => {
                eprintln!("copier: aborting ({error})");
                stats.aborts += 1;
                if let Err(abort) = producer.abort().await {
                    eprintln!("copier: abort failed ({abort}); rebuilding the producer");
                    producer = open_producer(&log, &id).await?;
                    stats.rebuilt_producers += 1;
                }
            }
        }
        rewind(consumer.as_ref(), &owned).await;
    }
}

/// One transaction; retriable failures of a call are retried a few times.
async fn transact(
    producer: &dyn TransactionalProducer,
    consumer: &dyn celeriac_topics::Consumer,
    output: &str,
    records: &[Record],
    stats: &mut CopyStats,
) -> celeriac_topics::Result<()> {
    producer.begin().await?;
    for record in records {
        let copy = OutRecord::keyed(
            output,
            record.key.clone().unwrap_or_default(),
            format!("out-{}", text(record)),
        );
        drop(producer.send(copy)?);
    }
    let group = consumer.group_metadata()?;
    let offsets = next_offsets(records);
    retry(stats, || producer.send_offsets(&offsets, &group)).await?;
    retry(stats, || producer.commit()).await
}

async fn retry<F, Fut>(stats: &mut CopyStats, mut call: F) -> celeriac_topics::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = celeriac_topics::Result<()>>,
{
    let mut attempts = 0;
    loop {
        match call().await {
            Err(error) if error.txn_class() == Some(TxnErrorClass::Retriable) && attempts < 10 => {
                eprintln!("copier: retrying ({error})");
                attempts += 1;
                stats.retries += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return other,
        }
    }
}

/// Opens the transactional producer, waiting out the broker's absence.
async fn open_producer(log: &Arc<dyn Log>, id: &str) -> Result<Box<dyn TransactionalProducer>> {
    let deadline = Instant::now() + RECOVERY;
    loop {
        match log.transactional_producer(id).await {
            Ok(producer) => return Ok(producer),
            Err(error) if Instant::now() < deadline => {
                eprintln!("copier: opening the producer failed ({error}); again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Seeks every owned partition back to the group's committed offset (the start if none).
async fn rewind(consumer: &dyn celeriac_topics::Consumer, owned: &BTreeSet<TopicPartition>) {
    let owned: Vec<TopicPartition> = owned.iter().cloned().collect();
    let deadline = Instant::now() + RECOVERY;
    while Instant::now() < deadline {
        match consumer.committed(&owned).await {
            Ok(committed) => {
                for (tp, offset) in owned.iter().zip(committed) {
                    if let Err(error) = consumer.seek(tp, offset.unwrap_or(0)) {
                        eprintln!("copier: seek {tp} failed ({error})");
                    }
                }
                return;
            }
            Err(error) => {
                eprintln!("copier: reading committed offsets failed ({error}); again");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}
