//! The file-only trust store: everything in plain files in the store
//! directory. It detects accidents and inconsistent edits, but protects
//! nothing against a local root user (see `protections`).
//!
//! Layout of the store directory:
//! - `airlock-store.json`: `{"format":1,"backend":"file"}`;
//! - `roots/VERSION.SHA256.root.json`: every root ever anchored, content-addressed;
//! - `state.json`: the anchor's version and digest plus the monotonic state —
//!   the single file whose atomic replacement commits a change;
//! - `lock`: the lock file serializing writers.
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::atomic::write_atomic;
use crate::store::{CONFIG_FILE, StoreConfig};
use crate::{Acceptance, Anchor, BackendKind, Error, StoreLock, StoreState, TrustStore};

const STATE_FILE: &str = "state.json";
const ROOTS_DIR: &str = "roots";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnchorRef {
    version: u64,
    sha256: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    format: u32,
    anchor: AnchorRef,
    #[serde(flatten)]
    state: StoreState,
}

/// A trust store kept in plain files.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    /// Provisions `dir` (created if missing) with `anchor`. With `replace`, an
    /// existing store gets the new anchor and keeps its monotonic state, so
    /// re-provisioning never re-opens old sequences or bundle ids.
    pub fn init(dir: &Path, anchor: &Anchor, replace: bool) -> Result<FileStore, Error> {
        let write_err = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::Write { path, source }
        };
        fs::create_dir_all(dir).map_err(write_err(dir))?;
        let store = FileStore {
            dir: dir.to_owned(),
        };
        let lock = StoreLock::acquire(dir)?;
        let config_path = dir.join(CONFIG_FILE);
        let state = if config_path.exists() {
            if !replace {
                return Err(Error::AlreadyProvisioned {
                    path: dir.to_owned(),
                });
            }
            // Re-provisioning keeps what must never move backwards; a damaged
            // state file is not silently reset.
            store.read_state_file()?.state
        } else {
            StoreState::default()
        };
        let config = serde_json::to_vec_pretty(&StoreConfig {
            format: 1,
            backend: BackendKind::File,
        })
        .map_err(|e| Error::Sign(e.to_string()))?;
        write_atomic(&config_path, &config, 0o644).map_err(write_err(&config_path))?;
        store.commit(&lock, anchor, state)?;
        Ok(store)
    }

    /// Opens a provisioned file store.
    pub fn open(dir: &Path) -> Result<FileStore, Error> {
        if !dir.join(CONFIG_FILE).exists() {
            return Err(Error::NotProvisioned {
                path: dir.to_owned(),
            });
        }
        Ok(FileStore {
            dir: dir.to_owned(),
        })
    }

    fn root_path(&self, version: u64, sha256_hex: &str) -> PathBuf {
        self.dir
            .join(ROOTS_DIR)
            .join(format!("{version}.{sha256_hex}.root.json"))
    }

    fn read_state_file(&self) -> Result<StateFile, Error> {
        let path = self.dir.join(STATE_FILE);
        let bytes = fs::read(&path).map_err(|source| Error::StoreRead {
            path: path.clone(),
            source,
        })?;
        let file: StateFile = serde_json::from_slice(&bytes).map_err(|e| Error::StoreCorrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if file.format != 1 {
            return Err(Error::StoreCorrupt {
                path,
                reason: format!("unknown state format {}", file.format),
            });
        }
        Ok(file)
    }

    /// Writes the anchor's root (content-addressed, never overwritten) and then
    /// the state file that points at it: the state file's rename is the one
    /// commit point.
    fn commit(&self, lock: &StoreLock, anchor: &Anchor, state: StoreState) -> Result<(), Error> {
        if !lock.guards(&self.dir) {
            return Err(Error::Sign("lock belongs to another store".into()));
        }
        let sha = hex::encode(anchor.sha256);
        let roots = self.dir.join(ROOTS_DIR);
        fs::create_dir_all(&roots).map_err(|source| Error::Write {
            path: roots.clone(),
            source,
        })?;
        let root_path = self.root_path(anchor.version, &sha);
        if !root_path.exists() {
            write_atomic(&root_path, &anchor.root_json, 0o644).map_err(|source| Error::Write {
                path: root_path.clone(),
                source,
            })?;
        }
        let file = StateFile {
            format: 1,
            anchor: AnchorRef {
                version: anchor.version,
                sha256: sha,
            },
            state,
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| Error::Sign(e.to_string()))?;
        let path = self.dir.join(STATE_FILE);
        // The one commit point: the rename inside write_atomic.
        write_atomic(&path, &bytes, 0o644).map_err(|source| Error::Write { path, source })
    }
}

impl TrustStore for FileStore {
    fn backend(&self) -> BackendKind {
        BackendKind::File
    }

