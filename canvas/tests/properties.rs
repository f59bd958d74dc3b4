//! Random nested canvases compile to valid DAGs whose reference evaluation equals a direct
//! recursive interpretation of the canvas — with and without failures: the output (or the
//! failure that reached it) is the same, and the same error callbacks run, once per failed
//! signature. Injected failures reach every dependent step and nothing else.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeSet, VecDeque};

use celeriac_canvas::strategies::CanvasStrategy;
use celeriac_canvas::{
    ArgsMode, Canvas, CanvasKind, Dag, Evaluation, Evaluator, MapCall, StepState, TaskCall,
    TaskTable,
};
use proptest::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use common::tasks;

/// A failure as both sides see it: the failing task's name and the error message.
type Failure = (String, String);
/// One error callback run: its task, the failed task, the error.
type ErrbackRun = (String, String, String);

/// Random canvases, with or without failing tasks, some steps on other queues.
fn canvas(failures: bool) -> impl Strategy<Value = Canvas> {
    CanvasStrategy::new()
        .with_failures(failures)
        .with_queues(["a", "bq", "cqz"])
        .canvases()
}

/// The direct recursive interpretation of a canvas.
struct Interpreter {
    tasks: TaskTable,
    errback_runs: Vec<ErrbackRun>,
}

type Outcome = Result<Value, Failure>;

impl Interpreter {
    fn canvas(&mut self, canvas: &Canvas, input: Option<&Outcome>, outer: &[&Canvas]) -> Outcome {
        let scope: Vec<&Canvas> = canvas
            .link_error
            .iter()
            .chain(outer.iter().copied())
            .collect();
        let out = match &canvas.kind {
            CanvasKind::Task(call) => self.task(call, input, &scope),
            CanvasKind::Chain(steps) => {
                let mut current = input.cloned();
                for step in steps {
                    current = Some(self.canvas(step, current.as_ref(), &scope));
                }
                current.unwrap()
            }
            CanvasKind::Group(members) => self.group(members, input, &scope),
            CanvasKind::Chord { header, body } => {
                let header = self.group(header, input, &scope);
                self.canvas(body, Some(&header), &scope)
            }
            CanvasKind::Map(call) => self.map(call, input, &scope, false),
            CanvasKind::Starmap(call) => self.map(call, input, &scope, true),
            CanvasKind::Chunks(call) => {
                let results: Vec<Outcome> = call
                    .items
                    .chunks(call.n)
                    .map(|chunk| match input {
                        Some(Err(f)) => Err(f.clone()),
                        _ => self.each(&call.task, chunk.to_vec(), true, &scope),
                    })
                    .collect();
                first_failure_or_list(results)
            }
        };
        for link in &canvas.link {
            let _ = self.canvas(link, Some(&out), outer);
        }
        out
    }

    fn group(&mut self, members: &[Canvas], input: Option<&Outcome>, scope: &[&Canvas]) -> Outcome {
        let results = members
            .iter()
            .map(|m| self.canvas(m, input, scope))
            .collect();
        first_failure_or_list(results)
    }

    fn task(&mut self, call: &TaskCall, input: Option<&Outcome>, scope: &[&Canvas]) -> Outcome {
        let mut args = Vec::new();
        match input {
            Some(Err(f)) => return Err(f.clone()),
            Some(Ok(value)) if call.mode != ArgsMode::Immutable => args.push(value.clone()),
            _ => {}
        }
        args.extend(call.args.iter().cloned());
        let result = self.tasks.get(&call.task).unwrap()(args);
        result.map_err(|e| self.fail(&call.task, e, scope))
    }

    fn map(
        &mut self,
        call: &MapCall,
        input: Option<&Outcome>,
        scope: &[&Canvas],
        star: bool,
    ) -> Outcome {
        let parent = match input {
            Some(Err(f)) => return Err(f.clone()),
            Some(Ok(value)) => Some(value),
            None => None,
        };
        let items = match (&call.items, parent) {
            (Some(items), _) => items.clone(),
            (None, Some(Value::Array(items))) => items.clone(),
            (None, other) => {
                let error = format!("expected a list of items, saw {}", other.unwrap());
                return Err(self.fail(&call.task, error, scope));
            }
        };
        self.each(&call.task, items, star, scope)
    }

    fn each(&mut self, task: &str, items: Vec<Value>, star: bool, scope: &[&Canvas]) -> Outcome {
        let f = self.tasks.get(task).unwrap().clone();
        let mut results = Vec::new();
        for item in items {
            let args = match item {
                Value::Array(args) if star => args,
                other => vec![other],
            };
            match f(args) {
                Ok(value) => results.push(value),
                Err(e) => return Err(self.fail(task, e, scope)),
            }
        }
        Ok(Value::Array(results))
    }

