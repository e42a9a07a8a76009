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
    /// The store's journal is signed by another key than the one its
    /// (new) hardware holds: a journal's key never changes.
    #[error(
        "trust store {path}: its journal is signed by key {journal_key}, but {hardware} {found}; a journal's key never changes"
    )]
    JournalKeyChanged {
        /// The store directory.
        path: PathBuf,
        /// The keyid the journal's bound head names.
        journal_key: String,
        /// The hardware, for the message (e.g. `the TPM at swtpm:…`).
        hardware: String,
        /// What the hardware has instead (`holds key …`, `holds no journal key`).
        found: String,
    },
    /// A `pkcs11:` URI that does not parse or names too little.
    #[error("bad PKCS#11 URI: {reason}")]
    Pkcs11Uri {
        /// Why (never contains a PIN).
        reason: String,
    },
    /// The PIN file named by `pin-source` cannot be read.
    #[error("cannot read the PIN file {path}: {source}")]
    PinFile {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A file holding an authorization value (e.g. the TPM owner's
    /// password) cannot be read.
    #[error("cannot read the authorization file {path}: {source}")]
    AuthFile {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The token refused the PIN.
    #[error("token {token:?} refused the PIN ({reason})")]
    PinIncorrect {
        /// The token label.
        token: String,
        /// What the module said.
        reason: String,
    },
    /// The key the URI names is not on the token (or is ambiguous).
    #[error("no usable key {what}: {reason}")]
    KeyNotFound {
        /// The key, as named.
        what: String,
        /// Why.
        reason: String,
    },
    /// A token or TPM could not be reached, or failed an operation.
    #[error("{backend}: {reason}")]
    Hardware {
        /// `pkcs11` or `tpm`.
        backend: &'static str,
        /// What failed.
        reason: String,
    },
    /// The store's state is older than its hardware counter says: a copy of
    /// the state directory was restored (rollback).
    #[error("trust store {path} has been rolled back: {reason}")]
    StoreRollback {
        /// The store directory.
        path: PathBuf,
        /// What was found.
        reason: String,
    },
    /// The store directory's anchor differs from the one the hardware holds.
    #[error("trust store {path}: the anchor does not match the one held in hardware: {reason}")]
    AnchorMismatch {
        /// The store directory.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
}

impl Error {
    /// Who has to act.
    pub fn fault(&self) -> Fault {
        match self {
            Error::KeyRead { .. }
            | Error::KeyParse { .. }
            | Error::Pkcs11Uri { .. }
            | Error::PinFile { .. }
            | Error::AuthFile { .. }
            | Error::KeyNotFound { .. } => Fault::Operator,
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
            Error::JournalKeyChanged { .. } => "journal-key-changed",
            Error::Pkcs11Uri { .. } => "pkcs11-uri-invalid",
            Error::PinFile { .. } => "pin-unreadable",
            Error::AuthFile { .. } => "auth-file-unreadable",
            Error::PinIncorrect { .. } => "pin-incorrect",
            Error::KeyNotFound { .. } => "key-not-found",
            Error::Hardware { backend: "tpm", .. } => "tpm-error",
            Error::Hardware { .. } => "pkcs11-error",
            Error::StoreRollback { .. } => "store-rolled-back",
            Error::AnchorMismatch { .. } => "store-anchor-mismatch",
        }
    }

    /// What the operator should do next: one hint per code (the binary's
    /// `hint:` line, `--json` and the journal give this text).
    pub fn hint(&self) -> &'static str {
        match self {
            Error::KeyRead { .. } => "give a PEM key made by `airlock keygen`",
            Error::KeyParse { .. } => {
                "give a PEM key made by `airlock keygen` or `openssl genpkey` (Ed25519, EC P-256/P-384, RSA of 2048 bits or more)"
            }
            Error::Exists { .. } => "choose another name or remove the old file first",
            Error::Write { .. } => "check the directory exists, its permissions and free space",
            Error::NotProvisioned { .. } => {
                "provision it first: airlock anchor init --store STORE --root 1.root.json --channel CHANNEL"
            }
            Error::AlreadyProvisioned { .. } => {
                "use `anchor show` to see it, or --replace to re-provision it deliberately (a store anchored in a token or TPM with that backend's flag; a file store in a new directory)"
            }
            Error::StoreCorrupt { .. } => {
                "the trust store has been altered or damaged: stop, investigate, and re-provision from a trusted root with `anchor init --replace`"
            }
            Error::StoreRead { .. } | Error::Sign(_) => {
                "check the trust store directory, its permissions and free space"
            }
            Error::Unsupported { .. } => {
                "use a build made with `--features tpm` (needs libtss2-dev) for TPM stores, or re-provision the store with `anchor init --replace` in a form that supports the operation"
            }
            Error::JournalWrite { .. } => {
                "nothing was accepted: free space (or fix permissions) on the store's filesystem and run the command again; if it fails the same way, report it as a bug"
            }
            Error::JournalNotStarted { .. } => {
                "this store was provisioned before airlock kept an audit journal: start one with `airlock journal init --store STORE`"
            }
            Error::Pkcs11Uri { .. } => {
                "write it as 'pkcs11:token=LABEL;object=KEY?module-path=/path/module.so&pin-source=file:/path/pin'"
            }
            Error::PinFile { .. } => {
                "put the user PIN alone in that file (mode 0600) and name it with pin-source=file:PATH"
            }
            Error::AuthFile { .. } => "put the password alone in that file (mode 0600)",
            Error::PinIncorrect { .. } => {
                "check the PIN file named by pin-source; tokens lock the PIN after a few failures, so do not retry blindly"
            }
            Error::KeyNotFound { .. } => {
                "check the token and object labels (pkcs11-tool --module MODULE --list-objects --login); generate a key with `airlock keygen --pkcs11 URI`"
            }
            Error::Hardware { backend: "tpm", .. } => {
                "check that the TPM is reachable (the store's TCTI, e.g. device:/dev/tpmrm0) and that airlock may use it"
            }
            Error::Hardware { .. } => {
                "check module-path, that the token is present and initialised, and the module's own configuration (e.g. SOFTHSM2_CONF)"
            }
            Error::JournalKeyChanged { .. } => {
                "a journal's key never changes: export the journal while its key still works (`airlock journal export`), then re-run with --new-journal (the state is kept; the old journal stays beside the new one as journal.closed-*.jsonl) or provision a new store directory"
            }
            Error::StoreRollback { .. } => {
                "an older copy of the store directory was put in place: stop, investigate, and restore the newest copy; if there is none, provision a new store directory (re-provisioning does not bind an older copy anew)"
            }
            Error::AnchorMismatch { .. } => {
                "the store directory's anchor was swapped: stop, investigate, and re-provision from a trusted root with `anchor init --replace`"
            }
        }
    }
}
