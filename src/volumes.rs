//! Split bundles, on both sides of the gap: volume sizes (`--split`,
//! `--size`), cutting a bundle into signed volumes, and reading a bundle
//! given as a file or as its first volume — the volume index authenticated
//! with the manifest's keys, a volume at fault named, and on request the
//! operator asked for the next volume. The format is
//! `bundle-format/SPEC.md` section 11.
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use airlock_bundle::{
    BundleReader, EntryKind, Limits, Locator, Manifest, ManifestSignature, Signatures,
    VolumeHeader, VolumeSet, WrittenVolumes, index_signing_message, is_volume, parse_volume_path,
    plan_split, write_volumes,
};
use airlock_hsm::Signer;

use crate::error::{EXIT_REJECTED, Error};
use crate::keys::keyid;
use crate::policy::{INDEX, Rejection, check_index_signatures, check_signatures};
use crate::progress::Progress;
use crate::tuf::root::{MAX_CARRIED_ROOTS, MAX_ROOT_BYTES};
use crate::tuf::{Root, RootChain, RootError};

/// `fat32`: the largest file FAT32 can hold, 4 GiB − 1 byte.
pub const FAT32: u64 = 4_294_967_295;
/// `dvd`: a single-layer DVD±R, 2 295 104 sectors of 2048 bytes.
pub const DVD: u64 = 4_700_372_992;
/// `bd`: a single-layer BD-R, 12 219 392 sectors of 2048 bytes.
pub const BD: u64 = 25_025_314_816;

/// Parses a volume size: `fat32`, `dvd`, `bd`, or a number of bytes with an
/// optional unit — decimal `kB MB GB TB` (powers of 1000) or binary
/// `KiB MiB GiB TiB` (powers of 1024), case-insensitive, e.g. `700MB`,
/// `4.7GB`, `4GiB`. A bare `K`, `M`, `G` or `T` is refused: it is exactly
/// the ambiguity that makes a "4G" volume one byte too large for FAT32.
pub fn parse_volume_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "fat32" => return Ok(FAT32),
        "dvd" => return Ok(DVD),
        "bd" => return Ok(BD),
        _ => {}
    }
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = (&t[..split], t[split..].trim());
    let unit_bytes: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "k" | "m" | "g" | "t" => {
            return Err(format!(
                "{s:?} is ambiguous: say {number}{u}B (powers of 1000) or {number}{u}iB \
                 (powers of 1024); for FAT32 media use fat32 (4 GiB - 1 byte)",
                u = unit.to_ascii_uppercase()
            ));
        }
        _ => {
            return Err(format!(
                "{s:?} is not a size: give bytes, or a number with kB, MB, GB, TB, KiB, \
                 MiB, GiB or TiB, or fat32, dvd or bd"
            ));
        }
    };
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits_ok = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits_ok(whole) || !digits_ok(frac) || frac.len() > 12 {
        return Err(format!("{s:?} is not a size"));
    }
    let too_big = || format!("{s:?} is too large");
    let whole: u64 = whole.parse().map_err(|_| too_big())?;
    let mut bytes = whole.checked_mul(unit_bytes).ok_or_else(too_big)?;
    if !frac.is_empty() {
        let scale = 10u128.pow(frac.len() as u32);
        let f: u128 = frac.parse::<u128>().map_err(|_| too_big())? * u128::from(unit_bytes);
        if !f.is_multiple_of(scale) {
            return Err(format!("{s:?} is not a whole number of bytes"));
        }
        let f = u64::try_from(f / scale).map_err(|_| too_big())?;
        bytes = bytes.checked_add(f).ok_or_else(too_big)?;
    }
    if bytes == 0 {
        return Err("a volume size must be more than 0 bytes".into());
    }
    Ok(bytes)
}

