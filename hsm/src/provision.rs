//! What provisioning a store (`anchor init`, `journal init`) shares across
//! backends: what to do with a store already there ([`InitMode`]) and what
//! the caller's journal writer is handed ([`Provisioning`]).
use std::path::Path;

use crate::journal::JournalHead;
use crate::lock::DirLock;
use crate::signer::Signer;
use crate::store::{Anchor, BackendKind, StoreState};

/// What `init` does with a directory that holds a provisioned store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InitMode {
    /// Refuse it ([`Error::AlreadyProvisioned`](crate::error::Error::AlreadyProvisioned)):
    /// only a new store is made.
    #[default]
    New,
    /// Re-provision it with the new anchor, keeping its monotonic state and
    /// its journal (`--replace`).
    Replace,
    /// Re-provision it onto hardware whose journal key is not the journal's:
    /// keep its monotonic state, close its journal and start a new one
    /// (`--replace --new-journal`; hardware backends only).
    ReplaceNewJournal,
}

impl InitMode {
    /// The mode of `--replace` and `--new-journal`.
    pub fn from_flags(replace: bool, new_journal: bool) -> InitMode {
        match (replace, new_journal) {
            (false, _) => InitMode::New,
            (true, false) => InitMode::Replace,
            (true, true) => InitMode::ReplaceNewJournal,
        }
    }

    /// Whether an existing store is re-provisioned.
    pub fn replaces(self) -> bool {
        self != InitMode::New
    }

    /// Whether the existing store's journal is closed and a new one starts.
    pub fn new_journal(self) -> bool {
        self == InitMode::ReplaceNewJournal
    }
}

/// What `anchor init` (and `journal init`) hand to the caller so that it can
/// write the journal records of the provisioning before the store commits
/// them: the journal is written first, then the state that binds its head.
#[derive(Debug)]
pub struct Provisioning<'a> {
    /// The store directory.
    pub dir: &'a Path,
    /// The journal key.
    pub signer: &'a dyn Signer,
    /// The store's lock, held throughout.
    pub lock: &'a DirLock,
    /// The bound head of the existing journal; `None` when the journal
    /// starts now.
    pub head: Option<JournalHead>,
    /// The anchor being replaced (`--replace`, or the current anchor when
    /// only the journal starts); `None` for a new store.
    pub previous_anchor: Option<Anchor>,
    /// The monotonic state the store keeps.
    pub state: &'a StoreState,
    /// The backend.
    pub backend: BackendKind,
}

/// Which journal key a store's journal-key lookup may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalKey {
    /// The one the hardware holds; none is an error.
    Existing,
    /// The one it holds, made first if it has none (provisioning).
    Create,
}
