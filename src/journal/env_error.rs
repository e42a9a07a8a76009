//! What goes wrong running a journal operation on this machine (exit 3):
//! a journal that cannot be appended to, a store held by another process,
//! a SIEM receiver that cannot be reached. A journal that does not verify
//! is [`JournalError`](super::JournalError) (exit 1). Every variant has one
//! code and one hint.
use std::path::PathBuf;

/// A journal operation could not be carried out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalEnvError {
    /// The store's journal is damaged (a torn line, a record the store's
    /// state does not bind): nothing more is decided (`journal-damaged`).
    #[error("{0}")]
    Damaged(String),
    /// The store's journal key cannot sign (`journal-key-unusable`).
    #[error("{0}")]
    KeyUnusable(String),
    /// A record could not be built (`journal-write-failed`).
    #[error("{0}")]
    WriteFailed(String),
    /// `journal init` on a store that has a journal (`journal-exists`).
    #[error("trust store {} already has a journal", .0.display())]
    Exists(PathBuf),
    /// The store stayed locked by another process (`store-busy`).
    #[error("the trust store {} stayed locked by another process for {secs} s", dir.display())]
    StoreBusy {
        /// The store directory.
        dir: PathBuf,
        /// How long airlock waited.
        secs: u64,
    },
    /// The file recording what was forwarded does not parse
    /// (`forward-cursor-malformed`).
    #[error("the forward cursor {} is not usable: {why}", path.display())]
    ForwardCursorMalformed {
        /// The cursor file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The syslog receiver cannot be reached (`forward-unreachable`).
    #[error("cannot reach {url}: {reason}")]
    ForwardUnreachable {
        /// The destination.
        url: String,
        /// Why.
        reason: String,
    },
    /// Sending to the receiver failed part way (`forward-failed`).
    #[error("{0}")]
    ForwardFailed(String),
}

impl JournalEnvError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            JournalEnvError::Damaged(_) => "journal-damaged",
            JournalEnvError::KeyUnusable(_) => "journal-key-unusable",
            JournalEnvError::WriteFailed(_) => "journal-write-failed",
            JournalEnvError::Exists(_) => "journal-exists",
            JournalEnvError::StoreBusy { .. } => "store-busy",
            JournalEnvError::ForwardCursorMalformed { .. } => "forward-cursor-malformed",
            JournalEnvError::ForwardUnreachable { .. } => "forward-unreachable",
            JournalEnvError::ForwardFailed(_) => "forward-failed",
        }
    }

    /// What the operator should do next.
    pub fn hint(&self) -> &'static str {
        match self {
            JournalEnvError::Damaged(_) => {
                "nothing was accepted: run `airlock journal verify --store STORE` to see what is wrong; a torn last line (left by a crash) is recorded with `airlock journal recover --store STORE`, anything else needs investigating before the store is used"
            }
            JournalEnvError::KeyUnusable(_) => "re-provision the store's journal key",
            JournalEnvError::WriteFailed(_) => {
                "nothing was accepted: free space (or fix permissions) on the store's filesystem and run the command again; if it fails the same way, report it as a bug"
            }
            JournalEnvError::Exists(_) => {
                "nothing to do: `airlock journal verify --store STORE` checks it"
            }
            JournalEnvError::StoreBusy { .. } => {
                "find the process holding it (fuser -v STORE/lock) and let it finish, or raise --lock-timeout"
            }
            JournalEnvError::ForwardCursorMalformed { .. } => {
                "remove it to send the whole journal again (the receiver gets duplicates), or restore it from a backup"
            }
            JournalEnvError::ForwardUnreachable { .. } => {
                "check that the syslog receiver is listening there; nothing was sent, the next run starts from the same record"
            }
            JournalEnvError::ForwardFailed(_) => {
                "check the receiver; the next run resends from the first record not sent"
            }
        }
    }
}
