//! The two signed envelopes in-toto metadata comes in: the legacy Metablock
//! (`signed` + `signatures`, signatures over the canonical JSON of the raw
//! `signed` object) and DSSE (base64 payload, signatures over the
//! pre-authentication encoding). Parsed once into [`Signed`]: the payload as
//! strict JSON plus the exact bytes the signatures cover.
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::json::Json;
use crate::keys::KeyObject;

/// The payload type of in-toto DSSE envelopes.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// Which envelope a document used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `{"signed": …, "signatures": [{"keyid", "sig": hex}]}`.
    Metablock,
    /// `{"payload": b64, "payloadType", "signatures": [{"keyid", "sig": b64}]}`.
    Dsse,
}

impl Encoding {
    /// `metablock` or `dsse`.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Metablock => "metablock",
            Encoding::Dsse => "dsse",
        }
    }
}

/// One signature as found in an envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The keyid it claims, as stored.
    pub keyid: String,
    /// The raw signature bytes.
    pub sig: Vec<u8>,
}

/// A parsed envelope.
#[derive(Clone, Debug)]
pub struct Signed {
    /// The signed document (`signed`, or the decoded DSSE payload).
    pub payload: Json,
    /// The exact bytes the signatures cover.
    pub message: Vec<u8>,
    /// The signatures, in document order.
    pub signatures: Vec<Signature>,
    /// The envelope kind.
    pub encoding: Encoding,
}

impl Signed {
    /// Whether a signature claiming one of `keyids` verifies with `key`
    /// (see [`signed_by`]).
    pub fn signed_by(&self, keyids: &[&str], key: &KeyObject) -> bool {
        signed_by(&self.signatures, keyids, key, || {
            std::borrow::Cow::Borrowed(&self.message)
        })
    }

    /// The payload's `_type` (empty when absent).
    pub fn payload_type(&self) -> &str {
        self.payload
            .as_obj()
            .and_then(|o| o.get("_type"))
            .and_then(Json::as_str)
            .unwrap_or("")
    }
}

/// Whether one of `signatures` claiming one of `keyids` verifies with `key`
/// over `message()` (made only when some signature claims such a keyid).
/// Keyids are matched as stored (never recomputed). Every signature
/// claiming the keyid is tried, so a stray broken duplicate cannot hide a
/// good one — and cannot stand in for one either.
pub fn signed_by<'m>(
    signatures: &[Signature],
    keyids: &[&str],
    key: &KeyObject,
    message: impl FnOnce() -> std::borrow::Cow<'m, [u8]>,
) -> bool {
    let Some(public) = key.public.as_ref() else {
        return false;
    };
    let mut claiming = signatures
        .iter()
        .filter(|s| keyids.contains(&s.keyid.as_str()))
        .peekable();
    if claiming.peek().is_none() {
        return false;
    }
    let message = message();
    claiming.any(|s| public.verify(&message, &s.sig))
}

/// DSSE's pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = pae_header(payload_type, payload.len());
    out.extend_from_slice(payload);
    out
}

/// What the pre-authentication encoding puts before a payload of `len`
/// bytes.
pub fn pae_header(payload_type: &str, len: usize) -> Vec<u8> {
    format!("DSSEv1 {} {payload_type} {len} ", payload_type.len()).into_bytes()
}

/// Standard and URL-safe base64, padding required, as securesystemslib's
/// `b64dec` (Python's `b64decode(validate=True)`, which tolerates non-zero
/// trailing bits).
fn b64_engines() -> [GeneralPurpose; 2] {
    let config = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true);
    [
        GeneralPurpose::new(&alphabet::STANDARD, config),
        GeneralPurpose::new(&alphabet::URL_SAFE, config),
    ]
}

/// Decodes base64 the way securesystemslib does: standard alphabet, else
/// URL-safe; padding required.
pub fn b64_decode(s: &str) -> Result<Vec<u8>, String> {
    let [standard, url_safe] = b64_engines();
    standard
        .decode(s)
        .or_else(|_| url_safe.decode(s))
        .map_err(|e| format!("invalid base64 ({e})"))
}

/// Standard base64 with padding (what the reference writes).
pub fn b64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Whether a `signatures` list may name a keyid twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyIds {
    /// Each keyid at most once (DSSE).
    Unique,
    /// As the classic Metablock format allows.
    MayRepeat,
}

