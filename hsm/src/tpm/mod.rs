//! The TPM 2.0 trust store: an [`AnchoredStore`] whose hardware is a TPM.
//!
//! The provisioned root's SHA-256 and version sit in a write-once NV index
//! (see [`device`]); replacing them needs the TPM owner's authorization. The
//! state is bound to a TPM monotonic counter (`TPM_NT_COUNTER`), which never
//! goes backwards, not even across undefine and redefine. Every import
//! extends PCR 23 with SHA-256 of the bundle id (measured transfer). The
//! store directory records the TCTI in `tpm.json`.
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::anchored::{AnchorHardware, AnchoredStore, read_json};
use crate::error::Error;
use crate::held::HeldAnchor;
use crate::journal::JournalHead;
use crate::provision::{InitMode, JournalKey, Provisioning};
use crate::signer::Signer;
use crate::store::{Acceptance, Anchor, BackendKind};

mod device;
mod journal_key;
mod quote;

pub use journal_key::TpmJournalSigner;
pub use quote::{QUOTE_PCR, TpmQuote};

use device::{ANCHOR_INDEX, COUNTER_INDEX, MEASURE_PCR, Tpm};

const TPM_CONFIG: &str = "tpm.json";
/// Longest owner authorization file accepted.
const MAX_AUTH_FILE: u64 = 4096;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TpmConfig {
    format: u32,
    tcti: String,
}

/// What the TPM holds, read by [`TpmStore::status`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TpmStatus {
    /// The TCTI the store uses.
    pub tcti: String,
    /// The anchor's NV index.
    pub anchor_index: u32,
    /// What the anchor index holds.
    pub anchor: HeldAnchor,
    /// The counter's NV index.
    pub counter_index: u32,
    /// The counter's value now.
    pub counter: u64,
}

/// A TPM reached through one TCTI.
#[derive(Debug)]
pub struct TpmHardware {
    tcti: String,
    tpm: Arc<Mutex<Tpm>>,
}

/// A trust store anchored in a TPM 2.0.
pub type TpmStore = AnchoredStore<TpmHardware>;

/// The TPM connection, for one operation at a time.
fn lock(tpm: &Mutex<Tpm>) -> Result<MutexGuard<'_, Tpm>, Error> {
    tpm.lock()
        .map_err(|_| device::tpm_err("the TPM connection is poisoned"))
}

/// Reads an owner authorization value from a file (less one trailing
/// newline).
fn read_auth(path: &Path) -> Result<Zeroizing<Vec<u8>>, Error> {
    let err = |source| Error::AuthFile {
        path: path.to_owned(),
        source,
    };
    let mut v = Zeroizing::new(crate::opfile::read_regular(path, MAX_AUTH_FILE).map_err(err)?);
    if v.ends_with(b"\n") {
        v.pop();
        if v.ends_with(b"\r") {
            v.pop();
        }
    }
    Ok(v)
}

