//! The coordinator's deterministic core, driven without I/O: random canvases run through
//! `Core::apply` with a simulated worker (random order, injected failures, retries through
//! the timers topic, duplicated and late completion events) end exactly as the canvas
//! reference evaluator says; terminal states are recorded once; a 10,000-member chord's body
//! is published once even when every completion arrives twice; timers fire once, when due.

#![allow(clippy::unwrap_used)]

mod coordinator_support;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use celeriac_canvas::strategies::CanvasStrategy;
use celeriac_canvas::{ArgsMode, Canvas, Dag, Evaluation, Evaluator, StepState, TaskTable};
use celeriac_engine::coordinator::{
    task_result, Action, Core, CoreConfig, Input, MemoryState, RecordMeta, Source, StepStatus,
    Table, WorkflowView, TIMER_DUE_HEADER,
};
use celeriac_engine::TopicNames;
use celeriac_schemas::{
    DeadLetter, Record as _, TaskEventKind, TaskMessage, TaskResult, TaskState, WorkerHeartbeat,
    WorkflowSpec,
};
use celeriac_topics::Record;
use proptest::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

use coordinator_support::{event, execute, outcome_event, tasks, Rng};

/// The core, its state and a simulated log around it.
struct Sim {
    core: Core,
    state: MemoryState,
    now: i64,
    offset: i64,
    /// Task messages published and not yet taken by the worker.
    pending: Vec<TaskMessage>,
    /// Every task message published, in order.
    enqueued: Vec<TaskMessage>,
    /// Timer records waiting to be read back from `timers`.
    timers: VecDeque<Input>,
    /// Every result published, in order.
    results: Vec<TaskResult>,
    /// The keys of every tombstone published on `results`, in order.
    tombstones: Vec<String>,
    dead: Vec<DeadLetter>,
    markers: usize,
}

impl Sim {
    fn new() -> Self {
        Sim {
            core: Core::new(CoreConfig::new(TopicNames::default(), "coordinator@test")),
            state: MemoryState::new(),
            now: 1_000_000,
            offset: 0,
            pending: Vec::new(),
            enqueued: Vec::new(),
            timers: VecDeque::new(),
            results: Vec::new(),
            tombstones: Vec::new(),
            dead: Vec::new(),
            markers: 0,
        }
    }

    fn meta(&mut self) -> RecordMeta {
        self.offset += 1;
        RecordMeta {
            partition: 0,
            offset: self.offset,
            timestamp_ms: self.now,
        }
    }

    /// Applies an input and everything it makes the log carry back to the coordinator.
    fn apply(&mut self, input: Input) {
        let actions = self.core.apply(&mut self.state, input, self.now).unwrap();
        for action in actions {
            match action {
                Action::Enqueue(record) => {
                    let message = TaskMessage::decode(&record.payload).unwrap();
                    assert_eq!(&*record.topic, format!("celeriac.tasks.{}", message.queue));
                    self.pending.push(message.clone());
                    self.enqueued.push(message);
                }
                Action::Delay(record) | Action::TimerFired(record) => {
                    assert_eq!(&*record.topic, "celeriac.timers");
                    let message = TaskMessage::decode(&record.payload).unwrap();
                    self.markers += usize::from(message.eta.is_none());
                    let meta = self.meta();
                    let input = match message.eta {
                        Some(_) => Input::TimerArm {
                            meta,
                            message,
                            bytes: record.payload.to_vec(),
                        },
                        None => Input::TimerFired { meta, message },
                    };
                    self.timers.push_back(input);
                }
                Action::Result(record) if record.payload.is_empty() => {
                    let key = record.key.expect("a tombstone names its task");
                    self.tombstones
                        .push(String::from_utf8(key.to_vec()).unwrap());
                }
                Action::Result(record) => self
                    .results
                    .push(TaskResult::decode(&record.payload).unwrap()),
                Action::DeadLetter(record) => {
                    self.dead.push(DeadLetter::decode(&record.payload).unwrap())
                }
            }
        }
        while let Some(input) = self.timers.pop_front() {
            let actions = self.core.apply(&mut self.state, input, self.now).unwrap();
            assert!(
                actions.is_empty(),
                "applying a timer record publishes nothing"
            );
        }
    }

    fn submit(&mut self, spec: &WorkflowSpec) {
        let meta = self.meta();
        self.apply(Input::Workflow {
            meta,
            spec: spec.clone(),
            bytes: spec.encode().unwrap(),
        });
    }

