//! Unpacking into a staging directory beside the destination, then one
//! atomic, no-replace rename. On any failure the staging directory is
//! removed and the destination never appears.
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use airlock_bundle::{Entry, EntryKind};
use rustix::fs::{CWD, RenameFlags, renameat_with};

use crate::error::Error;
use crate::oci::graph::ImageGraph;
use crate::oci::layout;
use crate::verifier::{ArtifactSink, IMAGE_DIR};

/// A private directory on the destination's filesystem, removed on drop
/// unless committed.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    dest: PathBuf,
    committed: bool,
}

fn write_error(path: &Path, e: std::io::Error) -> Error {
    let hint = if e.raw_os_error() == Some(28) {
        "the destination filesystem is full: free space and unpack again"
    } else {
        "check permissions and free space on the destination filesystem"
    };
    Error::env(
        "write-failed",
        format!("cannot write {}: {e}", path.display()),
        hint,
    )
}

impl Staging {
    /// Refuses an existing destination (exit 3) and creates the staging
    /// directory beside it.
    pub fn create(dest: &Path) -> Result<Staging, Error> {
        match fs::symlink_metadata(dest) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::env(
                    "destination-unusable",
                    format!("cannot check destination {}: {e}", dest.display()),
                    "check the permissions of the destination's parent directory",
                ));
            }
            Ok(_) => {
                return Err(Error::env(
                    "destination-exists",
                    format!("destination {} already exists", dest.display()),
                    "unpack into a new directory; airlock never writes into an existing one",
                ));
            }
        }
        let name = dest.file_name().ok_or_else(|| {
            Error::usage(
                format!("{} is not a directory name", dest.display()),
                "give --to a new directory path",
            )
        })?;
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let Some(meta) = fs::metadata(&parent).ok().filter(|m| m.is_dir()) else {
            return Err(Error::usage(
                format!("the parent of {} is not a directory", dest.display()),
                "create the parent directory first",
            ));
        };
        // In a directory others may write to (and that is not sticky),
        // another user could swap the staging directory for a link between
        // two of our steps.
        let mode = meta.permissions().mode();
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return Err(Error::env(
                "destination-unsafe",
                format!(
                    "the parent of {} is writable by other users ({:o}) and not sticky",
                    dest.display(),
                    mode & 0o7777
                ),
                "unpack under a directory only you (or root) can write to",
            ));
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let _ = name;
        sweep_stale(&parent);
        let dir = parent.join(format!(".airlock-staging-{}-{nanos}", std::process::id()));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| write_error(&dir, e))?;
        let staging = Staging {
            dir,
            dest: dest.to_owned(),
            committed: false,
        };
        staging.probe_noreplace()?;
        Ok(staging)
    }

    /// Fails early, before a long verification, on a filesystem without
    /// no-replace renames (NFS, many FUSE filesystems).
    fn probe_noreplace(&self) -> Result<(), Error> {
        let (a, b) = (self.dir.join(".probe-a"), self.dir.join(".probe-b"));
        fs::create_dir(&a).map_err(|e| write_error(&a, e))?;
        let renamed = renameat_with(CWD, &a, CWD, &b, RenameFlags::NOREPLACE);
        let _ = fs::remove_dir(&a);
        let _ = fs::remove_dir(&b);
        renamed.map_err(|e| {
            Error::env(
                "destination-unsupported",
                format!(
                    "the filesystem of {} cannot rename without replacing ({e})",
                    self.dest.display()
                ),
                "unpack onto a local filesystem (ext4, xfs, btrfs, tmpfs)",
            )
        })
    }

    /// Makes everything durable, then renames the staging directory to the
    /// destination without ever replacing something that appeared there.
    pub fn commit(mut self) -> Result<PathBuf, Error> {
        let sync = File::open(&self.dir).map_err(|e| write_error(&self.dir, e))?;
        rustix::fs::syncfs(&sync).map_err(|e| write_error(&self.dir, e.into()))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o755))
            .map_err(|e| write_error(&self.dir, e))?;
        renameat_with(CWD, &self.dir, CWD, &self.dest, RenameFlags::NOREPLACE).map_err(|e| {
            if e == rustix::io::Errno::EXIST || e == rustix::io::Errno::NOTEMPTY {
                Error::env(
                    "destination-exists",
                    format!(
                        "destination {} appeared while unpacking",
                        self.dest.display()
                    ),
                    "unpack into a new directory; nothing was placed",
                )
            } else {
                write_error(&self.dest, e.into())
            }
        })?;
        self.committed = true;
        // The rename is the commit point: the files are placed. A failure to
        // fsync the parent now must not stop the store from recording them.
        let parent = self
            .dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let _ = File::open(parent).and_then(|d| d.sync_all());
        Ok(self.dest.clone())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

