//! Throughput of 200-byte records, produced and consumed, in one run:
//!
//! - `bare-rdkafka`: rdkafka used directly (`FutureProducer`, `StreamConsumer`) with exactly the
//!   librdkafka settings the Kafka backend uses — the ceiling;
//! - `kafka-trait`: the Kafka backend through `Arc<dyn Log>`;
//! - `embedded`: the embedded RocksDB log through the same trait code.
//!
//! Plus the median time for one record to travel from `send` to a consumer's poll.
//!
//! Run: `cargo bench -p celeriac-topics --bench log_throughput`. Environment:
//! `CELERIAC_TEST_BROKERS` (127.0.0.1:9092), `CELERIAC_BENCH_RECORDS` (200000),
//! `CELERIAC_BENCH_ROUNDS` (5; the median is reported), and `CELERIAC_BENCH_PROPS`, extra
//! librdkafka properties for both Kafka runs (`linger.ms=5,fetch.wait.max.ms=100`) to measure
//! another choice of settings.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use celeriac_topics::{
    ConsumerConfig, ConsumerEvent, EmbeddedConfig, EmbeddedLog, Error, KafkaConfig, KafkaLog, Log,
    OutRecord, TopicSpec,
};
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const RECORD_BYTES: usize = 200;
const PARTITIONS: i32 = 4;
const LATENCY_SAMPLES: usize = 200;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn kafka_config() -> KafkaConfig {
    let brokers =
        std::env::var("CELERIAC_TEST_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let mut config = KafkaConfig::new(brokers).client_id("celeriac-bench");
    let extra = std::env::var("CELERIAC_BENCH_PROPS").unwrap_or_default();
    for pair in extra.split(',').filter(|p| !p.is_empty()) {
        if let Some((key, value)) = pair.split_once('=') {
            config = config.property(key.trim(), value.trim());
        }
    }
    config
}

fn unique(what: &str) -> String {
    format!("celeriac-bench.{what}.{}", uuid::Uuid::new_v4().simple())
}

fn client(properties: std::collections::BTreeMap<String, String>) -> ClientConfig {
    let mut client = ClientConfig::new();
    for (key, value) in properties {
        client.set(key, value);
    }
    client
}

/// Records per second over `n` records in `elapsed`.
fn rate(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

/// Produces `n` records through the trait: `send` each (waiting for the oldest delivery when
/// the queue is full), then wait for every delivery.
async fn trait_produce(log: &Arc<dyn Log>, topic: &str, n: usize) -> BenchResult<f64> {
    let payload = Bytes::from(vec![b'x'; RECORD_BYTES]);
    let start = Instant::now();
    let mut deliveries = VecDeque::with_capacity(n);
    for i in 0..n as u64 {
        let mut record = OutRecord::keyed(
            topic,
            Bytes::copy_from_slice(&i.to_be_bytes()),
            payload.clone(),
        );
        loop {
            match log.send(record) {
                Ok(delivery) => {
                    deliveries.push_back(delivery);
                    break;
                }
                Err(Error::QueueFull(back)) => {
                    record = *back;
                    if let Some(oldest) = deliveries.pop_front() {
                        oldest.await?;
                    }
                }
                Err(other) => return Err(other.into()),
            }
        }
    }
    for delivery in deliveries {
        delivery.await?;
    }
    Ok(rate(n, start.elapsed()))
}

/// Consumes `n` records through the trait, timed from the first record to the last.
async fn trait_consume(log: &Arc<dyn Log>, topic: &str, n: usize) -> BenchResult<f64> {
    let consumer = log
        .consumer(ConsumerConfig::new(unique("trait"), [topic]))
        .await?;
    let (mut count, mut bytes, mut start) = (0, 0, None);
    while count < n {
        if let ConsumerEvent::Records(records) =
            consumer.poll(10_000, Duration::from_secs(30)).await?
        {
            if records.is_empty() {
                return Err(format!("consumed {count} of {n}, then nothing for 30 s").into());
            }
            start.get_or_insert_with(Instant::now);
            count += records.len();
            bytes += records.iter().map(|r| r.payload.len()).sum::<usize>();
        }
    }
    let elapsed = start.map_or(Duration::ZERO, |s| s.elapsed());
    consumer.close().await?;
    assert_eq!(bytes, n * RECORD_BYTES);
    Ok(rate(n - 1, elapsed))
}

/// A bare producer with the backend's settings, connected and past its producer-id handshake
/// (as the backend's long-lived producer is) before anything is timed.
async fn bare_producer(config: &KafkaConfig, warm_up_topic: &str) -> BenchResult<FutureProducer> {
    let producer: FutureProducer = client(KafkaLog::producer_properties(config)?).create()?;
    let record = FutureRecord::to(warm_up_topic)
        .key("warm-up")
        .payload("warm-up");
    producer
        .send_result(record)
        .map_err(|(e, _)| e)?
        .await?
        .map_err(|(e, _)| e)?;
    Ok(producer)
}

async fn bare_produce(producer: &FutureProducer, topic: &str, n: usize) -> BenchResult<f64> {
    let payload = [b'x'; RECORD_BYTES];
    let start = Instant::now();
    let mut deliveries = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let key = i.to_be_bytes();
        let record = FutureRecord::to(topic).key(&key[..]).payload(&payload[..]);
        deliveries.push(producer.send_result(record).map_err(|(e, _)| e)?);
    }
    for delivery in deliveries {
        delivery.await?.map_err(|(e, _)| e)?;
    }
    Ok(rate(n, start.elapsed()))
}

async fn bare_consume(config: &KafkaConfig, topic: &str, n: usize) -> BenchResult<f64> {
    let member = ConsumerConfig::new(unique("bare"), [topic]);
    let consumer: StreamConsumer =
        client(KafkaLog::consumer_properties(config, &member)?).create()?;
    consumer.subscribe(&[topic])?;
    let (mut bytes, mut start) = (0, None);
    for _ in 0..n {
        let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv()).await??;
        start.get_or_insert_with(Instant::now);
        bytes += message.payload().map_or(0, <[u8]>::len);
    }
    let elapsed = start.map_or(Duration::ZERO, |s| s.elapsed());
    assert_eq!(bytes, n * RECORD_BYTES);
    Ok(rate(n - 1, elapsed))
}

