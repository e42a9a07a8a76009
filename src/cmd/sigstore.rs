//! `airlock sigstore verify`: one Sigstore bundle over one artifact, offline,
//! against a trusted root and an identity policy given on the command line
//! (src/sigstore does the verifying).
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::Outcome;
use super::terminal::safe;
use crate::cli::SigstoreVerifyArgs;
use crate::error::Error;
use crate::fsutil::read_limited;
use crate::sigstore::{
    self, ArtifactDigest, Bundle, IdentityPolicy, MAX_JSON, SigningTime, TrustedRoot,
};
use crate::timefmt::{format_utc, now};

/// The SHA-256 of a file, streamed.
fn digest_file(path: &Path) -> Result<ArtifactDigest, Error> {
    let mut file = airlock_hsm::opfile::open_regular(path).map_err(|e| Error::input(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::input(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(ArtifactDigest(hasher.finalize().into()))
}

/// Runs `sigstore verify`.
pub fn verify(a: &SigstoreVerifyArgs) -> Result<Outcome, Error> {
    let policy = IdentityPolicy::new(&a.certificate_identity, &a.certificate_oidc_issuer)?;
    let root = TrustedRoot::parse(&read_limited(&a.trusted_root, MAX_JSON, "trusted root")?)?;
    let bundle = Bundle::parse(&read_limited(&a.bundle, MAX_JSON, "bundle")?)?;
    let artifact = digest_file(&a.artifact)?;
    let v = sigstore::verify(&bundle, &artifact, &root, &policy, now())?;
    let (time, source) = match v.signed_at {
        SigningTime::Rekor(t) => (t, "rekor"),
        SigningTime::Now(t) => (t, "now"),
    };
    let mut out = Outcome::default();
    out.line(format!(
        "verified: {} is signed by {} (issuer {}) at {}, Rekor log index {}",
        a.artifact.display(),
        safe(&v.identity),
        safe(&v.issuer),
        format_utc(time),
        v.log_index
    ));
    out.line(format!(
        "bundle v{}, {}; inclusion promise {}, inclusion proof {}",
        v.version,
        v.content,
        if v.inclusion_promise {
            "verified"
        } else {
            "absent"
        },
        if v.inclusion_proof {
            "verified"
        } else {
            "absent"
        },
    ));
    out.field("artifact", a.artifact.display().to_string())
        .field("sha256", hex::encode(artifact.0))
        .field("bundle_version", v.version)
        .field("content", v.content)
        .field("identity", v.identity)
        .field("issuer", v.issuer)
        .field("signed_at", format_utc(time))
        .field("time_source", source)
        .field("log_index", v.log_index)
        .field("inclusion_promise", v.inclusion_promise)
        .field("inclusion_proof", v.inclusion_proof)
        .field("payload_type", v.payload_type);
    Ok(out)
}
