//! The trust store: the anchor and the monotonic state of the isolated side.
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::journal::JournalHead;
use crate::{Error, FileStore, PublicKey, Signer};

/// Name of the file, inside a store directory, that records its backend.
pub const CONFIG_FILE: &str = "airlock-store.json";
const LOCK_FILE: &str = "lock";

/// The hardware (or lack of it) that anchors a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Plain files: lowest assurance, for development and tests.
    File,
    /// A PKCS#11 token.
    Pkcs11,
    /// A TPM 2.0.
    Tpm,
}

impl BackendKind {
    /// The name used in the store configuration and in output.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::File => "file",
            BackendKind::Pkcs11 => "pkcs11",
            BackendKind::Tpm => "tpm",
        }
    }
}

/// The trusted root metadata the store is anchored to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    /// The trusted `root.json`, byte for byte as provisioned or accepted.
    pub root_json: Vec<u8>,
    /// Its `signed.version`, as the caller parsed it.
    pub version: u64,
    /// SHA-256 of `root_json`.
    pub sha256: [u8; 32],
}

impl Anchor {
    /// An anchor for `root_json` at `version`.
    pub fn new(root_json: Vec<u8>, version: u64) -> Anchor {
        let sha256 = Sha256::digest(&root_json).into();
        Anchor {
            root_json,
            version,
            sha256,
        }
    }
}

/// What only ever moves forward.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreState {
    /// Highest accepted sequence number per channel.
    pub channels: BTreeMap<String, u64>,
    /// Ids of every bundle ever accepted.
    pub accepted: BTreeSet<String>,
    /// Latest time (unix seconds) the store has seen; never decreases.
    pub latest_time: u64,
    /// The channels this store accepts bundles on (set at `anchor init`,
    /// changed by `anchor channels`; empty for a store provisioned before
    /// channels were bound, which accepts none until they are set).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub allowed_channels: BTreeSet<String>,
    /// Per channel, the in-toto layout of the last accepted bundle: a layout
    /// that expires earlier is an older one replayed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub layouts: BTreeMap<String, LayoutSeen>,
    /// The Sigstore verification policy the operator pinned (`anchor
    /// sigstore`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigstore: Option<SigstorePin>,
}

/// A Sigstore verification policy pinned in the store: the trusted root
/// (kept beside the state in [`SigstorePin::trusted_root_file`], bound here
/// by its digest) and the identity that must have signed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigstorePin {
    /// SHA-256 (lowercase hex) of the pinned `trusted_root.json`.
    pub trusted_root_sha256: String,
    /// The certificate identity (SAN), exactly.
    pub identity: String,
    /// The OIDC issuer, exactly.
    pub issuer: String,
}

impl SigstorePin {
    /// The pinned trusted root's file name in the store directory, named by
    /// its digest: a new pin writes a new file before the state names it,
    /// so the state never names a file being written.
    pub fn trusted_root_file(&self) -> String {
        format!("sigstore-trusted-root.{}.json", self.trusted_root_sha256)
    }
}

/// The in-toto layout an accepted bundle carried.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutSeen {
    /// Its signed `expires`, unix seconds: the layout's version.
    pub expires: u64,
    /// SHA-256 (lowercase hex) of the layout file.
    pub sha256: String,
}

impl StoreState {
    /// The state after `acceptance`: the channel's sequence, the ledger, the
    /// latest time and the channel's layout only move forward. The one
    /// update rule of every backend.
    pub fn apply(&mut self, acceptance: &Acceptance) {
        let seq = self.channels.entry(acceptance.channel.clone()).or_insert(0);
        *seq = (*seq).max(acceptance.sequence);
        self.accepted.insert(acceptance.bundle_id.clone());
        self.latest_time = self.latest_time.max(acceptance.time);
        if let Some(layout) = &acceptance.layout {
            let newer = self
                .layouts
                .get(&acceptance.channel)
                .is_none_or(|seen| layout.expires >= seen.expires);
            if newer {
                self.layouts
                    .insert(acceptance.channel.clone(), layout.clone());
            }
        }
    }
}

