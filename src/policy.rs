//! The trust policy of the isolated side: who may sign a manifest and when a
//! bundle is fresh (docs/isolated-side.md, "Verify and import", steps 2
//! and 3).
use airlock_bundle::{Manifest, Signatures, index_signing_message, signing_message};
use airlock_hsm::{StoreState, TrustStore};

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
    /// A valid targets-key signature in another encoding than the one the
    /// format allows (ECDSA with a high `S`, or DER that does not
    /// re-encode): a second, byte-different bundle with the same meaning.
    #[error(
        "{signed} signature by targets key {keyid} is valid but not in its one encoding (ECDSA low-S, canonical DER)"
    )]
    NotCanonical {
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
    /// The bundle's channel is not one the store accepts.
    #[error("channel {channel} is not accepted by this store (it accepts: {allowed})")]
    ChannelNotAllowed {
        /// The bundle's channel.
        channel: String,
        /// The channels the store accepts, comma-separated (or "none").
        allowed: String,
    },
    /// The bundle claims to be created later than the verification time
    /// allows.
    #[error(
        "bundle created {} is in the future (verification time {}, allowed clock skew {} s)",
        format_utc(*created), format_utc(*time), MAX_CLOCK_SKEW
    )]
    FromFuture {
        /// The manifest's creation time.
        created: u64,
        /// Verification time.
        time: u64,
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
    /// The bundle is directed to other enclaves than this store's.
    #[error("bundle is directed to enclave(s) {listed}, not to this store's enclave {enclave}")]
    NotForThisEnclave {
        /// This store's enclave id (or "none" for a store without a journal).
        enclave: String,
        /// The enclave ids the manifest names, comma-separated (the first
        /// few, then how many more).
        listed: String,
    },
    /// The sequence is below the floor an operator set for its channel.
    #[error(
        "sequence {sequence} on channel {channel} is below the channel's floor {floor} (set by `anchor floor`)"
    )]
    BelowFloor {
        /// Channel.
        channel: String,
        /// The bundle's sequence.
        sequence: u64,
        /// The channel's floor.
        floor: u64,
    },
}