/// What to warn about a volume size given as `spec` (parsed to `size`):
/// sizes that do not fit the media their name suggests. The command line
/// prints them.
pub fn size_warnings(spec: &str, size: u64) -> Vec<String> {
    let mut warnings = Vec::new();
    if size == 1 << 32 {
        warnings.push(
            "4 GiB volumes are one byte too large for FAT32 (at most 4 GiB - 1): \
             use fat32 for FAT32 media"
                .to_owned(),
        );
    }
    // The disc presets are whole discs; a file system on the disc takes
    // room too (measured with xorriso -iso-level 3 and genisoimage -udf:
    // 183 to 424 sectors of 2048 bytes for one large file).
    let disc = match spec.trim().to_ascii_lowercase().as_str() {
        "dvd" => Some("4699MB"),
        "bd" => Some("25024MB"),
        _ => None,
    };
    if let Some(fits) = disc {
        warnings.push(format!(
            "{} is the whole disc ({size} bytes): a full volume leaves no room for the disc's \
             file system (ISO 9660 or UDF). To burn volumes as files, use --split {fits}; \
             see docs/transfers.md",
            spec.trim()
        ));
    }
    warnings
}

/// Signs a volume index with every signer, as the manifest is signed.
pub fn sign_index(signers: &[Box<dyn Signer>], index_bytes: &[u8]) -> Result<Signatures, Error> {
    let msg = index_signing_message(index_bytes);
    let sigs = signers
        .iter()
        .map(|s| {
            Ok(ManifestSignature {
                keyid: keyid(s.public_key()),
                sig: s.sign(&msg)?,
            })
        })
        .collect::<Result<Vec<_>, airlock_hsm::Error>>()?;
    Ok(Signatures(sigs))
}

/// What becomes of the bundle a split cuts into volumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitSource {
    /// Left as it was (`airlock split`).
    Keep,
    /// Truncated as it is cut, so the disk never holds it twice (pack's
    /// temporary bundle).
    Consume,
}

/// Cuts the finished bundle at `bundle` (manifest id `bundle_id`, head frame
/// `head_len` bytes) into volumes `OUT.001`, … of at most `volume_size`
/// bytes, the index signed by `signers`; `source` says whether the bundle
/// is kept.
#[allow(clippy::too_many_arguments)]
pub fn split_bundle_file(
    bundle: &Path,
    bundle_id: &str,
    head_len: u64,
    out: &Path,
    volume_size: u64,
    signers: &[Box<dyn Signer>],
    source: SplitSource,
    progress: &dyn Progress,
) -> Result<WrittenVolumes, Error> {
    let limits = Limits::default();
    let len = std::fs::metadata(bundle)
        .map_err(|e| Error::input(bundle, e))?
        .len();
    let plan = plan_split(len, head_len, volume_size, signers.len(), &limits)?;
    progress.start("split", len);
    let first = std::sync::Once::new();
    let consume = source == SplitSource::Consume;
    let unsigned = write_volumes(bundle, bundle_id, &plan, out, consume, &limits, &|n| {
        progress.advance(n);
        first.call_once(|| airlock_hsm::fault::point("split-first-bytes-written"));
    });
    progress.finish();
    let unsigned = unsigned?;
    let signatures = sign_index(signers, unsigned.index_bytes())?;
    Ok(unsigned.finish(&signatures)?)
}

/// What the isolated side reads a bundle from: a bundle file, or the
/// volumes of a split bundle given by its first volume.
pub struct BundleInput {
    /// The bundle's length (for a split bundle, its volumes' slices).
    pub size: u64,
    reader: Option<Box<dyn Read + Send>>,
    set: Option<VolumeSet>,
    /// For a bundle file: a second handle on the same open file, to read
    /// it again from a later payload frame (a resumed import).
    again: Option<std::fs::File>,
}

impl std::fmt::Debug for BundleInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleInput")
            .field("size", &self.size)
            .field("volumes", &self.set)
            .finish_non_exhaustive()
    }
}

