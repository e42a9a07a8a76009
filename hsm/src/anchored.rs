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
//! - The **state** (`state.json`: sequences, latest time, the root chain,
//!   and the binding — count, length, hash chain — of the `ledger` file of
//!   accepted bundle ids, [`crate::ledger`]) carries the value of a
//!   hardware monotonic counter that every decision (import, verify,
//!   refusal: each moves the journal head) advances. A restored older copy of the directory
//!   carries an older value and is refused.
//!
//! - The **journal head** (last record and hash, with the journal key's id)
//!   is part of that counter-bound state: every record the journal gains is
//!   bound by a commit that advances the counter, so a journal cut back to
//!   an earlier head together with a restored older state is refused as a
//!   rollback, and a journal cut back alone no longer reaches the head. The
//!   journal key lives in the hardware (a TPM-derived ECDSA P-256 key; a
//!   non-extractable key on the token).
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
//! - `state.json`; `ledger` (absent until the first acceptance);
//!   `journal.jsonl` (`docs/journal-format.md`); `lock`.
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;
use crate::config::{CONFIG_FILE, StoreConfig};
use crate::error::Error;
use crate::file_store::FileStore;
use crate::held::HeldAnchor;
use crate::journal::{HeadRef, JournalFile, JournalHead, journal_keyid};
use crate::key::PublicKey;
use crate::lock::DirLock;
use crate::provision::{InitMode, JournalKey, Provisioning};
use crate::signer::Signer;
use crate::store::{Acceptance, Anchor, BackendKind, Locked, PolicyPin, StoreState, TrustStore};

const STATE_FILE: &str = "state.json";
const ROOTS_DIR: &str = "roots";

/// Whether a root of a store's chain is the one its hardware holds the
/// digest of (the first) or a later one, checked through the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    /// The root whose digest the hardware holds.
    InHardware,
    /// A root after it in the chain.
    Chained,
}

impl Held {
    fn of_index(i: usize) -> Held {
        if i == 0 {
            Held::InHardware
        } else {
            Held::Chained
        }
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
    /// Puts `anchor` into the hardware (where one is held already, only
    /// when `mode` [`InitMode::replaces`], if the hardware allows it at all)
    /// and makes sure the counter exists.
    fn provision(&self, anchor: &HeldAnchor, mode: InitMode) -> Result<(), Error>;
    /// The key that signs the store's journal; with [`JournalKey::Create`],
    /// it is made on the hardware if it has none. [`Error::KeyNotFound`]
    /// when there is none.
    fn journal_key(&self, key: JournalKey) -> Result<Box<dyn Signer>, Error>;
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
    /// The journal head bound under this counter value.
    journal: HeadRef,
    pub(crate) state: StoreState,
}

/// What a store being re-provisioned had.
struct Previous {
    state: StoreState,
    anchor: Anchor,
    journal: Option<HeadRef>,
    /// A hardware store's backend and the counter value its state was
    /// committed under.
    bound: Option<(BackendKind, u64)>,
}

impl Previous {
    /// Reads the store in `dir` as its directory has it, without its
    /// hardware (which may be cleared or gone).
    fn read(dir: &Path) -> Result<Previous, Error> {
        let backend = read_json::<StoreConfig>(&dir.join(CONFIG_FILE))?.backend;
        // A file store whose move onto hardware was interrupted after its
        // state was committed has the hardware's state file: resume it.
        let moved =
            backend == BackendKind::File && read_json::<StateFile>(&dir.join(STATE_FILE)).is_ok();
        match backend {
            BackendKind::File if !moved => {
                let store = FileStore::open(dir)?;
                Ok(Previous {
                    state: store.state()?,
                    anchor: store.anchor()?,
                    journal: store.bound_journal()?,
                    bound: None,
                })
            }
            _ => {
                let file: StateFile = read_json(&dir.join(STATE_FILE))?;
                file.state.check_ledger(&dir.join(STATE_FILE))?;
                let last = file
                    .anchors
                    .last()
                    .ok_or_else(|| corrupt(&dir.join(STATE_FILE), "the state lists no anchor"))?;
                Ok(Previous {
                    anchor: read_root(dir, last)?,
                    state: file.state,
                    journal: Some(file.journal),
                    bound: (!moved).then_some((backend, file.counter)),
                })
            }
        }
    }