impl AnchoredStore<TpmHardware> {
    /// Provisions `dir` (created if missing) with `anchor`, held by the TPM
    /// at `tcti`. When `mode` [replaces](InitMode::replaces), an existing anchor index is deleted first
    /// (this needs the owner's authorization, from the file `owner_auth`)
    /// and the store's monotonic state and journal are kept and bound to
    /// the counter anew ([`InitMode::ReplaceNewJournal`]: the old journal is
    /// closed and a new one starts). `journal` writes the provisioning's journal records
    /// (see [`AnchoredStore::provision_dir`]).
    pub fn init<E: From<Error>>(
        dir: &Path,
        tcti: &str,
        anchor: &Anchor,
        channels: Option<&BTreeSet<String>>,
        mode: InitMode,
        owner_auth: Option<&Path>,
        journal: impl FnOnce(&Provisioning<'_>) -> Result<JournalHead, E>,
    ) -> Result<TpmStore, E> {
        let auth = owner_auth.map(read_auth).transpose()?;
        let config = serde_json::to_vec_pretty(&TpmConfig {
            format: 1,
            tcti: tcti.to_owned(),
        })
        .map_err(|e| Error::Sign(e.to_string()))?;
        let connect = || {
            let mut tpm = Tpm::connect(tcti)?;
            if let Some(auth) = &auth {
                tpm.set_owner_auth(auth)?;
            }
            Ok(TpmHardware {
                tcti: tcti.to_owned(),
                tpm: Arc::new(Mutex::new(tpm)),
            })
        };
        AnchoredStore::provision_dir(
            dir,
            (TPM_CONFIG, config),
            anchor,
            channels,
            mode,
            connect,
            journal,
        )
    }

    /// Opens a provisioned TPM store and connects to its TPM.
    pub fn open(dir: &Path) -> Result<TpmStore, Error> {
        let path = dir.join(TPM_CONFIG);
        let config: TpmConfig = read_json(&path)?;
        if config.format != 1 {
            return Err(Error::StoreCorrupt {
                path,
                reason: format!("unknown format {}", config.format),
            });
        }
        let tpm = Tpm::connect(&config.tcti)?;
        Ok(AnchoredStore::open_with(
            dir,
            TpmHardware {
                tcti: config.tcti,
                tpm: Arc::new(Mutex::new(tpm)),
            },
        ))
    }

    /// What the TPM holds now.
    pub fn status(&self) -> Result<TpmStatus, Error> {
        self.hardware().status()
    }
}

impl TpmHardware {
    fn status(&self) -> Result<TpmStatus, Error> {
        let missing = || Error::Hardware {
            backend: "tpm",
            reason: format!(
                "the TPM at {} holds no airlock anchor or counter (was it cleared?)",
                self.tcti
            ),
        };
        let mut tpm = lock(&self.tpm)?;
        let anchor = tpm.anchor()?.ok_or_else(missing)?;
        let counter = tpm.counter()?.ok_or_else(missing)?;
        Ok(TpmStatus {
            tcti: self.tcti.clone(),
            anchor_index: ANCHOR_INDEX,
            anchor,
            counter_index: COUNTER_INDEX,
            counter,
        })
    }
}

impl AnchorHardware for TpmHardware {
    fn kind(&self) -> BackendKind {
        BackendKind::Tpm
    }

    fn location(&self) -> String {
        format!("the TPM at {}", self.tcti)
    }

    fn held_anchor(&self) -> Result<Option<HeldAnchor>, Error> {
        lock(&self.tpm)?.anchor()
    }

    fn counter(&self) -> Result<Option<u64>, Error> {
        lock(&self.tpm)?.counter()
    }

    fn advance(&self) -> Result<u64, Error> {
        lock(&self.tpm)?.increment()
    }

    fn provision(&self, anchor: &HeldAnchor, mode: InitMode) -> Result<(), Error> {
        let mut tpm = lock(&self.tpm)?;
        tpm.provision_anchor(anchor, mode)?;
        tpm.ensure_counter().map(|_| ())
    }

    /// Derived by the TPM from its endorsement seed on every use (see
    /// [`journal_key`]): there is nothing to create.
    fn journal_key(&self, _key: JournalKey) -> Result<Box<dyn Signer>, Error> {
        Ok(Box::new(TpmJournalSigner::new(Arc::clone(&self.tpm))?))
    }

    /// Extends PCR 23 (SHA-256 bank) with SHA-256 of the bundle id, so that
    /// a TPM quote over PCR 23 attests the sequence of imports since boot.
    fn measure(&self, acceptance: &Acceptance) -> Result<(), Error> {
        let digest: [u8; 32] = Sha256::digest(acceptance.bundle_id.as_bytes()).into();
        lock(&self.tpm)?.extend_pcr(digest)
    }

    fn protections(&self) -> Vec<String> {
        let (held, counter) = match self.status() {
            Ok(s) => (
                format!(
                    "anchor: root version {} (sha256 {}) in TPM NV index {:#010x}, write-once; \
                     replacing it needs the TPM owner's authorization",
                    s.anchor.version,
                    hex::encode(s.anchor.sha256),
                    s.anchor_index
                ),
                format!(
                    "state: bound to TPM monotonic counter {:#010x} (now {}), incremented by every decision (each one's journal records)",
                    s.counter_index, s.counter
                ),
            ),
            Err(e) => (
                format!("anchor: TPM at {} UNREACHABLE: {e}", self.tcti),
                "state: bound to a TPM monotonic counter (unreadable now)".into(),
            ),
        };
        vec![
            format!("tpm: {}", self.tcti),
            held,
            counter,
            "rotated roots: kept in the store directory; the chain from the TPM-held root is re-verified on every use".into(),
            "journal: records signed by a TPM-resident ECDSA P-256 key (an endorsement-hierarchy primary key; never leaves the TPM, survives a TPM clear); its head is bound to the counter with the state, so a journal cut back is detected even when the state is restored with it".into(),
            format!("measured transfer: PCR {MEASURE_PCR} is extended with SHA-256 of every imported bundle's id (since boot)"),
            "protects against: swapping the anchor or a rotated root in the store directory; restoring an older copy of the store directory (rollback, replay)".into(),
            "does NOT protect against: a root user who runs a modified airlock or drives the TPM directly (e.g. writes a new state file carrying the current counter value, or increments the counter to stop imports); a cleared TPM loses the anchor (re-provision)".into(),
        ]
    }
}

#[cfg(test)]
#[path = "../../../tests/support/emulators.rs"]
mod emulators;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::anchored::StateFile;
    use crate::open::open_store;
    use crate::provision::InitMode;
    use crate::store::{StoreLock, TrustStore};
    use crate::tpm::emulators;
    use std::fs;

