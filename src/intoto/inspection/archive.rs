//! What `tar -x` would extract, computed from the archive's bytes without
//! writing anything: a small pull parser over the (decompressed) tar
//! stream, bounded by [`ArchiveLimits`], that hashes every regular member
//! and refuses what it will not emulate (links, devices, absolute or `..`
//! names, sparse files, over-limit archives) rather than follow it.
//!
//! Formats read: V7, ustar (with `prefix`), GNU (`L` long names) and pax
//! (`x` records `path` and `size`; a `g` header is accepted only without
//! those keys). Compression as GNU tar 1.34 reads it: with `-z`/`-J`/
//! `--zstd` that decoder; with none, a first block that is a valid tar
//! header means no compression, else gzip, xz or zstd by magic bytes
//! (bzip2, compress, lzip, lzma and lzop are not evaluated).
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};

use sha2::{Digest, Sha256};

use super::ContentError;

/// The compression a `tar` command line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Compression {
    /// No option: GNU tar detects it.
    Detect,
    /// `-z`, `--gzip`.
    Gzip,
    /// `-J`, `--xz`.
    Xz,
    /// `--zstd`.
    Zstd,
}

impl Compression {
    /// The option as shown.
    pub fn option(self) -> &'static str {
        match self {
            Compression::Detect => "",
            Compression::Gzip => "-z",
            Compression::Xz => "-J",
            Compression::Zstd => "--zstd",
        }
    }
}

/// Hard bounds on one archive (crafted archives are refused with
/// `inspection-archive-unsafe`).
#[derive(Debug, Clone, Copy)]
pub struct ArchiveLimits {
    /// Headers (members and extension headers).
    pub members: u64,
    /// Decompressed bytes read, padding and trailing data included.
    pub bytes: u64,
    /// Bytes of one member name (after long-name and pax records).
    pub name: usize,
    /// Bytes of one GNU long-name or pax extension header.
    pub extension: u64,
    /// Bytes of all member names together (what the listing holds):
    /// without it, 100,000 names of 4096 bytes would be 400 MB.
    pub names: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            members: 100_000,
            bytes: 64 << 30,
            name: 4096,
            extension: 64 << 10,
            names: 16 << 20,
        }
    }
}

/// The regular files and directories an archive extracts (normalized
/// relative paths; a later member of the same path replaces an earlier one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Regular files and their SHA-256.
    pub files: BTreeMap<String, [u8; 32]>,
    /// Directories named by a member.
    pub dirs: BTreeSet<String>,
}

fn unsafe_(s: impl Into<String>) -> ContentError {
    ContentError::Unsafe(s.into())
}
/// Most memory the xz (and legacy lzma) decoder may use: a stream that
/// needs more is refused, as one the zstd decoder's window limit refuses.
const XZ_MEMLIMIT: u64 = 128 << 20;

fn failed(s: impl Into<String>) -> ContentError {
    ContentError::Failed(s.into())
}
fn unevaluable(s: impl Into<String>) -> ContentError {
    ContentError::Unevaluable(s.into())
}

/// Counts and bounds the decompressed bytes read.
struct Counted<R> {
    inner: R,
    read: u64,
    limit: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::other(OverLimit));
        }
        Ok(n)
    }
}

#[derive(Debug)]
struct OverLimit;
impl std::fmt::Display for OverLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("over the decompressed-size limit")
    }
}
impl std::error::Error for OverLimit {}