    /// Re-provisioning on the hardware that holds this store's counter
    /// must not re-bind a state older than that counter (a restored older
    /// copy, perhaps with its journal cut to match): that would turn a
    /// detected rollback into an accepted one. Hardware holding no airlock
    /// anchor (cleared, or new) has nothing to compare with.
    fn check_not_rolled_back<H: AnchorHardware>(&self, dir: &Path, hw: &H) -> Result<(), Error> {
        let Some((backend, committed)) = self.bound else {
            return Ok(());
        };
        if backend != hw.kind() || hw.held_anchor()?.is_none() {
            return Ok(());
        }
        match hw.counter()? {
            Some(counter) if committed < counter => Err(Error::StoreRollback {
                path: dir.to_owned(),
                reason: format!(
                    "its state was committed at counter {committed}, but the {} counter is at \
                     {counter}: re-provisioning would bind this older copy of the store anew",
                    backend.name()
                ),
            }),
            _ => Ok(()),
        }
    }
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

/// The journal key `hw` holds, if it is the one whose id is `keyid`;
/// otherwise [`Error::JournalKeyChanged`] for the store in `dir`.
fn expect_journal_key<H: AnchorHardware>(
    hw: &H,
    dir: &Path,
    keyid: &str,
) -> Result<Box<dyn Signer>, Error> {
    let found = match hw.journal_key(JournalKey::Existing) {
        Ok(k) if journal_keyid(k.public_key()) == keyid => return Ok(k),
        Ok(k) => format!("holds key {}", journal_keyid(k.public_key())),
        Err(Error::KeyNotFound { .. }) => "holds no journal key".into(),
        Err(e) => return Err(e),
    };
    Err(Error::JournalKeyChanged {
        path: dir.to_owned(),
        journal_key: keyid.to_owned(),
        hardware: hw.location(),
        found,
    })
}

fn root_path(dir: &Path, r: &AnchorRef) -> PathBuf {
    dir.join(ROOTS_DIR)
        .join(format!("{}.{}.root.json", r.version, r.sha256))
}

/// The root `r` names, from the directory, checked against its digest.
fn read_root(dir: &Path, r: &AnchorRef) -> Result<Anchor, Error> {
    let path = root_path(dir, r);
    let root_json = fs::read(&path).map_err(|source| Error::StoreRead {
        path: path.clone(),
        source,
    })?;
    let anchor = Anchor::new(root_json, r.version);
    if hex::encode(anchor.sha256) != r.sha256 {
        return Err(corrupt(
            &path,
            "the root does not match the digest recorded in the state",
        ));
    }
    Ok(anchor)
}

/// The name a journal closed by `anchor init --replace --new-journal` is
/// kept under: `journal.closed-KEYID16-SEQ.jsonl` (the first 16 hex digits
/// of its key's id, and its last record).
pub(crate) fn closed_journal_name(head: &HeadRef) -> Result<String, Error> {
    let key = &head.key;
    if key.len() != 64 || !key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(corrupt(
            Path::new(STATE_FILE),
            "the journal head's key is not 64 lowercase hex digits",
        ));
    }
    Ok(format!(
        "journal.closed-{}-{}.jsonl",
        &key[..16],
        head.seq()
    ))
}

fn anchor_ref(anchor: &Anchor) -> AnchorRef {
    AnchorRef {
        version: anchor.version,
        sha256: hex::encode(anchor.sha256),
    }
}

impl<H: AnchorHardware> AnchoredStore<H> {
    /// Provisions `dir` (created if missing): `connect` reaches the
    /// hardware, which then takes `anchor` (replacing an old one only when
    /// `mode` [replaces](InitMode::replaces)) and makes sure its counter
    /// exists; `journal` writes the provisioning's journal records (the first
    /// ones, for a new store) with the hardware's journal key and returns the
    /// new head; then the backend's `config` file, the root and the state
    /// (binding that head) are written. When replacing, the store's monotonic
    /// state and its journal are kept, from whichever backend it had —
    /// provided the journal's key is this hardware's
    /// ([`Error::JournalKeyChanged`] otherwise, before the hardware is
    /// changed), or `mode` is [`InitMode::ReplaceNewJournal`]: then the old journal is closed (renamed, see
    /// [`closed_journal_name`]) and a new one starts. If a new store cannot
    /// be provisioned, what this call wrote is removed again.
    pub(crate) fn provision_dir<E: From<Error>>(
        dir: &Path,
        (config_name, config_bytes): (&str, Vec<u8>),
        anchor: &Anchor,
        channels: Option<&BTreeSet<String>>,
        mode: InitMode,
        connect: impl FnOnce() -> Result<H, Error>,
        journal: impl FnOnce(&Provisioning<'_>) -> Result<JournalHead, E>,
    ) -> Result<Self, E> {
        let write_err = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::Write { path, source }
        };
        // Whether this call made the directory: decided by the call that
        // creates it, not by a look beforehand (another `anchor init` may
        // be making the same directory).
        let created = match fs::create_dir(dir) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(_) => {
                fs::create_dir_all(dir).map_err(write_err(dir))?;
                true
            }
        };
        let lock = DirLock::acquire(dir)?;
        let config_path = dir.join(CONFIG_FILE);
        // Decided under the lock; the refusals below change nothing.
        let fresh = !config_path.exists();
        let previous = if !fresh {
            if !mode.replaces() {
                return Err(Error::AlreadyProvisioned {
                    path: dir.to_owned(),
                }
                .into());
            }
            Some(Previous::read(dir)?)
        } else {
            JournalFile::in_dir(dir).refuse_orphan()?;
            None
        };
        let result = (|| {
            let hw = connect()?;
            if let Some(p) = &previous {
                p.check_not_rolled_back(dir, &hw)?;
            }
            let bound = previous.as_ref().and_then(|p| p.journal.clone());
            if let Some(bound) = bound.as_ref().filter(|_| !mode.new_journal()) {
                expect_journal_key(&hw, dir, &bound.key)?;
            }
            let journal_file = JournalFile::in_dir(dir);
            let closed = match &bound {
                Some(b) if mode.new_journal() => {
                    let to = dir.join(closed_journal_name(b)?);
                    if to.exists() {
                        return Err(Error::Exists { path: to }.into());
                    }
                    Some(to)
                }
                _ => None,
            };
            // Everything that can be checked or made beforehand is, before the
            // hardware takes the anchor (a token's anchor cannot be undone).
            let signer = hw.journal_key(JournalKey::Create)?;
            hw.provision(&HeldAnchor::of(anchor), mode)?;
            let backend = hw.kind();
            let counter = hw.counter()?.ok_or_else(|| Error::Hardware {
                backend: backend.name(),
                reason: "the counter was not created".into(),
            })?;
            let state_path = dir.join(STATE_FILE);
            let (mut state, previous_anchor, head) = match previous {
                Some(p) if closed.is_some() => (p.state, Some(p.anchor), None),
                Some(p) => {
                    let head = p.journal.map(|h| h.head(&state_path)).transpose()?;
                    (p.state, Some(p.anchor), head)
                }
                None => (StoreState::default(), None, None),
            };
            if let Some(c) = channels {
                state.allowed_channels = c.clone();
            }
            if let Some(to) = &closed {
                // The old journal stays, byte for byte, under its closed name;
                // the new one starts with `journal.started`.
                fs::rename(journal_file.path(), to).map_err(|source| Error::Write {
                    path: to.clone(),
                    source,
                })?;
            }
            // If anything below fails, the closed journal is put back.
            let reopen = |_: &E| {
                if let Some(to) = &closed {
                    journal_file.remove();
                    let _ = fs::rename(to, journal_file.path());
                }
            };
            let new_head = journal(&Provisioning {
                dir,
                signer: signer.as_ref(),
                lock: &lock,
                head,
                previous_anchor,
                state: &state,
                backend,
            })
            .inspect_err(reopen)?;
            let store = AnchoredStore {
                dir: dir.to_owned(),
                hw,
            };
            let commit = || -> Result<(), Error> {
                let hw_path = dir.join(config_name);
                write_atomic(&hw_path, &config_bytes, 0o644).map_err(write_err(&hw_path))?;
                store.write_root(anchor)?;
                store.commit(
                    Locked::by(&lock),
                    counter,
                    StateFile {
                        format: 1,
                        counter: counter + 1,
                        anchors: vec![anchor_ref(anchor)],
                        journal: HeadRef::new(signer.public_key(), &new_head),
                        state,
                    },
                )
            };
            commit().map_err(E::from).inspect_err(reopen)?;
            let config = StoreConfig::new(backend).to_bytes();
            write_atomic(&config_path, &config, 0o644).map_err(write_err(&config_path))?;
            Ok(store)
        })();
        if result.is_err() && fresh {
            // Leave no half-made store behind: only what this call made.
            if created {
                let _ = fs::remove_dir_all(dir);
            } else {
                JournalFile::in_dir(dir).remove();
                let _ = fs::remove_file(dir.join(STATE_FILE));
                let _ = fs::remove_file(dir.join(config_name));
            }
        }
        result
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
        root_path(&self.dir, r)
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
        file.state.check_ledger(&path)?;
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