/// The record of one accepted bundle, committed atomically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acceptance {
    /// The bundle's channel.
    pub channel: String,
    /// Its sequence number (becomes the channel's highest).
    pub sequence: u64,
    /// Its bundle id (added to the ledger).
    pub bundle_id: String,
    /// The verification time (the store's latest time moves up to it).
    pub time: u64,
    /// A new anchor when the bundle carried a root rotation.
    pub new_anchor: Option<Anchor>,
    /// The in-toto layout the bundle carried.
    pub layout: Option<LayoutSeen>,
    /// The journal head after the acceptance's records, bound in the same
    /// commit: no acceptance without its record.
    pub journal_head: JournalHead,
}

/// An exclusive lock on a store, held from the freshness check until the
/// acceptance is committed; released on drop.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
    dir: PathBuf,
}

impl StoreLock {
    fn open_lock_file(dir: &Path) -> Result<(File, PathBuf), Error> {
        let path = dir.join(LOCK_FILE);
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map(|f| (f, path.clone()))
            .map_err(|source| Error::StoreRead { path, source })
    }

    /// Takes the exclusive lock of the store directory `dir`, waiting for it.
    pub(crate) fn acquire(dir: &Path) -> Result<StoreLock, Error> {
        let (file, path) = Self::open_lock_file(dir)?;
        file.lock()
            .map_err(|source| Error::StoreRead { path, source })?;
        crate::atomic::sweep_temporaries(dir);
        crate::atomic::sweep_temporaries(&dir.join("roots"));
        Ok(StoreLock {
            _file: file,
            dir: dir.to_owned(),
        })
    }

    /// Takes the lock if it is free; `None` when another process holds it.
    pub(crate) fn try_acquire(dir: &Path) -> Result<Option<StoreLock>, Error> {
        let (file, path) = Self::open_lock_file(dir)?;
        match file.try_lock() {
            Ok(()) => {
                crate::atomic::sweep_temporaries(dir);
                crate::atomic::sweep_temporaries(&dir.join("roots"));
                Ok(Some(StoreLock {
                    _file: file,
                    dir: dir.to_owned(),
                }))
            }
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(source)) => Err(Error::StoreRead { path, source }),
        }
    }

    /// Whether this lock belongs to the store at `dir`.
    pub(crate) fn guards(&self, dir: &Path) -> bool {
        self.dir == dir
    }
}

/// A shared lock on a store, for audits (`journal show`, `journal verify`):
/// no writer is between two steps while it is held. The lock file is opened
/// read-only and never created, so a write-protected or forensic copy of a
/// store can be audited.
#[derive(Debug)]
pub struct ReadLock {
    _file: Option<File>,
}

impl ReadLock {
    /// Takes the shared lock if no writer holds the store; `None` when one
    /// does. A store without a lock file has never had a writer to wait for.
    pub fn try_acquire(dir: &Path) -> Result<Option<ReadLock>, Error> {
        let path = dir.join(LOCK_FILE);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Some(ReadLock { _file: None }));
            }
            Err(source) => return Err(Error::StoreRead { path, source }),
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(Some(ReadLock { _file: Some(file) })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(source)) => Err(Error::StoreRead { path, source }),
        }
    }
}

/// What the isolated side asks of its trust store, whatever holds it.
pub trait TrustStore: std::fmt::Debug {
    /// The backend anchoring this store.
    fn backend(&self) -> BackendKind;

    /// The store directory.
    fn dir(&self) -> &Path;

    /// Human-readable lines: which backend holds what, and what it protects
    /// against (and what it does not).
    fn protections(&self) -> Vec<String>;

    /// The trusted root.
    fn anchor(&self) -> Result<Anchor, Error>;

    /// The chain of roots from the one the store's hardware holds (first) to
    /// the current anchor (last). The caller checks that each root is signed
    /// by its predecessor, so a root swapped into the store directory cannot
    /// become the anchor. A store with nothing in hardware returns just the
    /// current anchor.
    fn anchor_history(&self) -> Result<Vec<Anchor>, Error> {
        Ok(vec![self.anchor()?])
    }