    fn anchor(v: u64) -> Anchor {
        Anchor::new(format!("{{\"root\":{v}}}").into_bytes(), v)
    }

    /// A journal head: record `seq` (the store keeps only what it is told).
    fn head(seq: u64) -> JournalHead {
        JournalHead {
            seq,
            sha256: [seq as u8; 32],
        }
    }

    /// An import of bundle `id` at `seq`, whose record is journal record
    /// `record`.
    fn acceptance(id: &str, seq: u64, record: u64) -> Acceptance {
        Acceptance {
            channel: "stable".into(),
            sequence: seq,
            bundle_id: id.repeat(32),
            time: 100,
            new_anchor: None,
            layout: None,
            journal_head: head(record),
        }
    }

    /// Provisions without writing journal records; the head is record 1.
    fn init(
        dir: &Path,
        tpm: &emulators::Swtpm,
        a: &Anchor,
        replace: bool,
    ) -> Result<TpmStore, Error> {
        TpmStore::init(
            dir,
            &tpm.tcti(),
            a,
            None,
            InitMode::from_flags(replace, false),
            None,
            |_| Ok::<_, Error>(head(1)),
        )
    }

    #[test]
    fn the_anchor_index_cannot_be_written_again() {
        let Some(tpm) = emulators::Swtpm::start("the_anchor_index_cannot_be_written_again") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let s = init(dir.path(), &tpm, &anchor(1), false).unwrap();
        let forged = HeldAnchor {
            version: 1,
            sha256: [0x66; 32],
        }
        .encode();
        let results = s
            .hardware()
            .tpm
            .lock()
            .unwrap()
            .try_overwrite_anchor(&forged)
            .unwrap();
        assert_eq!(results.len(), 3);
        for r in &results {
            assert!(!r.contains("WRITTEN"), "{results:?}");
        }
        assert_eq!(s.anchor().unwrap(), anchor(1));
        let status = s.status().unwrap();
        assert_eq!(status.anchor.sha256, anchor(1).sha256);
    }

    #[test]
    fn a_restored_older_state_is_refused_and_a_crash_before_the_increment_is_not() {
        let Some(tpm) = emulators::Swtpm::start("a_restored_older_state_is_refused") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let s = init(dir.path(), &tpm, &anchor(1), false).unwrap();
        let old = fs::read(dir.path().join("state.json")).unwrap();
        let lock = StoreLock::acquire(&s).unwrap();
        lock.accept(&acceptance("a", 1, 2)).unwrap();
        drop(lock);
        let newer = fs::read(dir.path().join("state.json")).unwrap();
        fs::write(dir.path().join("state.json"), &old).unwrap();
        let s = open_store(dir.path()).unwrap();
        assert!(matches!(s.state(), Err(Error::StoreRollback { .. })));
        assert!(matches!(s.anchor(), Err(Error::StoreRollback { .. })));
        fs::write(dir.path().join("state.json"), &newer).unwrap();
        assert!(
            s.state()
                .unwrap()
                .ledger_contains(dir.path(), &"a".repeat(32))
                .unwrap()
        );

        // A crash between the state's rename and the increment: the state is
        // one ahead of the counter. It is the newest state, so it is used,
        // and the next import completes the increment.
        let mut ahead: StateFile = serde_json::from_slice(&newer).unwrap();
        ahead.counter += 1;
        ahead.state.latest_time = 200;
        fs::write(
            dir.path().join("state.json"),
            serde_json::to_vec(&ahead).unwrap(),
        )
        .unwrap();
        assert_eq!(s.state().unwrap().latest_time, 200);
        let lock = StoreLock::acquire(s.as_ref()).unwrap();
        lock.accept(&acceptance("c", 2, 4)).unwrap();
        drop(lock);
        let st = s.state().unwrap();
        assert!(
            ["a", "c"]
                .iter()
                .all(|id| st.ledger_contains(dir.path(), &id.repeat(32)).unwrap())
        );
        assert_eq!((st.imported(), st.latest_time), (2, 200));
        // …and the state from before "c" is now stale too.
        fs::write(
            dir.path().join("state.json"),
            serde_json::to_vec(&ahead).unwrap(),
        )
        .unwrap();
        assert!(matches!(s.state(), Err(Error::StoreRollback { .. })));
    }

