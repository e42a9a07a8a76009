//! Link files, parsed in one pass from their text: the envelope (Metablock
//! or DSSE) with the signed link's `materials` and `products` going straight
//! into [`Artifacts`], never through a generic JSON tree. Links are the
//! bulk of a supply chain's metadata (a step over 100,000 files writes a
//! link of 100,000 entries), so this is what keeps verification linear and
//! small. The checks are those of [`envelope::parse`] and [`Link::parse`]:
//! strict JSON (no duplicate keys, no floats, no trailing data) at every
//! level, hex digests, the in-toto DSSE payload type. The Metablock
//! signatures are checked over canonical JSON written from the parsed
//! fields, byte for byte what the generic path writes for the raw `signed`
//! object (unknown fields included).
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

use super::artifacts::{Artifacts, ArtifactsSeed};
use super::envelope::{self, Encoding, Signature};
use super::model::Link;
use crate::json::{Json, write_canonical_str};
use crate::keys::KeyObject;

/// The fields of a signed object (`signed`, or a DSSE payload).
#[derive(Debug, Default)]
struct Fields {
    /// Everything but the artifact lists.
    json: BTreeMap<String, Json>,
    materials: Option<Artifacts>,
    products: Option<Artifacts>,
}

impl Fields {
    /// An upper bound of the canonical encoding's length (exact for the
    /// artifact lists, which are nearly all of it).
    fn canonical_len(&self) -> usize {
        let json: usize = self
            .json
            .iter()
            .map(|(k, v)| {
                let mut out = Vec::new();
                v.write_canonical(&mut out);
                k.len() * 2 + 4 + out.len()
            })
            .sum();
        let artifacts = |a: &Option<Artifacts>| a.as_ref().map_or(0, |a| 13 + a.canonical_len());
        2 + json + artifacts(&self.materials) + artifacts(&self.products)
    }

    fn write_canonical(&self, out: &mut Vec<u8>) {
        enum Value<'a> {
            Json(&'a Json),
            Artifacts(&'a Artifacts),
        }
        let mut all: Vec<(&str, Value<'_>)> = self
            .json
            .iter()
            .map(|(k, v)| (k.as_str(), Value::Json(v)))
            .collect();
        all.extend(
            self.materials
                .as_ref()
                .map(|a| ("materials", Value::Artifacts(a))),
        );
        all.extend(
            self.products
                .as_ref()
                .map(|a| ("products", Value::Artifacts(a))),
        );
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        out.push(b'{');
        for (i, (k, v)) in all.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_canonical_str(k, out);
            out.push(b':');
            match v {
                Value::Json(j) => j.write_canonical(out),
                Value::Artifacts(a) => a.write_canonical(out),
            }
        }
        out.push(b'}');
    }
}

struct FieldsSeed;

impl<'de> DeserializeSeed<'de> for FieldsSeed {
    type Value = Fields;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Fields, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldsSeed {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut fields = Fields::default();
        while let Some(key) = map.next_key::<String>()? {
            let duplicate = match key.as_str() {
                "materials" => fields
                    .materials
                    .replace(map.next_value_seed(ArtifactsSeed("materials"))?)
                    .is_some(),
                "products" => fields
                    .products
                    .replace(map.next_value_seed(ArtifactsSeed("products"))?)
                    .is_some(),
                _ => {
                    let value: Json = map.next_value()?;
                    fields.json.insert(key.clone(), value).is_some()
                }
            };
            if duplicate {
                return Err(de::Error::custom(format!(
                    "duplicate key {}",
                    crate::excerpt(&key)
                )));
            }
        }
        Ok(fields)
    }
}

/// The top level of an envelope, before deciding which kind it is.
#[derive(Default)]
struct Top {
    signed: Option<Fields>,
    signatures: Option<Json>,
    payload: Option<Json>,
    payload_type: Option<Json>,
}

impl<'de> de::Deserialize<'de> for Top {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Top, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Top;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top, A::Error> {
                let mut top = Top::default();
                let mut seen = std::collections::BTreeSet::new();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "signed" => top.signed = Some(map.next_value_seed(FieldsSeed)?),
                        "signatures" => top.signatures = Some(map.next_value()?),
                        "payload" => top.payload = Some(map.next_value()?),
                        "payloadType" => top.payload_type = Some(map.next_value()?),
                        _ => {
                            map.next_value::<Json>()?;
                        }
                    }
                    if !seen.insert(key.clone()) {
                        return Err(de::Error::custom(format!(
                            "duplicate key {}",
                            crate::excerpt(&key)
                        )));
                    }
                }
                Ok(top)
            }
        }
        d.deserialize_map(V)
    }
}

