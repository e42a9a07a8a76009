//! Sigstore bundles, verified offline.
//!
//! Upstream provenance (npm and PyPI attestations, GitHub artifact
//! attestations, cosign-signed blobs) comes as Sigstore bundles
//! (`application/vnd.dev.sigstore.bundle…+json`, v0.1 to v0.3). This module
//! checks one against an operator-pinned Sigstore `trusted_root.json` and an
//! identity policy, with no network:
//!
//! 1. [`bundle::Bundle::parse`] turns the untrusted JSON into checked types
//!    once (media type, certificate, one Rekor entry, message signature or
//!    DSSE envelope); nothing after it touches raw JSON.
//! 2. [`verify`] then runs the steps, each a function named for it:
//!    the Rekor entry against the Rekor key the trusted root names (signed
//!    entry timestamp, inclusion proof and signed checkpoint), which gives
//!    the signing time; the certificate chain to a Fulcio CA of the trusted
//!    root valid at that time; the certificate's own validity at that time;
//!    the identity policy (SAN and OIDC issuer, as cosign's
//!    `--certificate-identity` / `--certificate-oidc-issuer`); the signature
//!    over the artifact or the DSSE payload; the artifact's digest; and the
//!    Rekor entry's body against the bundle.
//!
//! The signing time is the Rekor entry's integrated time, trusted only when
//! its signed entry timestamp verifies. Without one (a v0.3 bundle with an
//! inclusion proof only, and no RFC 3161 timestamp airlock can use) the
//! certificate is checked at the current time, where a Fulcio certificate
//! (valid for ten minutes) has long expired: `sigstore-certificate-expired`.
//! RFC 3161 timestamps and the certificate's SCTs are not checked (see
//! docs/supply-chain.md).
//!
//! Why not the `sigstore` crate: its bundle verifier (0.15) does not yet
//! check the Rekor inclusion proof or the signed entry timestamp (both are
//! `TODO`s in `bundle/verify/verifier.rs`), and its `verify` feature pulls in
//! the Fulcio and OAuth clients (reqwest, openidconnect, webbrowser, tokio)
//! that an offline verifier must not carry. The parts written here stand on
//! the RustCrypto crates airlock already uses (`p256`, `p384`, `sha2`) and
//! `x509-cert` (same `der`/`spki` line).
use std::fmt;

pub mod bundle;
pub mod carried;
pub mod cert;
pub mod tlog;
pub mod trust_root;

pub use bundle::{Bundle, Content};
pub use trust_root::TrustedRoot;

/// Largest bundle or trusted root read (bytes).
pub const MAX_JSON: u64 = 4 << 20;

/// Who is at fault for a [`SigstoreError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The bundle (or the artifact) is not acceptable: exit 1.
    Input,
    /// The operator's trusted root or policy: exit 2.
    Operator,
}

