//! Unpacking into a staging directory beside the destination, then one
//! atomic, no-replace rename. On any failure the staging directory is
//! removed and the destination never appears.
//!
//! The staging directory is held, from its creation to the end of the
//! import, by an exclusive `flock` on the directory itself: the stale-staging
//! sweep of any other airlock process (in any PID namespace, on any machine
//! sharing the filesystem) removes only directories whose lock it can take,
//! that is, whose owner has died. Every file is written through directory
//! handles, component by component, never through a full path: a removed
//! staging directory cannot be silently recreated, and a path as long as the
//! format allows (4096 bytes) is placed whatever the length of the
//! destination's own path. At commit the directory is checked to be the one
//! created (same inode, under the same name) and to hold every artifact
//! received with its size.
//!
//! The bundle's metadata (roots, layout, layout keys, links, attestations
//! and the signed manifest) is delivered beside the artifacts, never among
//! them: in `DEST.airlock-metadata/`, staged the same way in a second locked
//! directory and renamed into place just before the artifact tree, so that
//! whenever `DEST` exists, `DEST.airlock-metadata` is complete
//! (docs/isolated-side.md, "What unpack delivers").
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use airlock_bundle::{Entry, EntryKind, Manifest};
use rustix::fs::{
    AtFlags, FileType, FlockOperation, Mode, OFlags, RenameFlags, fchmod, flock, fstat, mkdirat,
    openat, renameat_with, statat, syncfs,
};
use rustix::io::Errno;

use crate::error::Error;
use crate::oci::graph::ImageGraph;
use crate::oci::layout;
use crate::verifier::{ArtifactSink, IMAGE_DIR, Resumed};

mod error;

pub use error::StagingError;

/// Prefix of staging directories (`.airlock-staging-PID-NANOS`).
const STAGING_PREFIX: &str = ".airlock-staging-";
/// Prefix of a placed tree being removed because its import was not recorded.
const UNDO_PREFIX: &str = ".airlock-undo-";
/// Prefix of the staging directory of an import that can resume
/// (`.airlock-resume-BUNDLEID-DESTHASH`, bundle-format/SPEC.md 8.1): named
/// after the bundle and the destination, so the next run of the same
/// import finds it.
const RESUME_PREFIX: &str = ".airlock-resume-";
/// How long the sweep leaves an unlocked resumable staging directory alone
/// (counted from its last change): long enough to fetch the medium again,
/// bounded so that an abandoned import does not hold the disk forever.
const RESUME_KEEP: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// The name of the resumable staging directory of an import of bundle
/// `bundle_id` to `dest_name`.
fn resume_name(bundle_id: &str, dest_name: &OsStr) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(dest_name.as_encoded_bytes());
    format!("{RESUME_PREFIX}{bundle_id}-{}", hex::encode(&h[..8]))
}
/// Suffix of the directory beside the destination that receives the
/// bundle's metadata (`DEST.airlock-metadata`).
pub const METADATA_SUFFIX: &str = ".airlock-metadata";

/// Where the metadata of an import to `dest` is delivered: `DEST.airlock-metadata`.
pub fn metadata_dir(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().map(OsStr::to_owned).unwrap_or_default();
    name.push(METADATA_SUFFIX);
    dest.with_file_name(name)
}

/// The directory of `DEST.airlock-metadata` each metadata kind is delivered to
/// (`None`: not delivered there; image manifests go to `DEST/oci/`).
pub fn metadata_subdir(kind: EntryKind) -> Option<&'static str> {
    match kind {
        EntryKind::Root => Some("roots"),
        EntryKind::Layout => Some("layout"),
        EntryKind::LayoutKey => Some("layout-keys"),
        EntryKind::Link => Some("links"),
        EntryKind::Attestation => Some("attestations"),
        _ => None,
    }
}

/// The signed manifest's file name in `DEST.airlock-metadata`.
pub const METADATA_MANIFEST: &str = "manifest.cbor";

