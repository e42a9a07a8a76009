//! Reading a split bundle: its volumes, in order, as one stream (SPEC.md
//! 11.6), with nothing written anywhere and nothing reassembled.
//!
//! [`VolumeSet::open`] reads the first volume's header and hands out a
//! [`VolumeStream`], an `io::Read` of the bundle's bytes that a
//! [`BundleReader`](crate::BundleReader) reads like a bundle file. The
//! stream checks each volume as it reaches it — header, number, bundle,
//! length — and hashes its bytes; at the end of each volume it compares the
//! digest with the index *before* it passes on any byte of the next one, so
//! a damaged volume is named no later than the moment the stream would
//! leave it. Until the caller has authenticated the index
//! ([`VolumeSet::authenticated`]), the stream does not leave the first
//! volume, which holds everything needed to authenticate it.
//!
//! When anything fails while a volume is being read, [`VolumeSet::diagnose`]
//! says whether that volume is damaged, so the error can name it.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest, Sha256};

use crate::error::{Error, excerpt};
use crate::limits::Limits;
use crate::volume::{VolumeHeader, VolumeIndex, header_from, name_width, parse_volume_path};

/// Asked where a volume is when it is not where the reader looked: gets the
/// volume wanted, returns a file or directory to look in, or `None` to give
/// up (the volume is then [`Error::VolumeMissing`]). For `unpack --prompt`:
/// asking for the next disc when a bundle spans several.
pub type Locator = Box<dyn FnMut(&Wanted) -> Option<PathBuf> + Send>;

/// A volume the reader is looking for.
#[derive(Clone, Debug)]
pub struct Wanted {
    /// Its number, from 1.
    pub number: u32,
    /// How many volumes there are.
    pub count: u32,
    /// Where it was looked for (beside the previous volume).
    pub path: PathBuf,
}

/// How the volume files are named: `base_name` + `.` + the number in
/// `width` digits, in the directory the previous volume was found in.
#[derive(Clone, Debug)]
struct Naming {
    base_name: OsString,
    width: usize,
}

impl Naming {
    fn name(&self, number: u32) -> OsString {
        let mut s = self.base_name.clone();
        s.push(format!(".{number:0w$}", w = self.width));
        s
    }
}

/// What the stream is doing, shared with the [`VolumeSet`] for diagnosis.
struct Shared {
    /// The volume being read (from 1), 0 once all are read.
    current: u32,
    /// Its file.
    path: PathBuf,
    /// Slice bytes of it passed on so far, and their hash.
    consumed: u64,
    hasher: Sha256,
    /// The first error the stream reported.
    failure: Option<Error>,
    /// Whether the caller has authenticated the index.
    authenticated: bool,
}

/// The fixed facts of a set, shared by the set and its stream.
struct SetInfo {
    first: VolumeHeader,
    first_path: PathBuf,
    naming: Naming,
    limits: Limits,
    prompting: bool,
}

impl SetInfo {
    fn index(&self) -> &VolumeIndex {
        &self.first.index
    }

    fn count(&self) -> u32 {
        self.first.index.count()
    }

    /// Checks that the open file `f` at `path` is volume `number` of this
    /// set: its header (identical index and signatures, the right number),
    /// then its length. Leaves `f` at the start of the slice.
    fn check_file(&self, f: &mut File, path: &Path, number: u32) -> Result<(), Error> {
        let count = self.count();
        let expected = self.index().file_len(number);
        let header = header_from(f, path, number, count, &self.limits).map_err(|e| match e {
            // Cut inside its header: the index does say how long it should be.
            Error::VolumeTruncated { found, .. } => Error::VolumeTruncated {
                number,
                count,
                path: path.to_owned(),
                expected,
                found,
            },
            e => e,
        })?;
        check_same_set(
            &header,
            &self.first,
            path,
            (number, count),
            "the first volume's",
        )?;
        if header.number != number {
            return Err(Error::VolumeOutOfOrder {
                number,
                count,
                found: header.number,
                path: path.to_owned(),
            });
        }
        let found = f
            .metadata()
            .map_err(|source| Error::VolumeRead {
                number,
                count,
                path: path.to_owned(),
                source,
            })?
            .len();
        check_length(&header, path, found)
    }

