//! The airlock bundle container format.
//!
//! A bundle is one file: zstd frames holding one tar stream. The head
//! frame carries the CBOR manifest, its signatures and the supply-chain
//! metadata, stored (raw blocks, one canonical encoding); the payload frame
//! carries the artifacts, compressed, and is authenticated as stored by the
//! manifest's `payload_sha256`. A payload of more than 64 MiB of tar stream
//! is cut into independent frames at entry boundaries, each listed with its
//! length and SHA-256 in the signed frame index ([`PayloadFrame`]; then
//! `payload_sha256` is the SHA-256 of the index), so that an interrupted read can
//! resume at a frame ([`BundleReader::into_payload_from`],
//! [`VolumeSet::stream_from`]). This crate is the container only: types,
//! canonical encoding, a strict streaming reader, a deterministic writer,
//! limits and path safety, and split volumes (a bundle cut into files that
//! fit removable media, with a signed volume index, read back as one
//! stream: [`plan_split`], [`write_volumes`], [`VolumeSet`]). It verifies no
//! signatures (the caller does, over [`signing_message`] of
//! [`BundleReader::manifest_bytes`], and over [`index_signing_message`] of a
//! volume index) and knows nothing about keys. `SPEC.md` beside this crate is the normative description of
//! the format.
//!
//! ```
//! use airlock_bundle::*;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let (src, out) = (dir.path().join("tool"), dir.path().join("x.bundle"));
//! std::fs::write(&src, b"#!/bin/sh\necho hi\n")?;
//! let limits = Limits::default();
//! let created = 1_700_000_000;
//! let opts = WriteOptions { workers: 1, mtime: created, ..WriteOptions::default() };
//! let manifest_for = |entries: Vec<Entry>, payload_sha256| {
//!     Manifest::new(ManifestFields {
//!         channel: "stable".into(), sequence: 1, created, expires: created + 86_400,
//!         payload_sha256, supply_chain: SupplyChain::default(), images: vec![], entries,
//!         names: NameRule::Portable, enclaves: vec![],
//!     }, &limits)
//! };
//!
//! // Pack. 1: the head frame's length, from a provisional manifest with
//! // zero digests (signatures: `Signatures::zeroed()` of a probe signing).
//! let art = ArtifactSource { kind: EntryKind::Artifact, path: BundlePath::new("bin/tool", &limits)?, file: src, size: 18, mode: 0o755 };
//! let provisional = manifest_for(vec![art.planned_entry()], [0; 32])?;
//! let head_len = head_frame_len(&provisional, &Signatures::default(), &[]);
//! // 2: the payload, written once, after the space reserved for the head.
//! let payload = write_payload(&out, &[art], head_len, &opts, &|_| {})?;
//! // 3: the real manifest: the provisional one, checked already, given the
//! // payload's digests (sign its bytes here), 4: the head, in place.
//! let manifest = provisional.with_payload(payload.entries(), payload.sha256(), &limits)?;
//! let bytes = manifest.encode();
//! let _message = signing_message(&bytes); // what a signer signs
//! finish_bundle(&out, &bytes, &Signatures::default(), &[], payload, &opts)?;
//!
//! // Verify: manifest and signatures first, then metadata, then artifacts.
//! let mut reader = BundleReader::open(std::fs::File::open(&out)?, limits.clone())?;
//! assert_eq!(reader.manifest(), &manifest);
//! while let Some(_meta) = reader.next_metadata()? {}
//! let mut payload = reader.into_payload()?;
//! while let Some(entry) = payload.next_artifact()? {
//!     let mut data = Vec::new();
//!     payload.copy_to(&mut data)?; // digest-checked when this returns Ok
//!     assert_eq!(entry.tar_path(), "artifacts/bin/tool");
//! }
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cbor;
mod compress;
mod error;
mod frames;
#[doc(hidden)]
pub mod fuzzing;
mod limits;
mod manifest;
mod path;
mod read;
mod readahead;
mod split;
mod stored_hash;
mod tarhdr;
mod volset;
mod volume;
mod write;
mod writeback;

pub use error::{Error, Fault, excerpt};
pub use limits::Limits;
pub use manifest::{
    BLOB_MODE, Base, Entry, EntryKind, FORMAT_VERSION, FORMAT_VERSION_IMAGES, FRAME_CUT, FrameCut,
    Image, MAX_ENCLAVES, Manifest, ManifestFields, ManifestSignature, NameRule, PayloadFrame,
    Signatures, SupplyChain, is_enclave_id, is_image_name, is_tag, signing_message,
};
pub use path::{BundlePath, NotPortable, PathError, check_portable};
pub use read::{BundleReader, MetadataEntry, PayloadReader};
pub use split::{UnsignedVolumes, WrittenVolumes, write_volumes};
pub use volset::{Locator, VolumeSet, VolumeStream, Wanted, check_volume, check_volume_slice};
pub use volume::{
    SplitPlan, VOLUME_FORMAT, VOLUME_MAGIC, VolumeEntry, VolumeHeader, VolumeIndex, header_reserve,
    index_signing_message, is_volume, name_width, parse_volume_path, plan_split,
    read_volume_header, volume_path,
};
pub use write::{
    ArtifactSource, MetadataFile, Payload, TEMP_PREFIX, WriteOptions, finish_bundle,
    head_frame_len, write_payload,
};

/// Tar path of the manifest entry, the first entry of every bundle.
pub const MANIFEST_PATH: &str = "airlock/manifest.cbor";

/// Tar path of the signatures entry, the second entry of every bundle.
pub const SIGNATURES_PATH: &str = "airlock/signatures.cbor";

#[cfg(test)]
mod tests;
