//! One journal record: parsed from its line once, into checked fields, or
//! built and signed (`docs/journal-format.md`, "Records").
use airlock_hsm::journal::{MAX_RECORD_BYTES, journal_keyid};
use airlock_hsm::{KeyAlgorithm, PublicKey, Signer};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::journal::canonical::encode;
use crate::timefmt::{format_utc, parse_utc};

/// Prefix of every signed message: the domain separation of journal
/// signatures from any other use of the key.
pub const DOMAIN: &[u8] = b"airlock-journal-v1\n";

/// The record format version (`"v"`).
pub const VERSION: u64 = 1;

/// The longest event name.
const MAX_EVENT: usize = 64;

/// A journal signature algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    /// Ed25519 (pure) over the message; 64-byte signature.
    Ed25519,
    /// ECDSA on P-256 over SHA-256 of the message; DER signature.
    EcdsaP256Sha256,
}

impl Alg {
    /// The name records carry.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Ed25519 => "ed25519",
            Alg::EcdsaP256Sha256 => "ecdsa-p256-sha256",
        }
    }

    /// The algorithm named `s`.
    pub fn from_name(s: &str) -> Option<Alg> {
        match s {
            "ed25519" => Some(Alg::Ed25519),
            "ecdsa-p256-sha256" => Some(Alg::EcdsaP256Sha256),
            _ => None,
        }
    }

    /// The algorithm a key signs records with; `None` for key types the
    /// journal does not use.
    pub fn of_key(key: &PublicKey) -> Option<Alg> {
        match key.algorithm() {
            KeyAlgorithm::Ed25519 => Some(Alg::Ed25519),
            KeyAlgorithm::EcdsaP256 => Some(Alg::EcdsaP256Sha256),
            _ => None,
        }
    }
}

/// A record whose line is well-formed and canonical (its signature and its
/// place in the chain are checked by [`crate::journal::chain`]).
#[derive(Debug, Clone)]
pub struct Record {
    /// Sequence number, from 1.
    pub seq: u64,
    /// When it was written (unix seconds, the writer's clock).
    pub time: u64,
    /// Event type.
    pub event: String,
    /// The event's fields.
    pub fields: Map<String, Value>,
    /// SHA-256 of the previous record's line (zeros for record 1).
    pub prev: [u8; 32],
    /// Signature algorithm.
    pub alg: Alg,
    /// Keyid of the signing key.
    pub keyid: String,
    /// Signature bytes.
    pub sig: Vec<u8>,
    /// SHA-256 of this record's line.
    pub sha256: [u8; 32],
    /// The record as parsed (all of it, for `journal show --json`).
    pub line: Vec<u8>,
    message: Vec<u8>,
}

fn hex32(v: Option<&Value>, what: &str) -> Result<[u8; 32], String> {
    let s = v
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{what} is not a string"))?;
    if s.len() != 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!("{what} is not 64 lowercase hex digits"));
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).map_err(|e| format!("{what}: {e}"))?;
    Ok(out)
}

fn exact_keys(m: &Map<String, Value>, keys: &[&str], what: &str) -> Result<(), String> {
    if m.len() != keys.len() || !keys.iter().all(|k| m.contains_key(*k)) {
        let mut have: Vec<&str> = m.keys().map(String::as_str).collect();
        have.sort_unstable();
        return Err(format!(
            "{what} must have exactly the fields {}, not {}",
            keys.join(", "),
            crate::excerpt(&have.join(", "))
        ));
    }
    Ok(())
}

/// Whether `s` is a valid event name: lowercase letters, digits, `.`, `-`.
pub fn valid_event(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_EVENT
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
}

