//! The policy a store has pinned: its bytes in the store directory under
//! `policy/SHA256.toml`, its digest in the store's state (on TPM and
//! PKCS#11 stores bound to the hardware counter, like the channels and the
//! journal head). A file that does not match the pinned digest — swapped,
//! edited, missing — is `policy-tampered`: nothing is accepted until the
//! policy is set again.
use std::path::{Path, PathBuf};

use airlock_hsm::{PolicyPin, StoreState, TrustStore};
use sha2::{Digest, Sha256};

use super::GateError;
use super::file::Policy;

/// The directory of a store that keeps policy files.
pub const POLICY_DIR: &str = "policy";

/// A policy as pinned: its exact text, digest and parsed form.
#[derive(Clone, Debug)]
pub struct Pinned {
    /// SHA-256 (lowercase hex) of the file's bytes.
    pub sha256: String,
    /// The file's text.
    pub text: String,
    /// Parsed.
    pub policy: Policy,
}

/// Where the policy with digest `sha256` lives in the store `dir`.
pub fn path(dir: &Path, sha256: &str) -> PathBuf {
    dir.join(POLICY_DIR).join(format!("{sha256}.toml"))
}

/// SHA-256 (lowercase hex) of policy bytes.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Parses policy bytes as an operator's file.
pub fn parse(bytes: &[u8]) -> Result<Pinned, GateError> {
    let policy = Policy::parse(bytes)?;
    super::eval::compile(&policy).map_err(|reason| GateError::Invalid { reason })?;
    Ok(Pinned {
        sha256: digest(bytes),
        text: String::from_utf8_lossy(bytes).into_owned(),
        policy,
    })
}

/// The policy `state` pins in `store`, checked against its digest; `None`
/// when none is pinned.
pub fn load(store: &dyn TrustStore, state: &StoreState) -> Result<Option<Pinned>, GateError> {
    let Some(PolicyPin { sha256 }) = &state.policy else {
        return Ok(None);
    };
    let p = path(store.dir(), sha256);
    let tampered = |reason: String| GateError::Tampered {
        path: p.display().to_string(),
        reason,
    };
    let meta =
        std::fs::symlink_metadata(&p).map_err(|e| tampered(format!("cannot read it: {e}")))?;
    if !meta.is_file() || meta.len() > super::file::MAX_POLICY_BYTES as u64 {
        return Err(tampered(
            "it is not a regular file of a policy's size".into(),
        ));
    }
    let bytes = std::fs::read(&p).map_err(|e| tampered(format!("cannot read it: {e}")))?;
    let got = digest(&bytes);
    if &got != sha256 {
        return Err(tampered(format!(
            "its SHA-256 is {got}, but the store pins {sha256}"
        )));
    }
    let pinned =
        parse(&bytes).map_err(|e| tampered(format!("the pinned policy does not parse: {e}")))?;
    Ok(Some(pinned))
}
