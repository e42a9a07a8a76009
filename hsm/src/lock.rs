//! The store directory's lock file: the exclusive lock every writer holds
//! ([`DirLock`], held through a [`StoreLock`](crate::store::StoreLock)) and
//! the shared lock audits take ([`ReadLock`]).
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::atomic::sweep_temporaries;
use crate::error::Error;

const LOCK_FILE: &str = "lock";

/// The exclusive lock of a store directory, released on drop. Commands
/// hold it through the [`StoreLock`](crate::store::StoreLock) of a store;
/// provisioning holds it alone, before the store exists. Appending to the
/// journal needs it ([`JournalFile::append`](crate::journal::JournalFile::append)).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    dir: PathBuf,
}

impl DirLock {
    fn open_lock_file(dir: &Path) -> Result<(File, PathBuf), Error> {
        let path = dir.join(LOCK_FILE);
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map(|f| (f, path.clone()))
            .map_err(|source| Error::StoreRead { path, source })
    }

    fn held(file: File, dir: &Path) -> DirLock {
        sweep_temporaries(dir);
        sweep_temporaries(&dir.join("roots"));
        DirLock {
            _file: file,
            dir: dir.to_owned(),
        }
    }

    /// Takes the exclusive lock of the store directory `dir`, waiting for it.
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock, Error> {
        let (file, path) = Self::open_lock_file(dir)?;
        file.lock()
            .map_err(|source| Error::StoreRead { path, source })?;
        Ok(Self::held(file, dir))
    }

    /// Takes the lock if it is free; `None` when another process holds it.
    pub(crate) fn try_acquire(dir: &Path) -> Result<Option<DirLock>, Error> {
        let (file, path) = Self::open_lock_file(dir)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self::held(file, dir))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(source)) => Err(Error::StoreRead { path, source }),
        }
    }

    /// The directory this lock holds.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A shared lock on a store, for audits (`journal show`, `journal verify`):
/// no writer is between two steps while it is held. The lock file is opened
/// read-only and never created, so a write-protected or forensic copy of a
/// store can be audited.
#[derive(Debug)]
pub struct ReadLock {
    _file: Option<File>,
}

impl ReadLock {
    /// Takes the shared lock if no writer holds the store; `None` when one
    /// does. A store without a lock file has never had a writer to wait for.
    pub fn try_acquire(dir: &Path) -> Result<Option<ReadLock>, Error> {
        let path = dir.join(LOCK_FILE);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Some(ReadLock { _file: None }));
            }
            Err(source) => return Err(Error::StoreRead { path, source }),
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(Some(ReadLock { _file: Some(file) })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(source)) => Err(Error::StoreRead { path, source }),
        }
    }
}

/// Proof that the store a [`TrustStore`](crate::store::TrustStore) method is called on is locked.
/// Only a [`StoreLock`](crate::store::StoreLock) hands one out, and only to its own store (and
/// provisioning, to the store it is making): a change can never be made
/// under another store's lock.
#[derive(Clone, Copy, Debug)]
pub struct Locked<'a> {
    _lock: &'a DirLock,
}

impl<'a> Locked<'a> {
    /// The proof that `lock`, the lock of the store being changed, is held.
    pub(crate) fn by(lock: &'a DirLock) -> Locked<'a> {
        Locked { _lock: lock }
    }
}