    /// The monotonic state.
    fn state(&self) -> Result<StoreState, Error>;

    /// The value of the hardware monotonic counter the state is bound to
    /// (`None` for a store without one: a file store).
    fn hardware_counter(&self) -> Result<Option<u64>, Error> {
        Ok(None)
    }

    /// Takes the store's exclusive lock, waiting for it.
    fn lock(&self) -> Result<StoreLock, Error>;

    /// Takes the store's exclusive lock if no other process holds it.
    fn try_lock(&self) -> Result<Option<StoreLock>, Error>;

    /// Records an accepted bundle atomically: sequence, ledger, latest time,
    /// (on rotation) the anchor, and the journal head. The caller holds
    /// `lock`, has checked freshness against [`TrustStore::state`] read
    /// under that lock, and has appended the acceptance's journal records.
    fn accept(&self, lock: &StoreLock, acceptance: &Acceptance) -> Result<(), Error>;

    /// The key that signs this store's journal records; its private half
    /// never leaves the backend (file store: an Ed25519 key in the store
    /// directory; TPM: a TPM-resident ECDSA P-256 key; PKCS#11: a token
    /// key). [`Error::JournalNotStarted`] for a store without a journal.
    fn journal_signer(&self) -> Result<Box<dyn Signer>, Error>;

    /// The public half of the journal key, readable without the private
    /// half (for `journal verify`).
    fn journal_public_key(&self) -> Result<PublicKey, Error>;

    /// The journal head bound to the store's monotonic state: every record
    /// up to it was committed. [`Error::JournalNotStarted`] for a store
    /// without a journal.
    fn journal_head(&self) -> Result<JournalHead, Error>;

    /// Replaces the set of channels the store accepts, binding the journal
    /// head whose records say so. The caller holds `lock`.
    fn set_allowed_channels(
        &self,
        lock: &StoreLock,
        channels: &BTreeSet<String>,
        head: &JournalHead,
    ) -> Result<(), Error>;

    /// Replaces the pinned Sigstore policy, binding the journal head whose
    /// records say so. The caller holds `lock` (and has written the trusted
    /// root file the pin names).
    fn set_sigstore_pin(
        &self,
        lock: &StoreLock,
        pin: &SigstorePin,
        head: &JournalHead,
    ) -> Result<(), Error>;

    /// Binds a new journal head after records were appended. The head only
    /// moves forward: a `seq` not above the bound one is refused. The caller
    /// holds `lock`.
    fn bind_journal_head(&self, lock: &StoreLock, head: &JournalHead) -> Result<(), Error>;
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoreConfig {
    pub(crate) format: u32,
    pub(crate) backend: BackendKind,
}

/// Opens the provisioned store in `dir`, whichever backend anchors it.
pub fn open_store(dir: &Path) -> Result<Box<dyn TrustStore>, Error> {
    let path = dir.join(CONFIG_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NotProvisioned {
                path: dir.to_owned(),
            });
        }
        Err(source) => return Err(Error::StoreRead { path, source }),
    };
    let config: StoreConfig = serde_json::from_slice(&bytes).map_err(|e| Error::StoreCorrupt {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    if config.format != 1 {
        return Err(Error::StoreCorrupt {
            path,
            reason: format!("unknown store format {}", config.format),
        });
    }
    match config.backend {
        BackendKind::File => Ok(Box::new(FileStore::open(dir)?)),
        #[cfg(feature = "tpm")]
        BackendKind::Tpm => Ok(Box::new(crate::tpm::TpmStore::open(dir)?)),
        #[cfg(not(feature = "tpm"))]
        BackendKind::Tpm => Err(Error::Unsupported {
            backend: "tpm".into(),
            reason: "this build of airlock has no TPM support (build with --features tpm)".into(),
        }),
        BackendKind::Pkcs11 => Ok(Box::new(crate::Pkcs11Store::open(dir)?)),
    }
}
