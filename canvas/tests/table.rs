//! A table of canvases, one per primitive and nesting, with the DAG each must compile to
//! (steps, slots, input modes, edges, output) and the result the reference evaluator gives.

#![allow(clippy::unwrap_used)]

mod common;

use celeriac_canvas::{Canvas, Evaluator};
use serde_json::{json, Value};
use uuid::Uuid;

use common::{shape, tasks};

struct Case {
    name: &'static str,
    canvas: Value,
    dag: &'static [&'static str],
    output: Value,
}

const A: &str = r#"{"task": "add", "args": [1, 2]}"#;

fn case(name: &'static str, canvas: &str, dag: &'static [&'static str], output: Value) -> Case {
    let canvas = canvas.replace("$A", A);
    let canvas = serde_json::from_str(&canvas).unwrap_or_else(|e| panic!("{name}: {e}"));
    Case {
        name,
        canvas,
        dag,
        output,
    }
}

fn cases() -> Vec<Case> {
    vec![
        case(
            "single task",
            "$A",
            &["0 Task add 0/Ignore", "output 0"],
            json!(3),
        ),
        case(
            "chain with a partial",
            r#"{"chain": [{"task": "add", "args": [2, 2]}, {"task": "mul", "args": [8], "partial": true}]}"#,
            &[
                "0.0 -> 0.1 #0",
                "0.0 Task add 0/Ignore",
                "0.1 Task mul 1/FirstArg",
                "output 0.1",
            ],
            json!(32),
        ),
        case(
            "chain with a mutable signature (Celery's s)",
            r#"{"chain": [$A, {"task": "mul", "args": [2]}]}"#,
            &[
                "0.0 -> 0.1 #0",
                "0.0 Task add 0/Ignore",
                "0.1 Task mul 1/FirstArg",
                "output 0.1",
            ],
            json!(6),
        ),
        case(
            "chain with an immutable signature (Celery's si)",
            r#"{"chain": [$A, {"task": "add", "args": [10, 10], "immutable": true}]}"#,
            &[
                "0.0 -> 0.1 #0",
                "0.0 Task add 0/Ignore",
                "0.1 Task add 1/Ignore",
                "output 0.1",
            ],
            json!(20),
        ),
        case(
            "group",
            r#"{"group": [$A, {"task": "mul", "args": [3, 4]}]}"#,
            &[
                "0.0 -> 0.c #0",
                "0.0 Task add 0/Ignore",
                "0.1 -> 0.c #1",
                "0.1 Task mul 0/Ignore",
                "0.c Collect - 2/ListFirstArg",
                "output 0.c",
            ],
            json!([3, 12]),
        ),
        case(
            "empty group",
            r#"{"group": []}"#,
            &["0.c Collect - 0/ListFirstArg", "output 0.c"],
            json!([]),
        ),
        case(
            "chord",
            r#"{"chord": {"header": [$A, {"task": "add", "args": [3, 4]}], "body": {"task": "tsum", "partial": true}}}"#,
            &[
                "0.0.0 -> 0.1 #0",
                "0.0.0 Task add 0/Ignore",
                "0.0.1 -> 0.1 #1",
                "0.0.1 Task add 0/Ignore",
                "0.1 Task tsum 2/ListFirstArg",
                "output 0.1",
            ],
            json!(10),
        ),
        case(
            "chord with an empty header",
            r#"{"chord": {"header": [], "body": {"task": "tsum", "partial": true}}}"#,
            &["0.1 Task tsum 0/ListFirstArg", "output 0.1"],
            json!(0),
        ),
        case(
            "group followed by a task in a chain is a chord",
            r#"{"chain": [{"group": [$A, {"task": "add", "args": [3, 4]}]}, {"task": "tsum"}]}"#,
            &[
                "0.0.0 -> 0.1 #0",
                "0.0.0 Task add 0/Ignore",
                "0.0.1 -> 0.1 #1",
                "0.0.1 Task add 0/Ignore",
                "0.1 Task tsum 2/ListFirstArg",
                "output 0.1",
            ],
            json!(10),
        ),
        case(
            "group of chains",
            r#"{"group": [{"chain": [$A, {"task": "mul", "args": [2], "partial": true}]},
                          {"chain": [{"task": "add", "args": [5, 5]}, {"task": "mul", "args": [3], "partial": true}]}]}"#,
            &[
                "0.0.0 -> 0.0.1 #0",
                "0.0.0 Task add 0/Ignore",
                "0.0.1 -> 0.c #0",
                "0.0.1 Task mul 1/FirstArg",
                "0.1.0 -> 0.1.1 #0",
                "0.1.0 Task add 0/Ignore",
                "0.1.1 -> 0.c #1",
                "0.1.1 Task mul 1/FirstArg",
                "0.c Collect - 2/ListFirstArg",
                "output 0.c",
            ],
            json!([6, 30]),
        ),
        case(
            "chain of groups",
            r#"{"chain": [{"group": [$A, {"task": "add", "args": [3, 4]}]},
                          {"group": [{"task": "tsum", "partial": true}, {"task": "log", "partial": true}]}]}"#,
            &[
                "0.0.0 -> 0.1.0 #0",
                "0.0.0 -> 0.1.1 #0",
                "0.0.0 Task add 0/Ignore",
                "0.0.1 -> 0.1.0 #1",
                "0.0.1 -> 0.1.1 #1",
                "0.0.1 Task add 0/Ignore",
                "0.1.0 -> 0.c #0",
                "0.1.0 Task tsum 2/ListFirstArg",
                "0.1.1 -> 0.c #1",
                "0.1.1 Task log 2/ListFirstArg",
                "0.c Collect - 2/ListFirstArg",
                "output 0.c",
            ],
            json!([10, [[3, 7]]]),
        ),
        case(
            "chord whose header holds chains",
            r#"{"chord": {"header": [{"chain": [$A, {"task": "double", "partial": true}]},
                                     {"chain": [{"task": "add", "args": [1, 1]}, {"task": "double", "partial": true}]}],
                          "body": {"task": "tsum", "partial": true}}}"#,
            &[
                "0.0.0.0 -> 0.0.0.1 #0",
                "0.0.0.0 Task add 0/Ignore",
                "0.0.0.1 -> 0.1 #0",
                "0.0.0.1 Task double 1/FirstArg",
                "0.0.1.0 -> 0.0.1.1 #0",
                "0.0.1.0 Task add 0/Ignore",
                "0.0.1.1 -> 0.1 #1",
                "0.0.1.1 Task double 1/FirstArg",
                "0.1 Task tsum 2/ListFirstArg",
                "output 0.1",
            ],
            json!(10),
        ),
        case(
            "chord of chords",
            r#"{"chord": {"header": [{"chord": {"header": [$A, $A], "body": {"task": "tsum", "partial": true}}},
                                     {"task": "add", "args": [10, 0]}],
                          "body": {"task": "log", "partial": true}}}"#,
            &[
                "0.0.0.0.0 -> 0.0.0.1 #0",
                "0.0.0.0.0 Task add 0/Ignore",
                "0.0.0.0.1 -> 0.0.0.1 #1",
                "0.0.0.0.1 Task add 0/Ignore",
                "0.0.0.1 -> 0.1 #0",
                "0.0.0.1 Task tsum 2/ListFirstArg",
                "0.0.1 -> 0.1 #1",
                "0.0.1 Task add 0/Ignore",
                "0.1 Task log 2/ListFirstArg",
                "output 0.1",
            ],
            json!([[6, 10]]),
        ),
        case(
            "chain ending in a group",
            r#"{"chain": [$A, {"group": [{"task": "mul", "args": [2], "partial": true}, {"task": "mul", "args": [3], "partial": true}]}]}"#,
            &[
                "0.0 -> 0.1.0 #0",
                "0.0 -> 0.1.1 #0",
                "0.0 Task add 0/Ignore",
                "0.1.0 -> 0.c #0",
                "0.1.0 Task mul 1/FirstArg",
                "0.1.1 -> 0.c #1",
                "0.1.1 Task mul 1/FirstArg",
                "0.c Collect - 2/ListFirstArg",
                "output 0.c",
            ],
            json!([6, 9]),
        ),
        case(
            "group nested in a group",
            r#"{"group": [{"group": [$A, $A]}, {"group": []}, $A]}"#,
            &[
                "0.0.0 -> 0.0.c #0",
                "0.0.0 Task add 0/Ignore",
                "0.0.1 -> 0.0.c #1",
                "0.0.1 Task add 0/Ignore",
                "0.0.c -> 0.c #0",
                "0.0.c Collect - 2/ListFirstArg",
                "0.1.c -> 0.c #1",
                "0.1.c Collect - 0/ListFirstArg",
                "0.2 -> 0.c #2",
                "0.2 Task add 0/Ignore",
                "0.c Collect - 3/ListFirstArg",
                "output 0.c",
            ],
            json!([[3, 3], [], 3]),
        ),
        case(
            "map",
            r#"{"map": {"task": "double", "items": [1, 2, 3]}}"#,
            &["0 Map double 0/Ignore", "output 0"],
            json!([2, 4, 6]),
        ),
        case(
            "map over the parent's list",
            r#"{"chain": [{"task": "range", "args": [4]}, {"map": {"task": "double"}}]}"#,
            &[
                "0.0 -> 0.1 #0",
                "0.0 Task range 0/Ignore",
                "0.1 Map double 1/FirstArg",
                "output 0.1",
            ],
            json!([0, 2, 4, 6]),
        ),
        case(
            "starmap",
            r#"{"starmap": {"task": "mul", "items": [[1, 2], [3, 4]]}}"#,
            &["0 Starmap mul 0/Ignore", "output 0"],
            json!([2, 12]),
        ),
        case(
            "chunks",
            r#"{"chunks": {"task": "add", "items": [[1, 1], [2, 2], [3, 3]], "n": 2}}"#,
            &[
                "0.0 -> 0.c #0",
                "0.0 Starmap add 0/Ignore",
                "0.1 -> 0.c #1",
                "0.1 Starmap add 0/Ignore",
                "0.c Collect - 2/ListFirstArg",
                "output 0.c",
            ],
            json!([[2, 4], [6]]),
        ),
        case(
            "link on a task",
            r#"{"task": "add", "args": [1, 2], "link": [{"task": "log", "args": ["done"], "partial": true}]}"#,
            &[
                "0 -> 0.l0 #0",
                "0 Task add 0/Ignore",
                "0.l0 Task log 1/FirstArg",
                "output 0",
            ],
            json!(3),
        ),
        case(
            "link on a group receives the list",
            r#"{"group": [$A, $A], "link": [{"task": "tsum", "partial": true}]}"#,
            &[
                "0.0 -> 0.c #0",
                "0.0 -> 0.l0 #0",
                "0.0 Task add 0/Ignore",
                "0.1 -> 0.c #1",
                "0.1 -> 0.l0 #1",
                "0.1 Task add 0/Ignore",
                "0.c Collect - 2/ListFirstArg",
                "0.l0 Task tsum 2/ListFirstArg",
                "output 0.c",
            ],
            json!([3, 3]),
        ),
        case(
            "link_error on a chain reaches every step",
            r#"{"chain": [$A, {"task": "double", "partial": true}],
                "link_error": [{"task": "eb"}, {"task": "log", "args": ["x"], "immutable": true}]}"#,
            &[
                "0.0 -> 0.1 #0",
                "0.0 Task add 0/Ignore on_error=0.0.e0,0.0.e1",
                "0.0.e0 Task eb 0/FirstArg errback",
                "0.0.e1 Task log 0/Ignore errback",
                "0.1 Task double 1/FirstArg on_error=0.1.e0,0.1.e1",
                "0.1.e0 Task eb 0/FirstArg errback",
                "0.1.e1 Task log 0/Ignore errback",
                "output 0.1",
            ],
            json!(6),
        ),
    ]
}