/// Why a Sigstore bundle was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigstoreError {
    /// The bundle is not a well-formed Sigstore bundle.
    #[error("the Sigstore bundle is malformed: {0}")]
    BundleMalformed(String),
    /// A well-formed bundle uses something airlock does not verify.
    #[error("the Sigstore bundle is not supported: {0}")]
    BundleUnsupported(String),
    /// The operator's trusted root does not parse.
    #[error("the Sigstore trusted root is malformed: {0}")]
    TrustedRootMalformed(String),
    /// The trust store has no pinned Sigstore policy.
    #[error("the store {0} has no pinned Sigstore policy")]
    NotPinned(String),
    /// The operator's identity policy is unusable.
    #[error("the Sigstore identity policy is unusable: {0}")]
    PolicyInvalid(String),
    /// The signing certificate does not parse or breaks Fulcio's profile.
    #[error("the signing certificate is malformed: {0}")]
    CertificateMalformed(String),
    /// The certificate does not chain to a Fulcio CA of the trusted root.
    #[error("the signing certificate is not issued by a trusted Fulcio CA: {0}")]
    CertificateUntrusted(String),
    /// The certificate was not valid at the signing time.
    #[error("the signing certificate was not valid at {at}: {detail}")]
    CertificateExpired {
        /// The time checked (UTC).
        at: String,
        /// The certificate's validity, and where the time came from.
        detail: String,
    },
    /// The signature does not verify with the certificate's key.
    #[error("the signature does not verify: {0}")]
    SignatureInvalid(String),
    /// The bundle signs something other than the artifact.
    #[error("the bundle does not sign this artifact: {0}")]
    ArtifactMismatch(String),
    /// The bundle has no Rekor evidence its version requires.
    #[error("the bundle has no usable transparency-log evidence: {0}")]
    TlogMissing(String),
    /// The Rekor entry is from a log the trusted root does not name.
    #[error("the transparency log is not trusted: {0}")]
    TlogUntrusted(String),
    /// The signed entry timestamp does not verify.
    #[error("the Rekor signed entry timestamp does not verify: {0}")]
    TlogPromiseInvalid(String),
    /// The inclusion proof or its checkpoint does not verify.
    #[error("the Rekor inclusion proof does not verify: {0}")]
    TlogProofInvalid(String),
    /// The Rekor entry records a different signature, key or payload.
    #[error("the Rekor entry does not match the bundle: {0}")]
    TlogMismatch(String),
    /// No SAN of the certificate is the identity the policy names.
    #[error("the certificate identity {found} is not {expected}")]
    IdentityMismatch {
        /// The certificate's SANs (escaped).
        found: String,
        /// The policy's identity (escaped).
        expected: String,
    },
    /// The certificate's OIDC issuer is not the one the policy names.
    #[error("the certificate's OIDC issuer {found} is not {expected}")]
    IssuerMismatch {
        /// The certificate's issuer (escaped).
        found: String,
        /// The policy's issuer (escaped).
        expected: String,
    },
}

impl SigstoreError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            SigstoreError::BundleMalformed(_) => "sigstore-bundle-malformed",
            SigstoreError::BundleUnsupported(_) => "sigstore-bundle-unsupported",
            SigstoreError::TrustedRootMalformed(_) => "sigstore-trusted-root-malformed",
            SigstoreError::PolicyInvalid(_) => "sigstore-policy-invalid",
            SigstoreError::NotPinned(_) => "sigstore-not-pinned",
            SigstoreError::CertificateMalformed(_) => "sigstore-certificate-malformed",
            SigstoreError::CertificateUntrusted(_) => "sigstore-certificate-untrusted",
            SigstoreError::CertificateExpired { .. } => "sigstore-certificate-expired",
            SigstoreError::SignatureInvalid(_) => "sigstore-signature-invalid",
            SigstoreError::ArtifactMismatch(_) => "sigstore-artifact-mismatch",
            SigstoreError::TlogMissing(_) => "sigstore-tlog-missing",
            SigstoreError::TlogUntrusted(_) => "sigstore-tlog-untrusted",
            SigstoreError::TlogPromiseInvalid(_) => "sigstore-tlog-promise-invalid",
            SigstoreError::TlogProofInvalid(_) => "sigstore-tlog-proof-invalid",
            SigstoreError::TlogMismatch(_) => "sigstore-tlog-mismatch",
            SigstoreError::IdentityMismatch { .. } => "sigstore-identity-mismatch",
            SigstoreError::IssuerMismatch { .. } => "sigstore-issuer-mismatch",
        }
    }

    /// Who is at fault.
    pub fn fault(&self) -> Fault {
        match self {
            Self::TrustedRootMalformed(_) | Self::PolicyInvalid(_) => Fault::Operator,
            Self::NotPinned(_) => Fault::Operator,
            _ => Fault::Input,
        }
    }

    /// What the operator should do.
    pub fn hint(&self) -> &'static str {
        match self {
            SigstoreError::TrustedRootMalformed(_) => {
                "give the trusted_root.json of the Sigstore instance (from its TUF repository, e.g. `sigstore` or `cosign` caches), unchanged"
            }
            SigstoreError::NotPinned(_) => {
                "pin one: airlock anchor sigstore --store STORE --trusted-root trusted_root.json --identity IDENTITY --issuer URL"
            }
            SigstoreError::PolicyInvalid(_) => {
                "name the signer exactly: --certificate-identity (an e-mail or workflow URI) and --certificate-oidc-issuer (an https:// URL)"
            }
            SigstoreError::IdentityMismatch { .. } | SigstoreError::IssuerMismatch { .. } => {
                "the artifact was signed by someone else than the policy names: do not use it, or correct the identity if the policy is wrong"
            }
            SigstoreError::BundleUnsupported(_) => {
                "airlock verifies keyless (Fulcio certificate) bundles with one Rekor hashedrekord or dsse entry; verify this one elsewhere"
            }
            SigstoreError::ArtifactMismatch(_) => {
                "the artifact is not what was signed: do not use it; check you gave the right file"
            }
            SigstoreError::CertificateExpired { .. } => {
                "the certificate was not valid when the bundle was signed, or the bundle proves no signing time (no verified Rekor entry timestamp): do not use it; a bundle with its inclusion promise may prove the time"
            }
            _ => {
                "do not use this artifact: its Sigstore bundle does not verify; get the bundle again from its source"
            }
        }
    }
}

