//! What goes wrong talking to a registry (`pack --image` pulls, `publish`
//! pushes): the machine's or the network's fault (exit 3), never the
//! bundle's. Every variant has one code and one hint.

/// A registry could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The registry answered something airlock cannot use
    /// (`registry-error`).
    #[error("{0}")]
    Failed(String),
    /// The registry cannot be reached (`registry-unreachable`).
    #[error("cannot reach the registry {host}: {reason}")]
    Unreachable {
        /// The registry host.
        host: String,
        /// Why (the transport's error).
        reason: String,
    },
    /// The registry wants credentials, or refused them (`registry-auth`).
    #[error("{0}")]
    Auth(String),
    /// The registry (or something between) sent other content than was
    /// asked for (`image-pull-mismatch`).
    #[error("{0}")]
    PullMismatch(String),
}

impl RegistryError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            RegistryError::Failed(_) => "registry-error",
            RegistryError::Unreachable { .. } => "registry-unreachable",
            RegistryError::Auth(_) => "registry-auth",
            RegistryError::PullMismatch(_) => "image-pull-mismatch",
        }
    }

    /// What the operator should do next.
    pub fn hint(&self) -> &'static str {
        match self {
            RegistryError::Failed(_) => {
                "check that the registry is reachable and allows the pull or push; publishing again resumes and sends only what is missing"
            }
            RegistryError::Unreachable { .. } => {
                "check the address, TLS (--ca-file) and that the registry runs; publishing again resumes and sends only what is missing"
            }
            RegistryError::Auth(_) => {
                "put the credentials in the auth file (podman login / docker login, or --auth-file), and check them and the account's pull and push rights"
            }
            RegistryError::PullMismatch(_) => {
                "nothing was packed; check the registry and the network path, then pack again"
            }
        }
    }
}
