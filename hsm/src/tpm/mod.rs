//! The TPM 2.0 trust store: the store directory holds the roots and the
//! state, and a TPM makes both tamper-evident.
//!
//! - The **provisioned root** (SHA-256 and version) is in a write-once NV
//!   index (see [`device`]): nobody, root included, can change it without
//!   the TPM owner's authorization. Roots accepted later by rotation are
//!   kept in the directory and listed, in order, in the state; airlock checks
//!   the whole chain from the TPM-held root on every use
//!   ([`TrustStore::anchor_history`]), so a root swapped into the directory
//!   is not signed by its predecessor and is refused.
//! - The **state** (`state.json`: sequences, accepted bundle ids, latest time,
//!   the root chain) carries the value of a TPM monotonic counter, which every
//!   import increments. A restored older copy of the directory carries an
//!   older value and is refused.
//!
//! Commit order for an import: the new state (counter `c+1`) is renamed into
//! place, then the counter is incremented to `c+1`. A crash in between leaves
//! a state one ahead of the counter; that is the newest state and is accepted
//! (the next import completes the increment). A state behind the counter is a
//! rollback.
//!
//! Layout of the store directory:
//! - `airlock-store.json`: `{"format":1,"backend":"tpm"}`;
//! - `tpm.json`: the TCTI;
//! - `roots/VERSION.SHA256.root.json`: every root in the chain;
//! - `state.json`; `lock`.
use std::cell::RefCell;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::atomic::write_atomic;
use crate::store::{CONFIG_FILE, StoreConfig};
use crate::{Acceptance, Anchor, BackendKind, Error, StoreLock, StoreState, TrustStore};

mod device;

use device::{ANCHOR_INDEX, COUNTER_INDEX, NvAnchor, Tpm};

const TPM_CONFIG: &str = "tpm.json";
const STATE_FILE: &str = "state.json";
const ROOTS_DIR: &str = "roots";
/// Longest owner authorization file accepted.
const MAX_AUTH_FILE: u64 = 4096;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TpmConfig {
    format: u32,
    tcti: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnchorRef {
    version: u64,
    sha256: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    format: u32,
    /// The TPM counter value this state was committed under.
    counter: u64,
    /// The root chain: the TPM-held root first, the current anchor last.
    anchors: Vec<AnchorRef>,
    state: StoreState,
}

/// What the TPM holds, read at [`TpmStore::status`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TpmStatus {
    /// The TCTI the store uses.
    pub tcti: String,
    /// The anchor index and the version / SHA-256 it holds.
    pub anchor_index: u32,
    /// Version of the root in the NV index.
    pub anchor_version: u64,
    /// SHA-256 of that root.
    pub anchor_sha256: [u8; 32],
    /// The counter index.
    pub counter_index: u32,
    /// The counter's value now.
    pub counter: u64,
}

/// A trust store anchored in a TPM 2.0.
#[derive(Debug)]
pub struct TpmStore {
    dir: PathBuf,
    tcti: String,
    tpm: RefCell<Tpm>,
}

/// Reads an owner authorization value from a file (less one trailing
/// newline).
fn read_auth(path: &Path) -> Result<Zeroizing<Vec<u8>>, Error> {
    let err = |source| Error::AuthFile {
        path: path.to_owned(),
        source,
    };
    if fs::metadata(path).map_err(err)?.len() > MAX_AUTH_FILE {
        return Err(err(std::io::Error::other(
            "too large for an authorization value",
        )));
    }
    let mut v = Zeroizing::new(fs::read(path).map_err(err)?);
    if v.ends_with(b"\n") {
        v.pop();
        if v.ends_with(b"\r") {
            v.pop();
        }
    }
    Ok(v)
}

