//! The files a delta takes from its base's import: where each is, and the
//! streaming copy that re-hashes it against the delta's manifest.
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use airlock_bundle::Entry;
use sha2::{Digest, Sha256};

use super::error::DeltaError;

/// Most files a `delta-base-changed` error names.
const MAX_NAMED: usize = 20;

/// The base of a delta, found in this store's journal: the import's
/// destination and, for every entry the delta takes from it, the file that
/// should hold those bytes.
#[derive(Debug)]
pub struct BaseImport {
    /// The base's bundle id.
    pub bundle_id: String,
    /// The base's destination (from the journal).
    pub dir: PathBuf,
    /// Each entry the delta takes (the delta's description of it) and the
    /// file of the base's import with that digest, relative to `dir`.
    pub files: Vec<(Entry, PathBuf)>,
}

/// What went wrong with the files taken from a base: collected over all of
/// them, so the refusal names every one (up to a bound).
#[derive(Debug, Default)]
pub struct BaseProblems {
    named: Vec<String>,
    count: usize,
}

impl BaseProblems {
    /// Streams `src` into `out` while hashing it: records a problem when
    /// the file cannot be read, or is not exactly `entry.size` bytes with
    /// `entry.sha256` (the caller goes on, and refuses once every file has
    /// been looked at, naming them all). Such a file also fails the copy, so
    /// that nothing downstream of `out` (a blob streamed to a registry
    /// during publish) takes its bytes as complete; [`BaseProblems::count`]
    /// tells that failure from `out`'s own (the staging side: the
    /// environment's error, not the base's).
    ///
    /// `rel` is opened beneath `dir` without following a symbolic link in
    /// any of its components ([`open_beneath`]).
    pub fn copy(
        &mut self,
        entry: &Entry,
        dir: &Path,
        rel: &Path,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        let shown = dir.join(rel).display().to_string();
        let mut f = match open_beneath(dir, rel) {
            Ok(f) => f,
            Err(e) => {
                return Err(self.differs(format!("{shown} is gone ({e})")));
            }
        };
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0u64;
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => {
                    h.update(&buf[..k]);
                    n += k as u64;
                    if n > entry.size {
                        return Err(
                            self.differs(format!("{shown} differs (longer than {})", entry.size))
                        );
                    }
                    out.write_all(&buf[..k])?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(self.differs(format!("{shown} cannot be read ({e})")));
                }
            }
        }
        if n != entry.size || <[u8; 32]>::from(h.finalize()) != entry.sha256 {
            return Err(self.differs(format!("{shown} differs")));
        }
        Ok(())
    }

    /// Records `what` and returns the error that fails the file's copy.
    fn differs(&mut self, what: String) -> std::io::Error {
        self.add(what);
        std::io::Error::other("a file of the base is gone or differs")
    }

    /// How many files were gone or differed so far.
    pub fn count(&self) -> usize {
        self.count
    }

    fn add(&mut self, what: String) {
        self.count += 1;
        if self.named.len() < MAX_NAMED {
            self.named.push(what);
        }
    }

    /// The refusal, if any file was gone or differed.
    pub fn into_result(self, base: &BaseImport) -> Result<(), DeltaError> {
        if self.count == 0 {
            return Ok(());
        }
        let mut files = self.named;
        if self.count > files.len() {
            files.push(format!("and {} more", self.count - files.len()));
        }
        Err(DeltaError::Changed {
            base: base.bundle_id.clone(),
            dir: base.dir.display().to_string(),
            files,
            count: base.files.len(),
        })
    }
}

