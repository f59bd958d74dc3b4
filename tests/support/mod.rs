//! Shared set-up of the end-to-end tests: an app on each backend, in fresh topics.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use celeriac::App;

pub mod process;

/// The broker the suite runs against: `CELERIAC_TEST_BROKERS`, else the one `scripts/kafka` starts.
pub fn brokers() -> String {
    std::env::var("CELERIAC_TEST_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

/// Fails, saying how to start one, when no broker answers.
pub fn require_broker() {
    let addr = brokers();
    let first = addr.split(',').next().unwrap_or_default().to_owned();
    let parsed = first
        .parse()
        .unwrap_or_else(|e| panic!("CELERIAC_TEST_BROKERS={addr} is not host:port: {e}"));
    assert!(
        std::net::TcpStream::connect_timeout(&parsed, Duration::from_secs(3)).is_ok(),
        "no Kafka broker answers on {addr}: run `scripts/kafka start` (or `scripts/test`, which starts one)"
    );
}

/// Which log a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded RocksDB log in a temporary directory.
    Embedded,
    /// The real Kafka broker, in topics with a fresh prefix.
    Kafka,
}

/// A fresh app: its own temporary state directory and, on Kafka, its own topic prefix.
pub struct TestApp {
    pub app: App,
    pub dir: tempfile::TempDir,
    pub backend: Backend,
}

/// Builds a fresh app on `backend` with 2 partitions per topic (quick to create).
pub async fn app(backend: Backend) -> TestApp {
    app_with(backend, |builder| builder).await
}

/// Like [`app`], with more settings from `configure`.
pub async fn app_with(
    backend: Backend,
    configure: impl FnOnce(celeriac::engine::AppBuilder) -> celeriac::engine::AppBuilder,
) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut builder = App::builder()
        .state_dir(dir.path())
        .prefix(prefix)
        .partitions(2);
    if backend == Backend::Kafka {
        require_broker();
        builder = builder.brokers(brokers());
    }
    let app = configure(builder).build().await.expect("app builds");
    TestApp { app, dir, backend }
}

/// Reads `topic` from its start in a group of its own until `found` picks a record out, or
/// fails after 30 s saying `what` never arrived.
pub async fn await_record<T>(
    app: &App,
    topic: &str,
    what: &str,
    mut found: impl FnMut(&celeriac::topics::Record) -> Option<T>,
) -> T {
    let group = format!("test-{}", uuid::Uuid::new_v4().simple());
    let consumer = app
        .log()
        .consumer(celeriac::topics::ConsumerConfig::new(group, [topic]))
        .await
        .expect("consumer");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        if let celeriac::topics::ConsumerEvent::Records(records) = consumer
            .poll(100, Duration::from_millis(200))
            .await
            .expect("poll")
        {
            if let Some(hit) = records.iter().find_map(&mut found) {
                return hit;
            }
        }
    }
    panic!("{what} never arrived on {topic}");
}

/// Runs an async test body once per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($(#[$meta:meta])* async fn $name:ident($test:ident: TestApp) $body:block) => {
        mod $name {
            use super::*;
            async fn body($test: TestApp) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                body(support::app(support::Backend::Embedded).await).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn kafka() {
                body(support::app(support::Backend::Kafka).await).await
            }
        }
    };
}
