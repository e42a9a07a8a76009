//! Split volumes (SPEC.md section 11): the volume header every volume
//! starts with, the signed volume index it carries, volume file names, and
//! the arithmetic that decides how many volumes a bundle needs and how
//! large each one is.
//!
//! A volume file is `header ‖ slice`: the header (fixed fields, the index
//! and its signatures, zero padding to the signed `header_len`) and then
//! the next `size` bytes of the bundle. The index lists every volume's
//! slice size and SHA-256 and the bundle id; it is signed like the manifest
//! (by the caller: this crate knows no keys) over
//! [`index_signing_message`]. Every volume carries the same index, so any
//! one of them can be identified and checked on its own.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::cbor::Enc;
use crate::error::{Error, excerpt};
use crate::limits::Limits;
use crate::manifest::{MAX_SIG_BYTES, Signatures, from_cbor};

/// The first 16 bytes of every volume. Like PNG's signature, it has a byte
/// with the high bit set and a CR LF, LF and ^Z, so a copy that strips the
/// eighth bit or converts line endings is caught at the first bytes.
pub const VOLUME_MAGIC: [u8; 16] = *b"\x89airlock-vol\r\n\x1a\n";

/// The only volume index format version.
pub const VOLUME_FORMAT: u32 = 1;

/// Bytes before the index: magic, `header_len`, volume number, index length.
const FIXED: u64 = 16 + 4 + 4 + 4;

/// The length field of the signatures.
const SIG_LEN: u64 = 4;

/// Domain separator of the index signing message.
const INDEX_CONTEXT: &[u8] = b"airlock-volume-index-v1\n";

/// The exact bytes a signer signs for a volume index:
/// `"airlock-volume-index-v1\n" ‖ SHA-256(index_bytes)`. The prefix keeps a
/// manifest signature from ever passing as an index signature, and back.
pub fn index_signing_message(index_bytes: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(INDEX_CONTEXT.len() + 32);
    m.extend_from_slice(INDEX_CONTEXT);
    m.extend_from_slice(&Sha256::digest(index_bytes));
    m
}

/// One volume as the index describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeEntry {
    /// Bundle bytes the volume carries after its header (its slice).
    pub size: u64,
    /// SHA-256 of those bytes.
    pub sha256: [u8; 32],
}

/// The signed list of a bundle's volumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeIndex {
    /// The bundle id of the manifest the volumes carry.
    pub bundle_id: String,
    /// Length of every volume's header, padding included.
    pub header_len: u64,
    /// The volumes, in order; volume `k` is `volumes[k - 1]`.
    pub volumes: Vec<VolumeEntry>,
}

impl VolumeIndex {
    /// How many volumes there are.
    pub fn count(&self) -> u32 {
        u32::try_from(self.volumes.len()).unwrap_or(u32::MAX)
    }

    /// The length of volume `number`'s file (header and slice).
    pub fn file_len(&self, number: u32) -> u64 {
        self.volumes
            .get((number as usize).wrapping_sub(1))
            .map_or(0, |v| self.header_len.saturating_add(v.size))
    }

    /// The sum of all volume file lengths.
    pub fn total_file_len(&self) -> u64 {
        (1..=self.count()).fold(0u64, |a, k| a.saturating_add(self.file_len(k)))
    }

    /// The bundle's length: the sum of the slices.
    pub fn bundle_len(&self) -> u64 {
        self.volumes
            .iter()
            .fold(0u64, |a, v| a.saturating_add(v.size))
    }

