//! `WorkflowSpec` conversion and validation, the reference evaluator's failure rules, msgpack
//! workflows, and DOT rendering.

#![allow(clippy::unwrap_used)]

mod common;

use celeriac_canvas::{
    Canvas, Dag, Evaluator, InputMode, StepState, TaskFailure, WorkflowEdge, WorkflowSpec, MSGPACK,
};
use serde_json::{json, Value};
use uuid::Uuid;

use common::tasks;

fn compiled(text: &str) -> Dag {
    Canvas::from_json_str(text)
        .unwrap()
        .compile(Uuid::from_u128(42))
        .unwrap()
}

fn chord_spec() -> WorkflowSpec {
    let text = r#"{"chord": {"header": [{"task": "add", "args": [1, 2]}, {"task": "add", "args": [3, 4]}],
                             "body": {"task": "tsum", "partial": true}},
                   "link_error": [{"task": "eb"}]}"#;
    let mut spec = compiled(text).into_spec();
    spec.label = Some("sum".into());
    spec.created_at = 1_700_000_000_000;
    spec
}

fn refused(spec: WorkflowSpec) -> String {
    Dag::from_spec(spec).unwrap_err().to_string()
}

fn index(spec: &WorkflowSpec, step_id: &str) -> i32 {
    spec.steps
        .iter()
        .position(|s| s.step_id == step_id)
        .unwrap() as i32
}

#[test]
fn spec_round_trip_is_lossless() {
    let spec = chord_spec();
    let dag = Dag::from_spec(spec.clone()).unwrap();
    assert_eq!(dag.label.as_deref(), Some("sum"));
    assert_eq!(dag.into_spec(), spec);
}

#[test]
fn invalid_specs_are_refused_with_the_reason() {
    let spec = chord_spec();
    let body = index(&spec, "0.1");
    let first = index(&spec, "0.0.0");

    let mut cycle = spec.clone();
    cycle.steps[first as usize].input_slots = 1;
    cycle.steps[first as usize].input_mode = InputMode::FirstArg;
    cycle.edges.push(WorkflowEdge {
        from: body,
        to: first,
        slot: 0,
    });
    assert!(refused(cycle).contains("cycle through step"));

    let mut twice = spec.clone();
    twice.edges.push(WorkflowEdge {
        from: first,
        to: body,
        slot: 0,
    });
    assert!(refused(twice).contains("step `0.1`: slot 0 filled twice"));

    let mut missing = spec.clone();
    missing.edges.retain(|e| e.slot != 1);
    assert!(refused(missing).contains("step `0.1`: slot 1 is never filled"));

    let mut dangling = spec.clone();
    dangling.edges.push(WorkflowEdge {
        from: 99,
        to: body,
        slot: 2,
    });
    assert!(refused(dangling).contains("edges[2].from is 99, expected a step index below"));

    let mut output = spec.clone();
    output.output = index(&spec, "0.1.e0");
    assert!(refused(output).contains("is an error callback"));

    let mut link_error = spec.clone();
    link_error.steps[0].link_error = vec![body];
    assert!(refused(link_error).contains("is not an error callback step"));

    let mut duplicate = spec.clone();
    duplicate.steps[1].step_id = duplicate.steps[0].step_id.clone();
    assert!(refused(duplicate).contains("appears twice"));

    let mut pickle = spec.clone();
    pickle
        .steps
        .iter_mut()
        .for_each(|s| s.content_type = "application/x-python-pickle".into());
    assert!(refused(pickle).contains("not supported in workflows"));

    let mut mixed = spec.clone();
    mixed.steps[body as usize].content_type = MSGPACK.into();
    mixed.steps[body as usize].args = rmp_serde::to_vec(&json!([])).unwrap();
    assert!(refused(mixed).contains("differs from parent"));

    let mut bad_args = spec.clone();
    bad_args.steps[0].args = b"{\"x\": 1}".to_vec();
    assert!(refused(bad_args).contains("expected a JSON array of positional arguments"));

    let mut empty = spec;
    empty.steps.clear();
    empty.edges.clear();
    assert!(refused(empty).contains("at least one step"));
}