/// Opens the regular file `rel` beneath `dir` (which is the journaled
/// destination and may itself be reached through links), following no
/// symbolic link in `rel`'s own components: a file of the base that was
/// replaced by a link, or lies in a directory that was, is "gone" rather
/// than read from wherever the link points. FIFOs and devices are refused
/// without blocking.
fn open_beneath(dir: &Path, rel: &Path) -> std::io::Result<File> {
    use rustix::fs::{CWD, Mode, OFlags, openat};
    let names: Vec<_> = rel
        .components()
        .map(|c| match c {
            Component::Normal(n) => Ok(n),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a plain relative path",
            )),
        })
        .collect::<Result<_, _>>()?;
    let Some((last, parents)) = names.split_last() else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "an empty path",
        ));
    };
    let dirflags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut at = openat(CWD, dir, dirflags, Mode::empty())?;
    for name in parents {
        at = openat(&at, *name, dirflags | OFlags::NOFOLLOW, Mode::empty())
            .map_err(|e| link_or(e, "a directory on the way is a symbolic link"))?;
    }
    let fd = openat(
        &at,
        *last,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| link_or(e, "it is a symbolic link"))?;
    let f = File::from(fd);
    if !f.metadata()?.file_type().is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "it is not a regular file",
        ));
    }
    Ok(f)
}

/// ELOOP (a link where O_NOFOLLOW forbids one; ENOTDIR for a directory
/// opened with O_DIRECTORY through one) said in words.
fn link_or(e: rustix::io::Errno, link: &str) -> std::io::Error {
    if e == rustix::io::Errno::LOOP || e == rustix::io::Errno::NOTDIR {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, link.to_owned())
    } else {
        e.into()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use airlock_bundle::{BundlePath, EntryKind, Limits};

    fn entry(bytes: &[u8]) -> Entry {
        Entry {
            kind: EntryKind::Artifact,
            path: BundlePath::new("a", &Limits::default()).unwrap(),
            size: bytes.len() as u64,
            sha256: Sha256::digest(bytes).into(),
            mode: 0o644,
        }
    }

    /// A base file that differs, is longer or is gone fails its own copy
    /// (so a blob streamed to a registry is never completed with its bytes)
    /// and is counted; a file that matches copies whole.
    #[test]
    fn a_base_file_that_differs_fails_its_copy_and_is_counted() {
        let d = tempfile::tempdir().unwrap();
        let good = Path::new("good");
        std::fs::write(d.path().join(good), b"release bytes").unwrap();
        let mut problems = BaseProblems::default();
        let mut out = Vec::new();
        problems
            .copy(&entry(b"release bytes"), d.path(), good, &mut out)
            .unwrap();
        assert_eq!(
            (out.as_slice(), problems.count()),
            (&b"release bytes"[..], 0)
        );
        for (want, file) in [
            (&b"release bytez"[..], good),
            (&b"release"[..], good),
            (&b"release bytes"[..], Path::new("gone")),
        ] {
            let before = problems.count();
            assert!(
                problems
                    .copy(&entry(want), d.path(), file, &mut Vec::new())
                    .is_err()
            );
            assert_eq!(problems.count(), before + 1);
        }
    }

    /// A base file replaced by a symbolic link, or lying in a directory
    /// replaced by one, is gone — even when the link points at the right
    /// bytes — and so are a FIFO and a path that climbs out; the base
    /// directory itself may be reached through a link.
    #[test]
    fn a_base_file_behind_a_symbolic_link_is_gone() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("base");
        let elsewhere = d.path().join("elsewhere");
        std::fs::create_dir_all(base.join("sub")).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("f"), b"release bytes").unwrap();
        std::fs::write(base.join("sub/real"), b"release bytes").unwrap();
        std::os::unix::fs::symlink(elsewhere.join("f"), base.join("link")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, base.join("linkdir")).unwrap();
        assert!(
            std::process::Command::new("mkfifo")
                .arg(base.join("fifo"))
                .status()
                .unwrap()
                .success()
        );
        let via = d.path().join("via");
        std::os::unix::fs::symlink(&base, &via).unwrap();

        let mut problems = BaseProblems::default();
        let e = entry(b"release bytes");
        problems
            .copy(&e, &via, Path::new("sub/real"), &mut Vec::new())
            .unwrap();
        for rel in ["link", "linkdir/f", "fifo", "../elsewhere/f", "sub/../link"] {
            let mut out = Vec::new();
            let before = problems.count();
            assert!(
                problems.copy(&e, &base, Path::new(rel), &mut out).is_err(),
                "{rel}"
            );
            assert_eq!((problems.count(), out.len()), (before + 1, 0), "{rel}");
        }
        let named = format!("{:?}", problems.named);
        assert!(named.contains("symbolic link"), "{named}");
    }
}