impl Record {
    /// Parses one line (without its line end). Refuses anything but the
    /// canonical encoding of a record with exactly the specified fields.
    pub fn parse(line: &[u8]) -> Result<Record, String> {
        if line.len() > MAX_RECORD_BYTES {
            return Err(format!(
                "{} bytes, over the limit of {MAX_RECORD_BYTES}",
                line.len()
            ));
        }
        let v: Value = serde_json::from_slice(line).map_err(|e| format!("not JSON: {e}"))?;
        if encode(&v).ok().as_deref() != Some(line) {
            return Err("not in the canonical encoding".into());
        }
        let Value::Object(mut m) = v else {
            return Err("not a JSON object".into());
        };
        exact_keys(
            &m,
            &["event", "fields", "prev", "seq", "sig", "time", "v"],
            "a record",
        )?;
        if m.get("v").and_then(Value::as_u64) != Some(VERSION) {
            return Err(format!("\"v\" is not {VERSION}"));
        }
        let seq = m
            .get("seq")
            .and_then(Value::as_u64)
            .filter(|&s| s >= 1)
            .ok_or("\"seq\" is not an integer of at least 1")?;
        let time_text = m
            .get("time")
            .and_then(Value::as_str)
            .ok_or("\"time\" is not a string")?;
        let time = parse_utc(time_text).map_err(|e| format!("\"time\": {e}"))?;
        let event = m
            .get("event")
            .and_then(Value::as_str)
            .filter(|e| valid_event(e))
            .ok_or("\"event\" is not an event name")?
            .to_owned();
        let prev = hex32(m.get("prev"), "\"prev\"")?;
        let Some(Value::Object(sig)) = m.remove("sig") else {
            return Err("\"sig\" is not an object".into());
        };
        exact_keys(&sig, &["alg", "keyid", "value"], "\"sig\"")?;
        let alg = sig
            .get("alg")
            .and_then(Value::as_str)
            .and_then(Alg::from_name)
            .ok_or("\"sig.alg\" is not ed25519 or ecdsa-p256-sha256")?;
        let keyid = hex::encode(hex32(sig.get("keyid"), "\"sig.keyid\"")?);
        let value = sig
            .get("value")
            .and_then(Value::as_str)
            .ok_or("\"sig.value\" is not a string")?;
        let sig_bytes = B64
            .decode(value)
            .map_err(|e| format!("\"sig.value\" is not base64: {e}"))?;
        // What is signed: the record without "sig", canonically encoded.
        let mut message = DOMAIN.to_vec();
        message.extend_from_slice(&encode(&Value::Object(m.clone()))?);
        let Some(Value::Object(fields)) = m.remove("fields") else {
            return Err("\"fields\" is not an object".into());
        };
        Ok(Record {
            seq,
            time,
            event,
            fields,
            prev,
            alg,
            keyid,
            sig: sig_bytes,
            sha256: Sha256::digest(line).into(),
            line: line.to_vec(),
            message,
        })
    }

    /// Why the signature does not verify with `key`, or `None` when it does.
    pub fn signature_problem(&self, key: &PublicKey) -> Option<String> {
        if Alg::of_key(key) != Some(self.alg) {
            return Some(format!(
                "signed with {}, but the journal key is {}",
                self.alg.name(),
                key.algorithm().name()
            ));
        }
        if self.keyid != journal_keyid(key) {
            return Some(format!(
                "signed by key {}, not the journal key {}",
                self.keyid,
                journal_keyid(key)
            ));
        }
        (!key.verify(&self.message, &self.sig))
            .then(|| "the signature does not verify with the journal key".to_owned())
    }

    /// A string field.
    pub fn str_field(&self, k: &str) -> Option<&str> {
        self.fields.get(k).and_then(Value::as_str)
    }

    /// An integer field.
    pub fn u64_field(&self, k: &str) -> Option<u64> {
        self.fields.get(k).and_then(Value::as_u64)
    }
}

/// Why a record could not be built (the binary's `journal-write-failed`, or
/// the signer's error).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The record cannot be made (a bug: a key that cannot sign records,
    /// fields that do not encode, a record over the limit).
    #[error("cannot build journal record {seq}: {what}")]
    Internal {
        /// The record's seq.
        seq: u64,
        /// What went wrong.
        what: String,
    },
    /// The journal key did not sign.
    #[error(transparent)]
    Sign(#[from] airlock_hsm::Error),
}

