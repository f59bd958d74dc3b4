//! The typed canvas: the ergonomics of DESIGN.md, each primitive and nesting, links, options,
//! and the conversion to the untyped (JSON) form.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use celeriac_canvas::{
    chain, chord, group, task_args, Arity, Canvas, Error, Evaluator, Signature, TaskFailure,
    TaskRef, ThenExt,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use common::{shape, tasks};

struct Tasks {
    add: TaskRef<(i64, i64), i64>,
    mul: TaskRef<(i64, i64), i64>,
    tsum: TaskRef<Vec<i64>, i64>,
    double: TaskRef<i64, i64>,
    range: TaskRef<i64, Vec<i64>>,
}

fn t() -> Tasks {
    Tasks {
        add: TaskRef::new("add"),
        mul: TaskRef::new("mul"),
        tsum: TaskRef::new("tsum"),
        double: TaskRef::new("double"),
        range: TaskRef::new("range"),
    }
}

fn run<T>(wf: &Signature<T>) -> Value {
    let dag = wf.compile(Uuid::nil()).unwrap();
    Evaluator::new(&tasks()).run(&dag).output.unwrap()
}

#[test]
fn the_design_examples() {
    let Tasks { add, mul, tsum, .. } = t();
    let wf = chain(add.s((2, 2)), mul.partial(8));
    assert_eq!(run(&wf), json!(32));
    let expected = json!({"chain": [{"task": "add", "args": [2, 2]}, {"task": "mul", "args": [8], "partial": true}]});
    assert_eq!(wf.to_canvas().unwrap().to_json(), expected);
    let wf = chord((0..100).map(|i| add.s((i, i))), tsum.partial(()));
    assert_eq!(run(&wf), json!(9900));
}

#[test]
fn a_group_then_a_partial_is_a_chord() {
    let Tasks { add, tsum, .. } = t();
    let as_chain = group((0..3).map(|i| add.s((i, i)))).then(tsum.partial(()));
    let as_chord = chord((0..3).map(|i| add.s((i, i))), tsum.partial(()));
    let (a, b) = (
        as_chain.compile(Uuid::nil()).unwrap(),
        as_chord.compile(Uuid::nil()).unwrap(),
    );
    assert_eq!(shape(&a), shape(&b));
    assert_eq!(run(&as_chain), json!(6));
}

#[test]
fn chains_of_any_length() {
    let Tasks { add, mul, .. } = t();
    let wf = celeriac_canvas::chain!(
        add.s((1, 1)),
        mul.partial(3),
        add.partial(4),
        mul.partial(2)
    );
    assert_eq!(run(&wf), json!(20));
    let wf = (1..1000).fold(add.s((0, 0)), |wf, i| wf.then(add.partial(i)));
    assert_eq!(run(&wf), json!(499_500));
    let Canvas {
        kind: celeriac_canvas::CanvasKind::Chain(steps),
        ..
    } = wf.to_canvas().unwrap()
    else {
        panic!("a chain")
    };
    assert_eq!(steps.len(), 1000, "nested chains flatten");
}

#[test]
fn groups_chords_and_their_nestings() {
    let Tasks { add, mul, tsum, .. } = t();
    let chain_ending_in_group = chain(add.s((1, 2)), group([mul.partial(2), mul.partial(3)]));
    assert_eq!(run(&chain_ending_in_group), json!([6, 9]));
    let chain_of_groups = chain(
        group([add.s((1, 2)), add.s((3, 4))]),
        group([tsum.partial(()), tsum.partial(())]),
    );
    assert_eq!(run(&chain_of_groups), json!([10, 10]));
    let group_of_chains = group([
        chain(add.s((1, 2)), mul.partial(2)),
        chain(add.s((5, 5)), mul.partial(3)),
    ]);
    assert_eq!(run(&group_of_chains), json!([6, 30]));
    let header_of_chains = chord(
        [
            chain(add.s((1, 2)), mul.partial(2)),
            chain(add.s((1, 1)), mul.partial(2)),
        ],
        tsum.partial(()),
    );
    assert_eq!(run(&header_of_chains), json!(10));
    let inner = || chord([add.s((1, 2)), add.s((3, 4))], tsum.partial(()));
    let chord_of_chords = chord([inner(), inner()], tsum.partial(()));
    assert_eq!(run(&chord_of_chords), json!(20));
    let nested: Signature<Vec<Vec<i64>>> =
        group([group([add.s((1, 1))]), group(Vec::<Signature<i64>>::new())]);
    assert_eq!(run(&nested), json!([[2], []]));
    let empty: Signature<Vec<i64>> = group(Vec::<Signature<i64>>::new());
    assert_eq!(run(&empty), json!([]));
}

