//! The log contract, one property per function, run against every backend.
//!
//! Each property is an `async fn(Arc<dyn Log>) -> anyhow::Result<()>` that creates its own
//! randomly named topics and groups, waits on events (never on fixed sleeps, except to show
//! that something does *not* happen) and gives up after [`WAIT`]. A backend's test file
//! instantiates them all with [`conformance_tests!`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use bytes::Bytes;
use celeriac_topics::{
    partition_for_key, CommitOffset, Consumer, ConsumerConfig, ConsumerEvent, Error, Log,
    OutRecord, Position, Record, TopicPartition, TopicSpec, TransactionalProducer, TxnErrorClass,
};

mod admin;
pub(crate) use admin::topics_are_listed_and_lag_is_measurable;

/// The longest any step may take before the property fails.
pub(crate) const WAIT: Duration = Duration::from_secs(60);

/// Instantiates every property as a `#[tokio::test]` for one backend. `$open` is an async
/// function returning `anyhow::Result<Backend>`.
macro_rules! conformance_tests {
    ($open:path) => {
        conformance_tests!(@each $open;
            per_partition_order,
            keys_land_where_the_java_client_puts_them,
            uncommitted_records_are_redelivered_after_a_restart,
            group_members_split_partitions_and_take_over,
            aborted_and_open_transactions_are_invisible,
            offsets_commit_atomically_with_the_transaction,
            newer_transactional_producer_fences_the_older,
            replay_returns_exactly_what_was_produced,
            topics_are_created_once_and_described,
            watermarks_and_offsets_for_times,
            pause_resume_and_seek,
            topics_are_listed_and_lag_is_measurable,
        );
    };
    (@each $open:path; $($property:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $property() -> anyhow::Result<()> {
                let backend = $open().await?;
                conformance::$property(std::sync::Arc::clone(&backend.log)).await
            }
        )*
    };
}
pub(crate) use conformance_tests;

/// A log under test, and whatever must live as long as it (a temporary directory).
pub(crate) struct Backend {
    pub(crate) log: Arc<dyn Log>,
    _guard: Option<Box<dyn std::any::Any + Send>>,
}

impl Backend {
    pub(crate) fn new(log: Arc<dyn Log>, guard: Option<Box<dyn std::any::Any + Send>>) -> Self {
        Self { log, _guard: guard }
    }
}

/// A name no other test uses.
pub(crate) fn unique(what: &str) -> String {
    format!("celeriac-test.{what}.{}", uuid::Uuid::new_v4().simple())
}

/// Creates a fresh topic.
pub(crate) async fn topic(log: &Arc<dyn Log>, what: &str, partitions: i32) -> Result<String> {
    let name = unique(what);
    log.create_topics(&[TopicSpec::new(&name, partitions)])
        .await
        .with_context(|| format!("creating topic {name}"))?;
    Ok(name)
}

fn payload(s: impl Into<String>) -> Bytes {
    Bytes::from(s.into())
}

fn text(bytes: &Bytes) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Sends records one by one and waits for all of them.
pub(crate) async fn send_all(log: &Arc<dyn Log>, records: Vec<OutRecord>) -> Result<Vec<Position>> {
    let mut deliveries = Vec::with_capacity(records.len());
    for record in records {
        deliveries.push(log.send(record)?);
    }
    Ok(futures::future::try_join_all(deliveries).await?)
}

/// Every record of a partition, from `from` to its end, by replay.
pub(crate) async fn replay(
    log: &Arc<dyn Log>,
    tp: &TopicPartition,
    from: i64,
) -> Result<Vec<Record>> {
    let mut reader = log.read_partition(tp, from).await?;
    let mut records = Vec::new();
    while let Some(batch) = tokio::time::timeout(WAIT, reader.next_batch())
        .await
        .context("replay stalled")??
    {
        records.extend(batch);
    }
    Ok(records)
}

fn payloads(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| text(&r.payload)).collect()
}