/// A private, locked directory on the destination's filesystem, removed on
/// drop unless committed.
#[derive(Debug)]
pub struct Staging {
    dest: PathBuf,
    dest_name: OsString,
    /// Artifacts written so far: path → size.
    received: BTreeMap<String, u64>,
    /// The directory the last artifact went to: its components below the
    /// staging directory, and a handle on it.
    cwd: Option<(Vec<String>, OwnedFd)>,
    /// The staging directory of `DEST.airlock-metadata` (the metadata), placed
    /// just before this one.
    sidecar: Option<Box<Staging>>,
    /// What an interrupted import of the same bundle to the same
    /// destination left (renamed aside, locked, removed on drop): offered
    /// to [`ArtifactSink::resume`].
    previous: Option<Held>,
    /// Removes the staging directory if a signal ends the process.
    _on_signal: crate::cleanup::Registered,
    /// Last: dropped (the directory removed) after the handles above are
    /// closed, so a removal after running out of descriptors (EMFILE) has
    /// them back.
    held: Held,
}

/// The staging directory's handles: the parent it lives in, the directory
/// itself (locked), its name in the parent and its identity.
#[derive(Debug)]
struct Held {
    parent: OwnedFd,
    parent_path: PathBuf,
    dir: OwnedFd,
    name: String,
    id: (u64, u64),
    /// Removed on drop.
    owned: bool,
}

/// A tree placed at its destination whose import is not yet recorded: still
/// locked, so that [`Placed::undo`] can take it back.
#[derive(Debug)]
pub struct Placed {
    held: Held,
    dest: PathBuf,
    /// `DEST.airlock-metadata`, placed just before.
    sidecar: Option<Box<Placed>>,
}

fn write_error(path: &Path, e: std::io::Error) -> Error {
    // What the operator can do about the usual causes goes into the message:
    // the hint of `write-failed` is the same wherever it is raised.
    let what = match e.raw_os_error() {
        Some(28) => format!(
            "write {} (the destination filesystem is full)",
            path.display()
        ),
        Some(24) => format!(
            "write {} (too many open files: raise the limit, ulimit -n)",
            path.display()
        ),
        _ => format!("write {}", path.display()),
    };
    crate::fsutil::FsError::Write { what, source: e }.into()
}

fn staging_gone(path: &Path) -> Error {
    StagingError::Removed(path.to_owned()).into()
}

fn identity(fd: BorrowedFd<'_>) -> rustix::io::Result<(u64, u64)> {
    let st = fstat(fd)?;
    Ok((st.st_dev, st.st_ino))
}

/// The identity of `name` in `parent`, without following a link.
fn identity_at(parent: BorrowedFd<'_>, name: &OsStr) -> rustix::io::Result<(u64, u64)> {
    let st = statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok((st.st_dev, st.st_ino))
}

