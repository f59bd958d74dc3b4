//! The measurements behind the Kafka backend's default settings (`src/kafka/settings.rs`):
//!
//! - `linger.ms`: records produced at a steady rate (bursts every millisecond), for several
//!   values: broker and client CPU seconds, and delivery latency (p50/p99);
//! - `fetch.wait.max.ms`, its cost: broker CPU burnt by four idle group members;
//! - `fetch.wait.max.ms`, its benefit: time from `resume` of a paused partition to its record.
//!
//! Run: `cargo bench -p celeriac-topics --bench kafka_settings` (about two minutes; broker at
//! `CELERIAC_TEST_BROKERS`, its CPU read from the pid file `scripts/kafka` writes).

use std::sync::Arc;
use std::time::{Duration, Instant};

use celeriac_topics::{
    ConsumerConfig, ConsumerEvent, KafkaConfig, KafkaLog, Log, OutRecord, TopicPartition, TopicSpec,
};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn brokers() -> String {
    std::env::var("CELERIAC_TEST_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// The broker's process id, from `scripts/kafka`'s pid file (`None`: CPU not reported).
fn broker_pid() -> Option<String> {
    let cache = std::env::var("CELERIAC_CACHE").unwrap_or_else(|_| {
        format!(
            "{}/.cache/celeriac",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let pid = std::fs::read_to_string(format!("{cache}/kafka/run/kafka.pid")).ok()?;
    Some(pid.trim().to_owned())
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<u64> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    fields.iter().sum::<u64>() as f64 / 100.0
}

struct Cpu {
    broker: Option<String>,
    at: (f64, f64),
}

impl Cpu {
    fn start() -> Self {
        let broker = broker_pid();
        let at = (
            broker.as_deref().map_or(0.0, cpu_seconds),
            cpu_seconds("self"),
        );
        Self { broker, at }
    }

    /// (broker, client) CPU seconds since `start`.
    fn used(&self) -> (f64, f64) {
        let broker = self.broker.as_deref().map_or(0.0, cpu_seconds) - self.at.0;
        (broker, cpu_seconds("self") - self.at.1)
    }
}

async fn log_with(property: &str, value: &str) -> BenchResult<Arc<dyn Log>> {
    let config = KafkaConfig::new(brokers()).property(property, value);
    Ok(Arc::new(KafkaLog::connect(config).await?))
}

async fn fresh_topic(log: &Arc<dyn Log>, partitions: i32) -> BenchResult<String> {
    let topic = format!("celeriac-bench.settings.{}", uuid::Uuid::new_v4().simple());
    log.create_topics(&[TopicSpec::new(&topic, partitions)])
        .await?;
    log.send(OutRecord::keyed(&topic, "warm-up", "warm-up"))?
        .await?;
    Ok(topic)
}

/// Produces `rate` records/s of 200 B for three seconds, in bursts every millisecond.
async fn steady_load(linger: &str, rate: u64) -> BenchResult<()> {
    let log = log_with("linger.ms", linger).await?;
    let topic = fresh_topic(&log, 8).await?;
    let cpu = Cpu::start();
    let (total, per_tick) = (rate * 3, rate / 1000);
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    let mut waiting = Vec::with_capacity(total as usize);
    let mut sent = 0u64;
    while sent < total {
        ticker.tick().await;
        for _ in 0..per_tick {
            let record = OutRecord::keyed(&topic, sent.to_be_bytes().to_vec(), vec![b'x'; 200]);
            let (delivery, at) = (log.send(record)?, Instant::now());
            waiting.push(tokio::spawn(
                async move { delivery.await.map(|_| at.elapsed()) },
            ));
            sent += 1;
        }
    }
    let mut latencies = Vec::with_capacity(waiting.len());
    for wait in waiting {
        latencies.push(wait.await??);
    }
    let (broker, client) = cpu.used();
    latencies.sort();
    let at = |q: usize| latencies[latencies.len() * q / 100].as_secs_f64() * 1e3;
    println!(
        "  linger.ms={linger:<3} {rate:>6}/s: broker cpu {broker:.2} s, client cpu {client:.2} s, delivery p50 {:.2} ms, p99 {:.2} ms",
        at(50),
        at(99)
    );
    log.delete_topics(&[topic]).await?;
    Ok(())
}

/// Broker CPU used while four group members poll an empty topic for five seconds.
async fn idle_members(wait: &str) -> BenchResult<()> {
    let log = log_with("fetch.wait.max.ms", wait).await?;
    let topic = fresh_topic(&log, 4).await?;
    let mut members = Vec::new();
    for i in 0..4 {
        let member = log
            .consumer(ConsumerConfig::new(
                format!("{topic}-idle-{i}"),
                [topic.as_str()],
            ))
            .await?;
        while !matches!(
            member.poll(10, Duration::from_secs(10)).await?,
            ConsumerEvent::Assigned(_)
        ) {}
        members.push(member);
    }
    let cpu = Cpu::start();
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        for member in &members {
            let _ = member.poll(100, Duration::from_millis(10)).await?;
        }
    }
    let (broker, client) = cpu.used();
    println!("  fetch.wait.max.ms={wait:<4} 4 idle members, 5 s: broker cpu {broker:.2} s, client cpu {client:.2} s");
    log.delete_topics(&[topic]).await?;
    Ok(())
}

/// Time from resuming a paused partition to receiving the record that waited there.
async fn resume_latency(wait: &str) -> BenchResult<()> {
    let log = log_with("fetch.wait.max.ms", wait).await?;
    let topic = fresh_topic(&log, 2).await?;
    let member = log
        .consumer(ConsumerConfig::new(
            format!("{topic}-resume"),
            [topic.as_str()],
        ))
        .await?;
    while !matches!(
        member.poll(10, Duration::from_secs(10)).await?,
        ConsumerEvent::Assigned(_)
    ) {}
    let _ = member.poll(10, Duration::from_millis(500)).await?; // the warm-up record
    let tp = TopicPartition::new(&topic, 0);
    let mut samples = Vec::new();
    for i in 0..20 {
        member.pause(std::slice::from_ref(&tp))?;
        log.send(OutRecord::keyed(&topic, "k", format!("{i}")).to_partition(0))?
            .await?;
        let _ = member.poll(10, Duration::from_millis(300)).await?; // an idle fetch is parked now
        let at = Instant::now();
        member.resume(std::slice::from_ref(&tp))?;
        loop {
            if let ConsumerEvent::Records(records) = member.poll(10, Duration::from_secs(5)).await?
            {
                if !records.is_empty() {
                    break;
                }
            }
        }
        samples.push(at.elapsed());
    }
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "  fetch.wait.max.ms={wait:<4} resume → record: p50 {:.1} ms, max {:.1} ms",
        ms(samples[10]),
        ms(samples[19])
    );
    member.close().await?;
    log.delete_topics(&[topic]).await?;
    Ok(())
}

async fn run() -> BenchResult<()> {
    println!("linger.ms under a steady load:");
    for rate in [5_000, 20_000, 100_000] {
        for linger in ["0", "1", "2", "5", "10"] {
            steady_load(linger, rate).await?;
        }
    }
    println!("fetch.wait.max.ms:");
    for wait in ["10", "50", "100", "500"] {
        idle_members(wait).await?;
        resume_latency(wait).await?;
    }
    Ok(())
}

fn main() -> BenchResult<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run())
}
