//! A trust store whose directory is made tamper-evident by hardware (a TPM
//! or a PKCS#11 token); the part both hardware backends share.
//!
//! - The **provisioned root** (SHA-256 and version, [`HeldAnchor`]) is held
//!   by the hardware where nobody, a local root user included, can change it
//!   (a write-once TPM NV index; a non-modifiable, non-destroyable token
//!   object). Roots accepted later by rotation are kept in the directory and
//!   listed, in order, in the state; airlock checks the whole chain from the
//!   hardware-held root before every use ([`TrustStore::anchor_history`]),
//!   so a root swapped into the directory is not signed by its predecessor
//!   and is refused.
//! - The **state** (`state.json`: sequences, accepted bundle ids, latest
//!   time, the root chain) carries the value of a hardware monotonic counter
//!   that every import advances. A restored older copy of the directory
//!   carries an older value and is refused.
//!
//! Commit order for an import: the new state (counter `c+1`) is renamed into
//! place, then the counter is advanced to `c+1`. A crash in between leaves a
//! state one ahead of the counter; that is the newest state and is used (the
//! next import completes the advance). A state behind the counter is a
//! rollback.
//!
//! Layout of the store directory:
//! - `airlock-store.json`: `{"format":1,"backend":"tpm"|"pkcs11"}`;
//! - the backend's own file (`tpm.json`: the TCTI; `pkcs11.json`: the URI);
//! - `roots/VERSION.SHA256.root.json`: every root in the chain;
//! - `state.json`; `lock`.
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;
use crate::store::{CONFIG_FILE, StoreConfig};
use crate::{Acceptance, Anchor, BackendKind, Error, StoreLock, StoreState, TrustStore};

const STATE_FILE: &str = "state.json";
const ROOTS_DIR: &str = "roots";

/// The provisioned root as the hardware holds it:
/// `"ALK1" ‖ version (u64, big-endian) ‖ SHA-256`, 44 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldAnchor {
    /// The root's version.
    pub version: u64,
    /// SHA-256 of the root's exact bytes.
    pub sha256: [u8; 32],
}

const HELD_MAGIC: &[u8; 4] = b"ALK1";
/// Length of an encoded [`HeldAnchor`].
pub(crate) const HELD_LEN: usize = 4 + 8 + 32;