fn strict<'de, T>(
    bytes: &'de [u8],
    seed: impl DeserializeSeed<'de, Value = T>,
) -> Result<T, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = seed.deserialize(&mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| format!("trailing data: {e}"))?;
    Ok(value)
}

/// A parsed link file.
#[derive(Debug)]
pub struct LinkFile {
    fields: Fields,
    /// The signatures, in document order.
    pub signatures: Vec<Signature>,
    /// The envelope kind.
    pub encoding: Encoding,
    /// DSSE: the pre-authentication encoding the signatures cover.
    /// (Metablock: the canonical JSON is written when a signature is checked.)
    pae: Option<Vec<u8>>,
}

impl LinkFile {
    /// Parses a Metablock or DSSE envelope (whatever `_type` it holds).
    pub fn parse(bytes: &[u8]) -> Result<LinkFile, String> {
        let top: Top = strict(bytes, std::marker::PhantomData)?;
        if let Some(payload) = top.payload {
            let (payload_type, body) = envelope::dsse_body(top.payload_type.as_ref(), &payload)?;
            let signatures = envelope::signatures(
                top.signatures.as_ref(),
                envelope::b64_decode,
                envelope::KeyIds::Unique,
            )?;
            let fields = strict(&body, FieldsSeed).map_err(|e| {
                if e.starts_with("invalid type") {
                    "DSSE payload is not a JSON object".to_owned()
                } else {
                    format!("DSSE payload: {e}")
                }
            })?;
            return Ok(LinkFile {
                fields,
                signatures,
                encoding: Encoding::Dsse,
                pae: Some(envelope::pae(payload_type, &body)),
            });
        }
        if let Some(fields) = top.signed {
            let signatures = envelope::signatures(
                top.signatures.as_ref(),
                |s| hex::decode(s).map_err(|_| "signature is not hex".to_owned()),
                envelope::KeyIds::MayRepeat,
            )?;
            return Ok(LinkFile {
                fields,
                signatures,
                encoding: Encoding::Metablock,
                pae: None,
            });
        }
        Err("neither a Metablock (`signed`) nor a DSSE envelope (`payload`)".into())
    }

    /// The payload's `_type` (empty when absent).
    pub fn payload_type(&self) -> &str {
        self.fields
            .json
            .get("_type")
            .and_then(Json::as_str)
            .unwrap_or("")
    }

