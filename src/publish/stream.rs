//! `publish BUNDLE`'s streamed upload: while the import verifies the
//! bundle, each image blob is teed from the verifier's copy into a `PUT`
//! to the target registry (docs/containers.md, "Streaming and memory").
//!
//! Nothing here decides anything: the verifier still checks every byte
//! (the blob's digest and size against the signed manifest) and the
//! registry checks the digest of what it receives (`?digest=`). A blob
//! whose check fails is never completed in the registry: its stream ends
//! with an error, not with its last byte. Manifests and tags are pushed by
//! `cmd::publish` only after the import is committed, so a refused bundle
//! leaves at most unreferenced blobs behind, counted here for the journal.
//!
//! Memory is bounded: the verifier's thread hands the bytes over in a
//! channel of at most [`CHUNKS`] pieces to one uploader thread; a blob is
//! never held whole. Streaming is an optimisation only: when the registry
//! cannot be reached or refuses an upload, the uploader stops and the
//! blobs are sent from the committed import afterwards, as before.
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use airlock_bundle::{Entry, EntryKind, Manifest};

use crate::error::Error;
use crate::oci::Digest;
use crate::oci::graph::{ImageGraph, digest_of};
use crate::oci::registry::{Connection, Registry};
use crate::verifier::{ArtifactSink, Resumed};

/// Pieces of a blob in flight between the verifier and the uploader (each
/// one write of the verifier's copy, at most its buffer).
pub const CHUNKS: usize = 8;

/// One piece of a blob's stream.
enum Chunk {
    Data(Vec<u8>),
    /// The verifier checked the whole blob: the upload may complete.
    End,
}

/// One blob to send.
struct Job {
    repo: String,
    digest: Digest,
    size: u64,
    chunks: Receiver<Chunk>,
}

/// What the uploader did during the import.
#[derive(Debug, Default, Clone)]
pub struct Streamed {
    /// (repository, blob) uploaded completely (the registry answered 201).
    pub sent: BTreeSet<(String, Digest)>,
    /// (repository, blob) the registry already had (`HEAD`), not sent.
    pub present: BTreeSet<(String, Digest)>,
    /// Why the uploader stopped early (the rest is sent from the import),
    /// or how a blob's stream was cut by a refusal.
    pub stopped: Option<String>,
}

impl Streamed {
    /// The blobs of `graph` that reached every repository needing them
    /// during the import (sent or already there), given each image's
    /// repository: nothing is read of them from the import again.
    pub fn covered(
        &self,
        graph: &ImageGraph,
        repo_of: &dyn Fn(&str) -> String,
    ) -> BTreeSet<Digest> {
        let mut all: BTreeSet<Digest> = BTreeSet::new();
        let mut missed: BTreeSet<Digest> = BTreeSet::new();
        for p in &graph.images {
            let repo = repo_of(&p.image.name);
            for (d, _) in &p.blobs {
                all.insert(*d);
                let key = (repo.clone(), *d);
                if !self.sent.contains(&key) && !self.present.contains(&key) {
                    missed.insert(*d);
                }
            }
        }
        all.difference(&missed).copied().collect()
    }
}

/// The uploader: a thread with its own registry session, fed one blob at
/// a time by a [`Tee`].
pub struct Uploader {
    jobs: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<Streamed>>,
    repo_of: Box<dyn Fn(&str) -> String>,
    /// Each image blob's first repository (filled from the image graph).
    first_repo: BTreeMap<Digest, String>,
}

impl std::fmt::Debug for Uploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploader")
            .field("running", &self.jobs.is_some())
            .field("blobs", &self.first_repo.len())
            .finish_non_exhaustive()
    }
}

