//! Tar headers: the strict parser for the reader, and the one function that
//! produces the canonical header bytes of an entry, which the writer writes
//! and the reader requires byte for byte. One place knows the header layout.

use std::io;

use crate::error::Error;

/// Size of a tar block.
pub(crate) const BLOCK: usize = 512;

/// Name of a GNU long-name entry.
const LONG_LINK: &[u8] = b"././@LongLink";

/// Longest path that fits in the header's name field.
pub(crate) const NAME_FIELD: usize = 100;

/// Smallest value the GNU writer stores in base-256 instead of octal in a
/// 12-byte numeric field (8^11).
const BASE256_MIN: u64 = 1 << 33;

/// A parsed 512-byte header block.
pub(crate) enum Header<'a> {
    /// An all-zero block (end-of-archive marker).
    Zero,
    /// A regular file.
    Regular {
        /// The name field, up to its NUL terminator.
        name: &'a [u8],
        /// Data size in bytes.
        size: u64,
        /// Mode bits.
        mode: u32,
    },
    /// A GNU long-name entry; its data (`size` bytes) is the next entry's path
    /// followed by one NUL.
    LongName {
        /// Data size in bytes.
        size: u64,
    },
    /// Any other entry type, refused by the caller with its name.
    Other {
        /// The name field, up to its NUL terminator.
        name: &'a [u8],
        /// Human name of the entry type.
        kind: &'static str,
    },
}

fn bad(index: u64, reason: &str) -> Error {
    Error::TarHeader {
        index,
        reason: reason.to_owned(),
    }
}

/// Parses one header block strictly; `index` is the block's position in the
/// decompressed stream, for error messages.
///
/// Checked: checksum (unsigned sum, as written by the `tar` crate), GNU magic
/// and version, entry type, and for regular files and long names the exact
/// encoding of the size and mode fields and a clean name field. This is only
/// enough to name the entry and give the specific error; the reader then
/// compares the whole header with [`header_bytes`] for the entry it expects,
/// which also fixes uid, gid, mtime, user and group names and devices.
pub(crate) fn parse(block: &[u8; BLOCK], index: u64) -> Result<Header<'_>, Error> {
    if block.iter().all(|b| *b == 0) {
        return Ok(Header::Zero);
    }
    let stored =
        octal(&block[148..156]).ok_or_else(|| bad(index, "checksum field is not octal"))?;
    let sum: u64 = block[..148]
        .iter()
        .chain([b' '; 8].iter())
        .chain(block[156..].iter())
        .map(|b| u64::from(*b))
        .sum();
    if stored != sum {
        return Err(bad(index, "checksum mismatch"));
    }
    if &block[257..265] != b"ustar  \0" {
        return Err(bad(index, "not a GNU-format tar header"));
    }
    let name = name_field(&block[..NAME_FIELD])
        .ok_or_else(|| bad(index, "name field has bytes after its terminator"))?;
    let size =
        || numeric(&block[124..136]).ok_or_else(|| bad(index, "size field is not canonical"));
    match block[156] {
        b'0' | 0 => {
            if block[157..257].iter().any(|b| *b != 0) {
                return Err(bad(index, "regular file with a link name"));
            }
            let mode = octal(&block[100..108])
                .and_then(|m| u32::try_from(m).ok())
                .ok_or_else(|| bad(index, "mode field is not canonical"))?;
            Ok(Header::Regular {
                name,
                size: size()?,
                mode,
            })
        }
        b'L' => {
            if name != LONG_LINK {
                return Err(bad(index, "long-name entry is not named ././@LongLink"));
            }
            Ok(Header::LongName { size: size()? })
        }
        other => Ok(Header::Other {
            name,
            kind: type_name(other),
        }),
    }
}

/// Human name of a tar entry type other than a regular file.
fn type_name(t: u8) -> &'static str {
    match t {
        b'1' => "hard link",
        b'2' => "symbolic link",
        b'3' => "character device",
        b'4' => "block device",
        b'5' => "directory",
        b'6' => "fifo",
        b'7' => "contiguous file",
        b'x' | b'X' => "PAX extended header",
        b'g' => "PAX global header",
        b'S' => "GNU sparse file",
        b'K' => "GNU long link name",
        b'V' => "GNU volume label",
        b'M' => "GNU multi-volume continuation",
        b'D' => "GNU dump directory",
        b'N' => "GNU old long name",
        _ => "tar entry of unknown type",
    }
}

/// The bytes of a NUL-terminated (or full-width) field; `None` if anything
/// but NULs follows the terminator.
fn name_field(f: &[u8]) -> Option<&[u8]> {
    match f.iter().position(|b| *b == 0) {
        None => Some(f),
        Some(n) => f[n..].iter().all(|b| *b == 0).then_some(&f[..n]),
    }
}