/// A group member under test: it tracks what it owns from the events it polls, and checks
/// that no record arrives from a partition it does not own.
pub(crate) struct Member {
    pub(crate) consumer: Box<dyn Consumer>,
    pub(crate) owned: BTreeSet<TopicPartition>,
    pub(crate) name: String,
}

impl Member {
    pub(crate) async fn join(
        log: &Arc<dyn Log>,
        name: &str,
        group: &str,
        topics: &[&str],
    ) -> Result<Member> {
        let config = ConsumerConfig::new(group, topics.iter().copied()).client_id(name);
        Ok(Member {
            consumer: log.consumer(config).await?,
            owned: BTreeSet::new(),
            name: name.to_owned(),
        })
    }

    /// One poll; applies assignment changes; returns the records.
    pub(crate) async fn step(&mut self, wait: Duration) -> Result<Vec<Record>> {
        match self.consumer.poll(1000, wait).await? {
            ConsumerEvent::Records(records) => {
                for record in &records {
                    ensure!(
                        self.owned.contains(&record.topic_partition()),
                        "{} got a record of {} which it does not own ({:?})",
                        self.name,
                        record.topic_partition(),
                        self.owned
                    );
                }
                Ok(records)
            }
            ConsumerEvent::Assigned(tps) => {
                self.owned.extend(tps);
                Ok(Vec::new())
            }
            ConsumerEvent::Revoked(tps) => {
                for tp in tps {
                    self.owned.remove(&tp);
                }
                Ok(Vec::new())
            }
        }
    }

    /// Polls until `n` records have arrived.
    pub(crate) async fn read(&mut self, n: usize) -> Result<Vec<Record>> {
        let deadline = Instant::now() + WAIT;
        let mut records = Vec::new();
        while records.len() < n {
            if Instant::now() > deadline {
                bail!(
                    "{} read {} of {n} records within {WAIT:?}",
                    self.name,
                    records.len()
                );
            }
            records.extend(self.step(Duration::from_millis(200)).await?);
        }
        Ok(records)
    }

    /// Polls until it owns `count` partitions.
    pub(crate) async fn until_owns(&mut self, count: usize) -> Result<Vec<Record>> {
        let deadline = Instant::now() + WAIT;
        let mut records = Vec::new();
        while self.owned.len() != count {
            if Instant::now() > deadline {
                bail!(
                    "{} owns {:?}, not {count} partitions",
                    self.name,
                    self.owned
                );
            }
            records.extend(self.step(Duration::from_millis(200)).await?);
        }
        Ok(records)
    }

    /// Commits, for each partition seen in `records`, the offset after its last record.
    pub(crate) async fn commit_after(&self, records: &[Record]) -> Result<()> {
        self.consumer.commit(&next_offsets(records)).await?;
        Ok(())
    }
}

/// The offset after the last record of each partition in `records`.
pub(crate) fn next_offsets(records: &[Record]) -> Vec<CommitOffset> {
    let mut next = BTreeMap::new();
    for record in records {
        let slot = next.entry(record.topic_partition()).or_insert(0);
        *slot = (*slot).max(record.offset + 1);
    }
    next.into_iter()
        .map(|(tp, next)| CommitOffset { tp, next })
        .collect()
}

