//! Decompresses the payload frame in a background thread, so that zstd and
//! SHA-256 run on two cores at once.
//!
//! The thread also passes on the compressed bytes its decoder consumes, in
//! batches over the same channel, and the consumer hashes them for the
//! manifest's `payload_sha256`. Hashing on the consumer's side balances the
//! two cores: zstd alone keeps the decoder thread busier than the consumer,
//! which hashes the decompressed data.
//!
//! The thread fills fixed-size buffers and sends them over a bounded channel;
//! the consumer sends emptied buffers back for reuse. Memory is therefore
//! constant (about `(DEPTH + 2) * CHUNK`), and the thread decompresses at most
//! that much beyond what the consumer has read. The thread never outlives
//! its [`ReadAhead`]: dropping it (an error, a reader given up mid-stream)
//! asks the thread to stop, closes the channel so that a blocked send
//! fails, and joins the thread. The thread stops at its next chunk boundary
//! or send, so a drop waits for at most one [`CHUNK`] of decoding (the
//! inputs are files, whose reads end).

use std::io::{self, BufRead, Read};
use std::mem;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::{self, JoinHandle};

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::frames::{self, FrameDecoder, Tap};

/// Size of one decompressed buffer.
pub(crate) const CHUNK: usize = 512 << 10;

/// Filled buffers that may wait in the channel.
pub(crate) const DEPTH: usize = 8;

enum Msg {
    /// A buffer and how many of its bytes are filled.
    Data(Vec<u8>, usize),
    /// Compressed bytes the decoder consumed, in order, to be hashed.
    Consumed(Vec<u8>),
    /// The frame ended; whether any input follows it.
    End { trailing: bool },
    /// Decoding or reading failed.
    Failed(io::Error),
}

/// How the payload frame ended.
#[derive(Clone, Copy)]
pub(crate) struct End {
    /// Whether any input follows the frame.
    pub(crate) trailing: bool,
    /// SHA-256 of the frame's bytes as read from the input.
    pub(crate) sha256: [u8; 32],
}

/// The decoder thread's [`Tap`]: gathers consumed bytes and sends them on in
/// batches of about [`CHUNK`], so memory stays bounded by the channel.
struct Forward {
    tx: SyncSender<Msg>,
    batch: Vec<u8>,
}

impl Tap for Forward {
    fn take(&mut self, bytes: &[u8]) {
        self.batch.extend_from_slice(bytes);
        if self.batch.len() >= CHUNK {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.batch.is_empty() {
            let batch = mem::replace(&mut self.batch, Vec::with_capacity(CHUNK));
            // If the consumer is gone, the thread ends at its next send.
            let _ = self.tx.send(Msg::Consumed(batch));
        }
    }
}

/// The consumer's end: a source of decompressed payload bytes.
pub(crate) struct ReadAhead {
    rx: Receiver<Msg>,
    recycle: Sender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    len: usize,
    ended: Option<End>,
    /// SHA-256 of the compressed bytes so far.
    hasher: Sha256,
    produced: Arc<AtomicU64>,
    /// Set on drop: the thread stops before decoding another chunk.
    stop: Arc<AtomicBool>,
    /// The decoder thread, joined on drop.
    thread: Option<JoinHandle<()>>,
}

impl ReadAhead {
    /// Starts decoding `decoder` on a new thread; what it consumes from its
    /// input from now on is hashed.
    pub(crate) fn spawn(mut decoder: FrameDecoder) -> Result<ReadAhead, Error> {
        let (tx, rx) = mpsc::sync_channel(DEPTH);
        decoder.get_mut().set_tap(Box::new(Forward {
            tx: tx.clone(),
            batch: Vec::with_capacity(CHUNK),
        }));
        let (recycle, recycled) = mpsc::channel();
        let produced = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&produced);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("airlock-payload".into())
            .spawn(move || run(decoder, &tx, &recycled, &counter, &stopped))
            .map_err(Error::Read)?;
        Ok(ReadAhead {
            rx,
            recycle,
            cur: Vec::new(),
            pos: 0,
            len: 0,
            ended: None,
            hasher: Sha256::new(),
            produced,
            stop,
            thread: Some(thread),
        })
    }

    /// Buffered bytes; empty once the frame has ended.
    pub(crate) fn fill(&mut self) -> Result<&[u8], Error> {
        if self.pos == self.len && self.ended.is_none() {
            let old = std::mem::take(&mut self.cur);
            if !old.is_empty() {
                // The thread may be gone already; then the buffer is just freed.
                let _ = self.recycle.send(old);
            }
            self.pos = 0;
            self.len = 0;
            loop {
                match self.rx.recv() {
                    Ok(Msg::Data(buf, n)) => {
                        self.cur = buf;
                        self.len = n;
                    }
                    Ok(Msg::Consumed(bytes)) => {
                        self.hasher.update(&bytes);
                        continue;
                    }
                    Ok(Msg::End { trailing }) => {
                        self.ended = Some(End {
                            trailing,
                            sha256: mem::take(&mut self.hasher).finalize().into(),
                        });
                    }
                    Ok(Msg::Failed(e)) => return Err(frames::classify(e, "payload")),
                    Err(_) => {
                        return Err(Error::Read(io::Error::other(
                            "the payload decoder thread stopped unexpectedly",
                        )));
                    }
                }
                break;
            }
        }
        Ok(&self.cur[self.pos..self.len])
    }

    pub(crate) fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.len);
    }

    /// After the frame has ended: whether input bytes follow it, and the
    /// frame's SHA-256.
    pub(crate) fn end(&self) -> Option<End> {
        self.ended
    }

    /// Decompressed bytes produced so far by the thread.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn produced(&self) -> u64 {
        self.produced.load(Ordering::Relaxed)
    }

    /// A handle the decoder thread holds a clone of until it returns: once
    /// the [`ReadAhead`] is dropped, the caller's is the only one left.
    #[cfg(test)]
    pub(crate) fn thread_witness(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.produced)
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Close the channel first: a thread blocked sending on a full
        // channel then fails its send and returns.
        let (_, closed) = mpsc::sync_channel(0);
        drop(mem::replace(&mut self.rx, closed));
        if let Some(t) = self.thread.take() {
            // A panic in the thread has already been reported; the reader is
            // going away either way.
            let _ = t.join();
        }
    }
}

fn run(
    mut dec: FrameDecoder,
    tx: &SyncSender<Msg>,
    recycled: &Receiver<Vec<u8>>,
    produced: &AtomicU64,
    stop: &AtomicBool,
) {
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let mut buf = recycled.try_recv().unwrap_or_else(|_| vec![0u8; CHUNK]);
        let mut n = 0;
        let mut eof = false;
        while n < buf.len() {
            match dec.read(&mut buf[n..]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Msg::Failed(e));
                    return;
                }
            }
        }
        produced.fetch_add(n as u64, Ordering::Relaxed);
        if n > 0 && tx.send(Msg::Data(buf, n)).is_err() {
            return;
        }
        if eof {
            break;
        }
    }
    // The decoder stops exactly at the end of its frame; anything after it is
    // trailing data. What it consumed is the frame: pass the last of it on.
    let mut input = dec.into_inner();
    input.flush_tap();
    let msg = match input.fill_buf() {
        Ok(rest) => Msg::End {
            trailing: !rest.is_empty(),
        },
        Err(e) => Msg::Failed(e),
    };
    let _ = tx.send(msg);
}
