//! A Metablock link's signature checked while the link is parsed.
//!
//! Checking an Ed25519 signature over a large link is mostly SHA-512 over
//! its canonical form, and that form used to be written and hashed only
//! once the parse had ended. Here each field of `signed` is written in
//! canonical form as soon as it is parsed (the artifact lists a few
//! thousand entries at a time), and hashed on a thread of its own while
//! the parse goes on (docs/performance.md).
//!
//! This holds only while the fields come in canonical order (keys sorted,
//! as in-toto and airlock write links) and after the `signatures` they are
//! checked against. Otherwise the stream is dropped and gives no verdict:
//! the caller then checks the signature over the canonical form written
//! after the parse, as for any other link. Where it gives one, the verdict
//! is [`envelope::signed_by`]'s over the same signatures, key and message
//! (`canonical_stream_gives_the_verdict_of_the_whole_message` in
//! `linkfile.rs`).
use std::sync::mpsc::{Receiver, Sender, SyncSender};

use airlock_hsm::SignatureStream;

use super::artifacts::{ArtifactRuns, Digests, write_canonical_run};
use super::envelope::Signature;
use crate::json::write_canonical_str;
use crate::keys::KeyObject;

/// What the parse sends the hashing thread.
enum Piece {
    /// One stream for each signature claiming the key, when `signed`
    /// starts.
    Start(Vec<SignatureStream>),
    /// The next bytes of the canonical form.
    Bytes(Vec<u8>),
    /// `signed` ended: every byte of its canonical form was sent.
    End,
}

/// The parse's side: which key and keyids to check, and what was sent.
pub(super) struct StreamCheck<'k> {
    keyids: &'k [&'k str],
    key: &'k KeyObject,
    /// `None` once the stream is dropped (or never started).
    tx: Option<SyncSender<Piece>>,
    /// Whether `signed` has started streaming.
    started: bool,
    /// The last key opened (the next must sort after it).
    last: Option<String>,
    /// Canonical bytes not yet sent.
    pending: Vec<u8>,
    /// Buffers the hashing thread is done with, to write into again (new
    /// memory costs a page fault every 4 KiB).
    spent: Receiver<Vec<u8>>,
}

/// Bytes sent at a time (a few runs of artifacts).
const PIECE: usize = 1 << 20;

/// Pieces the parse may be ahead of the hashing by (at most this many
/// megabytes held).
const AHEAD: usize = 8;