/// Records sent to one partition come back in the order they were sent — through a group
/// member and through replay — and `send_batch` reports positions in input order.
pub(crate) async fn per_partition_order(log: Arc<dyn Log>) -> Result<()> {
    let topic = topic(&log, "order", 3).await?;
    let keys: Vec<String> = (0..10).map(|k| format!("key-{k}")).collect();
    let one_by_one = (0..300).map(|i| {
        OutRecord::keyed(
            &topic,
            keys[i % 10].clone(),
            payload(format!("{}:{i}", keys[i % 10])),
        )
    });
    let mut positions = send_all(&log, one_by_one.collect()).await?;
    let batch = (300..600).map(|i| {
        OutRecord::keyed(
            &topic,
            keys[i % 10].clone(),
            payload(format!("{}:{i}", keys[i % 10])),
        )
    });
    positions.extend(log.send_batch(batch.collect()).await?);

    // Where each payload landed, as the log reported it.
    let mut sent: BTreeMap<(i32, i64), String> = BTreeMap::new();
    for (i, position) in positions.iter().enumerate() {
        let key = &keys[i % 10];
        ensure!(
            position.partition == partition_for_key(key.as_bytes(), 3),
            "{key} went to partition {}",
            position.partition
        );
        ensure!(
            sent.insert((position.partition, position.offset), format!("{key}:{i}"))
                .is_none(),
            "two records at {position:?}"
        );
    }
    // Per key, offsets grow with the send order.
    for key in &keys {
        let offsets: Vec<i64> = positions
            .iter()
            .enumerate()
            .filter(|(i, _)| &keys[i % 10] == key)
            .map(|(_, p)| p.offset)
            .collect();
        ensure!(
            offsets.windows(2).all(|w| w[0] < w[1]),
            "offsets of {key} out of order: {offsets:?}"
        );
    }
    // Replay and a group member both read exactly that, in offset order.
    let mut member = Member::join(&log, "reader", &unique("order"), &[&topic]).await?;
    let consumed = member.read(600).await?;
    for partition in 0..3 {
        let tp = TopicPartition::new(&topic, partition);
        let expected: Vec<String> = sent
            .range((partition, 0)..(partition + 1, 0))
            .map(|(_, v)| v.clone())
            .collect();
        ensure!(
            payloads(&replay(&log, &tp, 0).await?) == expected,
            "replay of {tp} differs from what was sent"
        );
        let polled: Vec<Record> = consumed
            .iter()
            .filter(|r| r.partition == partition)
            .cloned()
            .collect();
        ensure!(
            payloads(&polled) == expected,
            "consumer read {tp} in another order"
        );
    }
    member.consumer.close().await?;
    log.delete_topics(&[topic]).await?;
    Ok(())
}

/// Keyed records land where Kafka's Java client would put them (murmur2 vectors from Kafka's
/// own `UtilsTest`, partitions computed as the Java client does for 8 partitions).
pub(crate) async fn keys_land_where_the_java_client_puts_them(log: Arc<dyn Log>) -> Result<()> {
    let vectors: [(&str, i32); 6] = [
        ("21", 4),
        ("foobar", 6),
        ("a-little-bit-long-string", 0),
        ("a-little-bit-longer-string", 3),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", 5),
        ("abc", 3),
    ];
    let topic = topic(&log, "keys", 8).await?;
    let records = vectors
        .iter()
        .map(|(key, _)| OutRecord::keyed(&topic, *key, "v"))
        .collect();
    let positions = send_all(&log, records).await?;
    for ((key, java), position) in vectors.iter().zip(&positions) {
        ensure!(
            partition_for_key(key.as_bytes(), 8) == *java,
            "partition_for_key({key}) disagrees with Java"
        );
        ensure!(
            position.partition == *java,
            "{key:?} landed in {}, Java says {java}",
            position.partition
        );
    }
    log.delete_topics(&[topic]).await?;
    Ok(())
}

