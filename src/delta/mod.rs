//! Delta bundles on the isolated side (SPEC.md 5.7, docs/transfers.md
//! "Delta bundles"): a delta is accepted only on a store whose journal
//! shows its base as imported, and takes the files it does not carry from
//! that import's destination, re-hashed against its own signed manifest.
//!
//! [`locate`] finds the base's import (journal, store state, the base's
//! signed manifest delivered beside it); [`base`] holds what the verifier
//! needs to stream those files into the staging area; [`error`] the
//! refusals.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use airlock_bundle::{EntryKind, Limits, Manifest};
use airlock_hsm::{StoreState, TrustStore};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::journal::signer_of;
use crate::staging::{METADATA_MANIFEST, metadata_dir};
use crate::verifier::IMAGE_DIR;

pub mod base;
pub mod error;

use base::BaseImport;
use error::DeltaError;

/// The journal's record of one accepted import.
#[derive(Debug, Clone)]
struct Imported {
    seq: u64,
    destination: String,
    manifest_sha256: String,
    channel: String,
    sequence: u64,
}

/// The last accepted, not aborted import of `bundle_id` this store's
/// (verified) journal records.
fn journaled_import(store: &dyn TrustStore, bundle_id: &str) -> Result<Option<Imported>, Error> {
    let signer = signer_of(store)?;
    let mut found: Option<Imported> = None;
    crate::journal::export::check_store(store, signer.public_key(), |r| {
        if r.event != "unpack" || r.str_field("bundle_id") != Some(bundle_id) {
            return;
        }
        match r.str_field("outcome") {
            Some("accepted") => {
                let f = |k: &str| r.str_field(k).map(str::to_owned);
                if let (Some(destination), Some(manifest_sha256), Some(channel), Some(sequence)) = (
                    f("destination"),
                    f("manifest_sha256"),
                    f("channel"),
                    r.fields.get("sequence").and_then(serde_json::Value::as_u64),
                ) {
                    found = Some(Imported {
                        seq: r.seq,
                        destination,
                        manifest_sha256,
                        channel,
                        sequence,
                    });
                }
            }
            Some("aborted") => {
                let aborts = r.fields.get("aborts").and_then(serde_json::Value::as_u64);
                if found.as_ref().is_some_and(|i| Some(i.seq) == aborts) {
                    found = None;
                }
            }
            _ => {}
        }
    })?;
    Ok(found)
}

/// For a delta (`manifest.base` set, signatures already verified), its
/// base's import on this store and the file of that import each entry it
/// takes should come from; `None` for a full bundle.
///
/// Refuses (nothing read but the journal and the base's manifest) when the
/// store never accepted the base, when its import was on another channel
/// or sequence, when the base's delivered manifest is gone or is not the
/// one journaled, and when the delta takes a digest the base's release
/// does not have. Whether the files still hold those bytes is checked as
/// they are copied ([`base::BaseProblems`]).
pub fn locate(
    store: &dyn TrustStore,
    state: &StoreState,
    manifest: &Manifest,
) -> Result<Option<BaseImport>, Error> {
    let Some(b) = &manifest.base else {
        return Ok(None);
    };
    let not_imported = || DeltaError::NotImported {
        delta: manifest.bundle_id.clone(),
        base: b.bundle_id.clone(),
    };
    // The store's own state (bound to its monotonic counter on hardware
    // stores) and the journal must both know the import.
    if !state.ledger_contains(store.dir(), &b.bundle_id)? {
        return Err(not_imported().into());
    }
    let Some(import) = journaled_import(store, &b.bundle_id)? else {
        return Err(not_imported().into());
    };
    if import.channel != manifest.channel || import.sequence != b.sequence {
        return Err(DeltaError::Mismatch {
            delta: manifest.bundle_id.clone(),
            base: b.bundle_id.clone(),
            channel: manifest.channel.clone(),
            sequence: b.sequence,
            imported_channel: import.channel,
            imported_sequence: import.sequence,
        }
        .into());
    }
    let dir = PathBuf::from(&import.destination);
    let base_manifest =
        delivered_manifest(&b.bundle_id, &dir, &import.manifest_sha256, b.entries.len())?;
    // The base's whole release is at its destination (a delta's import is
    // complete too), each file found by its digest.
    let release = base_manifest.full_release();
    // Relative to `dir`: opened beneath it without following links.
    let mut by_digest: HashMap<[u8; 32], PathBuf> = HashMap::new();
    for e in release.artifacts() {
        let p = match e.kind {
            EntryKind::Blob => Path::new(IMAGE_DIR).join("blobs").join(e.path.as_str()),
            _ => PathBuf::from(e.path.as_str()),
        };
        by_digest.entry(e.sha256).or_insert(p);
    }
    let mut files = Vec::with_capacity(b.entries.len());
    for e in &b.entries {
        let Some(p) = by_digest.get(&e.sha256) else {
            return Err(DeltaError::LacksFile {
                delta: manifest.bundle_id.clone(),
                base: b.bundle_id.clone(),
                path: e.tar_path(),
                sha256: hex::encode(e.sha256),
            }
            .into());
        };
        files.push((e.clone(), p.clone()));
    }
    Ok(Some(BaseImport {
        bundle_id: b.bundle_id.clone(),
        dir,
        files,
    }))
}

/// The base's signed manifest as unpack delivered it
/// (`DEST.airlock-metadata/manifest.cbor`), checked against the SHA-256 the
/// journal recorded for that import.
fn delivered_manifest(
    base: &str,
    dir: &Path,
    sha256: &str,
    count: usize,
) -> Result<Manifest, Error> {
    let path = metadata_dir(dir).join(METADATA_MANIFEST);
    let changed = |what: String| DeltaError::Changed {
        base: base.to_owned(),
        dir: dir.display().to_string(),
        files: vec![what],
        count,
    };
    let limits = Limits::default();
    let bytes = crate::fsutil::read_limited(&path, limits.max_manifest_bytes, "manifest")
        .map_err(|_| changed(format!("{} is gone", path.display())))?;
    if hex::encode(Sha256::digest(&bytes)) != sha256 {
        return Err(changed(format!(
            "{} is not the manifest the journal records",
            path.display()
        ))
        .into());
    }
    // The journal vouches for these bytes: if they no longer decode, the
    // format changed under them, which is the environment's problem.
    Manifest::decode(&bytes, &limits).map_err(|e| {
        Error::Internal(format!(
            "the journaled manifest of base {base} does not decode: {e}"
        ))
    })
}