    fn event(&mut self, event: celeriac_schemas::TaskEvent) {
        let meta = self.meta();
        self.apply(Input::Event { meta, event });
    }

    fn tick(&mut self) {
        self.apply(Input::Tick {
            partition: 0,
            now_ms: self.now,
            limit: 10_000,
        });
    }

    fn result(&self, task: &Uuid) -> Option<TaskResult> {
        task_result(&self.state, task).unwrap()
    }
}

/// How the simulated worker misbehaves.
#[derive(Debug, Clone, Copy)]
struct Chaos {
    seed: u64,
    /// Percent of completions delivered twice (the second one later).
    duplicate: u64,
    /// Percent of first attempts that retry through the timers topic.
    retry: u64,
}

/// Runs a workflow to the end with a simulated worker; returns the sim.
fn run(spec: &WorkflowSpec, injected: &HashMap<String, String>, chaos: Chaos) -> Sim {
    let tasks = tasks();
    let mut sim = Sim::new();
    let mut rng = Rng::new(chaos.seed);
    let mut late = Vec::new();
    sim.submit(spec);
    for _ in 0..100_000 {
        sim.now += 1;
        sim.tick();
        let armed = sim.state.len(Table::Timers) > 0;
        if sim.pending.is_empty() && late.is_empty() {
            if !armed {
                return sim;
            }
            continue;
        }
        if !sim.pending.is_empty() && (late.is_empty() || rng.chance(80)) {
            let message = sim.pending.swap_remove(rng.below(sim.pending.len()));
            work(
                &mut sim, &tasks, spec, injected, &message, &mut rng, chaos, &mut late,
            );
        } else {
            let event = late.swap_remove(rng.below(late.len()));
            sim.event(event);
        }
    }
    panic!("the workflow did not finish");
}

/// One attempt of a task by the simulated worker.
#[allow(clippy::too_many_arguments)]
fn work(
    sim: &mut Sim,
    tasks: &TaskTable,
    spec: &WorkflowSpec,
    injected: &HashMap<String, String>,
    message: &TaskMessage,
    rng: &mut Rng,
    chaos: Chaos,
    late: &mut Vec<celeriac_schemas::TaskEvent>,
) {
    let now = sim.now;
    if rng.chance(30) {
        sim.event(event(message, TaskEventKind::Received, now));
        sim.event(event(message, TaskEventKind::Started, now));
    }
    if message.retries == 0 && rng.chance(chaos.retry) {
        // A retry as the worker does it: RETRIED, and the next attempt parked on `timers`.
        let mut retried = event(message, TaskEventKind::Retried, now);
        retried.error = Some(celeriac_schemas::TaskError {
            type_name: "Retry".into(),
            message: "again".into(),
            traceback: None,
        });
        sim.event(retried);
        let next = TaskMessage {
            retries: 1,
            eta: Some(now + 3),
            ..message.clone()
        };
        let meta = sim.meta();
        let bytes = next.encode().unwrap();
        sim.apply(Input::TimerArm {
            meta,
            message: next,
            bytes,
        });
        return;
    }
    let step_id = message
        .workflow_step
        .map(|i| spec.steps[i as usize].step_id.as_str());
    let outcome = execute(tasks, message, step_id, injected);
    let terminal = outcome_event(message, &outcome, now);
    if rng.chance(chaos.duplicate) {
        let mut again = terminal.clone();
        again.id = Uuid::new_v4();
        late.push(again);
    }
    sim.event(terminal);
}

/// The evaluator's failure messages of steps that failed on their own.
fn failed_messages(evaluation: &Evaluation) -> Vec<String> {
    evaluation
        .states
        .iter()
        .filter_map(|s| match s {
            StepState::Failed(f) => Some(f.error.clone()),
            _ => None,
        })
        .collect()
}

