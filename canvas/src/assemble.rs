//! Argument assembly as pure byte functions: a step's bound arguments plus its filled input
//! slots become the arguments its task runs with; a COLLECT step's slots become one list.
//!
//! The coordinator and the reference evaluator both use these, so what the evaluator checks
//! is what the coordinator publishes. Values are spliced, never re-encoded: the bytes of each
//! slot reach the task unchanged. `application/json` (the arguments are a JSON array) and
//! `application/x-msgpack` (a msgpack array) are supported; anything else is refused.

use celeriac_schemas::InputMode;
use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::error::{Error, Result};

/// The JSON content type: arguments are a JSON array of positional arguments.
pub const JSON: &str = "application/json";
/// The msgpack content type: arguments are a msgpack array of positional arguments.
pub const MSGPACK: &str = "application/x-msgpack";

/// The final arguments of a step: its bound arguments with the slot values placed as the
/// input mode says — dropped (`Ignore`), the single slot's value first (`FirstArg`), or all
/// slots as a list first (`ListFirstArg`). `slots` are in slot order.
///
/// ```
/// use celeriac_canvas::assemble_args;
/// use celeriac_schemas::InputMode;
/// let args = assemble_args("application/json", b"[8]", InputMode::FirstArg, &[b"4"]).unwrap();
/// assert_eq!(args, b"[4,8]");
/// let args = assemble_args("application/json", b"[]", InputMode::ListFirstArg, &[b"1", b"2"]).unwrap();
/// assert_eq!(args, b"[[1,2]]");
/// ```
pub fn assemble_args<S: AsRef<[u8]>>(
    content_type: &str,
    bound_args: &[u8],
    mode: InputMode,
    slots: &[S],
) -> Result<Vec<u8>> {
    match mode {
        InputMode::Ignore => {
            check_args_array(content_type, bound_args)?;
            Ok(bound_args.to_vec())
        }
        InputMode::FirstArg => match slots {
            [value] => prepend_arg(content_type, bound_args, value.as_ref()),
            _ => Err(malformed(
                content_type,
                "exactly 1 input slot for FIRST_ARG".into(),
                format!("{} slots", slots.len()),
            )),
        },
        InputMode::ListFirstArg => {
            let list = collect_list(content_type, slots)?;
            prepend_arg(content_type, bound_args, &list)
        }
    }
}

/// Puts one encoded value in front of an encoded argument array.
pub fn prepend_arg(content_type: &str, bound_args: &[u8], value: &[u8]) -> Result<Vec<u8>> {
    match content_type {
        JSON => json::prepend(bound_args, value),
        MSGPACK => msgpack::prepend(bound_args, value),
        other => Err(Error::UnsupportedContentType(other.to_string())),
    }
}

/// Encodes values, in order, as one list: the result of a COLLECT step.
///
/// ```
/// use celeriac_canvas::collect_list;
/// assert_eq!(collect_list("application/json", &[&b"1"[..], b"[2]"]).unwrap(), b"[1,[2]]");
/// ```
pub fn collect_list<S: AsRef<[u8]>>(content_type: &str, items: &[S]) -> Result<Vec<u8>> {
    match content_type {
        JSON => json::list(items),
        MSGPACK => msgpack::list(items),
        other => Err(Error::UnsupportedContentType(other.to_string())),
    }
}

/// Checks that bytes are one argument array in the content type.
pub fn check_args_array(content_type: &str, bytes: &[u8]) -> Result<()> {
    match content_type {
        JSON => json::array_inner(bytes).map(drop),
        MSGPACK => msgpack::array_header(bytes).map(drop),
        other => Err(Error::UnsupportedContentType(other.to_string())),
    }
}

/// An [`Error::MalformedArgs`].
fn malformed(content_type: &str, expected: String, seen: String) -> Error {
    Error::MalformedArgs {
        content_type: content_type.to_string(),
        expected,
        seen,
    }
}

/// The start of some bytes, for error messages.
fn preview(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(40)];
    let text = String::from_utf8_lossy(cut);
    if bytes.len() > cut.len() {
        format!("`{text}...`")
    } else {
        format!("`{text}`")
    }
}