impl<'k> StreamCheck<'k> {
    /// A check of `key` over the signatures claiming one of `keyids`, and
    /// the receiving end for [`hash`] (run on a thread of its own).
    pub(super) fn new(keyids: &'k [&'k str], key: &'k KeyObject) -> (Self, PieceReceiver) {
        let (tx, rx) = std::sync::mpsc::sync_channel(AHEAD);
        let (spent_tx, spent) = std::sync::mpsc::channel();
        let check = StreamCheck {
            keyids,
            key,
            tx: Some(tx),
            started: false,
            last: None,
            pending: Vec::new(),
            spent,
        };
        (check, PieceReceiver(rx, spent_tx))
    }

    /// `signed` starts, after `signatures`: streams when the key streams
    /// and some signature claims it (with none, there is nothing to hash).
    pub(super) fn start(&mut self, signatures: &[Signature]) {
        let streams: Option<Vec<SignatureStream>> = self.key.public.as_ref().and_then(|public| {
            signatures
                .iter()
                .filter(|s| self.keyids.contains(&s.keyid.as_str()))
                .map(|s| public.verify_stream(&s.sig))
                .collect()
        });
        match streams {
            Some(streams) if !streams.is_empty() && !self.started => {
                self.started = true;
                self.send(Piece::Start(streams));
            }
            _ => self.drop_stream(),
        }
    }

    /// Whether bytes are still being streamed.
    fn streaming(&self) -> bool {
        self.started && self.tx.is_some()
    }

    /// Field `key` of `signed` starts: `"key":` after `{` or `,`. Out of
    /// order (or repeated), the stream is dropped.
    fn open(&mut self, key: &str) -> bool {
        if !self.streaming() {
            return false;
        }
        if self.last.as_deref().is_some_and(|last| last >= key) {
            self.drop_stream();
            return false;
        }
        self.pending
            .push(if self.last.is_none() { b'{' } else { b',' });
        write_canonical_str(key, &mut self.pending);
        self.pending.push(b':');
        self.last = Some(key.to_owned());
        true
    }

    /// A field of `signed`, parsed: `write` appends its value's canonical
    /// form.
    pub(super) fn field(&mut self, key: &str, write: impl FnOnce(&mut Vec<u8>)) {
        if self.open(key) {
            write(&mut self.pending);
            self.send_pending(PIECE);
        }
    }

    /// An artifacts field of `signed` (`materials`, `products`) starts:
    /// its entries are streamed as they are parsed
    /// ([`ArtifactsSeed`](super::artifacts::ArtifactsSeed)), then
    /// [`ArtifactStream::close`].
    pub(super) fn artifacts(&mut self, key: &str) -> Option<ArtifactStream<'_, 'k>> {
        self.open(key).then_some(ArtifactStream {
            check: self,
            first: true,
            last: None,
        })
    }

    /// `signed` ended with every field sent.
    pub(super) fn end(&mut self) {
        if !self.streaming() {
            return;
        }
        let close: &[u8] = if self.last.is_none() { b"{}" } else { b"}" };
        self.pending.extend_from_slice(close);
        self.send_pending(0);
        self.send(Piece::End);
        self.tx = None;
    }

    /// Gives up streaming: [`hash`] then answers `None`.
    pub(super) fn drop_stream(&mut self) {
        self.tx = None;
        self.pending = Vec::new();
    }

    /// Sends what is pending once it is `at_least` bytes.
    fn send_pending(&mut self, at_least: usize) {
        if self.streaming() && !self.pending.is_empty() && self.pending.len() >= at_least {
            let next = match self.spent.try_recv() {
                Ok(mut spent) => {
                    spent.clear();
                    spent
                }
                Err(_) => Vec::with_capacity(PIECE + (PIECE >> 2)),
            };
            let bytes = std::mem::replace(&mut self.pending, next);
            self.send(Piece::Bytes(bytes));
        }
    }

    fn send(&mut self, piece: Piece) {
        // The hashing thread only stops once the sender is gone.
        if self.tx.as_ref().is_some_and(|tx| tx.send(piece).is_err()) {
            self.drop_stream();
        }
    }
}

/// An artifacts field being streamed, entry runs in sorted order (or the
/// stream is dropped).
pub(super) struct ArtifactStream<'c, 'k> {
    check: &'c mut StreamCheck<'k>,
    /// No entry written yet.
    first: bool,
    /// The path of the last entry written.
    last: Option<Box<str>>,
}

impl ArtifactRuns for ArtifactStream<'_, '_> {
    fn run(&mut self, entries: &mut dyn Iterator<Item = (&str, &Digests)>) {
        if !self.check.streaming() {
            return;
        }
        let mut previous: Option<&str> = None;
        for (path, digests) in entries {
            let after = previous.or(self.last.as_deref());
            if after.is_some_and(|before| before >= path) {
                self.check.drop_stream();
                return;
            }
            write_canonical_run([(path, digests)], self.first, &mut self.check.pending);
            self.first = false;
            previous = Some(path);
        }
        if let Some(path) = previous {
            self.last = Some(path.into());
        }
        self.check.send_pending(PIECE);
    }
}

impl ArtifactStream<'_, '_> {
    /// The field's entries are all given.
    pub(super) fn close(self) {
        if self.check.streaming() {
            let close: &[u8] = if self.first { b"{}" } else { b"}" };
            self.check.pending.extend_from_slice(close);
        }
    }
}

/// The hashing thread's side of a [`StreamCheck`]: what it is sent, and
/// where the buffers go back.
pub(super) struct PieceReceiver(Receiver<Piece>, Sender<Vec<u8>>);

/// Hashes what the parse sends: `Some(verdict)` when `signed` was streamed
/// to its end (whether any signature claiming the key verifies), `None`
/// when the stream was dropped or never started.
pub(super) fn hash(rx: PieceReceiver) -> Option<bool> {
    let Ok(Piece::Start(mut streams)) = rx.0.recv() else {
        return None;
    };
    for piece in rx.0 {
        match piece {
            Piece::Bytes(bytes) => {
                streams.iter_mut().for_each(|s| s.update(&bytes));
                let _ = rx.1.send(bytes); // the parse may be over: then it is freed
            }
            Piece::End => return Some(streams.into_iter().any(SignatureStream::verify)),
            Piece::Start(_) => return None,
        }
    }
    None // dropped before the end
}