/// Checks the sim's end state against the reference evaluation.
fn agrees(dag: &Dag, evaluation: &Evaluation, sim: &Sim) -> Result<(), TestCaseError> {
    let view = WorkflowView::read(&sim.state, &dag.id).unwrap().unwrap();
    let failed = failed_messages(evaluation);
    let decode = |r: &TaskResult| {
        serde_json::from_slice::<Value>(r.result.as_deref().unwrap_or(b"null")).unwrap()
    };
    for (index, (expected, step)) in evaluation.states.iter().zip(&view.steps).enumerate() {
        let result = step.result.as_ref();
        let context = format!(
            "step {index} ({}) expected {expected:?}, got {:?} {result:?}",
            step.step_id, step.status
        );
        match expected {
            StepState::NotRun => {
                prop_assert_eq!(step.status, StepStatus::Waiting, "{}", context);
                prop_assert!(result.is_none(), "{}", context);
            }
            StepState::Succeeded(value) => {
                prop_assert_eq!(step.status, StepStatus::Succeeded, "{}", context);
                let result = result.unwrap();
                prop_assert_eq!(result.state, TaskState::Success, "{}", context);
                prop_assert_eq!(&decode(result), value, "{}", context);
            }
            StepState::Failed(failure) => {
                prop_assert_eq!(step.status, StepStatus::Failed, "{}", context);
                let error = result.unwrap().error.as_ref().unwrap();
                prop_assert_eq!(&error.message, &failure.error, "{}", context);
            }
            StepState::ParentFailed(failure) => {
                prop_assert_eq!(step.status, StepStatus::ParentFailed, "{}", context);
                let result = result.unwrap();
                prop_assert_eq!(result.state, TaskState::Failure, "{}", context);
                let message = &result.error.as_ref().unwrap().message;
                if failed.len() == 1 {
                    prop_assert_eq!(message, &failure.error, "{}", context);
                } else {
                    prop_assert!(failed.contains(message), "{}", context);
                }
            }
        }
    }
    // The output: the evaluator's value, or a failure that reached it.
    let output = view.output().unwrap().result.clone().unwrap();
    match &evaluation.output {
        Ok(value) => prop_assert_eq!(&decode(&output), value),
        Err(failure) => {
            prop_assert_eq!(output.state, TaskState::Failure);
            let message = &output.error.as_ref().unwrap().message;
            prop_assert!(message == &failure.error || failed.len() > 1 && failed.contains(message));
        }
    }
    // Every step that ran was published exactly once; error callbacks with the same args.
    let mut published: BTreeMap<usize, Vec<&TaskMessage>> = BTreeMap::new();
    for message in sim.enqueued.iter().filter(|m| m.retries == 0) {
        published
            .entry(message.workflow_step.unwrap() as usize)
            .or_default()
            .push(message);
    }
    for (index, state) in evaluation.states.iter().enumerate() {
        let step = dag.step(index);
        let ran = matches!(state, StepState::Succeeded(_) | StepState::Failed(_))
            && step.kind != celeriac_schemas::StepKind::Collect;
        let count = published.get(&index).map_or(0, Vec::len);
        prop_assert_eq!(
            count,
            usize::from(ran),
            "step {} ({}) published {} times",
            index,
            step.step_id,
            count
        );
    }
    for call in &evaluation.errback_calls {
        let message = published[&call.errback][0];
        let args: Value = serde_json::from_slice(&message.args).unwrap();
        prop_assert_eq!(args, Value::Array(call.args.clone()));
    }
    Ok(())
}

// ---- random canvases (the canvas crate's strategies) ----

fn canvas() -> impl Strategy<Value = Canvas> {
    CanvasStrategy::new()
        .with_failures(true)
        .with_queues(["a", "bq", "cqz"])
        .canvases()
}