    /// Reads the root `r` names; when it is the one the hardware holds
    /// ([`Held::InHardware`]: the first of the chain), a wrong file is an
    /// anchor mismatch.
    fn read_anchor(&self, r: &AnchorRef, which: Held) -> Result<Anchor, Error> {
        read_root(&self.dir, r).map_err(|e| match e {
            Error::StoreCorrupt { path, .. } if which == Held::InHardware => {
                Error::AnchorMismatch {
                    path: self.dir.clone(),
                    reason: format!(
                        "{} is not the root whose digest the {} holds",
                        path.display(),
                        self.hw.kind().name()
                    ),
                }
            }
            e => e,
        })
    }

    /// Changes the state under the store's lock and commits it under the
    /// next counter value (first completing an advance a crash left
    /// undone).
    fn update(
        &self,
        locked: Locked<'_>,
        change: impl FnOnce(&mut StateFile) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let (mut file, mut counter) = self.load()?;
        if file.counter == counter + 1 {
            // The previous commit crashed after its state was renamed into
            // place and before the counter moved: complete it first.
            counter = self.hw.advance()?;
        }
        change(&mut file)?;
        file.counter = counter + 1;
        self.commit(locked, counter, file)
    }

    /// The hardware's journal key, checked to be the one the journal's
    /// bound head names.
    fn bound_journal_key(&self) -> Result<Box<dyn Signer>, Error> {
        let (file, _) = self.load()?;
        expect_journal_key(&self.hw, &self.dir, &file.journal.key)
    }

