//! `App`: the entry point — where the log is, which tasks exist, how they are routed.

mod builder;
mod publish;
mod register;
mod workflow;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use celeriac_topics::{Log, TopicName};

use crate::config::{QueueConfig, WorkerConfig};
use crate::names::TopicNames;
use crate::registry::{Registry, Routes};
use crate::results::ResultReader;
use crate::{Result, TaskOptions};

pub(crate) use builder::defaults;
pub use builder::AppBuilder;
pub use publish::{SendOptions, PARKED_HEADER};
pub use workflow::{StepState, WorkflowHandle};

/// A Celeriac application: the log, the registered tasks, routes and defaults. Cheap to
/// clone; clones share everything.
///
/// ```no_run
/// # async fn demo() -> celeriac_engine::Result<()> {
/// use celeriac_engine::App;
/// let app = App::builder().build().await?; // no brokers: the embedded log under ./.celeriac
/// let add = app.task("add", |(x, y): (i64, i64)| async move { Ok(x + y) })?;
/// app.worker().concurrency(4).spawn();
/// let sum = add.delay((2, 3)).await?.get(std::time::Duration::from_secs(10)).await?;
/// assert_eq!(sum, 5);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct App {
    pub(crate) inner: Arc<AppInner>,
}

pub(crate) struct AppInner {
    pub(crate) log: Arc<dyn Log>,
    pub(crate) names: TopicNames,
    pub(crate) registry: Registry,
    pub(crate) routes: Routes,
    pub(crate) default_queue: String,
    pub(crate) state_dir: PathBuf,
    pub(crate) hostname: String,
    pub(crate) result_expires: Duration,
    /// Default retry policies of the queues that configure one.
    pub(crate) queue_retry: BTreeMap<String, QueueConfig>,
    /// What `app.worker()` starts from (`[worker]`).
    pub(crate) worker_defaults: WorkerConfig,
    /// Queue topics known to exist.
    pub(crate) queues_ready: Mutex<HashSet<String>>,
    /// The topic name of each queue published to, made once.
    pub(crate) task_topics: Mutex<HashMap<String, TopicName>>,
    pub(crate) results: ResultReader,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("backend", &self.inner.log.backend())
            .field("prefix", &self.inner.names.prefix())
            .field("tasks", &self.inner.registry.names())
            .finish()
    }
}

impl App {
    /// Starts configuring an app.
    pub fn builder() -> AppBuilder {
        AppBuilder::default()
    }

    /// An app configured from `CELERIAC_*` environment variables (`CELERIAC_BROKERS` unset
    /// means the embedded log under `./.celeriac`).
    pub async fn from_env() -> Result<Self> {
        AppBuilder::from_env()?.build().await
    }

    /// The log this app uses.
    pub fn log(&self) -> &Arc<dyn Log> {
        &self.inner.log
    }

    /// The app's topic names.
    pub fn names(&self) -> &TopicNames {
        &self.inner.names
    }

    /// The names of the registered tasks, sorted.
    pub fn task_names(&self) -> Vec<String> {
        self.inner.registry.names()
    }

    /// This process's name in events and heartbeats.
    pub fn hostname(&self) -> &str {
        &self.inner.hostname
    }

    /// Where this app keeps its local state (the embedded log, the coordinator's store).
    pub fn state_dir(&self) -> &std::path::Path {
        &self.inner.state_dir
    }

    /// The queue a task goes to: a matching route, else the task's own queue option, else the
    /// default queue.
    pub fn queue_for(&self, task: &str) -> String {
        if let Some(queue) = self.inner.routes.queue_for(task) {
            return queue.to_owned();
        }
        self.inner
            .registry
            .get(task)
            .and_then(|entry| entry.options.queue.clone())
            .unwrap_or_else(|| self.inner.default_queue.clone())
    }

    /// `options` with the retry policy of `queue` over it, when the queue configures one and
    /// the task's own retry settings are Celery's defaults.
    pub(crate) fn retry_policy_for(&self, queue: &str, options: &TaskOptions) -> TaskOptions {
        match self.inner.queue_retry.get(queue) {
            Some(policy) if options.retry_is_default() => {
                policy.apply_retry_policy(options.clone())
            }
            _ => options.clone(),
        }
    }

    /// The topic of `queue`'s tasks (`<prefix>.tasks.<queue>`), shared.
    pub(crate) fn task_topic(&self, queue: &str) -> TopicName {
        let mut topics = crate::lock(&self.inner.task_topics);
        if let Some(topic) = topics.get(queue) {
            return topic.clone();
        }
        let topic = TopicName::from(self.inner.names.tasks(queue));
        topics.insert(queue.to_owned(), topic.clone());
        topic
    }

    /// Creates the topic of `queue` if this process has not seen it yet.
    /// An invalid queue name is refused here, before anything is sent.
    pub(crate) async fn ensure_queue(&self, queue: &str) -> Result<()> {
        if crate::lock(&self.inner.queues_ready).contains(queue) {
            return Ok(());
        }
        crate::validate_queue(queue)?;
        match self
            .inner
            .log
            .create_topics(&[self.inner.names.queue_topic(queue)])
            .await
        {
            // A queue that exists with another partition count serves as it is.
            Ok(()) | Err(celeriac_topics::Error::PartitionMismatch { .. }) => {}
            Err(error) => return Err(error.into()),
        }
        crate::lock(&self.inner.queues_ready).insert(queue.to_owned());
        Ok(())
    }
}