/// Median time from `send` of one record to its arrival in a poll, through the trait.
async fn trait_latency(log: &Arc<dyn Log>, topic: &str) -> BenchResult<Duration> {
    let consumer = log
        .consumer(ConsumerConfig::new(unique("latency"), [topic]))
        .await?;
    while !matches!(
        consumer.poll(1, Duration::from_secs(30)).await?,
        ConsumerEvent::Assigned(_)
    ) {}
    let mut samples = Vec::with_capacity(LATENCY_SAMPLES);
    for i in 0..LATENCY_SAMPLES {
        let start = Instant::now();
        let _delivery = log.send(OutRecord::keyed(topic, "k", format!("{i}")))?;
        loop {
            match consumer.poll(1, Duration::from_secs(10)).await? {
                ConsumerEvent::Records(records) if !records.is_empty() => break,
                ConsumerEvent::Records(_) => {
                    return Err("a record did not arrive within 10 s".into())
                }
                _ => {}
            }
        }
        samples.push(start.elapsed());
    }
    consumer.close().await?;
    samples.sort();
    Ok(samples[samples.len() / 2])
}

/// The same with bare rdkafka; the first record (read once the group has assigned the
/// partition) is not counted.
async fn bare_latency(
    config: &KafkaConfig,
    producer: &FutureProducer,
    topic: &str,
) -> BenchResult<Duration> {
    let member = ConsumerConfig::new(unique("bare-latency"), [topic]);
    let consumer: StreamConsumer =
        client(KafkaLog::consumer_properties(config, &member)?).create()?;
    consumer.subscribe(&[topic])?;
    let mut samples = Vec::with_capacity(LATENCY_SAMPLES);
    for i in 0..=LATENCY_SAMPLES {
        let start = Instant::now();
        let payload = format!("{i}");
        let _delivery = producer
            .send_result(FutureRecord::to(topic).key("k").payload(&payload))
            .map_err(|(e, _)| e)?;
        let wait = if i == 0 { 30 } else { 10 };
        tokio::time::timeout(Duration::from_secs(wait), consumer.recv()).await??;
        if i > 0 {
            samples.push(start.elapsed());
        }
    }
    samples.sort();
    Ok(samples[samples.len() / 2])
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn run() -> BenchResult<()> {
    let n: usize = env_or("CELERIAC_BENCH_RECORDS", 200_000);
    let rounds: usize = env_or("CELERIAC_BENCH_ROUNDS", 5).max(1);
    let config = kafka_config();
    let kafka: Arc<dyn Log> =
        Arc::new(KafkaLog::connect(config.clone()).await.map_err(|e| {
            format!("{e}: run `scripts/kafka start` (or set CELERIAC_TEST_BROKERS)")
        })?);
    let embedded_dir = tempfile::tempdir()?;
    let embedded: Result<Arc<dyn Log>, String> =
        EmbeddedLog::open(EmbeddedConfig::new(embedded_dir.path()))
            .map(|log| Arc::new(log) as Arc<dyn Log>)
            .map_err(|e| e.to_string());

    let warm_up = unique("warm-up");
    kafka.create_topics(&[TopicSpec::new(&warm_up, 1)]).await?;
    let mut topics = vec![warm_up.clone()];
    let producer = bare_producer(&config, &warm_up).await?;
    let (mut bare, mut ours, mut local) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let bare_topic = unique("bare");
        let trait_topic = unique("trait");
        kafka
            .create_topics(&[
                TopicSpec::new(&bare_topic, PARTITIONS),
                TopicSpec::new(&trait_topic, PARTITIONS),
            ])
            .await?;
        topics.extend([bare_topic.clone(), trait_topic.clone()]);
        // Alternate which goes first, so neither always meets a broker still busy with the
        // other's records.
        let (b, t) = if round % 2 == 0 {
            let b = (
                bare_produce(&producer, &bare_topic, n).await?,
                bare_consume(&config, &bare_topic, n).await?,
            );
            let t = (
                trait_produce(&kafka, &trait_topic, n).await?,
                trait_consume(&kafka, &trait_topic, n).await?,
            );
            (b, t)
        } else {
            let t = (
                trait_produce(&kafka, &trait_topic, n).await?,
                trait_consume(&kafka, &trait_topic, n).await?,
            );
            let b = (
                bare_produce(&producer, &bare_topic, n).await?,
                bare_consume(&config, &bare_topic, n).await?,
            );
            (b, t)
        };
        eprintln!(
            "round {round}: bare {:.0}/{:.0}, trait {:.0}/{:.0} rec/s (produce/consume)",
            b.0, b.1, t.0, t.1
        );
        bare.push(b);
        ours.push(t);
        if let Ok(log) = &embedded {
            let topic = unique("embedded");
            log.create_topics(&[TopicSpec::new(&topic, PARTITIONS)])
                .await?;
            local.push((
                trait_produce(log, &topic, n).await?,
                trait_consume(log, &topic, n).await?,
            ));
        }
    }
    let (bare_topic, trait_topic) = (unique("bare-latency"), unique("trait-latency"));
    kafka
        .create_topics(&[
            TopicSpec::new(&bare_topic, 1),
            TopicSpec::new(&trait_topic, 1),
        ])
        .await?;
    topics.extend([bare_topic.clone(), trait_topic.clone()]);
    let bare_latency = bare_latency(&config, &producer, &bare_topic).await?;
    let trait_latency = trait_latency(&kafka, &trait_topic).await?;
    kafka.delete_topics(&topics).await?;

    let figures = |runs: &[(f64, f64)]| {
        (
            median(runs.iter().map(|r| r.0).collect()),
            median(runs.iter().map(|r| r.1).collect()),
        )
    };
    let (bp, bc) = figures(&bare);
    let (tp, tc) = figures(&ours);
    println!("log_throughput: {n} records of {RECORD_BYTES} B, {PARTITIONS} partitions, median of {rounds} rounds");
    println!(
        "  {:<14} {:>16} {:>16}",
        "", "produce rec/s", "consume rec/s"
    );
    println!("  {:<14} {:>16.0} {:>16.0}", "bare-rdkafka", bp, bc);
    println!(
        "  {:<14} {:>16} {:>16}",
        "kafka-trait",
        format!("{tp:.0} ({:.1} %)", 100.0 * tp / bp),
        format!("{tc:.0} ({:.1} %)", 100.0 * tc / bc)
    );
    match &embedded {
        Ok(_) => {
            let (ep, ec) = figures(&local);
            println!("  {:<14} {:>16.0} {:>16.0}", "embedded", ep, ec);
        }
        Err(reason) => println!("  {:<14} unavailable ({reason})", "embedded"),
    }
    println!(
        "  one record, send → poll, median of {LATENCY_SAMPLES}: bare-rdkafka {:.2} ms, kafka-trait {:.2} ms",
        bare_latency.as_secs_f64() * 1e3,
        trait_latency.as_secs_f64() * 1e3
    );
    Ok(())
}

fn main() -> BenchResult<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run())
}