    /// Writes the state file (counter `c+1`), then advances the hardware
    /// counter to match: the rename is the commit point, the advance makes
    /// every older copy stale.
    fn commit(&self, locked: Locked<'_>, counter: u64, mut file: StateFile) -> Result<(), Error> {
        debug_assert_eq!(file.counter, counter + 1);
        file.state.move_inline_ledger(&self.dir, locked)?;
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| Error::Sign(e.to_string()))?;
        let path = self.dir.join(STATE_FILE);
        let before = fs::read(&path).ok();
        write_atomic(&path, &bytes, 0o644).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        let now = match self.hw.advance() {
            Ok(now) => now,
            // A state one ahead of the counter counts as committed (a crash
            // between rename and advance): after a failed advance, find out
            // which it is, so that an error means "not committed".
            Err(e) => match self.hw.counter() {
                Ok(Some(c)) if c == file.counter => c,
                Ok(Some(c)) if c == counter => {
                    let undone = match &before {
                        Some(b) => write_atomic(&path, b, 0o644),
                        None => fs::remove_file(&path),
                    };
                    return Err(match undone {
                        Ok(()) => e,
                        Err(source) => Error::Write { path, source },
                    });
                }
                _ => return Err(e),
            },
        };
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

    fn hardware_counter(&self) -> Result<Option<u64>, Error> {
        self.hw.counter()
    }

    fn anchor(&self) -> Result<Anchor, Error> {
        let (file, _) = self.load()?;
        let last = file.anchors.len() - 1;
        self.read_anchor(&file.anchors[last], Held::of_index(last))
    }

    fn anchor_history(&self) -> Result<Vec<Anchor>, Error> {
        let (file, _) = self.load()?;
        file.anchors
            .iter()
            .enumerate()
            .map(|(i, r)| self.read_anchor(r, Held::of_index(i)))
            .collect()
    }