    #[test]
    fn rotations_extend_the_chain_and_replace_keeps_the_state() {
        let Some(tpm) = emulators::Swtpm::start("rotations_extend_the_chain") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let s = init(dir.path(), &tpm, &anchor(1), false).unwrap();
        let lock = StoreLock::acquire(&s).unwrap();
        let mut acc = acceptance("a", 5, 2);
        acc.new_anchor = Some(anchor(2));
        lock.accept(&acc).unwrap();
        drop(lock);
        assert_eq!(s.anchor().unwrap(), anchor(2));
        assert_eq!(s.anchor_history().unwrap(), vec![anchor(1), anchor(2)]);
        // A second init is refused, by the directory and by the TPM.
        assert!(matches!(
            init(dir.path(), &tpm, &anchor(3), false),
            Err(Error::AlreadyProvisioned { .. })
        ));
        let other = tempfile::tempdir().unwrap();
        assert!(matches!(
            init(other.path(), &tpm, &anchor(3), false),
            Err(Error::AlreadyProvisioned { .. })
        ));
        let s = init(dir.path(), &tpm, &anchor(3), true).unwrap();
        assert_eq!(s.anchor_history().unwrap(), vec![anchor(3)]);
        assert_eq!(s.state().unwrap().channels["stable"], 5);
    }

    #[test]
    fn the_journal_key_is_a_tpm_p256_key_that_is_the_same_on_every_connection() {
        let Some(tpm) = emulators::Swtpm::start("the_journal_key_is_a_tpm_p256_key") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let s = init(dir.path(), &tpm, &anchor(1), false).unwrap();
        let signer = s.journal_signer().unwrap();
        let public = signer.public_key().clone();
        assert!(matches!(public, crate::key::PublicKey::EcdsaP256(_)));
        let msg = b"airlock-journal-v1\n{}";
        let sig = signer.sign(msg).unwrap();
        // Checked with p256 directly, not only through PublicKey::verify.
        let crate::key::PublicKey::EcdsaP256(vk) = &public else {
            unreachable!()
        };
        let der = p256::ecdsa::DerSignature::try_from(sig.as_slice()).unwrap();
        p256::ecdsa::signature::Verifier::verify(vk, msg, &der).unwrap();
        assert!(!public.verify(b"another message", &sig));
        drop(signer);
        drop(s);
        // A new connection derives the same key; the store's bound head
        // names it.
        let s = open_store(dir.path()).unwrap();
        assert_eq!(s.journal_public_key().unwrap(), public);
        assert_eq!(s.journal_head().unwrap(), head(1));
    }

    #[test]
    fn a_journal_cut_back_with_its_state_restored_is_a_rollback() {
        let Some(tpm) = emulators::Swtpm::start("a_journal_cut_back_with_its_state") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let s = init(dir.path(), &tpm, &anchor(1), false).unwrap();
        let lock = StoreLock::acquire(&s).unwrap();
        lock.bind_journal_head(&head(2)).unwrap();
        let at_2 = fs::read(dir.path().join("state.json")).unwrap();
        lock.bind_journal_head(&head(3)).unwrap();
        // The head only moves forward.
        assert!(matches!(
            lock.bind_journal_head(&head(3)),
            Err(Error::StoreCorrupt { .. })
        ));
        drop(lock);
        assert_eq!(s.journal_head().unwrap(), head(3));
        // Someone removes record 3 and puts back the state that ended at 2.
        fs::write(dir.path().join("state.json"), &at_2).unwrap();
        assert!(matches!(s.journal_head(), Err(Error::StoreRollback { .. })));
        assert!(matches!(
            s.journal_signer(),
            Err(Error::StoreRollback { .. })
        ));
    }
}
