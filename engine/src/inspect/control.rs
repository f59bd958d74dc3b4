//! [`Control`]: a client of the control topic — ping and inspect workers and collect their
//! replies; revoke, terminate, set rate limits, shut workers down.
//!
//! A command is one [`ControlCommand`] record on `<prefix>.control` (every worker follows
//! it). Commands that want an answer name the replies topic (`<prefix>.replies`) in
//! `reply_to`; the client reads that topic from where it ended before the command was sent,
//! keeps the replies carrying the command's id, and stops at the timeout — or earlier, once
//! as many workers answered as are expected (one for a destination; else the workers alive
//! per their heartbeats, when they send them).

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use celeriac_schemas::{now_millis, ControlCommand, ControlKind, ControlReply, Record as _};
use celeriac_topics::{Consumer, ConsumerConfig, ConsumerEvent, OutRecord, TopicPartition};
use tokio::time::Instant;
use uuid::Uuid;

use crate::app::App;
use crate::worker::rate_limit::RateLimit;
use crate::{Error, Result};

/// What `inspect` asks workers for; the reply bodies are described in
/// [`replies`](super::replies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InspectKind {
    /// Tasks whose bodies are running: id, name, start time.
    Active,
    /// Tasks waiting for an ETA, from the timers of the worker's coordinator.
    Scheduled,
    /// Messages taken from a queue but not started (waiting for a slot or a rate limit).
    Reserved,
    /// The task names the worker can run.
    Registered,
    /// Counters and settings: processed, concurrency, pid, uptime, …
    Stats,
}

impl InspectKind {
    /// Every kind, in the order `celeriac inspect` lists them.
    pub const ALL: [InspectKind; 5] = [
        InspectKind::Active,
        InspectKind::Scheduled,
        InspectKind::Reserved,
        InspectKind::Registered,
        InspectKind::Stats,
    ];

    /// The name on the wire (`ControlCommand.inspect`) and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            InspectKind::Active => "active",
            InspectKind::Scheduled => "scheduled",
            InspectKind::Reserved => "reserved",
            InspectKind::Registered => "registered",
            InspectKind::Stats => "stats",
        }
    }
}

impl std::fmt::Display for InspectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for InspectKind {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        InspectKind::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| {
                Error::Config(format!(
                    "inspect {text:?}: expected active, scheduled, reserved, registered or stats"
                ))
            })
    }
}

/// A client of the control topic (`app.control()`). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Control {
    app: App,
    destination: Vec<String>,
    heartbeat_window: Duration,
}

impl App {
    /// A client of the control topic: ping, inspect, revoke, terminate, rate limit, shutdown.
    pub fn control(&self) -> Control {
        Control {
            app: self.clone(),
            destination: Vec::new(),
            heartbeat_window: super::workers::ALIVE_WITHIN,
        }
    }
}

impl Control {
    /// Addresses `ping` and `inspect` to these workers only (host names); empty means all.
    pub fn destination<H: Into<String>>(mut self, hosts: impl IntoIterator<Item = H>) -> Self {
        self.destination = hosts.into_iter().map(Into::into).collect();
        self
    }

    /// Asks every worker (or the destination) for a pong; one reply per worker that answered
    /// within `timeout`, sorted by host name.
    pub async fn ping(&self, timeout: Duration) -> Result<Vec<ControlReply>> {
        self.ask(ControlKind::Ping, None, timeout).await
    }

    /// Asks every worker (or the destination) for what `kind` names; one reply per worker
    /// that answered within `timeout`, sorted by host name. Decode bodies with
    /// [`decode_body`](super::decode_body).
    pub async fn inspect(&self, kind: InspectKind, timeout: Duration) -> Result<Vec<ControlReply>> {
        self.ask(ControlKind::Inspect, Some(kind.as_str()), timeout)
            .await
    }

    /// Revokes tasks: workers will not start them. Remembered across worker restarts.
    pub async fn revoke(&self, ids: &[Uuid]) -> Result<()> {
        self.app.revoke(ids, false).await
    }

    /// Revokes tasks and aborts those running now.
    pub async fn terminate(&self, ids: &[Uuid]) -> Result<()> {
        self.app.revoke(ids, true).await
    }

    /// Sets `task`'s rate limit on every worker (or on `destination`): `"10/s"`, `"100/m"`,
    /// `"1000/h"`; `"0"` removes the limit set by command. A rate that does not parse is
    /// [`Error::Config`] and nothing is sent.
    pub async fn rate_limit(
        &self,
        task: &str,
        rate: &str,
        destination: Option<&str>,
    ) -> Result<()> {
        let rate = rate.trim();
        if rate != "0" {
            rate.parse::<RateLimit>().map_err(Error::Config)?;
        }
        let mut command = self.command(ControlKind::RateLimit, destination);
        command.task_name = Some(task.to_owned());
        command.rate_limit = Some(rate.to_owned());
        self.send(&command).await
    }

