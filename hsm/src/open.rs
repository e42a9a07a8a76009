//! Opening a provisioned store, whichever backend anchors it: the one place
//! that knows every backend.
use std::path::Path;

use crate::config::StoreConfig;
use crate::error::Error;
use crate::file_store::FileStore;
use crate::pkcs11::Pkcs11Store;
use crate::store::{BackendKind, TrustStore};

/// Opens the provisioned store in `dir`, whichever backend anchors it.
pub fn open_store(dir: &Path) -> Result<Box<dyn TrustStore>, Error> {
    match StoreConfig::read(dir)?.backend {
        BackendKind::File => Ok(Box::new(FileStore::open(dir)?)),
        #[cfg(feature = "tpm")]
        BackendKind::Tpm => Ok(Box::new(crate::tpm::TpmStore::open(dir)?)),
        #[cfg(not(feature = "tpm"))]
        BackendKind::Tpm => Err(Error::Unsupported {
            backend: "tpm".into(),
            reason: "this build of airlock has no TPM support (build with --features tpm)".into(),
        }),
        BackendKind::Pkcs11 => Ok(Box::new(Pkcs11Store::open(dir)?)),
    }
}

/// The backend that anchors the provisioned store in `dir`, read from its
/// configuration without opening the store (or reaching its hardware).
pub fn backend_of(dir: &Path) -> Result<BackendKind, Error> {
    Ok(StoreConfig::read(dir)?.backend)
}
