//! The file-only trust store: everything in plain files in the store
//! directory. It detects accidents and inconsistent edits, but protects
//! nothing against a local root user (see `protections`).
//!
//! Layout of the store directory:
//! - `airlock-store.json`: `{"format":1,"backend":"file"}`;
//! - `roots/VERSION.SHA256.root.json`: every root ever anchored, content-addressed;
//! - `state.json`: the anchor's version and digest, the monotonic state
//!   (with the binding of the ledger file) and the journal head — the
//!   single file whose atomic replacement commits a change (format 2;
//!   format 1 is a store from before the journal);
//! - `ledger`: the accepted bundle ids, one a line, appended before the
//!   state naming them is committed ([`crate::ledger`]; absent until the
//!   first acceptance);
//! - `journal.jsonl`: the audit journal (`docs/journal-format.md`);
//! - `journal-key.pem` (mode 0600) and `journal-key.pub`: the Ed25519 key
//!   that signs the journal, made by `anchor init` (or `journal init` for a
//!   format-1 store);
//! - `lock`: the lock file serializing writers;
//! - `init-in-progress`: present only while `anchor init` provisions the
//!   directory (an init killed before its commit is redone by the next).
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::atomic::write_atomic;
use crate::config::{CONFIG_FILE, StoreConfig};
use crate::error::Error;
use crate::file_signer::FileSigner;
use crate::journal::{HeadRef, JournalFile, JournalHead, journal_keyid};
use crate::key::PublicKey;
use crate::lock::DirLock;
use crate::provision::{InitMode, JournalKey, Provisioning};
use crate::signer::Signer;
use crate::store::{
    Acceptance, Anchor, BackendKind, Locked, PolicyPin, StoreLock, StoreState, TrustStore,
};

const STATE_FILE: &str = "state.json";
const ROOTS_DIR: &str = "roots";
const JOURNAL_KEY: &str = "journal-key";
/// Present while `anchor init` provisions a new store, removed once the
/// configuration (the commit) is written: what an interrupted init left is
/// then recognised and replaced by the next one.
const INIT_MARKER: &str = "init-in-progress";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnchorRef {
    version: u64,
    sha256: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, from = "StateFileWire")]
struct StateFile {
    format: u32,
    anchor: AnchorRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    journal: Option<HeadRef>,
    #[serde(flatten)]
    state: StoreState,
}

/// `state.json` as read: [`StateFile`] with the state's fields inline,
/// under the same rules (unknown and duplicate fields refused; the same
/// defaults). Deserializing through `#[serde(flatten)]` buffered every value
/// of the file first and then copied it, two allocations per bundle id of
/// the ledger, and the file is read several times per decision: 12,000
/// instructions per accepted bundle per decision (docs/performance.md).
/// A state written before the ledger file keeps its ids inline
/// (`accepted`): read as a list and collected into its set at once (sorted
/// as written, that is a linear build), moved into the ledger file by the
/// next commit. Built by a struct literal, so a field added to [`StoreState`]
/// does not compile until it is added here.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFileWire {
    format: u32,
    anchor: AnchorRef,
    #[serde(default)]
    journal: Option<HeadRef>,
    channels: std::collections::BTreeMap<String, u64>,
    #[serde(default = "crate::ledger::LedgerRef::absent")]
    ledger: crate::ledger::LedgerRef,
    #[serde(default)]
    accepted: Option<Vec<String>>,
    latest_time: u64,
    #[serde(default)]
    allowed_channels: BTreeSet<String>,
    #[serde(default)]
    layouts: std::collections::BTreeMap<String, crate::store::LayoutSeen>,
    #[serde(default)]
    sigstore: Option<crate::store::SigstorePin>,
    #[serde(default)]
    policy: Option<PolicyPin>,
    #[serde(default)]
    floors: std::collections::BTreeMap<String, u64>,
}

