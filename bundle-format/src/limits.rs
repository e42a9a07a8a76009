//! Hard limits applied to every bundle, on both the writing and the reading side.

/// Upper bounds on everything a bundle may declare or contain.
///
/// Every read from an untrusted bundle is bounded by one of these, or by a
/// size that was already checked against one of these. The defaults are
/// generous for real software releases and small enough that a hostile bundle
/// cannot exhaust memory: the largest single allocation is the manifest
/// (`max_manifest_bytes`), and metadata entries are read whole only up to
/// `max_metadata_entry_bytes`. Artifacts are always streamed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest encoded manifest (`airlock/manifest.cbor`), in bytes.
    pub max_manifest_bytes: u64,
    /// Largest encoded signatures entry (`airlock/signatures.cbor`), in bytes.
    pub max_signatures_bytes: u64,
    /// Most signatures in the signatures entry.
    pub max_signatures: usize,
    /// Most entries (metadata and artifacts together) in a manifest.
    pub max_entries: usize,
    /// Longest path, counted on the full tar path (kind prefix included), in bytes.
    pub max_path_bytes: usize,
    /// Longest single path component, in bytes.
    pub max_component_bytes: usize,
    /// Largest metadata entry (roots, layouts, keys, links, attestations), in bytes.
    pub max_metadata_entry_bytes: u64,
    /// Largest artifact, in bytes.
    pub max_entry_bytes: u64,
    /// Largest sum of all entry sizes, in bytes.
    pub max_total_bytes: u64,
    /// Most volumes a split bundle may have. Every volume carries the
    /// index (56 bytes a volume), so this also bounds the volume header.
    pub max_volumes: u32,
}

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const TIB: u64 = 1 << 40;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_manifest_bytes: 64 * MIB,
            max_signatures_bytes: 64 * KIB,
            max_signatures: 32,
            max_entries: 1_000_000,
            max_path_bytes: 4096,
            max_component_bytes: 255,
            max_metadata_entry_bytes: 32 * MIB,
            max_entry_bytes: TIB,
            max_total_bytes: 16 * TIB,
            max_volumes: 9999,
        }
    }
}
