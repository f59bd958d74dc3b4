//! Smoke test of the real broker: create a topic, produce and consume one record through
//! rdkafka, delete the topic. Without a broker it fails and says how to start one.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

/// The broker the suite runs against: `CELERIAC_TEST_BROKERS`, else the one `scripts/kafka` starts.
fn brokers() -> String {
    std::env::var("CELERIAC_TEST_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

fn config() -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers())
        .set("socket.timeout.ms", "5000");
    config
}

/// Fails, with the fix in the message, when no broker answers within a few seconds.
fn require_broker() {
    let addr = brokers();
    let first = addr.split(',').next().unwrap_or_default().to_owned();
    let reachable = std::net::TcpStream::connect_timeout(
        &first
            .parse()
            .unwrap_or_else(|e| panic!("CELERIAC_TEST_BROKERS={addr} is not host:port: {e}")),
        Duration::from_secs(3),
    )
    .is_ok();
    assert!(
        reachable,
        "no Kafka broker answers on {addr}: run `scripts/kafka start` (or `scripts/test`, which starts one)"
    );
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

    let consumer: StreamConsumer = config()
        .set("group.id", format!("smoke-{topic}"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("a record within 30 s")
        .expect("consume");
    assert_eq!(message.key(), Some(&b"k"[..]));
    assert_eq!(message.payload(), Some(&b"hello celeriac"[..]));
    drop(consumer);

    let deleted = admin
        .delete_topics(&[&topic], &options)
        .await
        .expect("delete_topics request");
    assert!(
        deleted.iter().all(|r| r.is_ok()),
        "delete topic: {deleted:?}"
    );
}