/// The `signatures` list: `decode` turns each `sig` into bytes;
/// [`KeyIds::Unique`] refuses two signatures claiming one keyid (DSSE).
pub(super) fn signatures(
    value: Option<&Json>,
    decode: impl Fn(&str) -> Result<Vec<u8>, String>,
    keyids: KeyIds,
) -> Result<Vec<Signature>, String> {
    let unique = keyids == KeyIds::Unique;
    let Some(Json::Arr(items)) = value else {
        return Err("`signatures` must be a list".into());
    };
    let mut out: Vec<Signature> = Vec::with_capacity(items.len());
    for item in items {
        let obj = item.as_obj().ok_or("each signature must be an object")?;
        let keyid = obj
            .get("keyid")
            .and_then(Json::as_str)
            .ok_or("each signature needs a string `keyid`")?;
        let sig = obj
            .get("sig")
            .and_then(Json::as_str)
            .ok_or("each signature needs a string `sig`")?;
        let sig = decode(sig).map_err(|e| format!("signature by {keyid}: {e}"))?;
        if unique && out.iter().any(|s| s.keyid == keyid) {
            return Err(format!("two signatures claim keyid {keyid}"));
        }
        out.push(Signature {
            keyid: keyid.to_owned(),
            sig,
        });
    }
    Ok(out)
}

/// The checked payload type and the decoded body of a DSSE envelope.
pub(super) fn dsse_body<'a>(
    payload_type: Option<&'a Json>,
    payload: &Json,
) -> Result<(&'a str, Vec<u8>), String> {
    let payload_type = payload_type
        .and_then(Json::as_str)
        .ok_or("DSSE envelope without a string `payloadType`")?;
    if payload_type != PAYLOAD_TYPE {
        return Err(format!(
            "DSSE payloadType is {}, not {PAYLOAD_TYPE}",
            crate::excerpt(payload_type)
        ));
    }
    let body = payload.as_str().ok_or("DSSE `payload` must be a string")?;
    let body = b64_decode(body).map_err(|e| format!("DSSE payload: {e}"))?;
    Ok((payload_type, body))
}

/// A DSSE envelope whose payload is kept as the bytes that were signed, not
/// yet parsed: attestations parse it as ordinary JSON
/// ([`crate::json::parse_ordinary`]), layouts and links as strict JSON.
#[derive(Clone, Debug)]
pub struct Dsse {
    /// The decoded payload, exactly as signed.
    pub body: Vec<u8>,
    /// The signatures, in document order (keyids unique).
    pub signatures: Vec<Signature>,
}

impl Dsse {
    /// The bytes the signatures cover: PAE(payloadType, body).
    pub fn message(&self) -> Vec<u8> {
        pae(PAYLOAD_TYPE, &self.body)
    }

    /// Whether a signature claiming one of `keyids` verifies with `key`
    /// over the PAE of the payload bytes (see [`signed_by`]).
    pub fn signed_by(&self, keyids: &[&str], key: &KeyObject) -> bool {
        signed_by(&self.signatures, keyids, key, || {
            std::borrow::Cow::Owned(self.message())
        })
    }
}

/// The DSSE fields of an envelope object (`payload` present).
fn dsse_of(obj: &std::collections::BTreeMap<String, Json>, payload: &Json) -> Result<Dsse, String> {
    let (_, body) = dsse_body(obj.get("payloadType"), payload)?;
    let signatures = signatures(obj.get("signatures"), b64_decode, KeyIds::Unique)?;
    Ok(Dsse { body, signatures })
}

/// Parses a DSSE envelope (strict JSON, unique keyids, in-toto payload
/// type), leaving its payload unparsed.
pub fn parse_dsse(bytes: &[u8]) -> Result<Dsse, String> {
    let doc = Json::parse(bytes).map_err(|e| e.0)?;
    let Json::Obj(obj) = doc else {
        return Err("not a JSON object".into());
    };
    match obj.get("payload") {
        Some(payload) => dsse_of(&obj, payload),
        None => Err("not a DSSE envelope (no `payload`)".into()),
    }
}

/// Parses a Metablock or DSSE envelope holding in-toto JSON.
pub fn parse(bytes: &[u8]) -> Result<Signed, String> {
    let doc = Json::parse(bytes).map_err(|e| e.0)?;
    let Json::Obj(mut obj) = doc else {
        return Err("not a JSON object".into());
    };
    if let Some(payload) = obj.get("payload") {
        let dsse = dsse_of(&obj, payload)?;
        let payload = Json::parse(&dsse.body).map_err(|e| format!("DSSE payload: {}", e.0))?;
        if payload.as_obj().is_none() {
            return Err("DSSE payload is not a JSON object".into());
        }
        return Ok(Signed {
            message: dsse.message(),
            payload,
            signatures: dsse.signatures,
            encoding: Encoding::Dsse,
        });
    }
    if let Some(signed) = obj.remove("signed") {
        if signed.as_obj().is_none() {
            return Err("`signed` must be an object".into());
        }
        let sigs = signatures(
            obj.get("signatures"),
            |s| hex::decode(s).map_err(|_| "signature is not hex".to_owned()),
            KeyIds::MayRepeat,
        )?;
        return Ok(Signed {
            message: signed.canonical(),
            payload: signed,
            signatures: sigs,
            encoding: Encoding::Metablock,
        });
    }
    Err("neither a Metablock (`signed`) nor a DSSE envelope (`payload`)".into())
}