    /// Refuses a file that would be volume `count + 1` beside `volume`.
    fn check_no_extra(&self, volume: &Path) -> Result<(), Error> {
        let count = self.count();
        let extra = volume.with_file_name(self.naming.name(count + 1));
        if fs::symlink_metadata(&extra).is_ok() {
            return Err(Error::VolumeExtra { count, path: extra });
        }
        Ok(())
    }
}

/// The error for a file given as the first volume whose header names
/// volume `header.number` (not 1), at fault as SPEC.md 11.6 step 1 says.
///
/// The operator's mistake ([`Error::VolumeNotFirst`]) only when the file is
/// what its header says: named as a later volume, or, unnamed, an intact
/// later volume (its slice matches that volume's digest in the index). A
/// file named as volume 1 is the carrier's: an intact later volume under
/// that name is [`Error::VolumeOutOfOrder`]; anything else — a volume 1
/// whose header was edited — is [`Error::VolumeCorrupt`], named as volume
/// 1. Only this error path reads the slice (one volume at most).
fn not_first(
    file: &mut File,
    path: &Path,
    header: &VolumeHeader,
    named: Option<u32>,
    first: PathBuf,
) -> Error {
    let count = header.index.count();
    if matches!(named, Some(n) if n != 1) {
        return Error::VolumeNotFirst {
            number: header.number,
            count,
            path: path.to_owned(),
            first,
        };
    }
    if is_intact(file, header) {
        return match named {
            Some(_) => Error::VolumeOutOfOrder {
                number: 1,
                count,
                found: header.number,
                path: path.to_owned(),
            },
            None => Error::VolumeNotFirst {
                number: header.number,
                count,
                path: path.to_owned(),
                first,
            },
        };
    }
    Error::VolumeCorrupt {
        number: 1,
        count,
        path: path.to_owned(),
        reason: format!(
            "it was given as the first volume and its header calls it volume {}, \
             but it is not that volume of the set (its slice does not match the index)",
            header.number
        ),
    }
}

/// Checks that `header` (of the file `path`, taken as volume `number`) is
/// of the same set as `first`: the same bundle, the same signed index.
/// `first_name` names `first` in the error.
fn check_same_set(
    header: &VolumeHeader,
    first: &VolumeHeader,
    path: &Path,
    (number, count): (u32, u32),
    first_name: &str,
) -> Result<(), Error> {
    if header.index.bundle_id != first.index.bundle_id {
        return Err(Error::VolumeForeign {
            number,
            count,
            path: path.to_owned(),
            expected: first.index.bundle_id.clone(),
            found: excerpt(&header.index.bundle_id),
        });
    }
    if !header.same_set(first) {
        return Err(Error::VolumeCorrupt {
            number,
            count,
            path: path.to_owned(),
            reason: format!("its volume header differs from {first_name}"),
        });
    }
    Ok(())
}

/// Checks that the file `path` of `found` bytes is as long as the index
/// says volume `header.number` is.
fn check_length(header: &VolumeHeader, path: &Path, found: u64) -> Result<(), Error> {
    let (number, count) = (header.number, header.index.count());
    let expected = header.index.file_len(number);
    if found < expected {
        return Err(Error::VolumeTruncated {
            number,
            count,
            path: path.to_owned(),
            expected,
            found,
        });
    }
    if found > expected {
        return Err(Error::VolumeCorrupt {
            number,
            count,
            path: path.to_owned(),
            reason: format!("it has {found} bytes; the volume index says {expected}"),
        });
    }
    Ok(())
}

