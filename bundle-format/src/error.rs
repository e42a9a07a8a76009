//! The one error type of this crate, grouped by who is at fault.

use std::io;
use std::path::{Path, PathBuf};

use crate::path::{NotPortable, PathError};

/// Who has to act to resolve an [`Error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The bundle is malformed, damaged or hostile: get a good copy.
    Bundle,
    /// A file given to the writer is unreadable or changed while being packed.
    Input,
    /// The local environment (output directory, sink, calling code) failed.
    Environment,
}

/// Everything that can go wrong writing or reading a bundle.
///
/// Strings that come from a bundle are always shortened and escaped with
/// [`excerpt`] before they are put in an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- the bundle is at fault -------------------------------------------
    /// The bundle ends before its format says it may.
    #[error("bundle is truncated: {0}")]
    Truncated(String),
    /// The zstd layer is malformed (bad frame, corrupt data, too large a window).
    #[error("bundle compression is invalid: {0}")]
    Compression(String),
    /// Bytes follow the end of the archive or the end of the last frame.
    #[error("bundle has trailing data after its end")]
    TrailingData,
    /// The head frame does not end exactly after the last metadata entry.
    #[error("bundle head frame does not end exactly after the last metadata entry")]
    FrameBoundary,
    /// The head frame is not the one canonical frame of raw blocks for its
    /// contents (frame header, block types, block sizes, last-block flag).
    #[error("bundle head frame is not in its canonical form: {0}")]
    HeadFrame(String),
    /// The payload frame's bytes do not hash to the manifest's `payload_sha256`.
    #[error("the payload frame's SHA-256 does not match the manifest")]
    PayloadDigest,
    /// The manifest's payload frame index (`frames`, SPEC.md 5.8) breaks a
    /// rule: one frame listed, a length that is not whole records, first
    /// entries that are not where the cut rule puts them, a zero length.
    #[error("bundle frame index is invalid: {0}")]
    FrameIndex(String),
    /// A payload frame is not the one the signed frame index describes (its
    /// stored length or SHA-256), or it does not decompress to exactly the
    /// entries the cut rule puts in it (SPEC.md 5.8).
    #[error("payload frame {frame} of the bundle does not match its frame index: {reason}")]
    PayloadFrame {
        /// The frame's number, from 1.
        frame: u64,
        /// What differs.
        reason: String,
    },
    /// A tar header is malformed.
    #[error("tar header at block {index} is invalid: {reason}")]
    TarHeader {
        /// Index of the 512-byte block holding the header, in the decompressed stream.
        index: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A tar entry's encoding (header fields, long-name entry or padding) is
    /// not exactly the one the writer produces for the manifest's entry.
    #[error(
        "entry {path} is not encoded exactly as the format requires (tar header fields or padding)"
    )]
    TarHeaderMismatch {
        /// The entry's path.
        path: String,
    },
    /// A tar entry is not a regular file.
    #[error("entry {path} is a {kind}; only regular files are allowed")]
    EntryType {
        /// The entry's path (excerpt).
        path: String,
        /// The kind of entry found.
        kind: &'static str,
    },
    /// A path is not a safe relative path.
    #[error("entry path {path} is unsafe: {reason}")]
    UnsafePath {
        /// The path (excerpt).
        path: String,
        /// Why it was refused.
        reason: PathError,
    },
    /// A tar entry is not listed in the manifest.
    #[error("entry {path} is not listed in the manifest")]
    NotInManifest {
        /// The entry's path (excerpt).
        path: String,
    },
    /// A tar entry is listed in the manifest but appears too early.
    #[error("entry {found} is out of order: expected {expected} first")]
    OutOfOrder {
        /// The path the manifest expects at this point.
        expected: String,
        /// The path found (excerpt).
        found: String,
    },
    /// A tar entry appears a second time.
    #[error("entry {path} appears more than once in the bundle")]
    DuplicateEntry {
        /// The entry's path.
        path: String,
    },
    /// The stream ended while the manifest still expects this entry.
    #[error("entry {path} is listed in the manifest but missing from the bundle")]
    MissingEntry {
        /// The missing entry's path.
        path: String,
    },
    /// A tar header's size differs from the manifest.
    #[error("entry {path} has size {found} but the manifest says {expected}")]
    SizeMismatch {
        /// The entry's path.
        path: String,
        /// Size in the manifest.
        expected: u64,
        /// Size in the tar header.
        found: u64,
    },
    /// A tar header's mode differs from the manifest.
    #[error("entry {path} has mode {found:o} but the manifest says {expected:o}")]
    ModeMismatch {
        /// The entry's path.
        path: String,
        /// Mode in the manifest.
        expected: u32,
        /// Mode in the tar header.
        found: u32,
    },
    /// An entry's SHA-256 differs from the manifest.
    #[error("entry {path} does not match its SHA-256 digest in the manifest")]
    DigestMismatch {
        /// The entry's path.
        path: String,
    },
    /// Something exceeds one of the [`Limits`](crate::Limits).
    #[error("bundle exceeds the limit on {what} ({limit})")]
    Limit {
        /// What was counted.
        what: &'static str,
        /// The limit in force.
        limit: u64,
    },
    /// The manifest is malformed.
    #[error("manifest is malformed: {0}")]
    Manifest(String),
    /// Two manifest entries have the same tar path.
    #[error("manifest lists {path} more than once")]
    DuplicatePath {
        /// The duplicated tar path.
        path: String,
    },
    /// A manifest entry's path is also a directory of another entry.
    #[error("manifest entry {path} is also a directory of another entry")]
    PathConflict {
        /// The conflicting tar path.
        path: String,
    },
    /// A path cannot exist, as written, on FAT32, exFAT or NTFS, and the
    /// bundle is not marked POSIX-only (SPEC.md section 4.1).
    #[error("entry path {path} is not portable: {reason}")]
    PathNotPortable {
        /// The tar path (excerpt).
        path: String,
        /// Why.
        reason: NotPortable,
    },
    /// Two names differ only by case (Unicode case folding): one would
    /// replace the other on a case-insensitive filesystem.
    #[error("entry paths {other} and {path} differ only by case")]
    PathCaseCollision {
        /// The later tar path, up to the colliding component (excerpt).
        path: String,
        /// The earlier one (excerpt).
        other: String,
    },
    /// Two names differ only by Unicode normalization (NFC/NFD): one would
    /// replace the other on a normalizing filesystem.
    #[error("entry paths {other} and {path} differ only by Unicode normalization")]
    PathNormalizationCollision {
        /// The later tar path, up to the colliding component (excerpt).
        path: String,
        /// The earlier one (excerpt).
        other: String,
    },
    /// A content-addressed entry (`image-manifest`, `blob`) whose path is not
    /// `sha256/` followed by the hex of its SHA-256.
    #[error("entry {path} is not named by its SHA-256 digest")]
    BlobName {
        /// The entry's tar path.
        path: String,
    },
    /// An image whose manifest or index is not an `image-manifest` entry.
    #[error("image {image} is listed, but its manifest is not carried")]
    ImageNotCarried {
        /// The image reference (`name:tag`).
        image: String,
    },
    /// The manifest or signatures bytes are not in canonical form.
    #[error("manifest or signatures are not canonically encoded")]
    NonCanonical,
    /// The manifest's `bundle_id` does not match its contents.
    #[error("manifest bundle_id does not match the manifest contents")]
    BundleId,
    /// The signatures entry is malformed.
    #[error("signatures are malformed: {0}")]
    Signatures(String),
    /// The signatures entry has two signatures with the same key id.
    #[error("signatures list key id {keyid} more than once")]
    DuplicateSignature {
        /// The repeated key id.
        keyid: String,
    },
    /// Reading the bundle failed.
    #[error("reading the bundle failed: {0}")]
    Read(#[source] io::Error),

    // ---- a volume of a split bundle is at fault (SPEC.md section 11) ------
    /// A volume of the set is not where it should be.
    #[error("{} is missing: {} not found", volume(*number, *count), path.display())]
    VolumeMissing {
        /// The volume's number, from 1.
        number: u32,
        /// How many volumes the index lists.
        count: u32,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A file continues the numbering past the last volume the index lists.
    #[error("{} is an extra volume: the signed volume index lists {count}", path.display())]
    VolumeExtra {
        /// How many volumes the index lists.
        count: u32,
        /// The extra file.
        path: PathBuf,
    },
    /// A volume file of this bundle holds another volume than its name says.
    #[error("{} is out of order: {} holds volume {found}", volume(*number, *count), path.display())]
    VolumeOutOfOrder {
        /// The volume expected in this file.
        number: u32,
        /// How many volumes the index lists.
        count: u32,
        /// The volume the file holds.
        found: u32,
        /// The file.
        path: PathBuf,
    },
    /// A volume file is shorter than the index says.
    #[error(
        "{} is truncated: {} has {found} bytes{}",
        volume(*number, *count),
        path.display(),
        says(*expected)
    )]
    VolumeTruncated {
        /// The volume's number.
        number: u32,
        /// How many volumes the index lists.
        count: u32,
        /// The file.
        path: PathBuf,
        /// Its length according to the index (0 when not known: the file
        /// ends inside its header).
        expected: u64,
        /// Its length on the medium.
        found: u64,
    },
    /// A volume's bytes are not the ones the index describes.
    #[error("{} is corrupt: {reason} ({})", volume(*number, *count), path.display())]
    VolumeCorrupt {
        /// The volume's number.
        number: u32,
        /// How many volumes the index lists (0 when not known: the header
        /// does not say).
        count: u32,
        /// The file.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// A volume file belongs to another bundle.
    #[error(
        "{} is from another bundle: {} is a volume of bundle {found}, not of {expected}",
        volume(*number, *count),
        path.display()
    )]
    VolumeForeign {
        /// The volume expected in this file.
        number: u32,
        /// How many volumes the index lists.
        count: u32,
        /// The file.
        path: PathBuf,
        /// This set's bundle id.
        expected: String,
        /// The bundle id the file's header names (excerpt).
        found: String,
    },
    /// Reading a volume failed.
    #[error("reading {} ({}) failed: {source}", volume(*number, *count), path.display())]
    VolumeRead {
        /// The volume's number.
        number: u32,
        /// How many volumes the index lists.
        count: u32,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The volume index names another bundle than the manifest it travels with.
    #[error("the volume index is for bundle {index}, but the volumes hold bundle {manifest}")]
    VolumeIndexMismatch {
        /// The index's bundle id (excerpt).
        index: String,
        /// The manifest's bundle id.
        manifest: String,
    },
    /// A volume index is malformed.
    #[error("volume index is malformed: {0}")]
    VolumeIndex(String),
    /// The file given as the first volume holds another one.
    #[error(
        "{} holds volume {number} of {count}; give the first volume, {}",
        path.display(),
        first.display()
    )]
    VolumeNotFirst {
        /// The volume the file holds.
        number: u32,
        /// How many volumes the index lists.
        count: u32,
        /// The file given.
        path: PathBuf,
        /// Where the first volume would be.
        first: PathBuf,
    },

    // ---- the writer's input is at fault -----------------------------------
    /// A volume size that cannot split this bundle.
    #[error("cannot split into volumes of {volume_size} bytes: {reason}")]
    SplitSize {
        /// The volume size asked for.
        volume_size: u64,
        /// Why not.
        reason: String,
    },
    /// A file to pack cannot be read.
    #[error("cannot read input {}: {source}", path.display())]
    Input {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A file to pack changed size while it was being packed.
    #[error("input {} changed while it was being packed; pack again from a stable copy", path.display())]
    InputChanged {
        /// The file.
        path: PathBuf,
    },

    // ---- the environment is at fault --------------------------------------
    /// Writing the output (or a temporary file beside it) failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or directory being written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The caller's sink refused artifact data.
    #[error("writing artifact data to the destination failed: {0}")]
    Sink(#[source] io::Error),
    /// The API was used in an order or with values it does not allow.
    #[error("invalid use of the bundle API: {0}")]
    Misuse(&'static str),
}

impl Error {
    /// A stable, kebab-case code for this error, for logs and journals.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Truncated(_) => "bundle-truncated",
            Error::Compression(_) => "bundle-compression",
            Error::TrailingData => "trailing-data",
            Error::FrameBoundary => "frame-boundary",
            Error::HeadFrame(_) => "head-frame",
            Error::PayloadDigest => "payload-digest-mismatch",
            Error::FrameIndex(_) => "frame-index-malformed",
            Error::PayloadFrame { .. } => "payload-frame-mismatch",
            Error::TarHeader { .. } => "tar-header",
            Error::TarHeaderMismatch { .. } => "tar-header-mismatch",
            Error::EntryType { .. } => "entry-type",
            Error::UnsafePath { .. } => "unsafe-path",
            Error::NotInManifest { .. } => "not-in-manifest",
            Error::OutOfOrder { .. } => "out-of-order",
            Error::DuplicateEntry { .. } => "duplicate-entry",
            Error::MissingEntry { .. } => "missing-entry",
            Error::SizeMismatch { .. } => "size-mismatch",
            Error::ModeMismatch { .. } => "mode-mismatch",
            Error::DigestMismatch { .. } => "digest-mismatch",
            Error::Limit { .. } => "limit-exceeded",
            Error::Manifest(_) => "manifest-malformed",
            Error::DuplicatePath { .. } => "duplicate-path",
            Error::PathConflict { .. } => "path-conflict",
            Error::PathNotPortable { .. } => "path-not-portable",
            Error::PathCaseCollision { .. } => "path-case-collision",
            Error::PathNormalizationCollision { .. } => "path-normalization-collision",
            Error::BlobName { .. } => "blob-name-mismatch",
            Error::ImageNotCarried { .. } => "image-not-carried",
            Error::NonCanonical => "non-canonical",
            Error::BundleId => "bundle-id-mismatch",
            Error::Signatures(_) => "signatures-malformed",
            Error::DuplicateSignature { .. } => "duplicate-signature",
            Error::Read(_) => "bundle-read",
            Error::VolumeMissing { .. } => "volume-missing",
            Error::VolumeExtra { .. } => "volume-extra",
            Error::VolumeOutOfOrder { .. } => "volume-out-of-order",
            Error::VolumeTruncated { .. } => "volume-truncated",
            Error::VolumeCorrupt { .. } => "volume-corrupt",
            Error::VolumeForeign { .. } => "volume-foreign",
            Error::VolumeRead { .. } => "volume-unreadable",
            Error::VolumeIndexMismatch { .. } => "volume-index-mismatch",
            Error::VolumeIndex(_) => "volume-index-malformed",
            Error::VolumeNotFirst { .. } => "volume-not-first",
            Error::SplitSize { .. } => "split-size",
            Error::Input { .. } => "input-unreadable",
            Error::InputChanged { .. } => "input-changed",
            Error::Write { .. } => "output-write",
            Error::Sink(_) => "sink-write",
            Error::Misuse(_) => "api-misuse",
        }
    }

    /// The volume this error is about, as (number, count, file), for the
    /// errors that name one.
    pub fn volume(&self) -> Option<(u32, u32, &Path)> {
        match self {
            Error::VolumeMissing {
                number,
                count,
                path,
            }
            | Error::VolumeOutOfOrder {
                number,
                count,
                path,
                ..
            }
            | Error::VolumeTruncated {
                number,
                count,
                path,
                ..
            }
            | Error::VolumeCorrupt {
                number,
                count,
                path,
                ..
            }
            | Error::VolumeForeign {
                number,
                count,
                path,
                ..
            }
            | Error::VolumeRead {
                number,
                count,
                path,
                ..
            } => Some((*number, *count, path)),
            Error::VolumeExtra { count, path } => Some((count + 1, *count, path)),
            _ => None,
        }
    }

    /// Whether the input stopped rather than proved wrong: it ended early
    /// (`Truncated`, `VolumeTruncated`), could not be read (`Read`,
    /// `VolumeRead`) or a volume is not there (`VolumeMissing`) — a medium
    /// pulled, a copy cut short. Nothing read so far was found wrong, so a
    /// caller that can resume (section 8.1) may keep what it has verified.
    pub fn is_interruption(&self) -> bool {
        matches!(
            self,
            Error::Truncated(_)
                | Error::Read(_)
                | Error::VolumeTruncated { .. }
                | Error::VolumeRead { .. }
                | Error::VolumeMissing { .. }
        )
    }

    /// Who has to act.
    pub fn fault(&self) -> Fault {
        match self {
            Error::Input { .. }
            | Error::InputChanged { .. }
            | Error::SplitSize { .. }
            | Error::VolumeNotFirst { .. } => Fault::Input,
            Error::Write { .. } | Error::Sink(_) | Error::Misuse(_) => Fault::Environment,
            _ => Fault::Bundle,
        }
    }
}

