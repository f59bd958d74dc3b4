//! The embedded log keeps what it acknowledged across a restart of the process: records,
//! committed offsets, topic configs and transactional writes; and, as Kafka does, it forgets
//! a deleted topic's committed offsets with its records.

use std::time::Duration;

use celeriac_topics::{
    CommitOffset, Consumer, ConsumerConfig, ConsumerEvent, EmbeddedConfig, EmbeddedLog, Log,
    OutRecord, Record, TopicPartition, TopicSpec, TxnErrorClass,
};

async fn drain(consumer: &dyn Consumer, want: usize) -> Vec<Record> {
    let mut records = Vec::new();
    while records.len() < want {
        match consumer
            .poll(1000, Duration::from_secs(5))
            .await
            .expect("poll")
        {
            ConsumerEvent::Records(batch) if batch.is_empty() => {
                panic!("timed out with {} of {want}", records.len())
            }
            ConsumerEvent::Records(batch) => records.extend(batch),
            ConsumerEvent::Assigned(_) | ConsumerEvent::Revoked(_) => {}
        }
    }
    records
}

#[tokio::test]
async fn records_offsets_and_transactions_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tp = TopicPartition::new("t", 0);
    {
        let log = EmbeddedLog::open(EmbeddedConfig::new(dir.path())).expect("open");
        log.create_topics(&[TopicSpec::new("t", 1).config("cleanup.policy", "compact")])
            .await
            .expect("create");
        let records = (0..10)
            .map(|i| OutRecord::keyed("t", format!("k{i}"), format!("v{i}")))
            .collect();
        log.send_batch(records).await.expect("send");
        let consumer = log
            .consumer(ConsumerConfig::new("g", ["t"]))
            .await
            .expect("consumer");
        let read = drain(consumer.as_ref(), 10).await;
        assert_eq!(
            read.iter().map(|r| r.offset).collect::<Vec<_>>(),
            (0..10).collect::<Vec<_>>()
        );
        consumer
            .commit(&[CommitOffset {
                tp: tp.clone(),
                next: 4,
            }])
            .await
            .expect("commit");

        let txn = log.transactional_producer("tx").await.expect("txn");
        txn.begin().await.expect("begin");
        let delivery = txn
            .send(OutRecord::keyed("t", "k", "in-txn"))
            .expect("send");
        txn.commit().await.expect("commit");
        assert_eq!(delivery.await.expect("delivered").offset, 10);
        txn.begin().await.expect("begin");
        let aborted = txn
            .send(OutRecord::keyed("t", "k", "aborted"))
            .expect("send");
        txn.abort().await.expect("abort");
        assert!(
            aborted.await.is_err(),
            "an aborted record is never delivered"
        );
    }
    let log = EmbeddedLog::open(EmbeddedConfig::new(dir.path())).expect("reopen");
    assert_eq!(log.watermarks(&tp).await.expect("watermarks"), (0, 11));
    let described = log.describe_topic("t").await.expect("describe");
    assert_eq!(
        described.configs.get("cleanup.policy").map(String::as_str),
        Some("compact")
    );
    let consumer = log
        .consumer(ConsumerConfig::new("g", ["t"]))
        .await
        .expect("consumer");
    let read = drain(consumer.as_ref(), 7).await;
    assert_eq!(
        read.first().map(|r| r.offset),
        Some(4),
        "resumes at the committed offset"
    );
    assert_eq!(&read.last().expect("last").payload[..], b"in-txn");
    let next = log
        .send(OutRecord::keyed("t", "k", "after"))
        .expect("send")
        .await
        .expect("delivered");
    assert_eq!(next.offset, 11, "offsets continue where they stopped");
}

#[tokio::test]
async fn a_fenced_transactional_producer_cannot_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = EmbeddedLog::open(EmbeddedConfig::new(dir.path())).expect("open");
    log.create_topics(&[TopicSpec::new("t", 2)])
        .await
        .expect("create");
    let old = log.transactional_producer("same-id").await.expect("old");
    old.begin().await.expect("begin");
    old.send(OutRecord::keyed("t", "k", "zombie"))
        .expect("send");
    let _new = log.transactional_producer("same-id").await.expect("new");
    let error = old.commit().await.expect_err("fenced");
    assert_eq!(error.txn_class(), Some(TxnErrorClass::Fatal));
    let (_, high0) = log
        .watermarks(&TopicPartition::new("t", 0))
        .await
        .expect("wm");
    let (_, high1) = log
        .watermarks(&TopicPartition::new("t", 1))
        .await
        .expect("wm");
    assert_eq!(
        high0 + high1,
        0,
        "nothing of the zombie's transaction is visible"
    );
}

#[tokio::test]
async fn a_topic_created_again_is_read_from_its_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = EmbeddedLog::open(EmbeddedConfig::new(dir.path())).expect("open");
    let tp = TopicPartition::new("again", 0);
    let other = TopicPartition::new("kept", 0);
    let specs = [TopicSpec::new("again", 1), TopicSpec::new("kept", 1)];
    log.create_topics(&specs).await.expect("create");
    for (t, next) in [(&tp, 3), (&other, 2)] {
        log.send_batch(
            (0..next)
                .map(|i| OutRecord::keyed(&*t.topic, "k", format!("v{i}")))
                .collect(),
        )
        .await
        .expect("send");
        let consumer = log
            .consumer(ConsumerConfig::new("g", [&*t.topic]))
            .await
            .expect("consumer");
        drain(consumer.as_ref(), usize::try_from(next).expect("small")).await;
        let commit = CommitOffset {
            tp: t.clone(),
            next,
        };
        consumer.commit(&[commit]).await.expect("commit");
        consumer.close().await.expect("close");
    }
    log.delete_topics(&["again".to_owned()])
        .await
        .expect("delete");
    log.create_topics(&specs[..1]).await.expect("create again");
    let both = [tp.clone(), other.clone()];
    assert_eq!(
        log.committed_offsets("g", &both).await.expect("offsets"),
        vec![None, Some(2)],
        "the deleted topic's offset went with it; the other topic's stayed"
    );
    log.send_batch(vec![OutRecord::keyed("again", "k", "new")])
        .await
        .expect("send");
    let consumer = log
        .consumer(ConsumerConfig::new("g", ["again"]))
        .await
        .expect("consumer");
    let read = drain(consumer.as_ref(), 1).await;
    assert_eq!((read[0].offset, &read[0].payload[..]), (0, &b"new"[..]));
}
