//! The deterministic writer.
//!
//! The caller owns a single-pass flow, and every byte is written once, in
//! place:
//!
//! 1. [`head_frame_len`] says how long the head frame will be, from a
//!    provisional manifest and signatures whose digests and signature values
//!    are placeholders (only lengths matter);
//! 2. [`write_payload`] creates the bundle as a temporary file beside the
//!    output and writes the payload frame at that offset, reading every
//!    artifact once and hashing it while it is compressed, and hashing the
//!    compressed frame while it is written;
//! 3. the caller builds and signs the real manifest from the returned entries
//!    and [`Payload::sha256`];
//! 4. [`finish_bundle`] writes the head frame into the reserved space, syncs,
//!    and renames the file into place.
//!
//! The same inputs and options give byte-identical bundles on any machine.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::thread;

use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use crate::compress::{self, Compressor};
use crate::error::Error;
use crate::frames;
use crate::limits::Limits;
use crate::manifest::{
    Entry, EntryKind, Manifest, PayloadFrame, Signatures, cut_payload, index_sha256,
    validate_entries,
};
use crate::path::BundlePath;
use crate::read::CONTROL_MODE;
use crate::tarhdr::{self, BLOCK};
use crate::writeback::{self, Writeback};
use crate::{MANIFEST_PATH, SIGNATURES_PATH};

/// The one buffer artifacts are read into and writes into zstd are
/// coalesced in (see [`Staging`]).
const IO_BUF: usize = 1 << 20;

/// Output buffer between zstd and the bundle file (see `WriteOptions::encoder`).
const OUT_BUF: usize = 1 << 20;

/// Zeros for padding and the end-of-archive marker.
const ZEROS: [u8; 2 * BLOCK] = [0; 2 * BLOCK];

/// Most zstd worker threads used: more would not change the output, only
/// raise the memory (see [`JOB_SIZE`]): each worker adds a job's input and
/// output and a compression context, and pack's peak at 16 workers was
/// 285 MiB. With two, pack peaks at about 49 MiB on 1 GiB whatever
/// `--threads` says; on a two-CPU machine two are what `--threads`
/// defaulted to (docs/performance.md).
const MAX_WORKERS: u32 = 2;

/// Input bytes per zstd job (`ZSTD_c_jobSize`, bundle-format/SPEC.md 9.2):
/// it fixes where the multithreaded frame is cut, so it is part of the
/// exact output, and it sets the encoder's memory: zstd holds (workers + 3)
/// jobs of input, and a job's output until it is taken out (see
/// [`crate::compress`]). Its default at
/// level 3 (8 MiB) made pack hold 83 MiB at one worker and 285 MiB at 16 on
/// 1 GiB; 4 MiB halves that for 1.4 % more compression work and 0.3 % more
/// output (docs/performance.md).
const JOB_SIZE: u32 = 4 << 20;

/// How to write a bundle.
#[derive(Clone, Debug)]
pub struct WriteOptions {
    /// zstd compression level, 1 to 19.
    pub level: i32,
    /// zstd worker threads, at least 1 (at most 2 are used, to bound
    /// memory). The output is the same for any value: zstd's multithreaded
    /// format does not depend on it.
    pub workers: u32,
    /// Modification time written in every tar header (the source-date-epoch).
    /// It MUST equal the manifest's `created`, which is how the reader knows
    /// it: [`finish_bundle`] refuses anything else.
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

    /// The payload compressor (SPEC.md 9.2): always multithreaded, even
    /// with one worker (zstd's multithreaded output is the same for every
    /// worker count >= 1, but differs from single-threaded output), jobs of
    /// [`JOB_SIZE`], a content checksum. It hands compressed bytes out
    /// OUT_BUF at a time, and as soon as they are ready: see
    /// [`crate::compress`] for what that saves.
    fn encoder<W: Write>(&self, w: W) -> io::Result<Compressor<W>> {
        Compressor::new(
            w,
            &compress::Params {
                level: self.level,
                workers: self.workers.min(MAX_WORKERS),
                job_size: JOB_SIZE,
                out_buf: OUT_BUF,
            },
        )
    }
}