impl From<StateFileWire> for StateFile {
    fn from(w: StateFileWire) -> StateFile {
        StateFile {
            format: w.format,
            anchor: w.anchor,
            journal: w.journal,
            state: StoreState {
                channels: w.channels,
                ledger: w.ledger,
                inline_ledger: w.accepted.map(|ids| ids.into_iter().collect()),
                latest_time: w.latest_time,
                allowed_channels: w.allowed_channels,
                layouts: w.layouts,
                sigstore: w.sigstore,
                policy: w.policy,
                floors: w.floors,
            },
        }
    }
}

/// A trust store kept in plain files.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    /// Provisions `dir` (created if missing) with `anchor`. When `mode`
    /// [replaces](InitMode::replaces), an existing store gets the new anchor
    /// and keeps its monotonic state, so re-provisioning never re-opens old
    /// sequences or bundle ids. A file store keeps its journal key, so it
    /// never starts a new journal: [`InitMode::ReplaceNewJournal`] is
    /// refused ([`Error::Unsupported`]) before anything is changed.
    ///
    /// `journal` writes the provisioning's journal records (and, when the
    /// journal starts now, its first record) and returns the new head; the
    /// store then commits anchor, state and head in one step. The journal
    /// key is created first if the store has none. If a new store cannot be
    /// committed, what this call created is removed again.
    pub fn init<E: From<Error>>(
        dir: &Path,
        anchor: &Anchor,
        channels: Option<&BTreeSet<String>>,
        mode: InitMode,
        journal: impl FnOnce(&Provisioning<'_>) -> Result<JournalHead, E>,
    ) -> Result<FileStore, E> {
        if mode.new_journal() {
            return Err(Error::Unsupported {
                backend: "file".into(),
                reason: "a file store keeps its journal key: replace it without a new journal"
                    .into(),
            }
            .into());
        }
        let write_err = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::Write { path, source }
        };
        fs::create_dir_all(dir).map_err(write_err(dir))?;
        let store = FileStore {
            dir: dir.to_owned(),
        };
        let lock = DirLock::acquire(dir)?;
        let config_path = dir.join(CONFIG_FILE);
        let fresh = !config_path.exists();
        let marker = dir.join(INIT_MARKER);
        let (mut state, previous_anchor, head) = if fresh {
            if marker.exists() {
                // An `anchor init` was killed before it committed. Nothing
                // but that init can have written here (no command opens a
                // directory without its configuration): start again.
                store.remove_uncommitted();
            }
            JournalFile::in_dir(dir).refuse_orphan()?;
            write_atomic(&marker, b"", 0o644).map_err(write_err(&marker))?;
            (StoreState::default(), None, None)
        } else {
            if !mode.replaces() {
                return Err(Error::AlreadyProvisioned {
                    path: dir.to_owned(),
                }
                .into());
            }
            // Re-provisioning keeps what must never move backwards; a damaged
            // state file is not silently reset.
            let file = store.read_state_file()?;
            let previous = store.anchor()?;
            (
                file.state,
                Some(previous),
                file.journal
                    .map(|h| h.head(&store.state_path()))
                    .transpose()?,
            )
        };
        if let Some(c) = channels {
            state.allowed_channels = c.clone();
        }
        let (signer, _) = store.journal_key(if head.is_none() {
            JournalKey::Create
        } else {
            JournalKey::Existing
        })?;
        let provisioning = Provisioning {
            dir,
            signer: &signer,
            lock: &lock,
            head,
            previous_anchor,
            state: &state,
            backend: BackendKind::File,
        };
        let result = journal(&provisioning).and_then(|new_head| {
            // The key pair on disk is the one that signed: checked before
            // anything binds it.
            store.check_key_pair(&signer)?;
            let head_ref = HeadRef::new(signer.public_key(), &new_head);
            store.commit(Locked::by(&lock), anchor, state.clone(), Some(head_ref))?;
            crate::fault::point("anchor-init-before-config");
            // The configuration comes last: a directory without it is not a
            // store, whatever else an interrupted init left in it.
            let config = StoreConfig::new(BackendKind::File).to_bytes();
            write_atomic(&config_path, &config, 0o644).map_err(write_err(&config_path))?;
            if fresh {
                let _ = fs::remove_file(&marker);
            }
            Ok(())
        });
        if let Err(e) = result {
            if fresh {
                store.remove_uncommitted();
            }
            return Err(e);
        }
        Ok(store)
    }

    /// Removes what an uncommitted `anchor init` wrote (never a store's
    /// configuration, whose presence means the init committed).
    fn remove_uncommitted(&self) {
        JournalFile::in_dir(&self.dir).remove();
        let _ = fs::remove_file(self.dir.join(STATE_FILE));
        let _ = fs::remove_file(self.key_path("pem"));
        let _ = fs::remove_file(self.key_path("pub"));
        let _ = fs::remove_file(self.dir.join(INIT_MARKER));
    }

    /// Checks that `journal-key.pub` holds the public half of `signer`.
    fn check_key_pair(&self, signer: &FileSigner) -> Result<(), Error> {
        let path = self.key_path("pub");
        let pem = fs::read_to_string(&path).map_err(|source| Error::StoreRead {
            path: path.clone(),
            source,
        })?;
        match PublicKey::from_spki_pem(&pem) {
            Ok(k) if journal_keyid(&k) == journal_keyid(signer.public_key()) => Ok(()),
            _ => Err(Error::StoreCorrupt {
                path,
                reason: "the journal public key is not the private key's".into(),
            }),
        }
    }

    /// Starts the journal of a store provisioned before airlock kept one
    /// (state format 1), under `lock`: creates the journal key, lets
    /// `journal` write the first record, and binds its head.
    pub fn start_journal<E: From<Error>>(
        lock: &StoreLock<'_, FileStore>,
        journal: impl FnOnce(&Provisioning<'_>) -> Result<JournalHead, E>,
    ) -> Result<(), E> {
        let this = lock.store();
        this.start_journal_locked(lock, journal)
    }

    fn start_journal_locked<E: From<Error>>(
        &self,
        lock: &DirLock,
        journal: impl FnOnce(&Provisioning<'_>) -> Result<JournalHead, E>,
    ) -> Result<(), E> {
        let file = self.read_state_file()?;
        if file.journal.is_some() {
            return Err(Error::Exists {
                path: JournalFile::in_dir(&self.dir).path().to_owned(),
            }
            .into());
        }
        let anchor = self.anchor()?;
        let (signer, _) = self.journal_key(JournalKey::Create)?;
        let head = journal(&Provisioning {
            dir: &self.dir,
            signer: &signer,
            lock,
            head: None,
            previous_anchor: Some(anchor.clone()),
            state: &file.state,
            backend: BackendKind::File,
        })?;
        let head_ref = HeadRef::new(signer.public_key(), &head);
        self.commit(Locked::by(lock), &anchor, file.state, Some(head_ref))?;
        Ok(())
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

    fn key_path(&self, ext: &str) -> PathBuf {
        self.dir.join(format!("{JOURNAL_KEY}.{ext}"))
    }

    /// Changes the state with `change` and binds the journal head `head`
    /// (the records saying so end there) under the lock: the one update
    /// path of the operator's changes (`accept` also moves the anchor).
    fn update_state(
        &self,
        locked: Locked<'_>,
        head: &JournalHead,
        change: impl FnOnce(&mut StoreState),
    ) -> Result<(), Error> {
        let current = self.read_state_file()?;
        let Some(bound) = &current.journal else {
            return Err(Error::JournalNotStarted {
                path: self.dir.clone(),
            });
        };
        let new = bound.advanced(head, &self.state_path())?;
        let anchor = self.anchor()?;
        let mut state = current.state;
        change(&mut state);
        self.commit(locked, &anchor, state, Some(new))
    }

    /// Loads the journal key, or creates it ([`JournalKey::Create`]) when
    /// there is none. Returns the signer and whether it was created now.
    fn journal_key(&self, key: JournalKey) -> Result<(FileSigner, bool), Error> {
        let pem = self.key_path("pem");
        if pem.exists() {
            let signer = FileSigner::load(&pem).map_err(|e| Error::StoreCorrupt {
                path: pem.clone(),
                reason: format!("the journal key does not load: {e}"),
            })?;
            return Ok((signer, false));
        }
        if key == JournalKey::Existing {
            return Err(Error::StoreCorrupt {
                path: pem,
                reason: "the journal key is missing".into(),
            });
        }
        let signer = FileSigner::generate()?;
        signer.write_pair(&self.dir.join(JOURNAL_KEY))?;
        Ok((signer, true))
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
        file.state.check_ledger(&path)?;
        match (file.format, file.journal.is_some()) {
            (1, false) | (2, true) => Ok(file),
            (1 | 2, _) => Err(Error::StoreCorrupt {
                path,
                reason: format!(
                    "state format {} {} a journal head",
                    file.format,
                    if file.format == 1 {
                        "cannot have"
                    } else {
                        "must have"
                    }
                ),
            }),
            (other, _) => Err(Error::StoreCorrupt {
                path,
                reason: format!("unknown state format {other}"),
            }),
        }
    }

    /// The bound journal head and key id, or `JournalNotStarted`.
    fn head_ref(&self) -> Result<HeadRef, Error> {
        self.read_state_file()?
            .journal
            .ok_or_else(|| Error::JournalNotStarted {
                path: self.dir.clone(),
            })
    }

    /// Writes the anchor's root (content-addressed, never overwritten) and then
    /// the state file that points at it: the state file's rename is the one
    /// commit point.
    fn commit(
        &self,
        locked: Locked<'_>,
        anchor: &Anchor,
        mut state: StoreState,
        journal: Option<HeadRef>,
    ) -> Result<(), Error> {
        state.move_inline_ledger(&self.dir, locked)?;
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
            format: if journal.is_some() { 2 } else { 1 },
            anchor: AnchorRef {
                version: anchor.version,
                sha256: sha,
            },
            journal,
            state,
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| Error::Sign(e.to_string()))?;
        let path = self.dir.join(STATE_FILE);
        // The one commit point: the rename inside write_atomic.
        write_atomic(&path, &bytes, 0o644).map_err(|source| Error::Write { path, source })
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    /// The journal's bound head and key id, if the store has a journal
    /// (for re-provisioning with another backend).
    pub(crate) fn bound_journal(&self) -> Result<Option<HeadRef>, Error> {
        Ok(self.read_state_file()?.journal)
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
            "state: sequences, latest time and the ledger of accepted bundle ids (bound by its length and hash chain) are plain files".into(),
            "journal: hash-chained records signed by an Ed25519 key kept in the store directory; its head (last record and hash) is kept in the state file".into(),
            "protects against: accidental edits (digests are cross-checked), concurrent writers (lock), and journal edits, deletions and truncation by anyone who cannot also rewrite the state file and read the journal key".into(),
            "does NOT protect against: anyone who can write the store directory (a local root user can swap the anchor, restore an older state, or truncate the journal and its head together); use --tpm or --pkcs11 for that".into(),
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

    fn accept(&self, locked: Locked<'_>, acceptance: &Acceptance) -> Result<(), Error> {
        let current = self.read_state_file()?;
        let Some(bound) = &current.journal else {
            return Err(Error::JournalNotStarted {
                path: self.dir.clone(),
            });
        };
        let head = bound.advanced(&acceptance.journal_head, &self.state_path())?;
        let anchor = match &acceptance.new_anchor {
            Some(a) => a.clone(),
            None => self.anchor()?,
        };
        let mut state = current.state;
        state.accept(&self.dir, locked, acceptance)?;
        self.commit(locked, &anchor, state, Some(head))
    }

    fn journal_signer(&self) -> Result<Box<dyn Signer>, Error> {
        let bound = self.head_ref()?;
        let (signer, _) = self.journal_key(JournalKey::Existing)?;
        if journal_keyid(signer.public_key()) != bound.key {
            return Err(Error::StoreCorrupt {
                path: self.key_path("pem"),
                reason: "the journal key is not the one state.json records".into(),
            });
        }
        Ok(Box::new(signer))
    }

    fn journal_public_key(&self) -> Result<PublicKey, Error> {
        let bound = self.head_ref()?;
        let path = self.key_path("pub");
        let pem = fs::read_to_string(&path).map_err(|source| Error::StoreRead {
            path: path.clone(),
            source,
        })?;
        let key = PublicKey::from_spki_pem(&pem).map_err(|reason| Error::StoreCorrupt {
            path: path.clone(),
            reason,
        })?;
        if journal_keyid(&key) != bound.key {
            return Err(Error::StoreCorrupt {
                path,
                reason: "the journal public key is not the one state.json records".into(),
            });
        }
        Ok(key)
    }

    fn journal_head(&self) -> Result<JournalHead, Error> {
        self.head_ref()?.head(&self.state_path())
    }

    fn set_allowed_channels(
        &self,
        locked: Locked<'_>,
        channels: &BTreeSet<String>,
        head: &JournalHead,
    ) -> Result<(), Error> {
        self.update_state(locked, head, |state| {
            state.allowed_channels = channels.clone();
        })
    }

    fn set_sigstore_pin(
        &self,
        locked: Locked<'_>,
        pin: &crate::store::SigstorePin,
        head: &JournalHead,
    ) -> Result<(), Error> {
        self.update_state(locked, head, |state| {
            state.sigstore = Some(pin.clone());
        })
    }

    fn set_policy(
        &self,
        locked: Locked<'_>,
        policy: Option<&PolicyPin>,
        head: &JournalHead,
    ) -> Result<(), Error> {
        self.update_state(locked, head, |state| {
            state.policy = policy.cloned();
        })
    }

    fn set_floor(
        &self,
        locked: Locked<'_>,
        channel: &str,
        floor: u64,
        head: &JournalHead,
    ) -> Result<(), Error> {
        self.update_state(locked, head, |state| {
            state.raise_floor(channel, floor);
        })
    }

    fn bind_journal_head(&self, locked: Locked<'_>, head: &JournalHead) -> Result<(), Error> {
        self.update_state(locked, head, |_| ())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::open::open_store;

    fn anchor(v: u64) -> Anchor {
        Anchor::new(format!("{{\"root\":{v}}}").into_bytes(), v)
    }

    fn head(seq: u64) -> JournalHead {
        JournalHead {
            seq,
            sha256: [seq as u8; 32],
        }
    }

    /// Provisions without writing journal records (the store only keeps
    /// the head the caller reports).
    fn init(dir: &Path, a: &Anchor, replace: bool, seq: u64) -> Result<FileStore, Error> {
        FileStore::init(dir, a, None, InitMode::from_flags(replace, false), |_| {
            Ok::<_, Error>(head(seq))
        })
    }

    #[test]
    fn init_accept_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let s = init(dir.path(), &anchor(1), false, 1).unwrap();
        assert_eq!(s.anchor().unwrap(), anchor(1));
        assert_eq!(s.state().unwrap(), StoreState::default());
        let lock = StoreLock::acquire(&s).unwrap();
        let acc = Acceptance {
            channel: "stable".into(),
            sequence: 7,
            bundle_id: "ab".repeat(16),
            time: 100,
            new_anchor: None,
            layout: None,
            journal_head: head(2),
        };
        lock.accept(&acc).unwrap();
        lock.accept(&Acceptance {
            time: 50,
            sequence: 3,
            bundle_id: "cd".repeat(16),
            journal_head: head(3),
            ..acc.clone()
        })
        .unwrap();
        drop(lock);
        let reopened = open_store(dir.path()).unwrap();
        let st = reopened.state().unwrap();
        assert_eq!(st.channels["stable"], 7, "sequence never moves backwards");
        assert_eq!(st.latest_time, 100, "time never moves backwards");
        for id in ["ab", "cd"] {
            assert!(st.ledger_contains(dir.path(), &id.repeat(16)).unwrap());
        }
        assert!(!st.ledger_contains(dir.path(), &"ef".repeat(16)).unwrap());
        assert_eq!(st.imported(), 2);
    }

    #[test]
    fn refuses_second_init_and_keeps_state_on_replace() {
        let dir = tempfile::tempdir().unwrap();
        let s = init(dir.path(), &anchor(1), false, 1).unwrap();
        let lock = StoreLock::acquire(&s).unwrap();
        let acc = Acceptance {
            channel: "c".into(),
            sequence: 9,
            bundle_id: "e".repeat(32),
            time: 5,
            new_anchor: None,
            layout: None,
            journal_head: head(2),
        };
        lock.accept(&acc).unwrap();
        drop(lock);
        assert!(matches!(
            init(dir.path(), &anchor(2), false, 3),
            Err(Error::AlreadyProvisioned { .. })
        ));
        let s = init(dir.path(), &anchor(2), true, 3).unwrap();
        assert_eq!(s.anchor().unwrap().version, 2);
        assert_eq!(s.state().unwrap().channels["c"], 9);
    }

    #[test]
    fn detects_swapped_anchor_file() {
        let dir = tempfile::tempdir().unwrap();
        let s = init(dir.path(), &anchor(1), false, 1).unwrap();
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

    #[test]
    fn journal_key_and_head() {
        let dir = tempfile::tempdir().unwrap();
        let s = init(dir.path(), &anchor(1), false, 2).unwrap();
        assert_eq!(s.journal_head().unwrap(), head(2));
        let pk = s.journal_public_key().unwrap();
        assert_eq!(s.journal_signer().unwrap().public_key(), &pk);
        assert_eq!(pk.algorithm(), crate::key::KeyAlgorithm::Ed25519);
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.path().join("journal-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let lock = StoreLock::acquire(&s).unwrap();
        lock.bind_journal_head(&head(5)).unwrap();
        assert_eq!(s.journal_head().unwrap(), head(5));
        // The head never moves back, and an acceptance must move it.
        assert!(matches!(
            lock.bind_journal_head(&head(5)),
            Err(Error::StoreCorrupt { .. })
        ));
        let acc = Acceptance {
            channel: "c".into(),
            sequence: 1,
            bundle_id: "e".repeat(32),
            time: 5,
            new_anchor: None,
            layout: None,
            journal_head: head(4),
        };
        assert!(matches!(lock.accept(&acc), Err(Error::StoreCorrupt { .. })));
        assert_eq!(s.state().unwrap().imported(), 0);
        // Re-provisioning keeps the key and hands over the bound head.
        drop(lock);
        let before = s.journal_public_key().unwrap();
        FileStore::init(dir.path(), &anchor(2), None, InitMode::Replace, |p| {
            assert_eq!(p.head, Some(head(5)));
            assert_eq!(p.previous_anchor.as_ref().unwrap().version, 1);
            Ok::<_, Error>(head(6))
        })
        .unwrap();
        assert_eq!(s.journal_public_key().unwrap(), before);
        assert_eq!(s.journal_head().unwrap(), head(6));
    }

    #[test]
    fn a_failed_journal_leaves_no_store() {
        let dir = tempfile::tempdir().unwrap();
        let r = FileStore::init(dir.path(), &anchor(1), None, InitMode::New, |p| {
            fs::write(p.dir.join("journal.jsonl"), b"{}\n").unwrap();
            Err(Error::Sign("disk full".into()))
        });
        assert!(matches!(r, Err(Error::Sign(_))));
        assert!(matches!(
            open_store(dir.path()),
            Err(Error::NotProvisioned { .. })
        ));
        for f in [
            "journal.jsonl",
            "journal-key.pem",
            "journal-key.pub",
            "state.json",
        ] {
            assert!(!dir.path().join(f).exists(), "{f} left behind");
        }
        init(dir.path(), &anchor(1), false, 1).unwrap();
    }

    #[test]
    fn a_store_without_journal_says_so_and_can_start_one() {
        let dir = tempfile::tempdir().unwrap();
        let s = init(dir.path(), &anchor(1), false, 1).unwrap();
        // What a store made before the journal looks like.
        let state = fs::read_to_string(dir.path().join("state.json")).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&state).unwrap();
        v["format"] = 1.into();
        v.as_object_mut().unwrap().remove("journal");
        fs::write(dir.path().join("state.json"), v.to_string()).unwrap();
        for f in ["journal-key.pem", "journal-key.pub"] {
            fs::remove_file(dir.path().join(f)).unwrap();
        }
        assert!(matches!(
            s.journal_head(),
            Err(Error::JournalNotStarted { .. })
        ));
        assert!(matches!(
            s.journal_signer(),
            Err(Error::JournalNotStarted { .. })
        ));
        let lock = StoreLock::acquire(&s).unwrap();
        FileStore::start_journal(&lock, |p| {
            assert!(p.head.is_none());
            Ok::<_, Error>(head(1))
        })
        .unwrap();
        assert_eq!(s.journal_head().unwrap(), head(1));
        assert!(s.journal_signer().is_ok());
    }

    fn import(lock: &StoreLock<'_, FileStore>, id: &str, sequence: u64, record: u64) {
        lock.accept(&Acceptance {
            channel: "c".into(),
            sequence,
            bundle_id: id.repeat(32),
            time: 5,
            new_anchor: None,
            layout: None,
            journal_head: head(record),
        })
        .unwrap();
    }

    /// Rewrites `state.json` as a store written before the ledger file
    /// kept it: the ids inline (`accepted`), no `ledger`; removes the file.
    fn as_before_the_ledger_file(dir: &Path, ids: &[String]) {
        let path = dir.join("state.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        let o = v.as_object_mut().unwrap();
        o.remove("ledger").unwrap();
        o.insert("accepted".into(), ids.into());
        fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
        let _ = fs::remove_file(dir.join("ledger"));
    }

    #[test]
    fn a_state_with_inline_ids_is_read_and_moved_into_the_ledger_file_by_the_next_commit() {
        let dir = tempfile::tempdir().unwrap();
        let s = init(dir.path(), &anchor(1), false, 1).unwrap();
        let old: Vec<String> = ["1", "a", "f"].iter().map(|c| c.repeat(32)).collect();
        as_before_the_ledger_file(dir.path(), &old);
        let st = s.state().unwrap();
        assert_eq!(st.imported(), 3);
        assert!(st.ledger_contains(dir.path(), &old[1]).unwrap());
        assert!(!st.ledger_contains(dir.path(), &"b".repeat(32)).unwrap());
        // A commit that accepts nothing moves them too.
        let lock = StoreLock::acquire(&s).unwrap();
        lock.bind_journal_head(&head(2)).unwrap();
        let text = fs::read_to_string(dir.path().join("state.json")).unwrap();
        assert!(!text.contains("accepted"), "{text}");
        assert_eq!(
            fs::read_to_string(dir.path().join("ledger")).unwrap(),
            format!("{}\n{}\n{}\n", old[0], old[1], old[2])
        );
        let st = s.state().unwrap();
        assert_eq!((st.imported(), st.ledger.bytes), (3, 99));
        assert!(st.ledger_contains(dir.path(), &old[2]).unwrap());
        // An acceptance on a state with inline ids: the old ones first, in
        // the order they were kept (sorted), then the new one.
        drop(lock);
        as_before_the_ledger_file(dir.path(), &old);
        let lock = StoreLock::acquire(&s).unwrap();
        import(&lock, "0", 1, 3);
        assert_eq!(
            fs::read_to_string(dir.path().join("ledger")).unwrap(),
            format!("{}\n{}\n{}\n{}\n", old[0], old[1], old[2], "0".repeat(32))
        );
        let st = s.state().unwrap();
        assert_eq!(st.imported(), 4);
        assert!(st.inline_ledger.is_none());
        for id in old.iter().chain([&"0".repeat(32)]) {
            assert!(st.ledger_contains(dir.path(), id).unwrap());
        }
        // Re-provisioning keeps the ledger.
        drop(lock);
        let s = init(dir.path(), &anchor(2), true, 4).unwrap();
        let st = s.state().unwrap();
        assert_eq!(st.imported(), 4);
        assert!(st.ledger_contains(dir.path(), &old[0]).unwrap());
    }

    #[test]
    fn a_state_with_both_inline_ids_and_a_ledger_binding_or_neither_is_refused() {
        // Neither: removing the binding (and the ledger with it) must not
        // make the store forget every id it accepted.
        type Edit = fn(&mut serde_json::Value);
        let both: Edit = |v| v["accepted"] = serde_json::json!(["b".repeat(32)]);
        let neither: Edit = |v| {
            v.as_object_mut().unwrap().remove("ledger").unwrap();
        };
        let cases = [(both, "both inline"), (neither, "binds no ledger")];
        for (edit, reason) in cases {
            let dir = tempfile::tempdir().unwrap();
            let s = init(dir.path(), &anchor(1), false, 1).unwrap();
            let lock = StoreLock::acquire(&s).unwrap();
            import(&lock, "a", 1, 2);
            let path = dir.path().join("state.json");
            let mut v: serde_json::Value =
                serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
            edit(&mut v);
            fs::write(&path, v.to_string()).unwrap();
            let before = fs::read(&path).unwrap();
            assert!(
                matches!(s.state(), Err(Error::StoreCorrupt { reason: ref r, .. }) if r.contains(reason)),
                "{reason}"
            );
            assert!(matches!(
                lock.bind_journal_head(&head(3)),
                Err(Error::StoreCorrupt { .. })
            ));
            assert_eq!(fs::read(&path).unwrap(), before);
        }
    }

    #[test]
    fn an_edited_ledger_refuses_the_lookup_and_a_short_one_the_acceptance() {
        let dir = tempfile::tempdir().unwrap();
        let s = init(dir.path(), &anchor(1), false, 1).unwrap();
        let lock = StoreLock::acquire(&s).unwrap();
        import(&lock, "a", 1, 2);
        import(&lock, "b", 2, 3);
        let ledger = dir.path().join("ledger");
        let state = dir.path().join("state.json");
        let good = fs::read(&ledger).unwrap();
        // One id removed: the lookup fails, and an acceptance (which does
        // not read the ids) is refused before the state changes.
        fs::write(&ledger, &good[33..]).unwrap();
        let st = s.state().unwrap();
        assert!(matches!(
            st.ledger_contains(dir.path(), &"a".repeat(32)),
            Err(Error::StoreCorrupt { .. })
        ));
        let before = fs::read(&state).unwrap();
        let refused = lock.accept(&Acceptance {
            channel: "c".into(),
            sequence: 3,
            bundle_id: "c".repeat(32),
            time: 5,
            new_anchor: None,
            layout: None,
            journal_head: head(4),
        });
        assert!(matches!(refused, Err(Error::StoreCorrupt { .. })));
        assert_eq!(fs::read(&state).unwrap(), before);
        assert_eq!(fs::read(&ledger).unwrap(), &good[33..]);
        // An id changed in place (same length): the lookup fails.
        let mut changed = good.clone();
        changed[40] = b'f';
        fs::write(&ledger, &changed).unwrap();
        assert!(matches!(
            st.ledger_contains(dir.path(), &"b".repeat(32)),
            Err(Error::StoreCorrupt { .. })
        ));
    }

    #[test]
    fn an_append_whose_commit_never_happened_leaves_a_store_that_accepts_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let s = init(dir.path(), &anchor(1), false, 1).unwrap();
        let lock = StoreLock::acquire(&s).unwrap();
        import(&lock, "a", 1, 2);
        // The id of an import killed after its append, before its commit.
        let ledger = dir.path().join("ledger");
        let mut f = fs::OpenOptions::new().append(true).open(&ledger).unwrap();
        use std::io::Write;
        writeln!(f, "{}", "d".repeat(32)).unwrap();
        drop(f);
        let st = s.state().unwrap();
        assert_eq!(st.imported(), 1);
        assert!(!st.ledger_contains(dir.path(), &"d".repeat(32)).unwrap());
        import(&lock, "e", 2, 3);
        assert_eq!(
            fs::read_to_string(&ledger).unwrap(),
            format!("{}\n{}\n", "a".repeat(32), "e".repeat(32))
        );
        let st = s.state().unwrap();
        assert!(st.ledger_contains(dir.path(), &"e".repeat(32)).unwrap());
        assert!(!st.ledger_contains(dir.path(), &"d".repeat(32)).unwrap());
    }
}