impl Rejection {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::ManifestThreshold { .. } => "signature-threshold",
            Rejection::UnknownSigner { .. } => "signature-unknown-key",
            Rejection::BadSignature { .. } => "signature-invalid",
            Rejection::NotCanonical { .. } => "signature-not-low-s",
            Rejection::Expired { .. } => "bundle-expired",
            Rejection::Rollback { .. } => "rollback",
            Rejection::Replay { .. } => "replay",
            Rejection::ChannelNotAllowed { .. } => "channel-not-allowed",
            Rejection::FromFuture { .. } => "bundle-from-future",
            Rejection::SequenceOutOfRange { .. } => "sequence-out-of-range",
            Rejection::NotForThisEnclave { .. } => "bundle-not-for-this-enclave",
            Rejection::BelowFloor { .. } => "sequence-below-floor",
        }
    }

    /// What to do.
    pub fn hint(&self) -> &'static str {
        match self {
            Rejection::ManifestThreshold { .. } => {
                "the bundle is not signed by enough of the trusted targets keys: have it re-signed by authorized release keys"
            }
            Rejection::UnknownSigner { .. }
            | Rejection::BadSignature { .. }
            | Rejection::NotCanonical { .. } => {
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
            Rejection::ChannelNotAllowed { .. } => {
                "the store accepts bundles only on its own channels: if this channel is wanted, an operator allows it with `airlock anchor channels --store STORE --allow CHANNEL`"
            }
            Rejection::FromFuture { .. } => {
                "the connected side's clock (or --source-date-epoch) is ahead, or this machine's clock is behind: fix the clock that is wrong; the store never moves its clock to a future time"
            }
            Rejection::NotForThisEnclave { .. } => {
                "the bundle was packed for other enclaves (pack --for): carry it to one of them, or ask the producer for a bundle packed --for this store's enclave id (`airlock anchor show` prints it)"
            }
            Rejection::BelowFloor { .. } => {
                "this enclave decided that releases older than the floor must not come back: ask for a bundle at or above the floor (`airlock anchor show` lists the floors)"
            }
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
        if !key.is_canonical_signature(&s.sig) {
            return Err(Rejection::NotCanonical {
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

/// How far ahead of the verification time a bundle's `created` may be:
/// the clocks of two machines on either side of a gap differ a little.
pub const MAX_CLOCK_SKEW: u64 = 900;

/// What the store knows of a fresh bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "an imported bundle is a replay once the rest of it verifies"]
pub enum Freshness {
    /// Never imported, and newer than the last import on its channel.
    New,
    /// This bundle id was imported before: the caller finishes every other
    /// check, so that a tampered copy is reported as what is wrong with it,
    /// and refuses an intact one with [`Freshness::replay`].
    Imported(Rejection),
}

impl Freshness {
    /// `Ok` for a new bundle; the replay refusal for an imported one.
    pub fn replay(self) -> Result<(), Rejection> {
        match self {
            Freshness::New => Ok(()),
            Freshness::Imported(r) => Err(r),
        }
    }
}

/// Requires a directed manifest (one that names enclaves, SPEC.md 5.6) to
/// name `enclave`, this store's enclave id ([`enclave_id`]); an undirected
/// one passes. A store without an enclave id accepts no directed bundle.
pub fn check_directed(manifest: &Manifest, enclave: Option<&str>) -> Result<(), Rejection> {
    if manifest.enclaves.is_empty()
        || enclave.is_some_and(|id| manifest.enclaves.iter().any(|e| e == id))
    {
        return Ok(());
    }
    // At most a few ids in the message: a manifest may name 256.
    const SHOWN: usize = 4;
    let mut listed = manifest.enclaves[..manifest.enclaves.len().min(SHOWN)].join(", ");
    if manifest.enclaves.len() > SHOWN {
        listed.push_str(&format!(" and {} more", manifest.enclaves.len() - SHOWN));
    }
    Err(Rejection::NotForThisEnclave {
        enclave: enclave.unwrap_or("none (the store has no journal)").into(),
        listed,
    })
}

/// The store's enclave id: the keyid of its journal key (the lowercase hex
/// SHA-256 of the key's SPKI DER), `None` for a store without a journal.
/// The journal key never leaves its backend and no two stores share one, so
/// the id names one enclave without anyone having to hand out names; it
/// changes only when the journal does (`anchor init --new-journal`).
pub fn enclave_id(store: &dyn TrustStore) -> Result<Option<String>, airlock_hsm::Error> {
    match store.journal_public_key() {
        Ok(k) => Ok(Some(airlock_hsm::journal::journal_keyid(&k))),
        Err(airlock_hsm::Error::JournalNotStarted { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Requires the manifest to be on a channel the store accepts, created no
/// later than `time` plus [`MAX_CLOCK_SKEW`] (the store's clock moves to an
/// accepted bundle's `created`, so a future one would move it there),
/// unexpired, and new on its channel; a bundle id imported before is
/// [`Freshness::Imported`]. `in_ledger` answers whether the store accepted
/// a bundle id (a read of its ledger file, [`StoreState::ledger_contains`]);
/// it is asked only about a bundle whose sequence is not above its
/// channel's last, since every accepted bundle's is not: a new bundle
/// costs no read of the ledger, whatever its length.
pub fn check_freshness<E: From<Rejection>>(
    manifest: &Manifest,
    state: &StoreState,
    time: u64,
    in_ledger: impl FnOnce(&str) -> Result<bool, E>,
) -> Result<Freshness, E> {
    if !state.allowed_channels.contains(&manifest.channel) {
        let allowed: Vec<&str> = state.allowed_channels.iter().map(String::as_str).collect();
        return Err(Rejection::ChannelNotAllowed {
            channel: manifest.channel.clone(),
            allowed: if allowed.is_empty() {
                "none".into()
            } else {
                allowed.join(", ")
            },
        }
        .into());
    }
    if manifest.created > time.saturating_add(MAX_CLOCK_SKEW) {
        return Err(Rejection::FromFuture {
            created: manifest.created,
            time,
        }
        .into());
    }
    if manifest.expires <= time {
        return Err(Rejection::Expired {
            expires: manifest.expires,
            time,
        }
        .into());
    }
    if manifest.sequence > MAX_SEQUENCE {
        return Err(Rejection::SequenceOutOfRange {
            sequence: manifest.sequence,
        }
        .into());
    }
    // A floor holds even for a bundle imported before it was set: what it
    // keeps out must not come back, not even as a replay.
    if let Some(&floor) = state.floors.get(&manifest.channel)
        && manifest.sequence < floor
    {
        return Err(Rejection::BelowFloor {
            channel: manifest.channel.clone(),
            sequence: manifest.sequence,
            floor,
        }
        .into());
    }
    // Above the channel's last sequence: never accepted (no accepted
    // bundle's sequence is above it), so no read of the ledger.
    let Some(&last) = state
        .channels
        .get(&manifest.channel)
        .filter(|&&last| manifest.sequence <= last)
    else {
        return Ok(Freshness::New);
    };
    if in_ledger(&manifest.bundle_id)? {
        return Ok(Freshness::Imported(Rejection::Replay {
            bundle_id: manifest.bundle_id.clone(),
        }));
    }
    Err(Rejection::Rollback {
        channel: manifest.channel.clone(),
        sequence: manifest.sequence,
        last,
    }
    .into())
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use airlock_bundle::{Limits, ManifestFields, NameRule, SupplyChain};

    use super::*;

    fn manifest(sequence: u64, enclaves: &[&str]) -> Manifest {
        Manifest::new(
            ManifestFields {
                channel: "stable".into(),
                sequence,
                created: 100,
                expires: 1000,
                payload_sha256: [0; 32],
                supply_chain: SupplyChain::default(),
                images: Vec::new(),
                entries: Vec::new(),
                names: NameRule::Portable,
                enclaves: enclaves.iter().map(|e| (*e).to_owned()).collect(),
            },
            &Limits::default(),
        )
        .unwrap()
    }

    fn state() -> StoreState {
        StoreState {
            allowed_channels: ["stable".to_owned()].into(),
            ..StoreState::default()
        }
    }

    #[test]
    fn a_directed_manifest_passes_only_the_enclaves_it_names() {
        let (a, b, c) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
        let m = manifest(1, &[&b, &a]);
        assert_eq!(check_directed(&m, Some(&a)), Ok(()));
        assert_eq!(check_directed(&m, Some(&b)), Ok(()));
        let refused = check_directed(&m, Some(&c)).unwrap_err();
        assert_eq!(
            refused,
            Rejection::NotForThisEnclave {
                enclave: c.clone(),
                listed: format!("{a}, {b}"),
            }
        );
        assert_eq!(refused.code(), "bundle-not-for-this-enclave");
        // A store without an enclave id accepts no directed bundle, and any
        // store accepts an undirected one.
        assert!(check_directed(&m, None).is_err());
        assert_eq!(check_directed(&manifest(1, &[]), None), Ok(()));
        assert_eq!(check_directed(&manifest(1, &[]), Some(&c)), Ok(()));
        let many: Vec<String> = (0..6).map(|i| format!("{i:064x}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let Err(Rejection::NotForThisEnclave { listed, .. }) =
            check_directed(&manifest(1, &many), Some(&c))
        else {
            panic!("not refused")
        };
        assert_eq!(listed, format!("{} and 2 more", many[..4].join(", ")));
    }

    #[test]
    fn a_floor_refuses_below_it_before_replay_and_rollback() {
        let mut s = state();
        s.raise_floor("stable", 5);
        s.raise_floor("stable", 3);
        assert_eq!(s.floors["stable"], 5, "a floor never goes down");
        let below = check_freshness(&manifest(4, &[]), &s, 500, unasked).unwrap_err();
        assert_eq!(
            below,
            Rejection::BelowFloor {
                channel: "stable".into(),
                sequence: 4,
                floor: 5,
            }
        );
        assert_eq!(below.code(), "sequence-below-floor");
        assert_eq!(
            check_freshness(&manifest(5, &[]), &s, 500, unasked),
            Ok(Freshness::New)
        );
        // Imported before the floor was set: still below it, not a replay.
        let old = manifest(4, &[]);
        s.channels.insert("stable".into(), 4);
        assert!(matches!(
            check_freshness(&old, &s, 500, |_| Ok::<_, Rejection>(true)),
            Err(Rejection::BelowFloor { .. })
        ));
    }

    /// A ledger lookup that must not happen.
    fn unasked(id: &str) -> Result<bool, Rejection> {
        panic!("the ledger was asked about {id}")
    }

    #[test]
    fn the_ledger_is_asked_only_about_a_sequence_not_above_the_last() {
        let mut s = state();
        // No bundle on the channel yet, or one above the last: new, unasked.
        assert_eq!(
            check_freshness(&manifest(3, &[]), &s, 500, unasked),
            Ok(Freshness::New)
        );
        s.channels.insert("stable".into(), 3);
        assert_eq!(
            check_freshness(&manifest(4, &[]), &s, 500, unasked),
            Ok(Freshness::New)
        );
        // At or below the last: a replay when the ledger has it, a
        // rollback when it does not, and a failed lookup is the error.
        let m = manifest(3, &[]);
        assert_eq!(
            check_freshness(&m, &s, 500, |id| Ok::<_, Rejection>(id == m.bundle_id)),
            Ok(Freshness::Imported(Rejection::Replay {
                bundle_id: m.bundle_id.clone()
            }))
        );
        assert_eq!(
            check_freshness(&manifest(2, &[]), &s, 500, |_| Ok::<_, Rejection>(false)),
            Err(Rejection::Rollback {
                channel: "stable".into(),
                sequence: 2,
                last: 3,
            })
        );
        let failed = Rejection::Expired {
            expires: 0,
            time: 0,
        };
        assert_eq!(
            check_freshness(&m, &s, 500, |_| Err(failed.clone())),
            Err(failed)
        );
    }
}