/// The identity policy: who must have signed, as cosign's
/// `--certificate-identity` and `--certificate-oidc-issuer` (exact matches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityPolicy {
    identity: String,
    issuer: String,
}

impl IdentityPolicy {
    /// A policy; both strings must be non-empty.
    pub fn new(identity: &str, issuer: &str) -> Result<IdentityPolicy, SigstoreError> {
        if identity.is_empty() || issuer.is_empty() {
            return Err(SigstoreError::PolicyInvalid(
                "the identity and the OIDC issuer must both be given".into(),
            ));
        }
        Ok(IdentityPolicy {
            identity: identity.to_owned(),
            issuer: issuer.to_owned(),
        })
    }

    /// The identity (certificate SAN).
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The OIDC issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
}

/// The SHA-256 digest of the artifact the bundle must sign.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ArtifactDigest(pub [u8; 32]);

impl fmt::Debug for ArtifactDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

/// Where the signing time came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningTime {
    /// The Rekor entry's integrated time, under a verified signed entry
    /// timestamp.
    Rekor(u64),
    /// No verified time: the certificate was checked at this (current) time.
    Now(u64),
}

impl SigningTime {
    /// The time in unix seconds.
    pub fn secs(self) -> u64 {
        match self {
            SigningTime::Rekor(t) | SigningTime::Now(t) => t,
        }
    }
}

/// What a verified bundle proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The bundle's version (`0.1`, `0.2`, `0.3`).
    pub version: &'static str,
    /// `message-signature` or `dsse`.
    pub content: &'static str,
    /// The certificate SAN that matched the policy.
    pub identity: String,
    /// The certificate's OIDC issuer.
    pub issuer: String,
    /// The signing time.
    pub signed_at: SigningTime,
    /// The Rekor entry's log index.
    pub log_index: u64,
    /// Whether the inclusion proof (and its checkpoint) was verified.
    pub inclusion_proof: bool,
    /// Whether the signed entry timestamp was verified.
    pub inclusion_promise: bool,
    /// The DSSE payload type, for DSSE bundles.
    pub payload_type: Option<String>,
}

/// Verifies `bundle` over the artifact whose SHA-256 is `artifact`, against
/// the pinned `root` and `policy`; `now` (unix seconds) is used only when the
/// bundle proves no signing time.
pub fn verify(
    bundle: &Bundle,
    artifact: &ArtifactDigest,
    root: &TrustedRoot,
    policy: &IdentityPolicy,
    now: u64,
) -> Result<Verified, SigstoreError> {
    let entry = tlog::verify_entry(bundle, root)?;
    let signed_at = match entry.integrated_time {
        Some(t) => SigningTime::Rekor(t),
        None => SigningTime::Now(now),
    };
    let leaf = bundle.leaf();
    cert::verify_chain(leaf, root, signed_at)?;
    cert::verify_validity(leaf, signed_at)?;
    let (identity, issuer) = cert::verify_identity(leaf, policy)?;
    bundle::verify_signature(bundle)?;
    bundle::verify_artifact(bundle, artifact)?;
    tlog::verify_body_matches(bundle, &entry)?;
    Ok(Verified {
        version: bundle.version(),
        content: match bundle.content() {
            Content::MessageSignature { .. } => "message-signature",
            Content::Dsse { .. } => "dsse",
        },
        identity,
        issuer,
        signed_at,
        log_index: entry.log_index,
        inclusion_proof: entry.proof_verified,
        inclusion_promise: entry.integrated_time.is_some(),
        payload_type: match bundle.content() {
            Content::Dsse { payload_type, .. } => Some(payload_type.clone()),
            Content::MessageSignature { .. } => None,
        },
    })
}

