//! The deterministic writer.
//!
//! The caller owns a single-pass flow: [`write_payload`] reads every artifact
//! once, hashing it while it is compressed into a temporary file; the caller
//! builds and signs the manifest from the returned entries; [`finish_bundle`]
//! writes the head frame, appends the payload frame and renames the result
//! into place. The same inputs and options give byte-identical bundles on
//! any machine.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use crate::error::Error;
use crate::limits::Limits;
use crate::manifest::{Entry, EntryKind, Manifest, Signatures, validate_entries};
use crate::path::BundlePath;
use crate::tarhdr::{Gate, regular_header};
use crate::{MANIFEST_PATH, SIGNATURES_PATH};

/// Buffer for reading artifacts and for coalescing writes into zstd.
const IO_BUF: usize = 1 << 20;

/// Most zstd worker threads used; more would not change the output.
const MAX_WORKERS: u32 = 64;

/// How to write a bundle.
#[derive(Clone, Debug)]
pub struct WriteOptions {
    /// zstd compression level, 1 to 19.
    pub level: i32,
    /// zstd worker threads, at least 1 (capped at 64). The output is the same
    /// for any value: zstd's multithreaded format does not depend on it.
    pub workers: u32,
    /// Modification time written in every tar header (the source-date-epoch).
    pub mtime: u64,
    /// Limits the bundle must stay within (checked as a reader would).
    pub limits: Limits,
}

impl Default for WriteOptions {
    fn default() -> Self {
        let workers = std::thread::available_parallelism()
            .map(|n| u32::try_from(n.get()).unwrap_or(MAX_WORKERS))
            .unwrap_or(1);
        WriteOptions {
            level: 3,
            workers: workers.clamp(1, MAX_WORKERS),
            mtime: 0,
            limits: Limits::default(),
        }
    }
}

impl WriteOptions {
    fn check(&self) -> Result<(), Error> {
        if !(1..=19).contains(&self.level) {
            return Err(Error::Misuse("the compression level must be 1 to 19"));
        }
        if self.workers == 0 {
            return Err(Error::Misuse("at least one zstd worker is required"));
        }
        Ok(())
    }

    fn encoder<W: Write>(&self, w: W) -> io::Result<zstd::stream::write::Encoder<'static, W>> {
        let mut e = zstd::stream::write::Encoder::new(w, self.level)?;
        // Always multithreaded, even with one worker: zstd's multithreaded
        // output is the same for every worker count >= 1, but differs from
        // single-threaded (0 workers) output.
        e.multithread(self.workers.min(MAX_WORKERS))?;
        e.include_checksum(true)?;
        Ok(e)
    }
}

/// An artifact to pack: a file on disk and how it is recorded.
#[derive(Clone, Debug)]
pub struct ArtifactSource {
    /// Path below `artifacts/` in the bundle.
    pub path: BundlePath,
    /// File to read.
    pub file: PathBuf,
    /// Exact size expected; a file that turns out shorter or longer is refused.
    pub size: u64,
    /// Mode to record (at most `0o7777`).
    pub mode: u32,
}

/// A metadata file to put in the head frame.
#[derive(Clone)]
pub struct MetadataFile {
    /// What it is.
    pub kind: EntryKind,
    /// Path below the kind's directory.
    pub path: BundlePath,
    /// Contents.
    pub bytes: Vec<u8>,
    /// Mode to record (at most `0o7777`).
    pub mode: u32,
}

impl fmt::Debug for MetadataFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataFile")
            .field("kind", &self.kind)
            .field("path", &self.path)
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .field("mode", &self.mode)
            .finish()
    }
}

impl MetadataFile {
    /// The manifest entry describing this file.
    pub fn entry(&self) -> Entry {
        Entry {
            kind: self.kind,
            path: self.path.clone(),
            size: self.bytes.len() as u64,
            sha256: Sha256::digest(&self.bytes).into(),
            mode: self.mode,
        }
    }
}

