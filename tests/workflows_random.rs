//! Random canvases — chains, groups, chords, maps, starmaps, chunks, nested, with failing
//! tasks, links and error callbacks — run on the real engine (worker, coordinator, log) end
//! exactly as the canvas reference evaluator predicts: the workflow's result or failure,
//! every step's final state and value, and each error callback run once. On both backends.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use celeriac::canvas::strategies::{boom_message, sum, tasks, CanvasStrategy};
use celeriac::canvas::{Canvas, Evaluation, Evaluator, StepState, TaskTable, VarArgs};
use celeriac::engine::{AsyncResult, Error, TaskOptions, WorkflowHandle};
use celeriac::prelude::*;
use celeriac::schemas::TaskState;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;
use uuid::Uuid;

/// Error callback runs, by workflow (root) id.
type ErrbackRuns = Arc<Mutex<HashMap<Uuid, usize>>>;

/// Registers the strategy's tasks on `app`: `add`, `log`, `eb` (counted) and `boom`.
fn register(app: &App) -> ErrbackRuns {
    let runs = ErrbackRuns::default();
    app.task("add", |args: VarArgs| async move {
        Ok(sum(&Value::Array(args.0)))
    })
    .expect("add");
    app.task(
        "log",
        |args: VarArgs| async move { Ok(Value::Array(args.0)) },
    )
    .expect("log");
    app.task("boom", |args: VarArgs| async move {
        Err::<Value, _>(TaskError::new("Boom", boom_message(&args.0)))
    })
    .expect("boom");
    let seen = runs.clone();
    app.task_with("eb", TaskOptions::default(), move |ctx: Ctx, _: VarArgs| {
        *seen
            .lock()
            .expect("lock")
            .entry(ctx.request().root_id)
            .or_default() += 1;
        async move { Ok(Value::Null) }
    })
    .expect("eb");
    runs
}

/// Waits until every step the evaluator says runs has a terminal state; returns the states.
async fn settled_steps(
    handle: &WorkflowHandle<Value>,
    evaluation: &Evaluation,
) -> Vec<celeriac::engine::StepState> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let steps = handle.steps().await.expect("steps");
        let settled = steps
            .iter()
            .zip(&evaluation.states)
            .all(|(step, expected)| {
                matches!(expected, StepState::NotRun) || step.state.is_terminal()
            });
        if settled {
            return steps;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the workflow did not settle in 60 s: {steps:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Messages of every failure the evaluator saw: with several, which reaches a chord first is a race.
fn failure_messages(evaluation: &Evaluation) -> Vec<String> {
    evaluation
        .states
        .iter()
        .filter_map(|s| match s {
            StepState::Failed(f) => Some(f.error.clone()),
            _ => None,
        })
        .collect()
}

async fn runs_as_the_evaluator_says(
    app: &App,
    oracle: &TaskTable,
    errbacks: &ErrbackRuns,
    canvas: &Canvas,
) -> Result<(), TestCaseError> {
    let dag = canvas
        .compile(Uuid::now_v7())
        .expect("generated canvases compile");
    let evaluation = Evaluator::new(oracle).run(&dag);
    let handle = app.submit_canvas(canvas).await.expect("submitted");
    let failures = failure_messages(&evaluation);
    match (
        handle.get(Duration::from_secs(60)).await,
        &evaluation.output,
    ) {
        (Ok(value), Ok(expected)) => prop_assert_eq!(&value, expected),
        (Err(Error::TaskFailed { error, .. }), Err(_)) => prop_assert!(
            failures.iter().any(|m| m == error.message()),
            "the workflow failed with {error}, expected one of {failures:?}"
        ),
        (got, expected) => prop_assert!(false, "got {got:?}, the evaluator says {expected:?}"),
    }
    let steps = settled_steps(&handle, &evaluation).await;
    prop_assert_eq!(steps.len(), dag.len());
    for (index, expected) in evaluation.states.iter().enumerate() {
        let step = steps
            .iter()
            .find(|s| s.step_id == dag.step(index).step_id)
            .expect("every step is reported");
        let context = format!(
            "step {} ({}): expected {expected:?}, got {:?}",
            step.step_id, step.task, step.state
        );
        match expected {
            StepState::NotRun => prop_assert!(!step.state.is_terminal(), "{}", context),
            StepState::Succeeded(value) => {
                prop_assert_eq!(step.state, TaskState::Success, "{}", context);
                let got: Value = AsyncResult::from_id(app, step.task_id)
                    .get(Duration::from_secs(10))
                    .await
                    .expect("a recorded value");
                prop_assert_eq!(&got, value, "{}", context);
            }
            StepState::Failed(_) | StepState::ParentFailed(_) => {
                prop_assert_eq!(step.state, TaskState::Failure, "{}", context)
            }
        }
    }
    let ran = errbacks
        .lock()
        .expect("lock")
        .get(&handle.id())
        .copied()
        .unwrap_or(0);
    prop_assert_eq!(
        ran,
        evaluation.errback_calls.len(),
        "error callbacks run once each"
    );
    Ok(())
}

/// Runs `cases` random canvases (with failures) on `backend`, one worker serving every queue.
fn random_canvases_on(backend: support::Backend, cases: u32) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let test = runtime.block_on(support::app(backend));
    let errbacks = register(&test.app);
    let queues = ["default", "other"];
    let worker =
        runtime.block_on(async { test.app.worker().queues(queues).concurrency(16).spawn() });
    let oracle = tasks();
    let strategy = CanvasStrategy::new()
        .with_failures(true)
        .with_queues(["other"])
        .canvases();
    let mut runner = TestRunner::new(Config {
        cases,
        max_shrink_iters: 32,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&strategy, |canvas| {
        runtime.block_on(runs_as_the_evaluator_says(
            &test.app, &oracle, &errbacks, &canvas,
        ))
    });
    runtime.block_on(worker.shutdown()).expect("clean shutdown");
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

#[test]
fn random_canvases_end_as_the_evaluator_says_embedded() {
    random_canvases_on(support::Backend::Embedded, 128);
}

#[test]
fn random_canvases_end_as_the_evaluator_says_kafka() {
    random_canvases_on(support::Backend::Kafka, 32);
}
