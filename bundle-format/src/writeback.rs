//! Writing the bundle to disk while it is still being compressed.
//!
//! A bundle is synced before it is renamed into place (durable, or not
//! there at all). Synced only at the end, every byte of it is written to
//! disk then, while nothing else runs: 200 ms of pack's 3.8 s on 1 GiB
//! (docs/performance.md, eighth round). [`Writeback`] has a thread of its
//! own sync the file's data each time the payload has grown by
//! [`EVERY`] bytes, so that the disk works while zstd does, and the final
//! sync has little left to do.
//!
//! A sync that fails is kept and reported by [`Writeback::finish`]: after
//! a failed `fsync`, Linux may report the next one as a success although
//! the data never reached the disk, so the final sync alone could not be
//! trusted.

use std::fs::File;
use std::io;
use std::sync::mpsc::{self, SyncSender};
use std::thread::{self, JoinHandle};

/// Payload bytes written between two syncs.
pub(crate) const EVERY: u64 = 32 << 20;

/// A thread that syncs one file's data when asked.
pub(crate) struct Writeback {
    tx: Option<SyncSender<()>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Writeback {
    /// Starts the thread, with its own handle to `file`.
    pub(crate) fn spawn(file: &File) -> io::Result<Writeback> {
        let file = file.try_clone()?;
        // One request may wait while a sync runs: it starts after that
        // sync, so it covers everything written before any request that
        // found the queue full.
        let (tx, rx) = mpsc::sync_channel::<()>(1);
        let thread = thread::Builder::new()
            .name("airlock-writeback".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    file.sync_data()?;
                }
                Ok(())
            })?;
        Ok(Writeback {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Asks for a sync of what has been written so far; never waits.
    pub(crate) fn kick(&self) {
        if let Some(tx) = &self.tx {
            // Full: a sync that starts later is already asked for.
            // Disconnected: the thread stopped on an error, which
            // `finish` reports.
            let _ = tx.try_send(());
        }
    }

    /// Waits for the syncs asked for; the first error of any of them.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> io::Result<()> {
        drop(self.tx.take());
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the writeback thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for Writeback {
    fn drop(&mut self) {
        // An abandoned bundle: its syncs no longer matter.
        let _ = self.stop();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn syncs_when_asked_and_finishes() {
        let mut f = tempfile::tempfile().unwrap();
        let w = Writeback::spawn(&f).unwrap();
        for _ in 0..4 {
            f.write_all(&[7; 1 << 16]).unwrap();
            w.kick();
        }
        w.finish().unwrap();
    }

    #[test]
    fn a_failed_sync_is_reported() {
        // A pipe cannot be synced (fdatasync: EINVAL).
        let (r, _w) = std::io::pipe().unwrap();
        let file = File::from(std::os::fd::OwnedFd::from(r));
        let w = Writeback::spawn(&file).unwrap();
        w.kick();
        assert!(w.finish().is_err(), "fdatasync on a pipe fails (EINVAL)");
    }
}