fn open_dir_at(parent: BorrowedFd<'_>, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

impl Held {
    fn path(&self) -> PathBuf {
        self.parent_path.join(&self.name)
    }

    /// Whether `name` in the parent is still this directory.
    fn is_at(&self, name: &OsStr) -> bool {
        identity_at(self.parent.as_fd(), name).is_ok_and(|id| id == self.id)
            && fstat(&self.dir).is_ok_and(|st| st.st_nlink > 0)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // Removed while the lock is still held (the handle closes after).
        if self.owned && self.is_at(OsStr::new(&self.name)) {
            let _ = fs::remove_dir_all(self.path());
        }
    }
}

impl Staging {
    /// Refuses an existing destination or `DEST.airlock-metadata` (exit 3) and
    /// creates the staging directories beside them.
    pub fn create(dest: &Path) -> Result<Staging, Error> {
        Staging::create_for(dest, None)
    }

    /// As [`Staging::create`], for an import of bundle `bundle_id` that can
    /// resume (its payload is cut into frames): the staging directory is
    /// named after the bundle and the destination and outlives a `kill -9`;
    /// one an interrupted run left is taken over (see
    /// [`ArtifactSink::resume`]). Removed, as any staging directory, when
    /// the import fails or is refused.
    pub fn create_resumable(dest: &Path, bundle_id: &str) -> Result<Staging, Error> {
        Staging::create_for(dest, Some(bundle_id))
    }

    fn create_for(dest: &Path, bundle_id: Option<&str>) -> Result<Staging, Error> {
        let mut staging = Staging::create_one(dest, bundle_id)?;
        staging.sidecar = Some(Box::new(Staging::create_one(&metadata_dir(dest), None)?));
        Ok(staging)
    }

    /// One staging directory for `dest`.
    fn create_one(dest: &Path, bundle_id: Option<&str>) -> Result<Staging, Error> {
        match fs::symlink_metadata(dest) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StagingError::DestinationUnusable {
                    dest: dest.to_owned(),
                    source: e,
                }
                .into());
            }
            Ok(_) => {
                return Err(StagingError::DestinationExists(dest.to_owned()).into());
            }
        }
        let name = dest.file_name().ok_or_else(|| {
            Error::usage(
                format!("{} is not a directory name", dest.display()),
                "give --to a new directory path",
            )
        })?;
        let parent_path = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let not_dir = || {
            Error::usage(
                format!("the parent of {} is not a directory", dest.display()),
                "create the parent directory first",
            )
        };
        let parent = rustix::fs::open(
            &parent_path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|_| not_dir())?;
        let meta = fstat(&parent).map_err(|e| write_error(&parent_path, e.into()))?;
        // In a directory others may write to (and that is not sticky),
        // another user could swap the staging directory for a link between
        // two of our steps.
        let mode = meta.st_mode;
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return Err(StagingError::DestinationUnsafe {
                dest: dest.to_owned(),
                mode: mode & 0o7777,
            }
            .into());
        }
        sweep_stale(parent.as_fd(), &parent_path);
        let (held, previous) = match bundle_id {
            Some(id) => create_resumable(parent, parent_path, &resume_name(id, name))?,
            None => (create_locked(parent, parent_path)?, None),
        };
        let staging = Staging {
            _on_signal: crate::cleanup::on_signal_remove_tree(&held.path()),
            held,
            dest: dest.to_owned(),
            dest_name: name.to_owned(),
            received: BTreeMap::new(),
            cwd: None,
            sidecar: None,
            previous,
        };
        staging.probe_noreplace()?;
        Ok(staging)
    }

    /// Fails early, before a long verification, on a filesystem without
    /// no-replace renames (NFS, many FUSE filesystems).
    fn probe_noreplace(&self) -> Result<(), Error> {
        let dir = self.held.dir.as_fd();
        let path = self.held.path();
        mkdirat(dir, ".probe-a", Mode::from_raw_mode(0o700))
            .map_err(|e| write_error(&path, e.into()))?;
        let renamed = renameat_with(dir, ".probe-a", dir, ".probe-b", RenameFlags::NOREPLACE);
        let _ = rustix::fs::unlinkat(dir, ".probe-a", AtFlags::REMOVEDIR);
        let _ = rustix::fs::unlinkat(dir, ".probe-b", AtFlags::REMOVEDIR);
        renamed.map_err(|e| {
            StagingError::DestinationUnsupported {
                dest: self.dest.clone(),
                source: e,
            }
            .into()
        })
    }

    /// Whether the handle kept is the one on `components`.
    fn holds(&self, components: &[&str]) -> bool {
        self.cwd.as_ref().is_some_and(|(have, _)| {
            have.iter()
                .map(String::as_str)
                .eq(components.iter().copied())
        })
    }

    /// A handle on the directory `components` below the staging directory,
    /// created if needed, walked one component at a time.
    fn dir_for(&mut self, components: &[&str]) -> Result<BorrowedFd<'_>, Error> {
        if !self.holds(components) {
            self.cwd = None;
            let mut at: Option<OwnedFd> = None;
            for c in components {
                let base = at.as_ref().map_or(self.held.dir.as_fd(), |f| f.as_fd());
                match mkdirat(base, *c, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(self.dir_error(components, e)),
                }
                let next =
                    open_dir_at(base, OsStr::new(c)).map_err(|e| self.dir_error(components, e))?;
                at = Some(next);
            }
            match at {
                Some(fd) => {
                    self.cwd = Some((components.iter().map(|c| (*c).to_owned()).collect(), fd));
                }
                None => return Ok(self.held.dir.as_fd()),
            }
        }
        Ok(self
            .cwd
            .as_ref()
            .map_or(self.held.dir.as_fd(), |(_, fd)| fd.as_fd()))
    }

    fn dir_error(&self, components: &[&str], e: Errno) -> Error {
        if e == Errno::NOENT && !self.held.is_at(OsStr::new(&self.held.name)) {
            return staging_gone(&self.held.path());
        }
        write_error(&self.held.path().join(components.join("/")), e.into())
    }

    /// Checks that the staging directory is still the one created, under
    /// its name, and holds every artifact received, with its size; `expected`
    /// is the number of artifacts the verified manifest lists.
    fn check_complete(&mut self, expected: u64) -> Result<(), Error> {
        if !self.held.is_at(OsStr::new(&self.held.name)) {
            return Err(staging_gone(&self.held.path()));
        }
        if self.received.len() as u64 != expected {
            return Err(StagingError::Incomplete(format!(
                "the staging directory received {} artifacts, the manifest lists {expected}",
                self.received.len()
            ))
            .into());
        }
        self.cwd = None;
        let received = std::mem::take(&mut self.received);
        for (path, size) in &received {
            let (dirs, file) = split(path);
            let dir = self.dir_for_existing(&dirs)?;
            let ok = statat(dir, file, AtFlags::SYMLINK_NOFOLLOW).is_ok_and(|st| {
                FileType::from_raw_mode(st.st_mode) == FileType::RegularFile
                    && u64::try_from(st.st_size).ok() == Some(*size)
            });
            if !ok {
                return Err(StagingError::Incomplete(format!(
                    "{} is missing from the staging directory or changed size",
                    crate::excerpt(path)
                ))
                .into());
            }
        }
        self.received = received;
        Ok(())
    }

    /// Like [`Staging::dir_for`], without creating anything.
    fn dir_for_existing(&mut self, components: &[&str]) -> Result<BorrowedFd<'_>, Error> {
        if !self.holds(components) {
            self.cwd = None;
            let mut at: Option<OwnedFd> = None;
            for c in components {
                let base = at.as_ref().map_or(self.held.dir.as_fd(), |f| f.as_fd());
                let next = open_dir_at(base, OsStr::new(c)).map_err(|_| {
                    Error::from(StagingError::Incomplete(format!(
                        "directory {} is missing from the staging directory",
                        crate::excerpt(&components.join("/"))
                    )))
                })?;
                at = Some(next);
            }
            if let Some(fd) = at {
                self.cwd = Some((components.iter().map(|c| (*c).to_owned()).collect(), fd));
            }
        }
        Ok(self
            .cwd
            .as_ref()
            .map_or(self.held.dir.as_fd(), |(_, fd)| fd.as_fd()))
    }

    /// Checks the staged tree (see [`Staging::check_complete`]), makes
    /// everything durable, then renames the staging directory to the
    /// destination without ever replacing something that appeared there.
    /// `artifacts` is the number of artifacts the verified manifest lists.
    pub fn commit(mut self, artifacts: u64) -> Result<Placed, Error> {
        // A signal's cleanup removes the staging directory either wholly
        // before this check or not before the rename: never a tree half
        // removed and then placed.
        // Declared before the cleanup guard, so dropped after it on every
        // early return (dropping a staging takes the cleanup's lock).
        let mut sidecar = self.sidecar.take();
        let no_cleanup = crate::cleanup::no_signal_cleanup();
        self.check_complete(artifacts)?;
        self.cwd = None;
        if let Some(side) = sidecar.as_mut() {
            side.check_complete(0)?;
            side.cwd = None;
            fchmod(side.held.dir.as_fd(), Mode::from_raw_mode(0o755))
                .map_err(|e| write_error(&side.held.path(), e.into()))?;
        }
        let dir = self.held.dir.as_fd();
        // One filesystem: the metadata's staging directory is a sibling.
        syncfs(dir).map_err(|e| write_error(&self.held.path(), e.into()))?;
        fchmod(dir, Mode::from_raw_mode(0o755))
            .map_err(|e| write_error(&self.held.path(), e.into()))?;
        airlock_hsm::fault::point("unpack-before-rename");
        // The metadata first: whenever DEST exists, DEST.airlock-metadata is whole.
        // (Stagings are turned into `Placed` only once the signal cleanup
        // is allowed again: dropping a staging unregisters it, which takes
        // the cleanup's lock.)
        if let Some(side) = sidecar.as_ref() {
            side.rename_into_place()?;
        }
        airlock_hsm::fault::point("unpack-metadata-placed");
        if let Err(e) = self.rename_into_place() {
            drop(no_cleanup);
            if let Some(side) = sidecar {
                side.into_placed().undo();
            }
            return Err(e);
        }
        // The rename is the commit point: the files are placed. A failure to
        // fsync the parent now must not stop the store from recording them
        // (docs/threat-model.md, "after the commit rename").
        drop(no_cleanup);
        let _ = rustix::fs::fsync(&self.held.parent);
        let mut placed = self.into_placed();
        placed.sidecar = sidecar.map(|s| Box::new(s.into_placed()));
        Ok(placed)
    }

    /// A staging directory renamed into place (by [`Staging::commit`]).
    fn into_placed(mut self) -> Placed {
        self.held.owned = false;
        let Staging { held, dest, .. } = self;
        Placed {
            held,
            dest,
            sidecar: None,
        }
    }

    /// The no-replace rename of the staging directory to its destination.
    fn rename_into_place(&self) -> Result<(), Error> {
        renameat_with(
            self.held.parent.as_fd(),
            self.held.name.as_str(),
            self.held.parent.as_fd(),
            self.dest_name.as_os_str(),
            RenameFlags::NOREPLACE,
        )
        .map_err(|e| {
            if e == Errno::EXIST || e == Errno::NOTEMPTY {
                StagingError::DestinationAppeared(self.dest.clone()).into()
            } else if e == Errno::NOENT {
                staging_gone(&self.held.path())
            } else {
                write_error(&self.dest, e.into())
            }
        })
    }
}

