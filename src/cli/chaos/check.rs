//! The history checker: what every run must show, read from the topics after the system is
//! quiet. Each violation names its check and carries the smallest history that shows it (the
//! records of the one workflow or task concerned).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use celeriac_schemas::{
    BeatFireKind, DeadLetterKind, StepKind, TaskEventKind, TaskResult, WorkflowSpec,
};
use serde_json::Value;
use uuid::Uuid;

use super::history::History;

/// A workflow the client saw acknowledged.
#[derive(Debug, Clone)]
pub(crate) struct Acked {
    pub(crate) id: Uuid,
    pub(crate) kind: &'static str,
    pub(crate) expected: Value,
    pub(crate) via_http: bool,
}

/// The poison the run put on the task topics: what `dead` must hold, and all it may hold.
#[derive(Debug, Default, Clone)]
pub(crate) struct Poison {
    /// `(topic, partition, offset)` of records that are not task messages.
    pub(crate) undecodable: BTreeSet<(String, i32, i64)>,
    /// Ids of messages naming a task no worker registers.
    pub(crate) unknown_tasks: BTreeSet<Uuid>,
}

/// What the checks need besides the history.
#[derive(Debug, Clone)]
pub(crate) struct Expectations {
    pub(crate) acked: Vec<Acked>,
    pub(crate) poison: Poison,
    /// The beat entry firing every second, and the span of the run it covers.
    pub(crate) beat_entry: String,
    pub(crate) beat_from_ms: i64,
    pub(crate) beat_until_ms: i64,
    /// The largest clock offset between processes, plus a margin.
    pub(crate) skew_ms: i64,
}

/// One broken promise.
#[derive(Debug, Clone)]
pub(crate) struct Violation {
    pub(crate) check: &'static str,
    pub(crate) detail: String,
    pub(crate) history: String,
}

/// The checker's findings.
pub(crate) struct Checker<'h> {
    history: &'h History,
    expect: &'h Expectations,
    specs: HashMap<Uuid, &'h WorkflowSpec>,
    terminal: HashMap<Uuid, Vec<&'h TaskResult>>,
    first_attempts: HashMap<Uuid, usize>,
    pub(crate) violations: Vec<Violation>,
}

impl<'h> Checker<'h> {
    pub(crate) fn new(history: &'h History, expect: &'h Expectations) -> Self {
        let specs = history
            .workflows
            .iter()
            .map(|w| (w.value.id, &w.value))
            .collect();
        let mut terminal: HashMap<Uuid, Vec<&TaskResult>> = HashMap::new();
        for result in &history.results {
            if result.value.state.is_terminal() {
                terminal
                    .entry(result.value.task_id)
                    .or_default()
                    .push(&result.value);
            }
        }
        let mut first_attempts: HashMap<Uuid, usize> = HashMap::new();
        for message in &history.tasks {
            if message.value.retries == 0 {
                *first_attempts.entry(message.value.id).or_default() += 1;
            }
        }
        Checker {
            history,
            expect,
            specs,
            terminal,
            first_attempts,
            violations: Vec::new(),
        }
    }

    /// Runs every check.
    pub(crate) fn run(mut self) -> Vec<Violation> {
        self.workflows();
        self.terminal_once();
        self.etas();
        self.dead_letters();
        self.beat();
        self.violations
    }

    fn violate(&mut self, check: &'static str, detail: String, history: String) {
        self.violations.push(Violation {
            check,
            detail,
            history,
        });
    }

    /// The records of one task: messages, events, results.
    fn task_history(&self, task: &Uuid) -> String {
        let mut out = String::new();
        for m in self.history.tasks.iter().filter(|m| m.value.id == *task) {
            let _ = writeln!(
                out,
                "  message {}[{}]@{} retries={} eta={:?} published_at={}",
                m.topic, m.partition, m.offset, m.value.retries, m.value.eta, m.value.published_at
            );
        }
        for e in self
            .history
            .events
            .iter()
            .filter(|e| e.value.task_id == *task)
        {
            let _ = writeln!(
                out,
                "  event {:?} at {} by {} (offset {})",
                e.value.kind, e.value.timestamp, e.value.hostname, e.offset
            );
        }
        for r in self
            .history
            .results
            .iter()
            .filter(|r| r.value.task_id == *task)
        {
            let _ = writeln!(
                out,
                "  result {:?} done {} (results[{}]@{})",
                r.value.state, r.value.date_done, r.partition, r.offset
            );
        }
        out
    }

