//! Celeriac on a secured Kafka listener (SASL_SSL: TLS with a private CA, SCRAM-SHA-512 and
//! PLAIN), configured only through `celeriac.toml` text: a task, a workflow and a ping go
//! through; a wrong password and an untrusted certificate fail fast with a clear error.
//!
//! The listener is the one `scripts/kafka start` opens beside the plain one; its address,
//! user, password and CA come from `CELERIAC_TEST_SASL_*` (which `scripts/test` exports) or,
//! without them, from `scripts/kafka sasl-env`. No listener is a failure, never a skip.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use celeriac::canvas::chain;
use celeriac::engine::{AppBuilder, Config};
use celeriac::{secs, App};

/// Where the SASL_SSL listener is and how to log in.
struct Listener {
    brokers: String,
    user: String,
    password: String,
    ca: PathBuf,
}

fn listener() -> Listener {
    let mut vars: BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("CELERIAC_TEST_SASL_"))
        .collect();
    if !vars.contains_key("CELERIAC_TEST_SASL_BROKERS") {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kafka");
        let out = std::process::Command::new(&script)
            .arg("sasl-env")
            .output()
            .unwrap_or_else(|e| panic!("running {} sasl-env: {e}", script.display()));
        assert!(out.status.success(), "scripts/kafka sasl-env failed");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((key, value)) = line.split_once('=') {
                vars.insert(key.to_owned(), value.to_owned());
            }
        }
    }
    let var = |name: &str| {
        vars.get(name).cloned().unwrap_or_else(|| {
            panic!("{name} is not set: start the broker with `scripts/kafka start` (or run `scripts/test`)")
        })
    };
    let listener = Listener {
        brokers: var("CELERIAC_TEST_SASL_BROKERS"),
        user: var("CELERIAC_TEST_SASL_USER"),
        password: var("CELERIAC_TEST_SASL_PASSWORD"),
        ca: PathBuf::from(var("CELERIAC_TEST_SASL_CA")),
    };
    let first = listener.brokers.split(',').next().unwrap_or_default();
    let addr = first
        .parse()
        .unwrap_or_else(|e| panic!("SASL_SSL address {first:?}: {e}"));
    assert!(
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)).is_ok(),
        "no SASL_SSL listener answers on {first}: start the broker with `scripts/kafka start`"
    );
    listener
}

/// A `celeriac.toml` for the listener: the password read from a file, as a deployment would.
fn config_text(
    listener: &Listener,
    mechanism: &str,
    password_file: &Path,
    ca: &Path,
    state: &Path,
) -> String {
    let prefix = format!("sasl{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    format!(
        r#"
brokers = "{brokers}"
prefix = "{prefix}"
state-dir = "{state}"
partitions = 2
connect-timeout = "20s"

[kafka]
"security.protocol" = "SASL_SSL"
"sasl.mechanism" = "{mechanism}"
"sasl.username" = "{user}"
"sasl.password" = {{ file = "{password_file}" }}
"ssl.ca.location" = "{ca}"

[worker]
concurrency = 4
events = true
"#,
        brokers = listener.brokers,
        user = listener.user,
        password_file = password_file.display(),
        ca = ca.display(),
        state = state.display(),
    )
}

struct Fixture {
    dir: tempfile::TempDir,
    listener: Listener,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().expect("tempdir"),
            listener: listener(),
        }
    }

    fn builder(&self, mechanism: &str, password: &str, ca: &Path) -> AppBuilder {
        let password_file = self.dir.path().join(format!("password-{mechanism}"));
        std::fs::write(&password_file, format!("{password}\n")).expect("write password");
        let text = config_text(
            &self.listener,
            mechanism,
            &password_file,
            ca,
            &self.dir.path().join("state"),
        );
        let config = Config::from_toml(&text).expect("the configuration is valid");
        AppBuilder::from_config(&config).expect("builder from the configuration")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_workflows_and_ping_run_over_sasl_ssl() {
    let fixture = Fixture::new();
    let password = fixture.listener.password.clone();
    let app: App = fixture
        .builder("SCRAM-SHA-512", &password, &fixture.listener.ca)
        .build()
        .await
        .expect("an app on the SASL_SSL listener");
    assert_eq!(app.log().backend(), "kafka");
    let add = app
        .task("add", |(x, y): (i64, i64)| async move { Ok(x + y) })
        .expect("register");
    let worker = app.worker().spawn();

    let sum = add
        .delay((2, 3))
        .await
        .expect("submitted")
        .get(secs(60))
        .await;
    assert_eq!(sum.expect("a result over SASL_SSL"), 5);

    let workflow = chain(add.s((1, 2)), add.partial(10));
    let total: i64 = app
        .submit(workflow)
        .await
        .expect("workflow submitted")
        .get(secs(60))
        .await
        .expect("the chain's result");
    assert_eq!(total, 13);

    let control = app.control();
    let started = Instant::now();
    let replies = loop {
        let replies = control.ping(secs(3)).await.expect("ping");
        if !replies.is_empty() || started.elapsed() > secs(60) {
            break replies;
        }
    };
    assert_eq!(replies.len(), 1, "the one worker answers a ping");
    worker.shutdown().await.expect("worker stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_mechanism_works_too() {
    let fixture = Fixture::new();
    let password = fixture.listener.password.clone();
    let app = fixture
        .builder("PLAIN", &password, &fixture.listener.ca)
        .build()
        .await
        .expect("an app with SASL PLAIN over TLS");
    let topics = app.log().list_topics().await.expect("list topics");
    assert!(
        topics.iter().any(|t| t.starts_with(app.names().prefix())),
        "the app's topics were created over SASL_SSL: {topics:?}"
    );
}

/// Asserts `result` failed within `bound` with an error that names the cause.
fn assert_refused<T: std::fmt::Debug>(
    result: celeriac::Result<T>,
    started: Instant,
    bound: Duration,
    words: &[&str],
) {
    let elapsed = started.elapsed();
    let error = result
        .expect_err("the connection must be refused")
        .to_string();
    assert!(
        elapsed < bound,
        "took {elapsed:?} to fail (bound {bound:?}): {error}"
    );
    let lower = error.to_lowercase();
    assert!(
        lower.contains("refused") && words.iter().any(|w| lower.contains(w)),
        "the error should say why: {error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_fails_fast_and_clearly() {
    let fixture = Fixture::new();
    let started = Instant::now();
    let result = fixture
        .builder("SCRAM-SHA-512", "not-the-password", &fixture.listener.ca)
        .build()
        .await;
    assert_refused(
        result,
        started,
        Duration::from_secs(15),
        &["authentication", "credentials"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_fails_fast_and_clearly() {
    let fixture = Fixture::new();
    // A CA of our own that never signed the broker's certificate.
    let other = fixture.dir.path().join("other-ca.pem");
    let key = fixture.dir.path().join("other-ca.key");
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=not the broker's CA", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&other)
        .output()
        .expect("openssl runs (scripts/setup installs it)");
    assert!(made.status.success(), "openssl: {made:?}");
    let password = fixture.listener.password.clone();
    let started = Instant::now();
    let result = fixture
        .builder("SCRAM-SHA-512", &password, &other)
        .build()
        .await;
    assert_refused(
        result,
        started,
        Duration::from_secs(15),
        &["certificate", "ssl"],
    );
}