/// Builds and signs record `seq` at `time`, chained to `prev`; returns its
/// line (without line end) and the line's SHA-256.
pub fn build(
    seq: u64,
    time: u64,
    event: &str,
    fields: Map<String, Value>,
    prev: [u8; 32],
    signer: &dyn Signer,
) -> Result<(Vec<u8>, [u8; 32]), BuildError> {
    let internal = |what: String| BuildError::Internal { seq, what };
    let key = signer.public_key();
    let alg = Alg::of_key(key).ok_or_else(|| {
        internal(format!(
            "the journal key is {}, which cannot sign journal records",
            key.algorithm().name()
        ))
    })?;
    let mut m = Map::new();
    m.insert("v".into(), VERSION.into());
    m.insert("seq".into(), seq.into());
    m.insert("time".into(), format_utc(time).into());
    m.insert("event".into(), event.into());
    m.insert("fields".into(), Value::Object(fields));
    m.insert("prev".into(), hex::encode(prev).into());
    let mut message = DOMAIN.to_vec();
    message.extend_from_slice(&encode(&Value::Object(m.clone())).map_err(internal)?);
    let sig = signer.sign(&message)?;
    let mut s = Map::new();
    s.insert("alg".into(), alg.name().into());
    s.insert("keyid".into(), journal_keyid(key).into());
    s.insert("value".into(), B64.encode(&sig).into());
    m.insert("sig".into(), Value::Object(s));
    let line = encode(&Value::Object(m)).map_err(internal)?;
    if line.len() > MAX_RECORD_BYTES {
        return Err(internal(format!("{} bytes is over the limit", line.len())));
    }
    let sha = Sha256::digest(&line).into();
    Ok((line, sha))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use airlock_hsm::FileSigner;
    use serde_json::json;

    fn fields() -> Map<String, Value> {
        json!({"outcome": "refused", "message": "bad\n\"thing\""})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn build_parse_verify_for_both_algorithms() {
        for alg in [KeyAlgorithm::Ed25519, KeyAlgorithm::EcdsaP256] {
            let s = FileSigner::generate_with(alg).unwrap();
            let (line, sha) = build(3, 1_800_000_000, "verify", fields(), [7; 32], &s).unwrap();
            let r = Record::parse(&line).unwrap();
            assert_eq!(
                (r.seq, r.time, r.event.as_str()),
                (3, 1_800_000_000, "verify")
            );
            assert_eq!(r.prev, [7; 32]);
            assert_eq!(r.sha256, sha);
            assert_eq!(r.fields, fields());
            assert_eq!(r.signature_problem(s.public_key()), None);
            let other = FileSigner::generate_with(alg).unwrap();
            assert!(r.signature_problem(other.public_key()).is_some());
        }
    }

    #[test]
    fn signature_covers_every_field() {
        let s = FileSigner::generate().unwrap();
        let (line, _) = build(1, 1_800_000_000, "verify", fields(), [0; 32], &s).unwrap();
        let text = String::from_utf8(line).unwrap();
        for (from, to) in [
            ("\"seq\":1", "\"seq\":2"),
            ("refused", "accepted"),
            ("2027-01-15T08:00:00Z", "2027-01-15T08:00:01Z"),
            ("\"event\":\"verify\"", "\"event\":\"unpack\""),
        ] {
            let edited = text.replace(from, to);
            assert_ne!(edited, text, "{from}");
            let r = Record::parse(edited.as_bytes()).unwrap();
            assert!(r.signature_problem(s.public_key()).is_some(), "{from}");
        }
    }

    #[test]
    fn refuses_non_canonical_or_incomplete_lines() {
        let s = FileSigner::generate().unwrap();
        let (line, _) = build(1, 1_800_000_000, "verify", fields(), [0; 32], &s).unwrap();
        let text = String::from_utf8(line).unwrap();
        let cases = [
            (text.replacen("{", "{ ", 1), "canonical"),
            (text.replacen("\"v\":1", "\"v\":1,\"v\":1", 1), "canonical"),
            (text.replacen("\"seq\":1", "\"seq\":1.0", 1), "canonical"),
            (text.replacen(",\"v\":1", "", 1), "exactly the fields"),
            (text.replacen("\"v\":1", "\"v\":2", 1), "\"v\""),
            (text.replacen("\"seq\":1", "\"seq\":0", 1), "\"seq\""),
            (text.replacen("ed25519", "rsa", 1), "sig.alg"),
            (text[..text.len() - 1].to_owned(), "JSON"),
        ];
        for (bad, needle) in cases {
            let e = Record::parse(bad.as_bytes()).unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }
}
