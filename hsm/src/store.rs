//! The trust store: the anchor and the monotonic state of the isolated side,
//! what every backend answers ([`TrustStore`]), and the lock under which it
//! changes ([`StoreLock`]). The backends live in their own modules
//! ([`crate::file_store`], [`crate::pkcs11`], `crate::tpm`);
//! [`crate::open::open_store`] opens whichever a directory holds.
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Deref;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::journal::JournalHead;
use crate::key::PublicKey;
use crate::ledger::{Ledger, LedgerRef};
use crate::lock::DirLock;
pub use crate::lock::Locked;
use crate::signer::Signer;

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
    /// The ledger of every bundle id ever accepted: the `ledger` file in
    /// the store directory, bound here by count, length and hash chain
    /// ([`crate::ledger`]). Read only by [`StoreState::ledger_contains`].
    /// Missing from a state written before the ledger file (which has
    /// `accepted` instead): read as [`LedgerRef::absent`].
    #[serde(default = "LedgerRef::absent")]
    pub ledger: LedgerRef,
    /// The accepted ids of a state written before the ledger file, which
    /// kept them inline (`accepted`): read as they are, and moved into the
    /// ledger file by the store's next commit. `None` for a current state.
    #[serde(default, rename = "accepted", skip_serializing_if = "Option::is_none")]
    pub inline_ledger: Option<BTreeSet<String>>,
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
    /// The enclave's own policy (`airlock policy set`), pinned by digest:
    /// the file in the store directory must have these bytes. Bound like
    /// the channels (hardware stores: under the monotonic counter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyPin>,
    /// Per channel, the lowest sequence the store accepts (`anchor floor`):
    /// a release the enclave decided must not come back. Floors only go up.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub floors: BTreeMap<String, u64>,
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

