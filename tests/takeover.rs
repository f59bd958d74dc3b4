//! Taking partitions over from a frozen coordinator, on Kafka: the frozen member left a
//! transaction open with the group's offsets in it. A read-committed offset fetch waits on
//! such pending offsets (KIP-447) until the transaction ends, so the new owner fences the
//! previous owner's transactional id first; its work resumes in seconds, not after the
//! transaction timeout (60 s).

mod support;

use std::time::{Duration, Instant};

use celeriac::canvas::chain;
use celeriac::topics::{CommitOffset, ConsumerConfig, ConsumerEvent, OutRecord};
use support::Backend;

/// Well inside the transaction timeout: only a fence ends the frozen transaction this soon.
const RESUME_WITHIN: Duration = Duration::from_secs(25);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_owner_s_open_transaction_is_fenced_before_the_offsets_are_read() {
    let test = support::app(Backend::Kafka).await;
    let app = &test.app;
    let names = app.names();
    let log = app.log();
    let add = app
        .task("add", |(x, y): (i64, i64)| async move { Ok(x + y) })
        .expect("register");

    // The frozen owner: a member of the coordinator group with a transaction that holds
    // offsets for every partition it owned, and that neither commits nor aborts.
    let topics = [names.workflows(), names.timers(), names.events()];
    let member = log
        .consumer(
            ConsumerConfig::new(names.coordinator_group(), &topics)
                .kafka_property("partition.assignment.strategy", "range")
                .kafka_property("isolation.level", "read_committed"),
        )
        .await
        .expect("join the coordinator group");
    let owned = loop {
        match member
            .poll(100, Duration::from_secs(1))
            .await
            .expect("poll")
        {
            ConsumerEvent::Assigned(tps) if !tps.is_empty() => break tps,
            _ => {}
        }
    };
    let lowest = owned.iter().map(|tp| tp.partition).min().expect("owned");
    let frozen = log
        .transactional_producer(&format!("{}.coordinator.p{lowest}", names.prefix()))
        .await
        .expect("the frozen owner's producer");
    frozen.begin().await.expect("begin");
    frozen
        .send(OutRecord::keyed(names.events(), "frozen", "frozen").to_partition(lowest))
        .expect("send");
    let offsets: Vec<CommitOffset> = (owned.iter().cloned())
        .map(|tp| CommitOffset { tp, next: 0 })
        .collect();
    let group = member.group_metadata().expect("group metadata");
    frozen
        .send_offsets(&offsets, &group)
        .await
        .expect("offsets in the open transaction");
    member.close().await.expect("leave the group");

    let worker = app.worker().spawn();
    let started = Instant::now();
    let handle = app
        .submit(chain(add.s((1, 2)), add.partial(3)))
        .await
        .expect("submit");
    let result = handle.get(RESUME_WITHIN).await;
    assert_eq!(
        result.ok(),
        Some(6),
        "the chain resumed within {RESUME_WITHIN:?} of the takeover (waited {:?})",
        started.elapsed()
    );
    assert!(
        frozen.commit().await.is_err(),
        "the frozen owner, once awake, is fenced and commits nothing"
    );
    worker.shutdown().await.expect("worker stops");
}
