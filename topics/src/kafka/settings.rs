//! The librdkafka settings of the Kafka backend, each with the reason it is chosen.
//!
//! Three layers, later ones winning: our defaults (below), then
//! [`KafkaConfig::properties`](crate::KafkaConfig), then — for a consumer —
//! [`ConsumerConfig::kafka`](crate::ConsumerConfig). A few settings carry the [`Log`](crate::Log)
//! contract itself ([`PRODUCER_CONTRACT`], [`CONSUMER_CONTRACT`]); overriding one of those with
//! another value is refused with [`Error::Invalid`](crate::Error::Invalid).
//!
//! The numbers were measured on one local broker with two cores by
//! `cargo bench -p celeriac-topics --bench kafka_settings` (the choices below) and
//! `--bench log_throughput` (the backend against bare rdkafka with these same settings).

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;

use crate::config::KafkaConfig;
use crate::error::{Error, Result};
use crate::log::{ConsumerConfig, StartFrom};

/// `linger.ms`: how long the producer waits for more records before sending a batch.
///
/// 1 ms. Under load batches fill anyway — records gather while earlier requests are in flight
/// — so the linger matters most to a lone record, which it delays by up to its length.
/// Measured with `celeriac bench tasks --backend kafka` (one local broker, two cores shared
/// with the workers): submit → start p50 6.1–6.3 ms with 5 ms, 1.9 ms with 1 ms, 1.0 ms with
/// 0 ms, while end-to-end throughput stays ~20,000 tasks/s with 1 ms and drops with 0 ms (a
/// request per record costs the broker CPU). `benches/kafka_settings.rs` puts the broker's
/// CPU at 1 ms at about twice that at 5 ms for sparse bursts; throughput-bound deployments can
/// pass `linger.ms=5` ([`KafkaConfig::property`](crate::KafkaConfig::property)), latency-bound
/// ones `0`. Transactional commits and [`flush`](crate::Log::flush) send at once regardless.
pub(crate) const LINGER_MS: &str = "1";

/// `batch.num.messages`: at most this many records per partition batch (librdkafka's default).
/// With 200 B records a full batch is ~2 MB before `batch.size` (1 MB) stops it first, so the
/// byte bound is the one that acts under load.
pub(crate) const BATCH_NUM_MESSAGES: &str = "10000";

/// `batch.size`: at most this many bytes per partition batch (1 MB, librdkafka's default and the
/// broker's default `message.max.bytes` neighbourhood).
pub(crate) const BATCH_SIZE: &str = "1000000";

/// `message.max.bytes`: the largest record the producer accepts (librdkafka: 1,000,000). 16 MiB
/// plus room for the batch's framing, so a topic created with `max.message.bytes` of 16 MiB —
/// the workflows topic, whose one record is a whole compiled workflow (a chord of 10,000
/// members is about 1.1 MB) — can be written. Batches stay bounded by [`BATCH_SIZE`]; a topic
/// left at the broker's 1 MiB default still refuses a larger record.
pub(crate) const MESSAGE_MAX_BYTES: &str = "16778240";

/// `queue.buffering.max.messages`: records the producer may hold before `send` says
/// [`Error::QueueFull`] (and hands the record back). 1,000,000 (librdkafka: 100,000) so a burst
/// — a chord of 100,000 members submitted at once — is absorbed instead of bounced.
pub(crate) const QUEUE_MAX_MESSAGES: &str = "1000000";

/// `queue.buffering.max.kbytes`: the byte bound on the same queue, 512 MiB (librdkafka: 1 GiB);
/// 1,000,000 records of 200 B need ~200 MiB, and a process should not grow past this for
/// records the broker has not taken yet.
pub(crate) const QUEUE_MAX_KBYTES: &str = "524288";