#[test]
fn immutable_signatures_ignore_their_parent() {
    let Tasks { add, .. } = t();
    let wf = chain(add.s((1, 2)), add.si((5, 5)));
    assert_eq!(run(&wf), json!(10));
    let standalone: Signature<i64> = add.si((2, 2)).into();
    assert_eq!(run(&standalone), json!(4));
}

#[test]
fn map_starmap_and_chunks() {
    let Tasks {
        add, double, range, ..
    } = t();
    assert_eq!(run(&double.map([1, 2, 3])), json!([2, 4, 6]));
    assert_eq!(run(&add.starmap([(1, 2), (3, 4)])), json!([3, 7]));
    assert_eq!(
        run(&add.chunks([(1, 1), (2, 2), (3, 3)], 2)),
        json!([[2, 4], [6]])
    );
    assert_eq!(
        run(&chain(range.s(4), double.map_partial())),
        json!([0, 2, 4, 6])
    );
}

#[test]
fn links_and_error_callbacks() {
    let Tasks { add, .. } = t();
    let log: TaskRef<i64, Value> = TaskRef::new("log");
    let on_error: TaskRef<TaskFailure, ()> = TaskRef::new("eb");
    let wf = add
        .s((1, 2))
        .link(log.partial(()))
        .link_error(on_error.partial(()));
    let dag = wf.compile(Uuid::nil()).unwrap();
    let ok = Evaluator::new(&tasks()).run(&dag);
    assert_eq!(ok.output, Ok(json!(3)));
    assert_eq!(
        ok.states[dag.index_of("0.l0").unwrap()],
        celeriac_canvas::StepState::Succeeded(json!([3]))
    );
    let failed = Evaluator::new(&tasks()).fail_step("0", "boom").run(&dag);
    assert_eq!(failed.errback_calls.len(), 1);
    let failure: TaskFailure =
        serde_json::from_value(failed.errback_calls[0].args[0].clone()).unwrap();
    assert_eq!(
        (
            failure.step_id.as_str(),
            failure.task.as_str(),
            failure.error.as_str()
        ),
        ("0", "add", "boom")
    );
    assert_eq!(failure.task_id, dag.step(0).task_id);
}

#[test]
fn options_reach_the_steps() {
    let Tasks { add, mul, .. } = t();
    let wf = chain(add.s((1, 2)).queue("fast"), mul.partial(2))
        .priority(7)
        .countdown(Duration::from_secs(2))
        .soft_time_limit(Duration::from_millis(900))
        .time_limit(Duration::from_secs(1))
        .max_retries(3)
        .header("tenant", "acme");
    let dag = wf.compile(Uuid::nil()).unwrap();
    let (first, second) = (&dag.step(0).options, &dag.step(1).options);
    assert_eq!(first.queue.as_deref(), Some("fast"));
    assert_eq!(second.queue, None);
    for options in [first, second] {
        assert_eq!(options.priority, Some(7));
        assert_eq!(options.countdown_ms, Some(2000));
        assert_eq!(options.soft_time_limit_ms, Some(900));
        assert_eq!(options.time_limit_ms, Some(1000));
        assert_eq!(options.max_retries, Some(3));
        assert_eq!(options.headers["tenant"], "acme");
    }
}

#[derive(Serialize, Deserialize)]
struct Order {
    id: u64,
}
task_args!(Order);

#[test]
fn user_types_are_one_argument() {
    let ship: TaskRef<Order, bool> = TaskRef::new("ship");
    let canvas = ship.s(Order { id: 7 }).to_canvas().unwrap();
    assert_eq!(
        canvas.to_json(),
        json!({"task": "ship", "args": [{"id": 7}]})
    );
    assert_eq!(ship.arity(), Arity::exactly(1));
    assert_eq!(
        TaskRef::<(i64, i64), i64>::new("add").arity(),
        Arity::exactly(2)
    );
    assert_eq!(TaskRef::<(), i64>::new("ping").arity(), Arity::exactly(0));
}

#[test]
fn encoding_errors_surface_at_compile_time_with_the_task_name() {
    let bad: TaskRef<HashMap<Vec<i32>, i32>, i64> = TaskRef::new("bad");
    let wf = bad.s(HashMap::from([(vec![1], 1)]));
    let err = wf.compile(Uuid::nil()).unwrap_err();
    assert!(
        matches!(&err, Error::Encode { task, .. } if task == "bad"),
        "{err}"
    );
}
