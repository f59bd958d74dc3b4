//! Compile time of large canvases: a 10,000-member chord and a 1,000-step chain.
//! Targets in release builds: at most 20 ms and 5 ms.

use std::hint::black_box;

use celeriac_canvas::{chord, Signature, TaskRef, ThenExt};
use criterion::{criterion_main, Criterion};
use uuid::Uuid;

fn chord_of(members: i64) -> Signature<i64> {
    let add: TaskRef<(i64, i64), i64> = TaskRef::new("add");
    let tsum: TaskRef<Vec<i64>, i64> = TaskRef::new("tsum");
    chord((0..members).map(|i| add.s((i, i))), tsum.partial(()))
}

fn chain_of(steps: i64) -> Signature<i64> {
    let add: TaskRef<(i64, i64), i64> = TaskRef::new("add");
    (1..steps).fold(add.s((0, 0)), |wf, i| wf.then(add.partial(i)))
}

fn compile_benchmarks(c: &mut Criterion) {
    let id = Uuid::from_u128(0x5eed);
    let chord = chord_of(10_000).to_canvas().expect("chord encodes");
    c.bench_function("compile chord of 10,000", |b| {
        b.iter(|| black_box(&chord).compile(id).expect("chord compiles"))
    });
    let chain = chain_of(1_000).to_canvas().expect("chain encodes");
    c.bench_function("compile chain of 1,000", |b| {
        b.iter(|| black_box(&chain).compile(id).expect("chain compiles"))
    });
    c.bench_function("build and compile chord of 10,000 (typed)", |b| {
        b.iter(|| {
            chord_of(black_box(10_000))
                .compile(id)
                .expect("chord compiles")
        })
    });
}

/// Criterion's generated group function, kept out of the documented surface.
#[allow(missing_docs, unreachable_pub)]
mod group {
    criterion::criterion_group!(benches, super::compile_benchmarks);
}

criterion_main!(group::benches);
