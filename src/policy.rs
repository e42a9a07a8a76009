//! The trust policy of the isolated side: who may sign a manifest and when a
//! bundle is fresh (design.md, trust chain steps 3 and 4).
use airlock_bundle::{Manifest, Signatures, index_signing_message, signing_message};
use airlock_hsm::StoreState;

use crate::keys::{Tally, tally};
use crate::timefmt::format_utc;
use crate::tuf::Root;

/// A bundle the policy refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// Too few valid signatures by the final root's targets keys.
    #[error(
        "{signed} is signed by {counted} of the {threshold} targets keys root version {root_version} requires"
    )]
    ManifestThreshold {
        /// What was signed: the manifest or the volume index.
        signed: &'static str,
        /// Distinct valid targets-key signatures.
        counted: usize,
        /// Required.
        threshold: u64,
        /// The root whose targets role was used.
        root_version: u64,
    },
    /// A manifest signature by a keyid outside the final root's targets role
    /// (or by a key type airlock cannot verify).
    #[error(
        "{signed} signature by {keyid} is not from a targets key of root version {root_version}"
    )]
    UnknownSigner {
        /// What was signed: the manifest or the volume index.
        signed: &'static str,
        /// The signature's keyid (bounded excerpt).
        keyid: String,
        /// The root whose targets role was used.
        root_version: u64,
    },
    /// A manifest signature by a targets key that does not verify.
    #[error("{signed} signature by targets key {keyid} does not verify")]
    BadSignature {
        /// What was signed: the manifest or the volume index.
        signed: &'static str,
        /// The keyid.
        keyid: String,
    },
    /// The manifest has expired.
    #[error("bundle expired at {} (verification time {})", format_utc(*expires), format_utc(*time))]
    Expired {
        /// Manifest expiry.
        expires: u64,
        /// Verification time.
        time: u64,
    },
    /// The sequence is not above the last accepted one on its channel.
    #[error(
        "rollback: sequence {sequence} on channel {channel} is not above the last accepted {last}"
    )]
    Rollback {
        /// Channel.
        channel: String,
        /// The bundle's sequence.
        sequence: u64,
        /// The store's last accepted sequence.
        last: u64,
    },
    /// The sequence is above 2^53 − 1: it could not be journaled exactly
    /// (JSON numbers) and 2^64 − 1 would close its channel for good.
    #[error("sequence {sequence} is above the largest allowed, {}", MAX_SEQUENCE)]
    SequenceOutOfRange {
        /// The bundle's sequence.
        sequence: u64,
    },
    /// The bundle id was accepted before.
    #[error("replay: bundle {bundle_id} has already been imported")]
    Replay {
        /// The bundle id.
        bundle_id: String,
    },
}

impl Rejection {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::ManifestThreshold { .. } => "signature-threshold",
            Rejection::UnknownSigner { .. } => "signature-unknown-key",
            Rejection::BadSignature { .. } => "signature-invalid",
            Rejection::Expired { .. } => "bundle-expired",
            Rejection::Rollback { .. } => "rollback",
            Rejection::Replay { .. } => "replay",
            Rejection::SequenceOutOfRange { .. } => "sequence-out-of-range",
        }
    }

    /// What to do.
    pub fn hint(&self) -> &'static str {
        match self {
            Rejection::ManifestThreshold { .. } => {
                "the bundle is not signed by enough of the trusted targets keys: have it re-signed by authorized release keys"
            }
            Rejection::UnknownSigner { .. } | Rejection::BadSignature { .. } => {
                "the bundle carries a signature that is not a valid targets-key signature: it was altered or signed with the wrong key; do not use it"
            }
            Rejection::Expired { .. } => "ask the producer for a freshly packed bundle",
            Rejection::SequenceOutOfRange { .. } => {
                "sequences go up to 2^53 - 1 (9007199254740991): ask the producer for a bundle with a smaller --sequence"
            }
            Rejection::Rollback { .. } => {
                "a newer bundle on this channel is already imported: ask for a bundle with a higher --sequence"
            }
            Rejection::Replay { .. } => "this exact bundle was imported before; nothing to do",
        }
    }
}

