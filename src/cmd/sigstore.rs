//! `airlock sigstore verify`: one Sigstore bundle over one artifact, offline,
//! against a trusted root and an identity policy given on the command line
//! or pinned in a trust store; `airlock anchor sigstore`: that pin (src/sigstore
//! does the verifying).

use std::path::{Path, PathBuf};

use airlock_hsm::{SigstorePin, open_store};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::Outcome;
use super::terminal::safe;
use crate::cli::SigstoreVerifyArgs;
use crate::error::Error;
use crate::fsutil::{read_limited, replace_file_with};
use crate::journal::decision::lock_store;
use crate::journal::{Event, Journal, signer_of};
use crate::sigstore::{
    self, ArtifactDigest, Bundle, IdentityPolicy, MAX_JSON, SigningTime, TrustedRoot,
};
use crate::timefmt::{format_utc, now};

/// The SHA-256 of a file, streamed.
fn digest_file(path: &Path) -> Result<ArtifactDigest, Error> {
    let mut file = airlock_hsm::opfile::open_regular(path).map_err(|e| Error::input(path, e))?;
    let (sha256, _) = crate::fsutil::sha256_of(&mut file).map_err(|e| Error::input(path, e))?;
    Ok(ArtifactDigest(sha256))
}

/// Runs `sigstore verify`.
pub fn verify(a: &SigstoreVerifyArgs) -> Result<Outcome, Error> {
    let (root, policy) = match (&a.store, &a.trusted_root) {
        (Some(store), _) => crate::sigstore::carried::pinned(&PathBuf::from(
            store.strip_prefix("file:").unwrap_or(store),
        ))?,
        (None, Some(root)) => (
            TrustedRoot::parse(&read_limited(root, MAX_JSON, "trusted root")?)?,
            IdentityPolicy::new(
                a.certificate_identity.as_deref().unwrap_or_default(),
                a.certificate_oidc_issuer.as_deref().unwrap_or_default(),
            )?,
        ),
        (None, None) => {
            return Err(Error::usage(
                "no trusted root",
                "give --trusted-root, --certificate-identity and --certificate-oidc-issuer, or --store",
            ));
        }
    };
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

/// Runs `anchor sigstore`: shows the pinned policy, or pins a new one
/// (`(trusted root, (identity, issuer))`), journaled as `store.sigstore`.
pub fn pin(dir: &Path, new: Option<(&Path, (&str, &str))>) -> Result<Outcome, Error> {
    let store = open_store(dir)?;
    let before = store.state()?.sigstore;
    let mut out = Outcome::default();
    let Some((root_file, (identity, issuer))) = new else {
        match &before {
            Some(p) => {
                out.line(format!(
                    "store {} verifies Sigstore bundles against trusted root sha256:{}, identity {} (issuer {})",
                    dir.display(),
                    p.trusted_root_sha256,
                    safe(&p.identity),
                    safe(&p.issuer)
                ));
            }
            None => {
                out.line(format!(
                    "store {} has no pinned Sigstore policy",
                    dir.display()
                ));
            }
        }
        out.field("sigstore", pin_json(before.as_ref()));
        return Ok(out);
    };
    let bytes = read_limited(root_file, MAX_JSON, "trusted root")?;
    TrustedRoot::parse(&bytes)?;
    IdentityPolicy::new(identity, issuer)?;
    let pin = SigstorePin {
        trusted_root_sha256: hex::encode(Sha256::digest(&bytes)),
        identity: identity.to_owned(),
        issuer: issuer.to_owned(),
    };
    let signer = signer_of(store.as_ref())?;
    let journal = Journal::new(store.dir(), signer.as_ref())?;
    let lock = lock_store(store.as_ref(), &crate::cmd::warn)?;
    let previous = store.state()?.sigstore;
    replace_file_with(&dir.join(pin.trusted_root_file()), 0o644, |w| {
        w.write_all(&bytes)
    })?;
    let event = Event::new(
        "store.sigstore",
        json!({ "pinned": pin_json(Some(&pin)), "previous": pin_json(previous.as_ref()) }),
    );
    let head = journal.append(&lock, Some(store.journal_head()?), vec![event])?;
    lock.set_sigstore(&pin, &head)?;
    out.line(format!(
        "store {} now verifies Sigstore bundles against trusted root sha256:{}, identity {} (issuer {})",
        dir.display(),
        pin.trusted_root_sha256,
        safe(&pin.identity),
        safe(&pin.issuer)
    ));
    out.field("sigstore", pin_json(Some(&pin)));
    Ok(out)
}

fn pin_json(pin: Option<&SigstorePin>) -> serde_json::Value {
    pin.map_or(serde_json::Value::Null, |p| {
        json!({
            "trusted_root_sha256": p.trusted_root_sha256,
            "identity": p.identity,
            "issuer": p.issuer,
        })
    })
}
