//! A Sigstore bundle parsed once into checked types: its version, the
//! signing certificate, its one Rekor entry, and its content (a message
//! signature or a DSSE envelope).
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::der::Decode;

use super::trust_root::{RawCert, RawChain, RawLogId};
use super::{ArtifactDigest, SigstoreError, b64};

/// The in-toto payload type, the only DSSE payload a subject can bind.
pub const INTOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// The accepted media types and their versions.
const MEDIA_TYPES: &[(&str, &str)] = &[
    (
        "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "0.1",
    ),
    (
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
        "0.2",
    ),
    (
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
        "0.3",
    ),
    ("application/vnd.dev.sigstore.bundle.v0.3+json", "0.3"),
];

/// Whether `media_type` names a Sigstore bundle (any version), so a caller
/// can tell a Sigstore bundle from other JSON before parsing it.
pub fn is_bundle_media_type(media_type: &str) -> bool {
    media_type.starts_with("application/vnd.dev.sigstore.bundle")
}

/// What the bundle signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A signature over the artifact's SHA-256 digest.
    MessageSignature {
        /// The digest the bundle claims.
        digest: [u8; 32],
        /// The DER ECDSA signature.
        signature: Vec<u8>,
    },
    /// A DSSE envelope with one signature.
    Dsse {
        /// Its payload type.
        payload_type: String,
        /// Its payload.
        payload: Vec<u8>,
        /// The signature over the PAE.
        signature: Vec<u8>,
    },
}

/// The one Rekor entry of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogEntry {
    /// The entry's index in the log.
    pub log_index: u64,
    /// The log's ID (SHA-256 of its key).
    pub log_id: Vec<u8>,
    /// `hashedrekord`, `dsse`…
    pub kind: String,
    /// The kind's version (`0.0.1`).
    pub kind_version: String,
    /// When the log integrated it (claimed; trusted once the SET verifies).
    pub integrated_time: u64,
    /// The canonicalized body as the log stored it.
    pub body: Vec<u8>,
    /// The signed entry timestamp, if any.
    pub promise: Option<Vec<u8>>,
    /// The inclusion proof, if any.
    pub proof: Option<InclusionProof>,
}

/// An RFC 6962 inclusion proof with its signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The leaf's index in the tree.
    pub log_index: u64,
    /// The tree's root hash.
    pub root_hash: Vec<u8>,
    /// The tree's size.
    pub tree_size: u64,
    /// The audit path.
    pub hashes: Vec<Vec<u8>>,
    /// The signed note, if any.
    pub checkpoint: Option<String>,
}

/// A checked Sigstore bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    version: &'static str,
    leaf: Certificate,
    leaf_der: Vec<u8>,
    entry: TlogEntry,
    content: Content,
}