/// Checks one volume file on its own, as a [`VolumeSet`] checks each volume
/// it reads (SPEC.md 11.6), for checking volumes one at a time as media
/// are inserted (`airlock volumes check`): its header; against `first`
/// (the header of a volume of the set already checked, with its file) the
/// same bundle and the same signed index; a file name giving another
/// number than the header ([`Error::VolumeOutOfOrder`]); and its length.
/// Then [`check_volume_slice`] checks its contents; authenticating the
/// index is the caller's business.
pub fn check_volume(
    path: &Path,
    first: Option<(&VolumeHeader, &Path)>,
    limits: &Limits,
) -> Result<VolumeHeader, Error> {
    let header = crate::volume::read_volume_header(path, limits)?;
    let (number, count) = (header.number, header.index.count());
    if let Some((first, first_path)) = first {
        let name = format!("that of {}", first_path.display());
        check_same_set(&header, first, path, (number, count), &name)?;
    }
    if let Some(n) = parse_volume_path(path)
        .map(|(_, n, _)| n)
        .filter(|n| *n != number)
    {
        return Err(Error::VolumeOutOfOrder {
            number: n,
            count,
            found: number,
            path: path.to_owned(),
        });
    }
    let found = fs::metadata(path)
        .map_err(|source| Error::Input {
            path: path.to_owned(),
            source,
        })?
        .len();
    check_length(&header, path, found)?;
    Ok(header)
}

/// Checks the slice of the volume file `path` (whose header is `header`)
/// against the SHA-256 the signed index gives for it, reporting the bytes
/// hashed to `progress` ([`Error::VolumeRead`] when it cannot be read,
/// [`Error::VolumeCorrupt`] when it differs).
pub fn check_volume_slice(
    path: &Path,
    header: &VolumeHeader,
    progress: &dyn Fn(u64),
) -> Result<(), Error> {
    let (number, count) = (header.number, header.index.count());
    let read_err = |source| Error::VolumeRead {
        number,
        count,
        path: path.to_owned(),
        source,
    };
    let mut f = File::open(path).map_err(read_err)?;
    f.seek(SeekFrom::Start(header.index.header_len))
        .map_err(read_err)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = header.entry().size;
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(buf.len()).min(buf.len());
        let got = match f.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_err(e)),
        };
        hasher.update(&buf[..got]);
        progress(got as u64);
        left -= got as u64;
    }
    if left > 0 || hasher.finalize().as_slice() != header.entry().sha256 {
        return Err(Error::VolumeCorrupt {
            number,
            count,
            path: path.to_owned(),
            reason: "its contents do not match the SHA-256 in the signed volume index".into(),
        });
    }
    Ok(())
}