/// `a/b/c` → (`[a, b]`, `c`).
fn split(path: &str) -> (Vec<&str>, &str) {
    let mut parts: Vec<&str> = path.split('/').collect();
    let file = parts.pop().unwrap_or(path);
    (parts, file)
}

/// The resumable staging directory `name` in `parent`, created and locked;
/// with, if an interrupted import left one under that name (unlocked: its
/// owner died), that one, renamed aside to `.airlock-undo-…` and locked, for
/// [`ArtifactSink::resume`] to take what it can from. If another live
/// import holds the name, an ordinary staging directory is used instead.
fn create_resumable(
    parent: OwnedFd,
    parent_path: PathBuf,
    name: &str,
) -> Result<(Held, Option<Held>), Error> {
    let mut previous = None;
    if let Ok(dir) = open_dir_at(parent.as_fd(), OsStr::new(name)) {
        let locked = flock(&dir, FlockOperation::NonBlockingLockExclusive).is_ok();
        let id = identity(dir.as_fd()).ok();
        if !locked {
            return Ok((create_locked(parent, parent_path)?, None));
        }
        if id.is_some() && id == identity_at(parent.as_fd(), OsStr::new(name)).ok() {
            let aside = format!(
                "{UNDO_PREFIX}{}-{}",
                std::process::id(),
                name.trim_start_matches('.')
            );
            renameat_with(
                parent.as_fd(),
                name,
                parent.as_fd(),
                aside.as_str(),
                RenameFlags::NOREPLACE,
            )
            .map_err(|e| write_error(&parent_path.join(name), e.into()))?;
            let parent2 = parent
                .try_clone()
                .map_err(|e| write_error(&parent_path, e))?;
            previous = id.map(|id| Held {
                parent: parent2,
                parent_path: parent_path.clone(),
                dir,
                name: aside,
                id,
                owned: true,
            });
        }
    }
    let path = parent_path.join(name);
    match mkdirat(&parent, name, Mode::from_raw_mode(0o700)) {
        Ok(()) => {}
        // Appeared meanwhile (another import of the same bundle to the
        // same place): not ours to take.
        Err(Errno::EXIST) => return Ok((create_locked(parent, parent_path)?, previous)),
        Err(e) => return Err(write_error(&path, e.into())),
    }
    let dir = open_dir_at(parent.as_fd(), OsStr::new(name)).map_err(|_| staging_gone(&path))?;
    flock(&dir, FlockOperation::NonBlockingLockExclusive).map_err(|_| staging_gone(&path))?;
    let id = identity(dir.as_fd()).map_err(|e| write_error(&path, e.into()))?;
    if identity_at(parent.as_fd(), OsStr::new(name)).ok() != Some(id) {
        return Err(staging_gone(&path));
    }
    Ok((
        Held {
            parent,
            parent_path,
            dir,
            name: name.to_owned(),
            id,
            owned: true,
        },
        previous,
    ))
}