/// A member that stops without committing leaves its records to be read again by the next
/// member of the group, from the group's committed offsets (at-least-once).
pub(crate) async fn uncommitted_records_are_redelivered_after_a_restart(
    log: Arc<dyn Log>,
) -> Result<()> {
    let topic = topic(&log, "redeliver", 2).await?;
    let group = unique("redeliver");
    let records = (0..20)
        .map(|i| {
            OutRecord::keyed(&topic, format!("k{i}"), payload(format!("r{i}"))).to_partition(i % 2)
        })
        .collect();
    send_all(&log, records).await?;

    let mut first = Member::join(&log, "first", &group, &[&topic]).await?;
    let read = first.read(20).await?;
    // It finishes the first three records of each partition only, then stops.
    let done: Vec<Record> = read.iter().filter(|r| r.offset < 3).cloned().collect();
    first.commit_after(&done).await?;
    first.consumer.close().await?;
    drop(first);

    let mut second = Member::join(&log, "second", &group, &[&topic]).await?;
    let again = second.read(read.len() - done.len()).await?;
    let mut expected: Vec<(i32, i64)> = read
        .iter()
        .filter(|r| r.offset >= 3)
        .map(|r| (r.partition, r.offset))
        .collect();
    let mut got: Vec<(i32, i64)> = again.iter().map(|r| (r.partition, r.offset)).collect();
    expected.sort_unstable();
    got.sort_unstable();
    ensure!(
        got == expected,
        "redelivered {got:?}, expected {expected:?}"
    );
    // It commits nothing and is dropped without close: a third member gets the same again.
    drop(second);
    let mut third = Member::join(&log, "third", &group, &[&topic]).await?;
    let once_more = third.read(expected.len()).await?;
    ensure!(
        once_more.len() == expected.len(),
        "third member read {} records",
        once_more.len()
    );
    let committed = log
        .committed_offsets(
            &group,
            &[
                TopicPartition::new(&topic, 0),
                TopicPartition::new(&topic, 1),
            ],
        )
        .await?;
    ensure!(
        committed == vec![Some(3), Some(3)],
        "committed offsets are {committed:?}"
    );
    third.consumer.close().await?;
    log.delete_topics(&[topic]).await?;
    Ok(())
}

/// Two members of a group split the partitions between them, each reading only its own; when
/// one leaves, the other takes its partitions over from the committed offsets.
pub(crate) async fn group_members_split_partitions_and_take_over(log: Arc<dyn Log>) -> Result<()> {
    let topic = topic(&log, "split", 4).await?;
    let group = unique("split");
    let round = |r: usize| -> Vec<OutRecord> {
        (0..40)
            .map(|i| {
                OutRecord::keyed(&topic, format!("k{i}"), payload(format!("round{r}-{i}")))
                    .to_partition(i % 4)
            })
            .collect()
    };
    let mut a = Member::join(&log, "a", &group, &[&topic]).await?;
    let mut seen = a.until_owns(4).await?;
    let mut b = Member::join(&log, "b", &group, &[&topic]).await?;
    // Both must poll for the group to rebalance.
    let deadline = Instant::now() + WAIT;
    while !(a.owned.len() == 2 && b.owned.len() == 2) {
        ensure!(
            Instant::now() < deadline,
            "no split: a owns {:?}, b owns {:?}",
            a.owned,
            b.owned
        );
        seen.extend(a.step(Duration::from_millis(50)).await?);
        seen.extend(b.step(Duration::from_millis(50)).await?);
    }
    ensure!(
        a.owned.is_disjoint(&b.owned),
        "a {:?} and b {:?} overlap",
        a.owned,
        b.owned
    );
    ensure!(seen.is_empty(), "records before any were produced");

    send_all(&log, round(1)).await?;
    let (mut from_a, mut from_b) = (Vec::new(), Vec::new());
    while from_a.len() + from_b.len() < 40 {
        ensure!(
            Instant::now() < deadline,
            "read {} of 40",
            from_a.len() + from_b.len()
        );
        from_a.extend(a.step(Duration::from_millis(50)).await?);
        from_b.extend(b.step(Duration::from_millis(50)).await?);
    }
    ensure!(
        from_a.len() == 20 && from_b.len() == 20,
        "a read {}, b read {}",
        from_a.len(),
        from_b.len()
    );
    a.commit_after(&from_a).await?;
    b.commit_after(&from_b).await?;

    // a leaves; b takes all four partitions and reads only what a had not committed.
    a.consumer.close().await?;
    b.until_owns(4).await?;
    send_all(&log, round(2)).await?;
    let after = b.read(40).await?;
    let mut texts = payloads(&after);
    texts.sort();
    let mut expected: Vec<String> = (0..40).map(|i| format!("round2-{i}")).collect();
    expected.sort();
    ensure!(texts == expected, "after the takeover b read {texts:?}");
    b.consumer.close().await?;
    log.delete_topics(&[topic]).await?;
    Ok(())
}