impl HeldAnchor {
    pub(crate) fn of(anchor: &Anchor) -> HeldAnchor {
        HeldAnchor {
            version: anchor.version,
            sha256: anchor.sha256,
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(HELD_LEN);
        v.extend_from_slice(HELD_MAGIC);
        v.extend_from_slice(&self.version.to_be_bytes());
        v.extend_from_slice(&self.sha256);
        v
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<HeldAnchor> {
        if bytes.len() != HELD_LEN || &bytes[..4] != HELD_MAGIC {
            return None;
        }
        let mut version = [0u8; 8];
        version.copy_from_slice(&bytes[4..12]);
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(&bytes[12..]);
        Some(HeldAnchor {
            version: u64::from_be_bytes(version),
            sha256,
        })
    }
}

/// What a hardware backend gives an [`AnchoredStore`].
pub trait AnchorHardware: std::fmt::Debug {
    /// Which backend this is.
    fn kind(&self) -> BackendKind;
    /// Where it is (a TCTI, a token), for messages.
    fn location(&self) -> String;
    /// The anchor it holds, if any.
    fn held_anchor(&self) -> Result<Option<HeldAnchor>, Error>;
    /// The monotonic counter's value, if it has one yet.
    fn counter(&self) -> Result<Option<u64>, Error>;
    /// Advances the counter by one and returns the new value.
    fn advance(&self) -> Result<u64, Error>;
    /// Lines for `anchor show`: what it holds and what it protects against.
    fn protections(&self) -> Vec<String>;
    /// Records an import in the hardware's measurements, if it keeps any
    /// (the TPM extends a PCR). Called before the import is committed, so a
    /// failure here fails the import.
    fn measure(&self, _acceptance: &Acceptance) -> Result<(), Error> {
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AnchorRef {
    version: u64,
    sha256: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StateFile {
    format: u32,
    /// The counter value this state was committed under.
    pub(crate) counter: u64,
    /// The root chain: the hardware-held root first, the current one last.
    anchors: Vec<AnchorRef>,
    pub(crate) state: StoreState,
}

/// A store directory anchored by hardware `H`.
#[derive(Debug)]
pub struct AnchoredStore<H> {
    dir: PathBuf,
    hw: H,
}

fn corrupt(path: &Path, reason: impl Into<String>) -> Error {
    Error::StoreCorrupt {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, Error> {
    let bytes = fs::read(path).map_err(|source| Error::StoreRead {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| corrupt(path, e.to_string()))
}

fn anchor_ref(anchor: &Anchor) -> AnchorRef {
    AnchorRef {
        version: anchor.version,
        sha256: hex::encode(anchor.sha256),
    }
}

impl<H: AnchorHardware> AnchoredStore<H> {
    /// Provisions `dir` (created if missing; removed again if provisioning
    /// fails): `provision` reaches the hardware, puts `anchor` into it
    /// (deleting an old one first only with `replace`) and makes sure its
    /// counter exists; then the backend's `config` file, the root and the
    /// state are written. With `replace`, the store's monotonic state is kept
    /// (from whichever backend it had) and bound to the counter anew.
    pub(crate) fn provision_dir(
        dir: &Path,
        config: (&str, Vec<u8>),
        anchor: &Anchor,
        replace: bool,
        provision: impl FnOnce() -> Result<H, Error>,
    ) -> Result<Self, Error> {
        let created = !dir.exists();
        let result = Self::init_in(dir, config, anchor, replace, provision);
        if result.is_err() && created {
            // Leave no half-made store behind.
            let _ = fs::remove_dir_all(dir);
        }
        result
    }

    fn init_in(
        dir: &Path,
        (config_name, config_bytes): (&str, Vec<u8>),
        anchor: &Anchor,
        replace: bool,
        provision: impl FnOnce() -> Result<H, Error>,
    ) -> Result<Self, Error> {
        let write_err = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::Write { path, source }
        };
        fs::create_dir_all(dir).map_err(write_err(dir))?;
        let lock = StoreLock::acquire(dir)?;
        let config_path = dir.join(CONFIG_FILE);
        let kept = if config_path.exists() {
            if !replace {
                return Err(Error::AlreadyProvisioned {
                    path: dir.to_owned(),
                });
            }
            // Keep what must never move backwards.
            match read_json::<StoreConfig>(&config_path)?.backend {
                BackendKind::File => crate::FileStore::open(dir)?.state()?,
                _ => read_json::<StateFile>(&dir.join(STATE_FILE))?.state,
            }
        } else {
            StoreState::default()
        };
        let hw = provision()?;
        let backend = hw.kind();
        let counter = hw.counter()?.ok_or_else(|| Error::Hardware {
            backend: backend.name(),
            reason: "the counter was not created".into(),
        })?;
        let store = AnchoredStore {
            dir: dir.to_owned(),
            hw,
        };
        let hw_path = dir.join(config_name);
        write_atomic(&hw_path, &config_bytes, 0o644).map_err(write_err(&hw_path))?;
        store.write_root(anchor)?;
        store.commit(
            &lock,
            counter,
            StateFile {
                format: 1,
                counter: counter + 1,
                anchors: vec![anchor_ref(anchor)],
                state: kept,
            },
        )?;
        let config = serde_json::to_vec_pretty(&StoreConfig { format: 1, backend })
            .map_err(|e| corrupt(dir, e.to_string()))?;
        write_atomic(&config_path, &config, 0o644).map_err(write_err(&config_path))?;
        Ok(store)
    }

    /// A provisioned store in `dir` on hardware `hw`.
    pub(crate) fn open_with(dir: &Path, hw: H) -> AnchoredStore<H> {
        AnchoredStore {
            dir: dir.to_owned(),
            hw,
        }
    }

    /// The hardware.
    pub fn hardware(&self) -> &H {
        &self.hw
    }

    fn unprovisioned(&self) -> Error {
        Error::Hardware {
            backend: self.hw.kind().name(),
            reason: format!(
                "{} holds no airlock anchor or counter (was it cleared or re-initialised?)",
                self.hw.location()
            ),
        }
    }

    fn root_path(&self, r: &AnchorRef) -> PathBuf {
        self.dir
            .join(ROOTS_DIR)
            .join(format!("{}.{}.root.json", r.version, r.sha256))
    }

    fn write_root(&self, anchor: &Anchor) -> Result<(), Error> {
        let roots = self.dir.join(ROOTS_DIR);
        fs::create_dir_all(&roots).map_err(|source| Error::Write {
            path: roots.clone(),
            source,
        })?;
        let path = self.root_path(&anchor_ref(anchor));
        if !path.exists() {
            write_atomic(&path, &anchor.root_json, 0o644)
                .map_err(|source| Error::Write { path, source })?;
        }
        Ok(())
    }

    /// Reads the state and checks it against the hardware: the chain starts
    /// at the hardware-held root, and the state is not older than the
    /// counter. Returns the state file and the counter's value.
    fn load(&self) -> Result<(StateFile, u64), Error> {
        let path = self.dir.join(STATE_FILE);
        let file: StateFile = read_json(&path)?;
        if file.format != 1 {
            return Err(corrupt(&path, format!("unknown format {}", file.format)));
        }
        let held = self.hw.held_anchor()?.ok_or_else(|| self.unprovisioned())?;
        let counter = self.hw.counter()?.ok_or_else(|| self.unprovisioned())?;
        if file.counter < counter {
            return Err(Error::StoreRollback {
                path: self.dir.clone(),
                reason: format!(
                    "its state was committed at counter {}, but the {} counter is at \
                     {counter}: this is an older copy of the store",
                    file.counter,
                    self.hw.kind().name()
                ),
            });
        }
        if file.counter > counter + 1 {
            return Err(corrupt(
                &path,
                format!(
                    "the state claims counter {} but the hardware counter is at {counter}",
                    file.counter
                ),
            ));
        }
        let first = file
            .anchors
            .first()
            .ok_or_else(|| corrupt(&path, "the state lists no anchor"))?;
        if first.version != held.version || first.sha256 != hex::encode(held.sha256) {
            return Err(Error::AnchorMismatch {
                path: self.dir.clone(),
                reason: format!(
                    "the state starts from root version {} ({}), the {} holds version {} ({})",
                    first.version,
                    first.sha256,
                    self.hw.kind().name(),
                    held.version,
                    hex::encode(held.sha256)
                ),
            });
        }
        for pair in file.anchors.windows(2) {
            if pair[1].version != pair[0].version + 1 {
                return Err(corrupt(&path, "the root chain skips or repeats a version"));
            }
        }
        Ok((file, counter))
    }

    fn read_anchor(&self, r: &AnchorRef, held: bool) -> Result<Anchor, Error> {
        let path = self.root_path(r);
        let root_json = fs::read(&path).map_err(|source| Error::StoreRead {
            path: path.clone(),
            source,
        })?;
        let anchor = Anchor::new(root_json, r.version);
        if hex::encode(anchor.sha256) != r.sha256 {
            return Err(if held {
                Error::AnchorMismatch {
                    path: self.dir.clone(),
                    reason: format!(
                        "{} is not the root whose digest the {} holds",
                        path.display(),
                        self.hw.kind().name()
                    ),
                }
            } else {
                corrupt(
                    &path,
                    "the root does not match the digest recorded in the state",
                )
            });
        }
        Ok(anchor)
    }

    /// Writes the state file (counter `c+1`), then advances the hardware
    /// counter to match: the rename is the commit point, the advance makes
    /// every older copy stale.
    fn commit(&self, lock: &StoreLock, counter: u64, file: StateFile) -> Result<(), Error> {
        if !lock.guards(&self.dir) {
            return Err(Error::Sign("lock belongs to another store".into()));
        }
        debug_assert_eq!(file.counter, counter + 1);
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| Error::Sign(e.to_string()))?;
        let path = self.dir.join(STATE_FILE);
        write_atomic(&path, &bytes, 0o644).map_err(|source| Error::Write { path, source })?;
        let now = self.hw.advance()?;
        if now != file.counter {
            return Err(Error::StoreRollback {
                path: self.dir.clone(),
                reason: format!(
                    "the hardware counter moved to {now} while committing state {} \
                     (another writer?)",
                    file.counter
                ),
            });
        }
        Ok(())
    }
}

impl<H: AnchorHardware> TrustStore for AnchoredStore<H> {
    fn backend(&self) -> BackendKind {
        self.hw.kind()
    }

    fn dir(&self) -> &Path {
        &self.dir
    }

    fn protections(&self) -> Vec<String> {
        self.hw.protections()
    }

    fn anchor(&self) -> Result<Anchor, Error> {
        let (file, _) = self.load()?;
        let last = file.anchors.len() - 1;
        self.read_anchor(&file.anchors[last], last == 0)
    }

    fn anchor_history(&self) -> Result<Vec<Anchor>, Error> {
        let (file, _) = self.load()?;
        file.anchors
            .iter()
            .enumerate()
            .map(|(i, r)| self.read_anchor(r, i == 0))
            .collect()
    }

    fn state(&self) -> Result<StoreState, Error> {
        Ok(self.load()?.0.state)
    }

    fn lock(&self) -> Result<StoreLock, Error> {
        StoreLock::acquire(&self.dir)
    }

    fn try_lock(&self) -> Result<Option<StoreLock>, Error> {
        StoreLock::try_acquire(&self.dir)
    }

    fn accept(&self, lock: &StoreLock, acceptance: &Acceptance) -> Result<(), Error> {
        let (mut file, mut counter) = self.load()?;
        if file.counter == counter + 1 {
            // The previous import crashed after its state was committed and
            // before the counter moved: complete it first.
            counter = self.hw.advance()?;
        }
        if let Some(a) = &acceptance.new_anchor {
            let last = file.anchors.last().map_or(0, |r| r.version);
            if a.version != last + 1 {
                return Err(corrupt(
                    &self.dir,
                    format!(
                        "a rotation to version {} cannot follow version {last}",
                        a.version
                    ),
                ));
            }
            self.write_root(a)?;
            file.anchors.push(anchor_ref(a));
        }
        let state = &mut file.state;
        let seq = state
            .channels
            .entry(acceptance.channel.clone())
            .or_insert(0);
        *seq = (*seq).max(acceptance.sequence);
        state.accepted.insert(acceptance.bundle_id.clone());
        state.latest_time = state.latest_time.max(acceptance.time);
        file.counter = counter + 1;
        self.hw.measure(acceptance)?;
        self.commit(lock, counter, file)
    }
}