/// Writes a Metablock: `signed` as given plus signatures, pretty-printed with
/// sorted keys like the reference writes it.
pub fn metablock<T: serde::Serialize + ?Sized>(signed: &T, signatures: &[Signature]) -> Vec<u8> {
    metablock_around(&MetablockBody::of(signed), signatures)
}

/// A Metablock's `signed` value, written as [`metablock`] writes it: made
/// apart from the signatures, so that a large link is written while it is
/// signed (`airlock record`).
#[derive(Debug)]
pub struct MetablockBody(Vec<u8>);

/// An object of one member, `{"KEY": VALUE}`, for serde_json's pretty
/// printer: written as `{\n  "KEY": VALUE\n}`, the value one level in,
/// as it stands in a Metablock.
struct Member<'a, T: ?Sized>(&'static str, &'a T);

impl<T: serde::Serialize + ?Sized> serde::Serialize for Member<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(self.0, self.1)?;
        m.end()
    }
}

/// What opens and closes a [`Member`] object.
const MEMBER_START: &[u8] = b"{\n";
const MEMBER_END: &[u8] = b"\n}";

impl MetablockBody {
    /// `{\n  "signed": VALUE` of the Metablock to be: its end is written
    /// by [`metablock_around`].
    pub fn of<T: serde::Serialize + ?Sized>(signed: &T) -> MetablockBody {
        let mut out = serde_json::to_vec_pretty(&Member("signed", signed)).unwrap_or_default();
        debug_assert!(out.ends_with(MEMBER_END));
        out.truncate(out.len().saturating_sub(MEMBER_END.len()));
        MetablockBody(out)
    }
}

/// `{"signatures": [...], "signed": ...}` (the keys sorted), from a body
/// already written.
pub fn metablock_around(body: &MetablockBody, signatures: &[Signature]) -> Vec<u8> {
    let sigs = signature_list(signatures, |sig| hex::encode(sig));
    let mut out = serde_json::to_vec_pretty(&Member("signatures", &sigs)).unwrap_or_default();
    debug_assert!(out.ends_with(MEMBER_END) && body.0.starts_with(MEMBER_START));
    out.truncate(out.len().saturating_sub(MEMBER_END.len()));
    let signed = body.0.get(MEMBER_START.len()..).unwrap_or_default();
    out.reserve(signed.len() + 4);
    out.extend_from_slice(b",\n");
    out.extend_from_slice(signed);
    out.extend_from_slice(MEMBER_END);
    out.push(b'\n');
    out
}

/// `[{"keyid": ..., "sig": ...}]`, each `sig` written by `encode` (hex in
/// a Metablock, base64 in DSSE).
fn signature_list(signatures: &[Signature], encode: impl Fn(&[u8]) -> String) -> Json {
    Json::Arr(
        signatures
            .iter()
            .map(|s| {
                crate::keys::obj([
                    ("keyid", Json::Str(s.keyid.clone())),
                    ("sig", Json::Str(encode(&s.sig))),
                ])
            })
            .collect(),
    )
}