    fn state(&self) -> Result<StoreState, Error> {
        Ok(self.load()?.0.state)
    }

    fn accept(&self, locked: Locked<'_>, acceptance: &Acceptance) -> Result<(), Error> {
        let state_path = self.dir.join(STATE_FILE);
        self.update(locked, |file| {
            file.journal = file
                .journal
                .advanced(&acceptance.journal_head, &state_path)?;
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
            file.state.accept(&self.dir, locked, acceptance)?;
            self.hw.measure(acceptance)
        })
    }

    fn journal_signer(&self) -> Result<Box<dyn Signer>, Error> {
        self.bound_journal_key()
    }

    fn journal_public_key(&self) -> Result<PublicKey, Error> {
        Ok(self.bound_journal_key()?.public_key().clone())
    }

    fn journal_head(&self) -> Result<JournalHead, Error> {
        self.load()?.0.journal.head(&self.dir.join(STATE_FILE))
    }

    fn set_allowed_channels(
        &self,
        locked: Locked<'_>,
        channels: &BTreeSet<String>,
        head: &JournalHead,
    ) -> Result<(), Error> {
        let state_path = self.dir.join(STATE_FILE);
        self.update(locked, |file| {
            file.journal = file.journal.advanced(head, &state_path)?;
            file.state.allowed_channels = channels.clone();
            Ok(())
        })
    }

    fn set_sigstore_pin(
        &self,
        locked: Locked<'_>,
        pin: &crate::store::SigstorePin,
        head: &JournalHead,
    ) -> Result<(), Error> {
        let state_path = self.dir.join(STATE_FILE);
        self.update(locked, |file| {
            file.journal = file.journal.advanced(head, &state_path)?;
            file.state.sigstore = Some(pin.clone());
            Ok(())
        })
    }

    fn set_policy(
        &self,
        locked: Locked<'_>,
        policy: Option<&PolicyPin>,
        head: &JournalHead,
    ) -> Result<(), Error> {
        let state_path = self.dir.join(STATE_FILE);
        self.update(locked, |file| {
            file.journal = file.journal.advanced(head, &state_path)?;
            file.state.policy = policy.cloned();
            Ok(())
        })
    }

    fn set_floor(
        &self,
        locked: Locked<'_>,
        channel: &str,
        floor: u64,
        head: &JournalHead,
    ) -> Result<(), Error> {
        let state_path = self.dir.join(STATE_FILE);
        self.update(locked, |file| {
            file.journal = file.journal.advanced(head, &state_path)?;
            file.state.raise_floor(channel, floor);
            Ok(())
        })
    }