/// JSON splicing: arrays are cut at their brackets, values checked and copied verbatim.
mod json {
    use super::*;

    /// One JSON value, trimmed of surrounding whitespace.
    pub(super) fn value(bytes: &[u8]) -> Result<&[u8]> {
        serde_json::from_slice::<IgnoredAny>(bytes).map_err(|e| {
            malformed(
                JSON,
                "one JSON value".into(),
                format!("{} ({e})", preview(bytes)),
            )
        })?;
        Ok(bytes.trim_ascii())
    }

    /// The text between the brackets of a JSON array, trimmed.
    pub(super) fn array_inner(bytes: &[u8]) -> Result<&[u8]> {
        let trimmed = value(bytes)?;
        match trimmed {
            [b'[', inner @ .., b']'] => Ok(inner.trim_ascii()),
            _ => Err(malformed(
                JSON,
                "a JSON array of positional arguments".into(),
                preview(bytes),
            )),
        }
    }

    pub(super) fn prepend(bound_args: &[u8], first: &[u8]) -> Result<Vec<u8>> {
        let inner = array_inner(bound_args)?;
        let first = value(first)?;
        let mut out = Vec::with_capacity(first.len() + inner.len() + 3);
        out.push(b'[');
        out.extend_from_slice(first);
        if !inner.is_empty() {
            out.push(b',');
            out.extend_from_slice(inner);
        }
        out.push(b']');
        Ok(out)
    }

    pub(super) fn list<S: AsRef<[u8]>>(items: &[S]) -> Result<Vec<u8>> {
        let total: usize = items.iter().map(|i| i.as_ref().len() + 1).sum();
        let mut out = Vec::with_capacity(total + 2);
        out.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(value(item.as_ref())?);
        }
        out.push(b']');
        Ok(out)
    }
}

/// Msgpack splicing: the array header is rewritten, values checked and copied verbatim.
mod msgpack {
    use super::*;

    /// Checks that bytes are exactly one msgpack value.
    pub(super) fn value(bytes: &[u8]) -> Result<&[u8]> {
        let mut rest = bytes;
        let parsed = IgnoredAny::deserialize(&mut rmp_serde::Deserializer::new(&mut rest));
        match parsed {
            Ok(_) if rest.is_empty() => Ok(bytes),
            Ok(_) => Err(malformed(
                MSGPACK,
                "one msgpack value".into(),
                format!("{} trailing byte(s)", rest.len()),
            )),
            Err(e) => Err(malformed(
                MSGPACK,
                "one msgpack value".into(),
                e.to_string(),
            )),
        }
    }

    /// An array's length and the bytes after its header.
    pub(super) fn array_header(bytes: &[u8]) -> Result<(usize, &[u8])> {
        let bytes = value(bytes)?;
        let header = match bytes {
            [b @ 0x90..=0x9f, rest @ ..] => Some(((b & 0x0f) as usize, rest)),
            [0xdc, a, b, rest @ ..] => Some((u16::from_be_bytes([*a, *b]) as usize, rest)),
            [0xdd, a, b, c, d, rest @ ..] => {
                Some((u32::from_be_bytes([*a, *b, *c, *d]) as usize, rest))
            }
            _ => None,
        };
        header.ok_or_else(|| {
            malformed(
                MSGPACK,
                "a msgpack array of positional arguments".into(),
                format!("first byte {:#04x}", bytes.first().copied().unwrap_or(0)),
            )
        })
    }

    /// Writes an array header for `len` elements.
    fn write_header(out: &mut Vec<u8>, len: usize) -> Result<()> {
        if len <= 15 {
            out.push(0x90 | len as u8);
        } else if let Ok(len) = u16::try_from(len) {
            out.push(0xdc);
            out.extend_from_slice(&len.to_be_bytes());
        } else {
            let len = u32::try_from(len).map_err(|_| {
                malformed(MSGPACK, "at most 2^32-1 elements".into(), len.to_string())
            })?;
            out.push(0xdd);
            out.extend_from_slice(&len.to_be_bytes());
        }
        Ok(())
    }