    fn workflow_history(&self, spec: &WorkflowSpec) -> String {
        let mut out = format!("workflow {} ({} steps)\n", spec.id, spec.steps.len());
        for step in &spec.steps {
            let _ = writeln!(out, " step {} {} {}", step.step_id, step.task, step.task_id);
            out.push_str(&self.task_history(&step.task_id));
        }
        out
    }

    /// Every acknowledged workflow is on the log and reached the evaluator's result; each of
    /// its published steps went out exactly once, and never before its inputs were terminal.
    fn workflows(&mut self) {
        for acked in self.expect.acked.clone() {
            let Some(spec) = self.specs.get(&acked.id).copied() else {
                self.violate(
                    "acknowledged workflow on the log",
                    format!(
                        "{} workflow {} (via {}) is not on the workflows topic",
                        acked.kind,
                        acked.id,
                        if acked.via_http { "HTTP" } else { "the client" }
                    ),
                    String::new(),
                );
                continue;
            };
            let output = usize::try_from(spec.output)
                .ok()
                .and_then(|i| spec.steps.get(i));
            let got = output
                .and_then(|step| self.terminal.get(&step.task_id))
                .and_then(|results| results.first())
                .map(|r| (r.state, r.result.clone()));
            let value = got
                .as_ref()
                .and_then(|(_, bytes)| bytes.as_deref())
                .and_then(|b| serde_json::from_slice::<Value>(b).ok());
            if value.as_ref() != Some(&acked.expected) {
                self.violate(
                    "workflow result",
                    format!(
                        "{} workflow {}: expected {}, got {:?}",
                        acked.kind,
                        acked.id,
                        acked.expected,
                        got.map(|(s, _)| s)
                    ),
                    self.workflow_history(spec),
                );
            }
            self.steps_of(spec);
        }
    }

    fn steps_of(&mut self, spec: &WorkflowSpec) {
        let mut parents: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for edge in &spec.edges {
            parents
                .entry(edge.to as usize)
                .or_default()
                .push(edge.from as usize);
        }
        for (index, step) in spec.steps.iter().enumerate() {
            if step.kind == StepKind::Collect || step.errback {
                continue;
            }
            let sent = self.first_attempts.get(&step.task_id).copied().unwrap_or(0);
            if sent != 1 {
                self.violate(
                    "each step enqueued exactly once",
                    format!(
                        "step {} of workflow {} was enqueued {sent} times",
                        step.step_id, spec.id
                    ),
                    self.workflow_history(spec),
                );
            }
            let Some(message) = self
                .history
                .tasks
                .iter()
                .find(|m| m.value.id == step.task_id && m.value.retries == 0)
            else {
                continue;
            };
            for parent in parents.get(&index).into_iter().flatten() {
                let parent_id = spec.steps[*parent].task_id;
                let done = self.terminal.get(&parent_id).and_then(|r| r.first());
                let ok = done.is_some_and(|r| {
                    r.date_done <= message.value.published_at + self.expect.skew_ms
                });
                if !ok {
                    self.violate(
                        "no step enqueued before its inputs were terminal",
                        format!(
                            "step {} of {} published at {} before its parent {} was terminal ({:?})",
                            step.step_id, spec.id, message.value.published_at, parent_id,
                            done.map(|r| r.date_done)
                        ),
                        self.workflow_history(spec),
                    );
                }
            }
        }
    }

    /// Every task has at most one terminal result; every acknowledged workflow's steps have
    /// exactly one.
    fn terminal_once(&mut self) {
        let doubled: Vec<Uuid> = self
            .terminal
            .iter()
            .filter(|(_, results)| results.len() > 1)
            .map(|(id, _)| *id)
            .collect();
        for id in doubled {
            self.violate(
                "one terminal result per task",
                format!(
                    "task {id} has {} terminal results",
                    self.terminal[&id].len()
                ),
                self.task_history(&id),
            );
        }
        let steps: Vec<(Uuid, Uuid)> = self
            .expect
            .acked
            .iter()
            .filter_map(|a| self.specs.get(&a.id))
            .flat_map(|spec| {
                spec.steps
                    .iter()
                    .filter(|s| !s.errback)
                    .map(|s| (spec.id, s.task_id))
            })
            .collect();
        for (workflow, task) in steps {
            if !self.terminal.contains_key(&task) {
                self.violate(
                    "every step terminal",
                    format!("task {task} of workflow {workflow} has no terminal result"),
                    self.task_history(&task),
                );
            }
        }
    }

