//! The store side of the audit journal: the journal file in the store
//! directory, its crash-safe append, and the head a backend binds to its
//! monotonic state.
//!
//! This module deals in lines of bytes only. What a record contains, how it
//! is encoded and signed, and how a chain is checked is the application's
//! journal format (`docs/journal-format.md`). A backend supplies two things
//! through [`TrustStore`](crate::TrustStore): the journal's signing key
//! ([`TrustStore::journal_signer`](crate::TrustStore::journal_signer)) and
//! the binding of the head (last sequence number and record hash) to its
//! monotonic state ([`TrustStore::bind_journal_head`](crate::TrustStore::bind_journal_head),
//! and atomically with an acceptance in [`TrustStore::accept`](crate::TrustStore::accept)).
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::atomic::sync_dir;
use crate::error::Error;
use crate::key::PublicKey;
use crate::lock::DirLock;

/// Name of the journal file inside a store directory.
pub const JOURNAL_FILE: &str = "journal.jsonl";

/// The longest journal line (one record) accepted, in bytes.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// The end of the chain: the last record's sequence number and the SHA-256
/// of its line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalHead {
    /// Sequence number of the last record (records count from 1).
    pub seq: u64,
    /// SHA-256 of that record's line, without its line end.
    pub sha256: [u8; 32],
}

/// The keyid of a journal key: the lowercase hex SHA-256 of its DER
/// SubjectPublicKeyInfo (what `openssl pkey -pubin -outform DER | sha256sum`
/// prints).
pub fn journal_keyid(key: &PublicKey) -> String {
    hex::encode(Sha256::digest(key.to_spki_der()))
}

/// The journal head as a store's state file keeps it, with the id of the
/// journal key: `{"key": KEYID, "seq": N, "sha256": HASH}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HeadRef {
    /// [`journal_keyid`] of the journal key.
    pub(crate) key: String,
    seq: u64,
    sha256: String,
}

impl HeadRef {
    /// `head`, signed by `key`.
    pub(crate) fn new(key: &PublicKey, head: &JournalHead) -> HeadRef {
        HeadRef {
            key: journal_keyid(key),
            seq: head.seq,
            sha256: hex::encode(head.sha256),
        }
    }

    /// The last record's sequence number.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// The head, checked; `state` names the state file in errors.
    pub(crate) fn head(&self, state: &Path) -> Result<JournalHead, Error> {
        let bad = || Error::StoreCorrupt {
            path: state.to_owned(),
            reason: "the journal head's sha256 is not 64 hex digits".into(),
        };
        let bytes = hex::decode(&self.sha256).map_err(|_| bad())?;
        Ok(JournalHead {
            seq: self.seq,
            sha256: bytes.try_into().map_err(|_| bad())?,
        })
    }

    /// This head moved forward to `head` (same key); a head that does not
    /// move forward is refused.
    pub(crate) fn advanced(&self, head: &JournalHead, state: &Path) -> Result<HeadRef, Error> {
        if head.seq <= self.seq {
            return Err(Error::StoreCorrupt {
                path: state.to_owned(),
                reason: format!(
                    "the journal head would move back from record {} to {}",
                    self.seq, head.seq
                ),
            });
        }
        Ok(HeadRef {
            key: self.key.clone(),
            seq: head.seq,
            sha256: hex::encode(head.sha256),
        })
    }
}

/// The end of a journal file as found on disk.
#[derive(Debug, Default)]
pub struct Tail {
    /// File length in bytes.
    pub len: u64,
    /// The last complete lines (without line ends), oldest first.
    pub lines: Vec<Vec<u8>>,
    /// Whether `lines` reaches back to the start of the file.
    pub from_start: bool,
    /// Bytes after the last line end: a record torn by a crash while it
    /// was written (or an edit). `None` when the file ends with a line end.
    pub torn: Option<Vec<u8>>,
}

/// The journal file of one store directory.
#[derive(Debug, Clone)]
pub struct JournalFile {
    path: PathBuf,
}

