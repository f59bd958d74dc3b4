//! The seeded workload: chains of 3–8 steps, chords of 20–200 members, groups, nested
//! canvases, countdowns of 1–10 s and tasks that retry — each with the result the canvas
//! reference evaluator gives, which the history checker holds the run to.

use celeriac_canvas::{Canvas, Dag, Evaluator, TaskTable};
use celeriac_schemas::StepOptions;
use serde_json::{json, Value};
use uuid::Uuid;

/// The demo tasks as the evaluator runs them (the stock binary's `demo.*`).
pub(crate) fn demo_tasks() -> TaskTable {
    let int = |v: &Value| v.as_i64().unwrap_or(0);
    TaskTable::new()
        .with("demo.add", move |args| match args.as_slice() {
            [x, y] => Ok(json!(int(x) + int(y))),
            other => Err(format!("demo.add takes two numbers, saw {other:?}")),
        })
        .with("demo.sum", move |args| match args.as_slice() {
            [Value::Array(items)] => Ok(json!(items.iter().map(int).sum::<i64>())),
            other => Err(format!("demo.sum takes one list, saw {other:?}")),
        })
        .with("demo.flaky", move |args| match args.as_slice() {
            [n] => Ok(json!(int(n))),
            other => Err(format!("demo.flaky takes a number, saw {other:?}")),
        })
        .with("demo.noop", |_| Ok(Value::Null))
}

/// What one workflow is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Kind {
    Chain,
    Chord,
    Group,
    Nested,
    Retrying,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Chain => "chain",
            Kind::Chord => "chord",
            Kind::Group => "group",
            Kind::Nested => "nested",
            Kind::Retrying => "retrying",
        }
    }
}

/// One workflow of the workload and what it must come to.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    pub(crate) kind: Kind,
    pub(crate) canvas: Canvas,
    pub(crate) expected: Value,
}

/// Makes workflows from a seed: the same seed, the same workload.
pub(crate) struct Workload {
    rng: fastrand::Rng,
    tasks: TaskTable,
    /// Scale of chord sizes (1.0: 20–200 members).
    chord_scale: f64,
}

fn add(x: i64, y: i64) -> Canvas {
    Canvas::task("demo.add", vec![json!(x), json!(y)])
}

fn add_to(y: i64) -> Canvas {
    Canvas::partial("demo.add", vec![json!(y)])
}

fn with_countdown(mut canvas: Canvas, ms: i64) -> Canvas {
    canvas.options = StepOptions {
        countdown_ms: Some(ms),
        ..canvas.options
    };
    canvas
}

impl Workload {
    pub(crate) fn new(seed: u64, chord_scale: f64) -> Self {
        Workload {
            rng: fastrand::Rng::with_seed(seed),
            tasks: demo_tasks(),
            chord_scale,
        }
    }

    /// The next workflow.
    pub(crate) fn next(&mut self) -> anyhow::Result<Planned> {
        let kind = match self.rng.u32(0..10) {
            0..=3 => Kind::Chain,
            4 | 5 => Kind::Chord,
            6 => Kind::Group,
            7 | 8 => Kind::Nested,
            _ => Kind::Retrying,
        };
        let canvas = match kind {
            Kind::Chain => self.chain(),
            Kind::Chord => self.chord(),
            Kind::Group => self.group(),
            Kind::Nested => self.nested(),
            Kind::Retrying => self.retrying(),
        };
        let expected = self.expected(&canvas)?;
        Ok(Planned {
            kind,
            canvas,
            expected,
        })
    }

    /// A chain of 3–8 adds; one in four has a countdown of 1–10 s on a middle step.
    fn chain(&mut self) -> Canvas {
        let steps = self.rng.usize(3..=8);
        let mut chain = vec![add(self.rng.i64(0..100), self.rng.i64(0..100))];
        for _ in 1..steps {
            chain.push(add_to(self.rng.i64(1..10)));
        }
        if self.rng.u32(0..4) == 0 {
            let at = self.rng.usize(1..steps);
            let ms = self.rng.i64(1_000..=10_000);
            chain[at] = with_countdown(chain[at].clone(), ms);
        }
        Canvas::chain(chain)
    }

    /// A chord of 20–200 adds (scaled) summed.
    fn chord(&mut self) -> Canvas {
        let low = ((20.0 * self.chord_scale) as usize).max(2);
        let high = ((200.0 * self.chord_scale) as usize).max(low);
        let members = self.rng.usize(low..=high);
        let header = (0..members).map(|i| add(i as i64, self.rng.i64(0..10)));
        Canvas::chord(header, Canvas::partial("demo.sum", vec![]))
    }

    /// A group of 2–4 short chains.
    fn group(&mut self) -> Canvas {
        let chains = self.rng.usize(2..=4);
        Canvas::group((0..chains).map(|_| {
            Canvas::chain([
                add(self.rng.i64(0..50), self.rng.i64(0..50)),
                add_to(self.rng.i64(1..5)),
            ])
        }))
    }

    /// A group feeding a sum and two more adds: chain(group(chains) | sum, add, add).
    fn nested(&mut self) -> Canvas {
        let header: Vec<Canvas> = (0..self.rng.usize(3..=6))
            .map(|_| Canvas::chain([add(self.rng.i64(0..20), 1), add_to(2)]))
            .collect();
        Canvas::chain([
            Canvas::chord(header, Canvas::partial("demo.sum", vec![])),
            add_to(self.rng.i64(1..10)),
            add_to(self.rng.i64(1..10)),
        ])
    }

    /// A task that retries 1–2 times through the timers topic, then a successor.
    fn retrying(&mut self) -> Canvas {
        let times = self.rng.i64(1..=2);
        Canvas::chain([
            Canvas::task("demo.flaky", vec![json!(times)]),
            add_to(self.rng.i64(1..10)),
        ])
    }

    fn expected(&self, canvas: &Canvas) -> anyhow::Result<Value> {
        let dag: Dag = canvas.compile(Uuid::new_v4())?;
        match Evaluator::new(&self.tasks).run(&dag).output {
            Ok(value) => Ok(value),
            Err(failure) => anyhow::bail!("the workload made a failing canvas: {failure:?}"),
        }
    }

    /// A uniform pick in `range` (for nemesis timing and choices).
    pub(crate) fn pick(&mut self, range: std::ops::RangeInclusive<u64>) -> u64 {
        self.rng.u64(range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_makes_the_same_workload_and_every_workflow_succeeds() {
        let mut a = Workload::new(7, 1.0);
        let mut b = Workload::new(7, 1.0);
        let mut kinds = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let (x, y) = (a.next().expect("plans"), b.next().expect("plans"));
            assert_eq!(x.canvas, y.canvas);
            assert_eq!(x.expected, y.expected);
            kinds.insert(x.kind);
        }
        assert_eq!(kinds.len(), 5, "every kind appears: {kinds:?}");
    }
}