/// Injected failures: a few task steps by step id.
fn injections(dag: &Dag, picks: &[usize]) -> HashMap<String, String> {
    let tasks: Vec<&str> = dag
        .steps()
        .filter(|s| s.kind != celeriac_schemas::StepKind::Collect)
        .map(|s| s.step_id.as_str())
        .collect();
    picks
        .iter()
        .filter(|_| !tasks.is_empty())
        .map(|p| {
            let id = tasks[p % tasks.len()];
            (id.to_owned(), format!("injected at {id}"))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_canvases_end_as_the_reference_evaluator_says(
        canvas in canvas(),
        picks in prop::collection::vec(any::<usize>(), 0..3),
        seed in any::<u64>(),
        duplicate in 0..60u64,
        retry in 0..30u64,
    ) {
        let dag = canvas.compile(Uuid::from_u64_pair(seed, 7)).unwrap();
        let injected = injections(&dag, &picks);
        let mut evaluator = Evaluator::new(&TASKS);
        for (step, message) in &injected {
            evaluator = evaluator.fail_step(step.clone(), message.clone());
        }
        let evaluation = evaluator.run(&dag);
        let sim = run(&dag.to_spec(), &injected, Chaos { seed, duplicate, retry });
        agrees(&dag, &evaluation, &sim)?;
        // Error callbacks ran once each (checked as "published once" above) and nothing
        // was dead-lettered; every terminal result was published once.
        prop_assert!(sim.dead.is_empty());
        let mut terminal: HashMap<Uuid, usize> = HashMap::new();
        for result in sim.results.iter().filter(|r| r.state.is_terminal()) {
            *terminal.entry(result.task_id).or_default() += 1;
        }
        prop_assert!(terminal.values().all(|n| *n == 1), "a terminal result was published twice");
    }
}

static TASKS: std::sync::LazyLock<TaskTable> = std::sync::LazyLock::new(tasks);

// ---- targeted cases ----

fn lone(task: &str) -> TaskMessage {
    TaskMessage::new(task, "application/json", b"[1,2]".to_vec())
}

#[test]
fn a_lone_task_records_each_state_and_its_terminal_state_once() {
    let mut sim = Sim::new();
    let message = lone("add");
    sim.event(event(&message, TaskEventKind::Received, 1));
    sim.event(event(&message, TaskEventKind::Started, 2));
    let done = outcome_event(&message, &Ok(json!(3)), 3);
    sim.event(done.clone());
    sim.event(TaskEvent {
        id: Uuid::new_v4(),
        timestamp: 4,
        ..done
    });
    sim.event(outcome_event(&message, &Err("late".into()), 5));
    sim.event(event(&message, TaskEventKind::Started, 6));
    let states: Vec<TaskState> = sim.results.iter().map(|r| r.state).collect();
    assert_eq!(
        states,
        vec![TaskState::Received, TaskState::Started, TaskState::Success]
    );
    let result = sim.result(&message.id).unwrap();
    assert_eq!(result.result.as_deref(), Some(&b"3"[..]));
    assert_eq!(result.date_done, 3);
    assert_eq!(result.expires_at, Some(3 + 24 * 3600 * 1000));
    let stats = sim.core.stats();
    assert_eq!((stats.duplicate_terminal, stats.late_events), (2, 1));
}

use celeriac_schemas::TaskEvent;

#[test]
fn resubmitting_a_known_workflow_is_a_no_op() {
    let dag = Canvas::chain([
        Canvas::task("add", vec![json!(1), json!(2)]),
        Canvas::partial("add", vec![json!(3)]),
    ])
    .compile(Uuid::new_v4())
    .unwrap();
    let mut sim = Sim::new();
    sim.submit(&dag.to_spec());
    sim.submit(&dag.to_spec());
    assert_eq!(sim.enqueued.len(), 1);
    assert_eq!(sim.core.stats().duplicate_workflows, 1);
}

#[test]
fn a_chord_of_10000_members_completing_twice_publishes_its_body_once() {
    let header: Vec<Canvas> = (0..10_000)
        .map(|i| Canvas::task("add", vec![json!(i), json!(1)]))
        .collect();
    let dag = Canvas::chord(header, Canvas::partial("tsum", vec![]))
        .compile(Uuid::new_v4())
        .unwrap();
    let spec = dag.to_spec();
    let mut sim = Sim::new();
    let started = Instant::now();
    sim.submit(&spec);
    let submitted = started.elapsed();
    let members: Vec<TaskMessage> = std::mem::take(&mut sim.pending);
    assert_eq!(members.len(), 10_000);
    let tasks = tasks();
    let fan_in = Instant::now();
    for round in 0..2 {
        for member in &members {
            let outcome = execute(&tasks, member, None, &HashMap::new());
            sim.event(outcome_event(member, &outcome, 10 + round));
        }
    }
    let fan_in = fan_in.elapsed();
    eprintln!(
        "10k chord through apply: submit {submitted:?}, 20k completions {fan_in:?} (debug build)"
    );
    let body = dag.output();
    let bodies: Vec<&TaskMessage> = sim
        .enqueued
        .iter()
        .filter(|m| m.workflow_step == Some(body as i32))
        .collect();
    assert_eq!(bodies.len(), 1, "the body is published exactly once");
    let args: Value = serde_json::from_slice(&bodies[0].args).unwrap();
    assert_eq!(
        args,
        json!([(0..10_000).map(|i| i + 1).collect::<Vec<i64>>()])
    );
    assert_eq!(sim.core.stats().duplicate_terminal, 10_000);
    assert_eq!(
        sim.state.len(Table::Slots),
        0,
        "slots are consumed when the body starts"
    );
}

#[test]
fn a_failed_chord_member_fails_the_body_with_its_error_and_fires_its_errback_once() {
    let header = vec![
        Canvas::task("add", vec![json!(1)]),
        Canvas::task("boom", vec![json!(2)]).with_link_error(Canvas::call(
            "eb",
            vec![],
            ArgsMode::Mutable,
        )),
        Canvas::task("add", vec![json!(3)]),
    ];
    let dag = Canvas::chord(header, Canvas::partial("tsum", vec![]))
        .compile(Uuid::new_v4())
        .unwrap();
    let spec = dag.to_spec();
    let mut sim = Sim::new();
    sim.submit(&spec);
    let tasks = tasks();
    let members = std::mem::take(&mut sim.pending);
    for member in members.iter().chain(&members) {
        let outcome = execute(&tasks, member, None, &HashMap::new());
        sim.event(outcome_event(member, &outcome, 7));
    }
    let body = sim.result(&dag.step(dag.output()).task_id).unwrap();
    assert_eq!(body.state, TaskState::Failure);
    assert_eq!(body.error.unwrap().message, "boom [2]");
    let errbacks: Vec<&TaskMessage> = sim.enqueued.iter().filter(|m| m.task == "eb").collect();
    assert_eq!(errbacks.len(), 1, "the errback fires once");
    let args: Value = serde_json::from_slice(&errbacks[0].args).unwrap();
    assert_eq!(args[0]["error"], json!("boom [2]"));
    assert_eq!(args[0]["task"], json!("boom"));
    assert_eq!(
        errbacks[0].parent_id,
        Some(dag.step(dag.index_of("0.0.1").unwrap()).task_id)
    );
    assert!(
        !sim.enqueued.iter().any(|m| m.task == "tsum"),
        "the body never runs"
    );
}

#[test]
fn timers_fire_once_when_due_and_never_again_after_a_rebuild() {
    let mut sim = Sim::new();
    let mut message = lone("add");
    message.eta = Some(sim.now + 100);
    let bytes = message.encode().unwrap();
    let meta = sim.meta();
    let arm = Input::TimerArm {
        meta,
        message: message.clone(),
        bytes: bytes.clone(),
    };
    sim.apply(arm.clone());
    sim.now += 99;
    sim.tick();
    assert!(sim.enqueued.is_empty(), "not before it is due");
    sim.now += 1;
    sim.tick();
    assert_eq!(sim.enqueued.len(), 1);
    assert_eq!(sim.enqueued[0].eta, message.eta, "the eta is kept");
    assert_eq!(sim.markers, 1);
    sim.now += 1_000;
    sim.tick();
    assert_eq!(sim.enqueued.len(), 1, "fired once");
    assert_eq!(
        sim.state.len(Table::Timers) + sim.state.len(Table::TimerIds),
        0
    );

    // Rebuilt from the log (the arm, then the fired marker): nothing left to fire.
    let mut rebuilt = MemoryState::new();
    let mut core = Core::new(CoreConfig::new(TopicNames::default(), "other"));
    core.restore(&mut rebuilt, arm).unwrap();
    let mut marker = message.clone();
    marker.eta = None;
    marker
        .headers
        .insert(TIMER_DUE_HEADER.into(), message.eta.unwrap().to_string());
    core.restore(
        &mut rebuilt,
        Input::TimerFired {
            meta,
            message: marker,
        },
    )
    .unwrap();
    assert!(core
        .apply(
            &mut rebuilt,
            Input::Tick {
                partition: 0,
                now_ms: i64::MAX,
                limit: 10
            },
            0
        )
        .unwrap()
        .is_empty());

    // A marker of an earlier arm leaves a re-armed timer alone.
    let mut retry = message.clone();
    retry.retries = 1;
    retry.eta = Some(sim.now + 50);
    let meta = sim.meta();
    sim.apply(Input::TimerArm {
        meta,
        message: retry.clone(),
        bytes: retry.encode().unwrap(),
    });
    let mut stale = message.clone();
    stale.eta = None;
    stale
        .headers
        .insert(TIMER_DUE_HEADER.into(), message.eta.unwrap().to_string());
    let meta = sim.meta();
    sim.apply(Input::TimerFired {
        meta,
        message: stale,
    });
    sim.now += 50;
    sim.tick();
    assert_eq!(sim.enqueued.len(), 2);
    assert_eq!(sim.enqueued[1].retries, 1);
}

#[test]
fn countdown_steps_wait_on_the_timers_topic() {
    let mut step = Canvas::task("add", vec![json!(1), json!(2)]);
    step.options.countdown_ms = Some(500);
    let dag = step.compile(Uuid::new_v4()).unwrap();
    let mut sim = Sim::new();
    sim.submit(&dag.to_spec());
    assert!(sim.enqueued.is_empty());
    assert_eq!(sim.state.len(Table::Timers), 1);
    sim.now += 499;
    sim.tick();
    assert!(sim.enqueued.is_empty());
    sim.now += 1;
    sim.tick();
    assert_eq!(sim.enqueued.len(), 1);
    let view = WorkflowView::read(&sim.state, &dag.id).unwrap().unwrap();
    assert_eq!(view.steps[0].status, StepStatus::Published);
}

#[test]
fn records_that_are_not_what_their_topic_carries_are_dead_lettered_and_heartbeats_ignored() {
    let mut sim = Sim::new();
    let record = |payload: Vec<u8>| Record {
        topic: "celeriac.events".into(),
        partition: 0,
        offset: 9,
        key: None,
        payload: payload.into(),
        timestamp_ms: 1,
    };
    sim.apply(Input::from_record(
        Source::Events,
        &record(b"{not avro}".to_vec()),
    ));
    sim.apply(Input::from_record(
        Source::Events,
        &record(lone("x").encode().unwrap()),
    ));
    let heartbeat = WorkerHeartbeat {
        hostname: "w".into(),
        pid: 1,
        queues: vec![],
        active: 0,
        processed: 0,
        timestamp: 0,
        software_version: "0".into(),
        concurrency: 0,
        freq_ms: 0,
        coordinator: String::new(),
    };
    let input = Input::from_record(Source::Events, &record(heartbeat.encode().unwrap()));
    assert!(matches!(input, Input::Ignored { .. }));
    sim.apply(input);
    assert_eq!(sim.dead.len(), 2);
    assert!(
        sim.dead[1]
            .reason
            .contains("expected a celeriac.v1.TaskEvent record, saw a celeriac.v1.TaskMessage"),
        "{}",
        sim.dead[1].reason
    );
    assert_eq!(
        (sim.core.stats().undecodable, sim.core.stats().ignored),
        (2, 1)
    );
}

#[test]
fn an_invalid_workflow_is_dead_lettered_and_its_output_fails() {
    let dag = Canvas::chain([
        Canvas::task("add", vec![json!(1)]),
        Canvas::partial("add", vec![]),
    ])
    .compile(Uuid::new_v4())
    .unwrap();
    let mut spec = dag.to_spec();
    spec.edges.clear(); // the partial's slot is never filled
    let mut sim = Sim::new();
    sim.submit(&spec);
    assert_eq!(sim.dead.len(), 1);
    let output = sim
        .result(&spec.steps[spec.output as usize].task_id)
        .unwrap();
    assert_eq!(output.state, TaskState::Failure);
    assert!(sim.enqueued.is_empty());
    assert!(WorkflowView::read(&sim.state, &spec.id).unwrap().is_none());
}

#[test]
fn the_sweep_forgets_expired_results_only() {
    let mut sim = Sim::new();
    let (old, new) = (lone("add"), lone("add"));
    sim.event(outcome_event(&old, &Ok(json!(1)), 1_000));
    sim.event(event(&new, TaskEventKind::Started, 5_000));
    sim.event(outcome_event(&new, &Ok(json!(2)), 9_000));
    let day = 24 * 3600 * 1000;
    sim.apply(Input::Sweep {
        now_ms: 1_000 + day,
        limit: 100,
    });
    assert!(sim.result(&old.id).is_none());
    assert_eq!(
        sim.tombstones,
        [old.id.to_string()],
        "readers hear of the expiry"
    );
    assert_eq!(sim.result(&new.id).unwrap().state, TaskState::Success);
    assert_eq!(
        sim.state.len(Table::Expiry),
        1,
        "the replaced STARTED entry left the index"
    );
    sim.apply(Input::Sweep {
        now_ms: 9_000 + day,
        limit: 100,
    });
    assert!(sim.result(&new.id).is_none());
    assert_eq!(sim.tombstones, [old.id.to_string(), new.id.to_string()]);
    assert_eq!(sim.core.stats().results_swept, 2);
}
