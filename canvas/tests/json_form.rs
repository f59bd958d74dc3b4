//! The JSON form: parsing, round trips, and errors that say what was expected, what was seen,
//! and where — both shape errors and errors against the registered tasks.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use celeriac_canvas::{Arity, Canvas, Error, MAX_STEPS};
use serde_json::json;
use uuid::Uuid;

fn registry() -> HashMap<String, Arity> {
    HashMap::from([
        ("add".to_string(), Arity::exactly(2)),
        ("tsum".to_string(), Arity::exactly(1)),
        ("log".to_string(), Arity::at_least(0)),
        ("eb".to_string(), Arity::between(1, 2)),
    ])
}

fn error_of(text: &str) -> String {
    match Canvas::from_json_str(text) {
        Err(e) => e.to_string(),
        Ok(canvas) => match canvas.check(&registry()) {
            Err(e) => e.to_string(),
            Ok(()) => canvas
                .compile(Uuid::nil())
                .map(|_| "no error".into())
                .unwrap_or_else(|e| e.to_string()),
        },
    }
}

#[test]
fn shape_errors_name_their_place() {
    let cases = [
        (r#"{"chain": [{"task": "add", "args": [1, 2]}, {"group": [1]}]}"#,
         "chain[1].group[0]: expected a canvas object such as {\"task\": …}, saw number 1"),
        (r#"{"task": "add", "chain": []}"#, "canvas: expected exactly one of the keys"),
        (r#"{"task": "add", "argz": []}"#, "canvas: expected only task, args, partial, immutable, options, link, link_error, saw key `argz`"),
        (r#"{"task": "add", "args": 3}"#, "canvas: expected args as a JSON array, saw number 3"),
        (r#"{"task": ""}"#, "canvas: expected a non-empty task name, saw string \"\""),
        (r#"{"group": [], "options": {"queue": 1}}"#, "canvas: expected options with known fields and types"),
        (r#"{"group": [], "options": {"priority": 12}}"#, "canvas: expected options.priority from 0 to 9, saw priority 12"),
        (r#"{"chord": {"header": []}}"#, "canvas: expected a chord body, saw none"),
        (r#"{"chord": {"header": [], "body": {"task": "tsum"}, "x": 1}}"#, "expected only header and body in a chord, saw key `x`"),
        (r#"{"chunks": {"task": "add", "items": [], "n": -1}}"#, "chunks: expected n as a positive integer, saw -1"),
        (r#"{"map": {"task": "add", "items": {}}}"#, "map: expected items as a JSON array, saw an object"),
        (r#"{"task": "add", "partial": true, "immutable": true}"#, "canvas: signature `add` is both partial and immutable; choose one"),
        ("[", "canvas: expected JSON text"),
    ];
    for (text, expected) in cases {
        let error = error_of(text);
        assert!(
            error.contains(expected),
            "{text}\n  gave: {error}\n  want: {expected}"
        );
    }
}

#[test]
fn registry_errors_name_their_place() {
    let cases = [
        (r#"{"chain": [{"task": "add", "args": [1, 2]}, {"group": [{"task": "nope"}]}]}"#,
         "chain[1].group[0]: unknown task `nope`"),
        (r#"{"task": "add", "args": [1]}"#,
         "canvas: task `add` takes exactly 2 positional argument(s), but would receive 1"),
        (r#"{"chain": [{"task": "add", "args": [1, 2]}, {"task": "add", "args": [1, 2]}]}"#,
         "chain[1]: task `add` takes exactly 2 positional argument(s), but would receive 3"),
        (r#"{"chord": {"header": [], "body": {"task": "tsum", "args": [1]}}}"#,
         "chord.body: task `tsum` takes exactly 1 positional argument(s), but would receive 2"),
        (r#"{"group": [{"task": "tsum", "args": [], "partial": true}]}"#,
         "group[0]: partial signature `tsum` has no parent to supply its first argument"),
        (r#"{"starmap": {"task": "add", "items": [[1, 2], [3]]}}"#,
         "starmap.items[1]: task `add` takes exactly 2 positional argument(s), but would receive 1"),
        (r#"{"chunks": {"task": "add", "items": [[1, 2], 3], "n": 1}}"#,
         "chunks.items[1]: expected an argument list (array) for `add`, saw 3"),
        (r#"{"chunks": {"task": "add", "items": [], "n": 0}}"#, "chunks: chunks of `add` with n = 0"),
        (r#"{"map": {"task": "add", "items": [1]}}"#,
         "map: task `add` takes exactly 2 positional argument(s), but would receive 1"),
        (r#"{"map": {"task": "tsum"}}"#, "map: partial signature `tsum` has no parent"),
        (r#"{"chain": []}"#, "canvas: empty chain; a chain needs at least one step"),
        (r#"{"task": "log", "link_error": [{"task": "eb", "args": [1, 2]}]}"#,
         "link_error[0]: task `eb` takes between 1 and 2 positional argument(s), but would receive 3"),
        (r#"{"task": "log", "link_error": [{"chain": [{"task": "eb"}]}]}"#,
         "link_error[0]: expected an error callback to be a task signature without link or link_error, saw"),
        (r#"{"task": "log", "link": [{"task": "add", "args": [1, 2]}]}"#,
         "link[0]: task `add` takes exactly 2 positional argument(s), but would receive 3"),
    ];
    for (text, expected) in cases {
        let error = error_of(text);
        assert!(
            error.contains(expected),
            "{text}\n  gave: {error}\n  want: {expected}"
        );
    }
}

#[test]
fn compile_refuses_what_check_refuses_without_a_registry() {
    let partial =
        Canvas::from_json_str(r#"{"group": [{"task": "tsum", "partial": true}]}"#).unwrap();
    assert!(
        matches!(partial.compile(Uuid::nil()), Err(Error::PartialWithoutParent { path, .. }) if path == "group[0]")
    );
    let errback =
        Canvas::from_json_str(r#"{"task": "log", "link_error": [{"group": []}]}"#).unwrap();
    assert!(matches!(
        errback.compile(Uuid::nil()),
        Err(Error::InvalidErrback { .. })
    ));
}

#[test]
fn json_round_trips_through_text_and_serde() {
    let text = r#"{"chain": [
        {"task": "add", "args": [1, 2], "options": {"queue": "math", "priority": 5, "countdown_ms": 10,
            "eta": 1, "expires": 2, "soft_time_limit_ms": 3, "time_limit_ms": 4, "max_retries": 2, "headers": {"a": "b"}}},
        {"group": [{"task": "add", "args": [1], "partial": true}, {"task": "log", "immutable": true}]},
        {"chord": {"header": [{"map": {"task": "tsum"}}, {"starmap": {"task": "add", "items": [[1, 2]]}}],
                   "body": {"chunks": {"task": "add", "items": [[1, 2]], "n": 3}}}}],
        "link": [{"task": "log", "partial": true}], "link_error": [{"task": "eb"}]}"#;
    let canvas = Canvas::from_json_str(text).unwrap();
    let value: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(canvas.to_json(), value);
    let via_serde: Canvas = serde_json::from_str(&serde_json::to_string(&canvas).unwrap()).unwrap();
    assert_eq!(via_serde, canvas);
}

#[test]
fn serde_errors_carry_the_path() {
    let err = serde_json::from_value::<Canvas>(json!({"group": [{"task": 1}]})).unwrap_err();
    assert!(
        err.to_string()
            .contains("group[0]: expected a non-empty task name, saw number 1"),
        "{err}"
    );
}

#[test]
fn more_than_a_million_steps_is_refused_with_a_clear_error() {
    let items = vec![json!([]); MAX_STEPS + 1];
    let err = Canvas::chunks("log", items, 1)
        .compile(Uuid::nil())
        .unwrap_err();
    assert_eq!(err, Error::TooManySteps { limit: MAX_STEPS });
    assert_eq!(
        err.to_string(),
        "workflow has more than 1000000 steps; split it into smaller workflows"
    );
}

#[test]
fn nesting_is_bounded() {
    let mut canvas = Canvas::task("log", vec![]);
    for _ in 0..300 {
        canvas = Canvas::group([canvas]);
    }
    assert!(matches!(
        canvas.compile(Uuid::nil()),
        Err(Error::TooDeep { .. })
    ));
}