/// The compressed payload frame, in a temporary file beside the output, and
/// the artifact entries it holds. Dropping it removes the file.
pub struct Payload {
    file: NamedTempFile,
    entries: Vec<Entry>,
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Payload")
            .field("file", &self.file.path())
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl Payload {
    /// The artifact entries, sorted by path, with their digests.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

fn dir_of(out: &Path) -> &Path {
    out.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A temporary file in `out`'s directory. With `final_mode`, it is created
/// like an ordinary new file (0o666 less the umask) because it becomes the
/// bundle; otherwise it is private to the user (0o600).
fn temp_beside(out: &Path, final_mode: bool) -> Result<NamedTempFile, Error> {
    let dir = dir_of(out);
    let mut b = tempfile::Builder::new();
    b.prefix(".airlock-");
    #[cfg(unix)]
    if final_mode {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o666));
    }
    #[cfg(not(unix))]
    let _ = final_mode;
    b.tempfile_in(dir).map_err(|source| Error::Write {
        path: dir.to_owned(),
        source,
    })
}

/// Hashes and counts what passes through, and keeps the input's own error
/// so it is not mistaken for an output error.
struct Hashing<'a, R> {
    inner: R,
    hasher: Sha256,
    count: u64,
    progress: &'a (dyn Fn(u64) + Sync),
    error: Option<io::Error>,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.hasher.update(&buf[..n]);
                self.count += n as u64;
                if n > 0 {
                    (self.progress)(n as u64);
                }
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let kind = e.kind();
                self.error = Some(e);
                Err(io::Error::new(kind, "reading the input failed"))
            }
        }
    }
}

