//! What `publish` (container images of an accepted import to a registry)
//! refuses, with its codes and hints. The pipeline itself is in
//! `cmd::publish`.

pub mod stream;

/// What `publish` refuses about a directory or a tag (exit 1).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The directory was not accepted by an import this store journaled.
    #[error("{dir} is not an import this store accepted: {reason}")]
    NotImported {
        /// The directory.
        dir: String,
        /// Why.
        reason: String,
    },
    /// The directory differs from the manifest of its import.
    #[error("{dir} differs from the bundle it was unpacked from: {what}")]
    Tampered {
        /// The directory.
        dir: String,
        /// The first difference.
        what: String,
    },
    /// A tag would move to an image of an older bundle.
    #[error(
        "{tag} was set by bundle {by} (channel {channel} sequence {set_seq}); bundle {bundle} has the older sequence {seq}"
    )]
    TagRollback {
        /// `REGISTRY/REPO:TAG`.
        tag: String,
        /// The bundle that set it.
        by: String,
        /// Its channel.
        channel: String,
        /// Its sequence.
        set_seq: u64,
        /// This bundle.
        bundle: String,
        /// This bundle's sequence.
        seq: u64,
    },
    /// A bundle without images.
    #[error("bundle {0} carries no container images")]
    NoImages(String),
}

impl PublishError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            PublishError::NotImported { .. } => "publish-not-imported",
            PublishError::Tampered { .. } => "unpacked-dir-tampered",
            PublishError::TagRollback { .. } => "tag-rollback",
            PublishError::NoImages(_) => "publish-no-images",
        }
    }

    /// What to do.
    pub fn hint(&self) -> &'static str {
        match self {
            PublishError::NotImported { .. } => {
                "publish a bundle (it is imported first), or a directory unpacked into this store"
            }
            PublishError::Tampered { .. } => {
                "do not publish this directory: unpack the bundle again, or publish the bundle itself"
            }
            PublishError::TagRollback { .. } => {
                "publish the newer bundle, or publish this image by digest under another tag"
            }
            PublishError::NoImages(_) => "use unpack for bundles without images",
        }
    }
}