impl JournalFile {
    /// The journal of the store directory `dir`.
    pub fn in_dir(dir: &Path) -> JournalFile {
        JournalFile {
            path: dir.join(JOURNAL_FILE),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read_err(&self) -> impl FnOnce(io::Error) -> Error + '_ {
        move |source| Error::StoreRead {
            path: self.path.clone(),
            source,
        }
    }

    /// Opens the journal for reading; `None` when it does not exist.
    pub fn open_read(&self) -> Result<Option<File>, Error> {
        match File::open(&self.path) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.read_err()(e)),
        }
    }

    /// Reads complete lines backwards from the end of the file, newest
    /// first, until `enough` says so (it sees each line as it is found) or
    /// the start of the file is reached. A line longer than
    /// [`MAX_RECORD_BYTES`] ends the search as if it were the start.
    pub fn tail(&self, mut enough: impl FnMut(&[u8]) -> bool) -> Result<Tail, Error> {
        let Some(mut f) = self.open_read()? else {
            return Ok(Tail {
                from_start: true,
                ..Tail::default()
            });
        };
        let len = f.metadata().map_err(self.read_err())?.len();
        // Work backwards in blocks; `pending` holds the bytes after the last
        // line end seen so far (in file order).
        const BLOCK: u64 = 16 * 1024;
        let mut pos = len;
        let mut pending: Vec<u8> = Vec::new();
        let mut torn: Option<Vec<u8>> = None;
        let mut first = true;
        let mut lines = Vec::new();
        let mut from_start = false;
        'outer: loop {
            if pos == 0 {
                // What is left is the first line of the file (no line end
                // before it).
                if first {
                    if !pending.is_empty() {
                        torn = Some(std::mem::take(&mut pending));
                    }
                } else if !pending.is_empty() {
                    lines.push(std::mem::take(&mut pending));
                }
                from_start = true;
                break;
            }
            let start = pos.saturating_sub(BLOCK);
            let mut block = vec![0u8; (pos - start) as usize];
            f.seek(SeekFrom::Start(start)).map_err(self.read_err())?;
            f.read_exact(&mut block).map_err(self.read_err())?;
            pos = start;
            let mut end = block.len();
            while let Some(nl) = block[..end].iter().rposition(|&b| b == b'\n') {
                let mut piece = block[nl + 1..end].to_vec();
                piece.extend_from_slice(&pending);
                pending.clear();
                end = nl;
                if first {
                    first = false;
                    if !piece.is_empty() {
                        torn = Some(piece);
                    }
                    continue;
                }
                let stop = enough(&piece);
                lines.push(piece);
                if stop {
                    break 'outer;
                }
            }
            let mut rest = block[..end].to_vec();
            rest.extend_from_slice(&pending);
            pending = rest;
            if pending.len() > MAX_RECORD_BYTES + 1 {
                // No line end for longer than any record: stop looking; the
                // caller finds no head in what it got.
                break;
            }
        }
        lines.reverse();
        Ok(Tail {
            len,
            lines,
            from_start,
            torn,
        })
    }

    /// Appends `bytes` (one or more whole lines, each ending with `\n`) and
    /// makes them durable. The caller holds the lock of the journal's store
    /// directory (another directory's lock is refused). On any
    /// failure (a full disk among them) the file is cut back to its length
    /// before the call, so a failed append leaves no partial record.
    pub fn append(&self, lock: &DirLock, bytes: &[u8]) -> Result<(), Error> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let write_err = |source| Error::JournalWrite {
            path: self.path.clone(),
            source,
        };
        // A journal file is named by its path, so (unlike a store's
        // changes, which only its own `StoreLock` can make) its lock is
        // checked here.
        if lock.dir() != dir {
            return Err(write_err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("the lock held is that of {}", lock.dir().display()),
            )));
        }
        let created = !self.path.exists();
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o644)
            .open(&self.path)
            .map_err(write_err)?;
        let before = f.metadata().map_err(write_err)?.len();
        let result = f.write_all(bytes).and_then(|()| f.sync_data());
        if let Err(e) = result {
            // Undo a partial write. If even that fails the torn line stays,
            // and `journal verify` reports it.
            if f.set_len(before).is_ok() {
                let _ = f.sync_data();
            }
            return Err(write_err(e));
        }
        if created {
            sync_dir(dir).map_err(write_err)?;
        }
        Ok(())
    }

    /// Refuses a non-empty journal in a directory that is not (yet) a
    /// provisioned store: provisioning there would start a second chain
    /// over the records of the first.
    pub(crate) fn refuse_orphan(&self) -> Result<(), Error> {
        if std::fs::metadata(&self.path).is_ok_and(|m| m.len() > 0) {
            return Err(Error::StoreCorrupt {
                path: self.path.clone(),
                reason: "the directory holds a journal but no provisioned store (an interrupted \
                         anchor init?); move the directory aside and provision a new one"
                    .into(),
            });
        }
        Ok(())
    }

    /// Removes the journal file (an `anchor init` that failed before the
    /// store existed).
    pub(crate) fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn lock(dir: &Path) -> DirLock {
        DirLock::acquire(dir).unwrap()
    }

    #[test]
    fn tail_finds_last_lines_and_torn_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let j = JournalFile::in_dir(dir.path());
        let t = j.tail(|_| false).unwrap();
        assert!(t.lines.is_empty() && t.torn.is_none() && t.from_start);
        let l = lock(dir.path());
        let mut all = Vec::new();
        for i in 0..2000 {
            let line = format!("line {i} {}\n", "x".repeat(i % 50));
            all.push(line.strip_suffix('\n').unwrap().to_owned());
            j.append(&l, line.as_bytes()).unwrap();
        }
        let t = j.tail(|line| line == all[1990].as_bytes()).unwrap();
        assert_eq!(
            t.lines.len(),
            10,
            "stops at the first line it was asked for"
        );
        assert_eq!(t.lines[9], all[1999].as_bytes());
        assert!(t.torn.is_none() && !t.from_start);
        let t = j.tail(|_| false).unwrap();
        assert_eq!(t.lines.len(), 2000);
        assert!(t.from_start);
        assert_eq!(t.lines[0], all[0].as_bytes());
        j.append(&l, b"{\"half").unwrap();
        let t = j.tail(|_| true).unwrap();
        assert_eq!(t.torn.as_deref(), Some(&b"{\"half"[..]));
        assert_eq!(t.lines, vec![all[1999].as_bytes().to_vec()]);
    }

    #[test]
    fn a_file_that_is_one_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let j = JournalFile::in_dir(dir.path());
        std::fs::write(j.path(), b"{\"seq\":1").unwrap();
        let t = j.tail(|_| false).unwrap();
        assert!(t.lines.is_empty());
        assert_eq!(t.torn.as_deref(), Some(&b"{\"seq\":1"[..]));
    }

    #[test]
    fn failed_append_leaves_the_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let j = JournalFile::in_dir(dir.path());
        let l = lock(dir.path());
        j.append(&l, b"one\n").unwrap();
        let other = tempfile::tempdir().unwrap();
        let wrong = lock(other.path());
        assert!(j.append(&wrong, b"two\n").is_err());
        assert_eq!(std::fs::read(j.path()).unwrap(), b"one\n");
    }
}