impl Staging {
    fn create_parent(path: &Path) -> Result<(), Error> {
        if let Some(parent) = path.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)
                .map_err(|e| write_error(parent, e))?;
        }
        Ok(())
    }

    fn write_new(path: &Path, bytes: &[u8]) -> Result<(), Error> {
        Staging::create_parent(path)?;
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(path)
            .map_err(|e| write_error(path, e))?;
        f.write_all(bytes).map_err(|e| write_error(path, e))
    }
}

impl ArtifactSink for Staging {
    /// A bundle's images become an OCI image layout under `oci/`: the image
    /// manifests now, the blobs as they stream, `index.json` naming each
    /// tagged image `NAME:TAG`.
    fn images(&mut self, graph: &ImageGraph, manifest_bytes: &[u8]) -> Result<(), Error> {
        if graph.images.is_empty() {
            return Ok(());
        }
        let root = self.dir.join(IMAGE_DIR);
        for (d, bytes) in &graph.documents {
            Staging::write_new(&root.join("blobs/sha256").join(d.hex()), bytes)?;
        }
        Staging::write_new(&root.join("oci-layout"), layout::OCI_LAYOUT)?;
        // The signed manifest, for `publish DIR`: the journal holds its
        // SHA-256, and it lists every file of this directory.
        Staging::write_new(&root.join(layout::MANIFEST_COPY), manifest_bytes)?;
        Staging::write_new(&root.join("index.json"), &layout::index_of(graph))
    }

    fn receive(
        &mut self,
        entry: &Entry,
        copy: &mut dyn FnMut(&mut dyn Write) -> Result<(), airlock_bundle::Error>,
    ) -> Result<(), Error> {
        // Entry paths are checked BundlePaths (relative, no `.`/`..`), and the
        // staging directory is ours alone and holds no links, so every path
        // below stays inside it.
        let path = match entry.kind {
            EntryKind::Blob => self
                .dir
                .join(IMAGE_DIR)
                .join("blobs")
                .join(entry.path.as_str()),
            _ => self.dir.join(entry.path.as_str()),
        };
        Staging::create_parent(&path)?;
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| write_error(&path, e))?;
        let mut out = BufWriter::with_capacity(256 * 1024, file);
        copy(&mut out)?;
        let file = out
            .into_inner()
            .map_err(|e| write_error(&path, e.into_error()))?;
        // Owners are never taken from the bundle; setuid, setgid and sticky
        // bits are cleared, and so are group and world write.
        file.set_permissions(fs::Permissions::from_mode(entry.mode & 0o755))
            .map_err(|e| write_error(&path, e))?;
        Ok(())
    }
}

/// Removes a just-placed destination when the store could not record the
/// acceptance: no acceptance without its record. The destination is first
/// renamed to a hidden name, so a removal that fails half-way never leaves a
/// partial tree under the destination's name.
pub fn undo_placement(dest: &Path) {
    let tomb = dest.with_file_name(format!(".airlock-undo-{}", std::process::id()));
    if fs::rename(dest, &tomb).is_ok() {
        let _ = fs::remove_dir_all(&tomb);
    } else {
        let _ = fs::remove_dir_all(dest);
    }
}

/// Removes staging and undo directories left in `parent` by airlock processes
/// that no longer run (killed mid-unpack: `Drop` never ran). A directory whose
/// process id is alive is left alone, whoever that process is now.
fn sweep_stale(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| {
            n.strip_prefix(".airlock-staging-")
                .or_else(|| n.strip_prefix(".airlock-undo-"))
        }) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}
