//! in-toto Statement v1 attestations (e.g. SLSA provenance v1, link
//! predicate v0.3) in DSSE envelopes: parsed into checked types and
//! signature-checked against known keys. The reference verifiers do not use
//! Statements in layout verification; airlock carries them, refuses
//! malformed or unsigned ones, and shows them.
use std::collections::BTreeMap;

use super::envelope::{self, Encoding, Signed};
use crate::json::Json;
use crate::keys::KeyObject;

/// `_type` of a Statement v1.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

/// One subject: a name and its digests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// `name` (may be empty).
    pub name: String,
    /// `digest`: algorithm → hex.
    pub digest: BTreeMap<String, String>,
}

/// A parsed, not yet trusted, attestation.
#[derive(Clone, Debug)]
pub struct Statement {
    /// Subjects (at least one).
    pub subjects: Vec<Subject>,
    /// `predicateType`.
    pub predicate_type: String,
    /// The envelope (for signature checks).
    pub envelope: Signed,
}

/// Parses a DSSE envelope holding a Statement v1.
pub fn parse(bytes: &[u8]) -> Result<Statement, String> {
    let envelope = envelope::parse(bytes)?;
    if envelope.encoding != Encoding::Dsse {
        return Err("an attestation must be a DSSE envelope".into());
    }
    let obj = envelope
        .payload
        .as_obj()
        .ok_or("payload is not an object")?;
    match obj.get("_type").and_then(Json::as_str) {
        Some(STATEMENT_V1) => {}
        Some(t) => {
            return Err(format!(
                "`_type` is {}, not {STATEMENT_V1}",
                crate::excerpt(t)
            ));
        }
        None => return Err("`_type` missing".into()),
    }
    let predicate_type = obj
        .get("predicateType")
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("`predicateType` must be a non-empty string")?
        .to_owned();
    if let Some(p) = obj.get("predicate")
        && p.as_obj().is_none()
    {
        return Err("`predicate` must be an object".into());
    }
    let Some(Json::Arr(items)) = obj.get("subject") else {
        return Err("`subject` must be a list".into());
    };
    if items.is_empty() {
        return Err("`subject` is empty".into());
    }
    let mut subjects = Vec::new();
    for s in items {
        let so = s.as_obj().ok_or("each subject must be an object")?;
        let name = match so.get("name") {
            None => String::new(),
            Some(Json::Str(n)) => n.clone(),
            Some(_) => return Err("subject `name` must be a string".into()),
        };
        let Some(Json::Obj(d)) = so.get("digest") else {
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
            digest.insert(alg.clone(), v.to_owned());
        }
        subjects.push(Subject { name, digest });
    }
    Ok(Statement {
        subjects,
        predicate_type,
        envelope,
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
        let keys: BTreeMap<_, _> = [(
            id.clone(),
            KeyObject::parse(&crate::keys::key_object(s.public_key())).unwrap(),
        )]
        .into();
        assert_eq!(st.signers(&keys), vec![id.as_str()]);
        let _ = b64_encode(b"");
        let bad = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a"}],"predicateType":"x"}"#;
        assert!(parse(&dsse(bad, &[])).unwrap_err().contains("digest"));
    }
}