    /// The canonical CBOR encoding: these are the bytes that are signed.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc(Vec::with_capacity(96 + 48 * self.volumes.len()));
        e.map(4);
        e.text("format");
        e.uint(u64::from(VOLUME_FORMAT));
        e.text("bundle_id");
        e.text(&self.bundle_id);
        e.text("header_len");
        e.uint(self.header_len);
        e.text("volumes");
        e.array(self.volumes.len());
        for v in &self.volumes {
            e.map(2);
            e.text("size");
            e.uint(v.size);
            e.text("sha256");
            e.bytes(&v.sha256);
        }
        e.0
    }

    /// Decodes and checks untrusted index bytes: one canonical CBOR item,
    /// no unknown, missing or duplicate fields, and the rules of SPEC.md
    /// 11.3. Errors are [`Error::VolumeIndex`].
    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<VolumeIndex, Error> {
        let bad = Error::VolumeIndex;
        let wire: WireIndex = from_cbor(bytes).map_err(bad)?;
        if wire.format != VOLUME_FORMAT {
            return Err(bad(format!(
                "format version {} is not supported (only {VOLUME_FORMAT})",
                wire.format
            )));
        }
        let index = VolumeIndex {
            bundle_id: wire.bundle_id,
            header_len: wire.header_len,
            volumes: wire
                .volumes
                .into_iter()
                .map(|v| VolumeEntry {
                    size: v.size,
                    sha256: v.sha256.into_array(),
                })
                .collect(),
        };
        index.validate(limits)?;
        if index.encode() != bytes {
            return Err(bad("not canonically encoded".into()));
        }
        Ok(index)
    }

    fn validate(&self, limits: &Limits) -> Result<(), Error> {
        let bad = |m: String| Err(Error::VolumeIndex(m));
        let id_ok = self.bundle_id.len() == 32
            && self
                .bundle_id
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !id_ok {
            return bad(format!(
                "bundle id {} is not 32 lowercase hex digits",
                excerpt(&self.bundle_id)
            ));
        }
        let n = self.volumes.len();
        if n == 0 || n > limits.max_volumes as usize {
            return bad(format!(
                "{n} volumes; 1 to {} are allowed",
                limits.max_volumes
            ));
        }
        let max_header = header_reserve(limits.max_volumes, limits.max_signatures);
        if self.header_len > max_header {
            return bad(format!(
                "header_len {} exceeds the largest header ({max_header})",
                self.header_len
            ));
        }
        let full = self.volumes[0].size;
        let mut total = 0u64;
        for (i, v) in self.volumes.iter().enumerate() {
            let last = i + 1 == n;
            if v.size == 0 || (!last && v.size != full) || v.size > full {
                return bad(format!(
                    "volume {} has {} bytes; every volume but the last holds the same \
                     number of bytes, and the last 1 to that many",
                    i + 1,
                    v.size
                ));
            }
            total = total
                .checked_add(v.size)
                .and_then(|t| t.checked_add(self.header_len))
                .ok_or_else(|| Error::VolumeIndex("the volume sizes overflow".into()))?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireIndex {
    format: u32,
    bundle_id: String,
    header_len: u64,
    volumes: Vec<WireVolume>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireVolume {
    size: u64,
    sha256: serde_bytes::ByteArray<32>,
}

// ---- the header -------------------------------------------------------------

/// Length of a CBOR head for the value `n` (RFC 8949 preferred serialization).
fn cbor_head_len(n: u64) -> u64 {
    match n {
        0..24 => 1,
        24..0x100 => 2,
        0x100..0x1_0000 => 3,
        0x1_0000..0x1_0000_0000 => 5,
        _ => 9,
    }
}

/// The header length a writer reserves for `volumes` volumes signed by
/// `signers` keys: the fixed fields, the longest index of that many volumes
/// (every integer in its 9-byte form) and the longest signatures entry of
/// that many signatures (each [`MAX_SIG_BYTES`] long). See SPEC.md 11.4.
pub fn header_reserve(volumes: u32, signers: usize) -> u64 {
    let n = u64::from(volumes);
    let s = signers as u64;
    // {"format": 1, "bundle_id": 32 hex, "header_len": u64,
    //  "volumes": [{"size": u64, "sha256": 32 bytes}, ...]}
    let index = 1
        + (1 + 6)
        + 1
        + (1 + 9)
        + (2 + 32)
        + (1 + 10)
        + 9
        + (1 + 7)
        + cbor_head_len(n)
        + n * (1 + (1 + 4) + 9 + (1 + 6) + (2 + 32));
    // [{"keyid": 64 hex, "sig": 1024 bytes}, ...]
    let sig = MAX_SIG_BYTES as u64;
    let sigs = cbor_head_len(s) + s * (1 + (1 + 5) + (2 + 64) + (1 + 3) + cbor_head_len(sig) + sig);
    FIXED + index + SIG_LEN + sigs
}

/// The header of volume `number`: fixed fields, index, signatures, zeros
/// up to `header_len`. `None` if they do not fit in `header_len` bytes.
pub(crate) fn header_bytes(
    number: u32,
    header_len: u64,
    index_bytes: &[u8],
    sig_bytes: &[u8],
) -> Option<Vec<u8>> {
    let used = FIXED + index_bytes.len() as u64 + SIG_LEN + sig_bytes.len() as u64;
    let len = u32::try_from(header_len).ok()?;
    if used > header_len {
        return None;
    }
    let mut h = Vec::with_capacity(len as usize);
    h.extend_from_slice(&VOLUME_MAGIC);
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(&number.to_be_bytes());
    h.extend_from_slice(&u32::try_from(index_bytes.len()).ok()?.to_be_bytes());
    h.extend_from_slice(index_bytes);
    h.extend_from_slice(&u32::try_from(sig_bytes.len()).ok()?.to_be_bytes());
    h.extend_from_slice(sig_bytes);
    h.resize(len as usize, 0);
    Some(h)
}

/// Whether `prefix` (the first bytes of a file) starts like a volume.
pub fn is_volume(prefix: &[u8]) -> bool {
    prefix.starts_with(&VOLUME_MAGIC)
}

/// A volume header as read, before its index is decoded.
pub(crate) struct RawHeader {
    pub(crate) number: u32,
    pub(crate) header_len: u64,
    pub(crate) index_bytes: Vec<u8>,
    pub(crate) sig_bytes: Vec<u8>,
}

/// Why a header could not be read.
pub(crate) enum HeaderError {
    /// The input failed.
    Io(io::Error),
    /// The file ends inside the header, after `0` bytes.
    Short(u64),
    /// Anything else, with the reason.
    Malformed(String),
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> Result<usize, io::Error> {
    let mut at = 0;
    while at < buf.len() {
        match r.read(&mut buf[at..]) {
            Ok(0) => break,
            Ok(n) => at += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(at)
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Reads a volume header from the start of `r`, bounded by the largest
/// header `limits` allow; checks its framing and zero padding. The index
/// and signatures are returned undecoded.
pub(crate) fn read_raw_header(r: &mut dyn Read, limits: &Limits) -> Result<RawHeader, HeaderError> {
    let mut fixed = [0u8; FIXED as usize];
    let got = read_full(r, &mut fixed).map_err(HeaderError::Io)?;
    if !fixed[..got].starts_with(&VOLUME_MAGIC[..got.min(16)]) {
        return Err(HeaderError::Malformed(
            "it does not start with the airlock volume signature".into(),
        ));
    }
    if got < fixed.len() {
        return Err(HeaderError::Short(got as u64));
    }
    let header_len = u64::from(be32(&fixed[16..20]));
    let number = be32(&fixed[20..24]);
    let index_len = u64::from(be32(&fixed[24..28]));
    let max = header_reserve(limits.max_volumes, limits.max_signatures);
    if header_len > max || header_len < FIXED + SIG_LEN + index_len {
        return Err(HeaderError::Malformed(format!(
            "header length {header_len} is impossible (index {index_len} bytes, largest header {max})"
        )));
    }
    let mut rest = vec![0u8; (header_len - FIXED) as usize];
    let got = read_full(r, &mut rest).map_err(HeaderError::Io)?;
    if got < rest.len() {
        return Err(HeaderError::Short(FIXED + got as u64));
    }
    let (index_bytes, rest) = rest.split_at(index_len as usize);
    let sig_len = u64::from(be32(rest));
    let rest = &rest[SIG_LEN as usize..];
    if sig_len > rest.len() as u64 {
        return Err(HeaderError::Malformed(format!(
            "signatures of {sig_len} bytes do not fit in the header"
        )));
    }
    let (sig_bytes, padding) = rest.split_at(sig_len as usize);
    if padding.iter().any(|b| *b != 0) {
        return Err(HeaderError::Malformed(
            "the header's padding is not all zero".into(),
        ));
    }
    Ok(RawHeader {
        number,
        header_len,
        index_bytes: index_bytes.to_vec(),
        sig_bytes: sig_bytes.to_vec(),
    })
}

/// A volume's header, read and checked.
#[derive(Clone, Debug)]
pub struct VolumeHeader {
    /// Which volume this is, from 1.
    pub number: u32,
    /// The index it carries (not authenticated: verify
    /// [`signatures`](Self::signatures) over [`index_signing_message`] of
    /// [`index_bytes`](Self::index_bytes)).
    pub index: VolumeIndex,
    /// The signatures over the index.
    pub signatures: Signatures,
    index_bytes: Vec<u8>,
    sig_bytes: Vec<u8>,
}

impl VolumeHeader {
    /// Decodes a raw header: index, signatures, and their agreement with
    /// the header's fields. Returns the reason on failure.
    pub(crate) fn from_raw(raw: RawHeader, limits: &Limits) -> Result<VolumeHeader, String> {
        let index = VolumeIndex::decode(&raw.index_bytes, limits).map_err(|e| e.to_string())?;
        let signatures = Signatures::decode(&raw.sig_bytes, limits).map_err(|e| e.to_string())?;
        if index.header_len != raw.header_len {
            return Err(format!(
                "the header is {} bytes but its index says {}",
                raw.header_len, index.header_len
            ));
        }
        if raw.number == 0 || raw.number > index.count() {
            return Err(format!(
                "it calls itself volume {} of {}",
                raw.number,
                index.count()
            ));
        }
        Ok(VolumeHeader {
            number: raw.number,
            index,
            signatures,
            index_bytes: raw.index_bytes,
            sig_bytes: raw.sig_bytes,
        })
    }

    /// The exact index bytes, for [`index_signing_message`].
    pub fn index_bytes(&self) -> &[u8] {
        &self.index_bytes
    }

    /// Whether `other` carries byte for byte the same index and signatures.
    pub fn same_set(&self, other: &VolumeHeader) -> bool {
        self.index_bytes == other.index_bytes && self.sig_bytes == other.sig_bytes
    }

    /// This volume's entry in the index.
    pub fn entry(&self) -> &VolumeEntry {
        &self.index.volumes[self.number as usize - 1]
    }
}

/// Reads and checks the header of the volume file at `path`. Errors name
/// the volume by the number in the file's name (`NAME.003`: 3), 0 if it has
/// none (see [`Error::volume`]).
pub fn read_volume_header(path: &Path, limits: &Limits) -> Result<VolumeHeader, Error> {
    // Until the header says, the name is the best guess at the number.
    let number = parse_volume_path(path).map_or(0, |(_, n, _)| n);
    let mut f = File::open(path).map_err(|source| Error::VolumeRead {
        number,
        count: 0,
        path: path.to_owned(),
        source,
    })?;
    header_from(&mut f, path, number, 0, limits)
}

/// Reads the header of the file `path` expected to be volume `number` of
/// `count` (each 0 when unknown) from `r`, mapping failures to volume errors.
pub(crate) fn header_from(
    r: &mut dyn Read,
    path: &Path,
    number: u32,
    count: u32,
    limits: &Limits,
) -> Result<VolumeHeader, Error> {
    let corrupt = |reason: String| Error::VolumeCorrupt {
        number,
        count,
        path: path.to_owned(),
        reason,
    };
    let raw = read_raw_header(r, limits).map_err(|e| match e {
        HeaderError::Io(source) => Error::VolumeRead {
            number,
            count,
            path: path.to_owned(),
            source,
        },
        HeaderError::Short(found) => Error::VolumeTruncated {
            number,
            count,
            path: path.to_owned(),
            expected: 0,
            found,
        },
        HeaderError::Malformed(m) => corrupt(format!("its volume header is malformed: {m}")),
    })?;
    VolumeHeader::from_raw(raw, limits)
        .map_err(|m| corrupt(format!("its volume header is malformed: {m}")))
}

// ---- names ------------------------------------------------------------------

/// Digits in the volume numbers of a set of `count` volumes: at least three
/// (`.001`), more when the count needs them.
pub fn name_width(count: u32) -> usize {
    count.to_string().len().max(3)
}

/// `base` with `.NNN` appended: the file name of volume `number`.
pub fn volume_path(base: &Path, number: u32, width: usize) -> PathBuf {
    let mut s = OsString::from(base.as_os_str());
    s.push(format!(".{number:0width$}"));
    PathBuf::from(s)
}

/// Splits `path` into the base and the volume number if its name ends in
/// `.` and digits: `rel.airlock.003` → (`rel.airlock`, 3, width 3).
pub fn parse_volume_path(path: &Path) -> Option<(PathBuf, u32, usize)> {
    let name = path.file_name()?.to_str()?;
    let (stem, digits) = name.rsplit_once('.')?;
    if stem.is_empty() || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number = digits.parse().ok()?;
    Some((path.with_file_name(stem), number, digits.len()))
}

// ---- the split arithmetic ---------------------------------------------------

/// How a bundle is cut into volumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitPlan {
    /// Every volume's header length.
    pub header_len: u64,
    /// Bundle bytes in each volume, in order.
    pub sizes: Vec<u64>,
}

impl SplitPlan {
    /// The length of volume `number`'s file (from 1).
    pub fn file_len(&self, number: u32) -> u64 {
        self.header_len + self.sizes[number as usize - 1]
    }

    /// How many volumes.
    pub fn count(&self) -> u32 {
        u32::try_from(self.sizes.len()).unwrap_or(u32::MAX)
    }
}

/// Plans the volumes for a bundle of `bundle_len` bytes whose head frame is
/// `head_len` bytes, in files of at most `volume_size` bytes, signed by
/// `signers` keys (SPEC.md 11.4): the fewest volumes `n` such that `n`
/// slices of `volume_size − header_reserve(n, signers)` bytes hold the
/// bundle; every volume but the last is then exactly `volume_size` bytes.
///
/// Refused with [`Error::SplitSize`]: a size that cannot hold a header,
/// whose first volume cannot hold the whole head frame, or that needs more
/// than `limits.max_volumes` volumes.
pub fn plan_split(
    bundle_len: u64,
    head_len: u64,
    volume_size: u64,
    signers: usize,
    limits: &Limits,
) -> Result<SplitPlan, Error> {
    let refuse = |reason: String| Error::SplitSize {
        volume_size,
        reason,
    };
    if signers > limits.max_signatures {
        return Err(Error::Misuse("more signers than the limit on signatures"));
    }
    let mut n: u32 = 1;
    loop {
        let header_len = header_reserve(n, signers);
        let slice = volume_size.saturating_sub(header_len);
        // The first volume holds the whole head frame (unless one volume
        // holds everything), so the index can be authenticated from it alone.
        let minimum = header_len + head_len.min(bundle_len);
        if n == 1 && (slice == 0 || (bundle_len > slice && slice < head_len)) {
            return Err(refuse(format!(
                "the first volume must hold the {header_len}-byte volume header and the \
                 bundle's {head_len}-byte head; use at least {minimum} bytes"
            )));
        }
        if slice == 0 || slice < head_len {
            return Err(refuse(format!(
                "it is too small for this {bundle_len}-byte bundle: the volume header grows \
                 with the number of volumes ({header_len} bytes for {n}); use a larger size"
            )));
        }
        if u64::from(n) * slice >= bundle_len {
            let full = (n as usize).saturating_sub(1);
            let mut sizes = vec![slice; full];
            sizes.push(bundle_len - u64::from(n - 1) * slice);
            return Ok(SplitPlan { header_len, sizes });
        }
        // Fewer than ceil(len / slice) volumes cannot do: the slices only
        // shrink as the count (and so the index) grows.
        let next = bundle_len.div_ceil(slice).max(u64::from(n) + 1);
        if next > u64::from(limits.max_volumes) {
            return Err(refuse(format!(
                "the bundle ({bundle_len} bytes) would need {next} or more volumes; \
                 at most {} are allowed",
                limits.max_volumes
            )));
        }
        n = next as u32;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::manifest::ManifestSignature;

    /// The largest index and signatures, encoded for real, have exactly the
    /// lengths `header_reserve` computes in closed form.
    #[test]
    fn reserve_is_the_longest_encoding() {
        for n in [1u32, 2, 23, 24, 255, 256, 9999] {
            for s in [0usize, 1, 2, 23, 24, 32] {
                let index = VolumeIndex {
                    bundle_id: "0".repeat(32),
                    header_len: u64::MAX,
                    volumes: vec![
                        VolumeEntry {
                            size: u64::MAX,
                            sha256: [0; 32]
                        };
                        n as usize
                    ],
                };
                let sigs = Signatures(
                    (0..s)
                        .map(|i| ManifestSignature {
                            keyid: format!("{i:064x}"),
                            sig: vec![0; MAX_SIG_BYTES],
                        })
                        .collect(),
                );
                let want =
                    FIXED + index.encode().len() as u64 + SIG_LEN + sigs.encode().len() as u64;
                assert_eq!(header_reserve(n, s), want, "n={n} s={s}");
            }
        }
        // The figure SPEC.md 11.4 works through.
        assert_eq!(header_reserve(3, 1), 1387);
    }

    fn plan(len: u64, head: u64, size: u64) -> Result<SplitPlan, Error> {
        plan_split(len, head, size, 1, &Limits::default())
    }

    /// The plan's invariants, for any bundle and size it accepts.
    fn check(p: &SplitPlan, len: u64, size: u64) {
        let n = p.count();
        assert_eq!(p.header_len, header_reserve(n, 1));
        assert_eq!(p.sizes.iter().sum::<u64>(), len);
        for k in 1..=n {
            assert!(p.file_len(k) <= size, "volume {k} over the limit");
            assert!(p.sizes[k as usize - 1] > 0);
            if k < n {
                assert_eq!(p.file_len(k), size, "volume {k} not full");
            }
        }
        // The fewest volumes: one fewer cannot hold the bundle.
        if n > 1 {
            let fewer = u64::from(n - 1) * size.saturating_sub(header_reserve(n - 1, 1));
            assert!(fewer < len, "{} volumes would do", n - 1);
        }
    }

    #[test]
    fn fat32_volumes_never_reach_4_gib() {
        const FAT32: u64 = 4_294_967_295;
        for len in [
            1_000,
            FAT32 - 1387,
            FAT32 - 1386,
            FAT32,
            FAT32 + 1,
            10 << 30,
            3 * (FAT32 - 1387),
            3 * (FAT32 - 1387) + 1,
            1 << 40,
        ] {
            let p = plan(len, 500, FAT32).unwrap();
            check(&p, len, FAT32);
            assert!((1..=p.count()).all(|k| p.file_len(k) <= FAT32));
        }
        // 10 GiB: three volumes, the first two exactly 4 GiB - 1 byte.
        let p = plan(10 << 30, 500, FAT32).unwrap();
        assert_eq!(p.count(), 3);
        assert_eq!(p.header_len, 1387);
        assert_eq!(p.sizes[..2], [FAT32 - 1387, FAT32 - 1387]);
        assert_eq!(p.sizes[2], (10u64 << 30) - 2 * (FAT32 - 1387));
        // The figures SPEC.md 11.4 gives.
        assert_eq!(p.sizes[0], 4_294_965_908);
        assert_eq!(p.sizes[2], 2_147_486_424);
        assert_eq!(p.file_len(3), 2_147_487_811);
        // A bundle that exactly fills one FAT32 volume stays one volume;
        // one more byte makes two.
        assert_eq!(header_reserve(1, 1), 1275);
        assert_eq!(plan(FAT32 - 1275, 500, FAT32).unwrap().count(), 1);
        assert_eq!(plan(FAT32 - 1274, 500, FAT32).unwrap().count(), 2);
    }

    #[test]
    fn presets_and_small_sizes() {
        for size in [4_700_372_992u64, 25_025_314_816, 1 << 20, 700_000_000] {
            for len in [1u64, 5 << 20, 50 << 30, 123_456_789_012] {
                match plan(len, 1, size) {
                    Ok(p) => check(&p, len, size),
                    Err(Error::SplitSize { .. }) => {
                        assert!(len.div_ceil(size) > 9000, "{len} / {size}");
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }
        // Exhaustive over small bundles with a small volume size, up to the
        // largest bundle such volumes can hold (the header grows by 56 bytes
        // a volume, so n volumes of 3000 bytes hold at most ~14 000 bytes).
        let mut largest = 0;
        for len in 1..15_000 {
            match plan(len, 1, 3000) {
                Ok(p) => {
                    check(&p, len, 3000);
                    largest = len;
                }
                Err(e) => assert!(e.to_string().contains("too small"), "{len}: {e}"),
            }
        }
        assert!(largest > 14_000, "{largest}");
    }

    #[test]
    fn refusals() {
        // No room for the header.
        assert!(matches!(plan(10, 1, 1000), Err(Error::SplitSize { .. })));
        // The head does not fit in the first volume.
        let e = plan(1 << 20, 200_000, 100_000).unwrap_err();
        assert!(e.to_string().contains("at least 201275"), "{e}");
        assert_eq!(e.code(), "split-size");
        // But a bundle that fits in one volume needs no room beyond itself.
        assert_eq!(plan(3000, 3000, 4279).unwrap().count(), 1);
        // Too many volumes.
        let e = plan(1 << 40, 1, 1 << 20).unwrap_err();
        assert!(e.to_string().contains("at most 9999"), "{e}");
    }

    #[test]
    fn names() {
        assert_eq!(name_width(5), 3);
        assert_eq!(name_width(999), 3);
        assert_eq!(name_width(1000), 4);
        let p = volume_path(Path::new("/m/rel.airlock"), 7, 3);
        assert_eq!(p, Path::new("/m/rel.airlock.007"));
        assert_eq!(
            parse_volume_path(&p),
            Some((PathBuf::from("/m/rel.airlock"), 7, 3))
        );
        assert_eq!(parse_volume_path(Path::new("rel.airlock")), None);
        assert_eq!(parse_volume_path(Path::new(".001")), None);
        assert_eq!(parse_volume_path(Path::new("a.0x1")), None);
    }

    #[test]
    fn index_round_trip_and_refusals() {
        let l = Limits::default();
        let index = VolumeIndex {
            bundle_id: "ab".repeat(16),
            header_len: 1387,
            volumes: vec![
                VolumeEntry {
                    size: 5,
                    sha256: [1; 32],
                },
                VolumeEntry {
                    size: 3,
                    sha256: [2; 32],
                },
            ],
        };
        let bytes = index.encode();
        assert_eq!(VolumeIndex::decode(&bytes, &l).unwrap(), index);
        let refused = |i: &VolumeIndex| VolumeIndex::decode(&i.encode(), &l).unwrap_err().code();
        let mut bad = index.clone();
        bad.volumes[1].size = 6;
        assert_eq!(refused(&bad), "volume-index-malformed");
        bad.volumes[1].size = 0;
        assert_eq!(refused(&bad), "volume-index-malformed");
        let mut bad = index.clone();
        bad.volumes.push(VolumeEntry {
            size: 3,
            sha256: [3; 32],
        });
        assert_eq!(refused(&bad), "volume-index-malformed");
        let mut bad = index.clone();
        bad.bundle_id = "AB".repeat(16);
        assert_eq!(refused(&bad), "volume-index-malformed");
        let mut bad = index.clone();
        bad.volumes.clear();
        assert_eq!(refused(&bad), "volume-index-malformed");
        // Trailing bytes, and a non-shortest integer.
        let mut t = bytes.clone();
        t.push(0);
        assert!(VolumeIndex::decode(&t, &l).is_err());
        let at = bytes
            .windows(11)
            .position(|w| w == b"\x6aheader_len")
            .unwrap()
            + 11;
        let mut long = bytes[..at].to_vec();
        long.extend_from_slice(&[0x1a, 0, 0, 0x05, 0x6b]);
        long.extend_from_slice(&bytes[at + 3..]);
        assert_eq!(
            VolumeIndex::decode(&long, &l).unwrap_err().to_string(),
            "volume index is malformed: not canonically encoded"
        );
    }

    #[test]
    fn header_round_trip() {
        let l = Limits::default();
        let index = VolumeIndex {
            bundle_id: "cd".repeat(16),
            header_len: header_reserve(1, 0),
            volumes: vec![VolumeEntry {
                size: 9,
                sha256: [4; 32],
            }],
        };
        let sigs = Signatures::default();
        let h = header_bytes(1, index.header_len, &index.encode(), &sigs.encode()).unwrap();
        assert_eq!(h.len() as u64, index.header_len);
        assert!(is_volume(&h));
        let raw = read_raw_header(&mut &h[..], &l).ok().unwrap();
        let v = VolumeHeader::from_raw(raw, &l).unwrap();
        assert_eq!(v.number, 1);
        assert_eq!(v.index, index);
        // Too small a header length for the contents.
        assert!(header_bytes(1, 40, &index.encode(), &sigs.encode()).is_none());
        // Padding must be zero.
        let mut p = h.clone();
        *p.last_mut().unwrap() = 1;
        assert!(matches!(
            read_raw_header(&mut &p[..], &l),
            Err(HeaderError::Malformed(_))
        ));
    }
}
