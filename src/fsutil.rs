//! Writing operator files without ever leaving a half-written one.
use std::io::Write;
use std::path::Path;

use crate::error::Error;

fn write_err(path: &Path, e: std::io::Error) -> Error {
    Error::env(
        "write-failed",
        format!("cannot write {}: {e}", path.display()),
        "check the directory exists, its permissions and free space",
    )
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

/// Creates `path` with `bytes`; refuses (exit 3) if it exists.
pub fn create_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = temp_beside(path, bytes)?;
    tmp.persist_noclobber(path).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            Error::env(
                "file-exists",
                format!("{} already exists", path.display()),
                "choose another name or remove the old file first",
            )
        } else {
            write_err(path, e.error)
        }
    })?;
    Ok(())
}

/// Reads a file the operator named, refusing one over `limit` bytes.
pub fn read_limited(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, Error> {
    let meta = std::fs::metadata(path).map_err(|e| Error::input(path, e))?;
    if meta.len() > limit {
        return Err(Error::usage(
            format!(
                "{what} {} is {} bytes, over the limit of {limit}",
                path.display(),
                meta.len()
            ),
            "check that the right file was given",
        ));
    }
    std::fs::read(path).map_err(|e| Error::input(path, e))
}

/// The directory a file would be created in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}