#[test]
fn a_failure_reaches_every_dependent_and_fires_only_its_own_errbacks() {
    let dag = compiled(
        r#"{"chain": [{"group": [{"task": "boom"}, {"task": "add", "args": [1, 1]}, {"task": "boom", "args": [2]}]},
                      {"task": "tsum"}, {"task": "double", "partial": true}],
            "link_error": [{"task": "eb", "args": ["tag"]}]}"#,
    );
    let evaluation = Evaluator::new(&tasks()).run(&dag);
    let failure = evaluation.output.clone().unwrap_err();
    assert_eq!(
        (failure.step_id.as_str(), failure.error.as_str()),
        ("0.0.0", "boom []")
    );
    let state = |id: &str| evaluation.states[dag.index_of(id).unwrap()].clone();
    assert!(matches!(state("0.0.0"), StepState::Failed(_)));
    assert_eq!(state("0.0.1"), StepState::Succeeded(json!(2)));
    assert!(matches!(state("0.0.2"), StepState::Failed(_)));
    assert!(matches!(state("0.1"), StepState::ParentFailed(f) if f.step_id == "0.0.0"));
    assert!(matches!(state("0.2"), StepState::ParentFailed(f) if f.step_id == "0.0.0"));
    assert_eq!(state("0.1.e0"), StepState::NotRun);
    let failed: Vec<&str> = evaluation
        .errback_calls
        .iter()
        .map(|c| dag.step(c.failed_step).step_id.as_str())
        .collect();
    assert_eq!(failed.len(), 2);
    assert!(failed.contains(&"0.0.0") && failed.contains(&"0.0.2"));
    for call in &evaluation.errback_calls {
        let failure: TaskFailure = serde_json::from_value(call.args[0].clone()).unwrap();
        assert_eq!(failure.step_id, dag.step(call.failed_step).step_id);
        assert_eq!(call.args[1], json!("tag"));
    }
}

#[test]
fn an_unknown_task_fails_its_step() {
    let dag = compiled(r#"{"task": "nope"}"#);
    let failure = Evaluator::new(&tasks()).run(&dag).output.unwrap_err();
    assert_eq!(failure.error, "unknown task `nope`");
}

#[test]
fn msgpack_workflows_evaluate_like_json_ones() {
    let text = r#"{"chain": [{"group": [{"task": "add", "args": [1, 2]}, {"task": "add", "args": [3, 4]}]},
                             {"task": "log", "args": ["x"]}],
                   "link_error": [{"task": "eb"}]}"#;
    let dag = compiled(text);
    let mut spec = dag.to_spec();
    for step in &mut spec.steps {
        let args: Value = serde_json::from_slice(&step.args).unwrap();
        step.args = rmp_serde::to_vec(&args).unwrap();
        step.content_type = MSGPACK.into();
    }
    let msgpack = Dag::from_spec(spec).unwrap();
    let json = Evaluator::new(&tasks()).run(&dag);
    let packed = Evaluator::new(&tasks()).run(&msgpack);
    assert_eq!(packed.output, Ok(json!([[3, 7], "x"])));
    assert_eq!(packed.output, json.output);
    let failed = Evaluator::new(&tasks())
        .fail_step("0.0.1", "down")
        .run(&msgpack);
    let failure: TaskFailure =
        serde_json::from_value(failed.errback_calls[0].args[0].clone()).unwrap();
    assert_eq!(failure.error, "down");
}

#[test]
fn helpers_for_the_coordinator() {
    let dag = Dag::from_spec(chord_spec()).unwrap();
    let body = dag.index_of("0.1").unwrap();
    let header: Vec<usize> = ["0.0.0", "0.0.1"]
        .iter()
        .map(|id| dag.index_of(id).unwrap())
        .collect();
    assert_eq!(dag.parents(body), vec![(0, header[0]), (1, header[1])]);
    assert_eq!(dag.children(header[1]), vec![(body, 1)]);
    assert_eq!(dag.ready_at_submit(), header);
    assert_eq!(dag.output(), body);
}

#[test]
fn dot_rendering() {
    let dag = Dag::from_spec(chord_spec()).unwrap();
    let dot = dag.to_dot();
    assert!(
        dot.starts_with("digraph workflow {\n  label=\"sum\";"),
        "{dot}"
    );
    let body = dag.index_of("0.1").unwrap();
    let first = dag.index_of("0.0.0").unwrap();
    let errback = dag.index_of("0.0.0.e0").unwrap();
    assert!(
        dot.contains(&format!(
            "n{body} [label=\"0.1\\ntsum\", shape=box, peripheries=2];"
        )),
        "{dot}"
    );
    assert!(
        dot.contains(&format!("n{first} -> n{body} [label=\"0\"];")),
        "{dot}"
    );
    assert!(dot.contains(&format!(
        "n{first} -> n{errback} [style=dotted, color=red, label=\"on error\"];"
    )));
    assert!(dot.contains("style=dashed, color=red"));
    let group = compiled(r#"{"group": [{"map": {"task": "double", "items": [1]}}]}"#).to_dot();
    assert!(
        group.contains("shape=box3d") && group.contains("0.c\\ncollect\", shape=ellipse"),
        "{group}"
    );
}