/// Opens the directory `components` below `dir`, without following links.
fn open_below(dir: BorrowedFd<'_>, components: &[&str]) -> rustix::io::Result<OwnedFd> {
    let mut at: Option<OwnedFd> = None;
    for c in components {
        let base = at.as_ref().map_or(dir, |f| f.as_fd());
        at = Some(open_dir_at(base, OsStr::new(c))?);
    }
    match at {
        Some(fd) => Ok(fd),
        None => rustix::io::dup(dir),
    }
}

/// Whether `name` in `dir` is a regular file of exactly `entry`'s size and
/// SHA-256 (read through, nothing trusted).
fn staged_intact(dir: BorrowedFd<'_>, name: &str, entry: &Entry) -> bool {
    let Ok(fd) = openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    ) else {
        return false;
    };
    let Ok(st) = fstat(&fd) else { return false };
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile
        || u64::try_from(st.st_size).ok() != Some(entry.size)
    {
        return false;
    }
    crate::fsutil::sha256_of(&mut File::from(fd))
        .is_ok_and(|(sha256, len)| len == entry.size && sha256 == entry.sha256)
}

/// Where a payload entry is staged, below the staging directory.
fn staged_path(entry: &Entry) -> String {
    match entry.kind {
        EntryKind::Blob => format!("{IMAGE_DIR}/blobs/{}", entry.path.as_str()),
        _ => entry.path.as_str().to_owned(),
    }
}

