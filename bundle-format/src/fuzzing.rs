//! Entry points for the fuzz targets in `fuzz/` (not part of the API).
use std::path::Path;

use crate::error::Error;
use crate::limits::Limits;
use crate::volume::{VolumeHeader, header_from};

/// Reads a volume header from the start of `bytes`, as
/// [`read_volume_header`](crate::read_volume_header) reads it from a file.
pub fn volume_header(bytes: &[u8], limits: &Limits) -> Result<VolumeHeader, Error> {
    let mut r = bytes;
    header_from(&mut r, Path::new("fuzz.airlock.001"), 1, 0, limits)
}

/// Whether the manifest's canonical reader (the fast path of
/// [`Manifest::decode`](crate::Manifest::decode)) reads `bytes` as
/// `ciborium` does; true when it leaves them to `ciborium`.
pub fn manifest_readers_agree(bytes: &[u8]) -> bool {
    crate::manifest::readers_agree(bytes)
}