impl BundleInput {
    /// Opens `path`: a bundle, or the first volume of a split one (told
    /// apart by their first bytes). With `locator`, a volume that is not
    /// beside the previous one is asked for (`unpack --prompt`: the
    /// command line asks on the terminal).
    pub fn open(path: &Path, locator: Option<Locator>) -> Result<BundleInput, Error> {
        // Without blocking: a FIFO is refused below, not waited on.
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(path)
            .map_err(|e| Error::input(path, e))?;
        let meta = file.metadata().map_err(|e| Error::input(path, e))?;
        if !meta.is_file() {
            return Err(Error::usage(
                format!("{} is not a regular file", path.display()),
                "give the bundle file (for a split bundle, its first volume)",
            ));
        }
        let mut magic = Vec::with_capacity(16);
        (&mut file)
            .take(16)
            .read_to_end(&mut magic)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .map_err(|e| Error::input(path, e))?;
        // A volume by its signature — or by its name, when the signature is
        // what got damaged (a zstd magic means a bundle file).
        let looks_like_volume = is_volume(&magic)
            || (!magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) && parse_volume_path(path).is_some());
        if !looks_like_volume {
            return Ok(BundleInput {
                size: meta.len(),
                again: file.try_clone().ok(),
                reader: Some(Box::new(file)),
                set: None,
            });
        }
        drop(file);
        let mut set = VolumeSet::open(path, Limits::default(), locator)?;
        let reader = Box::new(set.stream()?);
        Ok(BundleInput {
            size: set.index().bundle_len(),
            reader: Some(reader),
            set: Some(set),
            again: None,
        })
    }

    /// The bytes of the bundle (once).
    pub fn take_reader(&mut self) -> Box<dyn Read + Send> {
        self.reader
            .take()
            .unwrap_or_else(|| Box::new(std::io::empty()))
    }

    /// A handle to read a bundle file again from any offset (it shares
    /// the first handle's position: use it only once that one is done
    /// with); `None` for a split bundle (read again with
    /// [`VolumeSet::stream_from`] of [`BundleInput::volumes`]).
    pub fn reopener(&mut self) -> Option<std::fs::File> {
        self.again.take()
    }

    /// The volume set, for a split bundle.
    pub fn volumes(&self) -> Option<&VolumeSet> {
        self.set.as_ref()
    }

    /// Authenticates a split bundle's volume index with the final root that
    /// verified `manifest` (the same keys and threshold) and lets the volumes
    /// be read; see [`VolumeSet::authenticated`]. Nothing to do for a file.
    pub fn authenticate(&self, root: &Root, manifest: &Manifest) -> Result<(), Error> {
        let Some(set) = &self.set else { return Ok(()) };
        let h = set.header();
        check_index_signatures(root, h.index_bytes(), &h.signatures)?;
        set.authenticated(&manifest.bundle_id)?;
        Ok(())
    }

    /// A refusal, blamed on the volume at fault when there is one: the
    /// volume the stream failed on, or the one it was reading if that volume
    /// turns out not to match the index. Refusals that damaged bytes cannot
    /// explain (expiry, rollback, replay, floors, directed bundles: decided
    /// on the verified manifest) and non-refusals are left as they are.
    pub fn diagnose(&self, e: Error) -> Error {
        let Some(set) = &self.set else { return e };
        let unexplained = match &e {
            // Decided on the verified manifest.
            Error::Rejected(
                Rejection::Expired { .. }
                | Rejection::Rollback { .. }
                | Rejection::Replay { .. }
                | Rejection::BelowFloor { .. }
                | Rejection::NotForThisEnclave { .. },
            ) => false,
            // About the index in the header, which no slice digest covers.
            Error::Rejected(
                Rejection::ManifestThreshold { signed, .. }
                | Rejection::UnknownSigner { signed, .. }
                | Rejection::BadSignature { signed, .. },
            ) if *signed == INDEX => false,
            // Already a volume's fault (except an I/O error the stream
            // passed on as the bundle's: the stream recorded the volume).
            Error::Bundle(b) => {
                e.exit_code() == EXIT_REJECTED
                    && b.volume().is_none()
                    && b.code() != "volume-index-mismatch"
            }
            e => e.exit_code() == EXIT_REJECTED,
        };
        if !unexplained {
            return e;
        }
        set.diagnose().map_or(e, Error::from)
    }
}