/// A payload entry to pack (an artifact or an image blob): a file on disk
/// and how it is recorded.
#[derive(Clone, Debug)]
pub struct ArtifactSource {
    /// [`EntryKind::Artifact`] or [`EntryKind::Blob`].
    pub kind: EntryKind,
    /// Path below the kind's directory (`artifacts/`, `blobs/`); for a blob,
    /// `sha256/<hex>` of its expected digest, which the writer checks.
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

impl ArtifactSource {
    /// The manifest entry this artifact will have, with a zero digest: the
    /// digest is known only once the file is read, and does not change the
    /// manifest's length, so this is what a head length is planned with.
    ///
    /// A blob is content-addressed: its planned digest is the one its path
    /// names (zeros if the path names none, which the manifest refuses).
    pub fn planned_entry(&self) -> Entry {
        let sha256 = match self.kind {
            EntryKind::Blob => self.named_digest().unwrap_or([0; 32]),
            _ => [0; 32],
        };
        Entry {
            kind: self.kind,
            path: self.path.clone(),
            size: self.size,
            sha256,
            mode: self.mode,
        }
    }

    /// The digest a content-addressed path (`sha256/<hex>`) names.
    fn named_digest(&self) -> Option<[u8; 32]> {
        let h = self.path.as_str().strip_prefix("sha256/")?;
        let mut d = [0u8; 32];
        hex::decode_to_slice(h, &mut d).ok()?;
        Some(d)
    }
}

impl MetadataFile {
    fn tar_path(&self) -> String {
        format!("{}{}", self.kind.prefix(), self.path)
    }

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

/// The payload frame, written at its final offset in the bundle-to-be (a
/// temporary file beside the output), with the artifact entries it holds and
/// its SHA-256. Dropping it removes the file.
pub struct Payload {
    file: NamedTempFile,
    /// Its syncs, already under way.
    writeback: Writeback,
    entries: Vec<Entry>,
    frames: Vec<PayloadFrame>,
    sha256: [u8; 32],
    len: u64,
    head_len: u64,
    mtime: u64,
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Payload")
            .field("file", &self.file.path())
            .field("entries", &self.entries.len())
            .field("sha256", &hex::encode(self.sha256))
            .field("len", &self.len)
            .field("head_len", &self.head_len)
            .finish()
    }
}

// A payload frame is never empty (it has at least a frame header and the
// end-of-archive blocks), so an `is_empty` would only ever say `false`.
#[allow(clippy::len_without_is_empty)]
impl Payload {
    /// The artifact entries, sorted by path, with their digests.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The manifest's `payload_sha256`: SHA-256 of the payload frame's
    /// bytes, from its magic number to its last byte; for a payload cut into
    /// frames, SHA-256 of the frame index ([`Self::frames`] encoded, SPEC.md
    /// 5.8), whose records hold each frame's. Computed while writing.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    /// Length of the payload frame in bytes (compressed, as stored).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// The frame index of a payload cut into two frames or more (SPEC.md
    /// 5.8), for [`Manifest::with_frames`]; empty for a payload of one frame.
    pub fn frames(&self) -> &[PayloadFrame] {
        &self.frames
    }
}

/// Exact byte length of the head frame for this manifest, signatures and
/// metadata: what [`write_payload`] must reserve before the payload frame.
///
/// Digest and signature *values* do not affect it, only the encoded lengths
/// do. So a caller can compute it before the payload exists, from a
/// provisional manifest whose artifact digests and `payload_sha256` are
/// zeros (and whose other fields are final) and provisional signatures with
/// the real key ids and zero-filled signatures of the real lengths.
pub fn head_frame_len(
    manifest: &Manifest,
    signatures: &Signatures,
    metadata: &[MetadataFile],
) -> u64 {
    let entry =
        |tar_path: &str, size: u64| tarhdr::header_len(tar_path) + size + tarhdr::padding(size);
    let mut tar_len = entry(MANIFEST_PATH, manifest.encode().len() as u64)
        + entry(SIGNATURES_PATH, signatures.encode().len() as u64);
    for m in metadata {
        tar_len += entry(&m.tar_path(), m.bytes.len() as u64);
    }
    frames::head_frame_len(tar_len)
}

pub(crate) fn dir_of(out: &Path) -> &Path {
    out.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Syncs the directory `out` is in (after a rename into it).
pub(crate) fn sync_dir_of(out: &Path) -> Result<(), Error> {
    let dir = dir_of(out);
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| Error::Write {
            path: dir.to_owned(),
            source,
        })
}

/// A temporary file in `out`'s directory that becomes the bundle, so it is
/// created like an ordinary new file (0o666 less the umask).
pub(crate) fn temp_beside(out: &Path) -> Result<NamedTempFile, Error> {
    let dir = dir_of(out);
    let mut b = tempfile::Builder::new();
    // `.airlock-pack-PID-`: what an interrupted `pack` removes on a signal
    // (its own PID), and what the next `pack` sweeps once unlocked.
    let prefix = format!("{TEMP_PREFIX}{}-", std::process::id());
    b.prefix(&prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let tmp = b.tempfile_in(dir).map_err(|source| Error::Write {
        path: dir.to_owned(),
        source,
    })?;
    // Held while the file is being written: a sweep by another `pack`
    // removes only temporary files whose lock is free (their writer died).
    tmp.as_file().lock().map_err(|source| Error::Write {
        path: tmp.path().to_owned(),
        source,
    })?;
    Ok(tmp)
}

/// Prefix of the temporary files a writer creates beside its output.
pub const TEMP_PREFIX: &str = ".airlock-pack-";

/// Hashes and counts what is written through it. With `indexed` (a payload
/// cut into frames, SPEC.md 5.8), the hash and `frame_len` cover the current
/// frame alone, and are taken at each frame's end for its record; the whole
/// payload is not hashed a second time (its `payload_sha256` is the index's
/// digest).
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    /// Bytes written in all.
    len: u64,
    /// Bytes written since the current frame began.
    frame_len: u64,
    indexed: bool,
    /// Syncs what is written every [`writeback::EVERY`] bytes.
    writeback: Writeback,
    /// Bytes written since the last sync was asked for.
    unsynced: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        self.frame_len += n as u64;
        self.unsynced += n as u64;
        if self.unsynced >= writeback::EVERY {
            self.writeback.kick();
            self.unsynced = 0;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The uncompressed tar stream on its way into zstd: one buffer, allocated
/// and zeroed once, that artifacts are read into directly (the kernel's copy
/// is the only one before zstd's) and tar headers and padding are copied
/// into; handed to the encoder when full. Each `ZSTD_compressStream` call
/// has a fixed cost, so many small files are not fed to it one by one.
///
/// (A `BufReader` per file in front of `io::copy` into a `BufWriter` cost
/// two copies of every byte, and `io::copy` zeroed the `BufWriter`'s spare
/// capacity, up to 1 MiB, once per file: 14 % of pack's CPU time on 20,000
/// small files; see docs/performance.md.)
struct Staging<W> {
    buf: Box<[u8]>,
    len: usize,
    inner: W,
}

impl<W: Write> Staging<W> {
    fn new(inner: W) -> Staging<W> {
        Staging {
            buf: vec![0u8; IO_BUF].into_boxed_slice(),
            len: 0,
            inner,
        }
    }

    fn drain(&mut self) -> io::Result<()> {
        if self.len > 0 {
            self.inner.write_all(&self.buf[..self.len])?;
            self.len = 0;
        }
        Ok(())
    }

    /// Copies `bytes` in (headers, padding).
    fn put(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            if self.len == self.buf.len() {
                self.drain()?;
            }
            let n = bytes.len().min(self.buf.len() - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
            self.len += n;
            bytes = &bytes[n..];
        }
        Ok(())
    }

    /// The free part of the buffer, at most `max` bytes and never empty
    /// (`max` > 0): what is read next goes there, then [`Self::commit`].
    fn spare(&mut self, max: u64) -> io::Result<&mut [u8]> {
        if self.len == self.buf.len() {
            self.drain()?;
        }
        let n = usize::try_from(max)
            .unwrap_or(usize::MAX)
            .min(self.buf.len() - self.len);
        Ok(&mut self.buf[self.len..self.len + n])
    }

    fn commit(&mut self, n: usize) {
        self.len += n;
    }

    fn into_inner(mut self) -> io::Result<W> {
        self.drain()?;
        Ok(self.inner)
    }
}

type FrameEncoder<'a> = Compressor<HashingWriter<&'a File>>;

/// The compressor of a payload cut into frames (SPEC.md 5.8): at each cut,
/// the frame is ended and the next one begun on the same compressor, with
/// the same parameters (9.2).
struct Frames<'a> {
    enc: FrameEncoder<'a>,
    /// The records of the frames finished so far.
    done: Vec<PayloadFrame>,
    /// The first payload entry of the current frame.
    first_entry: u64,
}

impl<'a> Frames<'a> {
    /// Ends the current frame and records it.
    fn end_frame(&mut self) -> io::Result<()> {
        self.enc.end_frame()?;
        let w = self.enc.inner_mut();
        if w.indexed {
            self.done.push(PayloadFrame {
                len: std::mem::take(&mut w.frame_len),
                sha256: std::mem::take(&mut w.hasher).finalize().into(),
                first_entry: self.first_entry,
            });
        }
        Ok(())
    }

    /// Cuts: ends the current frame; the next, whose first payload entry is
    /// `first_entry`, begins with the next write.
    fn cut(&mut self, first_entry: u64) -> io::Result<()> {
        self.end_frame()?;
        self.first_entry = first_entry;
        Ok(())
    }

    /// Ends the last frame; returns the writer and the frames' records.
    fn finish(mut self) -> io::Result<(HashingWriter<&'a File>, Vec<PayloadFrame>)> {
        self.end_frame()?;
        Ok((self.enc.into_inner(), self.done))
    }
}

impl Write for Frames<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.enc.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.enc.flush()
    }
}