/// Creates `.airlock-staging-PID-NANOS` in `parent`, locks it and checks that
/// the name still refers to it once locked: a sweep may remove a directory
/// between its creation and its lock (it could take the lock then), which
/// is seen here and answered with a new name.
fn create_locked(parent: OwnedFd, parent_path: PathBuf) -> Result<Held, Error> {
    let mut tried = parent_path.clone();
    for attempt in 0..8 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("{STAGING_PREFIX}{}-{nanos}-{attempt}", std::process::id());
        tried = parent_path.join(&name);
        match mkdirat(&parent, name.as_str(), Mode::from_raw_mode(0o700)) {
            Ok(()) => {}
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(write_error(&tried, e.into())),
        }
        let Ok(dir) = open_dir_at(parent.as_fd(), OsStr::new(&name)) else {
            continue;
        };
        if flock(&dir, FlockOperation::NonBlockingLockExclusive).is_err() {
            continue;
        }
        let Ok(id) = identity(dir.as_fd()) else {
            continue;
        };
        if identity_at(parent.as_fd(), OsStr::new(&name)).ok() == Some(id) {
            return Ok(Held {
                parent,
                parent_path,
                dir,
                name,
                id,
                owned: true,
            });
        }
    }
    Err(staging_gone(&tried))
}

impl Placed {
    /// Where the tree was placed.
    pub fn path(&self) -> &Path {
        &self.dest
    }

    /// Where the bundle's metadata was placed (`DEST.airlock-metadata`).
    pub fn metadata_path(&self) -> Option<&Path> {
        self.sidecar.as_deref().map(Placed::path)
    }

    /// Removes the just-placed tree when the store could not record the
    /// acceptance: no acceptance without its record. The tree is first
    /// renamed to a hidden name (only if the destination is still the tree
    /// placed), so a removal that fails half-way never leaves a partial tree
    /// under the destination's name; a crash during the removal leaves a
    /// directory the next sweep removes.
    pub fn undo(mut self) {
        if let Some(side) = self.sidecar.take() {
            side.undo();
        }
        let Some(dest_name) = self.dest.file_name().map(OsStr::to_owned) else {
            return;
        };
        if identity_at(self.held.parent.as_fd(), &dest_name).ok() != Some(self.held.id) {
            return;
        }
        let tomb = format!("{UNDO_PREFIX}{}", std::process::id());
        if renameat_with(
            self.held.parent.as_fd(),
            dest_name.as_os_str(),
            self.held.parent.as_fd(),
            tomb.as_str(),
            RenameFlags::NOREPLACE,
        )
        .is_ok()
        {
            self.held.name = tomb;
            self.held.owned = true;
        }
        // Dropping `held` removes the tomb, under the lock.
    }
}

impl Staging {
    /// Creates the file `rel` (a relative path of checked components) below
    /// the staging directory, through directory handles, mode 0600 until
    /// [`Staging::finish_file`] sets its mode.
    fn create_file(&mut self, rel: &str) -> Result<(File, PathBuf), Error> {
        let (dirs, name) = split(rel);
        let shown = self.held.path().join(rel);
        let dir = self.dir_for(&dirs)?;
        let fd = openat(
            dir,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        );
        let file = File::from(fd.map_err(|e| write_error(&shown, e.into()))?);
        Ok((file, shown))
    }