/// Requires every manifest signature to be a valid signature by a targets
/// key of `root`, and a threshold of distinct targets keys among them;
/// returns the keyids that counted.
///
/// Stricter than TUF's rule for metadata (which ignores bad signatures): a
/// bundle carries no signature that does not verify, so no byte of the
/// signatures entry can change unnoticed.
pub fn check_signatures(
    root: &Root,
    manifest_bytes: &[u8],
    signatures: &Signatures,
) -> Result<Vec<String>, Rejection> {
    check_signed(
        root,
        &signing_message(manifest_bytes),
        signatures,
        "manifest",
    )
}

/// What a volume index signature is called in a [`Rejection`].
pub const INDEX: &str = "volume index";

/// [`check_signatures`] for the volume index of a split bundle: the same
/// keys and rule, over the index's own signing message.
pub fn check_index_signatures(
    root: &Root,
    index_bytes: &[u8],
    signatures: &Signatures,
) -> Result<Vec<String>, Rejection> {
    check_signed(root, &index_signing_message(index_bytes), signatures, INDEX)
}

fn check_signed(
    root: &Root,
    msg: &[u8],
    signatures: &Signatures,
    signed: &'static str,
) -> Result<Vec<String>, Rejection> {
    for s in &signatures.0 {
        let key = root
            .targets
            .keyids
            .contains(&s.keyid)
            .then(|| root.keys.get(&s.keyid).and_then(|k| k.public.as_ref()))
            .flatten();
        let Some(key) = key else {
            return Err(Rejection::UnknownSigner {
                signed,
                keyid: crate::excerpt(&s.keyid),
                root_version: root.version,
            });
        };
        if !key.verify(msg, &s.sig) {
            return Err(Rejection::BadSignature {
                signed,
                keyid: s.keyid.clone(),
            });
        }
    }
    let t: Tally = tally(
        &root.targets.keyids,
        root.targets.threshold,
        &root.keys,
        signatures
            .0
            .iter()
            .map(|s| (s.keyid.as_str(), s.sig.as_slice())),
        msg,
    );
    if t.met() {
        Ok(t.counted)
    } else {
        Err(Rejection::ManifestThreshold {
            signed,
            counted: t.counted.len(),
            threshold: t.threshold,
            root_version: root.version,
        })
    }
}

/// Requires the manifest to be unexpired, new on its channel and never seen.
pub fn check_freshness(
    manifest: &Manifest,
    state: &StoreState,
    time: u64,
) -> Result<(), Rejection> {
    if manifest.expires <= time {
        return Err(Rejection::Expired {
            expires: manifest.expires,
            time,
        });
    }
    if manifest.sequence > MAX_SEQUENCE {
        return Err(Rejection::SequenceOutOfRange {
            sequence: manifest.sequence,
        });
    }
    if state.accepted.contains(&manifest.bundle_id) {
        return Err(Rejection::Replay {
            bundle_id: manifest.bundle_id.clone(),
        });
    }
    if let Some(&last) = state.channels.get(&manifest.channel)
        && manifest.sequence <= last
    {
        return Err(Rejection::Rollback {
            channel: manifest.channel.clone(),
            sequence: manifest.sequence,
            last,
        });
    }
    Ok(())
}

/// The largest sequence number a bundle may carry: 2^53 − 1, the largest
/// integer every JSON reader of the journal holds exactly.
pub const MAX_SEQUENCE: u64 = (1 << 53) - 1;

/// The verification time: the operator's override, or the later of the
/// system clock and the latest time the store has seen (so turning the clock
/// back revives nothing).
pub fn verification_time(at: Option<u64>, state: &StoreState, now: u64) -> u64 {
    at.unwrap_or_else(|| now.max(state.latest_time))
}