    /// No task started before its eta, less the clock skew allowed.
    fn etas(&mut self) {
        let etas: HashMap<(Uuid, i32), i64> = self
            .history
            .tasks
            .iter()
            .filter_map(|m| m.value.eta.map(|eta| ((m.value.id, m.value.retries), eta)))
            .collect();
        let early: Vec<(Uuid, i64, i64)> = self
            .history
            .events
            .iter()
            .filter(|e| e.value.kind == TaskEventKind::Started)
            .filter_map(|e| {
                let eta = etas.get(&(e.value.task_id, e.value.retries))?;
                (e.value.timestamp + self.expect.skew_ms < *eta).then_some((
                    e.value.task_id,
                    e.value.timestamp,
                    *eta,
                ))
            })
            .collect();
        for (task, started, eta) in early {
            self.violate(
                "no task started before its eta",
                format!(
                    "task {task} started at {started}, {} ms before its eta {eta}",
                    eta - started
                ),
                self.task_history(&task),
            );
        }
    }

    /// `dead` holds exactly the injected poison.
    fn dead_letters(&mut self) {
        let poison = &self.expect.poison;
        let mut seen_undecodable = BTreeSet::new();
        let mut seen_unknown = BTreeSet::new();
        let mut strays = Vec::new();
        for letter in &self.history.dead {
            let l = &letter.value;
            let key = (l.source_topic.clone(), l.partition, l.offset);
            match l.kind {
                DeadLetterKind::Undecodable if poison.undecodable.contains(&key) => {
                    seen_undecodable.insert(key);
                }
                DeadLetterKind::UnknownTask
                    if l.task_id
                        .is_some_and(|id| poison.unknown_tasks.contains(&id)) =>
                {
                    seen_unknown.extend(l.task_id);
                }
                _ => strays.push(format!(
                    "{:?} from {}[{}]@{}: {}",
                    l.kind, l.source_topic, l.partition, l.offset, l.reason
                )),
            }
        }
        for stray in strays {
            self.violate("dead holds only the injected poison", stray, String::new());
        }
        let lost_undecodable = poison.undecodable.len() - seen_undecodable.len();
        let lost_unknown = poison.unknown_tasks.len() - seen_unknown.len();
        if lost_undecodable + lost_unknown > 0 {
            self.violate(
                "every injected poison record is dead-lettered",
                format!("{lost_undecodable} undecodable and {lost_unknown} unknown-task records never reached dead"),
                String::new(),
            );
        }
    }

    /// Every window of the every-second entry, within the covered span, fired exactly once,
    /// and each fire's task went out once.
    fn beat(&mut self) {
        let entry = self.expect.beat_entry.clone();
        let mut fired: BTreeMap<i64, Vec<Option<Uuid>>> = BTreeMap::new();
        for fire in self.history.beat.iter().filter(|f| f.value.entry == entry) {
            if fire.value.kind == BeatFireKind::Fired {
                fired
                    .entry(fire.value.window)
                    .or_default()
                    .push(fire.value.task_id);
            }
        }
        let (from, until) = (self.expect.beat_from_ms, self.expect.beat_until_ms);
        let mut problems = Vec::new();
        let mut window = from - from.rem_euclid(1000) + 1000;
        while window + 1000 <= until {
            match fired.get(&window).map(Vec::len) {
                Some(1) => {}
                Some(n) => problems.push(format!("window {window} fired {n} times")),
                None => problems.push(format!("window {window} never fired")),
            }
            window += 1000;
        }
        for (window, ids) in &fired {
            for id in ids.iter().flatten() {
                let sent = self.first_attempts.get(id).copied().unwrap_or(0);
                if sent != 1 {
                    problems.push(format!(
                        "the task {id} of window {window} went out {sent} times"
                    ));
                }
            }
        }
        if !problems.is_empty() {
            let shown: Vec<String> = problems.iter().take(10).cloned().collect();
            let history = fired
                .iter()
                .map(|(w, ids)| format!("  window {w}: {} fire(s)", ids.len()))
                .collect::<Vec<_>>()
                .join("\n");
            self.violate(
                "each beat window fired exactly once",
                format!("{} problems, first: {}", problems.len(), shown.join("; ")),
                history,
            );
        }
    }
}
