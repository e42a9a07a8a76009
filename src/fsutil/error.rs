//! The error of writing files: one code and one hint per variant.
use std::path::{Path, PathBuf};

/// A file or directory airlock writes cannot be written: the machine's
/// fault (exit 3), whichever layer was writing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FsError {
    /// Writing (or creating) something failed (`write-failed`).
    #[error("cannot {what}: {source}")]
    Write {
        /// What was being done, e.g. "write out/rel.airlock".
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file airlock creates exists already (`file-exists`).
    #[error("{} already exists{note}", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
        /// What that means here (empty, or ": …").
        note: &'static str,
    },
}

impl FsError {
    /// Writing `path` failed.
    pub fn write(path: &Path, source: std::io::Error) -> FsError {
        FsError::Write {
            what: format!("write {}", path.display()),
            source,
        }
    }

    /// `path` exists already.
    pub fn exists(path: &Path) -> FsError {
        FsError::Exists {
            path: path.to_owned(),
            note: "",
        }
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            FsError::Write { .. } => "write-failed",
            FsError::Exists { .. } => "file-exists",
        }
    }

    /// What the operator should do next.
    pub fn hint(&self) -> &'static str {
        match self {
            FsError::Write { .. } => "check the directory exists, its permissions and free space",
            FsError::Exists { .. } => "choose another name or remove the old file first",
        }
    }
}