    /// Leaves a resumable staging directory ([`Staging::create_resumable`])
    /// in place when this import ends because its input stopped (a medium
    /// pulled, a read error, a copy cut short), for the next run of the
    /// same import to take over — re-hashing every file, as after a
    /// `kill -9`. Returns its path; `None` (and the directory is removed as
    /// usual when dropped) for any other staging directory. The sidecar
    /// (`DEST.airlock-metadata`) is never kept.
    pub fn keep_for_resume(&mut self) -> Option<PathBuf> {
        if !self.held.name.starts_with(RESUME_PREFIX) {
            return None;
        }
        self.held.owned = false;
        Some(self.held.path())
    }

    /// A staging directory for `dest` alone, with no `DEST.airlock-metadata`: for a
    /// tree of metadata only (`inspect --extract-metadata`).
    pub fn create_metadata_only(dest: &Path) -> Result<Staging, Error> {
        Staging::create_one(dest, None)
    }

    /// Writes the metadata tree of `DEST.airlock-metadata` into this staging
    /// directory (see the [`ArtifactSink::metadata`] implementation).
    pub fn write_metadata(
        &mut self,
        entries: &[(Entry, Vec<u8>)],
        manifest_bytes: &[u8],
    ) -> Result<(), Error> {
        self.write_new(METADATA_MANIFEST, manifest_bytes)?;
        for (entry, bytes) in entries {
            if let Some(dir) = metadata_subdir(entry.kind) {
                self.write_new(&format!("{dir}/{}", entry.path.as_str()), bytes)?;
            }
        }
        Ok(())
    }

    /// Writes a file the staging directory holds besides the artifacts (an
    /// image layout's manifests, `oci-layout`, `index.json`), mode 0644.
    fn write_new(&mut self, rel: &str, bytes: &[u8]) -> Result<(), Error> {
        let (mut file, shown) = self.create_file(rel)?;
        file.write_all(bytes).map_err(|e| write_error(&shown, e))?;
        fchmod(&file, Mode::from_raw_mode(0o644)).map_err(|e| write_error(&shown, e.into()))
    }
}

impl ArtifactSink for Staging {
    /// The metadata goes to `DEST.airlock-metadata/`: `roots/`, `layout/`,
    /// `layout-keys/`, `links/`, `attestations/` (each file under its path
    /// in the bundle, byte for byte) and `manifest.cbor`.
    fn metadata(
        &mut self,
        entries: &[(Entry, Vec<u8>)],
        manifest_bytes: &[u8],
    ) -> Result<(), Error> {
        match self.sidecar.as_mut() {
            Some(side) => side.write_metadata(entries, manifest_bytes),
            None => Ok(()),
        }
    }

    /// A bundle's images become an OCI image layout under `oci/`: the image
    /// manifests now, the blobs as they stream, `index.json` naming each
    /// tagged image `NAME:TAG`.
    fn images(&mut self, graph: &ImageGraph, manifest_bytes: &[u8]) -> Result<(), Error> {
        if graph.images.is_empty() {
            return Ok(());
        }
        for (d, bytes) in &graph.documents {
            self.write_new(&format!("{IMAGE_DIR}/blobs/sha256/{}", d.hex()), bytes)?;
        }
        self.write_new(&format!("{IMAGE_DIR}/oci-layout"), layout::OCI_LAYOUT)?;
        // The signed manifest, for `publish DIR`: the journal holds its
        // SHA-256, and it lists every file of this directory.
        self.write_new(
            &format!("{IMAGE_DIR}/{}", layout::MANIFEST_COPY),
            manifest_bytes,
        )?;
        self.write_new(&format!("{IMAGE_DIR}/index.json"), &layout::index_of(graph))
    }

