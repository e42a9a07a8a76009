//! What the isolated side refuses about a delta bundle (SPEC.md 5.7,
//! docs/transfers.md "Delta bundles"), with its codes and hints.

/// Why a delta bundle is refused (exit 1: the delta is not accepted on
/// this store as it stands).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeltaError {
    /// The journal shows no accepted import of the base on this store.
    #[error("bundle {delta} is a delta of bundle {base}, which this store has not imported")]
    NotImported {
        /// The delta's bundle id.
        delta: String,
        /// The base's bundle id.
        base: String,
    },
    /// The base's import is not what the delta says its base is (another
    /// channel, another sequence).
    #[error(
        "bundle {delta} names base {base} as channel {channel} sequence {sequence}, but this store imported {base} as channel {imported_channel} sequence {imported_sequence}"
    )]
    Mismatch {
        /// The delta's bundle id.
        delta: String,
        /// The base's bundle id.
        base: String,
        /// The delta's channel.
        channel: String,
        /// The base sequence the delta names.
        sequence: u64,
        /// The channel the journal records for the base's import.
        imported_channel: String,
        /// The sequence it records.
        imported_sequence: u64,
    },
    /// The delta takes a file the base does not have.
    #[error(
        "bundle {delta} takes {path} (sha256 {sha256}) from base {base}, which has no such file"
    )]
    LacksFile {
        /// The delta's bundle id.
        delta: String,
        /// The base's bundle id.
        base: String,
        /// The file's tar path in the delta's release.
        path: String,
        /// Its SHA-256, hex.
        sha256: String,
    },
    /// Files of the base's import are gone or differ from what the delta's
    /// manifest says they are.
    #[error(
        "the import of base {base} at {dir} has changed: {} (of {count} taken from it)",
        files.join(", ")
    )]
    Changed {
        /// The base's bundle id.
        base: String,
        /// Its destination.
        dir: String,
        /// The first files that are gone or differ, each with what is
        /// wrong (bounded).
        files: Vec<String>,
        /// How many files the delta takes from the base.
        count: usize,
    },
}

impl DeltaError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            DeltaError::NotImported { .. } => "delta-base-not-imported",
            DeltaError::Mismatch { .. } => "delta-base-mismatch",
            DeltaError::LacksFile { .. } => "delta-base-lacks-file",
            DeltaError::Changed { .. } => "delta-base-changed",
        }
    }

    /// What to do.
    pub fn hint(&self) -> &'static str {
        match self {
            DeltaError::NotImported { .. } => {
                "unpack the base bundle into this store first, or ask for the full bundle"
            }
            DeltaError::Mismatch { .. } | DeltaError::LacksFile { .. } => {
                "do not use this delta: ask its producer for a delta of a bundle this store imported, or the full bundle"
            }
            DeltaError::Changed { .. } => {
                "the base's unpacked files were changed or removed: unpack the full bundle instead (or unpack the base again to a new directory, then the delta)"
            }
        }
    }
}
