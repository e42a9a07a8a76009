//! in-toto Statement attestations (v1 and v0.1; e.g. SLSA provenance,
//! SPDX, CycloneDX, VSA, link predicate v0.3) in DSSE envelopes: parsed
//! into checked types and signature-checked against known keys. A DSSE
//! payload is signed as bytes (over its pre-authentication encoding), so the
//! Statement is parsed as ordinary JSON (numbers of any form; duplicate keys
//! still refused), never re-encoded. The reference verifiers do not use
//! Statements in layout verification; airlock carries them, refuses
//! malformed, unsigned or unbound ones (every subject must name an artifact
//! or image of the bundle by SHA-256, see [`crate::intoto::bundle`]), shows
//! them and delivers them on unpack.
use std::collections::BTreeMap;

use serde_json::Value;

use super::envelope::{self, Dsse};
use crate::keys::KeyObject;

/// `_type` of a Statement v1.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// `_type` of a Statement v0.1 (still written by common generators).
pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";

/// One subject: a name and its digests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// `name` (may be empty).
    pub name: String,
    /// `digest`: algorithm → value (lowercase hex for `sha256`).
    pub digest: BTreeMap<String, String>,
}

impl Subject {
    /// The SHA-256 the subject names, if any (lowercase hex).
    pub fn sha256(&self) -> Option<&str> {
        self.digest.get("sha256").map(String::as_str)
    }
}

/// A parsed, not yet trusted, attestation.
#[derive(Clone, Debug)]
pub struct Statement {
    /// `_type` as written ([`STATEMENT_V1`] or [`STATEMENT_V01`]).
    pub statement_type: String,
    /// Subjects (at least one).
    pub subjects: Vec<Subject>,
    /// `predicateType`.
    pub predicate_type: String,
    /// The envelope (for signature checks).
    pub envelope: Dsse,
    /// The envelope's payload as parsed (the whole Statement), for reports.
    pub payload: Value,
}

/// Parses a DSSE envelope holding a Statement v1 or v0.1.
pub fn parse(bytes: &[u8]) -> Result<Statement, String> {
    let envelope = envelope::parse_dsse(bytes).map_err(|e| {
        if e.starts_with("not a DSSE") {
            "an attestation must be a DSSE envelope".to_owned()
        } else {
            e
        }
    })?;
    let payload = crate::json::parse_ordinary(&envelope.body)
        .map_err(|e| format!("DSSE payload: {}", e.0))?;
    let obj = payload.as_object().ok_or("payload is not an object")?;
    let statement_type = match obj.get("_type").and_then(Value::as_str) {
        Some(t @ (STATEMENT_V1 | STATEMENT_V01)) => t.to_owned(),
        Some(t) => {
            return Err(format!(
                "`_type` is {}, not {STATEMENT_V1} or {STATEMENT_V01}",
                crate::excerpt(t)
            ));
        }
        None => return Err("`_type` missing".into()),
    };
    let predicate_type = obj
        .get("predicateType")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("`predicateType` must be a non-empty string")?
        .to_owned();
    if let Some(p) = obj.get("predicate")
        && !p.is_object()
    {
        return Err("`predicate` must be an object".into());
    }
    let Some(Value::Array(items)) = obj.get("subject") else {
        return Err("`subject` must be a list".into());
    };
    if items.is_empty() {
        return Err("`subject` is empty".into());
    }
    let mut subjects = Vec::new();
    for s in items {
        let so = s.as_object().ok_or("each subject must be an object")?;
        let name = match so.get("name") {
            None => String::new(),
            Some(Value::String(n)) => n.clone(),
            Some(_) => return Err("subject `name` must be a string".into()),
        };
        let Some(Value::Object(d)) = so.get("digest") else {
            return Err(format!(
                "subject {} has no `digest` object",
                crate::excerpt(&name)
            ));
        };
        if d.is_empty() {
            return Err(format!(
                "subject {} has an empty `digest`",
                crate::excerpt(&name)
            ));
        }
        let mut digest = BTreeMap::new();
        for (alg, v) in d {
            let v = v
                .as_str()
                .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
                .ok_or_else(|| {
                    format!("subject {} digest {alg} must be hex", crate::excerpt(&name))
                })?;
            digest.insert(alg.clone(), v.to_ascii_lowercase());
        }
        subjects.push(Subject { name, digest });
    }
    Ok(Statement {
        statement_type,
        subjects,
        predicate_type,
        envelope,
        payload,
    })
}

