//! The ledger of accepted bundle ids: an append-only file in the store
//! directory (`ledger`, one id a line: 32 lowercase hex digits and `\n`,
//! SPEC 5.4), which the state binds by a fixed-size [`LedgerRef`]: how many
//! ids, how many bytes, and a hash chain over them (`h0` = SHA-256 of
//! [`CHAIN_START`], `h_i` = SHA-256(`h_{i-1}` ‖ `id_i`), the id as the 16
//! bytes its hex digits spell: one SHA-256 block an id). Every backend keeps the binding in its
//! [`StoreState`](crate::store::StoreState), so on hardware stores it is
//! bound under the monotonic counter like the rest of the state.
//!
//! Only the replay check reads the file, and only the bound bytes: a
//! decision's cost does not grow with the ledger. An append costs the
//! same whatever the ledger holds: the next chain value is computed from
//! the bound one.
//!
//! Commit order of an acceptance: the id is appended after the bound bytes
//! (what an earlier append whose state commit never happened left beyond
//! them is cut off first) and fsynced, then the state naming the new
//! binding is committed. A crash in between leaves bytes beyond the bound
//! length: readers ignore them and the next append overwrites them.
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::atomic::sync_dir;
use crate::error::Error;
use crate::lock::Locked;

/// The ledger's file name in the store directory.
pub const LEDGER_FILE: &str = "ledger";

/// What the hash chain starts from (domain separation: no other airlock
/// digest starts from it).
pub const CHAIN_START: &[u8] = b"airlock ledger v1";

/// Length of a bundle id, and of a ledger line without its newline.
const ID_LEN: usize = 32;

/// Length of a ledger line: an id and its newline.
const LINE_LEN: u64 = ID_LEN as u64 + 1;

/// What the state binds of the ledger file: its first `bytes` bytes hold
/// `ids` ids whose hash chain ends at `sha256`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerRef {
    /// How many ids.
    pub ids: u64,
    /// How many bytes of the file they take.
    pub bytes: u64,
    /// The last value of the hash chain (lowercase hex).
    pub sha256: String,
}

impl Default for LedgerRef {
    /// The empty ledger.
    fn default() -> LedgerRef {
        LedgerRef {
            ids: 0,
            bytes: 0,
            sha256: hex::encode(chain_start()),
        }
    }
}

impl LedgerRef {
    /// What a state that names no ledger reads as: no writer writes it (an
    /// empty ledger is [`LedgerRef::default`]), so a state without its
    /// `ledger` field, and without the inline ids of a state written before
    /// the ledger file, is told apart and refused
    /// ([`crate::store::StoreState::check_ledger`]).
    pub(crate) fn absent() -> LedgerRef {
        LedgerRef {
            ids: 0,
            bytes: 0,
            sha256: String::new(),
        }
    }
}

fn chain_start() -> [u8; 32] {
    Sha256::digest(CHAIN_START).into()
}

fn chain(prev: &[u8; 32], id: &[u8; 16]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(id);
    h.finalize().into()
}

/// Whether `s` is a bundle id: 32 lowercase hex digits.
fn is_bundle_id(s: &[u8]) -> bool {
    s.len() == ID_LEN && s.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The 16 bytes a bundle id spells, or `None` for anything else.
fn id_bytes(s: &[u8]) -> Option<[u8; 16]> {
    let mut raw = [0; 16];
    (is_bundle_id(s) && hex::decode_to_slice(s, &mut raw).is_ok()).then_some(raw)
}

/// The ledger file of one store directory.
#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
}

