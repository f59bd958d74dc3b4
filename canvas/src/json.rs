//! The JSON form of a canvas, for the command line, HTTP and other languages.
//!
//! ```json
//! {"task": "add", "args": [2, 2]}
//! {"task": "mul", "args": [8], "partial": true}
//! {"task": "log", "args": ["done"], "immutable": true}
//! {"chain": [canvas, …]}
//! {"group": [canvas, …]}
//! {"chord": {"header": [canvas, …], "body": canvas}}
//! {"map": {"task": "double", "items": [1, 2, 3]}}       // no "items": the parent's list
//! {"starmap": {"task": "add", "items": [[1, 2], [3, 4]]}}
//! {"chunks": {"task": "add", "items": [[1, 2], [3, 4]], "n": 10}}
//! ```
//!
//! Any canvas object may also hold `"options"` (`queue`, `priority`, `countdown_ms`, `eta`,
//! `expires`, `soft_time_limit_ms`, `time_limit_ms`, `max_retries`, `headers`), `"link"` (a
//! list of canvases receiving its result) and `"link_error"` (a list of task signatures).
//! Unknown keys are refused, and every error names its place (`chain[2].group[5]`).

use celeriac_schemas::StepOptions;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Map, Value};

use crate::canvas::{ArgsMode, Canvas, CanvasKind, ChunksCall, MapCall, TaskCall};
use crate::error::{Error, Result};
use crate::path::{Path, Segment};

/// The keys that name what a canvas object is.
const KINDS: [&str; 7] = [
    "task", "chain", "group", "chord", "map", "starmap", "chunks",
];
/// Keys any canvas object may hold.
const COMMON: [&str; 3] = ["options", "link", "link_error"];
/// Keys only a task object may hold.
const TASK_ONLY: [&str; 3] = ["args", "partial", "immutable"];

impl Canvas {
    /// Parses the JSON form from text.
    pub fn from_json_str(text: &str) -> Result<Canvas> {
        let value: Value = serde_json::from_str(text).map_err(|e| Error::InvalidCanvasJson {
            path: Path::default().text(),
            expected: "JSON text".into(),
            seen: e.to_string(),
        })?;
        Canvas::from_json(&value)
    }

    /// Reads the JSON form.
    pub fn from_json(value: &Value) -> Result<Canvas> {
        parse_canvas(value, &mut Path::default())
    }

    /// The JSON form.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        match &self.kind {
            CanvasKind::Task(call) => write_task(call, &mut object),
            CanvasKind::Chain(steps) => insert(&mut object, "chain", list_json(steps)),
            CanvasKind::Group(members) => insert(&mut object, "group", list_json(members)),
            CanvasKind::Chord { header, body } => {
                let chord = json!({"header": list_json(header), "body": body.to_json()});
                insert(&mut object, "chord", chord);
            }
            CanvasKind::Map(call) => insert(&mut object, "map", map_json(call)),
            CanvasKind::Starmap(call) => insert(&mut object, "starmap", map_json(call)),
            CanvasKind::Chunks(call) => {
                let chunks = json!({"task": call.task, "items": call.items, "n": call.n});
                insert(&mut object, "chunks", chunks);
            }
        }
        if self.options != StepOptions::default() {
            insert(&mut object, "options", options_json(&self.options));
        }
        if !self.link.is_empty() {
            insert(&mut object, "link", list_json(&self.link));
        }
        if !self.link_error.is_empty() {
            insert(&mut object, "link_error", list_json(&self.link_error));
        }
        Value::Object(object)
    }
}

impl Serialize for Canvas {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Canvas {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Canvas::from_json(&value).map_err(serde::de::Error::custom)
    }
}

fn insert(object: &mut Map<String, Value>, key: &str, value: Value) {
    object.insert(key.to_string(), value);
}

fn list_json(canvases: &[Canvas]) -> Value {
    Value::Array(canvases.iter().map(Canvas::to_json).collect())
}

fn write_task(call: &TaskCall, object: &mut Map<String, Value>) {
    insert(object, "task", Value::from(call.task.clone()));
    if !call.args.is_empty() {
        insert(object, "args", Value::Array(call.args.clone()));
    }
    match call.mode {
        ArgsMode::Mutable => {}
        ArgsMode::Partial => insert(object, "partial", Value::Bool(true)),
        ArgsMode::Immutable => insert(object, "immutable", Value::Bool(true)),
    }
}

fn map_json(call: &MapCall) -> Value {
    let mut object = Map::new();
    insert(&mut object, "task", Value::from(call.task.clone()));
    if let Some(items) = &call.items {
        insert(&mut object, "items", Value::Array(items.clone()));
    }
    Value::Object(object)
}