/// Readers never see records of an aborted transaction, nor of one still open.
pub(crate) async fn aborted_and_open_transactions_are_invisible(log: Arc<dyn Log>) -> Result<()> {
    let topic = topic(&log, "txn-isolation", 1).await?;
    let tp = TopicPartition::new(&topic, 0);
    let producer = log.transactional_producer(&unique("txn")).await?;
    let send = |p: &str| OutRecord::keyed(&topic, "k", payload(p));

    producer.begin().await?;
    let aborted = vec![
        producer.send(send("aborted-1"))?,
        producer.send(send("aborted-2"))?,
    ];
    producer.abort().await?;
    for delivery in aborted {
        let _ = delivery.await; // may fail (purged) or succeed (written, then aborted)
    }
    producer.begin().await?;
    let committed = vec![
        producer.send(send("committed-1"))?,
        producer.send(send("committed-2"))?,
    ];
    producer.commit().await?;
    futures::future::try_join_all(committed).await?;

    producer.begin().await?;
    let open = producer.send(send("open"))?;
    // Kafka writes a transaction's records before the commit; a backend may also resolve
    // deliveries only at commit ("no later than commit"), so do not insist.
    let _ = tokio::time::timeout(Duration::from_secs(5), open).await;
    // The open transaction's record is written but must not be read.
    ensure!(
        payloads(&replay(&log, &tp, 0).await?) == ["committed-1", "committed-2"],
        "replay saw an uncommitted record"
    );
    producer.abort().await?;

    send_all(&log, vec![send("plain")]).await?;
    let mut member = Member::join(&log, "reader", &unique("txn-isolation"), &[&topic]).await?;
    let read = member.read(3).await?;
    ensure!(
        payloads(&read) == ["committed-1", "committed-2", "plain"],
        "a member read {:?}",
        payloads(&read)
    );
    ensure!(
        payloads(&replay(&log, &tp, 0).await?) == ["committed-1", "committed-2", "plain"],
        "replay differs"
    );
    member.consumer.close().await?;
    log.delete_topics(&[topic]).await?;
    Ok(())
}

/// Consumer offsets sent inside a transaction commit with its records, or not at all; after
/// an abort the member rewinds and redoes the work exactly once.
pub(crate) async fn offsets_commit_atomically_with_the_transaction(
    log: Arc<dyn Log>,
) -> Result<()> {
    let input = topic(&log, "txn-in", 1).await?;
    let output = topic(&log, "txn-out", 1).await?;
    let (tp_in, tp_out) = (
        TopicPartition::new(&input, 0),
        TopicPartition::new(&output, 0),
    );
    let group = unique("txn-offsets");
    send_all(
        &log,
        (0..10)
            .map(|i| OutRecord::keyed(&input, "k", payload(format!("in{i}"))))
            .collect(),
    )
    .await?;

    let mut member = Member::join(&log, "copier", &group, &[&input]).await?;
    let read = member.read(10).await?;
    let producer = log.transactional_producer(&unique("copier")).await?;
    let producer = producer.as_ref();
    transact(producer, &member, &output, read[..5].to_vec(), true).await?;
    ensure!(
        log.committed_offsets(&group, std::slice::from_ref(&tp_in))
            .await?
            == vec![Some(5)],
        "offsets did not commit with the transaction"
    );
    ensure!(
        replay(&log, &tp_out, 0).await?.len() == 5,
        "outputs did not commit with the offsets"
    );

    transact(producer, &member, &output, read[5..].to_vec(), false).await?;
    ensure!(
        log.committed_offsets(&group, std::slice::from_ref(&tp_in))
            .await?
            == vec![Some(5)],
        "offsets of an aborted transaction were committed"
    );
    ensure!(
        member
            .consumer
            .committed(std::slice::from_ref(&tp_in))
            .await?
            == vec![Some(5)],
        "the member sees other offsets"
    );
    ensure!(
        replay(&log, &tp_out, 0).await?.len() == 5,
        "records of an aborted transaction are visible"
    );

    // Abort-and-rewind: back to the committed offset, redo the rest.
    member.consumer.seek(&tp_in, 5)?;
    let redo = member.read(5).await?;
    ensure!(
        redo.first().map(|r| r.offset) == Some(5),
        "after the seek the member read from {:?}",
        redo.first().map(|r| r.offset)
    );
    transact(producer, &member, &output, redo, true).await?;
    ensure!(
        log.committed_offsets(&group, &[tp_in]).await? == vec![Some(10)],
        "the redone transaction's offsets"
    );
    let outputs = payloads(&replay(&log, &tp_out, 0).await?);
    let expected: Vec<String> = (0..10).map(|i| format!("out-in{i}")).collect();
    ensure!(outputs == expected, "outputs are {outputs:?}");
    member.consumer.close().await?;
    log.delete_topics(&[input, output]).await?;
    Ok(())
}