/// A protobuf `Timestamp` in JSON (`2021-03-07T03:20:29.000Z`, fractions
/// dropped) as unix seconds.
pub(crate) fn parse_timestamp(s: &str) -> Result<u64, String> {
    let base = match (s.find('.'), s.strip_suffix('Z')) {
        (Some(dot), Some(body))
            if dot + 1 < body.len() && body[dot + 1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            format!("{}Z", &s[..dot])
        }
        _ => s.to_owned(),
    };
    crate::timefmt::parse_utc(&base)
}

/// Standard base64 with padding (protobuf JSON's `bytes`; URL-safe accepted).
pub(crate) fn b64(s: &str) -> Result<Vec<u8>, String> {
    crate::intoto::envelope::b64_decode(s)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::path::Path;

    fn vectors() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/sigstore")
    }

    /// Verifies one case of tests/vectors/sigstore/vectors.json at `now`.
    fn run(case: &serde_json::Value, now: u64) -> Result<Verified, SigstoreError> {
        let read = |k: &str| std::fs::read(vectors().join(case[k].as_str().unwrap())).unwrap();
        let bundle = Bundle::parse(&read("bundle"))?;
        let root = TrustedRoot::parse(&read("trusted_root"))?;
        let policy = IdentityPolicy::new(
            case["identity"].as_str().unwrap(),
            case["issuer"].as_str().unwrap(),
        )?;
        let digest = ArtifactDigest(Sha256::digest(read("artifact")).into());
        verify(&bundle, &digest, &root, &policy, now)
    }

    fn cases() -> Vec<serde_json::Value> {
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(vectors().join("vectors.json")).unwrap())
                .unwrap();
        m["cases"].as_array().unwrap().clone()
    }

    #[test]
    fn every_vector_gets_the_reference_verdict_and_its_code() {
        let now = crate::timefmt::now();
        let mut wrong = Vec::new();
        for case in cases() {
            let name = case["name"].as_str().unwrap();
            let got = run(&case, now).map(|_| ()).map_err(|e| e.code().to_owned());
            let want = match case["code"].as_str() {
                None => Ok(()),
                Some(c) => Err(c.to_owned()),
            };
            assert_eq!(
                case["reference"].as_str().unwrap() == "OK",
                name.starts_with("pass_"),
                "{name}: its name disagrees with the reference verdict"
            );
            if got != want {
                wrong.push(format!(
                    "{name}: got {got:?}, want {want:?} ({:?})",
                    run(&case, now).err()
                ));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn a_verified_dsse_bundle_reports_its_evidence() {
        let case = cases()
            .into_iter()
            .find(|c| c["name"] == "pass_dsse_github_workflow")
            .unwrap();
        let v = run(&case, 0).unwrap();
        assert_eq!(v.version, "0.3");
        assert_eq!(v.content, "dsse");
        assert_eq!(v.issuer, "https://token.actions.githubusercontent.com");
        assert_eq!(v.signed_at, SigningTime::Rekor(1_718_048_845));
        assert!(v.inclusion_proof && v.inclusion_promise);
        assert_eq!(v.payload_type.as_deref(), Some(bundle::INTOTO_PAYLOAD_TYPE));
    }

    #[test]
    fn timestamps_with_and_without_fractions() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:10Z"), Ok(10));
        assert_eq!(parse_timestamp("1970-01-01T00:00:10.000Z"), Ok(10));
        assert_eq!(parse_timestamp("1970-01-01T00:00:10.123456789Z"), Ok(10));
        assert!(parse_timestamp("1970-01-01T00:00:10.Z").is_err());
        assert!(parse_timestamp("1970-01-01T00:00:10.1+01:00").is_err());
    }

    #[test]
    fn policy_needs_both_parts() {
        assert_eq!(
            IdentityPolicy::new("", "https://x").unwrap_err().code(),
            "sigstore-policy-invalid"
        );
        assert_eq!(
            IdentityPolicy::new("a@b", "").unwrap_err().code(),
            "sigstore-policy-invalid"
        );
    }
}
