//! Strict JSON for signed metadata, and securesystemslib canonical JSON.
//!
//! Metadata (TUF roots, in-toto layouts and links) is parsed once into
//! [`Json`]: duplicate object keys, floats, integers outside i64/u64 and
//! trailing bytes are refused. Signatures are checked over
//! [`Json::canonical`] of the *raw* `signed` object as received, so unknown
//! fields stay covered.
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

/// A parsed JSON value with integers only and unique object keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Json {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An integer (fits i64 or u64).
    Int(i128),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object; keys sorted by code point (byte order of UTF-8).
    Obj(BTreeMap<String, Json>),
}

/// Why a document is not acceptable JSON metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError(pub String);

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Json {
    /// Parses `bytes` as one strict JSON document (no trailing data).
    pub fn parse(bytes: &[u8]) -> Result<Json, JsonError> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let value = de::Deserialize::deserialize(&mut de)
            .map_err(|e: serde_json::Error| JsonError(e.to_string()))?;
        de.end()
            .map_err(|e| JsonError(format!("trailing data: {e}")))?;
        Ok(value)
    }

    /// The securesystemslib canonical encoding: sorted keys, no whitespace,
    /// only `\` and `"` escaped, UTF-8.
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_canonical(&mut out);
        out
    }

    /// Appends the canonical encoding to `out`.
    pub(crate) fn write_canonical(&self, out: &mut Vec<u8>) {
        match self {
            Json::Null => out.extend_from_slice(b"null"),
            Json::Bool(true) => out.extend_from_slice(b"true"),
            Json::Bool(false) => out.extend_from_slice(b"false"),
            Json::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
            Json::Str(s) => write_canonical_str(s, out),
            Json::Arr(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write_canonical(out);
                }
                out.push(b']');
            }
            Json::Obj(map) => {
                out.push(b'{');
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_canonical_str(k, out);
                    out.push(b':');
                    v.write_canonical(out);
                }
                out.push(b'}');
            }
        }
    }

    /// Converts to a `serde_json::Value`.
    pub fn to_value(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Int(i) => {
                if let Ok(v) = i64::try_from(*i) {
                    Value::from(v)
                } else {
                    Value::from(u64::try_from(*i).unwrap_or(u64::MAX))
                }
            }
            Json::Str(s) => Value::String(s.clone()),
            Json::Arr(a) => Value::Array(a.iter().map(Json::to_value).collect()),
            Json::Obj(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_value())).collect())
            }
        }
    }

    /// Compact, valid JSON (keys sorted, control characters escaped): what
    /// a DSSE payload carries. (Canonical JSON leaves control characters
    /// raw, which JSON parsers refuse, so it is only for signing.)
    pub fn to_compact(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Pretty JSON text with a trailing newline (keys sorted).
    pub fn to_pretty(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// The object's map, if this is an object.
    pub fn as_obj(&self) -> Option<&BTreeMap<String, Json>> {
        match self {
            Json::Obj(m) => Some(m),
            _ => None,
        }
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Int(_) => "an integer",
            Json::Str(_) => "a string",
            Json::Arr(_) => "an array",
            Json::Obj(_) => "an object",
        }
    }
}

/// Serialized as [`Json::to_value`] would be (keys in the same sorted
/// order, integers outside i64 as u64), without building that tree: how
/// [`Json::to_pretty`] and [`Json::to_compact`] write a 100,000-artifact link.
impl serde::Serialize for Json {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Int(i) => match i64::try_from(*i) {
                Ok(v) => s.serialize_i64(v),
                Err(_) => s.serialize_u64(u64::try_from(*i).unwrap_or(u64::MAX)),
            },
            Json::Str(v) => s.serialize_str(v),
            Json::Arr(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Obj(map) => {
                let mut m = s.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
    }
}

/// Appends `s` as a canonical JSON string.
pub(crate) fn write_canonical_str(s: &str, out: &mut Vec<u8>) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    // Copied a run at a time: most strings (paths, hex) have nothing to
    // escape, and a large link is mostly such strings.
    let mut rest = s.as_bytes();
    while let Some(i) = rest.iter().position(|&b| b == b'"' || b == b'\\') {
        out.extend_from_slice(&rest[..i]);
        out.push(b'\\');
        out.push(rest[i]);
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

/// Parses `bytes` as one ordinary JSON document: numbers of any form
/// (`2.0`, `7.8`, `1e3`, big integers) as RFC 8259 allows, for documents
/// that are signed as bytes rather than as canonical JSON (the payloads of
/// in-toto attestations). Duplicate object keys and trailing bytes are
/// still refused: two parsers must never read two different documents.
pub fn parse_ordinary(bytes: &[u8]) -> Result<serde_json::Value, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let UniqueKeys = de::Deserialize::deserialize(&mut de)
        .map_err(|e: serde_json::Error| JsonError(e.to_string()))?;
    de.end()
        .map_err(|e| JsonError(format!("trailing data: {e}")))?;
    serde_json::from_slice(bytes).map_err(|e| JsonError(e.to_string()))
}

/// A JSON document checked for duplicate object keys at every depth,
/// holding nothing.
struct UniqueKeys;

impl<'de> de::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<UniqueKeys, D::Error> {
        d.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while let Some(UniqueKeys) = seq.next_element()? {}
        Ok(UniqueKeys)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = std::collections::BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let UniqueKeys = map.next_value()?;
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!(
                    "duplicate key {}",
                    crate::excerpt(&key)
                )));
            }
        }
        Ok(UniqueKeys)
    }
}