/// `message.timeout.ms` (`delivery.timeout.ms`): how long a queued record may wait for the
/// broker before its [`Delivery`](crate::Delivery) fails. 120 s, the Java client's default
/// (librdkafka: 300 s): long enough to ride out a broker restart, short enough that a caller
/// hears about an outage within two minutes.
pub(crate) const MESSAGE_TIMEOUT_MS: &str = "120000";

/// `fetch.wait.max.ms`: how long the broker may hold a fetch that has no new data.
///
/// The broker answers as soon as `fetch.min.bytes` (1) is there, so this bound never delays a
/// record that arrives; it bounds how long a `resume`, `seek` or new assignment waits behind
/// an idle fetch already parked at the broker, and sets how often an idle member asks.
/// 50 ms (librdkafka: 500 ms). Measured (`benches/kafka_settings.rs`): resuming a paused
/// partition delivers its record within 10 / 54 / 105 / 303 ms at 10 / 50 / 100 / 500 ms,
/// while four idle members cost the broker 0.71 / 0.24 / 0.22 / 0.40 CPU seconds per 5 s —
/// 10 ms burns a third more than everything else the broker does, 50 ms nothing measurable.
pub(crate) const FETCH_WAIT_MAX_MS: &str = "50";

/// `fetch.queue.backoff.ms`: how long the fetcher pauses a partition whose local queue is
/// over its thresholds (`queued.min.messages`, 100,000 records; `queued.max.messages.kbytes`).
/// 10 ms (librdkafka: 1,000 ms): with the default, a reader that drains a backlog faster than
/// the fetcher refills — replay, a coordinator restoring state — stalls for up to a second
/// each time. Measured (`benches/log_throughput.rs`, 1,000,000 records of 200 B, bare
/// rdkafka): 0.57 million records/s consumed with 1,000 ms, 1.26 million with 50 ms, 1.86
/// million with 10 ms. The cost is a threshold check every 10 ms while a queue is full.
pub(crate) const FETCH_QUEUE_BACKOFF_MS: &str = "10";

/// `fetch.min.bytes`: answer a fetch as soon as one byte is there (the default, kept on
/// purpose: anything larger trades latency for fewer requests).
pub(crate) const FETCH_MIN_BYTES: &str = "1";

/// `session.timeout.ms`: how long a silent member keeps its partitions. 6 s (Kafka 3+: 45 s;
/// 6 s is the broker's lowest by default, `group.min.session.timeout.ms`): a killed member's
/// partitions — a worker's tasks in flight, a coordinator's workflows — move to another within
/// ~6 s instead of ~45 s. Heartbeats go out every second ([`HEARTBEAT_INTERVAL_MS`]) from
/// librdkafka's own thread, so a live but busy member is never at risk.
pub(crate) const SESSION_TIMEOUT_MS: &str = "6000";

/// `max.poll.interval.ms`: how long a member may go without polling before librdkafka takes
/// it out of its group. 120 s (librdkafka: 300 s): a member whose loop is stuck in a call that
/// never returns — seen in chaos runs, a coordinator silent after broker restarts while its
/// heartbeats went on — gives up its partitions to the others within two minutes, not five.
/// Every loop here polls at least every few hundred milliseconds while it runs.
pub(crate) const MAX_POLL_INTERVAL_MS: &str = "120000";

/// `heartbeat.interval.ms`: 1 s (librdkafka: 3 s), a sixth of the session timeout, so a live
/// member misses several before it could be taken for dead.
pub(crate) const HEARTBEAT_INTERVAL_MS: &str = "1000";

/// `reconnect.backoff.max.ms`: the longest pause between reconnection attempts. 1 s
/// (librdkafka: 10 s): a restarted broker is used again within a second of coming back.
pub(crate) const RECONNECT_BACKOFF_MAX_MS: &str = "1000";

/// `socket.nagle.disable`: send small requests (a lone record, a commit) at once rather than
/// letting TCP coalesce them for up to 40 ms.
pub(crate) const NAGLE_DISABLE: &str = "true";