/// Compresses the artifacts into the payload frame, written at offset
/// `head_len` of a temporary file in `out`'s directory that
/// [`finish_bundle`] completes and renames to `out` (give it the same `out`).
///
/// `head_len` is [`head_frame_len`] of the bundle's manifest, signatures
/// and metadata. Artifacts are sorted by path and each file is read exactly
/// once: the bytes are hashed as they are compressed, and the compressed
/// frame is hashed as it is written. A file with fewer or more than `size`
/// bytes fails with [`Error::InputChanged`]. `progress` is called with the
/// number of bytes added, as they are added. Tar headers carry `opts.mtime`,
/// which must be the manifest's `created`.
pub fn write_payload(
    out: &Path,
    artifacts: &[ArtifactSource],
    head_len: u64,
    opts: &WriteOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Payload, Error> {
    opts.check()?;
    if artifacts.iter().any(|a| a.kind.is_metadata()) {
        return Err(Error::Misuse(
            "write_payload takes artifacts and blobs only",
        ));
    }
    let mut sorted: Vec<&ArtifactSource> = artifacts.iter().collect();
    sorted.sort_by(|a, b| (a.kind, &a.path).cmp(&(b.kind, &b.path)));
    let planned: Vec<Entry> = sorted.iter().map(|a| a.planned_entry()).collect();
    validate_entries(&planned, &opts.limits)?;
    // Where the payload is cut (SPEC.md 5.8): known from the entries alone.
    let cuts = cut_payload(&planned);
    let mut next_cut = cuts.iter().skip(1).map(|c| c.first_entry).peekable();

    let tmp = temp_beside(out)?;
    let tmp_path = tmp.path().to_owned();
    let werr = |source: io::Error| Error::Write {
        path: tmp_path.clone(),
        source,
    };
    let mut file = tmp.as_file();
    file.seek(SeekFrom::Start(head_len)).map_err(werr)?;
    let sink = HashingWriter {
        inner: file,
        hasher: Sha256::new(),
        len: 0,
        frame_len: 0,
        indexed: cuts.len() > 1,
        writeback: Writeback::spawn(file).map_err(werr)?,
        unsynced: 0,
    };
    let mut w = Staging::new(Frames {
        enc: opts.encoder(sink).map_err(werr)?,
        done: Vec::new(),
        first_entry: 0,
    });
    let mut entries = Vec::with_capacity(planned.len());
    for (i, (a, mut entry)) in sorted.into_iter().zip(planned).enumerate() {
        let ierr = |source: io::Error| Error::Input {
            path: a.file.clone(),
            source,
        };
        if next_cut.next_if_eq(&i).is_some() {
            w.drain().map_err(werr)?;
            w.inner.cut(i as u64).map_err(werr)?;
        }
        let mut file = File::open(&a.file).map_err(ierr)?;
        let header =
            tarhdr::header_bytes(&entry.tar_path(), a.size, a.mode, opts.mtime).map_err(werr)?;
        w.put(&header).map_err(werr)?;
        let mut hasher = Sha256::new();
        let mut left = a.size;
        while left > 0 {
            let spare = w.spare(left).map_err(werr)?;
            let n = match file.read(spare) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ierr(e)),
            };
            hasher.update(&spare[..n]);
            w.commit(n);
            left -= n as u64;
            progress(n as u64);
        }
        if left != 0 || has_more(&mut file).map_err(ierr)? {
            return Err(Error::InputChanged {
                path: a.file.clone(),
            });
        }
        let pad = tarhdr::padding(a.size) as usize;
        w.put(&ZEROS[..pad]).map_err(werr)?;
        let sha256: [u8; 32] = hasher.finalize().into();
        // A blob is named by its digest: other bytes than the name says
        // (a changed or corrupt source) are the input's fault.
        if a.kind == EntryKind::Blob && sha256 != entry.sha256 {
            return Err(Error::InputChanged {
                path: a.file.clone(),
            });
        }
        entry.sha256 = sha256;
        entries.push(entry);
    }
    // The end-of-archive blocks belong in this frame.
    w.put(&ZEROS).map_err(werr)?;
    let (
        HashingWriter {
            hasher,
            len,
            writeback,
            ..
        },
        frames,
    ) = w.into_inner().and_then(Frames::finish).map_err(werr)?;
    // The rest on its way to disk while the caller checks and signs.
    writeback.kick();
    // One frame: the SHA-256 of its bytes. Several: that of the index,
    // which holds each frame's (SPEC.md 5.8).
    let sha256 = if frames.is_empty() {
        hasher.finalize().into()
    } else {
        index_sha256(&frames)
    };
    Ok(Payload {
        file: tmp,
        writeback,
        entries,
        frames,
        sha256,
        len,
        head_len,
        mtime: opts.mtime,
    })
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