/// Compresses the artifacts into the payload frame, in a temporary file in
/// `out`'s directory.
///
/// Artifacts are sorted by path and each file is read exactly once: the
/// bytes are hashed as they are compressed. A file with fewer or more than
/// `size` bytes fails with [`Error::InputChanged`]. `progress` is called with
/// the number of bytes added, as they are added.
pub fn write_payload(
    out: &Path,
    artifacts: &[ArtifactSource],
    opts: &WriteOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Payload, Error> {
    opts.check()?;
    let mut sorted: Vec<&ArtifactSource> = artifacts.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let planned: Vec<Entry> = sorted
        .iter()
        .map(|a| Entry {
            kind: EntryKind::Artifact,
            path: a.path.clone(),
            size: a.size,
            sha256: [0; 32],
            mode: a.mode,
        })
        .collect();
    validate_entries(&planned, &opts.limits)?;

    let tmp = temp_beside(out, false)?;
    let tmp_path = tmp.path().to_owned();
    let werr = |source: io::Error| Error::Write {
        path: tmp_path.clone(),
        source,
    };
    let enc = opts.encoder(tmp.as_file()).map_err(werr)?;
    let mut tar = tar::Builder::new(BufWriter::with_capacity(IO_BUF, enc));
    let mut entries = Vec::with_capacity(planned.len());
    for (a, mut entry) in sorted.into_iter().zip(planned) {
        let ierr = |source: io::Error| Error::Input {
            path: a.file.clone(),
            source,
        };
        let file = File::open(&a.file).map_err(ierr)?;
        let mut src = Hashing {
            inner: BufReader::with_capacity(IO_BUF, file).take(a.size),
            hasher: Sha256::new(),
            count: 0,
            progress,
            error: None,
        };
        let mut header = regular_header(a.size, a.mode, opts.mtime);
        if let Err(e) = tar.append_data(&mut header, entry.tar_path(), &mut src) {
            return Err(match src.error.take() {
                Some(source) => ierr(source),
                None => werr(e),
            });
        }
        if src.count != a.size || has_more(src.inner.into_inner()).map_err(ierr)? {
            return Err(Error::InputChanged {
                path: a.file.clone(),
            });
        }
        entry.sha256 = src.hasher.finalize().into();
        entries.push(entry);
    }
    // `into_inner` writes the end-of-archive blocks, which belong in this frame.
    let buffered = tar.into_inner().map_err(werr)?;
    let enc = buffered.into_inner().map_err(|e| werr(e.into_error()))?;
    enc.finish().map_err(werr)?;
    Ok(Payload { file: tmp, entries })
}

fn has_more(mut r: impl Read) -> io::Result<bool> {
    let mut one = [0u8; 1];
    loop {
        match r.read(&mut one) {
            Ok(n) => return Ok(n > 0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Writes the finished bundle to `out`: the head frame (manifest,
/// signatures, metadata sorted by kind and path), then the payload frame.
///
/// `manifest_bytes` must decode under `opts.limits` and describe exactly
/// `metadata` and the payload's artifacts ([`Error::Misuse`] otherwise). The
/// bundle is written to a temporary file beside `out`, synced, renamed over
/// `out`, and the directory is synced; on error nothing is left behind.
pub fn finish_bundle(
    out: &Path,
    manifest_bytes: &[u8],
    signatures: &Signatures,
    metadata: &[MetadataFile],
    mut payload: Payload,
    opts: &WriteOptions,
) -> Result<(), Error> {
    opts.check()?;
    let manifest = Manifest::decode(manifest_bytes, &opts.limits)?;
    if manifest.artifacts() != payload.entries.as_slice() {
        return Err(Error::Misuse(
            "the manifest's artifacts do not match the payload",
        ));
    }
    let mut meta: Vec<&MetadataFile> = metadata.iter().collect();
    meta.sort_by(|a, b| (a.kind, &a.path).cmp(&(b.kind, &b.path)));
    let meta_entries: Vec<Entry> = meta.iter().map(|m| m.entry()).collect();
    if manifest.metadata() != meta_entries.as_slice() {
        return Err(Error::Misuse(
            "the manifest's metadata entries do not match the metadata files",
        ));
    }
    let sig_bytes = signatures.encode();
    Signatures::decode(&sig_bytes, &opts.limits)?;

    let tmp = temp_beside(out, true)?;
    let tmp_path = tmp.path().to_owned();
    let werr = |source: io::Error| Error::Write {
        path: tmp_path.clone(),
        source,
    };
    write_head(tmp.as_file(), manifest_bytes, &sig_bytes, &meta, opts).map_err(werr)?;
    let src = payload.file.as_file_mut();
    src.seek(SeekFrom::Start(0)).map_err(werr)?;
    io::copy(src, &mut tmp.as_file()).map_err(werr)?;
    tmp.as_file().sync_all().map_err(werr)?;
    tmp.persist(out).map_err(|e| Error::Write {
        path: out.to_owned(),
        source: e.error,
    })?;
    let dir = dir_of(out);
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| Error::Write {
            path: dir.to_owned(),
            source,
        })?;
    Ok(())
}

/// Writes the head frame to `file`: manifest, signatures, metadata, and no
/// end-of-archive blocks.
fn write_head(
    file: &File,
    manifest_bytes: &[u8],
    sig_bytes: &[u8],
    meta: &[&MetadataFile],
    opts: &WriteOptions,
) -> io::Result<()> {
    let enc = opts.encoder(file)?;
    let mut tar = tar::Builder::new(Gate {
        inner: BufWriter::with_capacity(IO_BUF, enc),
        open: true,
    });
    for (path, bytes) in [
        (MANIFEST_PATH, manifest_bytes),
        (SIGNATURES_PATH, sig_bytes),
    ] {
        let mut h = regular_header(bytes.len() as u64, 0o644, opts.mtime);
        tar.append_data(&mut h, path, bytes)?;
    }
    for m in meta {
        let mut h = regular_header(m.bytes.len() as u64, m.mode, opts.mtime);
        let tar_path = format!("{}{}", m.kind.prefix(), m.path);
        tar.append_data(&mut h, tar_path, m.bytes.as_slice())?;
    }
    // The head frame ends after the last metadata entry: close the gate so
    // the end-of-archive blocks the builder writes on `into_inner` are dropped.
    tar.get_mut().open = false;
    let gate = tar.into_inner()?;
    let enc = gate.inner.into_inner().map_err(|e| e.into_error())?;
    enc.finish()?;
    Ok(())
}
