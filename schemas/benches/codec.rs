//! Encode and decode of a `TaskMessage` with ~100 B of args: the fast codec, and apache-avro's
//! generic `Value` path for comparison.
//!
//! `cargo bench -p celeriac-schemas -- --warm-up-time 1 --measurement-time 3`

// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::hint::black_box;

use celeriac_schemas::{Record, RetryPolicy, TaskMessage, HEADER_LEN};
use criterion::{criterion_group, criterion_main, Criterion};
use uuid::Uuid;

fn task() -> TaskMessage {
    let id = Uuid::from_u128(0x0192_0000_0000_7000_8000_0000_0000_0001);
    TaskMessage {
        id,
        task: "proj.fetch_page".into(),
        args: br#"["https://example.com/some/fairly/long/path?with=query&and=more", {"timeout": 30, "retries": 3}]"#
            .to_vec(),
        content_type: "application/json".into(),
        root_id: id,
        parent_id: Some(Uuid::from_u128(7)),
        group_id: None,
        workflow_step: Some(3),
        retries: 1,
        max_retries: Some(5),
        eta: None,
        expires: Some(1_750_000_360_000),
        priority: Some(5),
        queue: "default".into(),
        routing_key: None,
        soft_time_limit_ms: Some(25_000),
        time_limit_ms: Some(30_000),
        retry_policy: Some(RetryPolicy {
            backoff_base_ms: 1_000,
            backoff_max_ms: 60_000,
            jitter: true,
        }),
        headers: BTreeMap::from([("x-tenant".to_string(), "acme".to_string())]),
        trace_context: BTreeMap::from([(
            "traceparent".to_string(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string(),
        )]),
        published_at: 1_750_000_000_000,
        origin: Some("gen1@host".into()),
        ignore_result: false,
        args_repr: None,
    }
}

fn bench(c: &mut Criterion) {
    let task = task();
    let bytes = task.encode().expect("encodes");
    assert!((90..=110).contains(&task.args.len()), "~100 B of args");
    let mut buf = Vec::with_capacity(1024);

    let mut g = c.benchmark_group("task_message");
    g.bench_function("encode", |b| {
        b.iter(|| black_box(&task).encode().expect("encodes"))
    });
    g.bench_function("encode_into (reused buffer)", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&task).encode_into(&mut buf).expect("encodes");
        })
    });
    g.bench_function("decode", |b| {
        b.iter(|| TaskMessage::decode(black_box(&bytes)).expect("decodes"))
    });
    // The floor under any decode into owned types: the same allocations (and frees).
    g.bench_function("clone (allocation floor of decode)", |b| {
        b.iter(|| black_box(&task).clone())
    });

    // apache-avro's generic path, for comparison.
    apache_avro::util::set_serde_human_readable(true);
    let schema = TaskMessage::current().schema();
    g.bench_function("apache-avro encode (to_value + to_avro_datum)", |b| {
        b.iter(|| {
            let value = apache_avro::to_value(black_box(&task)).expect("to_value");
            let value = value.resolve(schema).expect("resolves");
            apache_avro::to_avro_datum(schema, value).expect("encodes")
        })
    });
    g.bench_function("apache-avro decode (from_avro_datum + from_value)", |b| {
        b.iter(|| {
            let mut body = &black_box(&bytes)[HEADER_LEN..];
            let value = apache_avro::from_avro_datum(schema, &mut body, None).expect("decodes");
            apache_avro::from_value::<TaskMessage>(&value).expect("maps")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