/// Finishes the bundle and puts it at `out`: writes the head frame
/// (manifest, signatures, metadata sorted by kind and path) into the space
/// [`write_payload`] reserved before the payload frame, syncs the file,
/// renames it over `out` and syncs the directory. The payload is not copied.
///
/// Refused with [`Error::Misuse`], leaving nothing behind: `manifest_bytes`
/// that do not describe exactly `metadata` and the payload's artifacts, or
/// whose `payload_sha256` is not [`Payload::sha256`]; an `opts.mtime` (here
/// or given to [`write_payload`]) other than the manifest's `created`; a head
/// frame whose length is not the `head_len` given to [`write_payload`].
/// `manifest_bytes` and `signatures` must also decode under `opts.limits`.
///
/// Those checks (decoding the manifest is most of them) run in a thread of
/// their own while the head is written into the temporary file and synced;
/// the file is renamed into place only once both are done, and removed if
/// either failed (a failed check is reported first).
pub fn finish_bundle(
    out: &Path,
    manifest_bytes: &[u8],
    signatures: &Signatures,
    metadata: &[MetadataFile],
    payload: Payload,
    opts: &WriteOptions,
) -> Result<(), Error> {
    opts.check()?;
    let mut meta: Vec<&MetadataFile> = metadata.iter().collect();
    meta.sort_by(|a, b| (a.kind, &a.path).cmp(&(b.kind, &b.path)));
    let sig_bytes = signatures.encode();
    let Payload {
        file: tmp,
        writeback,
        entries,
        frames,
        sha256,
        head_len,
        mtime,
        ..
    } = payload;
    let given = Given {
        manifest_bytes,
        sig_bytes: &sig_bytes,
        meta: &meta,
        opts,
    };
    let payload = Written {
        entries: &entries,
        frames: &frames,
        sha256,
        mtime,
    };
    let (checked, written) = thread::scope(|s| {
        let check = thread::Builder::new()
            .name("airlock-check-manifest".into())
            .spawn_scoped(s, || check_finish(&given, &payload));
        let written = write_head(&tmp, writeback, &given, head_len);
        let checked = match check {
            Ok(t) => t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            // No thread to be had: the same checks, after the head.
            Err(_) => check_finish(&given, &payload),
        };
        (checked, written)
    });
    checked?;
    written?;
    tmp.persist(out).map_err(|e| Error::Write {
        path: out.to_owned(),
        source: e.error,
    })?;
    sync_dir_of(out)
}

