//! A live stream of the events topic (`app.events(from)`): task events and worker
//! heartbeats, decoded; a record that is neither comes out as an error item
//! ([`Error::Undecodable`]) and the stream goes on.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use celeriac_schemas::{Record as _, TaskEvent, WorkerHeartbeat};
use celeriac_topics::{Consumer, ConsumerConfig, ConsumerEvent, Record, TopicPartition};
use futures::Stream;
use uuid::Uuid;

use crate::app::App;
use crate::{Error, Result};

/// Where an event stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventsFrom {
    /// Only events written after the stream was opened.
    #[default]
    Now,
    /// Every event still on the topic, then live ones.
    Beginning,
}

/// One record of the events topic.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Something happened to a task attempt (received, started, succeeded, …).
    Task(TaskEvent),
    /// A worker's sign of life.
    Heartbeat(WorkerHeartbeat),
}

impl Event {
    /// When it happened (milliseconds since the Unix epoch, the emitter's clock).
    pub fn timestamp(&self) -> i64 {
        match self {
            Event::Task(event) => event.timestamp,
            Event::Heartbeat(beat) => beat.timestamp,
        }
    }

    /// The worker (or coordinator) that emitted it.
    pub fn hostname(&self) -> &str {
        match self {
            Event::Task(event) => &event.hostname,
            Event::Heartbeat(beat) => &beat.hostname,
        }
    }

    /// Decodes one record of the events topic.
    pub fn decode(record: &Record) -> Result<Event> {
        match TaskEvent::decode(&record.payload) {
            Ok(event) => Ok(Event::Task(event)),
            Err(task_error) => match WorkerHeartbeat::decode(&record.payload) {
                Ok(beat) => Ok(Event::Heartbeat(beat)),
                Err(_) => Err(Error::Undecodable {
                    topic: record.topic.to_string(),
                    partition: record.partition,
                    offset: record.offset,
                    reason: task_error.to_string(),
                }),
            },
        }
    }
}

/// A live stream of events: [`next`](Self::next) waits for the next one; [`into_stream`]
/// (Self::into_stream) makes it a [`futures::Stream`].
pub struct EventStream {
    consumer: Box<dyn Consumer>,
    start: HashMap<TopicPartition, i64>,
    buffered: VecDeque<Result<Event>>,
    closed: bool,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("buffered", &self.buffered.len())
            .field("closed", &self.closed)
            .finish()
    }
}

impl App {
    /// Follows the events topic from `from`. Workers send task events for every attempt's
    /// outcome; RECEIVED events and heartbeats only with `send_events(true)`.
    pub async fn events(&self, from: EventsFrom) -> Result<EventStream> {
        let log = &self.inner.log;
        let topic = self.inner.names.events();
        let partitions = log.describe_topic(&topic).await?.partitions;
        let mut start = HashMap::new();
        for p in 0..partitions {
            let tp = TopicPartition::new(topic.clone(), p);
            let (low, high) = log.watermarks(&tp).await?;
            start.insert(
                tp,
                match from {
                    EventsFrom::Now => high,
                    EventsFrom::Beginning => low,
                },
            );
        }
        let group = format!(
            "{}.events-tail.{}",
            self.inner.names.prefix(),
            Uuid::now_v7()
        );
        let consumer = log.consumer(ConsumerConfig::new(group, [topic])).await?;
        Ok(EventStream {
            consumer,
            start,
            buffered: VecDeque::new(),
            closed: false,
        })
    }
}

impl EventStream {
    /// The next event, waiting for one; an error item for a record that does not decode or
    /// a failed read (the stream goes on after both); `None` once the log is closed.
    pub async fn next(&mut self) -> Option<Result<Event>> {
        loop {
            if let Some(item) = self.buffered.pop_front() {
                return Some(item);
            }
            if self.closed {
                return None;
            }
            match self.consumer.poll(1000, Duration::from_millis(500)).await {
                Ok(ConsumerEvent::Assigned(tps)) => {
                    for tp in tps {
                        let offset = self.start.get(&tp).copied().unwrap_or(0);
                        if let Err(error) = self.consumer.seek(&tp, offset) {
                            self.buffered.push_back(Err(error.into()));
                        }
                    }
                }
                Ok(ConsumerEvent::Records(records)) => {
                    self.buffered.extend(records.iter().map(Event::decode));
                }
                Ok(ConsumerEvent::Revoked(_)) => {}
                Err(celeriac_topics::Error::Closed(_)) => self.closed = true,
                Err(error) => {
                    // Reported once per failed poll; the caller decides whether to go on.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    return Some(Err(error.into()));
                }
            }
        }
    }

    /// The stream as a [`futures::Stream`] of the same items.
    pub fn into_stream(self) -> impl Stream<Item = Result<Event>> + Send {
        futures::stream::unfold(self, |mut stream| async move {
            stream.next().await.map(|item| (item, stream))
        })
    }

    /// Leaves the consumer group (the stream's, never shared).
    pub async fn close(self) -> Result<()> {
        self.consumer.close().await?;
        Ok(())
    }
}