/// The enclave policy a store has pinned.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyPin {
    /// SHA-256 (lowercase hex) of the policy file's exact bytes.
    pub sha256: String,
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
    /// The state with `channel`'s floor raised to `floor`; a floor never
    /// goes down (a lower one leaves it as it is).
    pub fn raise_floor(&mut self, channel: &str, floor: u64) {
        let f = self.floors.entry(channel.to_owned()).or_insert(floor);
        *f = (*f).max(floor);
    }

    /// How many bundles the store has accepted (from the binding: no file
    /// is read).
    pub fn imported(&self) -> u64 {
        match &self.inline_ledger {
            Some(ids) => ids.len() as u64,
            None => self.ledger.ids,
        }
    }

    /// Whether the store in `dir`, whose state this is, accepted the bundle
    /// `id`: reads the ledger file's bound bytes and checks them against
    /// the binding ([`Ledger::contains`]). Every accepted bundle's sequence
    /// is at most its channel's highest (an acceptance moves it up to its
    /// own), so a caller asks only about a bundle whose sequence is not
    /// above it.
    pub fn ledger_contains(&self, dir: &Path, id: &str) -> Result<bool, Error> {
        match &self.inline_ledger {
            Some(ids) => Ok(ids.contains(id)),
            None => Ledger::in_dir(dir).contains(&self.ledger, id),
        }
    }

    /// Refuses a state that has both an inline ledger and a bound one, or
    /// neither (a state is written with exactly one: removing the binding
    /// must not forget every id). `path` is the state file. Every read of
    /// a state calls it.
    pub(crate) fn check_ledger(&self, path: &Path) -> Result<(), Error> {
        let bound = self.ledger != LedgerRef::absent();
        let reason = match (self.inline_ledger.is_some(), bound) {
            (true, true) => "the state has both inline accepted ids and a ledger file binding",
            (false, false) => "the state binds no ledger (no `ledger`, no `accepted`)",
            _ => return Ok(()),
        };
        Err(Error::StoreCorrupt {
            path: path.to_owned(),
            reason: reason.into(),
        })
    }

    /// Moves an inline ledger (a state written before the ledger file)
    /// into the ledger file of `dir`, in the order it was kept (sorted),
    /// and binds it. Every backend's commit calls it first, so the first
    /// commit of such a store writes its ledger file.
    pub(crate) fn move_inline_ledger(
        &mut self,
        dir: &Path,
        locked: Locked<'_>,
    ) -> Result<(), Error> {
        if let Some(ids) = &self.inline_ledger {
            self.ledger = Ledger::in_dir(dir).write_all(locked, ids)?;
            self.inline_ledger = None;
        }
        Ok(())
    }

    /// The state after `acceptance`, in the store in `dir`: the bundle id
    /// is appended to the ledger file (and fsynced) before the caller
    /// commits the state naming it; the channel's sequence, the latest time
    /// and the channel's layout only move forward. The one update rule of
    /// every backend.
    pub(crate) fn accept(
        &mut self,
        dir: &Path,
        locked: Locked<'_>,
        acceptance: &Acceptance,
    ) -> Result<(), Error> {
        self.move_inline_ledger(dir, locked)?;
        self.ledger = Ledger::in_dir(dir).append(locked, &self.ledger, &acceptance.bundle_id)?;
        crate::fault::point("ledger-appended");
        let seq = self.channels.entry(acceptance.channel.clone()).or_insert(0);
        *seq = (*seq).max(acceptance.sequence);
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
        Ok(())
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

    /// Records an accepted bundle atomically: sequence, ledger, latest time,
    /// (on rotation) the anchor, and the journal head. Called through
    /// [`StoreLock::accept`], whose caller has checked freshness against
    /// [`TrustStore::state`] read under that lock, and has appended the
    /// acceptance's journal records.
    fn accept(&self, locked: Locked<'_>, acceptance: &Acceptance) -> Result<(), Error>;

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
    /// head whose records say so. Called through
    /// [`StoreLock::set_allowed_channels`].
    fn set_allowed_channels(
        &self,
        locked: Locked<'_>,
        channels: &BTreeSet<String>,
        head: &JournalHead,
    ) -> Result<(), Error>;

    /// Replaces the pinned Sigstore policy, binding the journal head whose
    /// records say so. Called through [`StoreLock::set_sigstore`] (whose
    /// caller has written the trusted root file the pin names).
    fn set_sigstore_pin(
        &self,
        locked: Locked<'_>,
        pin: &SigstorePin,
        head: &JournalHead,
    ) -> Result<(), Error>;

    /// Replaces (or with `None` removes) the pinned enclave policy, binding
    /// the journal head whose records say so. The caller has written the
    /// policy file first. Called through [`StoreLock::set_policy`].
    fn set_policy(
        &self,
        locked: Locked<'_>,
        policy: Option<&PolicyPin>,
        head: &JournalHead,
    ) -> Result<(), Error>;

    /// Raises the floor of `channel` to `floor` (the caller has refused a
    /// floor that is not above the current one), binding the journal head
    /// whose records say so. Called through [`StoreLock::set_floor`].
    fn set_floor(
        &self,
        locked: Locked<'_>,
        channel: &str,
        floor: u64,
        head: &JournalHead,
    ) -> Result<(), Error>;

    /// Binds a new journal head after records were appended. The head only
    /// moves forward: a `seq` not above the bound one is refused. Called
    /// through [`StoreLock::bind_journal_head`].
    fn bind_journal_head(&self, locked: Locked<'_>, head: &JournalHead) -> Result<(), Error>;
}

/// A store and its exclusive lock, held from the freshness check until the
/// change is committed; released on drop. Every change to a store goes
/// through the lock of that store, so the type system ties the two.
#[derive(Debug)]
pub struct StoreLock<'s, S: ?Sized + 's = dyn TrustStore + 's> {
    store: &'s S,
    lock: DirLock,
}

impl<'s, S: TrustStore + ?Sized + 's> StoreLock<'s, S> {
    /// Takes the exclusive lock of `store`, waiting for it.
    pub fn acquire(store: &'s S) -> Result<Self, Error> {
        let lock = DirLock::acquire(store.dir())?;
        Ok(StoreLock { store, lock })
    }

    /// Takes the exclusive lock of `store` if no other process holds it;
    /// `None` when one does.
    pub fn try_acquire(store: &'s S) -> Result<Option<Self>, Error> {
        Ok(DirLock::try_acquire(store.dir())?.map(|lock| StoreLock { store, lock }))
    }

    /// The locked store.
    pub fn store(&self) -> &'s S {
        self.store
    }

    /// The proof, for the locked store only.
    pub(crate) fn locked(&self) -> Locked<'_> {
        Locked::by(&self.lock)
    }

    /// Records an accepted bundle ([`TrustStore::accept`]).
    pub fn accept(&self, acceptance: &Acceptance) -> Result<(), Error> {
        self.store.accept(self.locked(), acceptance)
    }

    /// Replaces the channels the store accepts
    /// ([`TrustStore::set_allowed_channels`]).
    pub fn set_allowed_channels(
        &self,
        channels: &BTreeSet<String>,
        head: &JournalHead,
    ) -> Result<(), Error> {
        self.store
            .set_allowed_channels(self.locked(), channels, head)
    }

    /// Replaces the pinned Sigstore policy
    /// ([`TrustStore::set_sigstore_pin`]).
    pub fn set_sigstore(&self, pin: &SigstorePin, head: &JournalHead) -> Result<(), Error> {
        self.store.set_sigstore_pin(self.locked(), pin, head)
    }

    /// Replaces (or removes) the pinned enclave policy
    /// ([`TrustStore::set_policy`]).
    pub fn set_policy(&self, policy: Option<&PolicyPin>, head: &JournalHead) -> Result<(), Error> {
        self.store.set_policy(self.locked(), policy, head)
    }

    /// Raises a channel's floor ([`TrustStore::set_floor`]).
    pub fn set_floor(&self, channel: &str, floor: u64, head: &JournalHead) -> Result<(), Error> {
        self.store.set_floor(self.locked(), channel, floor, head)
    }

    /// Binds a new journal head ([`TrustStore::bind_journal_head`]).
    pub fn bind_journal_head(&self, head: &JournalHead) -> Result<(), Error> {
        self.store.bind_journal_head(self.locked(), head)
    }
}

/// The directory lock, for appending to the store's journal.
impl<S: ?Sized> Deref for StoreLock<'_, S> {
    type Target = DirLock;

    fn deref(&self) -> &DirLock {
        &self.lock
    }
}