impl Uploader {
    /// Starts the uploader for registry `host`; `repo_of` names an image's
    /// repository there.
    pub fn start(host: &str, conn: &Connection, repo_of: Box<dyn Fn(&str) -> String>) -> Uploader {
        let (jobs, rx) = sync_channel::<Job>(1);
        let (host, conn) = (host.to_owned(), conn.clone());
        let thread = std::thread::Builder::new()
            .name("airlock-publish-upload".into())
            .spawn(move || upload(&host, &conn, rx))
            .ok();
        Uploader {
            jobs: thread.as_ref().map(|_| jobs),
            thread,
            repo_of,
            first_repo: BTreeMap::new(),
        }
    }

    fn learn(&mut self, graph: &ImageGraph) {
        for p in &graph.images {
            let repo = (self.repo_of)(&p.image.name);
            for (d, _) in &p.blobs {
                self.first_repo.entry(*d).or_insert_with(|| repo.clone());
            }
        }
    }

    /// A stream for blob `entry`, if it is an image blob and the uploader
    /// is still running.
    fn begin(&mut self, entry: &Entry) -> Option<SyncSender<Chunk>> {
        if entry.kind != EntryKind::Blob {
            return None;
        }
        let digest = digest_of(entry)?;
        let repo = self.first_repo.get(&digest)?.clone();
        let jobs = self.jobs.as_ref()?;
        let (tx, chunks) = sync_channel(CHUNKS);
        let job = Job {
            repo,
            digest,
            size: entry.size,
            chunks,
        };
        if jobs.send(job).is_err() {
            self.jobs = None;
            return None;
        }
        Some(tx)
    }

    /// Waits for the uploads in flight and says what was done.
    pub fn finish(mut self) -> Streamed {
        self.stop()
    }

    fn stop(&mut self) -> Streamed {
        self.jobs = None;
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(s)) => s,
            Some(Err(_)) => Streamed {
                stopped: Some("the upload thread failed".into()),
                ..Streamed::default()
            },
            None => Streamed {
                stopped: Some("the upload thread could not be started".into()),
                ..Streamed::default()
            },
        }
    }
}

impl Drop for Uploader {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop();
        }
    }
}

/// The uploader thread: for each blob, `HEAD` (skipped when there), else
/// one streamed `PUT …?digest=`. After the first failure it takes no more
/// (dropping a job's stream tells the verifier's side to stop teeing).
fn upload(host: &str, conn: &Connection, jobs: Receiver<Job>) -> Streamed {
    let mut out = Streamed::default();
    let mut reg = match Registry::connect(host, conn) {
        Ok(r) => r,
        Err(e) => {
            out.stopped = Some(e.to_string());
            return out;
        }
    };
    for job in jobs {
        if out.stopped.is_some() {
            continue;
        }
        let key = (job.repo.clone(), job.digest);
        match reg.has_blob(&job.repo, job.digest) {
            Ok(true) => {
                out.present.insert(key);
                continue;
            }
            Ok(false) => {}
            Err(e) => {
                out.stopped = Some(e.to_string());
                continue;
            }
        }
        let mut stream = Some(ChunkReader {
            rx: job.chunks,
            cur: Vec::new(),
            at: 0,
        });
        let mut open = || -> Result<Box<dyn Read + Send>, Error> {
            match stream.take() {
                Some(s) => Ok(Box::new(s)),
                None => Err(crate::oci::RegistryError::Failed(
                    "a streamed blob cannot be sent twice".into(),
                )
                .into()),
            }
        };
        match reg.push_blob(&job.repo, job.digest, job.size, &mut open) {
            Ok(()) => {
                out.sent.insert(key);
            }
            Err(e) => out.stopped = Some(format!("blob {}: {e}", job.digest)),
        }
    }
    out
}