/// One consume-transform-produce transaction: copies `records` to `output` and sends the
/// member's offsets past them; commits or aborts.
async fn transact(
    producer: &dyn TransactionalProducer,
    member: &Member,
    output: &str,
    records: Vec<Record>,
    commit: bool,
) -> Result<()> {
    producer.begin().await?;
    for record in &records {
        producer.send(OutRecord::keyed(
            output,
            "k",
            payload(format!("out-{}", text(&record.payload))),
        ))?;
    }
    producer
        .send_offsets(&next_offsets(&records), &member.consumer.group_metadata()?)
        .await?;
    if commit {
        producer.commit().await?;
    } else {
        producer.abort().await?;
    }
    Ok(())
}

/// A second producer with the same transactional id fences the first: the first's next
/// transaction call fails with [`TxnErrorClass::Fatal`], and its open transaction is lost.
pub(crate) async fn newer_transactional_producer_fences_the_older(log: Arc<dyn Log>) -> Result<()> {
    let topic = topic(&log, "fencing", 1).await?;
    let id = unique("fenced");
    let old = log.transactional_producer(&id).await?;
    old.begin().await?;
    let sent = old.send(OutRecord::keyed(&topic, "k", "from-old"))?;
    // Written before the commit on Kafka; a backend may resolve it only at commit.
    let _ = tokio::time::timeout(Duration::from_secs(5), sent).await;

    let new = log.transactional_producer(&id).await?;
    let fenced = async {
        old.commit().await?;
        old.begin().await?;
        drop(old.send(OutRecord::keyed(&topic, "k", "from-old-again"))?);
        old.commit().await
    }
    .await;
    match fenced {
        Err(error) => ensure!(
            error.txn_class() == Some(TxnErrorClass::Fatal),
            "the old producer failed with {error}, not fatally"
        ),
        Ok(()) => bail!("the fenced producer committed"),
    }
    new.begin().await?;
    new.send(OutRecord::keyed(&topic, "k", "from-new"))?;
    new.commit().await?;
    let seen = payloads(&replay(&log, &TopicPartition::new(&topic, 0), 0).await?);
    ensure!(
        seen == ["from-new"],
        "after fencing the topic holds {seen:?}"
    );
    log.delete_topics(&[topic]).await?;
    Ok(())
}

