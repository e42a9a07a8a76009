//! The bundle's Rekor entry: from a log the trusted root names, with its
//! signed entry timestamp (the inclusion promise), its RFC 6962 inclusion
//! proof and signed checkpoint, and a body that records this bundle's
//! signature, certificate and content.
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::bundle::{Bundle, Content, InclusionProof, TlogEntry, sha256};
use super::trust_root::{Tlog, TrustedRoot};
use super::{SigstoreError, b64};

/// What the Rekor entry established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedEntry {
    /// The entry's log index.
    pub log_index: u64,
    /// The integrated time, when the signed entry timestamp verified.
    pub integrated_time: Option<u64>,
    /// Whether an inclusion proof (with its checkpoint) verified.
    pub proof_verified: bool,
}

/// Step: the Rekor entry is from a trusted log, and every piece of
/// evidence it carries verifies (at least one must be present).
pub fn verify_entry(bundle: &Bundle, root: &TrustedRoot) -> Result<VerifiedEntry, SigstoreError> {
    let e = bundle.entry();
    let log = root.tlog(&e.log_id).ok_or_else(|| {
        SigstoreError::TlogUntrusted(format!(
            "the trusted root names no Rekor log with ID {}",
            crate::excerpt(&crate::intoto::envelope::b64_encode(&e.log_id))
        ))
    })?;
    if e.promise.is_none() && e.proof.is_none() {
        return Err(SigstoreError::TlogMissing(
            "the Rekor entry has neither an inclusion promise nor an inclusion proof".into(),
        ));
    }
    let integrated_time = match &e.promise {
        Some(set) => {
            verify_promise(e, set, log)?;
            if !log.valid_for.contains(e.integrated_time) {
                return Err(SigstoreError::TlogUntrusted(format!(
                    "the key of {} was not valid at {}",
                    crate::excerpt(&log.base_url),
                    crate::timefmt::format_utc(e.integrated_time)
                )));
            }
            Some(e.integrated_time)
        }
        None => None,
    };
    // A v0.1 bundle may carry a proof without a checkpoint: its root hash
    // is then signed by nobody and proves nothing; the promise (required of
    // v0.1 by the parser) is the evidence. Later versions need the
    // checkpoint (also checked by the parser).
    let proof = e.proof.as_ref().filter(|p| p.checkpoint.is_some());
    if let Some(p) = proof {
        verify_proof(e, p, log)?;
    }
    Ok(VerifiedEntry {
        log_index: e.log_index,
        integrated_time,
        proof_verified: proof.is_some(),
    })
}

/// The signed entry timestamp: Rekor's signature over the canonical JSON
/// of the body, integrated time, log ID and log index.
fn verify_promise(e: &TlogEntry, set: &[u8], log: &Tlog) -> Result<(), SigstoreError> {
    // Keys in RFC 8785 order; the values need no escaping (base64, hex,
    // integers).
    let payload = format!(
        "{{\"body\":\"{}\",\"integratedTime\":{},\"logID\":\"{}\",\"logIndex\":{}}}",
        crate::intoto::envelope::b64_encode(&e.body),
        e.integrated_time,
        hex::encode(&e.log_id),
        e.log_index
    );
    if log.key.verify(payload.as_bytes(), set) {
        Ok(())
    } else {
        Err(SigstoreError::TlogPromiseInvalid(format!(
            "not signed by the key of {} over this entry",
            crate::excerpt(&log.base_url)
        )))
    }
}

fn proof_err(s: impl Into<String>) -> SigstoreError {
    SigstoreError::TlogProofInvalid(s.into())
}