    fn dir(&self) -> &Path {
        &self.dir
    }

    fn protections(&self) -> Vec<String> {
        vec![
            "anchor: the trusted root is a plain file in the store directory".into(),
            "state: sequences, accepted bundle ids and latest time are a plain file".into(),
            "protects against: accidental edits (digests are cross-checked) and concurrent writers (lock)".into(),
            "does NOT protect against: anyone who can write the store directory (a local root user can swap the anchor or restore an older state); use --tpm or --pkcs11 for that".into(),
        ]
    }

    fn anchor(&self) -> Result<Anchor, Error> {
        let file = self.read_state_file()?;
        let path = self.root_path(file.anchor.version, &file.anchor.sha256);
        let root_json = fs::read(&path).map_err(|source| Error::StoreRead {
            path: path.clone(),
            source,
        })?;
        let anchor = Anchor::new(root_json, file.anchor.version);
        if hex::encode(Sha256::digest(&anchor.root_json)) != file.anchor.sha256 {
            return Err(Error::StoreCorrupt {
                path,
                reason: "the anchored root does not match the digest recorded in state.json".into(),
            });
        }
        Ok(anchor)
    }

    fn state(&self) -> Result<StoreState, Error> {
        Ok(self.read_state_file()?.state)
    }

    fn lock(&self) -> Result<StoreLock, Error> {
        StoreLock::acquire(&self.dir)
    }

    fn try_lock(&self) -> Result<Option<StoreLock>, Error> {
        StoreLock::try_acquire(&self.dir)
    }

    fn accept(&self, lock: &StoreLock, acceptance: &Acceptance) -> Result<(), Error> {
        let current = self.read_state_file()?;
        let anchor = match &acceptance.new_anchor {
            Some(a) => a.clone(),
            None => self.anchor()?,
        };
        let mut state = current.state;
        let seq = state
            .channels
            .entry(acceptance.channel.clone())
            .or_insert(0);
        *seq = (*seq).max(acceptance.sequence);
        state.accepted.insert(acceptance.bundle_id.clone());
        state.latest_time = state.latest_time.max(acceptance.time);
        self.commit(lock, &anchor, state)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::open_store;

    fn anchor(v: u64) -> Anchor {
        Anchor::new(format!("{{\"root\":{v}}}").into_bytes(), v)
    }

    #[test]
    fn init_accept_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::init(dir.path(), &anchor(1), false).unwrap();
        assert_eq!(s.anchor().unwrap(), anchor(1));
        assert_eq!(s.state().unwrap(), StoreState::default());
        let lock = s.lock().unwrap();
        let acc = Acceptance {
            channel: "stable".into(),
            sequence: 7,
            bundle_id: "ab".into(),
            time: 100,
            new_anchor: None,
        };
        s.accept(&lock, &acc).unwrap();
        s.accept(
            &lock,
            &Acceptance {
                time: 50,
                sequence: 3,
                bundle_id: "cd".into(),
                ..acc.clone()
            },
        )
        .unwrap();
        drop(lock);
        let reopened = open_store(dir.path()).unwrap();
        let st = reopened.state().unwrap();
        assert_eq!(st.channels["stable"], 7, "sequence never moves backwards");
        assert_eq!(st.latest_time, 100, "time never moves backwards");
        assert!(st.accepted.contains("ab") && st.accepted.contains("cd"));
    }

    #[test]
    fn refuses_second_init_and_keeps_state_on_replace() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::init(dir.path(), &anchor(1), false).unwrap();
        let lock = s.lock().unwrap();
        let acc = Acceptance {
            channel: "c".into(),
            sequence: 9,
            bundle_id: "x".into(),
            time: 5,
            new_anchor: None,
        };
        s.accept(&lock, &acc).unwrap();
        drop(lock);
        assert!(matches!(
            FileStore::init(dir.path(), &anchor(2), false),
            Err(Error::AlreadyProvisioned { .. })
        ));
        let s = FileStore::init(dir.path(), &anchor(2), true).unwrap();
        assert_eq!(s.anchor().unwrap().version, 2);
        assert_eq!(s.state().unwrap().channels["c"], 9);
    }

    #[test]
    fn detects_swapped_anchor_file() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::init(dir.path(), &anchor(1), false).unwrap();
        let a = s.anchor().unwrap();
        let path = s.root_path(1, &hex::encode(a.sha256));
        fs::write(&path, b"{\"root\":666}").unwrap();
        assert!(matches!(s.anchor(), Err(Error::StoreCorrupt { .. })));
    }

    #[test]
    fn unprovisioned_dir() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            open_store(dir.path()),
            Err(Error::NotProvisioned { .. })
        ));
    }
}