impl Ledger {
    /// The ledger of the store in `dir`.
    pub fn in_dir(dir: &Path) -> Ledger {
        Ledger {
            path: dir.join(LEDGER_FILE),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn corrupt(&self, reason: impl Into<String>) -> Error {
        Error::StoreCorrupt {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    fn read_err(&self) -> impl FnOnce(io::Error) -> Error + '_ {
        |source| Error::StoreRead {
            path: self.path.clone(),
            source,
        }
    }

    fn write_err(&self) -> impl Fn(io::Error) -> Error + Copy + '_ {
        |source| Error::Write {
            path: self.path.clone(),
            source,
        }
    }

    /// The last chain value `bound` names, once its length is checked to
    /// be [`LINE_LEN`] bytes an id.
    fn bound_hash(&self, bound: &LedgerRef) -> Result<[u8; 32], Error> {
        if bound.ids.checked_mul(LINE_LEN) != Some(bound.bytes) {
            return Err(self.corrupt(format!(
                "the state binds {} ids in {} bytes: every id takes {LINE_LEN}",
                bound.ids, bound.bytes
            )));
        }
        hex::decode(&bound.sha256)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| self.corrupt("the state's ledger hash is not 64 hex digits"))
    }

    /// The file opened by `open`, or why not: a missing file when `bound`
    /// binds ids is a damaged store, not an I/O failure.
    fn open(
        &self,
        bound: &LedgerRef,
        open: &OpenOptions,
        other: impl FnOnce(io::Error) -> Error,
    ) -> Result<File, Error> {
        let file = match open.open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(self.corrupt(format!(
                    "the ledger file is missing, but the state binds {} accepted bundle ids",
                    bound.ids
                )));
            }
            Err(e) => return Err(other(e)),
        };
        let len = file.metadata().map_err(self.read_err())?.len();
        if len < bound.bytes {
            return Err(self.corrupt(format!(
                "the ledger file has {len} bytes, but the state binds {} (it was cut or replaced)",
                bound.bytes
            )));
        }
        Ok(file)
    }

    /// Whether `id` is one of the ids `bound` binds. Reads exactly the
    /// bound bytes, one line at a time, and recomputes the chain: a file
    /// shorter than they, a line that is not an id, or ids whose chain
    /// differs from the binding are [`Error::StoreCorrupt`] (bytes beyond
    /// them are an append that was never committed, and ignored).
    pub fn contains(&self, bound: &LedgerRef, id: &str) -> Result<bool, Error> {
        let wanted = id_bytes(id.as_bytes());
        let mut found = false;
        self.read(bound, |line| found |= Some(line) == wanted.as_ref())?;
        Ok(found)
    }

    /// Calls `each` with every bound id, in order, after checking them
    /// against `bound` as [`Ledger::contains`] does (`each` may have seen
    /// ids of a ledger then refused).
    fn read(&self, bound: &LedgerRef, mut each: impl FnMut(&[u8; 16])) -> Result<(), Error> {
        if *bound == LedgerRef::default() {
            // The empty ledger: there may be no file yet.
            return Ok(());
        }
        let expected = self.bound_hash(bound)?;
        let file = self.open(bound, OpenOptions::new().read(true), self.read_err())?;
        let mut reader = BufReader::new(file);
        let mut line = [0; LINE_LEN as usize];
        let mut h = chain_start();
        for n in 1..=bound.ids {
            reader.read_exact(&mut line).map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => self.corrupt(format!(
                    "the ledger file ends before the {} bytes the state binds",
                    bound.bytes
                )),
                _ => self.read_err()(e),
            })?;
            let id = line.strip_suffix(b"\n").and_then(id_bytes).ok_or_else(|| {
                self.corrupt(format!("line {n} of the ledger file is not a bundle id"))
            })?;
            h = chain(&h, &id);
            each(&id);
        }
        if h != expected {
            return Err(self.corrupt(format!(
                "the ledger file's first {} bytes are not the {} accepted bundle ids the state \
                 binds (it was edited or replaced)",
                bound.bytes, bound.ids
            )));
        }
        Ok(())
    }

    /// Appends `id` after the bytes `bound` binds (cutting off first what
    /// an append whose state commit never happened left beyond them),
    /// fsyncs, and returns the binding the caller's state commit must name.
    /// Reads none of the bound ids: an append costs the same whatever the
    /// ledger holds (a file shorter than the binding is refused; what the
    /// bound bytes hold is checked by every later lookup).
    pub(crate) fn append(
        &self,
        _: Locked<'_>,
        bound: &LedgerRef,
        id: &str,
    ) -> Result<LedgerRef, Error> {
        let write_err = self.write_err();
        let Some(raw) = id_bytes(id.as_bytes()) else {
            return Err(write_err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a bundle id (32 lowercase hex digits)",
            )));
        };
        let prev = self.bound_hash(bound)?;
        let mut file = self.open(
            bound,
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(bound.bytes == 0)
                .mode(0o644),
            write_err,
        )?;
        let len = file.metadata().map_err(self.read_err())?.len();
        if len > bound.bytes {
            file.set_len(bound.bytes).map_err(write_err)?;
        }
        file.seek(SeekFrom::Start(bound.bytes)).map_err(write_err)?;
        file.write_all(format!("{id}\n").as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(write_err)?;
        if bound.bytes == 0 {
            // The file may be new: its directory entry must be durable
            // before a state names it.
            sync_dir(self.path.parent().unwrap_or(Path::new("."))).map_err(write_err)?;
        }
        Ok(LedgerRef {
            ids: bound.ids + 1,
            bytes: bound.bytes + LINE_LEN,
            sha256: hex::encode(chain(&prev, &raw)),
        })
    }

    /// Writes `ids` as the whole ledger file (a state written before the
    /// ledger file kept them inline), fsyncs it, and returns their
    /// binding. The state still holding them inline is the committed one
    /// until the caller commits the binding, so a crash here loses nothing.
    pub(crate) fn write_all<'i>(
        &self,
        _: Locked<'_>,
        ids: impl IntoIterator<Item = &'i String>,
    ) -> Result<LedgerRef, Error> {
        let write_err = self.write_err();
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&self.path)
            .map_err(write_err)?;
        let mut out = BufWriter::new(file);
        let (mut h, mut n) = (chain_start(), 0u64);
        for id in ids {
            let Some(raw) = id_bytes(id.as_bytes()) else {
                return Err(self.corrupt(format!(
                    "accepted id {} of the state is not a bundle id",
                    n + 1
                )));
            };
            out.write_all(id.as_bytes())
                .and_then(|()| out.write_all(b"\n"))
                .map_err(write_err)?;
            h = chain(&h, &raw);
            n += 1;
        }
        let file = out.into_inner().map_err(|e| write_err(e.into_error()))?;
        file.sync_all().map_err(write_err)?;
        sync_dir(self.path.parent().unwrap_or(Path::new("."))).map_err(write_err)?;
        Ok(LedgerRef {
            ids: n,
            bytes: n * LINE_LEN,
            sha256: hex::encode(h),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::fs;

    use super::*;
    use crate::lock::DirLock;

    fn id(n: u8) -> String {
        format!("{n:02x}").repeat(16)
    }

    /// A ledger of `n` ids appended one by one, and its binding.
    fn ledger(dir: &Path, n: u8) -> (Ledger, LedgerRef) {
        let lock = DirLock::acquire(dir).unwrap();
        let l = Ledger::in_dir(dir);
        let mut bound = LedgerRef::default();
        for i in 0..n {
            bound = l.append(Locked::by(&lock), &bound, &id(i)).unwrap();
        }
        (l, bound)
    }

    fn corrupt(r: Result<bool, Error>) -> bool {
        matches!(r, Err(Error::StoreCorrupt { .. }))
    }

    #[test]
    fn appends_bind_count_length_and_chain() {
        let dir = tempfile::tempdir().unwrap();
        let (l, bound) = ledger(dir.path(), 3);
        let mut h: [u8; 32] = Sha256::digest(b"airlock ledger v1").into();
        for i in 0..3 {
            h = Sha256::digest([&h[..], &[i; 16]].concat()).into();
        }
        assert_eq!(
            bound,
            LedgerRef {
                ids: 3,
                bytes: 99,
                sha256: hex::encode(h),
            }
        );
        let text = fs::read_to_string(l.path()).unwrap();
        assert_eq!(text, format!("{}\n{}\n{}\n", id(0), id(1), id(2)));
        assert!(l.contains(&bound, &id(1)).unwrap());
        assert!(!l.contains(&bound, &id(3)).unwrap());
        // Written at once (a migrated inline ledger): the same binding.
        let other = tempfile::tempdir().unwrap();
        let lock = DirLock::acquire(other.path()).unwrap();
        let ids: Vec<String> = (0..3).map(id).collect();
        let all = Ledger::in_dir(other.path())
            .write_all(Locked::by(&lock), &ids)
            .unwrap();
        assert_eq!(all, bound);
        assert_eq!(
            fs::read_to_string(Ledger::in_dir(other.path()).path()).unwrap(),
            text
        );
    }

    #[test]
    fn the_empty_ledger_needs_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::in_dir(dir.path());
        assert!(!l.contains(&LedgerRef::default(), &id(0)).unwrap());
        assert!(!l.path().exists());
    }

    #[test]
    fn an_edited_cut_replaced_or_missing_ledger_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (l, two) = ledger(dir.path(), 2);
        let older = fs::read(l.path()).unwrap();
        let (_, bound) = ledger_more(dir.path(), &two, 1);
        let good = fs::read(l.path()).unwrap();
        let text = String::from_utf8(good.clone()).unwrap();
        let edits: Vec<(&str, Vec<u8>)> = vec![
            (
                "an id removed",
                text.replacen(&format!("{}\n", id(1)), "", 1).into(),
            ),
            ("an id changed", text.replacen(&id(1), &id(9), 1).into()),
            (
                "an id's case changed",
                text.replacen(&id(10), &id(10).to_uppercase(), 1).into(),
            ),
            (
                "two ids swapped",
                format!("{}\n{}\n{}\n", id(1), id(0), id(10)).into(),
            ),
            ("cut by one byte", good[..good.len() - 1].to_vec()),
            (
                "a newline removed",
                [&good[..good.len() - 1], b"0"].concat(),
            ),
            ("an older copy", older),
            ("emptied", Vec::new()),
        ];
        for (what, bytes) in edits {
            fs::write(l.path(), &bytes).unwrap();
            for probe in [id(0), id(10), id(42)] {
                assert!(corrupt(l.contains(&bound, &probe)), "{what}: not refused");
            }
        }
        fs::remove_file(l.path()).unwrap();
        assert!(corrupt(l.contains(&bound, &id(0))), "missing: not refused");
        // And refused as a binding for the wrong count of the right bytes.
        fs::write(l.path(), &good).unwrap();
        let miscounted = LedgerRef {
            ids: 2,
            ..bound.clone()
        };
        assert!(corrupt(l.contains(&miscounted, &id(0))));
        assert!(l.contains(&bound, &id(10)).unwrap());
    }

    /// `n` more ids (from 10 on) appended to the ledger of `dir` after `bound`.
    fn ledger_more(dir: &Path, bound: &LedgerRef, n: u8) -> (Ledger, LedgerRef) {
        let lock = DirLock::acquire(dir).unwrap();
        let l = Ledger::in_dir(dir);
        let mut bound = bound.clone();
        for i in 10..10 + n {
            bound = l.append(Locked::by(&lock), &bound, &id(i)).unwrap();
        }
        (l, bound)
    }

    #[test]
    fn bytes_beyond_the_binding_are_ignored_and_overwritten_by_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let (l, bound) = ledger(dir.path(), 2);
        // What an append whose state commit never happened leaves, or any
        // bytes at all: not read.
        let mut f = OpenOptions::new().append(true).open(l.path()).unwrap();
        f.write_all(format!("{}\nnot an id", id(7)).as_bytes())
            .unwrap();
        drop(f);
        assert!(!l.contains(&bound, &id(7)).unwrap());
        assert!(l.contains(&bound, &id(1)).unwrap());
        let lock = DirLock::acquire(dir.path()).unwrap();
        let next = l.append(Locked::by(&lock), &bound, &id(8)).unwrap();
        assert_eq!(
            fs::read_to_string(l.path()).unwrap(),
            format!("{}\n{}\n{}\n", id(0), id(1), id(8))
        );
        assert!(l.contains(&next, &id(8)).unwrap());
    }

    #[test]
    fn an_append_refuses_a_short_file_and_a_non_id_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (l, bound) = ledger(dir.path(), 2);
        let lock = DirLock::acquire(dir.path()).unwrap();
        let good = fs::read(l.path()).unwrap();
        fs::write(l.path(), &good[..40]).unwrap();
        assert!(matches!(
            l.append(Locked::by(&lock), &bound, &id(3)),
            Err(Error::StoreCorrupt { .. })
        ));
        assert_eq!(fs::read(l.path()).unwrap(), &good[..40]);
        fs::write(l.path(), &good).unwrap();
        for bad in [
            "",
            "x",
            &id(10).to_uppercase(),
            &format!("{}\n", &id(3)[..31]),
        ] {
            assert!(matches!(
                l.append(Locked::by(&lock), &bound, bad),
                Err(Error::Write { .. })
            ));
        }
        assert_eq!(fs::read(l.path()).unwrap(), good);
        // A binding whose length is not 33 bytes an id, or whose hash is
        // not one.
        for wrong in [
            LedgerRef {
                bytes: 65,
                ..bound.clone()
            },
            LedgerRef {
                sha256: "x".into(),
                ..bound.clone()
            },
        ] {
            assert!(matches!(
                l.append(Locked::by(&lock), &wrong, &id(3)),
                Err(Error::StoreCorrupt { .. })
            ));
            assert!(corrupt(l.contains(&wrong, &id(0))));
        }
        assert_eq!(fs::read(l.path()).unwrap(), good);
        fs::remove_file(l.path()).unwrap();
        assert!(matches!(
            l.append(Locked::by(&lock), &bound, &id(3)),
            Err(Error::StoreCorrupt { .. })
        ));
        assert!(!l.path().exists());
    }
}