    /// The exact bytes the signatures cover.
    pub fn message(&self) -> Cow<'_, [u8]> {
        self.message_in(Vec::new())
    }

    /// [`Self::message`], a Metablock's canonical form written into `buf`
    /// (cleared first; reserved to size once: the message can be tens of
    /// megabytes, and growing it by doubling leaves the heap fragmented).
    fn message_in(&self, mut buf: Vec<u8>) -> Cow<'_, [u8]> {
        match &self.pae {
            Some(pae) => Cow::Borrowed(pae),
            None => {
                buf.clear();
                buf.reserve(self.fields.canonical_len());
                self.fields.write_canonical(&mut buf);
                Cow::Owned(buf)
            }
        }
    }

    /// Whether a signature claiming one of `keyids` verifies with `key`
    /// (see [`envelope::signed_by`]).
    pub fn signed_by(&self, keyids: &[&str], key: &KeyObject) -> bool {
        self.signed_by_in(keyids, key, Vec::new())
    }

    /// [`Self::signed_by`], the message written into `buf`: the link
    /// file's own bytes, no longer needed once parsed, so that a message
    /// of tens of megabytes takes no new memory (each new page costs a
    /// fault, docs/performance.md).
    pub fn signed_by_in(&self, keyids: &[&str], key: &KeyObject, buf: Vec<u8>) -> bool {
        envelope::signed_by(&self.signatures, keyids, key, || self.message_in(buf))
    }

    /// The link it holds (the artifact lists move, nothing is copied).
    pub fn into_link(self) -> Result<Link, String> {
        let Fields {
            json,
            materials,
            products,
        } = self.fields;
        Link::from_parts(&json, materials, products)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::intoto::envelope::PAYLOAD_TYPE;

    const H: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn metablock(signed: &str) -> String {
        format!(r#"{{"signatures": [{{"keyid": "ab", "sig": "00ff"}}], "signed": {signed}}}"#)
    }

    #[test]
    fn canonical_message_equals_the_generic_path() {
        for signed in [
            format!(
                r#"{{"_type": "link", "name": "build", "command": ["make", "é\n\"x\""],
                    "materials": {{"src/a.c": {{"sha256": "{H}"}}, "A": {{"sha512": "FF", "md5": "00"}}}},
                    "products": {{}}, "byproducts": {{"return-value": -1, "stdout": ""}},
                    "environment": {{}}, "Zunknown": [null, true, 12345678901234], "x": {{"b": 1, "a": 2}}}}"#
            ),
            r#"{"_type": "link", "name": "s"}"#.to_owned(),
            format!(
                r#"{{"products": {{"b": {{"sha256": "{H}"}}}}, "name": "s", "_type": "link"}}"#
            ),
        ] {
            let text = metablock(&signed);
            let fast = LinkFile::parse(text.as_bytes()).unwrap();
            let generic = envelope::parse(text.as_bytes()).unwrap();
            assert_eq!(*fast.message(), generic.message[..], "{signed}");
            // Written over a used buffer (the file's own bytes), the same.
            let used = metablock(&signed).into_bytes();
            assert_eq!(*fast.message_in(used), generic.message[..], "{signed}");
            assert_eq!(fast.signatures, generic.signatures);
            assert_eq!(
                fast.into_link().unwrap(),
                Link::parse(&generic.payload).unwrap()
            );
        }
    }

    #[test]
    fn dsse_message_is_the_pae() {
        let body =
            format!(r#"{{"_type":"link","name":"s","materials":{{"a":{{"sha256":"{H}"}}}}}}"#);
        let text = format!(
            r#"{{"payload":"{}","payloadType":"{PAYLOAD_TYPE}","signatures":[]}}"#,
            envelope::b64_encode(body.as_bytes())
        );
        let fast = LinkFile::parse(text.as_bytes()).unwrap();
        let generic = envelope::parse(text.as_bytes()).unwrap();
        assert_eq!(*fast.message(), generic.message[..]);
        assert_eq!(fast.encoding, Encoding::Dsse);
        assert_eq!(fast.payload_type(), "link");
    }

    #[test]
    fn refuses_what_the_generic_path_refuses() {
        let cases = [
            metablock(r#"{"_type": "link", "name": "s", "name": "t"}"#),
            metablock(r#"{"_type": "link", "materials": {}, "materials": {}}"#),
            metablock(r#"{"_type": "link", "n": 1.5}"#),
            metablock(r#"{"_type": "link", "materials": {"a": {"sha256": "zz"}}}"#),
            metablock(r#"[]"#),
            r#"{"signed": {}, "signed": {}}"#.to_owned(),
            r#"{"signed": {}} trailing"#.to_owned(),
            "[1]".to_owned(),
            r#"{"other": 1}"#.to_owned(),
            r#"{"payload":"e30=","payloadType":"text/plain","signatures":[]}"#.to_owned(),
            format!(r#"{{"payload":"e30","payloadType":"{PAYLOAD_TYPE}","signatures":[]}}"#),
            format!(r#"{{"payload":"W10=","payloadType":"{PAYLOAD_TYPE}","signatures":[]}}"#),
        ];
        for text in cases {
            let fast = LinkFile::parse(text.as_bytes()).err();
            let generic = envelope::parse(text.as_bytes())
                .and_then(|s| Link::parse(&s.payload).map(|_| ()))
                .err();
            assert!(
                fast.is_some() && generic.is_some(),
                "{text}: {fast:?} / {generic:?}"
            );
        }
    }
}