/// Writes a DSSE envelope over the exact `body` bytes.
pub fn dsse(body: &[u8], signatures: &[Signature]) -> Vec<u8> {
    /// The payload, base64-encoded as it is written (a receipt's or a
    /// link's body can be megabytes: no copy of it as a string).
    struct Payload<'a>(&'a [u8]);
    impl serde::Serialize for Payload<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(&base64::display::Base64Display::new(
                self.0,
                &base64::engine::general_purpose::STANDARD,
            ))
        }
    }
    /// The keys in sorted order, as [`Json::to_pretty`] writes them.
    #[derive(serde::Serialize)]
    struct Envelope<'a> {
        payload: Payload<'a>,
        #[serde(rename = "payloadType")]
        payload_type: &'static str,
        signatures: Json,
    }
    let signatures = signature_list(signatures, b64_encode);
    let mut out = Vec::with_capacity(body.len().div_ceil(3) * 4 + 1024);
    let envelope = Envelope {
        payload: Payload(body),
        payload_type: PAYLOAD_TYPE,
        signatures,
    };
    if serde_json::to_writer_pretty(&mut out, &envelope).is_err() {
        unreachable!("writing JSON into memory cannot fail");
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_dsse_envelope_is_the_json_tree_it_stands_for() {
        let signatures = [
            Signature {
                keyid: "ab\"c".into(),
                sig: vec![0, 1, 2, 255],
            },
            Signature {
                keyid: "d".into(),
                sig: vec![],
            },
        ];
        for body in [&b""[..], b"x", b"xy", b"xyz", &[0xffu8; 100_001][..]] {
            for sigs in [&signatures[..], &[]] {
                let tree = crate::keys::obj([
                    ("payload", Json::Str(b64_encode(body))),
                    ("payloadType", Json::Str(PAYLOAD_TYPE.into())),
                    (
                        "signatures",
                        Json::Arr(
                            sigs.iter()
                                .map(|s| {
                                    crate::keys::obj([
                                        ("keyid", Json::Str(s.keyid.clone())),
                                        ("sig", Json::Str(b64_encode(&s.sig))),
                                    ])
                                })
                                .collect(),
                        ),
                    ),
                ]);
                assert_eq!(
                    String::from_utf8(dsse(body, sigs)).unwrap(),
                    tree.to_pretty(),
                    "a body of {} bytes",
                    body.len()
                );
            }
        }
    }

    #[test]
    fn pae_matches_the_dsse_vector() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn base64_needs_padding_and_takes_both_alphabets() {
        assert_eq!(b64_decode("aGk=").unwrap(), b"hi");
        assert!(b64_decode("aGk").is_err());
        assert_eq!(b64_decode("-_8=").unwrap(), b64_decode("+/8=").unwrap());
        assert!(b64_decode("aG k=").is_err());
    }

    #[test]
    fn refuses_wrong_payload_type_and_duplicate_keyids() {
        let body = b64_encode(br#"{"_type":"link"}"#);
        let env = |ty: &str, sigs: &str| {
            format!(r#"{{"payload":"{body}","payloadType":"{ty}","signatures":[{sigs}]}}"#)
        };
        assert!(parse(env(PAYLOAD_TYPE, "").as_bytes()).is_ok());
        let e = parse(env("application/json", "").as_bytes()).unwrap_err();
        assert!(e.contains("payloadType"), "{e}");
        let sig = r#"{"keyid":"ab","sig":"AA=="}"#;
        let e = parse(env(PAYLOAD_TYPE, &format!("{sig},{sig}")).as_bytes()).unwrap_err();
        assert!(e.contains("two signatures"), "{e}");
    }

    #[test]
    fn a_metablock_is_written_as_its_json_tree_would_be() {
        // Nested values, empty ones, and strings with line breaks and
        // control characters (written escaped: no line break of the
        // printer's own is inside a string).
        let signed = Json::parse(
            br#"{"_type":"link","name":"\u00e9\nx","n":[1,{"b":null,"a":"\u0001"},[],{}],"e":{}}"#,
        )
        .unwrap();
        let sigs = [
            Signature {
                keyid: "ab".into(),
                sig: vec![1, 2],
            },
            Signature {
                keyid: "cd".into(),
                sig: vec![],
            },
        ];
        let tree = crate::keys::obj([
            (
                "signatures",
                Json::Arr(
                    sigs.iter()
                        .map(|s| {
                            crate::keys::obj([
                                ("keyid", Json::Str(s.keyid.clone())),
                                ("sig", Json::Str(hex::encode(&s.sig))),
                            ])
                        })
                        .collect(),
                ),
            ),
            ("signed", signed.clone()),
        ]);
        // What metablock wrote before: the tree through a serde_json::Value.
        let mut old = serde_json::to_string_pretty(&tree.to_value()).unwrap();
        old.push('\n');
        assert_eq!(String::from_utf8(metablock(&signed, &sigs)).unwrap(), old);
        // No signatures, and a body that is one line.
        let empty = crate::keys::obj([]);
        let tree = crate::keys::obj([("signatures", Json::Arr(vec![])), ("signed", empty.clone())]);
        let mut old = serde_json::to_string_pretty(&tree.to_value()).unwrap();
        old.push('\n');
        assert_eq!(String::from_utf8(metablock(&empty, &[])).unwrap(), old);
    }

    #[test]
    fn metablock_message_is_canonical_signed() {
        let m = parse(br#"{"signatures":[],"signed":{"b":1,"a":"x"}}"#).unwrap();
        assert_eq!(m.message, br#"{"a":"x","b":1}"#);
        assert_eq!(m.encoding, Encoding::Metablock);
    }
}