/// Replay from offset 0 returns exactly what was produced, offsets 0, 1, 2, …; from the
/// middle, the suffix; of an empty partition, nothing.
pub(crate) async fn replay_returns_exactly_what_was_produced(log: Arc<dyn Log>) -> Result<()> {
    let topic = topic(&log, "replay", 3).await?;
    let records: Vec<OutRecord> = (0..3000)
        .map(|i| {
            OutRecord::keyed(&topic, format!("k{i}"), payload(format!("r{i}"))).to_partition(i % 2)
        })
        .collect();
    let expected: Vec<String> = (0..3000).map(|i| format!("r{i}")).collect();
    log.send_batch(records).await?;
    for partition in 0..2 {
        let tp = TopicPartition::new(&topic, partition);
        let mine: Vec<String> = expected
            .iter()
            .skip(partition as usize)
            .step_by(2)
            .cloned()
            .collect();
        let all = replay(&log, &tp, 0).await?;
        ensure!(payloads(&all) == mine, "replay of {tp} differs");
        ensure!(
            all.iter().enumerate().all(|(i, r)| r.offset == i as i64),
            "offsets of {tp} are not 0, 1, 2, …"
        );
        ensure!(
            log.read_partition(&tp, 0).await?.end() == 1500,
            "end of {tp}"
        );
        ensure!(
            payloads(&replay(&log, &tp, 1000).await?) == mine[1000..],
            "replay of {tp} from 1000"
        );
    }
    let empty = TopicPartition::new(&topic, 2);
    let mut reader = log.read_partition(&empty, 0).await?;
    ensure!(
        reader.end() == 0 && reader.next_batch().await?.is_none(),
        "an empty partition replayed something"
    );
    log.delete_topics(&[topic]).await?;
    Ok(())
}

/// Creating is idempotent for the same partition count and refused for another; configs such
/// as compaction and retention are kept and described; deletion removes the topic.
pub(crate) async fn topics_are_created_once_and_described(log: Arc<dyn Log>) -> Result<()> {
    let name = unique("admin");
    let spec = TopicSpec::new(&name, 3)
        .config("cleanup.policy", "compact")
        .config("retention.ms", "3600000");
    log.create_topics(std::slice::from_ref(&spec)).await?;
    log.create_topics(&[spec])
        .await
        .context("creating an existing topic again")?;
    match log.create_topics(&[TopicSpec::new(&name, 5)]).await {
        Err(Error::PartitionMismatch {
            expected: 5,
            found: 3,
            ..
        }) => {}
        other => bail!("another partition count gave {other:?}"),
    }
    let description = log.describe_topic(&name).await?;
    ensure!(description.partitions == 3, "described {description:?}");
    let brokers = log.broker_count().await?;
    ensure!(
        description.replication_factor == brokers.min(3) as i32,
        "a topic on {brokers} broker(s) has {} replicas, expected min(3, brokers)",
        description.replication_factor
    );
    ensure!(
        description
            .configs
            .get("cleanup.policy")
            .map(String::as_str)
            == Some("compact"),
        "configs {:?}",
        description.configs
    );
    ensure!(
        description.configs.get("retention.ms").map(String::as_str) == Some("3600000"),
        "configs {:?}",
        description.configs
    );
    log.delete_topics(&[name.clone(), unique("never-created")])
        .await?;
    match log.describe_topic(&name).await {
        Err(Error::UnknownTopic(topic)) if topic == name => {}
        other => bail!("a deleted topic described as {other:?}"),
    }
    match log.create_topics(&[TopicSpec::new(unique("bad"), 0)]).await {
        Err(Error::Invalid { .. }) => Ok(()),
        other => bail!("zero partitions gave {other:?}"),
    }
}