/// The options of a canvas as JSON: only the fields that are set.
#[derive(Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct OptionsJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    queue: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    priority: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    countdown_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eta: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    soft_time_limit_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    time_limit_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_retries: Option<i32>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    headers: std::collections::BTreeMap<String, String>,
}

fn options_json(options: &StepOptions) -> Value {
    let json = OptionsJson {
        queue: options.queue.clone(),
        priority: options.priority.and_then(|p| u8::try_from(p).ok()),
        countdown_ms: options.countdown_ms,
        eta: options.eta,
        expires: options.expires,
        soft_time_limit_ms: options.soft_time_limit_ms,
        time_limit_ms: options.time_limit_ms,
        max_retries: options.max_retries,
        headers: options.headers.clone().into_iter().collect(),
    };
    serde_json::to_value(json).unwrap_or(Value::Null)
}

fn parse_options(value: &Value, path: &Path) -> Result<StepOptions> {
    let json = OptionsJson::deserialize(value)
        .map_err(|e| invalid_json(path, "options with known fields and types", e.to_string()))?;
    if json.priority.is_some_and(|p| p > 9) {
        let seen = format!("priority {}", json.priority.unwrap_or_default());
        return Err(invalid_json(path, "options.priority from 0 to 9", seen));
    }
    Ok(StepOptions {
        queue: json.queue,
        priority: json.priority.map(i32::from),
        countdown_ms: json.countdown_ms,
        eta: json.eta,
        expires: json.expires,
        soft_time_limit_ms: json.soft_time_limit_ms,
        time_limit_ms: json.time_limit_ms,
        max_retries: json.max_retries,
        headers: json.headers.into_iter().collect(),
    })
}

fn parse_canvas(value: &Value, path: &mut Path) -> Result<Canvas> {
    let object = value.as_object().ok_or_else(|| {
        invalid_json(
            path,
            "a canvas object such as {\"task\": …}",
            kind_of(value),
        )
    })?;
    let kind_key = kind_key(object, path)?;
    check_keys(object, kind_key, path)?;
    let kind = parse_kind(kind_key, object, path)?;
    let options = match object.get("options") {
        Some(options) => parse_options(options, path)?,
        None => StepOptions::default(),
    };
    let link = parse_list(object.get("link"), path, Segment::Link, "link")?;
    let link_error = parse_list(
        object.get("link_error"),
        path,
        Segment::LinkError,
        "link_error",
    )?;
    Ok(Canvas {
        kind,
        options,
        link,
        link_error,
    })
}

/// The one key saying what the object is.
fn kind_key(object: &Map<String, Value>, path: &Path) -> Result<&'static str> {
    let found: Vec<&'static str> = KINDS
        .into_iter()
        .filter(|k| object.contains_key(*k))
        .collect();
    match found.as_slice() {
        [one] => Ok(one),
        _ => Err(invalid_json(
            path,
            "exactly one of the keys task, chain, group, chord, map, starmap, chunks",
            format!("keys {:?}", object.keys().collect::<Vec<_>>()),
        )),
    }
}

fn check_keys(object: &Map<String, Value>, kind: &str, path: &Path) -> Result<()> {
    for key in object.keys() {
        let allowed = key == kind
            || COMMON.contains(&key.as_str())
            || (kind == "task" && TASK_ONLY.contains(&key.as_str()));
        if !allowed {
            let expected = if kind == "task" {
                "only task, args, partial, immutable, options, link, link_error"
            } else {
                "only one kind key and options, link, link_error"
            };
            return Err(invalid_json(path, expected, format!("key `{key}`")));
        }
    }
    Ok(())
}

fn parse_kind(key: &str, object: &Map<String, Value>, path: &mut Path) -> Result<CanvasKind> {
    let value = &object[key];
    match key {
        "task" => parse_task(object, path).map(CanvasKind::Task),
        "chain" => parse_list(Some(value), path, Segment::Chain, "chain").map(CanvasKind::Chain),
        "group" => parse_list(Some(value), path, Segment::Group, "group").map(CanvasKind::Group),
        "chord" => parse_chord(value, path),
        "map" => parse_map(value, path, "map").map(CanvasKind::Map),
        "starmap" => parse_map(value, path, "starmap").map(CanvasKind::Starmap),
        _ => parse_chunks(value, path).map(CanvasKind::Chunks),
    }
}