    pub(super) fn prepend(bound_args: &[u8], first: &[u8]) -> Result<Vec<u8>> {
        let (len, body) = array_header(bound_args)?;
        let first = value(first)?;
        let mut out = Vec::with_capacity(first.len() + body.len() + 5);
        write_header(&mut out, len + 1)?;
        out.extend_from_slice(first);
        out.extend_from_slice(body);
        Ok(out)
    }

    pub(super) fn list<S: AsRef<[u8]>>(items: &[S]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        write_header(&mut out, items.len())?;
        for item in items {
            out.extend_from_slice(value(item.as_ref())?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    #[test]
    fn json_ignore_keeps_bound_args() {
        let args = assemble_args(JSON, b" [2, 3] ", InputMode::Ignore, &[b"9"]).unwrap();
        assert_eq!(args, b" [2, 3] ");
    }

    #[test]
    fn json_first_arg_into_empty_args_and_whitespace() {
        let args = assemble_args(JSON, b" [ ] ", InputMode::FirstArg, &[b" {\"a\":1} "]).unwrap();
        assert_eq!(args, b"[{\"a\":1}]");
    }

    #[test]
    fn json_values_are_spliced_verbatim() {
        let args = assemble_args(JSON, b"[1e2]", InputMode::FirstArg, &[b"1.50"]).unwrap();
        assert_eq!(args, b"[1.50,1e2]");
    }

    #[test]
    fn json_empty_list_first() {
        let none: [&[u8]; 0] = [];
        let args = assemble_args(JSON, b"[1]", InputMode::ListFirstArg, &none).unwrap();
        assert_eq!(args, b"[[],1]");
    }

    #[test]
    fn json_refuses_non_arrays_and_bad_values() {
        let err = assemble_args(JSON, b"{}", InputMode::FirstArg, &[b"1"]).unwrap_err();
        assert!(err.to_string().contains("expected a JSON array"), "{err}");
        let err = assemble_args(JSON, b"[]", InputMode::FirstArg, &[b"1 2"]).unwrap_err();
        assert!(err.to_string().contains("expected one JSON value"), "{err}");
        let err = assemble_args(JSON, b"[]", InputMode::FirstArg, &[b"1", b"2"]).unwrap_err();
        assert!(err.to_string().contains("exactly 1 input slot"), "{err}");
    }

    #[test]
    fn other_content_types_are_refused() {
        let err = assemble_args(
            "application/x-python-pickle",
            b"",
            InputMode::Ignore,
            &[b""],
        );
        assert!(matches!(err, Err(Error::UnsupportedContentType(_))));
    }

    fn mp(value: &Value) -> Vec<u8> {
        rmp_serde::to_vec(value).unwrap()
    }

    fn unmp(bytes: &[u8]) -> Value {
        rmp_serde::from_slice(bytes).unwrap()
    }

    #[test]
    fn msgpack_prepend_and_list() {
        let bound = mp(&json!([8, "x"]));
        let first = mp(&json!({"a": [1, 2]}));
        let args = assemble_args(MSGPACK, &bound, InputMode::FirstArg, &[&first]).unwrap();
        assert_eq!(unmp(&args), json!([{"a": [1, 2]}, 8, "x"]));
        let items: Vec<Vec<u8>> = (0..20).map(|i| mp(&json!(i))).collect();
        let args = assemble_args(MSGPACK, &mp(&json!([])), InputMode::ListFirstArg, &items);
        let expected: Vec<i32> = (0..20).collect();
        assert_eq!(unmp(&args.unwrap()), json!([expected]));
    }

    #[test]
    fn msgpack_header_grows_past_fixarray() {
        let bound = mp(&json!((0..15).collect::<Vec<i32>>()));
        let args = prepend_arg(MSGPACK, &bound, &mp(&json!(-1))).unwrap();
        let mut expected = vec![-1];
        expected.extend(0..15);
        assert_eq!(unmp(&args), json!(expected));
    }

    #[test]
    fn msgpack_refuses_trailing_bytes_and_non_arrays() {
        let mut bound = mp(&json!([1]));
        bound.push(0x01);
        assert!(check_args_array(MSGPACK, &bound).is_err());
        assert!(check_args_array(MSGPACK, &mp(&json!(3))).is_err());
    }
}
