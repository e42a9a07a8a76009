//! SHA-256 of the payload as stored, computed in a thread of its own.
//!
//! The reader hashes the compressed payload (frame by frame against the
//! frame index, or whole for `payload_sha256`, SPEC.md 5.8) as its decoder
//! consumes it. Hashing it in the decoder thread, which also runs zstd,
//! made that thread the slowest of the pipeline on two cores; a third
//! thread balances them (docs/performance.md). (The writer still hashes
//! what zstd emits in its own thread: handing it here gained pack 3 % and
//! cost 5 MiB of peak memory.)
//!
//! [`spawn`] gives two halves: the [`Feeder`], which passes on the bytes
//! (the input's own buffers, shared, not copied: [`Taken`]) and marks
//! where each stretch (a frame, or the whole payload) ends, and the
//! [`Digests`], which yields each stretch's length and SHA-256, in order.
//! The pieces go over a channel of depth [`DEPTH`]; the input reuses a
//! buffer once the thread has hashed and dropped it, so memory is bounded
//! (at most `DEPTH + 3` buffers of [`crate::frames::INPUT_BUF`]).
//! The thread returns once the feeder is dropped; dropping the digests
//! joins it, so drop (or give to a thread that ends first) the feeder
//! before the digests.

use std::io;
use std::mem;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::{self, JoinHandle};

use sha2::{Digest, Sha256};

use crate::frames::Taken;

/// Pieces that may wait for the hashing thread.
const DEPTH: usize = 2;

/// What the hashing thread receives.
enum Stored {
    /// Stored bytes, in order.
    Bytes(Taken),
    /// The end of a stretch.
    End,
}

/// Length and SHA-256 of one stretch of stored bytes.
pub(crate) type Hashed = (u64, [u8; 32]);

/// The sending half: bytes in, stretch ends marked.
pub(crate) struct Feeder {
    tx: SyncSender<Stored>,
}

impl Feeder {
    /// The next stored bytes.
    pub(crate) fn take(&mut self, bytes: Taken) {
        // If the thread is gone, so is what waits for its digests, which
        // reports it (`Digests::next`).
        let _ = self.tx.send(Stored::Bytes(bytes));
    }

    /// The bytes taken since the last mark are one stretch.
    pub(crate) fn end_stretch(&mut self) {
        let _ = self.tx.send(Stored::End);
    }
}

/// The receiving half: each stretch's length and digest, in order. Dropping
/// it joins the thread (whose feeder must be gone by then).
pub(crate) struct Digests {
    rx: Receiver<Hashed>,
    thread: Option<JoinHandle<()>>,
}

impl Digests {
    /// The next stretch's length and SHA-256, once the thread has hashed it.
    pub(crate) fn next(&self) -> io::Result<Hashed> {
        self.rx
            .recv()
            .map_err(|_| io::Error::other("the payload hashing thread stopped unexpectedly"))
    }
}

impl Drop for Digests {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            // A panic in the thread has already been reported.
            let _ = t.join();
        }
    }
}

/// Starts the hashing thread; `keep` is held by it until it returns (a
/// test's witness that the thread is gone).
pub(crate) fn spawn<K: Send + 'static>(keep: K) -> io::Result<(Feeder, Digests)> {
    let (tx, rx) = mpsc::sync_channel(DEPTH);
    let (out, digests) = mpsc::channel();
    let thread = thread::Builder::new()
        .name("airlock-hash".into())
        .spawn(move || {
            hash(&rx, &out);
            drop(keep);
        })?;
    Ok((
        Feeder { tx },
        Digests {
            rx: digests,
            thread: Some(thread),
        },
    ))
}

fn hash(rx: &Receiver<Stored>, out: &Sender<Hashed>) {
    let (mut h, mut n) = (Sha256::new(), 0u64);
    while let Ok(m) = rx.recv() {
        match m {
            Stored::Bytes(b) => {
                h.update(&*b);
                n += b.len() as u64;
                // Dropping `b` lets the input write into its buffer again.
            }
            Stored::End => {
                let _ = out.send((mem::take(&mut n), mem::take(&mut h).finalize().into()));
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::frames::INPUT_BUF;

    #[test]
    fn each_stretch_is_hashed_alone_in_order() {
        let (mut f, d) = spawn(()).unwrap();
        let big: Vec<u8> = (0..3 * INPUT_BUF + 17).map(|i| (i % 251) as u8).collect();
        f.take(Taken::of(&big[..10]));
        f.take(Taken::of(&big[10..]));
        f.end_stretch();
        f.end_stretch();
        f.take(Taken::of(b"abc"));
        f.end_stretch();
        let want = |b: &[u8]| (b.len() as u64, Sha256::digest(b).into());
        assert_eq!(d.next().unwrap(), want(&big));
        assert_eq!(d.next().unwrap(), want(b""));
        assert_eq!(d.next().unwrap(), want(b"abc"));
        drop(f);
        assert!(d.next().is_err(), "no stretch after the feeder is gone");
    }

    #[test]
    fn dropping_the_halves_joins_the_thread() {
        let witness = std::sync::Arc::new(());
        let (mut f, d) = spawn(std::sync::Arc::clone(&witness)).unwrap();
        f.take(Taken::of(&[1; 2 * INPUT_BUF]));
        drop(f);
        drop(d);
        assert_eq!(std::sync::Arc::strong_count(&witness), 1);
    }
}
