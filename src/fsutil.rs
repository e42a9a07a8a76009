//! Writing operator files without ever leaving a half-written one, and
//! hashing files as they are read.
use std::io::{Read, Write};
use std::path::Path;

use crate::error::Error;

mod error;

pub use error::FsError;

fn write_err(path: &Path, e: std::io::Error) -> Error {
    FsError::write(path, e).into()
}

fn temp_beside(path: &Path, bytes: &[u8]) -> Result<tempfile::NamedTempFile, Error> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| write_err(path, e))?;
    tmp.write_all(bytes).map_err(|e| write_err(path, e))?;
    tmp.as_file().sync_all().map_err(|e| write_err(path, e))?;
    Ok(tmp)
}

/// Atomically replaces `path` with `bytes` (keeping its permissions if it existed).
pub fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = temp_beside(path, bytes)?;
    if let Ok(meta) = std::fs::metadata(path) {
        tmp.as_file()
            .set_permissions(meta.permissions())
            .map_err(|e| write_err(path, e))?;
    }
    tmp.persist(path).map_err(|e| write_err(path, e.error))?;
    Ok(())
}

/// Creates the directory an output file goes into (and its parents), as
/// `keygen --out keys/NAME`, `record --out-dir links` and `pack --out
/// dist/rel.airlock` expect on a fresh checkout.
pub fn ensure_parent(path: &Path) -> Result<(), Error> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => ensure_dir(dir),
        _ => Ok(()),
    }
}

/// Creates `dir` (and its parents) if it does not exist.
pub fn ensure_dir(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| {
        FsError::Write {
            what: format!("create the directory {}", dir.display()),
            source: e,
        }
        .into()
    })
}

/// Creates `path` with `bytes`; refuses (exit 3) if it exists.
pub fn create_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = temp_beside(path, bytes)?;
    tmp.persist_noclobber(path).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            FsError::exists(path).into()
        } else {
            write_err(path, e.error)
        }
    })?;
    Ok(())
}

/// Reads a file the operator named, refusing one over `limit` bytes.
pub fn read_limited(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, Error> {
    let file = airlock_hsm::opfile::open_regular(path).map_err(|e| Error::input(path, e))?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, limit + 1), &mut bytes)
        .map_err(|e| Error::input(path, e))?;
    // Counted on what was read: `metadata().len()` is 0 for a device.
    if bytes.len() as u64 > limit {
        return Err(Error::usage(
            format!(
                "{what} {} is over the limit of {limit} bytes",
                path.display()
            ),
            "check that the right file was given",
        ));
    }
    Ok(bytes)
}

/// Atomically replaces `path` with what `fill` writes (streamed into a
/// temporary file beside it, synced, then renamed over it): readers see
/// the old file or the new one, never a part. A new file gets mode `mode`
/// (for files other programs read: metrics, reports); an existing one
/// keeps its permissions.
pub fn replace_file_with(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| write_err(path, e))?;
    let perms = std::fs::metadata(path)
        .map(|m| m.permissions())
        .unwrap_or_else(|_| std::fs::Permissions::from_mode(mode));
    tmp.as_file()
        .set_permissions(perms)
        .map_err(|e| write_err(path, e))?;
    let mut w = std::io::BufWriter::new(tmp);
    fill(&mut w).map_err(|e| write_err(path, e))?;
    let tmp = w
        .into_inner()
        .map_err(|e| write_err(path, e.into_error()))?;
    tmp.as_file().sync_all().map_err(|e| write_err(path, e))?;
    tmp.persist(path).map_err(|e| write_err(path, e.error))?;
    Ok(())
}

/// The directory a file would be created in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// SHA-256 and length of everything `r` yields, read in 1 MiB pieces
/// (interrupted reads retried).
pub fn sha256_of(r: &mut dyn Read) -> std::io::Result<([u8; 32], u64)> {
    sha256_through(r, &mut vec![0u8; 1 << 20], &mut |_| ())
}

/// [`sha256_of`], read through `buf` (a caller hashing many files keeps
/// one), `advance` told the length of each piece as it is hashed. Every
/// digest of a whole file goes through it; what hashes while it copies or
/// within a length bound (a delta's base files, a pulled blob, an archive
/// member) has a loop of its own.
pub fn sha256_through(
    r: &mut dyn Read,
    buf: &mut [u8],
    advance: &mut dyn FnMut(u64),
) -> std::io::Result<([u8; 32], u64)> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut n = 0u64;
    loop {
        match r.read(buf) {
            Ok(0) => break,
            Ok(k) => {
                h.update(&buf[..k]);
                n += k as u64;
                advance(k as u64);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((h.finalize().into(), n))
}
