//! Decompresses the payload frame in a background thread, so that zstd and
//! SHA-256 run on two cores at once.
//!
//! The thread fills fixed-size buffers and sends them over a bounded channel;
//! the consumer sends emptied buffers back for reuse. Memory is therefore
//! constant (about `(DEPTH + 2) * CHUNK`), and the thread decompresses at most
//! that much beyond what the consumer has read: when the consumer stops (an
//! error, a dropped reader), the next send fails and the thread ends.

use std::io::{self, BufRead, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread;

use crate::error::Error;
use crate::frames::{self, FrameDecoder};

/// Size of one decompressed buffer.
pub(crate) const CHUNK: usize = 512 << 10;

/// Filled buffers that may wait in the channel.
pub(crate) const DEPTH: usize = 8;

enum Msg {
    /// A buffer and how many of its bytes are filled.
    Data(Vec<u8>, usize),
    /// The frame ended; `trailing` says whether any input follows it.
    End { trailing: bool },
    /// Decoding or reading failed.
    Failed(io::Error),
}

/// The consumer's end: a source of decompressed payload bytes.
pub(crate) struct ReadAhead {
    rx: Receiver<Msg>,
    recycle: Sender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    len: usize,
    ended: Option<bool>,
    produced: Arc<AtomicU64>,
}

impl ReadAhead {
    /// Starts decoding `decoder` on a new thread.
    pub(crate) fn spawn(decoder: FrameDecoder) -> Result<ReadAhead, Error> {
        let (tx, rx) = mpsc::sync_channel(DEPTH);
        let (recycle, recycled) = mpsc::channel();
        let produced = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&produced);
        thread::Builder::new()
            .name("airlock-payload".into())
            .spawn(move || run(decoder, &tx, &recycled, &counter))
            .map_err(Error::Read)?;
        Ok(ReadAhead {
            rx,
            recycle,
            cur: Vec::new(),
            pos: 0,
            len: 0,
            ended: None,
            produced,
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
            match self.rx.recv() {
                Ok(Msg::Data(buf, n)) => {
                    self.cur = buf;
                    self.len = n;
                }
                Ok(Msg::End { trailing }) => self.ended = Some(trailing),
                Ok(Msg::Failed(e)) => return Err(frames::classify(e, "payload")),
                Err(_) => {
                    return Err(Error::Read(io::Error::other(
                        "the payload decoder thread stopped unexpectedly",
                    )));
                }
            }
        }
        Ok(&self.cur[self.pos..self.len])
    }

    pub(crate) fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.len);
    }

    /// After the frame has ended: whether input bytes follow it.
    pub(crate) fn trailing(&self) -> Option<bool> {
        self.ended
    }

    /// Decompressed bytes produced so far by the thread.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn produced(&self) -> u64 {
        self.produced.load(Ordering::Relaxed)
    }
}

fn run(
    mut dec: FrameDecoder,
    tx: &SyncSender<Msg>,
    recycled: &Receiver<Vec<u8>>,
    produced: &AtomicU64,
) {
    loop {
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
    // trailing data.
    let mut input = dec.into_inner();
    let msg = match input.fill_buf() {
        Ok(rest) => Msg::End {
            trailing: !rest.is_empty(),
        },
        Err(e) => Msg::Failed(e),
    };
    let _ = tx.send(msg);
}