    fn receive(
        &mut self,
        entry: &Entry,
        copy: &mut dyn FnMut(&mut dyn Write) -> Result<(), airlock_bundle::Error>,
    ) -> Result<(), Error> {
        // Entry paths are checked BundlePaths (relative, no `.`/`..`), and
        // every component is opened below the locked staging directory's
        // handle without following links, so every file stays inside it.
        // Image blobs go to the image layout's `blobs/` (their paths are
        // `sha256/HEX`).
        let path = staged_path(entry);
        airlock_hsm::fault::point_n("unpack-artifact-started", self.received.len() + 1);
        let (file, shown) = self.create_file(&path)?;
        // A buffer no larger than the file: 20,000 small files must not
        // each take (and page in) 256 KiB.
        let buffer = usize::try_from(entry.size.clamp(4096, 256 * 1024)).unwrap_or(4096);
        let mut out = BufWriter::with_capacity(buffer, file);
        copy(&mut out)?;
        let file = out
            .into_inner()
            .map_err(|e| write_error(&shown, e.into_error()))?;
        // Owners are never taken from the bundle; setuid, setgid and sticky
        // bits are cleared, and so are group and world write.
        fchmod(&file, Mode::from_raw_mode(entry.mode & 0o755))
            .map_err(|e| write_error(&shown, e.into()))?;
        self.received.insert(path, entry.size);
        if self.received.len() == 1 {
            airlock_hsm::fault::point("unpack-first-artifact-staged");
        }
        airlock_hsm::fault::point_n("unpack-artifact-staged", self.received.len());
        Ok(())
    }

    /// Takes over what an interrupted import of the same bundle to the same
    /// destination staged: every payload entry found there is re-hashed
    /// against `manifest`; those intact before the first payload frame the
    /// read still needs are moved into this staging directory and kept, the
    /// rest of the old directory is removed.
    fn resume(&mut self, manifest: &Manifest) -> Result<Option<Resumed>, Error> {
        let Some(prev) = self.previous.take() else {
            return Ok(None);
        };
        let payload = manifest.artifacts();
        let mut intact = vec![false; payload.len()];
        let mut found = 0u64;
        for (i, e) in payload.iter().enumerate() {
            let rel = staged_path(e);
            let (dirs, name) = split(&rel);
            let Ok(dir) = open_below(prev.dir.as_fd(), &dirs) else {
                continue;
            };
            if statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
                found += 1;
            }
            intact[i] = staged_intact(dir.as_fd(), name, e);
        }
        let frame = manifest.resume_frame(|i| intact[i]);
        let first = manifest
            .frame_cuts()
            .get(frame)
            .map_or(0, |c| c.first_entry);
        let mut kept_bytes = 0u64;
        for e in &payload[..first] {
            let rel = staged_path(e);
            let (dirs, name) = split(&rel);
            let from = open_below(prev.dir.as_fd(), &dirs)
                .map_err(|e| write_error(&prev.path().join(&rel), e.into()))?;
            let shown = self.held.path().join(&rel);
            let to = self.dir_for(&dirs)?;
            renameat_with(&from, name, to, name, RenameFlags::NOREPLACE)
                .map_err(|e| write_error(&shown, e.into()))?;
            let fd = openat(
                to,
                name,
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| write_error(&shown, e.into()))?;
            fchmod(&fd, Mode::from_raw_mode(e.mode & 0o755))
                .map_err(|e| write_error(&shown, e.into()))?;
            self.received.insert(rel, e.size);
            kept_bytes += e.size;
        }
        // The rest (partial files, changed ones, what will be read again)
        // goes with the old directory.
        drop(prev);
        Ok(Some(Resumed {
            frame,
            kept: first as u64,
            kept_bytes,
            discarded: found - first as u64,
            offset: 0,
        }))
    }
}

/// Removes staging and undo directories left in `parent` by airlock processes
/// that died (killed mid-unpack: `Drop` never ran). A directory is removed
/// only if its lock can be taken: the lock dies with its holder, whatever PID
/// namespace or machine the holder runs in, so a live import is never swept.
fn sweep_stale(parent: BorrowedFd<'_>, parent_path: &Path) {
    let Ok(entries) = fs::read_dir(parent_path) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let ours = name
            .to_str()
            .is_some_and(|n| n.starts_with(STAGING_PREFIX) || n.starts_with(UNDO_PREFIX));
        // A resumable import's directory is left alone for RESUME_KEEP
        // after its last change: the next run of that import takes it over.
        let expired = name.to_str().is_some_and(|n| n.starts_with(RESUME_PREFIX))
            && e.metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > RESUME_KEEP);
        if !ours && !expired {
            continue;
        }
        let Ok(dir) = open_dir_at(parent, &name) else {
            continue;
        };
        if flock(&dir, FlockOperation::NonBlockingLockExclusive).is_err() {
            continue;
        }
        // Still the directory locked (not replaced since it was opened)?
        if identity(dir.as_fd()).ok() == identity_at(parent, &name).ok() {
            let _ = fs::remove_dir_all(parent_path.join(&name));
        }
    }
}
