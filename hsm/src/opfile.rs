//! Reading a file the operator named (keys, PIN and authorization files,
//! public keys, roots, layouts): opened without blocking, refused unless it
//! is a regular file, and read up to a limit. A FIFO, a device such as
//! `/dev/zero`, a directory or a file over the limit is refused with an
//! error saying so, instead of blocking the command or filling memory.
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The limit for key, PIN and authorization files: far above any PEM key
/// airlock reads (an RSA-4096 private key is about 3.3 KB).
pub const MAX_KEY_FILE: u64 = 64 * 1024;

/// Opens `path` for reading without blocking (a FIFO with no writer does
/// not hang the open) and refuses anything but a regular file.
pub fn open_regular(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    let ft = f.metadata()?.file_type();
    let kind = if ft.is_file() {
        return Ok(f);
    } else if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a file"
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is {kind}, not a regular file"),
    ))
}

/// Reads the regular file `path`, refusing one over `limit` bytes (checked
/// before reading and while reading: a file that grows is cut off).
pub fn read_regular(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let f = open_regular(path)?;
    let len = f.metadata()?.len();
    let too_large = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is over the limit of {limit} bytes for this kind of file"),
        )
    };
    if len > limit {
        return Err(too_large());
    }
    let mut v = Vec::with_capacity(usize::try_from(len).unwrap_or(0) + 1);
    f.take(limit + 1).read_to_end(&mut v)?;
    if v.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(v)
}

/// [`read_regular`] as UTF-8 text.
pub fn read_regular_text(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read_regular(path, limit)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "it is not UTF-8 text"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_directories_and_large_files_are_refused() {
        let e = read_regular(Path::new("/dev/zero"), 10).unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let e = read_regular(dir.path(), 10).unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let e = read_regular(&fifo, 10).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
        let big = dir.path().join("big");
        std::fs::write(&big, [0u8; 11]).unwrap();
        assert!(read_regular(&big, 10).is_err());
        assert_eq!(read_regular(&big, 11).unwrap().len(), 11);
    }
}