/// A blob's stream as the uploader's `PUT` body: ends at [`Chunk::End`];
/// fails when the verifier's side goes away without it (the blob was
/// refused), so the registry never completes that upload.
struct ChunkReader {
    rx: Receiver<Chunk>,
    cur: Vec<u8>,
    at: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.cur.len() {
            match self.rx.recv() {
                Ok(Chunk::Data(d)) => (self.cur, self.at) = (d, 0),
                Ok(Chunk::End) => return Ok(0),
                Err(_) => {
                    return Err(std::io::Error::other(
                        "the bundle's check stopped this blob",
                    ));
                }
            }
        }
        let n = buf.len().min(self.cur.len() - self.at);
        buf[..n].copy_from_slice(&self.cur[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// An [`ArtifactSink`] that passes everything to `inner` (the import's
/// staging directory) and tees each image blob to the uploader as the
/// verifier copies it.
pub struct Tee<'a> {
    /// Where the import goes.
    pub inner: &'a mut dyn ArtifactSink,
    /// The uploader.
    pub uploader: &'a mut Uploader,
}

impl ArtifactSink for Tee<'_> {
    fn images(&mut self, graph: &ImageGraph, manifest_bytes: &[u8]) -> Result<(), Error> {
        self.uploader.learn(graph);
        self.inner.images(graph, manifest_bytes)
    }

    fn metadata(
        &mut self,
        entries: &[(Entry, Vec<u8>)],
        manifest_bytes: &[u8],
    ) -> Result<(), Error> {
        self.inner.metadata(entries, manifest_bytes)
    }

    /// A resumed import keeps what the interrupted one staged; those blobs
    /// are not streamed in this run, so `publish` sends them from the
    /// import directory afterwards, re-hashed, like any blob it did not
    /// stream.
    fn resume(&mut self, manifest: &Manifest) -> Result<Option<Resumed>, Error> {
        self.inner.resume(manifest)
    }

    fn receive(
        &mut self,
        entry: &Entry,
        copy: &mut dyn FnMut(&mut dyn Write) -> Result<(), airlock_bundle::Error>,
    ) -> Result<(), Error> {
        let Some(tx) = self.uploader.begin(entry) else {
            return self.inner.receive(entry, copy);
        };
        let mut tx = Some(tx);
        let received = self.inner.receive(entry, &mut |w| {
            copy(&mut TeeWriter {
                inner: w,
                tx: &mut tx,
            })
        });
        // Only a blob the verifier accepted (size and digest) and the
        // staging kept may complete; otherwise its stream is cut.
        if received.is_ok()
            && let Some(tx) = tx
        {
            let _ = tx.send(Chunk::End);
        }
        received
    }
}

/// Writes to the staging file and, while the uploader takes it, to the
/// blob's stream.
struct TeeWriter<'a, 'b> {
    inner: &'a mut dyn Write,
    tx: &'b mut Option<SyncSender<Chunk>>,
}

impl Write for TeeWriter<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(tx) = self.tx.as_ref()
            && n > 0
            && tx.send(Chunk::Data(buf[..n].to_vec())).is_err()
        {
            // The uploader let this blob go (there already, or stopped).
            *self.tx = None;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn reader(pieces: Vec<Chunk>, end: bool) -> ChunkReader {
        let (tx, rx) = sync_channel(CHUNKS);
        for p in pieces {
            tx.send(p).unwrap();
        }
        if end {
            tx.send(Chunk::End).unwrap();
        }
        ChunkReader {
            rx,
            cur: Vec::new(),
            at: 0,
        }
    }

    #[test]
    fn a_checked_blob_ends_with_its_last_byte() {
        let mut r = reader(
            vec![Chunk::Data(b"ab".to_vec()), Chunk::Data(b"c".to_vec())],
            true,
        );
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"abc");
    }

    #[test]
    fn a_blob_cut_by_a_refusal_ends_in_an_error_not_an_end() {
        let mut r = reader(vec![Chunk::Data(b"ab".to_vec())], false);
        let mut got = Vec::new();
        assert!(r.read_to_end(&mut got).is_err());
    }

    #[test]
    fn the_tee_stops_sending_when_the_uploader_lets_go() {
        let (tx, rx) = sync_channel(CHUNKS);
        drop(rx);
        let mut tx = Some(tx);
        let mut staged = Vec::new();
        let mut w = TeeWriter {
            inner: &mut staged,
            tx: &mut tx,
        };
        w.write_all(b"abc").unwrap();
        assert_eq!(staged, b"abc");
        assert!(tx.is_none());
    }
}