fn parse_task(object: &Map<String, Value>, path: &Path) -> Result<TaskCall> {
    let task = task_name(object.get("task"), path)?;
    let args = match object.get("args") {
        None => Vec::new(),
        Some(Value::Array(args)) => args.clone(),
        Some(other) => return Err(invalid_json(path, "args as a JSON array", kind_of(other))),
    };
    let partial = flag(object, "partial", path)?;
    let immutable = flag(object, "immutable", path)?;
    let mode = match (partial, immutable) {
        (true, true) => {
            return Err(Error::PartialAndImmutable {
                path: path.text(),
                task,
            })
        }
        (true, false) => ArgsMode::Partial,
        (false, true) => ArgsMode::Immutable,
        (false, false) => ArgsMode::Mutable,
    };
    Ok(TaskCall { task, args, mode })
}

fn task_name(value: Option<&Value>, path: &Path) -> Result<String> {
    match value {
        Some(Value::String(name)) if !name.is_empty() => Ok(name.clone()),
        other => Err(invalid_json(
            path,
            "a non-empty task name",
            other.map_or("nothing".into(), kind_of),
        )),
    }
}

fn flag(object: &Map<String, Value>, key: &str, path: &Path) -> Result<bool> {
    match object.get(key) {
        None => Ok(false),
        Some(Value::Bool(flag)) => Ok(*flag),
        Some(other) => Err(invalid_json(
            path,
            &format!("{key} as true or false"),
            kind_of(other),
        )),
    }
}

fn parse_list(
    value: Option<&Value>,
    path: &mut Path,
    segment: fn(usize) -> Segment,
    key: &str,
) -> Result<Vec<Canvas>> {
    let items = match value {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            let expected = format!("{key} as a list of canvases");
            return Err(invalid_json(path, &expected, kind_of(other)));
        }
    };
    let mut canvases = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        path.push(segment(i));
        let canvas = parse_canvas(item, path);
        path.pop();
        canvases.push(canvas?);
    }
    Ok(canvases)
}

fn parse_chord(value: &Value, path: &mut Path) -> Result<CanvasKind> {
    let object = value.as_object().ok_or_else(|| {
        invalid_json(
            path,
            "chord as {\"header\": […], \"body\": {…}}",
            kind_of(value),
        )
    })?;
    if let Some(key) = object.keys().find(|k| *k != "header" && *k != "body") {
        return Err(invalid_json(
            path,
            "only header and body in a chord",
            format!("key `{key}`"),
        ));
    }
    let header = parse_list(object.get("header"), path, Segment::Header, "chord.header")?;
    let body = object
        .get("body")
        .ok_or_else(|| invalid_json(path, "a chord body", "none".into()))?;
    path.push(Segment::Body);
    let body = parse_canvas(body, path);
    path.pop();
    Ok(CanvasKind::Chord {
        header,
        body: Box::new(body?),
    })
}

fn parse_map(value: &Value, path: &mut Path, key: &'static str) -> Result<MapCall> {
    path.push(Segment::Named(key));
    let object = fields(value, &["task", "items"], path);
    let call = object.and_then(|object| {
        let task = task_name(object.get("task"), path)?;
        let items = match object.get("items") {
            None => None,
            Some(Value::Array(items)) => Some(items.clone()),
            Some(other) => return Err(invalid_json(path, "items as a JSON array", kind_of(other))),
        };
        Ok(MapCall { task, items })
    });
    path.pop();
    call
}

fn parse_chunks(value: &Value, path: &mut Path) -> Result<ChunksCall> {
    path.push(Segment::Named("chunks"));
    let object = fields(value, &["task", "items", "n"], path);
    let call = object.and_then(|object| {
        let task = task_name(object.get("task"), path)?;
        let items = match object.get("items") {
            Some(Value::Array(items)) => items.clone(),
            other => {
                let seen = other.map_or("nothing".into(), kind_of);
                return Err(invalid_json(path, "items as a JSON array", seen));
            }
        };
        let n = match object.get("n").and_then(Value::as_u64) {
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            None => {
                let seen = object.get("n").map_or("nothing".into(), |n| n.to_string());
                return Err(invalid_json(path, "n as a positive integer", seen));
            }
        };
        Ok(ChunksCall { task, items, n })
    });
    path.pop();
    call
}

/// An object holding only the allowed keys.
fn fields<'v>(value: &'v Value, allowed: &[&str], path: &Path) -> Result<&'v Map<String, Value>> {
    let expected = format!("an object with keys {allowed:?}");
    let object = value
        .as_object()
        .ok_or_else(|| invalid_json(path, &expected, kind_of(value)))?;
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(invalid_json(path, &expected, format!("key `{key}`"))),
        None => Ok(object),
    }
}

fn invalid_json(path: &Path, expected: &str, seen: String) -> Error {
    Error::InvalidCanvasJson {
        path: path.text(),
        expected: expected.to_string(),
        seen,
    }
}

/// What a JSON value is, in words.
fn kind_of(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(a) => format!("an array of {}", a.len()),
        Value::Object(_) => "an object".into(),
    }
}