fn corrupt(path: &Path, reason: impl Into<String>) -> Error {
    Error::StoreCorrupt {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

impl TpmStore {
    /// Provisions `dir` (created if missing) with `anchor`, held by the TPM
    /// at `tcti`. With `replace`, an existing anchor index is deleted first
    /// (this needs the owner's authorization, from `owner_auth`) and the
    /// store's monotonic state is kept and bound to the counter anew.
    pub fn init(
        dir: &Path,
        tcti: &str,
        anchor: &Anchor,
        replace: bool,
        owner_auth: Option<&Path>,
    ) -> Result<TpmStore, Error> {
        let created = !dir.exists();
        let result = Self::init_in(dir, tcti, anchor, replace, owner_auth);
        if result.is_err() && created {
            // Leave no half-made store behind.
            let _ = fs::remove_dir_all(dir);
        }
        result
    }

    fn init_in(
        dir: &Path,
        tcti: &str,
        anchor: &Anchor,
        replace: bool,
        owner_auth: Option<&Path>,
    ) -> Result<TpmStore, Error> {
        let write_err = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::Write { path, source }
        };
        let auth = owner_auth.map(read_auth).transpose()?;
        fs::create_dir_all(dir).map_err(write_err(dir))?;
        let lock = StoreLock::acquire(dir)?;
        let config_path = dir.join(CONFIG_FILE);
        let kept = if config_path.exists() {
            if !replace {
                return Err(Error::AlreadyProvisioned {
                    path: dir.to_owned(),
                });
            }
            // Keep what must never move backwards, from whichever backend
            // the store had.
            match read_json::<StoreConfig>(&config_path)?.backend {
                BackendKind::Tpm => read_json::<StateFile>(&dir.join(STATE_FILE))?.state,
                _ => crate::open_store(dir)?.state()?,
            }
        } else {
            StoreState::default()
        };
        let mut tpm = Tpm::connect(tcti)?;
        if let Some(auth) = &auth {
            tpm.set_owner_auth(auth)?;
        }
        let nv = NvAnchor {
            version: anchor.version,
            sha256: anchor.sha256,
        };
        tpm.provision_anchor(&nv, replace)?;
        let counter = tpm.ensure_counter()?;
        let store = TpmStore {
            dir: dir.to_owned(),
            tcti: tcti.to_owned(),
            tpm: RefCell::new(tpm),
        };
        let tpm_config = serde_json::to_vec_pretty(&TpmConfig {
            format: 1,
            tcti: tcti.to_owned(),
        })
        .map_err(|e| corrupt(dir, e.to_string()))?;
        let tpm_path = dir.join(TPM_CONFIG);
        write_atomic(&tpm_path, &tpm_config, 0o644).map_err(write_err(&tpm_path))?;
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
        let config = serde_json::to_vec_pretty(&StoreConfig {
            format: 1,
            backend: BackendKind::Tpm,
        })
        .map_err(|e| corrupt(dir, e.to_string()))?;
        write_atomic(&config_path, &config, 0o644).map_err(write_err(&config_path))?;
        Ok(store)
    }

    /// Opens a provisioned TPM store and connects to its TPM.
    pub fn open(dir: &Path) -> Result<TpmStore, Error> {
        let config: TpmConfig = read_json(&dir.join(TPM_CONFIG))?;
        if config.format != 1 {
            return Err(corrupt(
                &dir.join(TPM_CONFIG),
                format!("unknown format {}", config.format),
            ));
        }
        let tpm = Tpm::connect(&config.tcti)?;
        Ok(TpmStore {
            dir: dir.to_owned(),
            tcti: config.tcti,
            tpm: RefCell::new(tpm),
        })
    }

    /// What the TPM holds now.
    pub fn status(&self) -> Result<TpmStatus, Error> {
        let mut tpm = self.tpm.borrow_mut();
        let nv = tpm.anchor()?.ok_or_else(|| self.unprovisioned())?;
        let counter = tpm.counter()?.ok_or_else(|| self.unprovisioned())?;
        Ok(TpmStatus {
            tcti: self.tcti.clone(),
            anchor_index: ANCHOR_INDEX,
            anchor_version: nv.version,
            anchor_sha256: nv.sha256,
            counter_index: COUNTER_INDEX,
            counter,
        })
    }

    fn unprovisioned(&self) -> Error {
        Error::Hardware {
            backend: "tpm",
            reason: format!(
                "the TPM at {} holds no airlock anchor or counter (was it cleared?)",
                self.tcti
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

    /// Reads the state and checks it against the TPM: the chain starts at
    /// the TPM-held root, and the state is not older than the counter.
    /// Returns the state file and the counter's value.
    fn load(&self) -> Result<(StateFile, u64), Error> {
        let path = self.dir.join(STATE_FILE);
        let file: StateFile = read_json(&path)?;
        if file.format != 1 {
            return Err(corrupt(&path, format!("unknown format {}", file.format)));
        }
        let (nv, counter) = {
            let mut tpm = self.tpm.borrow_mut();
            let nv = tpm.anchor()?.ok_or_else(|| self.unprovisioned())?;
            let counter = tpm.counter()?.ok_or_else(|| self.unprovisioned())?;
            (nv, counter)
        };
        if file.counter < counter {
            return Err(Error::StoreRollback {
                path: self.dir.clone(),
                reason: format!(
                    "its state was committed at counter {}, but the TPM counter is at {counter}: \
                     this is an older copy of the store",
                    file.counter
                ),
            });
        }
        if file.counter > counter + 1 {
            return Err(corrupt(
                &path,
                format!(
                    "the state claims counter {} but the TPM counter is at {counter}",
                    file.counter
                ),
            ));
        }
        let first = file
            .anchors
            .first()
            .ok_or_else(|| corrupt(&path, "the state lists no anchor"))?;
        if first.version != nv.version || first.sha256 != hex::encode(nv.sha256) {
            return Err(Error::AnchorMismatch {
                path: self.dir.clone(),
                reason: format!(
                    "the state starts from root version {} ({}), the TPM holds version {} ({})",
                    first.version,
                    first.sha256,
                    nv.version,
                    hex::encode(nv.sha256)
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

    fn read_anchor(&self, r: &AnchorRef, held_by_tpm: bool) -> Result<Anchor, Error> {
        let path = self.root_path(r);
        let root_json = fs::read(&path).map_err(|source| Error::StoreRead {
            path: path.clone(),
            source,
        })?;
        let anchor = Anchor::new(root_json, r.version);
        if hex::encode(anchor.sha256) != r.sha256 {
            return Err(if held_by_tpm {
                Error::AnchorMismatch {
                    path: self.dir.clone(),
                    reason: format!(
                        "{} is not the root whose digest the TPM holds",
                        path.display()
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

    /// Writes the state file (counter `c+1`), then increments the TPM
    /// counter to match: the rename is the commit point, the increment makes
    /// every older copy stale.
    fn commit(&self, lock: &StoreLock, counter: u64, file: StateFile) -> Result<(), Error> {
        if !lock.guards(&self.dir) {
            return Err(Error::Sign("lock belongs to another store".into()));
        }
        debug_assert_eq!(file.counter, counter + 1);
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| Error::Sign(e.to_string()))?;
        let path = self.dir.join(STATE_FILE);
        write_atomic(&path, &bytes, 0o644).map_err(|source| Error::Write { path, source })?;
        let now = self.tpm.borrow_mut().increment()?;
        if now != file.counter {
            return Err(Error::StoreRollback {
                path: self.dir.clone(),
                reason: format!(
                    "the TPM counter moved to {now} while committing state {} (another writer?)",
                    file.counter
                ),
            });
        }
        Ok(())
    }
}

fn anchor_ref(anchor: &Anchor) -> AnchorRef {
    AnchorRef {
        version: anchor.version,
        sha256: hex::encode(anchor.sha256),
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, Error> {
    let bytes = fs::read(path).map_err(|source| Error::StoreRead {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| corrupt(path, e.to_string()))
}

impl TrustStore for TpmStore {
    fn backend(&self) -> BackendKind {
        BackendKind::Tpm
    }

    fn dir(&self) -> &Path {
        &self.dir
    }

    fn protections(&self) -> Vec<String> {
        let (held, counter) = match self.status() {
            Ok(s) => (
                format!(
                    "anchor: root version {} (sha256 {}) in TPM NV index {:#010x}, write-once; \
                     replacing it needs the TPM owner's authorization",
                    s.anchor_version,
                    hex::encode(s.anchor_sha256),
                    s.anchor_index
                ),
                format!(
                    "state: bound to TPM monotonic counter {:#010x} (now {}), incremented by every import",
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
            "protects against: swapping the anchor or a rotated root in the store directory; restoring an older copy of the store directory (rollback, replay)".into(),
            "does NOT protect against: a root user who runs a modified airlock or drives the TPM directly (e.g. writes a new state file carrying the current counter value, or increments the counter to stop imports); a cleared TPM loses the anchor (re-provision)".into(),
        ]
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
            counter = self.tpm.borrow_mut().increment()?;
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
        self.commit(lock, counter, file)
    }
}

#[cfg(test)]
#[path = "../../../tests/support/emulators.rs"]
mod emulators;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::open_store;
    use crate::tpm::emulators;

    fn anchor(v: u64) -> Anchor {
        Anchor::new(format!("{{\"root\":{v}}}").into_bytes(), v)
    }

    fn acceptance(id: &str, seq: u64) -> Acceptance {
        Acceptance {
            channel: "stable".into(),
            sequence: seq,
            bundle_id: id.into(),
            time: 100,
            new_anchor: None,
        }
    }

    #[test]
    fn the_anchor_index_cannot_be_written_again() {
        let Some(tpm) = emulators::Swtpm::start("the_anchor_index_cannot_be_written_again") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let s = TpmStore::init(dir.path(), &tpm.tcti(), &anchor(1), false, None).unwrap();
        let forged = NvAnchor {
            version: 1,
            sha256: [0x66; 32],
        }
        .encode();
        let results = s.tpm.borrow_mut().try_overwrite_anchor(&forged).unwrap();
        assert_eq!(results.len(), 3);
        for r in &results {
            assert!(!r.contains("WRITTEN"), "{results:?}");
        }
        assert_eq!(s.anchor().unwrap(), anchor(1));
        let status = s.status().unwrap();
        assert_eq!(status.anchor_sha256, anchor(1).sha256);
    }

    #[test]
    fn a_restored_older_state_is_refused_and_a_crash_before_the_increment_is_not() {
        let Some(tpm) = emulators::Swtpm::start("a_restored_older_state_is_refused") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let s = TpmStore::init(dir.path(), &tpm.tcti(), &anchor(1), false, None).unwrap();
        let old = fs::read(dir.path().join(STATE_FILE)).unwrap();
        let lock = s.lock().unwrap();
        s.accept(&lock, &acceptance("a", 1)).unwrap();
        drop(lock);
        let newer = fs::read(dir.path().join(STATE_FILE)).unwrap();
        fs::write(dir.path().join(STATE_FILE), &old).unwrap();
        let s = open_store(dir.path()).unwrap();
        assert!(matches!(s.state(), Err(Error::StoreRollback { .. })));
        assert!(matches!(s.anchor(), Err(Error::StoreRollback { .. })));
        fs::write(dir.path().join(STATE_FILE), &newer).unwrap();
        assert!(s.state().unwrap().accepted.contains("a"));

        // A crash between the state's rename and the increment: the state is
        // one ahead of the counter. It is the newest state, so it is used,
        // and the next import completes the increment.
        let mut ahead: StateFile = serde_json::from_slice(&newer).unwrap();
        ahead.counter += 1;
        ahead.state.accepted.insert("b".into());
        fs::write(
            dir.path().join(STATE_FILE),
            serde_json::to_vec(&ahead).unwrap(),
        )
        .unwrap();
        assert!(s.state().unwrap().accepted.contains("b"));
        let lock = s.lock().unwrap();
        s.accept(&lock, &acceptance("c", 2)).unwrap();
        drop(lock);
        let st = s.state().unwrap();
        assert!(["a", "b", "c"].iter().all(|id| st.accepted.contains(*id)));
        // …and the state from before "c" is now stale too.
        fs::write(
            dir.path().join(STATE_FILE),
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
        let s = TpmStore::init(dir.path(), &tpm.tcti(), &anchor(1), false, None).unwrap();
        let lock = s.lock().unwrap();
        let mut acc = acceptance("a", 5);
        acc.new_anchor = Some(anchor(2));
        s.accept(&lock, &acc).unwrap();
        drop(lock);
        assert_eq!(s.anchor().unwrap(), anchor(2));
        assert_eq!(s.anchor_history().unwrap(), vec![anchor(1), anchor(2)]);
        // A second init is refused, by the directory and by the TPM.
        assert!(matches!(
            TpmStore::init(dir.path(), &tpm.tcti(), &anchor(3), false, None),
            Err(Error::AlreadyProvisioned { .. })
        ));
        let other = tempfile::tempdir().unwrap();
        assert!(matches!(
            TpmStore::init(other.path(), &tpm.tcti(), &anchor(3), false, None),
            Err(Error::AlreadyProvisioned { .. })
        ));
        let s = TpmStore::init(dir.path(), &tpm.tcti(), &anchor(3), true, None).unwrap();
        assert_eq!(s.anchor_history().unwrap(), vec![anchor(3)]);
        assert_eq!(s.state().unwrap().channels["stable"], 5);
    }
}