/// `transaction.timeout.ms`: how long a transaction may stay open before the coordinator
/// aborts it. 60 s (Kafka's default). A transaction abandoned by a process killed mid-batch no
/// longer waits for it: the coordinator's transactional ids are per partition, and the member
/// that takes a partition over opens its id, which fences the dead producer and aborts its
/// transaction at once (see the engine's coordinator). librdkafka requires
/// `message.timeout.ms` ≤ this for a transactional producer, so its records time out with it.
pub(crate) const TRANSACTION_TIMEOUT_MS: &str = "60000";

/// The producer settings the contract rests on; another value is refused.
///
/// - `enable.idempotence=true` (with `acks=all`): retries never duplicate or reorder records
///   within a partition — the **Order** promise across broker restarts.
/// - `partitioner=murmur2_random`: the Java client's partitioner, used for the first records
///   sent to a topic whose partition count is not known yet (afterwards we compute
///   [`partition_for_key`](crate::partition_for_key) ourselves; both agree) — the **Keys** promise.
/// - `allow.auto.create.topics=false`: a typo'd topic must not appear silently with the
///   broker's default partition count and break co-partitioning.
pub(crate) const PRODUCER_CONTRACT: &[(&str, &str)] = &[
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("partitioner", "murmur2_random"),
    ("allow.auto.create.topics", "false"),
];

/// The consumer settings the contract rests on; another value is refused.
///
/// - `enable.auto.commit=false`, `enable.auto.offset.store=false`: offsets move only when the
///   caller commits the records it has finished — at-least-once.
/// - `isolation.level=read_committed`: the **Isolation** promise (aborted and open
///   transactions are invisible).
pub(crate) const CONSUMER_CONTRACT: &[(&str, &str)] = &[
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "false"),
    ("isolation.level", "read_committed"),
];

/// `partition.assignment.strategy=range` by default: members of a group subscribed to several
/// topics with the same partition count get partition *p* of every topic together, which the
/// coordinator needs (it owns `workflows[p]`, `timers[p]` and `events[p]` as one unit).
/// `cooperative-sticky` would spread them. A worker group may override it.
pub(crate) const ASSIGNMENT_STRATEGY: &str = "range";

/// How long an admin call, a metadata or offsets query, or a blocking transaction call may take
/// before it fails with a timeout instead of hanging.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings every client of ours shares.
fn common(config: &KafkaConfig, role: &str) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.brokers)
        .set("client.id", format!("{}-{role}", config.client_id))
        .set("socket.nagle.disable", NAGLE_DISABLE)
        .set("reconnect.backoff.max.ms", RECONNECT_BACKOFF_MAX_MS);
    client
}

/// The producer's settings (also the base of transactional producers).
pub(crate) fn producer(config: &KafkaConfig) -> Result<ClientConfig> {
    let mut client = common(config, "producer");
    client
        .set("linger.ms", LINGER_MS)
        .set("batch.num.messages", BATCH_NUM_MESSAGES)
        .set("batch.size", BATCH_SIZE)
        .set("message.max.bytes", MESSAGE_MAX_BYTES)
        .set("queue.buffering.max.messages", QUEUE_MAX_MESSAGES)
        .set("queue.buffering.max.kbytes", QUEUE_MAX_KBYTES)
        .set("message.timeout.ms", MESSAGE_TIMEOUT_MS);
    apply(&mut client, &config.properties);
    enforce(&mut client, &config.properties, PRODUCER_CONTRACT)?;
    Ok(client)
}

/// A transactional producer's settings: the producer's, plus its id.
pub(crate) fn transactional(config: &KafkaConfig, id: &str) -> Result<ClientConfig> {
    let mut client = producer(config)?;
    client.set("transactional.id", id);
    if !config.properties.contains_key("transaction.timeout.ms") {
        client.set("transaction.timeout.ms", TRANSACTION_TIMEOUT_MS);
    }
    if !config.properties.contains_key("message.timeout.ms") {
        let transaction = client
            .get("transaction.timeout.ms")
            .unwrap_or(TRANSACTION_TIMEOUT_MS);
        let ours: u64 = MESSAGE_TIMEOUT_MS.parse().unwrap_or(120_000);
        let limit = transaction.parse::<u64>().map_or(ours, |t| t.min(ours));
        client.set("message.timeout.ms", limit.to_string());
    }
    Ok(client)
}