#[test]
fn every_canvas_compiles_to_its_expected_dag_and_result() {
    let tasks = tasks();
    for case in cases() {
        let canvas =
            Canvas::from_json(&case.canvas).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        canvas
            .check(&tasks)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let dag = canvas
            .compile(Uuid::nil())
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let mut expected: Vec<String> = case.dag.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(shape(&dag), expected, "{}", case.name);
        dag.validate()
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let evaluation = Evaluator::new(&tasks).run(&dag);
        assert_eq!(evaluation.output, Ok(case.output), "{}", case.name);
        assert!(evaluation.errback_calls.is_empty(), "{}", case.name);
    }
}

#[test]
fn bound_arguments_are_json_arrays() {
    let dag = Canvas::from_json_str(
        r#"{"chunks": {"task": "add", "items": [[1, 1], [2, 2], [3, 3]], "n": 2}}"#,
    )
    .unwrap()
    .compile(Uuid::nil())
    .unwrap();
    assert_eq!(dag.step(0).args, br#"[[[1,1],[2,2]]]"#);
    let dag = Canvas::from_json_str(r#"{"map": {"task": "double", "items": [1, 2]}}"#)
        .unwrap()
        .compile(Uuid::nil())
        .unwrap();
    assert_eq!(dag.step(0).args, b"[[1,2]]");
    assert!(dag.steps().all(|s| s.content_type == "application/json"));
}

#[test]
fn options_flow_down_and_inner_ones_win() {
    let canvas = Canvas::from_json_str(
        r#"{"chain": [{"task": "add", "args": [1, 2]},
                      {"task": "double", "partial": true, "options": {"queue": "inner", "headers": {"h": "in"}}}],
            "options": {"queue": "outer", "priority": 3, "countdown_ms": 500, "headers": {"h": "out", "g": "out"}}}"#,
    )
    .unwrap();
    let dag = canvas.compile(Uuid::nil()).unwrap();
    let (first, second) = (&dag.step(0).options, &dag.step(1).options);
    assert_eq!(first.queue.as_deref(), Some("outer"));
    assert_eq!(first.countdown_ms, Some(500));
    assert_eq!(second.queue.as_deref(), Some("inner"));
    assert_eq!(second.priority, Some(3));
    assert_eq!(second.headers["h"], "in");
    assert_eq!(second.headers["g"], "out");
}

#[test]
fn step_ids_are_deterministic_and_task_ids_follow_the_workflow_id() {
    let canvas = Canvas::from_json(&cases()[12].canvas).unwrap();
    let (one, two) = (Uuid::from_u128(1), Uuid::from_u128(2));
    let a = canvas.compile(one).unwrap().to_spec();
    let b = canvas.compile(one).unwrap().to_spec();
    let c = canvas.compile(two).unwrap().to_spec();
    assert_eq!(a, b);
    for (x, z) in a.steps.iter().zip(&c.steps) {
        assert_eq!(x.step_id, z.step_id);
        assert_ne!(x.task_id, z.task_id);
        assert_eq!(x.task_id, Uuid::new_v5(&one, x.step_id.as_bytes()));
    }
}