/// What [`finish_bundle`] is given to put in the head.
struct Given<'a> {
    manifest_bytes: &'a [u8],
    sig_bytes: &'a [u8],
    /// Sorted by kind and path.
    meta: &'a [&'a MetadataFile],
    opts: &'a WriteOptions,
}

/// What [`write_payload`] wrote, that the manifest must describe.
struct Written<'a> {
    entries: &'a [Entry],
    frames: &'a [PayloadFrame],
    sha256: [u8; 32],
    mtime: u64,
}

/// [`finish_bundle`]'s checks of the manifest and signatures it is given.
fn check_finish(g: &Given<'_>, p: &Written<'_>) -> Result<(), Error> {
    let manifest = Manifest::decode(g.manifest_bytes, &g.opts.limits)?;
    if g.opts.mtime != manifest.created || p.mtime != manifest.created {
        return Err(Error::Misuse(
            "WriteOptions.mtime must equal the manifest's created time, for write_payload and finish_bundle",
        ));
    }
    if manifest.artifacts() != p.entries {
        return Err(Error::Misuse(
            "the manifest's artifacts do not match the payload",
        ));
    }
    if manifest.payload_sha256 != p.sha256 {
        return Err(Error::Misuse(
            "the manifest's payload_sha256 is not the payload's SHA-256",
        ));
    }
    if manifest.frames != p.frames {
        return Err(Error::Misuse(
            "the manifest's frame index is not the payload's (Manifest::with_frames)",
        ));
    }
    let meta_entries: Vec<Entry> = g.meta.iter().map(|m| m.entry()).collect();
    if manifest.metadata() != meta_entries.as_slice() {
        return Err(Error::Misuse(
            "the manifest's metadata entries do not match the metadata files",
        ));
    }
    Signatures::decode(g.sig_bytes, &g.opts.limits)?;
    Ok(())
}

