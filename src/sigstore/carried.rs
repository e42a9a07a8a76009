//! Sigstore bundles carried inside an airlock bundle (`pack --attestation`):
//! each must sign an artifact or an image of the bundle (its message digest,
//! or a subject of its in-toto statement, equal to an artifact's SHA-256 or
//! to the digest of an image's manifest or index, as the signed manifest
//! records it — the same binding as in-toto attestations) and, on
//! the isolated side, verify against the Sigstore policy pinned in the trust
//! store (`anchor sigstore`): a bundle carrying one into a store without a
//! pin is refused (`sigstore-not-pinned`).
use std::path::Path;

use airlock_bundle::{Entry, EntryKind, Image};
use airlock_hsm::TrustStore;
use sha2::{Digest, Sha256};

use super::{ArtifactDigest, Bundle, IdentityPolicy, MAX_JSON, SigstoreError, TrustedRoot};
use crate::error::Error;

/// Whether `bytes` is a Sigstore bundle (a JSON object whose `mediaType`
/// names one), as opposed to a DSSE envelope or anything else.
pub fn is_sigstore_bundle(bytes: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        media_type: Option<String>,
    }
    serde_json::from_slice::<Probe>(bytes)
        .ok()
        .and_then(|p| p.media_type)
        .is_some_and(|m| super::bundle::is_bundle_media_type(&m))
}

/// The Sigstore bundles of an airlock bundle and the digests of its
/// artifacts and images.
#[derive(Debug, Clone, Default)]
pub struct Carried {
    bundles: Vec<(String, Vec<u8>)>,
    artifacts: Vec<ArtifactDigest>,
}

impl Carried {
    /// The Sigstore bundles among `attestations`, with the digests of the
    /// artifacts among `entries` and of `images` (manifest or index).
    pub fn gather(
        attestations: &[(String, &[u8])],
        entries: &[Entry],
        images: &[Image],
    ) -> Carried {
        Carried {
            bundles: attestations
                .iter()
                .filter(|(_, b)| is_sigstore_bundle(b))
                .map(|(name, b)| (name.clone(), b.to_vec()))
                .collect(),
            artifacts: entries
                .iter()
                .filter(|e| e.kind == EntryKind::Artifact)
                .map(|e| ArtifactDigest(e.sha256))
                .chain(images.iter().map(|i| ArtifactDigest(i.digest)))
                .collect(),
        }
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.bundles.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.bundles.is_empty()
    }

    /// The connected side (`pack`, no policy): each parses and signs an
    /// artifact or an image of the bundle.
    pub fn check_bound(&self) -> Result<(), SigstoreError> {
        for (name, bytes) in &self.bundles {
            let bundle = Bundle::parse(bytes).map_err(|e| named(name, e))?;
            bound(&bundle, &self.artifacts).map_err(|e| named(name, e))?;
        }
        Ok(())
    }

    /// The isolated side: each verifies against the store's pinned policy
    /// at `now` (used only when a bundle proves no signing time).
    pub fn verify_pinned(&self, store: &dyn TrustStore, now: u64) -> Result<(), Error> {
        if self.bundles.is_empty() {
            return Ok(());
        }
        let (root, policy) = pinned(store.dir())?;
        for (name, bytes) in &self.bundles {
            let bundle = Bundle::parse(bytes).map_err(|e| named(name, e))?;
            let artifact = bound(&bundle, &self.artifacts).map_err(|e| named(name, e))?;
            super::verify(&bundle, &artifact, &root, &policy, now).map_err(|e| named(name, e))?;
        }
        Ok(())
    }
}

/// The artifact of the bundle that `bundle` signs.
fn bound(bundle: &Bundle, artifacts: &[ArtifactDigest]) -> Result<ArtifactDigest, SigstoreError> {
    let mut last = None;
    for a in artifacts {
        match super::bundle::verify_artifact(bundle, a) {
            Ok(()) => return Ok(*a),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(SigstoreError::ArtifactMismatch(_)) | None => {
            SigstoreError::ArtifactMismatch("it signs no artifact or image of the bundle".into())
        }
        Some(e) => e,
    })
}

/// Names the carried file in the error's message (the code is unchanged).
fn named(name: &str, e: SigstoreError) -> SigstoreError {
    let prefix = |s: String| format!("attestation {}: {s}", crate::excerpt(name));
    match e {
        SigstoreError::BundleMalformed(s) => SigstoreError::BundleMalformed(prefix(s)),
        SigstoreError::BundleUnsupported(s) => SigstoreError::BundleUnsupported(prefix(s)),
        SigstoreError::ArtifactMismatch(s) => SigstoreError::ArtifactMismatch(prefix(s)),
        SigstoreError::SignatureInvalid(s) => SigstoreError::SignatureInvalid(prefix(s)),
        SigstoreError::CertificateUntrusted(s) => SigstoreError::CertificateUntrusted(prefix(s)),
        SigstoreError::TlogProofInvalid(s) => SigstoreError::TlogProofInvalid(prefix(s)),
        SigstoreError::TlogPromiseInvalid(s) => SigstoreError::TlogPromiseInvalid(prefix(s)),
        other => other,
    }
}

/// The trusted root and identity policy pinned in the store at `dir`.
pub fn pinned(dir: &Path) -> Result<(TrustedRoot, IdentityPolicy), Error> {
    let store = airlock_hsm::open_store(dir)?;
    let Some(pin) = store.state()?.sigstore else {
        return Err(SigstoreError::NotPinned(dir.display().to_string()).into());
    };
    let path = dir.join(pin.trusted_root_file());
    let bytes = crate::fsutil::read_limited(&path, MAX_JSON, "pinned trusted root")?;
    if hex::encode(Sha256::digest(&bytes)) != pin.trusted_root_sha256 {
        return Err(airlock_hsm::Error::StoreCorrupt {
            path,
            reason: "the pinned Sigstore trusted root is not the one the state names".into(),
        }
        .into());
    }
    Ok((
        TrustedRoot::parse(&bytes)?,
        IdentityPolicy::new(&pin.identity, &pin.issuer)?,
    ))
}
