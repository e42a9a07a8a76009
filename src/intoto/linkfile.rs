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

use super::artifacts::{ArtifactRuns, Artifacts, ArtifactsSeed};
use super::envelope::{self, Encoding, Signature};
use super::model::Link;
use super::stream_check::{self, StreamCheck};
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

/// Parses `signed` (or a DSSE payload), each field also given to a
/// signature check streaming it, when there is one.
struct FieldsSeed<'c, 'k>(Option<&'c mut StreamCheck<'k>>);

impl<'de> DeserializeSeed<'de> for FieldsSeed<'_, '_> {
    type Value = Fields;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Fields, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldsSeed<'_, '_> {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Fields, A::Error> {
        let mut fields = Fields::default();
        while let Some(key) = map.next_key::<String>()? {
            let duplicate = match key.as_str() {
                name @ ("materials" | "products") => {
                    let mut runs = self.0.as_deref_mut().and_then(|c| c.artifacts(name));
                    let artifacts = map.next_value_seed(ArtifactsSeed(
                        name,
                        runs.as_mut().map(|r| r as &mut dyn ArtifactRuns),
                    ))?;
                    if let Some(runs) = runs {
                        runs.close();
                    }
                    let slot = if name == "materials" {
                        &mut fields.materials
                    } else {
                        &mut fields.products
                    };
                    slot.replace(artifacts).is_some()
                }
                _ => {
                    let value: Json = map.next_value()?;
                    if let Some(check) = self.0.as_deref_mut() {
                        check.field(&key, |out| value.write_canonical(out));
                    }
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
        if let Some(check) = self.0 {
            check.end();
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

/// Parses the top level, a signature check streaming `signed` when given
/// one.
struct TopSeed<'c, 'k>(Option<&'c mut StreamCheck<'k>>);

impl<'de> DeserializeSeed<'de> for TopSeed<'_, '_> {
    type Value = Top;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Top, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_, '_> {
    type Value = Top;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Top, A::Error> {
        let mut top = Top::default();
        let mut seen = std::collections::BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "signed" => {
                    // Streamed only after the signatures it is checked
                    // against (in-toto writes them first: keys sorted).
                    let mut check = self.0.take();
                    if let Some(check) = check.as_deref_mut() {
                        match metablock_signatures(top.signatures.as_ref()) {
                            Ok(sigs) => check.start(&sigs),
                            _ => check.drop_stream(),
                        }
                    }
                    top.signed = Some(map.next_value_seed(FieldsSeed(check))?);
                }
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

/// A Metablock's signatures (`sig` in hex; a keyid may repeat).
fn metablock_signatures(value: Option<&Json>) -> Result<Vec<Signature>, String> {
    envelope::signatures(
        value,
        |s| hex::decode(s).map_err(|_| "signature is not hex".to_owned()),
        envelope::KeyIds::MayRepeat,
    )
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
        Self::parse_with(bytes, None)
    }

    /// [`Self::parse`], and whether a signature claiming one of `keyids`
    /// verifies with `key` when that was found while parsing: a Metablock
    /// whose `signed` comes after its signatures with its fields in
    /// canonical order, checked by a key that streams (Ed25519). `None`
    /// otherwise: then ask [`Self::signed_by_in`].
    pub fn parse_checking(
        bytes: &[u8],
        keyids: &[&str],
        key: &KeyObject,
    ) -> Result<(LinkFile, Option<bool>), String> {
        std::thread::scope(|s| {
            let (mut check, rx) = StreamCheck::new(keyids, key);
            let hashing = s.spawn(move || stream_check::hash(rx));
            let parsed = Self::parse_with(bytes, Some(&mut check));
            drop(check); // the hashing thread stops when the sender is gone
            let verdict = hashing
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            let doc = parsed?;
            // A DSSE envelope with a stray `signed` beside its payload is
            // checked over its payload: what was streamed does not count.
            let verdict = verdict.filter(|_| doc.encoding == Encoding::Metablock);
            Ok((doc, verdict))
        })
    }

    fn parse_with(bytes: &[u8], check: Option<&mut StreamCheck<'_>>) -> Result<LinkFile, String> {
        let top: Top = strict(bytes, TopSeed(check))?;
        if let Some(payload) = top.payload {
            let (payload_type, body) = envelope::dsse_body(top.payload_type.as_ref(), &payload)?;
            let signatures = envelope::signatures(
                top.signatures.as_ref(),
                envelope::b64_decode,
                envelope::KeyIds::Unique,
            )?;
            let fields = strict(&body, FieldsSeed(None)).map_err(|e| {
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
            let signatures = metablock_signatures(top.signatures.as_ref())?;
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
    fn canonical_stream_gives_the_verdict_of_the_whole_message() {
        use ed25519_dalek::Signer as _;
        let sk = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let key = KeyObject {
            keytype: "ed25519".into(),
            scheme: "ed25519".into(),
            public: Some(airlock_hsm::PublicKey::Ed25519(sk.verifying_key())),
        };
        let other = ed25519_dalek::SigningKey::from_bytes(&[4; 32]);
        let sorted = format!(
            r#"{{"_type": "link", "byproducts": {{"return-value": 0}}, "command": ["make", "é\n\"x\""],
                "environment": {{}}, "materials": {{"A": {{"md5": "00", "sha512": "FF"}}, "src/a.c": {{"sha256": "{H}"}}}},
                "name": "build", "products": {{}}, "x": {{"a": 2, "b": 1}}}}"#
        );
        let unsorted = format!(
            r#"{{"products": {{"b": {{"sha256": "{H}"}}}}, "name": "s", "_type": "link"}}"#
        );
        let repeated = r#"{"_type": "link", "name": "s", "name": "s"}"#.to_owned();
        // (text, keyid claimed, whether the check streams)
        let mut cases: Vec<(String, bool)> = Vec::new();
        for signed in [
            sorted.as_str(),
            unsorted.as_str(),
            "{}",
            r#"{"_type": "link"}"#,
            repeated.as_str(),
        ] {
            let message = envelope::parse(metablock(signed).as_bytes())
                .map(|m| m.message)
                .unwrap_or_default();
            let good = hex::encode(sk.sign(&message).to_bytes());
            let forged = hex::encode(other.sign(&message).to_bytes());
            let sig = |s: &str| format!(r#"{{"keyid": "ab", "sig": "{s}"}}"#);
            let streams = signed != unsorted;
            for (sigs, streams) in [
                (sig(&good), streams),
                (sig(&forged), streams),
                (format!("{}, {}", sig(&forged), sig(&good)), streams), // one of two
                (sig("00ff"), streams),                                 // cut short
                (r#"{"keyid": "cd", "sig": "00"}"#.to_owned(), false),  // none claims the key
            ] {
                cases.push((
                    format!(r#"{{"signatures": [{sigs}], "signed": {signed}}}"#),
                    streams,
                ));
                // Signatures after `signed`: checked after the parse.
                cases.push((
                    format!(r#"{{"signed": {signed}, "signatures": [{sigs}]}}"#),
                    false,
                ));
            }
        }
        // A DSSE envelope with a stray `signed`: its payload is what counts.
        cases.push((
            format!(
                r#"{{"payload": "{}", "payloadType": "{PAYLOAD_TYPE}", "signatures": [], "signed": {{"_type": "link"}}}}"#,
                envelope::b64_encode(br#"{"_type":"link"}"#)
            ),
            false,
        ));
        let mut streamed_true = 0;
        for (text, streams) in cases {
            let generic = envelope::parse(text.as_bytes()).map(|g| g.signed_by(&["ab"], &key));
            match LinkFile::parse_checking(text.as_bytes(), &["ab"], &key) {
                Ok((doc, verdict)) => {
                    assert_eq!(verdict.is_some(), streams, "{text}");
                    let whole = doc.signed_by(&["ab"], &key);
                    assert_eq!(verdict.unwrap_or(whole), whole, "{text}");
                    assert_eq!(Ok(whole), generic, "{text}");
                    streamed_true += usize::from(verdict == Some(true));
                }
                Err(e) => assert!(generic.is_err(), "{text}: {e}"),
            }
        }
        assert_eq!(
            streamed_true, 6,
            "good signatures over {{}}, _type and the sorted link, alone and second"
        );
        // A key that does not stream (ECDSA): checked after the parse.
        let p256 = p256::ecdsa::SigningKey::from_slice(&[5; 32]).unwrap();
        let ecdsa = KeyObject {
            public: Some(airlock_hsm::PublicKey::EcdsaP256(*p256.verifying_key())),
            ..key.clone()
        };
        let text = metablock(&sorted);
        assert_eq!(
            LinkFile::parse_checking(text.as_bytes(), &["ab"], &ecdsa)
                .unwrap()
                .1,
            None
        );
    }

    #[test]
    fn large_artifact_lists_stream_in_runs_and_only_in_order() {
        // Lists of several runs of entries (ArtifactsSeed hands them over
        // 4,096 at a time): streamed when sorted; out of order across a
        // run's boundary or within a run, checked after the parse; a
        // changed entry refused either way.
        use ed25519_dalek::Signer as _;
        let sk = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let key = KeyObject {
            keytype: "ed25519".into(),
            scheme: "ed25519".into(),
            public: Some(airlock_hsm::PublicKey::Ed25519(sk.verifying_key())),
        };
        let list = |n: usize, swap: Option<usize>| {
            let mut names: Vec<String> = (0..n).map(|i| format!("dir/f{i:06}")).collect();
            if let Some(i) = swap {
                names.swap(i, i + 1);
            }
            let entries: Vec<String> = names
                .iter()
                .map(|p| format!(r#""{p}": {{"sha256": "{H}"}}"#))
                .collect();
            format!("{{{}}}", entries.join(", "))
        };
        let text = |materials: &str, sig: &str| {
            format!(
                r#"{{"signatures": [{{"keyid": "ab", "sig": "{sig}"}}], "signed": {{"_type": "link", "materials": {materials}, "name": "s", "products": {}}}}}"#,
                list(5000, None)
            )
        };
        for (swap, streams) in [
            (None, true),
            (Some(4095), false),
            (Some(10), false),
            (Some(9000), false),
        ] {
            let materials = list(10_000, swap);
            let unsigned = text(&materials, "");
            let message = envelope::parse(unsigned.as_bytes()).unwrap().message;
            let good = text(&materials, &hex::encode(sk.sign(&message).to_bytes()));
            let changed = good.replacen(H, &H.replace('0', "1"), 1);
            for (doc, want) in [(good, true), (changed, false)] {
                let (parsed, verdict) =
                    LinkFile::parse_checking(doc.as_bytes(), &["ab"], &key).unwrap();
                assert_eq!(verdict.is_some(), streams, "swap {swap:?}");
                assert_eq!(
                    verdict.unwrap_or_else(|| parsed.signed_by(&["ab"], &key)),
                    want
                );
                assert_eq!(
                    envelope::parse(doc.as_bytes())
                        .unwrap()
                        .signed_by(&["ab"], &key),
                    want
                );
            }
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