impl Bundle {
    /// The bundle's version.
    pub fn version(&self) -> &'static str {
        self.version
    }

    /// The signing certificate.
    pub fn leaf(&self) -> &Certificate {
        &self.leaf
    }

    /// The signing certificate as DER.
    pub fn leaf_der(&self) -> &[u8] {
        &self.leaf_der
    }

    /// The Rekor entry.
    pub fn entry(&self) -> &TlogEntry {
        &self.entry
    }

    /// What it signs.
    pub fn content(&self) -> &Content {
        &self.content
    }

    /// Parses a bundle: exactly one certificate (or a chain whose first
    /// certificate is the leaf), exactly one Rekor entry, and a message
    /// signature or a DSSE envelope with one signature.
    pub fn parse(bytes: &[u8]) -> Result<Bundle, SigstoreError> {
        crate::json::Json::parse(bytes).map_err(|e| bad(e.0))?;
        let raw: RawBundle = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let version = MEDIA_TYPES
            .iter()
            .find(|(m, _)| *m == raw.media_type)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                if is_bundle_media_type(&raw.media_type) {
                    SigstoreError::BundleUnsupported(format!(
                        "media type {}",
                        crate::excerpt(&raw.media_type)
                    ))
                } else {
                    bad(format!(
                        "media type {} is not a Sigstore bundle",
                        crate::excerpt(&raw.media_type)
                    ))
                }
            })?;
        let vm = raw.verification_material;
        let leaf_b64 = match (&vm.certificate, &vm.x509_certificate_chain, &vm.public_key) {
            (Some(c), None, None) => &c.raw_bytes,
            (None, Some(chain), None) => {
                &chain
                    .certificates
                    .first()
                    .ok_or_else(|| bad("the certificate chain is empty"))?
                    .raw_bytes
            }
            (None, None, Some(_)) => {
                return Err(SigstoreError::BundleUnsupported(
                    "it is signed with a public key, not a Fulcio certificate".into(),
                ));
            }
            _ => {
                return Err(bad(
                    "it needs exactly one of certificate, x509CertificateChain, publicKey",
                ));
            }
        };
        let leaf_der = b64(leaf_b64).map_err(|e| bad(format!("certificate: {e}")))?;
        let leaf = Certificate::from_der(&leaf_der)
            .map_err(|e| SigstoreError::CertificateMalformed(e.to_string()))?;
        let entry = match vm.tlog_entries.as_slice() {
            [one] => entry(one)?,
            [] => {
                return Err(SigstoreError::TlogMissing(
                    "the bundle has no Rekor entry".into(),
                ));
            }
            _ => {
                return Err(SigstoreError::BundleUnsupported(
                    "more than one Rekor entry".into(),
                ));
            }
        };
        let content = match (raw.message_signature, raw.dsse_envelope) {
            (Some(m), None) => {
                if m.message_digest.algorithm != "SHA2_256" {
                    return Err(SigstoreError::BundleUnsupported(format!(
                        "message digest algorithm {}",
                        crate::excerpt(&m.message_digest.algorithm)
                    )));
                }
                let digest = b64(&m.message_digest.digest)
                    .map_err(bad)?
                    .try_into()
                    .map_err(|_| bad("the message digest is not 32 bytes"))?;
                Content::MessageSignature {
                    digest,
                    signature: b64(&m.signature).map_err(bad)?,
                }
            }
            (None, Some(d)) => {
                let [sig] = d.signatures.as_slice() else {
                    return Err(bad("the DSSE envelope must have exactly one signature"));
                };
                Content::Dsse {
                    payload_type: d.payload_type,
                    payload: b64(&d.payload).map_err(bad)?,
                    signature: b64(&sig.sig).map_err(bad)?,
                }
            }
            _ => {
                return Err(bad(
                    "it needs exactly one of messageSignature, dsseEnvelope",
                ));
            }
        };
        match version {
            "0.1" if entry.promise.is_none() => {
                return Err(SigstoreError::TlogMissing(
                    "a v0.1 bundle needs an inclusion promise".into(),
                ));
            }
            "0.2" | "0.3" if entry.proof.as_ref().is_none_or(|p| p.checkpoint.is_none()) => {
                return Err(SigstoreError::TlogMissing(format!(
                    "a v{version} bundle needs an inclusion proof with a checkpoint"
                )));
            }
            _ => {}
        }
        Ok(Bundle {
            version,
            leaf,
            leaf_der,
            entry,
            content,
        })
    }
}

fn bad(s: impl Into<String>) -> SigstoreError {
    SigstoreError::BundleMalformed(s.into())
}

/// A protobuf JSON int64: a string of digits (or, leniently, a number).
fn int(v: &Value, what: &str) -> Result<u64, SigstoreError> {
    match v {
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
            .parse()
            .map_err(|_| bad(format!("{what} is out of range"))),
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| bad(format!("{what} is not an integer"))),
        _ => Err(bad(format!("{what} is not an integer"))),
    }
}

fn entry(e: &RawEntry) -> Result<TlogEntry, SigstoreError> {
    let proof = e
        .inclusion_proof
        .as_ref()
        .map(|p| {
            Ok::<_, SigstoreError>(InclusionProof {
                log_index: int(&p.log_index, "inclusionProof.logIndex")?,
                root_hash: b64(&p.root_hash).map_err(bad)?,
                tree_size: int(&p.tree_size, "inclusionProof.treeSize")?,
                hashes: p
                    .hashes
                    .iter()
                    .map(|h| b64(h).map_err(bad))
                    .collect::<Result<_, _>>()?,
                checkpoint: p.checkpoint.as_ref().map(|c| c.envelope.clone()),
            })
        })
        .transpose()?;
    Ok(TlogEntry {
        log_index: int(&e.log_index, "logIndex")?,
        log_id: b64(&e.log_id.key_id).map_err(bad)?,
        kind: e.kind_version.kind.clone(),
        kind_version: e.kind_version.version.clone(),
        integrated_time: int(&e.integrated_time, "integratedTime")?,
        body: b64(&e.canonicalized_body).map_err(bad)?,
        promise: e
            .inclusion_promise
            .as_ref()
            .map(|p| b64(&p.signed_entry_timestamp).map_err(bad))
            .transpose()?,
        proof,
    })
}

