//! Records the log would refuse never reach it, and no record stops the coordinator: a
//! workflow or a countdown naming a queue that cannot be a topic, a chord body whose collected
//! inputs pass the record limit, a result past it — each becomes a failure with a clear error
//! (and a dead letter where there is an original to keep), decided by the deterministic core,
//! so a replay decides the same.

#![allow(clippy::unwrap_used)]

mod coordinator_support;

use celeriac_canvas::Canvas;
use celeriac_engine::coordinator::{
    task_result, Action, Core, CoreConfig, Input, MemoryState, RecordMeta,
};
use celeriac_engine::{TopicNames, RECORD_OVERHEAD};
use celeriac_schemas::{
    DeadLetter, Record as _, TaskEventKind, TaskMessage, TaskState, WorkflowSpec,
};
use serde_json::json;
use uuid::Uuid;

use coordinator_support::event;

const LIMIT: usize = 1024 * 1024;

struct Sim {
    core: Core,
    state: MemoryState,
    offset: i64,
}

impl Sim {
    fn new() -> Self {
        let mut names = TopicNames::default();
        names.set_max_record_bytes(LIMIT);
        Sim {
            core: Core::new(CoreConfig::new(names, "coordinator@test")),
            state: MemoryState::new(),
            offset: 0,
        }
    }

    fn meta(&mut self) -> RecordMeta {
        self.offset += 1;
        RecordMeta {
            partition: 0,
            offset: self.offset,
            timestamp_ms: 1_000,
        }
    }

    fn apply(&mut self, input: Input) -> Vec<Action> {
        self.core.apply(&mut self.state, input, 1_000).unwrap()
    }

    fn submit(&mut self, spec: &WorkflowSpec) -> Vec<Action> {
        let meta = self.meta();
        self.apply(Input::Workflow {
            meta,
            spec: spec.clone(),
            bytes: spec.encode().unwrap(),
        })
    }

    fn state_of(&self, task: &Uuid) -> Option<(TaskState, String)> {
        task_result(&self.state, task).unwrap().map(|r| {
            let kind = r.error.map(|e| e.type_name).unwrap_or_default();
            (r.state, kind)
        })
    }
}

fn enqueued(actions: &[Action]) -> Vec<TaskMessage> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Enqueue(r) => Some(TaskMessage::decode(&r.payload).unwrap()),
            _ => None,
        })
        .collect()
}

fn dead(actions: &[Action]) -> Vec<DeadLetter> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::DeadLetter(r) => Some(DeadLetter::decode(&r.payload).unwrap()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_workflow_naming_a_queue_that_is_no_topic_fails_and_is_dead_lettered() {
    let dag = Canvas::chain([
        Canvas::task("add", vec![json!(1), json!(2)]),
        Canvas::partial("add", vec![json!(3)]),
    ])
    .compile(Uuid::new_v4())
    .unwrap();
    let mut spec = dag.to_spec();
    spec.steps[1].options.queue = Some("a b".into());
    let mut sim = Sim::new();
    let actions = sim.submit(&spec);
    assert!(enqueued(&actions).is_empty(), "nothing of it is published");
    let letters = dead(&actions);
    assert_eq!(letters.len(), 1);
    assert!(letters[0].reason.contains("a b"), "{}", letters[0].reason);
    let output = spec.steps[spec.output as usize].task_id;
    assert_eq!(
        sim.state_of(&output),
        Some((TaskState::Failure, "InvalidWorkflow".into()))
    );
}

#[test]
fn a_countdown_naming_a_queue_that_is_no_topic_fails_and_is_dead_lettered() {
    let mut message = TaskMessage::new("add", "application/json", b"[1,2]".to_vec());
    message.queue = "no/such queue".into();
    message.eta = Some(5_000);
    let mut sim = Sim::new();
    let meta = sim.meta();
    let actions = sim.apply(Input::TimerArm {
        meta,
        bytes: message.encode().unwrap(),
        message: message.clone(),
    });
    assert_eq!(dead(&actions).len(), 1);
    assert_eq!(
        sim.state_of(&message.id),
        Some((TaskState::Failure, "InvalidQueue".into()))
    );
    let later = sim.apply(Input::Tick {
        partition: 0,
        now_ms: 10_000,
        limit: 100,
    });
    assert!(enqueued(&later).is_empty(), "it never fires");
}

#[test]
fn a_result_past_the_limit_is_a_failure_not_a_record_the_log_refuses() {
    let message = TaskMessage::new("big", "application/json", b"[]".to_vec());
    let mut done = event(&message, TaskEventKind::Succeeded, 2);
    done.result = Some(vec![b'7'; LIMIT - RECORD_OVERHEAD + 1]);
    done.content_type = Some("application/json".into());
    let mut sim = Sim::new();
    let meta = sim.meta();
    let actions = sim.apply(Input::Event { meta, event: done });
    assert_eq!(
        sim.state_of(&message.id),
        Some((TaskState::Failure, "ResultTooLarge".into()))
    );
    assert!(
        actions.iter().all(|a| a.record().payload.len() < LIMIT),
        "every record published fits the limit"
    );
}

#[test]
fn a_chord_body_whose_inputs_pass_the_limit_fails_instead_of_being_sent() {
    let members = 4;
    let dag = Canvas::chord(
        (0..members).map(|i| Canvas::task("blob", vec![json!(i)])),
        Canvas::partial("tsum", vec![]),
    )
    .compile(Uuid::new_v4())
    .unwrap();
    let spec = dag.to_spec();
    let mut sim = Sim::new();
    let started = enqueued(&sim.submit(&spec));
    assert_eq!(started.len(), members);
    // Each member returns a third of the limit: fine alone, too much together.
    let third = "x".repeat(LIMIT / 3);
    let mut last = Vec::new();
    for message in &started {
        let mut done = event(message, TaskEventKind::Succeeded, 3);
        done.result = Some(serde_json::to_vec(&json!(third)).unwrap());
        done.content_type = Some("application/json".into());
        let meta = sim.meta();
        last = sim.apply(Input::Event { meta, event: done });
    }
    assert!(
        enqueued(&last).is_empty(),
        "the body is not sent: it would not fit"
    );
    let body = spec.steps[spec.output as usize].task_id;
    assert_eq!(
        sim.state_of(&body),
        Some((TaskState::Failure, "ArgumentsTooLarge".into()))
    );
}