    /// Asks every worker (or `destination`) to drain and stop.
    pub async fn shutdown(&self, destination: Option<&str>) -> Result<()> {
        let command = self.command(ControlKind::Shutdown, destination);
        self.send(&command).await
    }

    fn command(&self, kind: ControlKind, destination: Option<&str>) -> ControlCommand {
        ControlCommand {
            id: Uuid::now_v7(),
            kind,
            task_ids: Vec::new(),
            task_name: None,
            rate_limit: None,
            inspect: None,
            destination: destination.map_or_else(Vec::new, |d| vec![d.to_owned()]),
            reply_to: None,
            issued_at: now_millis(),
            expires_at: None,
        }
    }

    async fn send(&self, command: &ControlCommand) -> Result<()> {
        let record = OutRecord::keyed(
            self.app.inner.names.control(),
            command.id.to_string(),
            Bytes::from(command.encode()?),
        );
        self.app.inner.log.send(record)?.await?;
        Ok(())
    }

    /// Sends a command that wants replies and collects them until `timeout`, or until the
    /// expected number of workers answered.
    async fn ask(
        &self,
        kind: ControlKind,
        inspect: Option<&str>,
        timeout: Duration,
    ) -> Result<Vec<ControlReply>> {
        let deadline = Instant::now() + timeout;
        let names = &self.app.inner.names;
        let replies = TopicPartition::new(names.replies(), 0);
        let start = self.app.inner.log.watermarks(&replies).await?.1;
        let group = format!("{}.control-client.{}", names.prefix(), Uuid::now_v7());
        let consumer = self
            .app
            .inner
            .log
            .consumer(ConsumerConfig::new(group, [names.replies()]))
            .await?;
        let mut command = self.command(kind, None);
        command.destination = self.destination.clone();
        command.inspect = inspect.map(str::to_owned);
        command.reply_to = Some(names.replies().to_string());
        command.expires_at =
            Some(now_millis() + i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX / 2));
        if let Err(error) = self.send(&command).await {
            let _ = consumer.close().await;
            return Err(error);
        }
        let collected = self
            .collect(consumer.as_ref(), command.id, start, deadline)
            .await;
        let _ = consumer.close().await;
        let mut out = collected?;
        out.sort_by(|a, b| a.hostname.cmp(&b.hostname));
        Ok(out)
    }

    /// Reads replies to `command` from `start` until `deadline`, or until as many workers
    /// answered as are expected; one reply per host name.
    async fn collect(
        &self,
        consumer: &dyn Consumer,
        command: Uuid,
        start: i64,
        deadline: Instant,
    ) -> Result<Vec<ControlReply>> {
        let expected = self.expected(deadline);
        tokio::pin!(expected);
        let mut expected_count: Option<usize> = None;
        let mut expected_done = false;
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        loop {
            if expected_count.is_some_and(|n| out.len() >= n) {
                return Ok(out);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(out);
            }
            let wait = (deadline - now).min(Duration::from_millis(200));
            let polled = tokio::select! {
                polled = consumer.poll(1000, wait) => polled?,
                count = &mut expected, if !expected_done => {
                    expected_done = true;
                    expected_count = count;
                    continue;
                }
            };
            match polled {
                ConsumerEvent::Assigned(tps) => {
                    for tp in tps {
                        consumer.seek(&tp, start)?;
                    }
                }
                ConsumerEvent::Records(records) => {
                    for record in records {
                        match ControlReply::decode(&record.payload) {
                            Ok(reply) if reply.command_id == command => {
                                if seen.insert(reply.hostname.clone()) {
                                    out.push(reply);
                                }
                            }
                            Ok(_) => {}
                            Err(error) => {
                                tracing::warn!(%error, "undecodable control reply skipped")
                            }
                        }
                    }
                }
                ConsumerEvent::Revoked(_) => {}
            }
        }
    }

    /// How many workers should answer: the destination's size, else the workers alive per
    /// their heartbeats (`None` when unknown: none send heartbeats, or reading them failed).
    async fn expected(&self, deadline: Instant) -> Option<usize> {
        if !self.destination.is_empty() {
            return Some(self.destination.len());
        }
        let workers = tokio::time::timeout_at(deadline, self.app.workers(self.heartbeat_window));
        match workers.await {
            Ok(Ok(workers)) => {
                let alive = workers.iter().filter(|w| w.alive).count();
                (alive > 0).then_some(alive)
            }
            _ => None,
        }
    }
}