/// "volume 3 of 5"; "volume 3" when the count is not known, "the volume"
/// when neither is.
fn volume(number: u32, count: u32) -> String {
    match (number, count) {
        (0, _) => "the volume".into(),
        (n, 0) => format!("volume {n}"),
        (n, c) => format!("volume {n} of {c}"),
    }
}

/// ", the volume index says N", or that the file ends inside its header.
fn says(expected: u64) -> String {
    if expected == 0 {
        ", which ends inside its volume header".into()
    } else {
        format!(", the volume index says {expected}")
    }
}

/// Longest excerpt of an untrusted string, in characters, before the ellipsis.
const EXCERPT_CHARS: usize = 96;

/// A bounded, escaped excerpt of an untrusted string, safe to show in errors
/// and logs: control characters and quotes are escaped with
/// [`str::escape_debug`], and the result is cut to 96 characters plus `…`.
pub fn excerpt(s: &str) -> String {
    let mut out = String::new();
    for (n, c) in s.escape_debug().enumerate() {
        if n == EXCERPT_CHARS {
            out.push('…');
            break;
        }
        out.push(c);
    }
    out
}

/// [`excerpt`] for bytes that may not be UTF-8.
pub(crate) fn excerpt_bytes(b: &[u8]) -> String {
    excerpt(&String::from_utf8_lossy(b))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_escapes_and_bounds() {
        assert_eq!(excerpt("a\nb"), "a\\nb");
        assert_eq!(excerpt("\u{1b}[31m"), "\\u{1b}[31m");
        let long = "x".repeat(500);
        let e = excerpt(&long);
        assert_eq!(e.chars().count(), EXCERPT_CHARS + 1);
        assert!(e.ends_with('…'));
        assert_eq!(excerpt(&"y".repeat(96)), "y".repeat(96));
    }

    #[test]
    fn codes_are_kebab_case_and_faults_grouped() {
        let e = Error::Misuse("x");
        assert_eq!(e.code(), "api-misuse");
        assert_eq!(e.fault(), Fault::Environment);
        assert_eq!(Error::TrailingData.fault(), Fault::Bundle);
        let e = Error::InputChanged { path: "f".into() };
        assert_eq!(e.fault(), Fault::Input);
    }
}