impl<'de> de::Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Int(v.into()))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Json, E> {
        Err(E::custom(
            "floating-point numbers are not allowed in signed metadata",
        ))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Arr(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let value: Json = map.next_value()?;
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "duplicate key {}",
                    crate::excerpt(&key)
                )));
            }
            out.insert(key, value);
        }
        Ok(Json::Obj(out))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn ordinary_json_takes_floats_but_not_duplicate_keys() {
        let v = parse_ordinary(br#"{"cvss":7.8,"specVersion":2.0,"n":[1e3,{"a":1}]}"#).unwrap();
        assert_eq!(v["cvss"], serde_json::json!(7.8));
        let e = parse_ordinary(br#"{"a":{"b":1,"b":2}}"#).unwrap_err();
        assert!(e.0.contains("duplicate key"), "{e}");
        assert!(parse_ordinary(br#"{"a":[{"x":1},{"x":2,"x":3}]}"#).is_err());
        assert!(parse_ordinary(br#"{} {}"#).is_err());
    }

    use super::*;

    #[test]
    fn canonical_matches_securesystemslib() {
        let j = Json::parse(br#"{"b": [1, -2, "x\"y\\z\n\u00e9"], "a": {"z": null, "y": true}}"#)
            .unwrap();
        assert_eq!(
            j.canonical(),
            "{\"a\":{\"y\":true,\"z\":null},\"b\":[1,-2,\"x\\\"y\\\\z\n\u{e9}\"]}".as_bytes()
        );
    }

    #[test]
    fn strings_escape_only_quote_and_backslash_wherever_they_are() {
        for (s, want) in [
            ("", r#""""#),
            ("plain/path.txt", r#""plain/path.txt""#),
            ("\"", r#""\"""#),
            ("\\\\", r#""\\\\""#),
            ("\"a\\", r#""\"a\\""#),
            ("a\"\"b\\", r#""a\"\"b\\""#),
            ("\n\u{e9}", "\"\n\u{e9}\""),
        ] {
            let mut out = Vec::new();
            write_canonical_str(s, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), want, "{s:?}");
        }
    }

    #[test]
    fn keys_sort_by_code_point() {
        let j = Json::parse("{\"\u{e9}\":1,\"z\":2,\"Z\":3}".as_bytes()).unwrap();
        assert_eq!(j.canonical(), "{\"Z\":3,\"z\":2,\"\u{e9}\":1}".as_bytes());
    }

    #[test]
    fn refusals() {
        assert!(
            Json::parse(br#"{"a":1,"a":2}"#)
                .unwrap_err()
                .0
                .contains("duplicate key")
        );
        assert!(
            Json::parse(br#"{"a":1.5}"#)
                .unwrap_err()
                .0
                .contains("floating-point")
        );
        assert!(Json::parse(br#"{"a":1e3}"#).is_err());
        assert!(Json::parse(br#"{"a":123456789012345678901234567890}"#).is_err());
        assert!(
            Json::parse(br#"{"a":1} x"#)
                .unwrap_err()
                .0
                .contains("trailing")
        );
        assert!(Json::parse(br#"{"a":1}  "#).is_ok());
    }

    #[test]
    fn pretty_and_compact_are_written_as_through_a_serde_json_value() {
        let doc = br#"{"z":[1,-9223372036854775808,18446744073709551615,0],"a":{"\u00e9":"\"q\" \\ \u0001\t\u2028","":null,"b":[true,false,[],{}]},"\u0000":"x"}"#;
        let j = Json::parse(doc).unwrap();
        let v = j.to_value();
        assert_eq!(j.to_compact(), serde_json::to_vec(&v).unwrap());
        let mut pretty = serde_json::to_string_pretty(&v).unwrap();
        pretty.push('\n');
        assert_eq!(j.to_pretty(), pretty);
    }
}