/// Watermarks move with appends; the offset for a time is the first record at or after it,
/// or the high watermark when there is none.
pub(crate) async fn watermarks_and_offsets_for_times(log: Arc<dyn Log>) -> Result<()> {
    let topic = topic(&log, "time", 1).await?;
    let tp = TopicPartition::new(&topic, 0);
    ensure!(
        log.watermarks(&tp).await? == (0, 0),
        "a new partition's watermarks"
    );
    for i in 0..3 {
        log.send(OutRecord::keyed(&topic, "k", payload(format!("t{i}"))))?
            .await?;
        // Distinct timestamps (milliseconds) for the three records.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    ensure!(
        log.watermarks(&tp).await? == (0, 3),
        "watermarks after three appends"
    );
    let records = replay(&log, &tp, 0).await?;
    ensure!(records.len() == 3, "replayed {}", records.len());
    ensure!(
        records
            .windows(2)
            .all(|w| w[0].timestamp_ms < w[1].timestamp_ms),
        "timestamps {:?}",
        records.iter().map(|r| r.timestamp_ms).collect::<Vec<_>>()
    );
    ensure!(
        log.offset_for_time(&tp, 0).await? == 0,
        "offset for the epoch"
    );
    for record in &records {
        ensure!(
            log.offset_for_time(&tp, record.timestamp_ms).await? == record.offset,
            "offset for {}",
            record.timestamp_ms
        );
    }
    ensure!(
        log.offset_for_time(&tp, records[1].timestamp_ms - 1)
            .await?
            == 1,
        "offset between two records"
    );
    let future = records[2].timestamp_ms + 3_600_000;
    ensure!(
        log.offset_for_time(&tp, future).await? == 3,
        "offset for the future is the high watermark"
    );
    match log.watermarks(&TopicPartition::new(&topic, 7)).await {
        Err(Error::UnknownPartition(_)) => {}
        other => bail!("watermarks of a missing partition: {other:?}"),
    }
    log.delete_topics(&[topic]).await?;
    Ok(())
}

/// A paused partition delivers nothing until resumed, then continues where it stopped; a seek
/// moves the next read of a partition.
pub(crate) async fn pause_resume_and_seek(log: Arc<dyn Log>) -> Result<()> {
    let topic = topic(&log, "pause", 2).await?;
    let (p0, p1) = (
        TopicPartition::new(&topic, 0),
        TopicPartition::new(&topic, 1),
    );
    let mut member = Member::join(&log, "pauser", &unique("pause"), &[&topic]).await?;
    member.until_owns(2).await?;
    member.consumer.pause(std::slice::from_ref(&p0))?;
    let records: Vec<OutRecord> = (0..20)
        .map(|i| {
            OutRecord::keyed(&topic, "k", payload(format!("p{}-{}", i / 10, i % 10)))
                .to_partition(i / 10)
        })
        .collect();
    send_all(&log, records).await?;

    let first = member.read(10).await?;
    ensure!(
        first.iter().all(|r| r.partition == 1),
        "a paused partition delivered records"
    );
    // Nothing more may come while p0 is paused.
    let quiet_until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < quiet_until {
        let more = member.step(Duration::from_millis(100)).await?;
        ensure!(
            more.is_empty(),
            "records arrived while paused: {:?}",
            payloads(&more)
        );
    }
    member.consumer.resume(std::slice::from_ref(&p0))?;
    let resumed = member.read(10).await?;
    ensure!(
        payloads(&resumed) == (0..10).map(|i| format!("p0-{i}")).collect::<Vec<_>>(),
        "after resume: {:?}",
        payloads(&resumed)
    );

    member.consumer.seek(&p1, 4)?;
    let again = member.read(6).await?;
    ensure!(
        payloads(&again) == (4..10).map(|i| format!("p1-{i}")).collect::<Vec<_>>(),
        "after seek: {:?}",
        payloads(&again)
    );
    let assignment: BTreeSet<TopicPartition> = member.consumer.assignment()?.into_iter().collect();
    ensure!(
        assignment == member.owned,
        "assignment {assignment:?} vs events {:?}",
        member.owned
    );
    member.consumer.close().await?;
    ensure!(
        matches!(
            member.consumer.poll(10, Duration::ZERO).await,
            Err(Error::Closed(_))
        ),
        "poll after close"
    );
    log.delete_topics(&[topic]).await?;
    Ok(())
}