    /// Every new head advances the hardware counter, so that a journal cut
    /// back together with its state is a detected rollback.
    fn bind_journal_head(&self, locked: Locked<'_>, head: &JournalHead) -> Result<(), Error> {
        let state_path = self.dir.join(STATE_FILE);
        self.update(locked, |file| {
            file.journal = file.journal.advanced(head, &state_path)?;
            Ok(())
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::file_signer::FileSigner;
    use crate::store::StoreLock;

    /// Hardware in memory: what the shared code path of the TPM and
    /// PKCS#11 stores needs, without either.
    #[derive(Debug, Default)]
    struct Memory {
        held: Cell<Option<HeldAnchor>>,
        counter: Cell<Option<u64>>,
    }

    impl AnchorHardware for Memory {
        fn kind(&self) -> BackendKind {
            BackendKind::Pkcs11
        }
        fn location(&self) -> String {
            "memory".into()
        }
        fn held_anchor(&self) -> Result<Option<HeldAnchor>, Error> {
            Ok(self.held.get())
        }
        fn counter(&self) -> Result<Option<u64>, Error> {
            Ok(self.counter.get())
        }
        fn advance(&self) -> Result<u64, Error> {
            let next = self.counter.get().unwrap_or(0) + 1;
            self.counter.set(Some(next));
            Ok(next)
        }
        fn protections(&self) -> Vec<String> {
            Vec::new()
        }
        fn provision(&self, anchor: &HeldAnchor, _: InitMode) -> Result<(), Error> {
            self.held.set(Some(*anchor));
            self.counter.set(Some(self.counter.get().unwrap_or(0)));
            Ok(())
        }
        fn journal_key(&self, _: JournalKey) -> Result<Box<dyn Signer>, Error> {
            Ok(Box::new(FileSigner::from_seed(&[7; 32])))
        }
    }

    fn head(seq: u64) -> JournalHead {
        JournalHead {
            seq,
            sha256: [seq as u8; 32],
        }
    }

    #[test]
    fn a_hardware_state_with_both_ledgers_or_none_is_refused_also_when_re_provisioned() {
        let dir = tempfile::tempdir().unwrap();
        let anchor = Anchor::new(b"{\"root\":1}".to_vec(), 1);
        let provision = |mode| {
            AnchoredStore::provision_dir(
                dir.path(),
                ("memory.json", b"{}".to_vec()),
                &anchor,
                None,
                mode,
                || Ok(Memory::default()),
                |_| Ok::<_, Error>(head(1)),
            )
        };
        let s = provision(InitMode::New).unwrap();
        let path = dir.path().join(STATE_FILE);
        let good: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        let mut neither = good.clone();
        neither["state"]
            .as_object_mut()
            .unwrap()
            .remove("ledger")
            .unwrap();
        let mut both = good.clone();
        both["state"]["accepted"] = serde_json::json!(["2".repeat(32)]);
        for v in [neither, both] {
            fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
            let before = fs::read(&path).unwrap();
            assert!(matches!(s.state(), Err(Error::StoreCorrupt { .. })));
            // Re-provisioning reads the previous state without the
            // hardware: refused the same way, nothing rewritten.
            assert!(matches!(
                provision(InitMode::Replace),
                Err(Error::StoreCorrupt { .. })
            ));
            assert_eq!(fs::read(&path).unwrap(), before);
        }
    }

    #[test]
    fn a_hardware_state_with_inline_ids_is_moved_into_the_ledger_file_under_the_counter() {
        let dir = tempfile::tempdir().unwrap();
        let anchor = Anchor::new(b"{\"root\":1}".to_vec(), 1);
        let s = AnchoredStore::provision_dir(
            dir.path(),
            ("memory.json", b"{}".to_vec()),
            &anchor,
            None,
            InitMode::New,
            || Ok(Memory::default()),
            |_| Ok::<_, Error>(head(1)),
        )
        .unwrap();
        // A state file as stores kept it before the ledger file: the ids
        // inside the state, bound under the counter with the rest.
        let old: Vec<String> = ["2", "9"].iter().map(|c| c.repeat(32)).collect();
        let path = dir.path().join(STATE_FILE);
        let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        let state = v["state"].as_object_mut().unwrap();
        state.remove("ledger").unwrap();
        state.insert("accepted".into(), old.clone().into());
        fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
        let st = s.state().unwrap();
        assert_eq!(st.imported(), 2);
        assert!(st.ledger_contains(dir.path(), &old[1]).unwrap());
        let counter = s.hardware_counter().unwrap().unwrap();
        let lock = StoreLock::acquire(&s).unwrap();
        lock.accept(&Acceptance {
            channel: "c".into(),
            sequence: 1,
            bundle_id: "5".repeat(32),
            time: 1,
            new_anchor: None,
            layout: None,
            journal_head: head(2),
        })
        .unwrap();
        assert_eq!(s.hardware_counter().unwrap(), Some(counter + 1));
        assert_eq!(
            fs::read_to_string(dir.path().join("ledger")).unwrap(),
            format!("{}\n{}\n{}\n", old[0], old[1], "5".repeat(32))
        );
        let file: StateFile = read_json(&path).unwrap();
        assert_eq!(file.counter, counter + 1);
        assert!(file.state.inline_ledger.is_none());
        assert_eq!((file.state.ledger.ids, file.state.ledger.bytes), (3, 99));
        assert!(!fs::read_to_string(&path).unwrap().contains("accepted"));
        for id in old.iter().chain([&"5".repeat(32)]) {
            assert!(s.state().unwrap().ledger_contains(dir.path(), id).unwrap());
        }
        // The ledger file edited: the lookup is refused.
        fs::write(dir.path().join("ledger"), format!("{}\n", old[0]).repeat(3)).unwrap();
        assert!(matches!(
            s.state().unwrap().ledger_contains(dir.path(), &old[0]),
            Err(Error::StoreCorrupt { .. })
        ));
    }
}