/// Writes the head frame into the space reserved for it and syncs the
/// file (the payload's last syncs first). Its tar headers carry
/// `opts.mtime`, which [`check_finish`] holds to the manifest's `created`.
fn write_head(
    tmp: &NamedTempFile,
    writeback: Writeback,
    g: &Given<'_>,
    head_len: u64,
) -> Result<(), Error> {
    let werr = |source: io::Error| Error::Write {
        path: tmp.path().to_owned(),
        source,
    };
    let head = head_tar(g.manifest_bytes, g.sig_bytes, g.meta, g.opts.mtime).map_err(werr)?;
    let head = frames::head_frame(&head);
    if head.len() as u64 != head_len {
        return Err(Error::Misuse(
            "head frame length differs from the reserved space",
        ));
    }
    let mut file = tmp.as_file();
    writeback
        .finish()
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .and_then(|_| file.write_all(&head))
        .and_then(|()| file.sync_all())
        .map_err(werr)
}

/// The head frame's tar stream: manifest, signatures, metadata, and no
/// end-of-archive blocks. Built in memory: its size is bounded by the limits
/// on the manifest, the signatures and metadata entries.
fn head_tar(
    manifest_bytes: &[u8],
    sig_bytes: &[u8],
    meta: &[&MetadataFile],
    mtime: u64,
) -> io::Result<Vec<u8>> {
    let mut tar = Vec::new();
    let mut entry = |tar_path: &str, bytes: &[u8], mode: u32| -> io::Result<()> {
        let size = bytes.len() as u64;
        tar.extend(tarhdr::header_bytes(tar_path, size, mode, mtime)?);
        tar.extend_from_slice(bytes);
        tar.extend_from_slice(&ZEROS[..tarhdr::padding(size) as usize]);
        Ok(())
    };
    entry(MANIFEST_PATH, manifest_bytes, CONTROL_MODE)?;
    entry(SIGNATURES_PATH, sig_bytes, CONTROL_MODE)?;
    for m in meta {
        entry(&m.tar_path(), &m.bytes, m.mode)?;
    }
    Ok(tar)
}
