//! Reading artifacts for inspections while they stream past: a bundle's
//! payload is copied once, into whatever sink receives it, and each byte of
//! an artifact an inspection needs is also handed to a reader thread that
//! lists the archive or parses the checksum file as it arrives. Nothing is
//! written; memory is bounded by the channel (a few chunks per tap).
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use super::{Contents, Need, Reading, read_content};

/// Chunks in flight per tap.
const DEPTH: usize = 8;

struct ChannelReader {
    rx: Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.recv() {
                Ok(c) => (self.chunk, self.at) = (c, 0),
                Err(_) => return Ok(0), // the sender is done
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// One artifact being read for one need.
#[derive(Debug)]
struct Tap {
    tx: Option<SyncSender<Vec<u8>>>,
    thread: JoinHandle<Reading>,
}

/// The needs of a verification and the readers for them.
#[derive(Debug, Default)]
pub struct Taps {
    wanted: BTreeMap<String, Vec<Need>>,
    running: Vec<(Need, Tap)>,
    done: Contents,
}

impl Taps {
    /// Taps for `needs`.
    pub fn new(needs: &[Need]) -> Taps {
        let mut wanted: BTreeMap<String, Vec<Need>> = BTreeMap::new();
        for n in needs {
            let v = wanted.entry(n.artifact.clone()).or_default();
            if !v.contains(n) {
                v.push(n.clone());
            }
        }
        Taps {
            wanted,
            ..Taps::default()
        }
    }

    /// Whether any artifact is needed.
    pub fn is_empty(&self) -> bool {
        self.wanted.is_empty()
    }

    /// Wraps `w`, the writer artifact `path` is copied into: the bytes also
    /// go to the readers that need them (whose readings are collected at
    /// the next `wrap` or at [`Taps::finish`]).
    pub fn wrap<'a>(&'a mut self, path: &str, w: &'a mut dyn Write) -> TeeWriter<'a> {
        self.finish_running();
        for need in self.wanted.remove(path).unwrap_or_default() {
            let (tx, rx) = sync_channel::<Vec<u8>>(DEPTH);
            let read = need.read;
            let thread = std::thread::spawn(move || {
                let mut r = ChannelReader {
                    rx,
                    chunk: Vec::new(),
                    at: 0,
                };
                read_content(read, &mut r)
            });
            self.running.push((
                need,
                Tap {
                    tx: Some(tx),
                    thread,
                },
            ));
        }
        TeeWriter {
            inner: w,
            taps: &mut self.running,
        }
    }

    fn finish_running(&mut self) {
        for (need, mut tap) in self.running.drain(..) {
            drop(tap.tx.take());
            let reading = tap.thread.join().unwrap_or_else(|_| Reading {
                sha256: [0; 32],
                content: Err(super::ContentError::Failed("the reader stopped".into())),
            });
            self.done.insert(need, reading);
        }
    }

    /// The readings (an artifact never seen has none).
    pub fn finish(mut self) -> Contents {
        self.finish_running();
        self.done
    }
}

/// A writer that also feeds the taps of the artifact being copied.
#[allow(missing_debug_implementations)]
pub struct TeeWriter<'a> {
    inner: &'a mut dyn Write,
    taps: &'a mut Vec<(Need, Tap)>,
}

impl Write for TeeWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        for (_, tap) in self.taps.iter_mut() {
            if let Some(tx) = &tap.tx
                && tx.send(buf[..n].to_vec()).is_err()
            {
                // The reader stopped early (it has its verdict): the rest
                // still counts for its digest, which it no longer needs.
                tap.tx = None;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
