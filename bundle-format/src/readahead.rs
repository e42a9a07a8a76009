//! Decompresses the payload frame (or frames, checking each against its
//! record in the frame index, SPEC.md 5.8) in a background thread, and
//! hashes the payload as stored in a second one, so that zstd, the stored
//! bytes' SHA-256 and the consumer's SHA-256 of the decompressed data run
//! side by side.
//!
//! The decoder thread passes on the compressed bytes its decoder consumes
//! to the hashing thread ([`crate::stored_hash`]), with a mark where each
//! frame ends (a payload cut into frames) or where the payload ends (a
//! payload of one frame, hashed whole for `payload_sha256`). After a frame
//! with a record it tells the consumer, in order with the data, to check
//! it: the consumer takes the hashing thread's length and digest of that
//! frame and compares them with the record, at the same point of the
//! stream where a check in the decoder thread would stop it. Hashing the stored bytes in
//! the decoder thread kept it busier than the consumer (zstd plus SHA-256
//! against SHA-256 alone): on two cores the three loads now balance
//! (docs/performance.md).
//!
//! The decoder thread fills fixed-size buffers and sends them over a
//! bounded channel; the consumer sends emptied buffers back for reuse; the
//! input buffers shared with the hashing thread are bounded and reused the
//! same way ([`crate::stored_hash`]). Memory is therefore constant (about
//! `(DEPTH + 2) * CHUNK`, plus those input buffers), and the decoder
//! thread decompresses at most that
//! much beyond what the consumer has read. The threads never outlive their
//! [`ReadAhead`]: dropping it (an error, a reader given up mid-stream) asks
//! the decoder thread to stop, closes the channel so that a blocked send
//! fails, and joins the thread; its end closes the hashing thread's
//! channel, and that thread is joined next. The decoder thread stops at its
//! next chunk boundary or send, so a drop waits for at most one [`CHUNK`] of
//! decoding (the inputs are files, whose reads end).

use std::io::{self, BufRead, Read};
use std::mem;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::{self, JoinHandle};

use crate::error::Error;
use crate::frames::{self, Input, Taken, Tap};
use crate::manifest::PayloadFrame;
use crate::stored_hash::{self, Digests, Feeder, Hashed};

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
pub(crate) const DEPTH: usize = 4;

enum Msg {
    /// A buffer and how many of its bytes are filled.
    Data(Vec<u8>, usize),
    /// A frame with a record ended here: check its stored bytes.
    Check(FrameCheck),
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

/// The decoder thread's [`Tap`]: what its decoder consumes goes to the
/// hashing thread.
impl Tap for Feeder {
    fn take(&mut self, bytes: Taken) {
        Feeder::take(self, bytes);
    }

    fn end_stretch(&mut self) {
        Feeder::end_stretch(self);
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
    /// Whether the whole payload is hashed as one stretch (for
    /// [`End::sha256`]) rather than frame by frame.
    hash_all: bool,
    produced: Arc<AtomicU64>,
    /// Set on drop: the thread stops before decoding another chunk.
    stop: Arc<AtomicBool>,
    /// The decoder thread, joined on drop.
    thread: Option<JoinHandle<()>>,
    /// The hashing thread's results, one per stretch, in order; its thread
    /// is joined when this field drops, after the decoder thread (which
    /// holds the feeder) is joined in `drop`.
    digests: Digests,
}

impl ReadAhead {
    /// Starts decoding the payload frames `frames` from `input` on a new
    /// thread, one after the other, checking each (see [`FrameCheck`]).
    /// With `hash_all`, what the decoders consume from the input is hashed
    /// whole for [`End::sha256`] (a payload of one frame); without, each
    /// frame with a record is checked against it and that digest is
    /// meaningless (a payload with a frame index).
    pub(crate) fn spawn(
        mut input: Input,
        frames: Vec<FrameCheck>,
        hash_all: bool,
    ) -> Result<ReadAhead, Error> {
        let (tx, rx) = mpsc::sync_channel(DEPTH);
        let produced = Arc::new(AtomicU64::new(0));
        // The hashing thread holds a clone too, so that the witness of a
        // test sees both threads gone.
        let (feeder, digests) = stored_hash::spawn(Arc::clone(&produced)).map_err(Error::Read)?;
        input.set_tap(Box::new(feeder));
        let (recycle, recycled) = mpsc::channel();
        let counter = Arc::clone(&produced);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        // If the decoder thread cannot start, `input` (and its feeder) is
        // dropped before `digests`, which joins the hashing thread.
        let thread = thread::Builder::new()
            .name("airlock-payload".into())
            .spawn(move || run(input, &frames, hash_all, &tx, &recycled, &counter, &stopped))
            .map_err(Error::Read)?;
        Ok(ReadAhead {
            rx,
            recycle,
            cur: Vec::new(),
            pos: 0,
            len: 0,
            ended: None,
            hash_all,
            produced,
            stop,
            thread: Some(thread),
            digests,
        })
    }

    /// The hashing thread's length and digest of the next stretch.
    fn next_hashed(&self) -> Result<Hashed, Error> {
        self.digests.next().map_err(Error::Read)
    }

    /// Checks the stored bytes of frame `f` against its record.
    fn check(&self, f: &FrameCheck) -> Result<(), Error> {
        let (len, sha256) = self.next_hashed()?;
        let Some(r) = f.record else {
            return Ok(());
        };
        let bad = |reason: String| Error::PayloadFrame {
            frame: f.number,
            reason,
        };
        if len != r.len {
            return Err(bad(format!(
                "it is {len} bytes as stored; the frame index says {}",
                r.len
            )));
        }
        if sha256 != r.sha256 {
            return Err(bad("its SHA-256 as stored is not the frame index's".into()));
        }
        Ok(())
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
                    Ok(Msg::Check(f)) => {
                        self.check(&f)?;
                        continue;
                    }
                    Ok(Msg::End { trailing }) => {
                        let sha256 = if self.hash_all {
                            self.next_hashed()?.1
                        } else {
                            [0; 32]
                        };
                        self.ended = Some(End { trailing, sha256 });
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
        // The decoder thread's end dropped the feeder: the hashing thread
        // finishes what it holds and returns; `digests` joins it next.
    }
}

fn run(
    mut input: Input,
    frames: &[FrameCheck],
    hash_all: bool,
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
    // hashed whole, it ends here.
    if hash_all {
        input.end_stretch();
    }
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
    // The consumer checks the frame's stored bytes against its record here,
    // before it reads the next frame's data, once the hashing thread has
    // hashed them.
    if f.record.is_some() {
        input.end_stretch();
        if tx.send(Msg::Check(*f)).is_err() {
            return None;
        }
    }
    Some(input)
}
