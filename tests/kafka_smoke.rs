//! Smoke test of the real broker: create a topic, produce and consume one record through
//! rdkafka, delete the topic. Without a broker it fails and says how to start one.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

mod support;

use support::{brokers, require_broker};

fn config() -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers())
        .set("socket.timeout.ms", "5000");
    config
}

#[tokio::test]
async fn topic_produce_consume_delete_on_the_real_broker() {
    require_broker();
    let topic = format!("celeriac-smoke-{}", uuid::Uuid::new_v4());
    let admin: AdminClient<DefaultClientContext> = config().create().expect("admin client");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));

    let created = admin
        .create_topics(
            &[NewTopic::new(&topic, 1, TopicReplication::Fixed(1))],
            &options,
        )
        .await
        .expect("create_topics request");
    assert!(
        created.iter().all(|r| r.is_ok()),
        "create topic: {created:?}"
    );

    let producer: FutureProducer = config().create().expect("producer");
    let delivery = producer
        .send(
            FutureRecord::to(&topic).key("k").payload("hello celeriac"),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("produce");
    assert_eq!((delivery.partition, delivery.offset), (0, 0));

    // A group-less consumer assigned to partition 0, polled on a blocking thread (librdkafka's
    // poll and close block): it reads the record back from the beginning.
    let consumer: BaseConsumer = config()
        .set("group.id", format!("smoke-{topic}"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&topic, 0, Offset::Beginning)
        .expect("assignment");
    consumer.assign(&assignment).expect("assign");
    let (key, payload) = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            match consumer.poll(Duration::from_millis(500)) {
                Some(Ok(message)) => {
                    return (
                        message.key().map(<[u8]>::to_vec),
                        message.payload().map(<[u8]>::to_vec),
                    )
                }
                Some(Err(error)) => panic!("consume: {error}"),
                None => assert!(
                    std::time::Instant::now() < deadline,
                    "no record within 30 s"
                ),
            }
        }
    })
    .await
    .expect("the consuming thread");
    assert_eq!(key.as_deref(), Some(&b"k"[..]));
    assert_eq!(payload.as_deref(), Some(&b"hello celeriac"[..]));

    let deleted = admin
        .delete_topics(&[&topic], &options)
        .await
        .expect("delete_topics request");
    assert!(
        deleted.iter().all(|r| r.is_ok()),
        "delete topic: {deleted:?}"
    );
}
