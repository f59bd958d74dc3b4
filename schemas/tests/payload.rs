//! Payload codecs: every content type round-trips typed values; `application/avro` writes the
//! bytes apache-avro writes under the type's derived schema; pickle and unknown types are
//! refused with errors that say why.

use std::collections::HashMap;

use apache_avro::AvroSchema;
use celeriac_schemas::payload::{self, ContentType};
use celeriac_schemas::{Error, Limits};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
enum Color {
    Red,
    Green,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
struct Inner {
    label: Option<String>,
    weights: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
struct Args {
    x: i64,
    y: i32,
    ok: bool,
    name: String,
    /// apache-avro's derive makes `Vec<u8>` an array of ints (it ignores serde's `with`), and so
    /// does our codec without a bytes helper.
    blob: Vec<u8>,
    color: Color,
    inner: Inner,
    tags: HashMap<String, i64>,
    maybe: Option<Inner>,
    ratio: f32,
}

/// Floats every codec round-trips exactly (serde_json's default float parsing is not exact).
fn nice_float() -> impl Strategy<Value = f64> {
    (-100_000i32..100_000).prop_map(|i| f64::from(i) / 64.0)
}

prop_compose! {
    fn inner()(label in proptest::option::of(".*"), weights in proptest::collection::vec(nice_float(), 0..4)) -> Inner {
        Inner { label, weights }
    }
}

prop_compose! {
    fn args()(
        x in any::<i64>(), y in any::<i32>(), ok in any::<bool>(), name in ".*",
        blob in proptest::collection::vec(any::<u8>(), 0..32),
        color in prop_oneof![Just(Color::Red), Just(Color::Green)],
        inner in inner(),
        tags in proptest::collection::hash_map(".{0,4}", any::<i64>(), 0..2),
        maybe in proptest::option::of(inner()),
        ratio in nice_float().prop_map(|f| f as f32),
    ) -> Args {
        Args { x, y, ok, name, blob, color, inner, tags, maybe, ratio }
    }
}

proptest! {
    #[test]
    fn every_content_type_round_trips(args in args()) {
        for ct in ContentType::ALL {
            let bytes = payload::encode(ct, &args).expect("encodes");
            let back: Args = payload::decode(ct, &bytes).expect("decodes");
            prop_assert_eq!(&back, &args, "{}", ct);
        }
    }

    #[test]
    fn avro_payloads_are_apache_avros_bytes_under_the_derived_schema(args in args()) {
        apache_avro::util::set_serde_human_readable(true);
        let schema = Args::get_schema();
        let value = apache_avro::to_value(&args).expect("to_value").resolve(&schema).expect("fits the derived schema");
        let theirs = apache_avro::to_avro_datum(&schema, value).expect("apache-avro encodes");
        let ours = ContentType::Avro.encode(&args).expect("encodes");
        prop_assert_eq!(&ours, &theirs);
        let mut body = theirs.as_slice();
        let decoded = apache_avro::from_avro_datum(&schema, &mut body, None).expect("apache-avro decodes ours");
        prop_assert_eq!(apache_avro::from_value::<Args>(&decoded).expect("maps back"), args);
    }
}

#[test]
fn tuples_and_celery_style_json_arguments() {
    let json = payload::encode(ContentType::Json, &(2, "three", [4.5])).expect("encodes");
    assert_eq!(json, br#"[2,"three",[4.5]]"#);
    let (a, b, c): (i64, String, Vec<f64>) =
        payload::decode(ContentType::Json, &json).expect("decodes");
    assert_eq!((a, b.as_str(), c), (2, "three", vec![4.5]));
    // An Avro tuple is a record of its elements in order: no framing at all.
    assert_eq!(
        ContentType::Avro.encode(&(1i64, true)).expect("encodes"),
        [2, 1]
    );
}

#[test]
fn decode_errors_say_what_was_expected_and_seen() {
    let err =
        payload::decode::<(i64, i64)>(ContentType::Json, br#"["a", 1]"#).expect_err("wrong type");
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            Error::PayloadDecode {
                content_type: "application/json",
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("expected i64") && msg.contains("\"a\""),
        "{msg}"
    );

    let err = payload::decode::<String>(ContentType::Avro, &[0x7f]).expect_err("bad length");
    assert!(err.to_string().contains("non-negative length"), "{err}");

    let err = payload::decode::<u8>(ContentType::MsgPack, &[0xc1]).expect_err("reserved byte");
    assert!(
        err.to_string()
            .starts_with("cannot decode application/x-msgpack payload into u8"),
        "{err}"
    );
}

#[test]
fn pickle_and_unknown_content_types_are_refused() {
    for pickle in [
        "application/x-python-serialize",
        "APPLICATION/X-PYTHON-SERIALIZE; charset=binary",
    ] {
        match ContentType::parse(pickle) {
            Err(Error::RefusedContentType { why, .. }) => assert!(why.contains("executes code")),
            other => panic!("{pickle}: {other:?}"),
        }
    }
    let err = "text/yaml".parse::<ContentType>().expect_err("unknown");
    assert_eq!(
        err.to_string(),
        "unknown content type: expected application/avro, application/json or application/x-msgpack, saw \"text/yaml\""
    );
}

#[test]
fn payload_size_is_capped() {
    let limits = Limits::default().with_max_record_bytes(8);
    let err = ContentType::Json
        .decode_with::<String>(b"\"0123456789\"", &limits)
        .expect_err("too big");
    assert!(
        matches!(
            err,
            Error::OverSize {
                max: 8,
                seen: 12,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn what_avro_cannot_hold_is_an_encode_error() {
    #[derive(Serialize)]
    struct Sparse {
        #[serde(skip_serializing_if = "Option::is_none")]
        a: Option<i32>,
    }
    let err = ContentType::Avro
        .encode(&Sparse { a: None })
        .expect_err("skipped field");
    assert!(
        matches!(err, Error::Encode { .. }) && err.to_string().contains("skip"),
        "{err}"
    );
    let err = ContentType::Avro
        .encode(&u64::MAX)
        .expect_err("past a long");
    assert!(err.to_string().contains("past a long"), "{err}");
}
