//! The canonical encoding of journal records (`docs/journal-format.md`,
//! "Canonical encoding"): compact JSON, object keys sorted by their UTF-8
//! bytes, integers only (0 to 2^53 - 1), strings escaped exactly as
//! specified. For these values it is the same byte string as RFC 8785 (JCS)
//! and as Python's `json.dumps(v, sort_keys=True, separators=(",", ":"),
//! ensure_ascii=False)`.
use serde_json::Value;

/// The largest integer a record may hold (2^53 - 1: exact in every JSON
/// implementation).
pub const MAX_INT: u64 = (1 << 53) - 1;

/// Encodes `v` canonically; refuses floats, negative numbers and integers
/// above [`MAX_INT`].
pub fn encode(v: &Value) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(512);
    write(v, &mut out)?;
    Ok(out)
}

fn write(v: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => match n.as_u64() {
            Some(i) if i <= MAX_INT => out.extend_from_slice(i.to_string().as_bytes()),
            _ => return Err(format!("number {n} is not an integer from 0 to 2^53-1")),
        },
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                write(&map[k], out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorted_compact_and_escaped_as_specified() {
        let v = json!({"b": [1, "x\"y\\z\n\t\u{1}\u{7f}é/"], "a": {"z": null, "y": true}, "B": 0});
        assert_eq!(
            String::from_utf8(encode(&v).unwrap()).unwrap(),
            "{\"B\":0,\"a\":{\"y\":true,\"z\":null},\"b\":[1,\"x\\\"y\\\\z\\n\\t\\u0001\u{7f}é/\"]}"
        );
    }

    #[test]
    fn keys_sort_by_utf8_bytes() {
        let v = json!({"é": 1, "z": 2, "Z": 3, "": 4});
        assert_eq!(
            String::from_utf8(encode(&v).unwrap()).unwrap(),
            "{\"\":4,\"Z\":3,\"z\":2,\"é\":1}"
        );
    }

    #[test]
    fn only_safe_non_negative_integers() {
        assert!(encode(&json!(1.5)).is_err());
        assert!(encode(&json!(-1)).is_err());
        assert!(encode(&json!(MAX_INT + 1)).is_err());
        assert_eq!(encode(&json!(MAX_INT)).unwrap(), b"9007199254740991");
    }
}
