//! The binary's error: every layer's error mapped to an exit code, a stable
//! code for `--json` (and the journal), and a `hint:` line.
use std::io;
use std::path::Path;

use airlock_bundle::Fault as BundleFault;
use airlock_hsm::Fault as HsmFault;

use crate::gate::error::GateFault;
use crate::journal::JournalEnvError;
use crate::policy::Rejection;
use crate::tuf::RootError;

/// Exit code: accepted / done.
pub const EXIT_OK: i32 = 0;
/// Exit code: a bundle, chain, root or journal was not accepted.
pub const EXIT_REJECTED: i32 = 1;
/// Exit code: the operator's own mistake.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: the environment (store, token, disk, existing destination).
pub const EXIT_ENVIRONMENT: i32 = 3;

/// Any error the commands report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bundle container (or writing one).
    #[error(transparent)]
    Bundle(#[from] airlock_bundle::Error),
    /// Keys or the trust store.
    #[error(transparent)]
    Hsm(#[from] airlock_hsm::Error),
    /// Root metadata being verified.
    #[error(transparent)]
    Root(#[from] RootError),
    /// The supply chain (in-toto) does not hold.
    #[error(transparent)]
    Intoto(#[from] crate::intoto::IntotoError),
    /// A bundle's container images do not form complete, consistent graphs.
    #[error(transparent)]
    Image(#[from] crate::oci::OciError),
    /// A delta bundle whose base this store cannot supply (`crate::delta`).
    #[error(transparent)]
    Delta(#[from] crate::delta::error::DeltaError),
    /// `publish` refuses a directory or a tag move.
    #[error(transparent)]
    Publish(#[from] crate::publish::PublishError),
    /// A trust-policy refusal (signatures, freshness).
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The enclave's own policy (`crate::gate`): a denial, a policy that
    /// cannot decide, a policy file, a receipt.
    #[error(transparent)]
    Gate(#[from] crate::gate::error::GateError),
    /// A journal (or journal export) being verified is not intact.
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
    /// A Sigstore bundle does not verify (or the operator's trusted root or
    /// identity policy is unusable).
    #[error(transparent)]
    Sigstore(#[from] crate::sigstore::SigstoreError),
    /// The trust store's anchored root does not parse: the store is
    /// damaged (`store-corrupt`, exit 3).
    #[error("the trust store's anchored root does not parse: {0}")]
    AnchorUnparsable(#[source] RootError),
    /// The store records another root version than its anchored root is
    /// (`store-corrupt`, exit 3).
    #[error(
        "the trust store records root version {recorded} but its anchored root is version {anchored}"
    )]
    AnchorVersionMismatch {
        /// The version the store records.
        recorded: u64,
        /// The anchored root's version.
        anchored: u64,
    },
    /// A bug: something airlock itself should have made impossible
    /// (`internal`, exit 3).
    #[error("{0}")]
    Internal(String),
    /// A file of the trust store (its journal) cannot be read
    /// (`store-unreadable`, exit 3).
    #[error("cannot read {}: {source}", path.display())]
    StoreUnreadable {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Files to pack whose names a bundle may not carry unless it is marked
    /// POSIX-only (`path-not-portable`, `path-case-collision`,
    /// `path-normalization-collision`): the operator's input, exit 2.
    #[error("cannot pack these files: {0}")]
    InputNames(#[source] airlock_bundle::Error),
    /// A file the operator named cannot be read.
    #[error("cannot read {path}: {source}")]
    Input {
        /// The file.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// A key the operator named does not parse.
    #[error("{path} is not a usable key: {reason}")]
    BadKey {
        /// The key file or URI.
        path: String,
        /// Why.
        reason: String,
    },
    /// Bad flags or inputs.
    #[error("{message}")]
    Usage {
        /// What is wrong.
        message: String,
        /// What to do.
        hint: String,
    },
    /// An operator mistake with its own code (exit 2).
    #[error("{message}")]
    Operator {
        /// What is wrong.
        message: String,
        /// What to do.
        hint: String,
        /// Stable code.
        code: &'static str,
    },
    /// A file or directory cannot be written, or exists already (exit 3).
    #[error(transparent)]
    Fs(#[from] crate::fsutil::FsError),
    /// An unpack cannot place what it verified (exit 3).
    #[error(transparent)]
    Staging(#[from] crate::staging::StagingError),
    /// A registry cannot be used (exit 3).
    #[error(transparent)]
    Registry(#[from] crate::oci::RegistryError),
    /// A journal operation cannot be carried out on this machine (exit 3).
    #[error(transparent)]
    JournalEnv(#[from] crate::journal::JournalEnvError),
    /// A store anchored in a token or TPM that `anchor init` was asked to
    /// re-provision as a file store (`store-already-provisioned`, exit 3).
    #[error(
        "{} is anchored in {backend}; it cannot be re-provisioned as a file store: give --{backend} to re-provision it in hardware, or provision a new directory as a file store",
        store.display()
    )]
    AnchoredInHardware {
        /// The store directory.
        store: std::path::PathBuf,
        /// Its backend.
        backend: String,
    },
    /// The demo did not go as it always must (`demo-failed`, exit 3).
    #[error("demo: {0}")]
    DemoFailed(String),
    /// `--run-inspections` cannot cut the commands off the network
    /// (`inspection-sandbox`, exit 3): the reason.
    #[error("--run-inspections cannot run commands without network access: {0}")]
    InspectionSandbox(String),
}

impl From<crate::tuf::root::SignRootError> for Error {
    fn from(e: crate::tuf::root::SignRootError) -> Error {
        use crate::tuf::root::SignRootError;
        match e {
            SignRootError::Root(e) => Error::Root(e),
            SignRootError::Sign(e) => Error::Hsm(e),
        }
    }
}

impl From<crate::tuf::rotate::RotateError> for Error {
    fn from(e: crate::tuf::rotate::RotateError) -> Error {
        Error::Usage {
            message: e.message,
            hint: e.hint,
        }
    }
}

impl From<crate::journal::writer::WriteError> for Error {
    fn from(e: crate::journal::writer::WriteError) -> Error {
        use crate::journal::writer::WriteError;
        match e {
            WriteError::Damaged(_) | WriteError::Torn { .. } => {
                JournalEnvError::Damaged(e.to_string()).into()
            }
            WriteError::KeyUnusable { .. } => JournalEnvError::KeyUnusable(e.to_string()).into(),
            WriteError::Build(e) => e.into(),
            WriteError::Store(e) => Error::Hsm(e),
        }
    }
}

impl From<crate::journal::record::BuildError> for Error {
    fn from(e: crate::journal::record::BuildError) -> Error {
        use crate::journal::record::BuildError;
        match e {
            BuildError::Internal { .. } => JournalEnvError::WriteFailed(e.to_string()).into(),
            BuildError::Sign(e) => Error::Hsm(e),
        }
    }
}

impl From<crate::keys::KeyError> for Error {
    fn from(e: crate::keys::KeyError) -> Error {
        use crate::keys::KeyError;
        match e {
            KeyError::Unreadable { path, source } => Error::input(&path, source),
            KeyError::Invalid { path, reason } => Error::BadKey { path, reason },
            KeyError::Token(e) => Error::Hsm(e),
        }
    }
}

impl Error {
    /// An unreadable input file: missing or unreadable is the operator's
    /// mistake (exit 2).
    pub fn input(path: &Path, source: io::Error) -> Error {
        Error::Input {
            path: path.display().to_string(),
            source,
        }
    }

    /// A usage error.
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::Usage {
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// An operator mistake with its own code (exit 2).
    pub fn operator(
        code: &'static str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Error {
        Error::Operator {
            message: message.into(),
            hint: hint.into(),
            code,
        }
    }

    /// Whether the bundle's input stopped (cut short, unreadable, a volume
    /// missing) rather than proved wrong ([`airlock_bundle::Error::is_interruption`]).
    pub fn is_input_interruption(&self) -> bool {
        matches!(self, Error::Bundle(e) if e.is_interruption())
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Bundle(e) => match e.fault() {
                BundleFault::Bundle => EXIT_REJECTED,
                BundleFault::Input => EXIT_USAGE,
                _ => EXIT_ENVIRONMENT,
            },
            Error::Hsm(e) => match e.fault() {
                HsmFault::Operator => EXIT_USAGE,
                _ => EXIT_ENVIRONMENT,
            },
            Error::Sigstore(e) => match e.fault() {
                crate::sigstore::Fault::Input => EXIT_REJECTED,
                crate::sigstore::Fault::Operator => EXIT_USAGE,
            },
            Error::Gate(e) => match e.fault() {
                GateFault::Bundle => EXIT_REJECTED,
                GateFault::Operator => EXIT_USAGE,
                GateFault::Environment => EXIT_ENVIRONMENT,
            },
            Error::Root(_)
            | Error::Rejected(_)
            | Error::Intoto(_)
            | Error::Image(_)
            | Error::Publish(_)
            | Error::Delta(_)
            | Error::Journal(_) => EXIT_REJECTED,
            Error::Input { .. }
            | Error::InputNames(_)
            | Error::BadKey { .. }
            | Error::Usage { .. }
            | Error::Operator { .. } => EXIT_USAGE,
            Error::Fs(_)
            | Error::Staging(_)
            | Error::Registry(_)
            | Error::JournalEnv(_)
            | Error::AnchoredInHardware { .. }
            | Error::DemoFailed(_)
            | Error::InspectionSandbox(_)
            | Error::AnchorUnparsable(_)
            | Error::AnchorVersionMismatch { .. }
            | Error::Internal(_)
            | Error::StoreUnreadable { .. } => EXIT_ENVIRONMENT,
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Bundle(e) => e.code(),
            // Pack's own inputs (exit 2); a bundle breaking the same rules
            // is refused with the format's path-* code (exit 1).
            Error::InputNames(_) => "names-not-portable",
            Error::Hsm(e) => e.code(),
            Error::Root(e) => e.code(),
            Error::Rejected(e) => e.code(),
            Error::Intoto(e) => e.code(),
            Error::Image(e) => e.code(),
            Error::Publish(e) => e.code(),
            Error::Delta(e) => e.code(),
            Error::Journal(e) => e.code(),
            Error::Sigstore(e) => e.code(),
            Error::Gate(e) => e.code(),
            Error::Fs(e) => e.code(),
            Error::Staging(e) => e.code(),
            Error::Registry(e) => e.code(),
            Error::JournalEnv(e) => e.code(),
            Error::AnchoredInHardware { .. } => "store-already-provisioned",
            Error::DemoFailed(_) => "demo-failed",
            Error::InspectionSandbox(_) => "inspection-sandbox",
            Error::AnchorUnparsable(_) | Error::AnchorVersionMismatch { .. } => "store-corrupt",
            Error::Internal(_) => "internal",
            Error::StoreUnreadable { .. } => "store-unreadable",
            Error::Input { .. } => "input-unreadable",
            Error::BadKey { .. } => "key-invalid",
            Error::Usage { .. } => "usage",
            Error::Operator { code, .. } => code,
        }
    }

    /// One line telling the operator what to do next.
    pub fn hint(&self) -> String {
        if let Error::Bundle(e) = self
            && let Some(h) = volume_hint(e)
        {
            return h;
        }
        match self {
            Error::Usage { hint, .. } | Error::Operator { hint, .. } => hint.clone(),
            Error::Input { .. } => {
                "check the path and its permissions; input files must stay unchanged while packing".into()
            }
            Error::Internal(_) => "report this as a bug".into(),
            Error::StoreUnreadable { .. } => {
                "check the trust store directory, its permissions and free space".into()
            }
            Error::AnchorUnparsable(_) | Error::AnchorVersionMismatch { .. } => {
                "the trust store has been altered or damaged: stop, investigate, and re-provision from a trusted root with `anchor init --replace`".into()
            }
            Error::AnchoredInHardware { .. } => {
                "use `anchor show` to see it, or --replace to re-provision it deliberately (a store anchored in a token or TPM with that backend's flag; a file store in a new directory)".into()
            }
            Error::DemoFailed(_) => "report this: the demo must always run".into(),
            Error::InspectionSandbox(_) => "--run-inspections needs `unshare` (util-linux) and network namespaces (as root, or with unprivileged user namespaces): enable them, or verify without --run-inspections".into(),
            Error::Fs(e) => e.hint().into(),
            Error::Staging(e) => e.hint().into(),
            Error::Registry(e) => e.hint().into(),
            Error::JournalEnv(e) => e.hint().into(),
            Error::InputNames(_) => "rename the files so that every name can exist on FAT32, exFAT, NTFS and macOS, or pack with --posix-names if this bundle will only ever be unpacked on a POSIX filesystem".into(),
            Error::BadKey { .. } => {
                "give a PEM key made by `airlock keygen` or `openssl genpkey` (Ed25519, EC P-256/P-384, RSA of 2048 bits or more)".into()
            }
            Error::Root(e) => e.hint().into(),
            Error::Rejected(r) => r.hint().into(),
            Error::Intoto(e) => e.hint().into(),
            Error::Image(_) => {
                "do not use this bundle: its images are incomplete or inconsistent; ask its producer for a new one".into()
            }
            Error::Journal(e) => e.hint().into(),
            Error::Sigstore(e) => e.hint().into(),
            Error::Gate(e) => e.hint().into(),
            Error::Publish(e) => e.hint().into(),
            Error::Delta(e) => e.hint().into(),
            Error::Hsm(e) => e.hint().into(),
            Error::Bundle(e) => match e.fault() {
                BundleFault::Bundle => {
                    "do not use this bundle: re-copy it from the source, or ask its producer for a new one".into()
                }
                BundleFault::Input => {
                    "check the path and its permissions; input files must stay unchanged while packing".into()
                }
                _ => "check free space and permissions where the output is written".into(),
            },
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// The `hint:` line for a volume error, if `e` is one.
fn volume_hint(e: &airlock_bundle::Error) -> Option<String> {
    use airlock_bundle::Error as B;
    Some(match e {
        B::VolumeMissing { number, path, .. } => format!(
            "copy volume {number} ({}) beside the first volume, or give --prompt to be asked \
             for each volume in turn",
            file_name(path)
        ),
        B::VolumeExtra { path, .. } => format!(
            "{} is not one of this bundle's volumes: copy the volumes without it",
            file_name(path)
        ),
        B::VolumeOutOfOrder { path, found, .. } => format!(
            "{} holds volume {found}: the files were renamed or mixed up; re-copy the volumes \
             under their own names (`airlock volumes check` shows which file holds which)",
            file_name(path)
        ),
        B::VolumeTruncated { number, path, .. } => format!(
            "re-copy volume {number} ({}): the copy is incomplete",
            file_name(path)
        ),
        B::VolumeCorrupt { number, path, .. } => format!(
            "re-copy volume {number} ({}) from the source medium, then try again",
            file_name(path)
        ),
        B::VolumeForeign { number, path, .. } => format!(
            "{} is a volume of another bundle: copy volume {number} of this bundle in its place",
            file_name(path)
        ),
        B::VolumeRead { number, path, .. } => format!(
            "the medium could not be read: clean it or re-copy volume {number} ({}), then try again",
            file_name(path)
        ),
        B::VolumeIndexMismatch { .. } => {
            "these volumes do not belong together: re-copy the whole set from the source".into()
        }
        B::VolumeNotFirst { first, .. } => {
            format!("give the first volume, {}", first.display())
        }
        B::SplitSize { .. } => {
            "choose a larger volume size (fat32, dvd, bd, or e.g. 700MB / 4GiB)".into()
        }
        _ => return None,
    })
}