/// Authenticates the index in `header` from the head of the first volume at
/// `path`: the roots it carries advance `anchor_root` to the final root
/// (unexpired at `time`), whose targets keys must have signed the manifest
/// and the index, which must name the manifest's bundle. Returns the keyids
/// that signed the index. For `volumes check`; `verify` and `unpack` do the
/// same inside the full verification.
pub fn authenticate_from_first_volume(
    path: &Path,
    header: &VolumeHeader,
    anchor_root: Root,
    time: u64,
) -> Result<Vec<String>, Error> {
    let mut f = File::open(path).map_err(|e| Error::input(path, e))?;
    f.seek(SeekFrom::Start(header.index.header_len))
        .map_err(|e| Error::input(path, e))?;
    let mut reader = BundleReader::open(f.take(header.entry().size), Limits::default())?;
    let roots: Vec<u64> = reader
        .manifest()
        .metadata()
        .iter()
        .filter(|e| e.kind == EntryKind::Root)
        .map(|e| e.size)
        .collect();
    if roots.len() > MAX_CARRIED_ROOTS {
        return Err(RootError::TooManyRotations.into());
    }
    if let Some(big) = roots.iter().find(|s| **s > MAX_ROOT_BYTES as u64) {
        return Err(RootError::TooLarge {
            size: usize::try_from(*big).unwrap_or(usize::MAX),
            limit: MAX_ROOT_BYTES,
        }
        .into());
    }
    let mut chain = RootChain::new(anchor_root);
    for _ in &roots {
        if let Some(m) = reader.next_metadata()? {
            chain.offer(Root::parse(&m.bytes)?, m.bytes)?;
        }
    }
    let (final_root, _) = chain.finish(time)?;
    check_signatures(&final_root, reader.manifest_bytes(), reader.signatures())?;
    let signers = check_index_signatures(&final_root, header.index_bytes(), &header.signatures)?;
    if header.index.bundle_id != reader.manifest().bundle_id {
        return Err(airlock_bundle::Error::VolumeIndexMismatch {
            index: header.index.bundle_id.clone(),
            manifest: reader.manifest().bundle_id.clone(),
        }
        .into());
    }
    Ok(signers)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn presets() {
        assert_eq!(parse_volume_size("fat32"), Ok(4_294_967_295));
        assert_eq!(parse_volume_size("FAT32"), Ok(FAT32));
        assert_eq!(parse_volume_size("dvd"), Ok(4_700_372_992));
        assert_eq!(parse_volume_size("bd"), Ok(25_025_314_816));
        // The presets are whole 2048-byte sectors (DVD and BD), and FAT32's
        // is 4 GiB less one byte.
        assert_eq!(DVD % 2048, 0);
        assert_eq!(BD % 2048, 0);
        assert_eq!(FAT32, (4u64 << 30) - 1);
    }

    #[test]
    fn decimal_and_binary_units() {
        let ok = |s: &str| parse_volume_size(s).unwrap();
        assert_eq!(ok("700MB"), 700_000_000);
        assert_eq!(ok("700mb"), 700_000_000);
        assert_eq!(ok("700 MB"), 700_000_000);
        assert_eq!(ok("4GiB"), 4_294_967_296);
        assert_eq!(ok("4gib"), 1 << 32);
        assert_eq!(ok("1MiB"), 1_048_576);
        assert_eq!(ok("1kB"), 1000);
        assert_eq!(ok("1KiB"), 1024);
        assert_eq!(ok("2TB"), 2_000_000_000_000);
        assert_eq!(ok("1TiB"), 1 << 40);
        assert_eq!(ok("4.7GB"), 4_700_000_000);
        assert_eq!(ok("0.5MiB"), 524_288);
        assert_eq!(ok("1048576"), 1_048_576);
        assert_eq!(ok("123B"), 123);
        // 4 GiB is one byte over the FAT32 limit; fat32 is not.
        assert_eq!(ok("4GiB") - ok("fat32"), 1);
    }

    #[test]
    fn refusals() {
        for bad in [
            "",
            "0",
            "0MB",
            "G",
            "4G",
            "4g",
            "700M",
            "1K",
            "1T",
            "-1",
            "1.2.3MB",
            ".5GB",
            "4 GiBs",
            "4XB",
            "1.5",
            "1.0000001kB",
            "fat",
            "18446744073709551616",
            "20000000TB",
        ] {
            assert!(parse_volume_size(bad).is_err(), "{bad:?} accepted");
        }
        let e = parse_volume_size("4G").unwrap_err();
        assert!(
            e.contains("4GB") && e.contains("4GiB") && e.contains("fat32"),
            "{e}"
        );
    }
}
