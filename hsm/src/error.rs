//! Errors of the key and trust-store layer, grouped by who is at fault.
use std::io;
use std::path::PathBuf;

/// Who has to act on an [`Error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The operator named something that is missing or does not parse.
    Operator,
    /// The machine: trust store, token or disk.
    Environment,
}

/// An error from key handling or a trust store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key file could not be read.
    #[error("cannot read key {path}: {source}")]
    KeyRead {
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A key file does not hold a key airlock understands.
    #[error("{path} is not a usable key: {reason}")]
    KeyParse {
        /// The key file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// A file that must be created already exists.
    #[error("{path} already exists")]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The store directory has never been provisioned with `anchor init`.
    #[error("{path} is not a provisioned trust store")]
    NotProvisioned {
        /// The store directory.
        path: PathBuf,
    },
    /// `anchor init` on a store that already has an anchor.
    #[error("trust store {path} is already provisioned")]
    AlreadyProvisioned {
        /// The store directory.
        path: PathBuf,
    },
    /// The store's files are unreadable or inconsistent with each other.
    #[error("trust store {path} is damaged: {reason}")]
    StoreCorrupt {
        /// The file or directory at fault.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Reading the store failed.
    #[error("cannot read trust store file {path}: {source}")]
    StoreRead {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The store's backend is not available in this build or on this machine.
    #[error("trust-store backend {backend} is not available: {reason}")]
    Unsupported {
        /// The backend name.
        backend: String,
        /// Why.
        reason: String,
    },
    /// A signing operation failed inside its backend.
    #[error("signing failed: {0}")]
    Sign(String),
    /// The journal could not be appended to (a full disk, among others).
    /// Nothing was appended: a partial record is cut back.
    #[error("cannot write the journal {path}: {source}")]
    JournalWrite {
        /// The journal file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The store has no journal yet (provisioned before airlock kept one).
    #[error("trust store {path} has no audit journal")]
    JournalNotStarted {
        /// The store directory.
        path: PathBuf,
    },
}

impl Error {
    /// Who has to act.
    pub fn fault(&self) -> Fault {
        match self {
            Error::KeyRead { .. } | Error::KeyParse { .. } => Fault::Operator,
            _ => Fault::Environment,
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::KeyRead { .. } => "key-unreadable",
            Error::KeyParse { .. } => "key-invalid",
            Error::Exists { .. } => "file-exists",
            Error::Write { .. } => "write-failed",
            Error::NotProvisioned { .. } => "store-not-provisioned",
            Error::AlreadyProvisioned { .. } => "store-already-provisioned",
            Error::StoreCorrupt { .. } => "store-corrupt",
            Error::StoreRead { .. } => "store-unreadable",
            Error::Unsupported { .. } => "backend-unsupported",
            Error::Sign(_) => "sign-failed",
            Error::JournalWrite { .. } => "journal-write-failed",
            Error::JournalNotStarted { .. } => "journal-not-started",
        }
    }
}