/// Step: the signature over the content verifies with the certificate's key.
pub fn verify_signature(bundle: &Bundle) -> Result<(), SigstoreError> {
    let key = super::cert::leaf_key(bundle.leaf())?;
    let ok = match &bundle.content {
        Content::MessageSignature { digest, signature } => {
            verify_prehashed(&key, digest, signature)
        }
        Content::Dsse {
            payload_type,
            payload,
            signature,
        } => key.verify(
            &crate::intoto::envelope::pae(payload_type, payload),
            signature,
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(SigstoreError::SignatureInvalid(
            "the signature was not made by the certificate's key over this content".into(),
        ))
    }
}

/// ECDSA over a SHA-256 digest given as is (the message signature signs
/// the artifact, which is hashed while streamed, never held in memory).
fn verify_prehashed(key: &airlock_hsm::PublicKey, digest: &[u8; 32], sig: &[u8]) -> bool {
    use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
    match key {
        airlock_hsm::PublicKey::EcdsaP256(k) => p256::ecdsa::Signature::from_der(sig)
            .is_ok_and(|s| k.verify_prehash(digest, &s).is_ok()),
        airlock_hsm::PublicKey::EcdsaP384(k) => p384::ecdsa::Signature::from_der(sig)
            .is_ok_and(|s| k.verify_prehash(digest, &s).is_ok()),
        _ => false,
    }
}

/// Step: the bundle signs this artifact (the message digest, or a subject
/// of the in-toto statement in the DSSE payload).
pub fn verify_artifact(bundle: &Bundle, artifact: &ArtifactDigest) -> Result<(), SigstoreError> {
    match &bundle.content {
        Content::MessageSignature { digest, .. } => {
            if *digest == artifact.0 {
                Ok(())
            } else {
                Err(SigstoreError::ArtifactMismatch(format!(
                    "the bundle signs sha256:{}, the artifact is sha256:{}",
                    hex::encode(digest),
                    hex::encode(artifact.0)
                )))
            }
        }
        Content::Dsse {
            payload_type,
            payload,
            ..
        } => {
            if payload_type != INTOTO_PAYLOAD_TYPE {
                return Err(SigstoreError::BundleUnsupported(format!(
                    "DSSE payload type {} is not an in-toto statement",
                    crate::excerpt(payload_type)
                )));
            }
            let subjects = statement_subjects(payload)?;
            let want = hex::encode(artifact.0);
            if subjects.iter().any(|s| s.eq_ignore_ascii_case(&want)) {
                Ok(())
            } else {
                Err(SigstoreError::ArtifactMismatch(format!(
                    "no subject of the statement has sha256:{want}"
                )))
            }
        }
    }
}

/// The SHA-256 digests of an in-toto statement's subjects.
fn statement_subjects(payload: &[u8]) -> Result<Vec<String>, SigstoreError> {
    #[derive(Deserialize)]
    struct Statement {
        subject: Vec<Subject>,
    }
    #[derive(Deserialize)]
    struct Subject {
        #[serde(default)]
        digest: std::collections::BTreeMap<String, String>,
    }
    let st: Statement = serde_json::from_slice(payload)
        .map_err(|e| bad(format!("the DSSE payload is not an in-toto statement: {e}")))?;
    Ok(st
        .subject
        .into_iter()
        .filter_map(|s| s.digest.get("sha256").cloned())
        .collect())
}

/// SHA-256 of bytes.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBundle {
    media_type: String,
    verification_material: RawMaterial,
    message_signature: Option<RawMessageSignature>,
    dsse_envelope: Option<RawDsse>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMaterial {
    certificate: Option<RawCert>,
    x509_certificate_chain: Option<RawChain>,
    public_key: Option<Value>,
    #[serde(default)]
    tlog_entries: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry {
    log_index: Value,
    log_id: RawLogId,
    kind_version: RawKindVersion,
    integrated_time: Value,
    inclusion_promise: Option<RawPromise>,
    inclusion_proof: Option<RawProof>,
    canonicalized_body: String,
}

#[derive(Deserialize)]
struct RawKindVersion {
    kind: String,
    version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPromise {
    signed_entry_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProof {
    log_index: Value,
    root_hash: String,
    tree_size: Value,
    #[serde(default)]
    hashes: Vec<String>,
    checkpoint: Option<RawCheckpoint>,
}

#[derive(Deserialize)]
struct RawCheckpoint {
    envelope: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMessageSignature {
    message_digest: RawDigest,
    signature: String,
}

#[derive(Deserialize)]
struct RawDigest {
    algorithm: String,
    digest: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDsse {
    payload: String,
    payload_type: String,
    signatures: Vec<RawDsseSig>,
}

#[derive(Deserialize)]
struct RawDsseSig {
    sig: String,
}
