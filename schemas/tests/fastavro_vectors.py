"""Cross-language check with an independent Avro implementation (fastavro).

Usage: fastavro_vectors.py HISTORY_DIR VECTORS_DIR OUT_DIR

For every golden vector VECTORS_DIR/<Record>.v<N>.<case>.bin (with <case>.json beside it):
  1. the header must be C3 01 followed by fastavro's CRC-64-AVRO fingerprint of
     HISTORY_DIR/<Record>.v<N>.avsc (little-endian);
  2. fastavro must decode the body with that schema to the record in the .json file;
  3. fastavro writes the .json record itself, single-object encoded, to OUT_DIR/<same name>.bin
     for the Rust test to decode.
Prints one line per failure and ends with "fastavro: N passed, M failed"; exits 1 on any failure.
"""

import datetime
import io
import json
import sys
import uuid
from pathlib import Path

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def normalize(value):
    """fastavro's decoded value in the JSON shapes serde_json gives the Rust record."""
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, bytes):
        return list(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime.datetime):
        return (value - EPOCH) // datetime.timedelta(milliseconds=1)
    return value


def to_datum(value, schema, named):
    """The JSON record as fastavro wants it: bytes fields from lists of ints to bytes."""
    if isinstance(schema, str):
        if schema == "bytes":
            return bytes(value)
        if schema in named:
            return to_datum(value, named[schema], named)
        return value
    if isinstance(schema, list):
        if value is None:
            return None
        branch = next(s for s in schema if s != "null")
        return to_datum(value, branch, named)
    kind = schema["type"]
    if kind == "record":
        named[schema["name"]] = schema
        return {f["name"]: to_datum(value[f["name"]], f["type"], named) for f in schema["fields"]}
    if kind == "array":
        return [to_datum(v, schema["items"], named) for v in value]
    if kind == "map":
        return {k: to_datum(v, schema["values"], named) for k, v in value.items()}
    if kind == "bytes":
        return bytes(value)
    if kind == "enum":
        named[schema["name"]] = schema
    return value


def main(history, vectors, out):
    passed, failed = 0, 0
    for bin_path in sorted(vectors.glob("*.bin")):
        stem = bin_path.name[: -len(".bin")]
        record, version, _case = stem.split(".")
        raw_schema = json.loads((history / f"{record}.{version}.avsc").read_text())
        schema = fastavro.parse_schema(raw_schema)
        fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))
        expected = json.loads(bin_path.with_suffix(".json").read_text())
        data = bin_path.read_bytes()
        problems = []
        if data[:2] != b"\xc3\x01":
            problems.append(f"magic {data[:2].hex()}")
        if data[2:10] != fp:
            problems.append(f"fingerprint {data[2:10].hex()}, fastavro computes {fp.hex()}")
        body = io.BytesIO(data[10:])
        decoded = normalize(fastavro.schemaless_reader(body, schema))
        if body.read():
            problems.append("trailing bytes after the record")
        wanted = {k: expected[k] for k in decoded}
        if decoded != wanted:
            problems.append(f"decoded {decoded!r}, expected {wanted!r}")

        written = io.BytesIO()
        written.write(b"\xc3\x01" + fp)
        named = {}
        fastavro.schemaless_writer(written, schema, to_datum(expected, raw_schema, named))
        (out / bin_path.name).write_bytes(written.getvalue())

        if problems:
            failed += 1
            print(f"{stem}: " + "; ".join(problems))
        else:
            passed += 1
    print(f"fastavro: {passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(*(Path(a) for a in sys.argv[1:4])))