/// The inclusion proof leads from the entry's leaf hash to the root hash,
/// and the checkpoint, signed by the log, commits to that root and size.
fn verify_proof(e: &TlogEntry, p: &InclusionProof, log: &Tlog) -> Result<(), SigstoreError> {
    let leaf = {
        let mut h = Sha256::new();
        h.update([0u8]);
        h.update(&e.body);
        <[u8; 32]>::from(h.finalize())
    };
    let hashes: Vec<[u8; 32]> = p
        .hashes
        .iter()
        .map(|h| <[u8; 32]>::try_from(h.as_slice()))
        .collect::<Result<_, _>>()
        .map_err(|_| proof_err("a proof hash is not 32 bytes"))?;
    let root = root_from_inclusion_proof(p.log_index, p.tree_size, leaf, &hashes)
        .ok_or_else(|| proof_err("the audit path does not fit the index and tree size"))?;
    if root.as_slice() != p.root_hash {
        return Err(proof_err(
            "the audit path does not lead to the root hash: the entry is not in that tree",
        ));
    }
    let Some(note) = &p.checkpoint else {
        return Err(proof_err("the inclusion proof has no checkpoint"));
    };
    verify_checkpoint(note, p, log)
}

/// RFC 9162 2.1.3.2: the root hash an inclusion proof implies.
pub fn root_from_inclusion_proof(
    index: u64,
    size: u64,
    leaf: [u8; 32],
    proof: &[[u8; 32]],
) -> Option<[u8; 32]> {
    if index >= size {
        return None;
    }
    let node = |l: &[u8; 32], r: &[u8; 32]| -> [u8; 32] {
        let mut h = Sha256::new();
        h.update([1u8]);
        h.update(l);
        h.update(r);
        h.finalize().into()
    };
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = leaf;
    for p in proof {
        if sn == 0 {
            return None;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    (sn == 0).then_some(r)
}

/// A signed note (C2SP signed-note): the body (origin, tree size, base64
/// root hash, extension lines), a blank line, then `— NAME BASE64` lines
/// whose bytes are a 4-byte key hint and the signature over the body.
fn verify_checkpoint(note: &str, p: &InclusionProof, log: &Tlog) -> Result<(), SigstoreError> {
    let Some(split) = note.find("\n\n") else {
        return Err(proof_err("the checkpoint is not a signed note"));
    };
    let (body, sigs) = (&note[..=split], &note[split + 2..]);
    let mut lines = body.lines();
    let (_origin, size, root) = (lines.next(), lines.next(), lines.next());
    let size: Option<u64> = size.and_then(|s| s.parse().ok());
    let root = root.and_then(|r| b64(r).ok());
    if size != Some(p.tree_size) || root.as_deref() != Some(p.root_hash.as_slice()) {
        return Err(proof_err(
            "the checkpoint is for another tree than the inclusion proof",
        ));
    }
    let hint = log.key_id.get(..4).unwrap_or_default();
    let signed = sigs.lines().any(|line| {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            return false;
        };
        let Some((_, sig)) = rest.rsplit_once(' ') else {
            return false;
        };
        b64(sig).is_ok_and(|raw| {
            raw.len() > 4 && &raw[..4] == hint && log.key.verify(body.as_bytes(), &raw[4..])
        })
    });
    if signed {
        Ok(())
    } else {
        Err(proof_err(format!(
            "the checkpoint is not signed by the key of {}",
            crate::excerpt(&log.base_url)
        )))
    }
}

/// Step: the Rekor entry's body records this bundle: the same signature,
/// the same certificate, and the same content (artifact digest, or DSSE
/// payload hash).
pub fn verify_body_matches(bundle: &Bundle, _entry: &VerifiedEntry) -> Result<(), SigstoreError> {
    let e = bundle.entry();
    let mismatch = |s: &str| SigstoreError::TlogMismatch(s.into());
    let body: Body = serde_json::from_slice(&e.body)
        .map_err(|err| mismatch(&format!("the Rekor entry body does not parse: {err}")))?;
    if body.kind != e.kind || body.api_version != e.kind_version {
        return Err(mismatch("the entry's kind is not the body's"));
    }
    match (e.kind.as_str(), e.kind_version.as_str(), bundle.content()) {
        ("hashedrekord", "0.0.1", Content::MessageSignature { digest, signature }) => {
            let spec: HashedRekord = serde_json::from_value(body.spec)
                .map_err(|err| mismatch(&format!("hashedrekord body: {err}")))?;
            if spec.data.hash.algorithm != "sha256"
                || !spec
                    .data
                    .hash
                    .value
                    .eq_ignore_ascii_case(&hex::encode(digest))
            {
                return Err(mismatch("it records another artifact digest"));
            }
            if b64(&spec.signature.content).ok().as_deref() != Some(signature.as_slice()) {
                return Err(mismatch("it records another signature"));
            }
            same_certificate(&spec.signature.public_key.content, bundle.leaf_der())
        }
        (
            "dsse",
            "0.0.1",
            Content::Dsse {
                payload, signature, ..
            },
        ) => {
            let spec: DsseBody = serde_json::from_value(body.spec)
                .map_err(|err| mismatch(&format!("dsse body: {err}")))?;
            if spec.payload_hash.algorithm != "sha256"
                || !spec
                    .payload_hash
                    .value
                    .eq_ignore_ascii_case(&hex::encode(sha256(payload)))
            {
                return Err(mismatch("it records another DSSE payload"));
            }
            let [sig] = spec.signatures.as_slice() else {
                return Err(mismatch("it records another number of signatures"));
            };
            if b64(&sig.signature).ok().as_deref() != Some(signature.as_slice()) {
                return Err(mismatch("it records another signature"));
            }
            same_certificate(&sig.verifier, bundle.leaf_der())
        }
        (kind, version, _) => Err(SigstoreError::BundleUnsupported(format!(
            "Rekor entry kind {} {} for this content",
            crate::excerpt(kind),
            crate::excerpt(version)
        ))),
    }
}

/// The body's base64 PEM certificate is the bundle's.
fn same_certificate(b64_pem: &str, leaf_der: &[u8]) -> Result<(), SigstoreError> {
    let pem = b64(b64_pem).unwrap_or_default();
    let der = std::str::from_utf8(&pem).ok().and_then(|pem| {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        b64(body.trim()).ok()
    });
    if der.as_deref() == Some(leaf_der) {
        Ok(())
    } else {
        Err(SigstoreError::TlogMismatch(
            "it records another certificate".into(),
        ))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    api_version: String,
    kind: String,
    spec: serde_json::Value,
}

#[derive(Deserialize)]
struct HashedRekord {
    data: HrData,
    signature: HrSignature,
}

#[derive(Deserialize)]
struct HrData {
    hash: Hash,
}

#[derive(Deserialize)]
struct Hash {
    algorithm: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HrSignature {
    content: String,
    public_key: HrKey,
}

#[derive(Deserialize)]
struct HrKey {
    content: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DsseBody {
    payload_hash: Hash,
    signatures: Vec<DsseSig>,
}

#[derive(Deserialize)]
struct DsseSig {
    signature: String,
    verifier: String,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn leaf(i: u8) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update([0u8, i]);
        h.finalize().into()
    }

    fn node(l: [u8; 32], r: [u8; 32]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update([1u8]);
        h.update(l);
        h.update(r);
        h.finalize().into()
    }

    #[test]
    fn inclusion_proofs_in_a_five_leaf_tree() {
        // RFC 6962 tree of 5 leaves: ((01)(23))4.
        let (l0, l1, l2, l3, l4) = (leaf(0), leaf(1), leaf(2), leaf(3), leaf(4));
        let n01 = node(l0, l1);
        let n23 = node(l2, l3);
        let n0123 = node(n01, n23);
        let root = node(n0123, l4);
        assert_eq!(
            root_from_inclusion_proof(2, 5, l2, &[l3, n01, l4]),
            Some(root)
        );
        assert_eq!(root_from_inclusion_proof(4, 5, l4, &[n0123]), Some(root));
        assert_eq!(
            root_from_inclusion_proof(0, 5, l0, &[l1, n23, l4]),
            Some(root)
        );
        // Wrong index, too long a path, index past the end.
        assert_ne!(
            root_from_inclusion_proof(3, 5, l2, &[l3, n01, l4]),
            Some(root)
        );
        assert_eq!(root_from_inclusion_proof(4, 5, l4, &[n0123, l0]), None);
        assert_eq!(root_from_inclusion_proof(5, 5, l4, &[n0123]), None);
    }
}