/// A numeric field exactly as the `tar` crate writes it: zero-padded octal
/// digits filling all but the last byte, then NUL.
fn octal(f: &[u8]) -> Option<u64> {
    let (last, digits) = f.split_last()?;
    if *last != 0 || digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, d| match d {
        b'0'..=b'7' => acc.checked_mul(8)?.checked_add(u64::from(d - b'0')),
        _ => None,
    })
}

/// A 12-byte size field: octal below 8^11, GNU base-256 (0x80, three zero
/// bytes, a big-endian u64) from 8^11 on.
fn numeric(f: &[u8]) -> Option<u64> {
    if f.len() != 12 {
        return None;
    }
    if f[0] & 0x80 == 0 {
        return octal(f);
    }
    if f[..4] != [0x80, 0, 0, 0] {
        return None;
    }
    let mut be = [0u8; 8];
    be.copy_from_slice(&f[4..]);
    let v = u64::from_be_bytes(be);
    (v >= BASE256_MIN).then_some(v)
}

/// Padding after `size` bytes of data, up to the next block boundary.
pub(crate) fn padding(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

/// Bytes in a tar stream taken by the header of an entry with this path: one
/// block, or, for a path longer than the name field, a GNU long-name entry
/// (a header block and the path plus NUL, padded) before it.
pub(crate) fn header_len(tar_path: &str) -> u64 {
    let n = tar_path.len() as u64;
    if n <= NAME_FIELD as u64 {
        BLOCK as u64
    } else {
        2 * BLOCK as u64 + n + 1 + padding(n + 1)
    }
}

/// The canonical header bytes of a regular file: exactly what
/// `tar::Builder::append_data` writes before the data for a GNU header with
/// this size and mode, mtime, uid = gid = 0 and empty names, including the GNU
/// long-name entry when the path does not fit in the name field. The writer
/// writes these bytes and the reader requires them, byte for byte.
pub(crate) fn header_bytes(
    tar_path: &str,
    size: u64,
    mode: u32,
    mtime: u64,
) -> io::Result<Vec<u8>> {
    match short_header(tar_path, size, mode, mtime) {
        Some(block) => Ok(block.to_vec()),
        None => crate_header_bytes(tar_path, size, mode, mtime),
    }
}

/// [`header_bytes`] of the common entry, written field by field: a path
/// that fits the name field as it is (components that are neither empty,
/// `.` nor `..`, no NUL: what `tar` would copy unchanged), octal numbers
/// (size and mtime below [`BASE256_MIN`], mode below 8^7). `None` for any
/// other entry, which [`crate_header_bytes`] writes. The `tar` crate's
/// builder cost about 7,000 instructions per header, paid twice per file on
/// 20,000 small files (writer and reader; docs/performance.md); the unit
/// test `short_headers_are_the_tar_crates` holds the two to the same bytes.
fn short_header(tar_path: &str, size: u64, mode: u32, mtime: u64) -> Option<[u8; BLOCK]> {
    let path = tar_path.as_bytes();
    let plain = !path.is_empty()
        && path.len() <= NAME_FIELD
        && !path.contains(&0)
        && path
            .split(|b| *b == b'/')
            .all(|c| !c.is_empty() && c != b"." && c != b"..");
    if !plain || size >= BASE256_MIN || mtime >= BASE256_MIN || u64::from(mode) >= 1 << 21 {
        return None;
    }
    let mut b = [0u8; BLOCK];
    b[..path.len()].copy_from_slice(path);
    octal_field(&mut b[100..108], u64::from(mode));
    octal_field(&mut b[108..116], 0); // uid
    octal_field(&mut b[116..124], 0); // gid
    octal_field(&mut b[124..136], size);
    octal_field(&mut b[136..148], mtime);
    b[156] = b'0'; // a regular file
    b[257..263].copy_from_slice(b"ustar "); // the GNU magic and version
    b[263..265].copy_from_slice(b" \0");
    // The checksum: every byte summed with its own field as eight spaces,
    // then written in octal like the other fields.
    b[148..156].fill(b' ');
    let sum: u64 = b.iter().map(|&x| u64::from(x)).sum();
    octal_field(&mut b[148..156], sum);
    Some(b)
}

/// A numeric field as the `tar` crate writes one in octal: zero-padded
/// digits, then a NUL in the last byte (`value` fits: checked by the caller).
fn octal_field(field: &mut [u8], mut value: u64) {
    if let Some((last, digits)) = field.split_last_mut() {
        *last = 0;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (value & 7) as u8;
            value >>= 3;
        }
    }
}

