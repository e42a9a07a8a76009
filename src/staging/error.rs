//! Why an unpack cannot place what it verified: one code and one hint per
//! variant.
use std::path::PathBuf;

use rustix::io::Errno;

/// Why an unpack cannot place what it verified (exit 3). Whatever the
/// variant, nothing was placed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StagingError {
    /// The staging directory disappeared under airlock (`staging-removed`).
    #[error("the staging directory {} was removed or replaced while unpacking", .0.display())]
    Removed(PathBuf),
    /// The staging directory does not hold what was written to it
    /// (`staging-incomplete`).
    #[error("{0}")]
    Incomplete(String),
    /// The destination cannot be checked (`destination-unusable`).
    #[error("cannot check destination {}: {source}", dest.display())]
    DestinationUnusable {
        /// The destination.
        dest: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The destination exists (`destination-exists`).
    #[error("destination {} already exists", .0.display())]
    DestinationExists(PathBuf),
    /// The destination appeared while unpacking (`destination-exists`).
    #[error("destination {} appeared while unpacking", .0.display())]
    DestinationAppeared(PathBuf),
    /// The destination's parent is writable by others and not sticky
    /// (`destination-unsafe`).
    #[error("the parent of {} is writable by other users ({mode:o}) and not sticky", dest.display())]
    DestinationUnsafe {
        /// The destination.
        dest: PathBuf,
        /// The parent's permission bits.
        mode: u32,
    },
    /// The destination's filesystem has no no-replace rename
    /// (`destination-unsupported`).
    #[error("the filesystem of {} cannot rename without replacing ({source})", dest.display())]
    DestinationUnsupported {
        /// The destination.
        dest: PathBuf,
        /// Why.
        source: Errno,
    },
}

impl StagingError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            StagingError::Removed(_) => "staging-removed",
            StagingError::Incomplete(_) => "staging-incomplete",
            StagingError::DestinationUnusable { .. } => "destination-unusable",
            StagingError::DestinationExists(_) | StagingError::DestinationAppeared(_) => {
                "destination-exists"
            }
            StagingError::DestinationUnsafe { .. } => "destination-unsafe",
            StagingError::DestinationUnsupported { .. } => "destination-unsupported",
        }
    }

    /// What the operator should do next.
    pub fn hint(&self) -> &'static str {
        match self {
            StagingError::Removed(_) => {
                "something outside airlock deleted it; nothing was placed: unpack again"
            }
            StagingError::Incomplete(_) => {
                "nothing was placed: unpack again; if nothing outside airlock touched the staging directory, report this as a bug"
            }
            StagingError::DestinationUnusable { .. } => {
                "check the permissions of the destination's parent directory"
            }
            StagingError::DestinationExists(_) | StagingError::DestinationAppeared(_) => {
                "unpack into a new directory; airlock never writes into an existing one, and nothing was placed"
            }
            StagingError::DestinationUnsafe { .. } => {
                "unpack under a directory only you (or root) can write to"
            }
            StagingError::DestinationUnsupported { .. } => {
                "unpack onto a local filesystem (ext4, xfs, btrfs, tmpfs)"
            }
        }
    }
}