    fn fail(&mut self, task: &str, error: String, scope: &[&Canvas]) -> Failure {
        for errback in scope {
            let CanvasKind::Task(call) = &errback.kind else {
                unreachable!()
            };
            self.errback_runs
                .push((call.task.clone(), task.to_string(), error.clone()));
        }
        (task.to_string(), error)
    }
}

fn first_failure_or_list(results: Vec<Outcome>) -> Outcome {
    results
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

fn interpret(canvas: &Canvas) -> (Outcome, Vec<ErrbackRun>) {
    let mut interpreter = Interpreter {
        tasks: tasks(),
        errback_runs: Vec::new(),
    };
    let out = interpreter.canvas(canvas, None, &[]);
    let mut runs = interpreter.errback_runs;
    runs.sort();
    (out, runs)
}

fn evaluated_errbacks(dag: &Dag, evaluation: &Evaluation) -> Vec<ErrbackRun> {
    let mut runs: Vec<ErrbackRun> = evaluation
        .errback_calls
        .iter()
        .map(|call| {
            let StepState::Failed(failure) = &evaluation.states[call.failed_step] else {
                panic!("an error callback ran for a step that did not fail")
            };
            (
                dag.step(call.errback).task.clone(),
                failure.task.clone(),
                failure.error.clone(),
            )
        })
        .collect();
    runs.sort();
    runs
}

fn compile_checked(canvas: &Canvas) -> Dag {
    canvas.check(&tasks()).unwrap();
    let dag = canvas.compile(Uuid::from_u128(7)).unwrap();
    dag.validate().unwrap();
    assert_eq!(
        Dag::from_spec(dag.to_spec()).unwrap().to_spec(),
        dag.to_spec()
    );
    assert_eq!(&Canvas::from_json(&canvas.to_json()).unwrap(), canvas);
    dag
}

fn agrees_with_interpreter(canvas: &Canvas) -> Result<(), TestCaseError> {
    let dag = compile_checked(canvas);
    let evaluation = Evaluator::new(&tasks()).run(&dag);
    let (expected, expected_errbacks) = interpret(canvas);
    let output = evaluation.output.clone().map_err(|f| (f.task, f.error));
    prop_assert_eq!(output, expected);
    prop_assert_eq!(evaluated_errbacks(&dag, &evaluation), expected_errbacks);
    Ok(())
}

/// Every step reachable from `start` through result edges.
fn descendants(dag: &Dag, start: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([start]);
    while let Some(step) = queue.pop_front() {
        for (child, _) in dag.children(step) {
            if seen.insert(child) {
                queue.push_back(child);
            }
        }
    }
    seen
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn evaluation_equals_interpretation_without_failures(canvas in canvas(false)) {
        agrees_with_interpreter(&canvas)?;
        let dag = compile_checked(&canvas);
        let evaluation = Evaluator::new(&tasks()).run(&dag);
        prop_assert!(evaluation.output.is_ok());
        prop_assert!(evaluation.errback_calls.is_empty());
    }

    #[test]
    fn evaluation_equals_interpretation_with_failures(canvas in canvas(true)) {
        agrees_with_interpreter(&canvas)?;
    }

    #[test]
    fn an_injected_failure_reaches_every_dependent(canvas in canvas(false), pick in any::<prop::sample::Index>()) {
        let dag = compile_checked(&canvas);
        let runnable: Vec<usize> = (0..dag.len()).filter(|&i| !dag.step(i).errback).collect();
        let failed = runnable[pick.index(runnable.len())];
        let step_id = dag.step(failed).step_id.clone();
        let evaluation = Evaluator::new(&tasks()).fail_step(step_id, "injected").run(&dag);
        let dependents = descendants(&dag, failed);
        for &i in &runnable {
            let state = &evaluation.states[i];
            if i == failed {
                prop_assert!(matches!(state, StepState::Failed(f) if f.error == "injected"));
            } else if dependents.contains(&i) {
                prop_assert!(matches!(state, StepState::ParentFailed(f) if f.error == "injected"), "{:?}", state);
            } else {
                prop_assert!(matches!(state, StepState::Succeeded(_)), "{:?}", state);
            }
        }
        let fired: Vec<usize> = evaluation.errback_calls.iter().map(|c| c.errback).collect();
        let declared: Vec<usize> = dag.step(failed).link_error.iter().map(|&e| e as usize).collect();
        prop_assert_eq!(fired, declared);
        let reached_output = failed == dag.output() || dependents.contains(&dag.output());
        prop_assert_eq!(evaluation.output.is_err(), reached_output);
    }
}