/// [`header_bytes`] through the `tar` crate's builder: the definition of
/// the canonical header, used for every entry [`short_header`] does not
/// write (long paths, base-256 numbers, paths `tar` would normalise).
fn crate_header_bytes(tar_path: &str, size: u64, mode: u32, mtime: u64) -> io::Result<Vec<u8>> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    let mut b = tar::Builder::new(Vec::with_capacity(
        header_len(tar_path) as usize + 2 * BLOCK,
    ));
    b.append_data(&mut h, tar_path, io::empty())?;
    // With no data, `append_data` writes the header(s) and no padding;
    // `into_inner` then adds the two end-of-archive blocks, which go.
    let mut v = b.into_inner()?;
    v.truncate(v.len().saturating_sub(2 * BLOCK));
    Ok(v)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn block(h: &tar::Header) -> [u8; BLOCK] {
        let mut b = [0u8; BLOCK];
        b.copy_from_slice(h.as_bytes());
        b
    }

    fn header_block(size: u64, mode: u32, path: &str) -> [u8; BLOCK] {
        let v = header_bytes(path, size, mode, 1_700_000_000).unwrap();
        v.as_slice().try_into().unwrap()
    }

    #[test]
    fn parses_what_the_writer_writes() {
        for size in [0, 1, 511, 512, BASE256_MIN - 1, BASE256_MIN, 1 << 40] {
            match parse(&header_block(size, 0o755, "artifacts/x"), 0).unwrap() {
                Header::Regular {
                    name,
                    size: s,
                    mode,
                } => {
                    assert_eq!(name, b"artifacts/x");
                    assert_eq!(s, size);
                    assert_eq!(mode, 0o755);
                }
                _ => panic!("not regular"),
            }
        }
    }

    #[test]
    fn refuses_bad_checksum_and_magic() {
        let mut b = header_block(1, 0o644, "a");
        b[0] = b'b';
        assert!(
            matches!(parse(&b, 3), Err(Error::TarHeader { index: 3, ref reason }) if reason == "checksum mismatch")
        );
        let mut u = tar::Header::new_ustar();
        u.set_path("a").unwrap();
        u.set_size(1);
        u.set_cksum();
        assert!(
            matches!(parse(&block(&u), 0), Err(Error::TarHeader { ref reason, .. }) if reason.contains("GNU"))
        );
    }

    #[test]
    fn refuses_non_canonical_numbers() {
        assert_eq!(octal(b"0000644\0"), Some(0o644));
        assert_eq!(octal(b"000644 \0"), None);
        assert_eq!(octal(b"0000644 "), None);
        assert_eq!(numeric(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), None);
        assert_eq!(padding(0), 0);
        assert_eq!(padding(1), 511);
        assert_eq!(padding(512), 0);
    }

    #[test]
    fn short_headers_are_the_tar_crates() {
        let mut paths: Vec<String> = (1..=101).map(|n| "p".repeat(n)).collect();
        paths.extend(
            [
                "artifacts/a",
                "artifacts/dir/file.tar.gz",
                "a//b",
                "a/./b",
                "./a",
                "a/.",
                "a/",
                "/a",
                "..",
                "a/..",
                "a/../b",
                ".",
                "é/文件",
                "a\0b",
                "-",
                " ",
                "artifacts/.hidden",
                "a/...",
                "blobs/sha256/00ff",
            ]
            .map(String::from),
        );
        paths.push(format!("{}文件", "q".repeat(94)));
        paths.push(format!("{}文件", "q".repeat(95)));
        let mut checked = 0;
        for p in &paths {
            for size in [
                0,
                1,
                511,
                512,
                0o7777_7777,
                BASE256_MIN - 1,
                BASE256_MIN,
                u64::MAX,
            ] {
                for mode in [0, 0o644, 0o755, 0o7777, 0o777_7777, 0o1000_0000] {
                    for mtime in [0, 1_796_400_000, BASE256_MIN - 1, BASE256_MIN] {
                        let want = crate_header_bytes(p, size, mode, mtime);
                        let got = header_bytes(p, size, mode, mtime);
                        match (&want, &got) {
                            (Ok(w), Ok(g)) => assert_eq!(w, g, "{p:?} {size} {mode:o} {mtime}"),
                            (Err(_), Err(_)) => {}
                            _ => panic!("{p:?} {size} {mode:o} {mtime}: {want:?} / {got:?}"),
                        }
                        checked += usize::from(short_header(p, size, mode, mtime).is_some());
                    }
                }
            }
        }
        assert!(checked > 5_000, "the fast path was taken {checked} times");
    }

    #[test]
    fn header_len_is_the_length_of_the_header_bytes() {
        let long = |n: usize| "p".repeat(n);
        let mut paths: Vec<String> = [1, 99, 100, 101, 102, 410, 411, 412, 923, 4096]
            .into_iter()
            .map(long)
            .collect();
        // A multi-byte character straddling the name field's end.
        paths.push(format!("{}文件", "q".repeat(98)));
        for p in &paths {
            let v = header_bytes(p, 5, 0o644, 0).unwrap();
            assert_eq!(header_len(p), v.len() as u64, "{} bytes", p.len());
            let kind = if p.len() > NAME_FIELD { b'L' } else { b'0' };
            assert_eq!(v[156], kind);
        }
    }
}
