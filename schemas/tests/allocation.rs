//! Decoding hostile bytes never allocates in proportion to a length read from the input: the
//! bytes allocated by one decode stay within a small multiple of the input's real size.
//!
//! One test in this binary, so no other thread allocates while it measures.

use std::alloc::System;

use cap::Cap;
use celeriac_schemas::*;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

fn long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z > 0x7f {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn header(fingerprint: u64) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&fingerprint.to_le_bytes());
    out
}

/// Bytes allocated (in total, freed or not) while `f` runs.
fn allocated_by(f: impl FnOnce()) -> usize {
    let before = ALLOCATOR.total_allocated();
    f();
    ALLOCATOR.total_allocated() - before
}

/// The budget for decoding `input`: serde's cautious pre-allocation (1 MiB) plus a multiple
/// of what is really there.
fn budget(input: &[u8]) -> usize {
    (1 << 20) + 64 * input.len() + 64 * 1024
}

fn hostile_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let current = TaskMessage::current().fingerprint();
    let v1 = TaskMessage::versions()[0].fingerprint();
    let mut cases = Vec::new();
    for (label, fp) in [("v2", current), ("v1", v1)] {
        for n in [i64::MAX, 1 << 40, 16 << 20, (16 << 20) - 1] {
            let mut b = header(fp);
            long(&mut b, n);
            b.extend_from_slice(b"01920000");
            cases.push((
                if label == "v2" {
                    "huge string length (fast path)"
                } else {
                    "huge string length (resolving path)"
                },
                b,
            ));
        }
    }
    // ControlCommand.task_ids with a huge block count, and WorkflowSpec.steps likewise.
    for count in [i64::MAX, 1 << 40, 1 << 19, -(1 << 40)] {
        let mut b = header(ControlCommand::current().fingerprint());
        long(&mut b, 36);
        b.extend_from_slice(b"01920000-0000-7000-8000-000000000030");
        long(&mut b, 0);
        long(&mut b, count);
        long(&mut b, 4);
        b.extend_from_slice(&[72; 32]);
        cases.push(("huge array count", b));

        let mut b = header(WorkflowSpec::current().fingerprint());
        long(&mut b, 36);
        b.extend_from_slice(b"01920000-0000-7000-8000-000000000030");
        long(&mut b, 0); // label: null
        long(&mut b, 0); // created_at
        long(&mut b, count); // steps
        long(&mut b, 4);
        b.extend_from_slice(&[2; 64]);
        cases.push(("huge array of records", b));
    }
    // TaskMessage.headers: a map block claiming 2^40 entries.
    let mut task = TaskMessage::new("t", "application/json", vec![]);
    task.published_at = 0;
    let mut b = task.encode().expect("encodes");
    // The last six bytes: headers, trace_context, published_at, origin, ignore_result, args_repr.
    b.truncate(b.len() - 6);
    long(&mut b, 1 << 40);
    b.extend_from_slice(&[2, b'k', 2, b'v']);
    cases.push(("huge map count", b));
    cases
}

#[test]
fn hostile_decodes_allocate_in_proportion_to_the_input_not_to_its_claims() {
    for (label, input) in hostile_inputs() {
        let runs = [
            allocated_by(|| drop(TaskMessage::decode(&input))),
            allocated_by(|| drop(ControlCommand::decode(&input))),
            allocated_by(|| drop(WorkflowSpec::decode(&input))),
        ];
        for used in runs {
            assert!(
                used <= budget(&input),
                "{label}: {used} bytes allocated for {} input bytes",
                input.len()
            );
        }
    }

    // Payloads claiming huge lengths.
    let mut avro = Vec::new();
    long(&mut avro, 1 << 40);
    let mut msgpack = vec![0xdd, 0xff, 0xff, 0xff, 0xff]; // array32 of 2^32 - 1 items
    msgpack.extend_from_slice(&[0xc4, 0x10]);
    let bin32 = [0xc6, 0xff, 0xff, 0xff, 0xf0, 1, 2, 3]; // bin32 of ~4 GiB
    for (label, ct, input) in [
        ("avro array", ContentType::Avro, avro.as_slice()),
        ("msgpack array", ContentType::MsgPack, msgpack.as_slice()),
        ("msgpack bin", ContentType::MsgPack, bin32.as_slice()),
    ] {
        // serde caps what a collection pre-allocates from a length hint at 1 MiB.
        let runs = [
            allocated_by(|| drop(ct.decode::<Vec<Vec<u8>>>(input))),
            allocated_by(|| drop(ct.decode::<Vec<u64>>(input))),
            allocated_by(|| drop(ct.decode::<serde_bytes_like::Buf>(input))),
        ];
        for used in runs {
            assert!(
                used <= budget(input),
                "{label}: {used} bytes allocated for {} input bytes",
                input.len()
            );
        }
    }

    // Over the record cap: refused before any work.
    let big = vec![0u8; DEFAULT_MAX_RECORD_BYTES + 1];
    let used = allocated_by(|| {
        let _ = TaskMessage::decode(&big);
    });
    assert!(
        used < 4096,
        "{used} bytes allocated refusing an over-size record"
    );
}

mod serde_bytes_like {
    /// A byte buffer decoded through `deserialize_byte_buf`.
    #[derive(Debug)]
    pub(crate) struct Buf(#[allow(dead_code)] pub(crate) Vec<u8>);

    impl<'de> serde::Deserialize<'de> for Buf {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            apache_avro::serde_avro_bytes::deserialize(d).map(Buf)
        }
    }
}
