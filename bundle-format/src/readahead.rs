//! Decompresses the payload frame (or frames, checking each against its
//! record in the frame index, SPEC.md 5.8) in a background thread, so that
//! zstd and SHA-256 run on two cores at once.
//!
//! For a payload of one frame, the thread also passes on the compressed
//! bytes its decoder consumes, in batches over the same channel, and the
//! consumer hashes them for the manifest's `payload_sha256`. Hashing on the
//! consumer's side balances the two cores: zstd alone keeps the decoder
//! thread busier than the consumer, which hashes the decompressed data. A
//! payload cut into frames is hashed once, frame by frame in the thread,
//! against the index (whose digest is `payload_sha256`), and nothing is
//! passed on.
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
use crate::frames::{self, Input, Tap};
use crate::manifest::PayloadFrame;

/// What the decoder thread checks of one payload frame (SPEC.md 5.8).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FrameCheck {
    /// The frame's number, from 1, for errors.
    pub(crate) number: u64,
    /// Its record in the signed frame index; `None` for the one frame of a
    /// payload without an index.
    pub(crate) record: Option<PayloadFrame>,
    /// Exactly how many bytes it must decompress to; `None` for the last
    /// frame, whose end the tar layer checks (end-of-archive, trailing data).
    pub(crate) tar_len: Option<u64>,
}

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
    /// A frame is not the one its record describes.
    Bad(Error),
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
    /// Whether the consumer hashes the whole payload (only for a payload
    /// without a frame index: otherwise nothing is sent).
    forward: bool,
    /// SHA-256 and length of the current frame's bytes, when frames are
    /// checked against an index.
    frame: Option<(Sha256, u64)>,
}

impl Tap for Forward {
    fn take(&mut self, bytes: &[u8]) {
        if let Some((h, n)) = self.frame.as_mut() {
            h.update(bytes);
            *n += bytes.len() as u64;
        }
        if !self.forward {
            return;
        }
        self.batch.extend_from_slice(bytes);
        if self.batch.len() >= CHUNK {
            self.flush();
        }
    }

    fn frame_end(&mut self) -> Option<(u64, [u8; 32])> {
        let (h, n) = self.frame.as_mut()?;
        let len = mem::take(n);
        Some((len, mem::take(h).finalize().into()))
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
    /// Starts decoding the payload frames `frames` from `input` on a new
    /// thread, one after the other, checking each (see [`FrameCheck`]).
    /// With `hash_all`, what the decoders consume from the input is hashed
    /// for [`End::sha256`] (a payload of one frame); without, that digest is
    /// meaningless (a payload with a frame index, each of whose frames is
    /// checked against its record instead).
    pub(crate) fn spawn(
        mut input: Input,
        frames: Vec<FrameCheck>,
        hash_all: bool,
    ) -> Result<ReadAhead, Error> {
        let (tx, rx) = mpsc::sync_channel(DEPTH);
        let indexed = frames.iter().any(|f| f.record.is_some());
        input.set_tap(Box::new(Forward {
            tx: tx.clone(),
            batch: Vec::with_capacity(CHUNK),
            forward: hash_all,
            frame: indexed.then(|| (Sha256::new(), 0)),
        }));
        let (recycle, recycled) = mpsc::channel();
        let produced = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&produced);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("airlock-payload".into())
            .spawn(move || run(input, &frames, &tx, &recycled, &counter, &stopped))
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
                    Ok(Msg::Bad(e)) => return Err(e),
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
    mut input: Input,
    frames: &[FrameCheck],
    tx: &SyncSender<Msg>,
    recycled: &Receiver<Vec<u8>>,
    produced: &AtomicU64,
    stop: &AtomicBool,
) {
    for f in frames {
        input = match run_frame(input, f, tx, recycled, produced, stop) {
            Some(i) => i,
            None => return,
        };
    }
    // The decoder stops exactly at the end of its frame; anything after
    // the last frame is trailing data. What it consumed is the payload:
    // pass the last of it on.
    input.flush_tap();
    let msg = match input.fill_buf() {
        Ok(rest) => Msg::End {
            trailing: !rest.is_empty(),
        },
        Err(e) => Msg::Failed(e),
    };
    let _ = tx.send(msg);
}

/// Decodes one frame and checks it; returns the input positioned after
/// it, or `None` once an error was sent (or the consumer is gone).
fn run_frame(
    input: Input,
    f: &FrameCheck,
    tx: &SyncSender<Msg>,
    recycled: &Receiver<Vec<u8>>,
    produced: &AtomicU64,
    stop: &AtomicBool,
) -> Option<Input> {
    let bad = |reason: String| {
        let _ = tx.send(Msg::Bad(Error::PayloadFrame {
            frame: f.number,
            reason,
        }));
        None
    };
    let mut dec = match frames::open_frame(input, "payload") {
        Ok(d) => d,
        Err(e) => {
            let _ = tx.send(Msg::Bad(e));
            return None;
        }
    };
    let mut decoded = 0u64;
    loop {
        if stop.load(Ordering::Relaxed) {
            return None;
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
                    return None;
                }
            }
        }
        decoded += n as u64;
        // More than the cut puts in this frame: refused before any of it
        // is passed on, which also bounds what a crafted frame can expand to.
        if let Some(want) = f.tar_len
            && decoded > want
        {
            return bad(format!(
                "it decompresses to more than the {want} bytes the cut rule puts in it"
            ));
        }
        produced.fetch_add(n as u64, Ordering::Relaxed);
        if n > 0 && tx.send(Msg::Data(buf, n)).is_err() {
            return None;
        }
        if eof {
            break;
        }
    }
    let mut input = dec.into_inner();
    if let Some(want) = f.tar_len
        && decoded != want
    {
        return bad(format!(
            "it decompresses to {decoded} bytes; the cut rule puts {want} in it"
        ));
    }
    if let (Some(r), Some((len, sha256))) = (f.record, input.frame_end()) {
        if len != r.len {
            return bad(format!(
                "it is {len} bytes as stored; the frame index says {}",
                r.len
            ));
        }
        if sha256 != r.sha256 {
            return bad("its SHA-256 as stored is not the frame index's".into());
        }
    }
    Some(input)
}