fn io_error(what: &str, e: io::Error, limits: &ArchiveLimits) -> ContentError {
    if e.get_ref().is_some_and(|i| i.is::<OverLimit>()) {
        unsafe_(format!(
            "the archive decompresses to more than {} bytes",
            limits.bytes
        ))
    } else {
        failed(format!("{what}: {e}"))
    }
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` at a clean end of stream
/// before the first byte.
fn read_block(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "unexpected end of archive",
                ));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Whether `block` is a tar header with a valid checksum (unsigned or
/// signed sum, as GNU tar accepts).
fn checksum_ok(block: &[u8; 512]) -> bool {
    let Some(want) = octal(&block[148..156]) else {
        return false;
    };
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += i64::from(b);
        signed += i64::from(b as i8);
    }
    i64::try_from(want).is_ok_and(|w| w == unsigned || w == signed)
}

/// An octal field (leading spaces, terminated by NUL or space), or GNU
/// base-256 (first byte 0x80).
fn octal(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        if field[0] != 0x80 {
            return None; // negative or too large
        }
        let mut v: u64 = 0;
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let s = field
        .iter()
        .skip_while(|b| **b == b' ')
        .take_while(|b| **b != 0 && **b != b' ');
    // An empty field reads as 0.
    let mut v: u64 = 0;
    for &b in s {
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

fn cstr(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    &field[..end]
}

/// pax records `LEN key=value\n`.
fn pax_records(data: &[u8]) -> Result<Vec<(String, Vec<u8>)>, ContentError> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if rest.iter().all(|b| *b == 0) {
            break;
        }
        let sp = rest
            .iter()
            .position(|b| *b == b' ')
            .ok_or_else(|| failed("malformed pax extended header"))?;
        let len: usize = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|l| *l > sp + 1 && *l <= rest.len())
            .ok_or_else(|| failed("malformed pax record length"))?;
        let rec = &rest[sp + 1..len];
        let rec = rec
            .strip_suffix(b"\n")
            .ok_or_else(|| failed("malformed pax record"))?;
        let eq = rec
            .iter()
            .position(|b| *b == b'=')
            .ok_or_else(|| failed("malformed pax record"))?;
        let key = String::from_utf8_lossy(&rec[..eq]).into_owned();
        out.push((key, rec[eq + 1..].to_vec()));
        rest = &rest[len..];
    }
    Ok(out)
}

/// The normalized relative path a member extracts to, or the refusal.
fn member_path(raw: &[u8], limits: &ArchiveLimits) -> Result<String, ContentError> {
    if raw.len() > limits.name {
        return Err(unsafe_(format!(
            "a member name is {} bytes, over the {}-byte limit",
            raw.len(),
            limits.name
        )));
    }
    let name = std::str::from_utf8(raw).map_err(|_| unevaluable("a member name is not UTF-8"))?;
    let shown = crate::excerpt(name);
    if name.is_empty() {
        return Err(failed("a member has an empty name"));
    }
    if name.starts_with('/') {
        return Err(unsafe_(format!("member {shown} has an absolute name")));
    }
    if name.split('/').any(|c| c == "..") {
        return Err(unsafe_(format!("member {shown} has a `..` component")));
    }
    if name.contains('\\') || name.chars().any(char::is_control) {
        return Err(unevaluable(format!(
            "member {shown} has a backslash or control character in its name"
        )));
    }
    Ok(crate::intoto::record::normpath(name))
}

fn skip(r: &mut dyn Read, n: u64) -> io::Result<()> {
    let copied = io::copy(&mut r.take(n), &mut io::sink())?;
    if copied < n {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "unexpected end of archive",
        ));
    }
    Ok(())
}

fn padding(size: u64) -> u64 {
    (512 - size % 512) % 512
}

/// Reads the extension header's data (bounded).
fn read_extension(
    r: &mut dyn Read,
    size: u64,
    limits: &ArchiveLimits,
) -> Result<Vec<u8>, ContentError> {
    if size > limits.extension {
        return Err(unsafe_(format!(
            "an extension header is {size} bytes, over the {}-byte limit",
            limits.extension
        )));
    }
    let mut data = vec![0u8; usize::try_from(size).unwrap_or(0)];
    if !data.is_empty() && !read_block(r, &mut data).map_err(|e| io_error("tar", e, limits))? {
        return Err(failed("unexpected end of archive"));
    }
    skip(r, padding(size)).map_err(|e| io_error("tar", e, limits))?;
    Ok(data)
}

/// Lists the tar stream `r` (already decompressed).
fn list_tar(r: &mut dyn Read, limits: &ArchiveLimits) -> Result<Listing, ContentError> {
    let mut listing = Listing::default();
    let mut headers = 0u64;
    let mut names = 0u64;
    let mut long_name: Option<Vec<u8>> = None;
    let mut pax: Option<Vec<(String, Vec<u8>)>> = None;
    let mut block = [0u8; 512];
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let got = match read_block(r, &mut block) {
            Ok(got) => got,
            // GNU tar takes a header block cut short after the first one
            // for the end of the archive (exit 0); the first one is not
            // an archive (exit 2).
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && headers > 0 => false,
            Err(e) => return Err(io_error("tar", e, limits)),
        };
        if !got {
            if long_name.is_some() || pax.is_some() {
                return Err(failed("the archive ends after an extension header"));
            }
            break;
        }
        if block.iter().all(|b| *b == 0) {
            // End of archive (GNU tar stops at the first zero block too).
            if long_name.is_some() || pax.is_some() {
                return Err(failed("the archive ends after an extension header"));
            }
            break;
        }
        headers += 1;
        if headers > limits.members {
            return Err(unsafe_(format!(
                "the archive has more than {} members",
                limits.members
            )));
        }
        if !checksum_ok(&block) {
            return Err(failed(
                "a tar header checksum is wrong (tar: skipping to next header, exit 2)",
            ));
        }
        let typeflag = block[156];
        let mut size =
            octal(&block[124..136]).ok_or_else(|| failed("a member size is malformed"))?;
        let mode = octal(&block[100..108]).ok_or_else(|| failed("a member mode is malformed"))?;
        match typeflag {
            b'L' => {
                if long_name.is_some() {
                    return Err(failed("two long names for one member"));
                }
                let data = read_extension(r, size, limits)?;
                long_name = Some(cstr(&data).to_vec());
                continue;
            }
            b'x' => {
                if pax.is_some() {
                    return Err(failed("two pax headers for one member"));
                }
                let data = read_extension(r, size, limits)?;
                pax = Some(pax_records(&data)?);
                continue;
            }
            b'g' => {
                let data = read_extension(r, size, limits)?;
                if let Some((k, _)) = pax_records(&data)?
                    .into_iter()
                    .find(|(k, _)| k == "path" || k == "size" || k.starts_with("GNU.sparse"))
                {
                    return Err(unevaluable(format!(
                        "a global pax header sets `{}`",
                        crate::excerpt(&k)
                    )));
                }
                continue;
            }
            _ => {}
        }
        // The member's name: pax `path`, else GNU long name, else ustar
        // prefix/name, else the V7 name.
        let mut raw: Vec<u8> = if let Some(n) = long_name.take() {
            n
        } else {
            let name = cstr(&block[0..100]);
            if &block[257..263] == b"ustar\0" && block[345] != 0 {
                let mut p = cstr(&block[345..500]).to_vec();
                p.push(b'/');
                p.extend_from_slice(name);
                p
            } else {
                name.to_vec()
            }
        };
        if let Some(records) = pax.take() {
            for (k, v) in records {
                match k.as_str() {
                    "path" => raw = v,
                    "size" => {
                        size = std::str::from_utf8(&v)
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .ok_or_else(|| failed("a pax size is malformed"))?;
                    }
                    k if k.starts_with("GNU.sparse") => {
                        return Err(unevaluable("the archive holds a sparse member"));
                    }
                    _ => {}
                }
            }
        }
        let path = member_path(&raw, limits)?;
        names += path.len() as u64;
        if names > limits.names {
            return Err(unsafe_(format!(
                "the archive's member names take more than {} bytes",
                limits.names
            )));
        }
        let shown = crate::excerpt(&path);
        match typeflag {
            b'0' | 0 | b'7' => {
                if raw.ends_with(b"/") {
                    return Err(unevaluable(format!(
                        "regular member {shown} has a name ending in `/`"
                    )));
                }
                if path == "." {
                    return Err(failed("a regular member extracts to `.`"));
                }
                if mode & 0o400 == 0 {
                    return Err(unevaluable(format!(
                        "member {shown} is not readable by its owner (mode {mode:o})"
                    )));
                }
                let mut h = Sha256::new();
                let mut left = size;
                while left > 0 {
                    let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
                    let n = r
                        .read(&mut buf[..want])
                        .map_err(|e| io_error("tar", e, limits))?;
                    if n == 0 {
                        return Err(failed("unexpected end of archive"));
                    }
                    h.update(&buf[..n]);
                    left -= n as u64;
                }
                skip(r, padding(size)).map_err(|e| io_error("tar", e, limits))?;
                listing.files.insert(path, h.finalize().into());
            }
            b'5' => {
                if mode & 0o500 != 0o500 {
                    return Err(unevaluable(format!(
                        "directory {shown} cannot be listed by its owner (mode {mode:o})"
                    )));
                }
                skip(r, size + padding(size)).map_err(|e| io_error("tar", e, limits))?;
                if path != "." {
                    listing.dirs.insert(path);
                }
            }
            b'1' => return Err(unsafe_(format!("member {shown} is a hard link"))),
            b'2' | b'K' => return Err(unsafe_(format!("member {shown} is a symbolic link"))),
            b'3' | b'4' | b'6' => {
                return Err(unsafe_(format!("member {shown} is a device or FIFO")));
            }
            b'S' => return Err(unevaluable(format!("member {shown} is a sparse file"))),
            other => {
                return Err(unevaluable(format!(
                    "member {shown} has type {:?}, which is not evaluated",
                    char::from(other)
                )));
            }
        }
    }
    Ok(listing)
}

/// Which decoder GNU tar would use for the archive starting with `head`.
fn detect(head: &[u8]) -> Result<Compression, ContentError> {
    if let Ok(block) = <&[u8; 512]>::try_from(head.get(..512).unwrap_or(&[]))
        && checksum_ok(block)
    {
        return Ok(Compression::Detect);
    }
    let starts = |m: &[u8]| head.starts_with(m);
    if starts(b"\x1f\x8b") {
        Ok(Compression::Gzip)
    } else if starts(b"\xfd7zXZ\0") {
        Ok(Compression::Xz)
    } else if starts(b"\x28\xb5\x2f\xfd") {
        Ok(Compression::Zstd)
    } else if starts(b"BZh")
        || starts(b"\x1f\x9d")
        || starts(b"LZIP")
        || starts(b"]\0\0")
        || starts(b"\x89LZO")
    {
        Err(unevaluable(
            "the archive is compressed with bzip2, compress, lzip, lzma or lzop, which airlock does not decompress",
        ))
    } else {
        Ok(Compression::Detect)
    }
}

/// Lists the archive read from `r` as `tar -x` with `compression` would
/// extract it. The whole compressed stream must decode (trailing data
/// after the tar end marker is read and must be valid too).
pub fn list(
    r: &mut dyn Read,
    compression: Compression,
    limits: &ArchiveLimits,
) -> Result<Listing, ContentError> {
    let mut head = Vec::with_capacity(512);
    r.take(512)
        .read_to_end(&mut head)
        .map_err(|e| failed(format!("cannot read the archive: {e}")))?;
    if head.is_empty() {
        // GNU tar: an empty file is not an archive; an empty input to
        // gzip, xz or zstd is a truncated stream (exit 2).
        return Err(failed("the archive is empty (tar exits 2)"));
    }
    let chosen = match compression {
        Compression::Detect => detect(&head)?,
        c => c,
    };
    let source = io::Cursor::new(head).chain(r);
    let decoder: Box<dyn Read> = match chosen {
        Compression::Detect => Box::new(source),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(source)),
        Compression::Xz => {
            // liblzma's own multi-stream decoder has no memory limit: a
            // crafted header may ask for a dictionary of GiBs. xz -9 needs
            // 65 MiB to decode.
            let stream = liblzma::stream::Stream::new_auto_decoder(
                XZ_MEMLIMIT,
                liblzma::stream::CONCATENATED,
            )
            .map_err(|e| failed(format!("xz: {e}")))?;
            Box::new(liblzma::read::XzDecoder::new_stream(source, stream))
        }
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::new(source).map_err(|e| failed(format!("zstd: {e}")))?,
        ),
    };
    let mut counted = Counted {
        inner: decoder,
        read: 0,
        limit: limits.bytes,
    };
    let listing = list_tar(&mut counted, limits)?;
    if chosen != Compression::Detect {
        // The rest of the compressed stream must decode.
        io::copy(&mut counted, &mut io::sink())
            .map_err(|e| io_error("decompressing", e, limits))?;
    }
    Ok(listing)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tarball(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in members {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    /// A legacy `.lzma` header (what `tar -xJf` also decodes) asking for a
    /// 1.5 GiB dictionary is refused before anything is allocated.
    #[test]
    fn an_xz_stream_asking_for_too_much_memory_is_refused() {
        let mut crafted = vec![0x5d, 0x00, 0x00, 0x00, 0x60];
        crafted.extend([0xff; 8]);
        crafted.extend([0u8; 64]);
        let e = list(
            &mut crafted.as_slice(),
            Compression::Xz,
            &ArchiveLimits::default(),
        )
        .unwrap_err();
        let shown = format!("{e:?}").to_lowercase();
        assert!(shown.contains("mem"), "{shown}");
    }

    #[test]
    fn lists_members_with_their_digests() {
        let t = tarball(&[("./src/a.c", b"a"), ("src/b.c", b"b"), ("src/a.c", b"A")]);
        let l = list(
            &mut t.as_slice(),
            Compression::Detect,
            &ArchiveLimits::default(),
        )
        .unwrap();
        assert_eq!(l.files.keys().collect::<Vec<_>>(), ["src/a.c", "src/b.c"]);
        assert_eq!(l.files["src/a.c"], <[u8; 32]>::from(Sha256::digest(b"A")));
    }

    #[test]
    fn member_count_and_name_limits_hold() {
        let t = tarball(&[("a", b"1"), ("b", b"2"), ("c", b"3")]);
        let few = ArchiveLimits {
            members: 2,
            ..Default::default()
        };
        assert!(matches!(
            list(&mut t.as_slice(), Compression::Detect, &few),
            Err(ContentError::Unsafe(_))
        ));
        let long = "n/".repeat(60) + "end";
        let t = tarball(&[(long.as_str(), b"1")]);
        let short = ArchiveLimits {
            name: 100,
            ..Default::default()
        };
        assert!(matches!(
            list(&mut t.as_slice(), Compression::Detect, &short),
            Err(ContentError::Unsafe(_))
        ));
        let tight = ArchiveLimits {
            extension: 64,
            ..Default::default()
        };
        assert!(matches!(
            list(&mut t.as_slice(), Compression::Detect, &tight),
            Err(ContentError::Unsafe(_))
        ));
        // The names together: three names of 1 byte fit in 3, not in 2.
        let t = tarball(&[("a", b"1"), ("b", b"2"), ("c", b"3")]);
        let names = |n| ArchiveLimits {
            names: n,
            ..Default::default()
        };
        assert!(list(&mut t.as_slice(), Compression::Detect, &names(3)).is_ok());
        assert!(matches!(
            list(&mut t.as_slice(), Compression::Detect, &names(2)),
            Err(ContentError::Unsafe(ref m)) if m.contains("member names")
        ));
    }

    #[test]
    fn what_gnu_tar_fails_on_fails() {
        // Checked against GNU tar 1.34: an empty file (with or without a
        // decompressor), a member cut short, a bad header checksum.
        let l = ArchiveLimits::default();
        for c in [
            Compression::Detect,
            Compression::Gzip,
            Compression::Xz,
            Compression::Zstd,
        ] {
            assert!(matches!(
                list(&mut &b""[..], c, &l),
                Err(ContentError::Failed(_))
            ));
        }
        let t = tarball(&[("a", &[1u8; 1000])]);
        assert!(matches!(
            list(&mut &t[..700], Compression::Detect, &l),
            Err(ContentError::Failed(_))
        ));
        let mut bad = t.clone();
        bad[0] ^= 1;
        assert!(matches!(
            list(&mut bad.as_slice(), Compression::Detect, &l),
            Err(ContentError::Failed(_))
        ));
        // Ending at a header boundary without the zero blocks is accepted
        // (tar exits 0), as is stopping at the first zero block.
        assert!(list(&mut &t[..1536], Compression::Detect, &l).is_ok());
    }

    #[test]
    fn zstd_is_detected_and_limits_hold() {
        let t = tarball(&[("a", &[7u8; 5000])]);
        let z = zstd::encode_all(t.as_slice(), 3).unwrap();
        assert!(
            list(
                &mut z.as_slice(),
                Compression::Detect,
                &ArchiveLimits::default()
            )
            .is_ok()
        );
        assert!(matches!(
            list(
                &mut z.as_slice(),
                Compression::Gzip,
                &ArchiveLimits::default()
            ),
            Err(ContentError::Failed(_))
        ));
        let small = ArchiveLimits {
            bytes: 1024,
            ..Default::default()
        };
        assert!(matches!(
            list(&mut z.as_slice(), Compression::Zstd, &small),
            Err(ContentError::Unsafe(_))
        ));
    }

    /// GNU tar itself is the reference: each archive is extracted with it
    /// into an empty directory; where airlock lists the archive, tar must
    /// succeed and extract exactly those files with those bytes; where
    /// airlock says the command fails, tar must fail too. (Data after the
    /// end of a compressed stream, which gzip ignores when it is zeros, is
    /// where airlock is stricter: docs/supply-chain.md.)
    #[test]
    fn listings_agree_with_gnu_tar() {
        use std::process::Command;
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        let long = format!("{}/{}", "d".repeat(90), "f".repeat(90));
        std::fs::create_dir_all(src.join(&long).parent().unwrap()).unwrap();
        std::fs::write(src.join(&long), b"long").unwrap();
        std::fs::create_dir_all(src.join("a/b")).unwrap();
        std::fs::write(src.join("a/b/c.txt"), b"c").unwrap();
        std::fs::write(src.join("a/x.link"), b"excluded").unwrap();
        std::fs::write(src.join("top"), vec![7u8; 3000]).unwrap();
        let make = |args: &[&str]| -> Vec<u8> {
            let out = d.path().join("made");
            let st = Command::new("tar")
                .args(args)
                .arg("-cf")
                .arg(&out)
                .arg("-C")
                .arg(&src)
                .args(["a", "top", "d".repeat(90).as_str()])
                .status()
                .unwrap();
            assert!(st.success(), "{args:?}");
            std::fs::read(&out).unwrap()
        };
        let plain = make(&["--format=gnu"]);
        let mut cases: Vec<(&str, Vec<u8>, Compression)> = vec![
            ("gnu", plain.clone(), Compression::Detect),
            ("pax", make(&["--format=pax"]), Compression::Detect),
            ("ustar", make(&["--format=ustar"]), Compression::Detect),
            ("gzip", make(&["--format=gnu", "-z"]), Compression::Gzip),
            (
                "gzip detected",
                make(&["--format=gnu", "-z"]),
                Compression::Detect,
            ),
            ("xz", make(&["--format=pax", "-J"]), Compression::Xz),
            (
                "zstd detected",
                make(&["--format=pax", "--zstd"]),
                Compression::Detect,
            ),
            ("gzip asked, plain given", plain.clone(), Compression::Gzip),
            (
                "truncated in a member",
                plain[..700].to_vec(),
                Compression::Detect,
            ),
            ("empty", Vec::new(), Compression::Detect),
            ("only zeros", vec![0; 10240], Compression::Detect),
        ];
        let mut flipped = plain.clone();
        flipped[600] ^= 0x40; // in the second header's name
        cases.push(("bad second checksum", flipped, Compression::Detect));
        let mut twice = tarball(&[("same", b"one"), ("same", b"two")]);
        twice.extend_from_slice(&[0; 1024]);
        cases.push(("a member twice", twice, Compression::Detect));
        let big = tarball(&[("big", &[1u8; 5000])]);
        cases.push((
            "cut inside a member's data",
            big[..2000].to_vec(),
            Compression::Detect,
        ));
        let mut lone = tarball(&[("first", b"1")]);
        lone.extend_from_slice(&[0; 512]);
        lone.extend_from_slice(&tarball(&[("after", b"2")]));
        cases.push(("a lone zero block", lone, Compression::Detect));
        let mut concatenated = make(&["--format=gnu", "-J"]);
        let xz_empty = {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
            std::io::Write::write_all(&mut e, b"").unwrap();
            e.finish().unwrap()
        };
        concatenated.extend_from_slice(&xz_empty);
        cases.push(("xz streams", concatenated, Compression::Xz));
        for (what, bytes, c) in cases {
            let dir = tempfile::tempdir().unwrap();
            let archive = dir.path().join("archive");
            std::fs::write(&archive, &bytes).unwrap();
            let x = dir.path().join("x");
            std::fs::create_dir(&x).unwrap();
            let mut tar = Command::new("tar");
            tar.current_dir(&x).arg("-x");
            match c {
                Compression::Detect => {}
                Compression::Gzip => {
                    tar.arg("-z");
                }
                Compression::Xz => {
                    tar.arg("-J");
                }
                Compression::Zstd => {
                    tar.arg("--zstd");
                }
            }
            let out = tar.arg("-f").arg(&archive).output().unwrap();
            let ours = list(&mut bytes.as_slice(), c, &ArchiveLimits::default());
            match ours {
                Ok(listing) => {
                    assert!(out.status.success(), "{what}: airlock lists it, tar fails");
                    let extracted = crate::intoto::record::record_artifacts(
                        &x,
                        &[".".to_owned()],
                        &Default::default(),
                    )
                    .unwrap();
                    let want: Vec<(String, String)> = listing
                        .files
                        .iter()
                        .filter(|(p, _)| !crate::intoto::record::excluded_by_default(p))
                        .map(|(p, h)| (p.clone(), hex::encode(h)))
                        .collect();
                    let got: Vec<(String, String)> = extracted
                        .iter()
                        .map(|(p, d)| (p.to_owned(), d.get("sha256").unwrap().into_owned()))
                        .collect();
                    assert_eq!(got, want, "{what}");
                }
                Err(ContentError::Failed(e)) => {
                    assert!(
                        !out.status.success(),
                        "{what}: airlock fails it ({e}), tar extracts it"
                    );
                }
                Err(e) => panic!("{what}: refused: {e:?}"),
            }
        }
    }
}
