//! The anchor the isolated side verifies against, as the trust store
//! vouches for it.
//!
//! A hardware-backed store holds the root it was provisioned with in
//! hardware and keeps the roots accepted since (rotations) in its directory.
//! Before a store's anchor is used, the chain from the hardware-held root to
//! the current one is checked here exactly as a carried rotation is: each
//! root is version + 1 of its predecessor and signed by a threshold of the
//! predecessor's root keys and of its own. A root swapped into the store
//! directory fails this check and the store is refused.
use std::io::Read;
use std::path::Path;

use airlock_hsm::{Anchor, TrustStore};

use crate::error::Error;
use crate::tuf::Root;
use crate::tuf::RootError;
use crate::tuf::root::MAX_ROOT_BYTES;

/// Reads and structurally checks a root file named by the operator. A file
/// that cannot be read is the operator's mistake (exit 2); one that is too
/// large or malformed is a refused root (exit 1).
pub fn read_root(path: &Path) -> Result<(Root, Vec<u8>), Error> {
    let file = airlock_hsm::opfile::open_regular(path).map_err(|e| Error::input(path, e))?;
    let size = file.metadata().map_err(|e| Error::input(path, e))?.len();
    if size > MAX_ROOT_BYTES as u64 {
        return Err(RootError::TooLarge {
            size: usize::try_from(size).unwrap_or(usize::MAX),
            limit: MAX_ROOT_BYTES,
        }
        .into());
    }
    let mut bytes = Vec::new();
    file.take(MAX_ROOT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::input(path, e))?;
    let root = Root::parse(&bytes)?;
    Ok((root, bytes))
}

/// The root an anchor holds: the store vouches for these bytes, so a root
/// that does not parse means a damaged store (`store-corrupt`, exit 3).
pub fn anchored_root(anchor: &Anchor) -> Result<Root, Error> {
    Root::parse(&anchor.root_json).map_err(Error::AnchorUnparsable)
}

/// The store's current anchor, after checking its chain from the root its
/// hardware holds.
pub fn trusted_anchor(store: &dyn TrustStore) -> Result<Anchor, Error> {
    let history = store.anchor_history()?;
    let mismatch = |reason: String| -> Error {
        airlock_hsm::Error::AnchorMismatch {
            path: store.dir().to_owned(),
            reason,
        }
        .into()
    };
    let mut roots = history.iter().map(|a| {
        Root::parse(&a.root_json)
            .map_err(|e| mismatch(format!("root version {} does not parse: {e}", a.version)))
    });
    let Some(first) = roots.next() else {
        return Err(mismatch("the store lists no root".into()));
    };
    let mut current = first?;
    for next in roots {
        let next = next?;
        if next.version != current.version + 1 {
            return Err(mismatch(format!(
                "root version {} follows version {}",
                next.version, current.version
            )));
        }
        next.check_signed_by(&current)
            .and_then(|()| next.check_signed_by(&next))
            .map_err(|e| {
                mismatch(format!(
                    "root version {} in the store is not a valid rotation of version {}: {e}",
                    next.version, current.version
                ))
            })?;
        current = next;
    }
    history
        .into_iter()
        .next_back()
        .ok_or_else(|| mismatch("the store lists no root".into()))
}
