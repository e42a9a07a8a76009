//! The files a delta takes from its base's import: where each is, and the
//! streaming copy that re-hashes it against the delta's manifest.
use std::io::{Read, Write};
use std::path::PathBuf;

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
    /// file of the base's import with that digest.
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
    pub fn copy(
        &mut self,
        entry: &Entry,
        src: &std::path::Path,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        let shown = src.display().to_string();
        let mut f = match airlock_hsm::opfile::open_regular(src) {
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
        let good = d.path().join("good");
        std::fs::write(&good, b"release bytes").unwrap();
        let mut problems = BaseProblems::default();
        let mut out = Vec::new();
        problems
            .copy(&entry(b"release bytes"), &good, &mut out)
            .unwrap();
        assert_eq!(
            (out.as_slice(), problems.count()),
            (&b"release bytes"[..], 0)
        );
        for (want, file) in [
            (&b"release bytez"[..], good.clone()),
            (&b"release"[..], good.clone()),
            (&b"release bytes"[..], d.path().join("gone")),
        ] {
            let before = problems.count();
            assert!(problems.copy(&entry(want), &file, &mut Vec::new()).is_err());
            assert_eq!(problems.count(), before + 1);
        }
    }
}