/// A group member's settings.
pub(crate) fn consumer(config: &KafkaConfig, member: &ConsumerConfig) -> Result<ClientConfig> {
    let mut client = common(config, "consumer");
    if let Some(id) = &member.client_id {
        client.set("client.id", id);
    }
    let reset = match member.start_from {
        StartFrom::Earliest => "earliest",
        StartFrom::Latest => "latest",
    };
    client
        .set("group.id", &member.group_id)
        .set("auto.offset.reset", reset)
        .set("partition.assignment.strategy", ASSIGNMENT_STRATEGY)
        .set("fetch.wait.max.ms", FETCH_WAIT_MAX_MS)
        .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS)
        .set("fetch.min.bytes", FETCH_MIN_BYTES)
        .set("session.timeout.ms", SESSION_TIMEOUT_MS)
        .set("max.poll.interval.ms", MAX_POLL_INTERVAL_MS)
        .set("heartbeat.interval.ms", HEARTBEAT_INTERVAL_MS);
    apply(&mut client, &config.properties);
    apply(&mut client, &member.kafka);
    let mut asked = config.properties.clone();
    asked.extend(member.kafka.iter().map(|(k, v)| (k.clone(), v.clone())));
    enforce(&mut client, &asked, CONSUMER_CONTRACT)?;
    Ok(client)
}

/// A consumer that never joins a group: metadata, watermarks, offsets for times, and the
/// replay reader (which needs a `group.id` to `assign`, but never subscribes or commits).
pub(crate) fn standalone(
    config: &KafkaConfig,
    isolation: &str,
    group: Option<&str>,
) -> ClientConfig {
    let mut client = common(config, "reader");
    client
        .set("fetch.wait.max.ms", FETCH_WAIT_MAX_MS)
        .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS)
        .set("auto.offset.reset", "earliest");
    apply(&mut client, &config.properties);
    client
        .set("isolation.level", isolation)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false");
    if let Some(group) = group {
        client.set("group.id", group);
    }
    client
}

/// The admin client's settings.
pub(crate) fn admin(config: &KafkaConfig) -> ClientConfig {
    let mut client = common(config, "admin");
    apply(&mut client, &config.properties);
    client
}

fn apply(client: &mut ClientConfig, properties: &BTreeMap<String, String>) {
    for (key, value) in properties {
        client.set(key, value);
    }
}

fn enforce(
    client: &mut ClientConfig,
    asked: &BTreeMap<String, String>,
    contract: &[(&str, &str)],
) -> Result<()> {
    for (key, value) in contract {
        if let Some(other) = asked.get(*key).filter(|v| v.as_str() != *value) {
            return Err(Error::Invalid {
                what: "kafka property",
                detail: format!("{key}={other}: the log's contract needs {key}={value}"),
            });
        }
        client.set(*key, *value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_properties_win_over_defaults() {
        let config = KafkaConfig::new("b:9092").property("linger.ms", "7");
        let client = producer(&config).expect("valid");
        assert_eq!(client.get("linger.ms"), Some("7"));
        assert_eq!(client.get("enable.idempotence"), Some("true"));
    }

    #[test]
    fn contract_properties_cannot_be_turned_off() {
        let config = KafkaConfig::new("b:9092").property("enable.idempotence", "false");
        assert!(matches!(producer(&config), Err(Error::Invalid { .. })));
        let member = ConsumerConfig::new("g", ["t"]).kafka_property("enable.auto.commit", "true");
        let refused = consumer(&KafkaConfig::new("b:9092"), &member);
        assert!(matches!(refused, Err(Error::Invalid { .. })));
    }
}