impl Statement {
    /// Keyids (as stored in `keys`) whose key has a valid signature.
    pub fn signers<'k>(&self, keys: &'k BTreeMap<String, KeyObject>) -> Vec<&'k str> {
        keys.iter()
            .filter(|(id, k)| self.envelope.signed_by(&[id.as_str()], k))
            .map(|(id, _)| id.as_str())
            .collect()
    }

    /// The keyids the signatures claim.
    pub fn claimed_keyids(&self) -> Vec<&str> {
        self.envelope
            .signatures
            .iter()
            .map(|s| s.keyid.as_str())
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::intoto::envelope::{Signature, b64_encode, dsse};
    use airlock_hsm::{FileSigner, Signer};

    #[test]
    fn parses_and_checks_signatures() {
        let s = FileSigner::from_seed(&[3; 32]);
        let body = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"ab"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}"#;
        let sig = s
            .sign(&envelope::pae(envelope::PAYLOAD_TYPE, body))
            .unwrap();
        let id = crate::keys::keyid(s.public_key());
        let bytes = dsse(
            body,
            &[Signature {
                keyid: id.clone(),
                sig,
            }],
        );
        let st = parse(&bytes).unwrap();
        assert_eq!(st.predicate_type, "https://slsa.dev/provenance/v1");
        // The payload kept is the Statement as parsed, whole.
        assert_eq!(
            st.payload,
            serde_json::from_slice::<Value>(body).unwrap(),
            "the checked payload is the Statement"
        );
        let keys: BTreeMap<_, _> = [(
            id.clone(),
            KeyObject::parse(&crate::keys::key_object(s.public_key())).unwrap(),
        )]
        .into();
        assert_eq!(st.signers(&keys), vec![id.as_str()]);
        let _ = b64_encode(b"");
        let bad = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a"}],"predicateType":"x"}"#;
        assert!(parse(&dsse(bad, &[])).unwrap_err().contains("digest"));
        // Floats are ordinary JSON in a DSSE payload; the signature covers
        // the bytes as they are, so v0.1 with `2.0` and `7.8` verifies.
        let float = br#"{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"name":"a","digest":{"sha256":"AB"}}],"predicateType":"https://cyclonedx.org/bom","predicate":{"specVersion":"1.5","x":2.0,"score":7.8}}"#;
        let sig = s
            .sign(&envelope::pae(envelope::PAYLOAD_TYPE, float))
            .unwrap();
        let st = parse(&dsse(
            float,
            &[Signature {
                keyid: id.clone(),
                sig,
            }],
        ))
        .unwrap();
        assert_eq!(st.statement_type, STATEMENT_V01);
        assert_eq!(st.subjects[0].sha256(), Some("ab"));
        assert_eq!(st.signers(&keys), vec![id.as_str()]);
        let dup = br#"{"_type":"https://in-toto.io/Statement/v1","_type":"x","subject":[],"predicateType":"x"}"#;
        assert!(
            parse(&dsse(dup, &[]))
                .unwrap_err()
                .contains("duplicate key")
        );
        let other = br#"{"_type":"https://in-toto.io/Statement/v2","subject":[{"digest":{"sha256":"ab"}}],"predicateType":"x"}"#;
        assert!(parse(&dsse(other, &[])).unwrap_err().contains("_type"));
    }
}
