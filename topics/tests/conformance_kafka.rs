//! The conformance suite against a real Kafka broker (`CELERIAC_TEST_BROKERS`, default
//! 127.0.0.1:9092; start one with `scripts/kafka start`), plus what only Kafka can show.

mod conformance;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context as _};
use celeriac_topics::{partition_for_key, KafkaConfig, KafkaLog, Log, OutRecord, TopicSpec};
use conformance::{conformance_tests, send_all, unique, Backend};

fn brokers() -> String {
    std::env::var("CELERIAC_TEST_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

async fn connect() -> anyhow::Result<KafkaLog> {
    let brokers = brokers();
    let config = KafkaConfig::new(&brokers).connect_timeout(Duration::from_secs(10));
    KafkaLog::connect(config).await.with_context(|| {
        format!("no Kafka broker at {brokers}: run `scripts/kafka start` (or set CELERIAC_TEST_BROKERS)")
    })
}

async fn kafka() -> anyhow::Result<Backend> {
    Ok(Backend::new(Arc::new(connect().await?), None))
}

conformance_tests!(kafka);

/// A log that connected before a topic existed does not know its partition count on the
/// first send; librdkafka's Java-compatible partitioner places those records, then our own
/// computation takes over — and both put every key where `partition_for_key` says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_agree_before_and_after_the_partition_count_is_known() -> anyhow::Result<()> {
    let late: Arc<dyn Log> = Arc::new(connect().await?);
    let admin = connect().await?;
    let topic = unique("late-keys");
    admin.create_topics(&[TopicSpec::new(&topic, 7)]).await?;
    for round in 0..3 {
        let records = (0..50)
            .map(|i| OutRecord::keyed(&topic, format!("key-{i}"), "v"))
            .collect();
        let positions = send_all(&late, records).await?;
        for (i, position) in positions.iter().enumerate() {
            let expected = partition_for_key(format!("key-{i}").as_bytes(), 7);
            ensure!(
                position.partition == expected,
                "round {round}: key-{i} in {}, expected {expected}",
                position.partition
            );
        }
    }
    admin.delete_topics(&[topic]).await?;
    Ok(())
}

/// The producer's contract settings cannot be switched off by a passthrough property.
#[tokio::test]
async fn contract_settings_cannot_be_overridden() {
    let config = KafkaConfig::new(brokers()).property("isolation.level", "read_uncommitted");
    let log = KafkaLog::connect(config)
        .await
        .expect("the producer does not use isolation.level");
    let member = celeriac_topics::ConsumerConfig::new("g", ["t"])
        .kafka_property("isolation.level", "read_uncommitted");
    assert!(matches!(
        log.consumer(member).await,
        Err(celeriac_topics::Error::Invalid { .. })
    ));
    let config = KafkaConfig::new(brokers()).property("enable.idempotence", "false");
    assert!(matches!(
        KafkaLog::connect(config).await,
        Err(celeriac_topics::Error::Invalid { .. })
    ));
}