/// Whether `file` holds exactly the slice the index gives for
/// `header.number`: its length and its SHA-256. Any I/O error is a no.
fn is_intact(file: &mut File, header: &VolumeHeader) -> bool {
    let entry = header.entry();
    let expected = header.index.file_len(header.number);
    let len_ok = file.metadata().is_ok_and(|m| m.len() == expected);
    if !len_ok || file.seek(SeekFrom::Start(header.index.header_len)).is_err() {
        return false;
    }
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = entry.size;
    while left > 0 {
        let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        match file.read(&mut buf[..want]) {
            Ok(0) => return false,
            Ok(n) => {
                hasher.update(&buf[..n]);
                left -= n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    <[u8; 32]>::from(hasher.finalize()) == entry.sha256
}

/// Opens volume `number`'s file at `path`: `None` if there is no such file.
fn open_if_there(path: &Path, number: u32, count: u32) -> Result<Option<File>, Error> {
    match File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::VolumeRead {
            number,
            count,
            path: path.to_owned(),
            source,
        }),
    }
}

/// A second copy of a volume error (the stream returns one and keeps one).
fn copy_error(e: &Error) -> Error {
    match e {
        Error::VolumeMissing {
            number,
            count,
            path,
        } => Error::VolumeMissing {
            number: *number,
            count: *count,
            path: path.clone(),
        },
        Error::VolumeExtra { count, path } => Error::VolumeExtra {
            count: *count,
            path: path.clone(),
        },
        Error::VolumeOutOfOrder {
            number,
            count,
            found,
            path,
        } => Error::VolumeOutOfOrder {
            number: *number,
            count: *count,
            found: *found,
            path: path.clone(),
        },
        Error::VolumeTruncated {
            number,
            count,
            path,
            expected,
            found,
        } => Error::VolumeTruncated {
            number: *number,
            count: *count,
            path: path.clone(),
            expected: *expected,
            found: *found,
        },
        Error::VolumeCorrupt {
            number,
            count,
            path,
            reason,
        } => Error::VolumeCorrupt {
            number: *number,
            count: *count,
            path: path.clone(),
            reason: reason.clone(),
        },
        Error::VolumeForeign {
            number,
            count,
            path,
            expected,
            found,
        } => Error::VolumeForeign {
            number: *number,
            count: *count,
            path: path.clone(),
            expected: expected.clone(),
            found: found.clone(),
        },
        Error::VolumeRead {
            number,
            count,
            path,
            source,
        } => Error::VolumeRead {
            number: *number,
            count: *count,
            path: path.clone(),
            source: io::Error::new(source.kind(), source.to_string()),
        },
        _ => Error::Misuse("only volume errors are copied"),
    }
}

/// An open volume set.
pub struct VolumeSet {
    info: Arc<SetInfo>,
    shared: Arc<Mutex<Shared>>,
    stream: Option<VolumeStream>,
    /// The locator, shared by every stream of the set.
    locator: SharedLocator,
}

/// A [`Locator`] shared by the streams of a set (one at a time uses it).
type SharedLocator = Arc<Mutex<Option<Locator>>>;

impl fmt::Debug for VolumeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VolumeSet")
            .field("first", &self.info.first_path)
            .field("bundle_id", &self.info.index().bundle_id)
            .field("volumes", &self.info.count())
            .finish_non_exhaustive()
    }
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl VolumeSet {
    /// Opens the set whose first volume is `first`: reads and checks its
    /// header and length. The other volumes are looked for beside it, named
    /// like it (`NAME.001` → `NAME.002`, …), and beside each other; with a
    /// `locator`, a volume not found there is asked for instead of missing.
    ///
    /// A file that is another volume than the first is
    /// [`Error::VolumeNotFirst`].
    pub fn open(
        first: &Path,
        limits: Limits,
        locator: Option<Locator>,
    ) -> Result<VolumeSet, Error> {
        let mut file = File::open(first).map_err(|source| Error::VolumeRead {
            number: 1,
            count: 0,
            path: first.to_owned(),
            source,
        })?;
        let header = header_from(&mut file, first, 1, 0, &limits)?;
        let count = header.index.count();
        let parsed = parse_volume_path(first);
        let naming = match &parsed {
            Some((base, _, width)) => Naming {
                base_name: base.file_name().unwrap_or_default().to_owned(),
                width: *width,
            },
            None => Naming {
                base_name: first.file_name().unwrap_or_default().to_owned(),
                width: name_width(count),
            },
        };
        if header.number != 1 {
            let first_name = first.with_file_name(naming.name(1));
            return Err(not_first(
                &mut file,
                first,
                &header,
                parsed.map(|(_, n, _)| n),
                first_name,
            ));
        }
        let prompting = locator.is_some();
        let info = Arc::new(SetInfo {
            first: header,
            first_path: first.to_owned(),
            naming,
            limits,
            prompting,
        });
        file.seek(SeekFrom::Start(0))
            .map_err(|source| Error::VolumeRead {
                number: 1,
                count,
                path: first.to_owned(),
                source,
            })?;
        info.check_file(&mut file, first, 1)?;
        let shared = Arc::new(Mutex::new(Shared {
            current: 1,
            path: first.to_owned(),
            consumed: 0,
            hasher: Sha256::new(),
            failure: None,
            authenticated: false,
        }));
        let locator: SharedLocator = Arc::new(Mutex::new(locator));
        let stream = VolumeStream {
            info: info.clone(),
            shared: shared.clone(),
            locator: Arc::clone(&locator),
            file: Some(file),
            number: 1,
            path: first.to_owned(),
            remaining: info.index().volumes[0].size,
            hasher: Sha256::new(),
            done: false,
        };
        Ok(VolumeSet {
            info,
            shared,
            stream: Some(stream),
            locator,
        })
    }

    /// The first volume's header: the index and its signatures, not yet
    /// authenticated.
    pub fn header(&self) -> &VolumeHeader {
        &self.info.first
    }

    /// The index (not authenticated until the caller has checked the
    /// signatures).
    pub fn index(&self) -> &VolumeIndex {
        self.info.index()
    }

    /// Where volume `number` is expected beside the first one.
    pub fn path_beside_first(&self, number: u32) -> PathBuf {
        self.info
            .first_path
            .with_file_name(self.info.naming.name(number))
    }

    /// The bundle's bytes across the volumes, for a
    /// [`BundleReader`](crate::BundleReader). Given out once.
    pub fn stream(&mut self) -> Result<VolumeStream, Error> {
        self.stream
            .take()
            .ok_or(Error::Misuse("the volume stream was already taken"))
    }

    /// The bundle's bytes from byte `offset` of the bundle on, for a read
    /// that resumes at a payload frame (SPEC.md 8.1, 11.6): starts at the
    /// volume holding that byte — found and checked as when it is reached
    /// in order, asked for with the locator if need be — and reads its slice
    /// from the start, hashing (not passing on) the bytes before `offset`, so
    /// the volume's digest is still checked before the next volume is
    /// opened. The volumes before it are not read. Allowed once the index is
    /// [`authenticated`](Self::authenticated) (`Misuse` otherwise) and
    /// while no other stream of the set is read.
    pub fn stream_from(&self, offset: u64) -> Result<VolumeStream, Error> {
        if !lock(&self.shared).authenticated {
            return Err(Error::Misuse(
                "stream_from needs the volume index authenticated first",
            ));
        }
        let index = self.info.index();
        let mut start = 0u64;
        let mut number = 0u32;
        for (i, v) in index.volumes.iter().enumerate() {
            if offset < start.saturating_add(v.size) {
                number = u32::try_from(i + 1).unwrap_or(u32::MAX);
                break;
            }
            start = start.saturating_add(v.size);
        }
        if number == 0 {
            return Err(Error::Misuse("stream_from an offset past the bundle's end"));
        }
        let mut stream = VolumeStream {
            info: self.info.clone(),
            shared: self.shared.clone(),
            locator: Arc::clone(&self.locator),
            file: None,
            number,
            path: self.info.first_path.clone(),
            remaining: 0,
            hasher: Sha256::new(),
            done: false,
        };
        if number == 1 {
            let path = self.info.first_path.clone();
            let count = self.info.count();
            let mut file = File::open(&path).map_err(|source| Error::VolumeRead {
                number: 1,
                count,
                path: path.clone(),
                source,
            })?;
            self.info.check_file(&mut file, &path, 1)?;
            stream.install(file, 1, path);
        } else {
            stream.open(number, &self.info.first_path)?;
        }
        // The slice's bytes before `offset`: hashed, not passed on.
        let mut skip = offset - start;
        let mut buf = vec![0u8; 1 << 20];
        while skip > 0 {
            let want = usize::try_from(skip).unwrap_or(buf.len()).min(buf.len());
            let n = stream
                .read(&mut buf[..want])
                .map_err(|e| lock(&self.shared).failure.take().unwrap_or(Error::Read(e)))?;
            if n == 0 {
                return Err(Error::Misuse("the volume stream ended before the offset"));
            }
            skip -= n as u64;
        }
        Ok(stream)
    }

    /// To be called once the caller has verified the index's signatures
    /// (the same way as the manifest's) and has read the manifest: checks
    /// that the index is for `manifest_bundle_id`, lets the stream go past
    /// the first volume, and checks every volume that is beside the first
    /// one — header, number, length — and that no extra volume follows,
    /// before any of their bytes are read. Without a locator a volume
    /// missing there is refused now; with one it is asked for when it is due.
    pub fn authenticated(&self, manifest_bundle_id: &str) -> Result<(), Error> {
        let index = self.info.index();
        if index.bundle_id != manifest_bundle_id {
            return Err(Error::VolumeIndexMismatch {
                index: index.bundle_id.clone(),
                manifest: manifest_bundle_id.to_owned(),
            });
        }
        lock(&self.shared).authenticated = true;
        let count = self.info.count();
        for number in 2..=count {
            let path = self.path_beside_first(number);
            match open_if_there(&path, number, count)? {
                Some(mut f) => self.info.check_file(&mut f, &path, number)?,
                None if self.info.prompting => {}
                None => {
                    return Err(Error::VolumeMissing {
                        number,
                        count,
                        path,
                    });
                }
            }
        }
        self.info.check_no_extra(&self.info.first_path)
    }

    /// Lets the stream go past the first volume without authentication,
    /// for readers that trust nothing anyway (`inspect`). Volumes are still
    /// checked against the index as they are read.
    pub fn read_unauthenticated(&self) {
        lock(&self.shared).authenticated = true;
    }

    /// After reading failed somewhere: the volume at fault, if any. That is
    /// the error the stream reported (which may not have reached the
    /// caller), or else the volume the stream was in, if the rest of it,
    /// read again from its file, does not match the index. `None` means the
    /// volumes read so far are intact, and the original error stands.
    pub fn diagnose(&self) -> Option<Error> {
        let (number, path, consumed, hasher) = {
            let mut s = lock(&self.shared);
            if let Some(e) = s.failure.take() {
                return Some(e);
            }
            if s.current == 0 {
                return None;
            }
            (s.current, s.path.clone(), s.consumed, s.hasher.clone())
        };
        let count = self.info.count();
        let index = self.info.index();
        let entry = &index.volumes[number as usize - 1];
        let read_err = |source| Error::VolumeRead {
            number,
            count,
            path: path.clone(),
            source,
        };
        // A volume that cannot even be opened again (a disc taken out) says
        // nothing either way.
        let mut f = File::open(&path).ok()?;
        if let Err(e) = f.seek(SeekFrom::Start(index.header_len + consumed)) {
            return Some(read_err(e));
        }
        let mut hasher = hasher;
        let mut left = entry.size - consumed;
        let mut buf = vec![0u8; 1 << 20];
        while left > 0 {
            let want = usize::try_from(left).unwrap_or(buf.len()).min(buf.len());
            match f.read(&mut buf[..want]) {
                Ok(0) => {
                    return Some(Error::VolumeTruncated {
                        number,
                        count,
                        path: path.clone(),
                        expected: index.file_len(number),
                        found: index.file_len(number) - left,
                    });
                }
                Ok(k) => {
                    hasher.update(&buf[..k]);
                    left -= k as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Some(read_err(e)),
            }
        }
        (hasher.finalize().as_slice() != entry.sha256).then(|| corrupt(number, count, &path))
    }
}

fn corrupt(number: u32, count: u32, path: &Path) -> Error {
    Error::VolumeCorrupt {
        number,
        count,
        path: path.to_owned(),
        reason: "its contents do not match the SHA-256 in the signed volume index".into(),
    }
}

/// The bundle's bytes, volume after volume (see the module documentation).
pub struct VolumeStream {
    info: Arc<SetInfo>,
    shared: Arc<Mutex<Shared>>,
    locator: SharedLocator,
    file: Option<File>,
    number: u32,
    path: PathBuf,
    remaining: u64,
    hasher: Sha256,
    done: bool,
}

impl fmt::Debug for VolumeStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VolumeStream")
            .field("volume", &self.number)
            .field("path", &self.path)
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

impl VolumeStream {
    /// Records `e` for [`VolumeSet::diagnose`] and returns it as an I/O error
    /// (the bundle reader passes it on as [`Error::Read`]).
    fn fail(&mut self, e: Error) -> io::Error {
        self.done = true;
        self.file = None;
        let mut s = lock(&self.shared);
        if s.failure.is_none() {
            s.failure = Some(copy_error(&e));
        }
        io::Error::other(e)
    }

    /// The end of the current volume: nothing may follow its slice, and the
    /// slice must hash to the index's digest. Then on to the next volume,
    /// or, after the last, no extra volume may follow.
    fn end_volume(&mut self) -> Result<(), Error> {
        let count = self.info.count();
        let number = self.number;
        let path = self.path.clone();
        if let Some(f) = self.file.as_mut() {
            let mut one = [0u8; 1];
            loop {
                match f.read(&mut one) {
                    Ok(0) => break,
                    Ok(_) => {
                        return Err(Error::VolumeCorrupt {
                            number,
                            count,
                            path,
                            reason: "it is longer than the volume index says".into(),
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(source) => {
                        return Err(Error::VolumeRead {
                            number,
                            count,
                            path,
                            source,
                        });
                    }
                }
            }
        }
        self.file = None;
        let digest = std::mem::take(&mut self.hasher).finalize();
        if digest.as_slice() != self.info.index().volumes[number as usize - 1].sha256 {
            return Err(corrupt(number, count, &path));
        }
        if number == count {
            self.info.check_no_extra(&path)?;
            self.done = true;
            lock(&self.shared).current = 0;
            return Ok(());
        }
        if !lock(&self.shared).authenticated {
            return Err(Error::VolumeCorrupt {
                number: 1,
                count,
                path: self.info.first_path.clone(),
                reason: "the bundle's head does not fit in the first volume, which the format \
                         requires"
                    .into(),
            });
        }
        self.open(number + 1, &path)
    }

    /// Finds, opens and checks volume `number`, looking beside `previous`
    /// (the previous volume) first.
    fn open(&mut self, number: u32, previous: &Path) -> Result<(), Error> {
        let count = self.info.count();
        let name = self.info.naming.name(number);
        let mut path = previous.with_file_name(&name);
        let mut file = loop {
            if let Some(f) = open_if_there(&path, number, count)? {
                break f;
            }
            let wanted = Wanted {
                number,
                count,
                path: path.clone(),
            };
            let found = {
                let mut l = self
                    .locator
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                l.as_mut().and_then(|l| l(&wanted))
            };
            match found {
                Some(p) if p.is_dir() => path = p.join(&name),
                Some(p) => path = p,
                None => {
                    return Err(Error::VolumeMissing {
                        number,
                        count,
                        path,
                    });
                }
            }
        };
        self.info.check_file(&mut file, &path, number)?;
        self.install(file, number, path);
        Ok(())
    }

    /// Reads volume `number` from `file` (checked, positioned at its slice)
    /// from now on.
    fn install(&mut self, file: File, number: u32, path: PathBuf) {
        self.file = Some(file);
        self.number = number;
        self.path = path.clone();
        self.remaining = self.info.index().volumes[number as usize - 1].size;
        self.hasher = Sha256::new();
        let mut s = lock(&self.shared);
        s.current = number;
        s.path = path;
        s.consumed = 0;
        s.hasher = Sha256::new();
    }
}

impl Read for VolumeStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.done {
                return Ok(0);
            }
            if self.remaining == 0 {
                if let Err(e) = self.end_volume() {
                    return Err(self.fail(e));
                }
                continue;
            }
            if buf.is_empty() {
                return Ok(0);
            }
            let want = usize::try_from(self.remaining)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            let Some(f) = self.file.as_mut() else {
                return Ok(0);
            };
            let got = match f.read(&mut buf[..want]) {
                Ok(0) => {
                    let index = self.info.index();
                    let e = Error::VolumeTruncated {
                        number: self.number,
                        count: index.count(),
                        path: self.path.clone(),
                        expected: index.file_len(self.number),
                        found: index.file_len(self.number) - self.remaining,
                    };
                    return Err(self.fail(e));
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    let e = Error::VolumeRead {
                        number: self.number,
                        count: self.info.count(),
                        path: self.path.clone(),
                        source,
                    };
                    return Err(self.fail(e));
                }
            };
            self.hasher.update(&buf[..got]);
            self.remaining -= got as u64;
            let mut s = lock(&self.shared);
            s.consumed += got as u64;
            s.hasher = self.hasher.clone();
            return Ok(got);
        }
    }
}
