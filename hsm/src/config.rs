//! `airlock-store.json`: the file, in every store directory, that records
//! which backend anchors the store. Its presence makes a directory a store.
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::store::BackendKind;

/// Name of the file, inside a store directory, that records its backend.
pub const CONFIG_FILE: &str = "airlock-store.json";

/// The contents of [`CONFIG_FILE`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoreConfig {
    pub(crate) format: u32,
    pub(crate) backend: BackendKind,
}

impl StoreConfig {
    /// The configuration of a format-1 store on `backend`.
    pub(crate) fn new(backend: BackendKind) -> StoreConfig {
        StoreConfig { format: 1, backend }
    }

    /// The configuration as written to [`CONFIG_FILE`].
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        // A struct of a number and an enum always serializes.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// Reads the configuration of the store in `dir`:
    /// [`Error::NotProvisioned`] when there is none.
    pub(crate) fn read(dir: &Path) -> Result<StoreConfig, Error> {
        let path = dir.join(CONFIG_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotProvisioned {
                    path: dir.to_owned(),
                });
            }
            Err(source) => return Err(Error::StoreRead { path, source }),
        };
        let config: StoreConfig =
            serde_json::from_slice(&bytes).map_err(|e| Error::StoreCorrupt {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if config.format != 1 {
            return Err(Error::StoreCorrupt {
                path,
                reason: format!("unknown store format {}", config.format),
            });
        }
        Ok(config)
    }
}
