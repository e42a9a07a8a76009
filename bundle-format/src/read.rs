//! The strict streaming reader.
//!
//! Reading happens in two stages that mirror the two frames. [`BundleReader`]
//! reads the head frame (raw blocks, checked byte for byte, nothing to
//! decompress) in the caller's thread: the manifest, the signatures, then
//! each metadata entry whole. Only after the caller has read all of them (and
//! so has had every chance to verify the signatures and stop) does
//! [`BundleReader::into_payload`] start decompressing the payload frame, in a
//! background thread, for [`PayloadReader`] to stream artifact by artifact
//! (for a payload of one frame, the thread also passes on the compressed
//! bytes, which are hashed for the manifest's `payload_sha256`; a payload cut
//! into frames is checked frame by frame against the signed frame index,
//! whose own digest is `payload_sha256`).
//!
//! Every byte is either canonical structure, compared with what the writer
//! would write (frame header and block headers of the head frame, every tar
//! header, padding, end-of-archive), or authenticated content (the manifest
//! by its signatures, entries by their digests, the compressed payload frame
//! by the manifest's `payload_sha256` or, cut into frames, each frame by its
//! record in the frame index).

use std::fmt;
use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

use crate::error::{Error, excerpt, excerpt_bytes};
use crate::frames::{self, HeadFrame, Input, InputBuf};
use crate::limits::Limits;
use crate::manifest::{Entry, Manifest, Signatures};
use crate::path::BundlePath;
use crate::readahead::{FrameCheck, ReadAhead};
use crate::tarhdr::{self, BLOCK, Header, NAME_FIELD};
use crate::{MANIFEST_PATH, SIGNATURES_PATH};

/// Mode of the manifest and signatures entries.
pub(crate) const CONTROL_MODE: u32 = 0o644;

/// Stream position of the first manifest entry (after manifest and signatures).
const FIRST_ENTRY: usize = 2;

// ---- sources of decompressed bytes ----------------------------------------

/// Decompressed bytes of one frame; an empty `fill` means the frame ended.
trait Source {
    fn fill(&mut self) -> Result<&[u8], Error>;
    fn consume(&mut self, n: usize);
}

impl Source for HeadFrame {
    fn fill(&mut self) -> Result<&[u8], Error> {
        HeadFrame::fill(self)
    }

    fn consume(&mut self, n: usize) {
        HeadFrame::consume(self, n);
    }
}

impl Source for ReadAhead {
    fn fill(&mut self) -> Result<&[u8], Error> {
        ReadAhead::fill(self)
    }

    fn consume(&mut self, n: usize) {
        ReadAhead::consume(self, n);
    }
}

// ---- the tar layer ----------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Frame {
    Head,
    Payload,
}

/// What stands where a header is expected.
enum Next {
    /// The frame ended on a block boundary.
    FrameEnd,
    /// An all-zero block.
    Zero,
    /// A regular file (with its long name resolved).
    File(FileHeader),
}

struct FileHeader {
    path: String,
    size: u64,
    mode: u32,
    /// Every byte of the header: the long-name entry (header, data and
    /// padding) if any, then the file's header block.
    raw: Vec<u8>,
}

/// A tar stream over one frame; `offset` counts bytes from the start of the
/// head frame's tar stream, for block indexes in errors.
struct Tar<S> {
    src: S,
    frame: Frame,
    offset: u64,
}

impl<S: Source> Tar<S> {
    /// Passes up to `n` bytes to `f`; returns how many there were (fewer only
    /// if the frame ended).
    fn stream(
        &mut self,
        n: u64,
        f: &mut dyn FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        let mut done = 0u64;
        while done < n {
            let buf = self.src.fill()?;
            if buf.is_empty() {
                break;
            }
            let take = usize::try_from(n - done)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            f(&buf[..take])?;
            self.src.consume(take);
            self.offset += take as u64;
            done += take as u64;
        }
        Ok(done)
    }

    fn read_full(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        let mut at = 0;
        self.stream(out.len() as u64, &mut |chunk| {
            out[at..at + chunk.len()].copy_from_slice(chunk);
            at += chunk.len();
            Ok(())
        })?;
        Ok(at)
    }

    /// The error for a frame that ends inside `what`.
    fn ended_inside(&self, what: &str) -> Error {
        match self.frame {
            Frame::Head => Error::FrameBoundary,
            Frame::Payload => Error::Truncated(format!("the payload frame ends inside {what}")),
        }
    }

    /// Reads the padding after `size` bytes of data of an entry; it must be
    /// all zero. `path` names the entry, built only for an error.
    fn padding(&mut self, size: u64, path: impl Fn() -> String) -> Result<(), Error> {
        let pad = tarhdr::padding(size);
        let mut zero = true;
        if self.stream(pad, &mut |c| {
            zero &= c.iter().all(|b| *b == 0);
            Ok(())
        })? < pad
        {
            return Err(self.ended_inside(&format!("entry {}", excerpt(&path()))));
        }
        if !zero {
            return Err(Error::TarHeaderMismatch {
                path: excerpt(&path()),
            });
        }
        Ok(())
    }

    fn read_block(&mut self, block: &mut [u8; BLOCK]) -> Result<usize, Error> {
        self.read_full(block)
    }

    fn next_header(&mut self, limits: &Limits) -> Result<Next, Error> {
        let index = self.offset / BLOCK as u64;
        let mut block = [0u8; BLOCK];
        match self.read_block(&mut block)? {
            0 => return Ok(Next::FrameEnd),
            BLOCK => {}
            _ => return Err(self.ended_inside("a tar header")),
        }
        match tarhdr::parse(&block, index)? {
            Header::Zero => Ok(Next::Zero),
            Header::Other { name, kind } => Err(Error::EntryType {
                path: excerpt_bytes(name),
                kind,
            }),
            Header::Regular { name, size, mode } => {
                let path = std::str::from_utf8(name).map_err(|_| Error::TarHeader {
                    index,
                    reason: format!("path {} is not valid UTF-8", excerpt_bytes(name)),
                })?;
                Ok(Next::File(FileHeader {
                    path: path.to_owned(),
                    size,
                    mode,
                    raw: block.to_vec(),
                }))
            }
            Header::LongName { size } => {
                self.long_name(&block, index, size, limits).map(Next::File)
            }
        }
    }

    /// Reads a GNU long-name entry's data and the regular-file header it
    /// names; `first` is the long-name entry's header block.
    fn long_name(
        &mut self,
        first: &[u8; BLOCK],
        index: u64,
        size: u64,
        limits: &Limits,
    ) -> Result<FileHeader, Error> {
        let bad = |reason: &str| Error::TarHeader {
            index,
            reason: reason.to_owned(),
        };
        if size > limits.max_path_bytes as u64 + 1 {
            return Err(Error::Limit {
                what: "path bytes",
                limit: limits.max_path_bytes as u64,
            });
        }
        if size <= NAME_FIELD as u64 + 1 {
            return Err(bad("long-name entry for a path that fits in the header"));
        }
        // Header, data and padding are kept whole: they are compared with the
        // canonical bytes once the entry is known.
        let padded = (size + tarhdr::padding(size)) as usize;
        let mut raw = Vec::with_capacity(2 * BLOCK + padded);
        raw.extend_from_slice(first);
        raw.resize(BLOCK + padded, 0);
        if self.read_full(&mut raw[BLOCK..])? < padded {
            return Err(self.ended_inside("a long-name entry"));
        }
        let data = &raw[BLOCK..BLOCK + size as usize];
        let name = match data.split_last() {
            Some((0, name)) if !name.contains(&0) => name,
            _ => return Err(bad("long name is not a single NUL-terminated string")),
        };
        let long = std::str::from_utf8(name)
            .map_err(|_| bad(&format!("path {} is not valid UTF-8", excerpt_bytes(name))))?;

        let index2 = self.offset / BLOCK as u64;
        let mut block = [0u8; BLOCK];
        if self.read_block(&mut block)? < BLOCK {
            return Err(self.ended_inside("a tar header"));
        }
        let bad2 = |reason: &str| Error::TarHeader {
            index: index2,
            reason: reason.to_owned(),
        };
        match tarhdr::parse(&block, index2)? {
            Header::Regular { name, size, mode } => {
                if !long.as_bytes().starts_with(name) {
                    return Err(bad2("name field does not match the preceding long name"));
                }
                let path = long.to_owned();
                raw.extend_from_slice(&block);
                Ok(FileHeader {
                    path,
                    size,
                    mode,
                    raw,
                })
            }
            Header::Other { kind, .. } => Err(Error::EntryType {
                path: excerpt(long),
                kind,
            }),
            Header::LongName { .. } => Err(bad2("two long-name entries in a row")),
            Header::Zero => Err(bad2("long-name entry is not followed by a file")),
        }
    }

    /// The next regular-file header, where the manifest expects `expected`.
    fn next_file(&mut self, limits: &Limits, expected: &str) -> Result<FileHeader, Error> {
        match self.next_header(limits)? {
            Next::File(h) => Ok(h),
            Next::FrameEnd if self.frame == Frame::Head => Err(Error::FrameBoundary),
            Next::FrameEnd | Next::Zero => Err(Error::MissingEntry {
                path: excerpt(expected),
            }),
        }
    }

    /// Reads a whole entry of `size` bytes (already bounded by a limit).
    fn read_entry(&mut self, size: u64, path: &str) -> Result<Vec<u8>, Error> {
        let mut data = Vec::with_capacity(usize::try_from(size.min(1 << 20)).unwrap_or(0));
        if self.stream(size, &mut |c| {
            data.extend_from_slice(c);
            Ok(())
        })? < size
        {
            return Err(self.ended_inside(&format!("entry {}", excerpt(path))));
        }
        self.padding(size, || path.to_owned())?;
        Ok(data)
    }
}

// ---- matching headers against the manifest ---------------------------------

/// Name of the entry at stream position `pos`.
fn name_at(manifest: Option<&Manifest>, pos: usize) -> String {
    match pos {
        0 => MANIFEST_PATH.to_owned(),
        1 => SIGNATURES_PATH.to_owned(),
        _ => manifest
            .and_then(|m| m.entries.get(pos - FIRST_ENTRY))
            .map(Entry::tar_path)
            .unwrap_or_default(),
    }
}

/// Checks that `h` is the entry expected at stream position `pos`: a safe
/// path first, then its place in the manifest (not listed, already seen, or
/// too early). Size and mode are the caller's to check.
fn check_position(
    manifest: Option<&Manifest>,
    pos: usize,
    h: &FileHeader,
    limits: &Limits,
) -> Result<(), Error> {
    // The entry expected here, spelled alike: its tar path passed the same
    // checks, with the same limits, when the manifest was decoded
    // (`validate_entries`), and no other entry has it. Only a header that
    // is not the expected one needs the search below, to say why.
    let expected = pos
        .checked_sub(FIRST_ENTRY)
        .and_then(|i| manifest?.entries.get(i));
    if expected.is_some_and(|e| e.has_tar_path(&h.path)) {
        return Ok(());
    }
    BundlePath::new(&h.path, limits).map_err(|reason| Error::UnsafePath {
        path: excerpt(&h.path),
        reason,
    })?;
    let found = match h.path.as_str() {
        MANIFEST_PATH => Some(0),
        SIGNATURES_PATH => Some(1),
        p => manifest.and_then(|m| m.find(p)).map(|i| i + FIRST_ENTRY),
    };
    match found {
        Some(j) if j == pos => Ok(()),
        Some(j) if j < pos => Err(Error::DuplicateEntry {
            path: excerpt(&h.path),
        }),
        None if manifest.is_some() => Err(Error::NotInManifest {
            path: excerpt(&h.path),
        }),
        _ => Err(Error::OutOfOrder {
            expected: excerpt(&name_at(manifest, pos)),
            found: excerpt(&h.path),
        }),
    }
}

fn check_size_mode(path: &str, h: &FileHeader, size: u64, mode: u32) -> Result<(), Error> {
    if h.size != size {
        return Err(Error::SizeMismatch {
            path: excerpt(path),
            expected: size,
            found: h.size,
        });
    }
    if h.mode != mode {
        return Err(Error::ModeMismatch {
            path: excerpt(path),
            expected: mode,
            found: h.mode,
        });
    }
    Ok(())
}

/// Checks that `h` is encoded exactly as the writer encodes the entry the
/// manifest expects here; run after the more specific checks, so what is left
/// is fields no one reads (mtime, uid, names…) or an alternative encoding.
fn check_canonical(
    h: &FileHeader,
    tar_path: &str,
    size: u64,
    mode: u32,
    mtime: u64,
) -> Result<(), Error> {
    // A path the `tar` crate refuses cannot have been written by the writer.
    match tarhdr::header_bytes(tar_path, size, mode, mtime) {
        Ok(want) if want == h.raw => Ok(()),
        _ => Err(Error::TarHeaderMismatch {
            path: excerpt(tar_path),
        }),
    }
}

/// Reads the manifest or signatures entry at `pos`, bounded by `limit`;
/// returns its header and its data.
fn read_control(
    tar: &mut Tar<HeadFrame>,
    pos: usize,
    manifest: Option<&Manifest>,
    limits: &Limits,
    limit: (&'static str, u64),
) -> Result<(FileHeader, Vec<u8>), Error> {
    let name = name_at(manifest, pos);
    let h = tar.next_file(limits, &name)?;
    check_position(manifest, pos, &h, limits)?;
    if h.size > limit.1 {
        return Err(Error::Limit {
            what: limit.0,
            limit: limit.1,
        });
    }
    if h.mode != CONTROL_MODE {
        return Err(Error::ModeMismatch {
            path: name,
            expected: CONTROL_MODE,
            found: h.mode,
        });
    }
    let data = tar.read_entry(h.size, &name)?;
    Ok((h, data))
}

// ---- the public readers -----------------------------------------------------

/// A metadata entry, read whole and checked against its manifest digest.
pub struct MetadataEntry {
    /// The manifest's description of the entry.
    pub entry: Entry,
    /// Its contents.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for MetadataEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataEntry")
            .field("entry", &self.entry)
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    Done,
    Failed,
}

const FAILED: &str = "the reader already reported an error and cannot continue";

/// Reads the head of a bundle: manifest, signatures, metadata entries.
pub struct BundleReader {
    tar: Tar<HeadFrame>,
    limits: Limits,
    manifest: Manifest,
    manifest_bytes: Vec<u8>,
    signatures: Signatures,
    next: usize,
    state: State,
}

impl fmt::Debug for BundleReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BundleReader")
            .field("bundle_id", &self.manifest.bundle_id)
            .field("next_entry", &self.next)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl BundleReader {
    /// Starts reading a bundle: reads the head frame up to and including
    /// the manifest and signatures entries, and checks both strictly. Nothing
    /// of the payload frame is read.
    pub fn open<R: Read + Send + 'static>(input: R, limits: Limits) -> Result<BundleReader, Error> {
        let input: Input = InputBuf::new(Box::new(input));
        let mut tar = Tar {
            src: HeadFrame::open(input)?,
            frame: Frame::Head,
            offset: 0,
        };
        let (header, manifest_bytes) = read_control(
            &mut tar,
            0,
            None,
            &limits,
            ("manifest bytes", limits.max_manifest_bytes),
        )?;
        let manifest = Manifest::decode(&manifest_bytes, &limits)?;
        // Only now is `created`, the mtime of every header, known.
        check_canonical(
            &header,
            MANIFEST_PATH,
            header.size,
            CONTROL_MODE,
            manifest.created,
        )?;
        let (header, sig_bytes) = read_control(
            &mut tar,
            1,
            Some(&manifest),
            &limits,
            ("signatures bytes", limits.max_signatures_bytes),
        )?;
        check_canonical(
            &header,
            SIGNATURES_PATH,
            header.size,
            CONTROL_MODE,
            manifest.created,
        )?;
        let signatures = Signatures::decode(&sig_bytes, &limits)?;
        Ok(BundleReader {
            tar,
            limits,
            manifest,
            manifest_bytes,
            signatures,
            next: 0,
            state: State::Open,
        })
    }

    /// The decoded manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The exact manifest bytes, for [`signing_message`](crate::signing_message).
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.manifest_bytes
    }

    /// The decoded signatures (not verified: that is the caller's job).
    pub fn signatures(&self) -> &Signatures {
        &self.signatures
    }

    /// The next metadata entry, read whole and digest-checked. `None` once
    /// all metadata entries are read and the head frame is verified to end
    /// exactly there.
    pub fn next_metadata(&mut self) -> Result<Option<MetadataEntry>, Error> {
        match self.state {
            State::Failed => return Err(Error::Misuse(FAILED)),
            State::Done => return Ok(None),
            State::Open => {}
        }
        let r = self.next_metadata_inner();
        match &r {
            Err(_) => self.state = State::Failed,
            Ok(None) => self.state = State::Done,
            Ok(Some(_)) => {}
        }
        r
    }

    fn next_metadata_inner(&mut self) -> Result<Option<MetadataEntry>, Error> {
        if self.next == self.manifest.first_artifact() {
            if !self.tar.src.fill()?.is_empty() {
                return Err(Error::FrameBoundary);
            }
            return Ok(None);
        }
        let pos = self.next + FIRST_ENTRY;
        let entry = self.manifest.entries[self.next].clone();
        let tar_path = entry.tar_path();
        let h = self.tar.next_file(&self.limits, &tar_path)?;
        check_position(Some(&self.manifest), pos, &h, &self.limits)?;
        check_size_mode(&tar_path, &h, entry.size, entry.mode)?;
        check_canonical(&h, &tar_path, entry.size, entry.mode, self.manifest.created)?;
        let bytes = self.tar.read_entry(entry.size, &tar_path)?;
        if Sha256::digest(&bytes).as_slice() != entry.sha256 {
            return Err(Error::DigestMismatch {
                path: excerpt(&tar_path),
            });
        }
        self.next += 1;
        Ok(Some(MetadataEntry { entry, bytes }))
    }

    /// Length in bytes of the head frame as stored (section 2.1), once
    /// [`next_metadata`](Self::next_metadata) has returned `None`: where the
    /// payload frame starts.
    pub fn head_frame_len(&self) -> Option<u64> {
        (self.state == State::Done).then(|| frames::head_frame_len(self.tar.offset))
    }

    /// Where payload frame `frame` (from 0) starts in the bundle, in bytes
    /// from its first byte (SPEC.md 5.8): the head frame's length plus the
    /// lengths of the frames before it in the index. Known once
    /// [`next_metadata`](Self::next_metadata) has returned `None`; `None`
    /// before, and for a frame the payload does not have (a payload
    /// without an index has only frame 0).
    pub fn frame_offset(&self, frame: usize) -> Option<u64> {
        let head = self.head_frame_len()?;
        if self.manifest.frames.is_empty() {
            return (frame == 0).then_some(head);
        }
        if frame >= self.manifest.frames.len() {
            return None;
        }
        // The index's lengths add up without overflow (checked on decode).
        Some(
            self.manifest.frames[..frame]
                .iter()
                .fold(head, |a, f| a.saturating_add(f.len)),
        )
    }

    /// Moves on to the artifacts. Allowed only after
    /// [`next_metadata`](Self::next_metadata) has returned `None`; starts
    /// decompressing the payload frame in a background thread (and hashing
    /// it as stored: the whole frame, or each frame against its record in
    /// the frame index).
    pub fn into_payload(self) -> Result<PayloadReader, Error> {
        self.payload_reader(0, None)
    }

    /// Moves on to the artifacts, resuming at payload frame `frame` (from
    /// 0; SPEC.md 8.1): `input` must read the bundle from
    /// [`frame_offset`](Self::frame_offset)`(frame)` on (a second handle
    /// on the same file, seeked there). The payload entries before the
    /// frame's first one are not read: the caller must already hold them,
    /// checked against their digests (see [`Manifest::resume_frame`]).
    /// Each frame read is checked against the signed frame index, as in a
    /// whole read (whose `payload_sha256`, the index's digest, was checked
    /// when the manifest was decoded). Frame 0 is an ordinary read of
    /// `input`. Allowed only
    /// after [`next_metadata`](Self::next_metadata) has returned `None`,
    /// and for a frame of the index (`Misuse` otherwise).
    pub fn into_payload_from<R: Read + Send + 'static>(
        self,
        frame: usize,
        input: R,
    ) -> Result<PayloadReader, Error> {
        let input: Input = InputBuf::new(Box::new(input));
        self.payload_reader(frame, Some(input))
    }

    fn payload_reader(self, frame: usize, input: Option<Input>) -> Result<PayloadReader, Error> {
        match self.state {
            State::Done => {}
            State::Failed => return Err(Error::Misuse(FAILED)),
            State::Open => {
                return Err(Error::Misuse(
                    "call next_metadata until it returns None before into_payload",
                ));
            }
        }
        let cuts = self.manifest.frame_cuts();
        if frame >= cuts.len() {
            return Err(Error::Misuse(
                "resume at a payload frame the bundle's frame index does not list",
            ));
        }
        let indexed = !self.manifest.frames.is_empty();
        let checks = (frame..cuts.len())
            .map(|i| FrameCheck {
                number: i as u64 + 1,
                record: self.manifest.frames.get(i).copied(),
                tar_len: (indexed && i + 1 < cuts.len()).then_some(cuts[i].tar_len),
            })
            .collect();
        let offset = cuts[..frame]
            .iter()
            .fold(self.tar.offset, |a, c| a.saturating_add(c.tar_len));
        let mut input = match input {
            Some(i) => i,
            None => self.tar.src.into_input(),
        };
        frames::check_frame_start(&mut input, "payload")?;
        let next = self.manifest.first_artifact() + cuts[frame].first_entry;
        Ok(PayloadReader {
            tar: Tar {
                // With an index, each frame is checked against its record
                // and the whole payload is not hashed again.
                src: ReadAhead::spawn(input, checks, !indexed)?,
                frame: Frame::Payload,
                offset,
            },
            limits: self.limits,
            manifest: self.manifest,
            next,
            current: None,
            state: State::Open,
            resumed_at: frame,
        })
    }
}

struct Current {
    index: usize,
    remaining: u64,
    hasher: Sha256,
    copied: bool,
}

/// Streams the artifacts of a bundle, one at a time, in manifest order.
pub struct PayloadReader {
    tar: Tar<ReadAhead>,
    limits: Limits,
    manifest: Manifest,
    next: usize,
    current: Option<Current>,
    state: State,
    /// The payload frame the read started at (0: the whole payload).
    resumed_at: usize,
}

impl fmt::Debug for PayloadReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PayloadReader")
            .field("bundle_id", &self.manifest.bundle_id)
            .field("next_entry", &self.next)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl PayloadReader {
    /// The manifest (the same one [`BundleReader::manifest`] returned).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The manifest, the read done.
    pub fn into_manifest(self) -> Manifest {
        self.manifest
    }

    /// The payload frame this read started at: 0 for a whole read, `k` for
    /// [`BundleReader::into_payload_from`]`(k, …)`.
    pub fn started_at_frame(&self) -> usize {
        self.resumed_at
    }

    /// The next artifact's manifest entry, after checking its tar header.
    ///
    /// If the previous artifact's data was not copied, it is read and
    /// verified first. After the last artifact, checks the end-of-archive
    /// marker, the end of the payload frame, the end of input and the
    /// payload frame's SHA-256, then returns `None`.
    pub fn next_artifact(&mut self) -> Result<Option<Entry>, Error> {
        match self.state {
            State::Failed => return Err(Error::Misuse(FAILED)),
            State::Done => return Ok(None),
            State::Open => {}
        }
        let r = self.next_artifact_inner();
        match &r {
            Err(_) => self.state = State::Failed,
            Ok(None) => self.state = State::Done,
            Ok(Some(_)) => {}
        }
        r
    }

    fn next_artifact_inner(&mut self) -> Result<Option<Entry>, Error> {
        if self.current.as_ref().is_some_and(|c| !c.copied) {
            self.copy_inner(&mut io::sink())?;
        }
        self.current = None;
        let pos = self.next + FIRST_ENTRY;
        let Some(entry) = self.manifest.entries.get(self.next) else {
            self.end_of_archive(pos)?;
            return Ok(None);
        };
        let tar_path = entry.tar_path();
        let h = self.tar.next_file(&self.limits, &tar_path)?;
        check_position(Some(&self.manifest), pos, &h, &self.limits)?;
        check_size_mode(&tar_path, &h, entry.size, entry.mode)?;
        check_canonical(&h, &tar_path, entry.size, entry.mode, self.manifest.created)?;
        self.current = Some(Current {
            index: self.next,
            remaining: entry.size,
            hasher: Sha256::new(),
            copied: false,
        });
        self.next += 1;
        Ok(Some(entry.clone()))
    }

    fn end_of_archive(&mut self, pos: usize) -> Result<(), Error> {
        let missing =
            || Error::Truncated("the payload ends without its end-of-archive marker".into());
        match self.tar.next_header(&self.limits)? {
            Next::FrameEnd => return Err(missing()),
            Next::File(h) => {
                check_position(Some(&self.manifest), pos, &h, &self.limits)?;
                return Err(Error::NotInManifest {
                    path: excerpt(&h.path),
                });
            }
            Next::Zero => {}
        }
        let index = self.tar.offset / BLOCK as u64;
        let mut block = [0u8; BLOCK];
        if self.tar.read_block(&mut block)? < BLOCK {
            return Err(missing());
        }
        if block.iter().any(|b| *b != 0) {
            return Err(Error::TarHeader {
                index,
                reason: "the end-of-archive marker is not two zero blocks".into(),
            });
        }
        // At most one more byte: anything here is trailing data, and the
        // read-ahead has stopped at a bounded distance.
        if !self.tar.src.fill()?.is_empty() {
            return Err(Error::TrailingData);
        }
        match self.tar.src.end() {
            Some(end) if !end.trailing => {
                // The end of input is confirmed: the hashed bytes are
                // exactly the payload frame and all that follows the head.
                // With a frame index, nothing was hashed as a whole: each
                // frame was checked against its record, and the index
                // against `payload_sha256` when the manifest was decoded.
                if self.manifest.frames.is_empty() && end.sha256 != self.manifest.payload_sha256 {
                    return Err(Error::PayloadDigest);
                }
                Ok(())
            }
            _ => Err(Error::TrailingData),
        }
    }

    /// Streams the current artifact's data into `sink`, then checks its
    /// size and SHA-256 and consumes the padding. The sink sees the data
    /// before the digest is known: write it somewhere provisional and treat
    /// it as untrusted until this returns `Ok`.
    pub fn copy_to(&mut self, sink: &mut dyn Write) -> Result<(), Error> {
        match self.state {
            State::Failed => return Err(Error::Misuse(FAILED)),
            State::Done => {
                return Err(Error::Misuse(
                    "there is no current artifact; the payload is finished",
                ));
            }
            State::Open => {}
        }
        match &self.current {
            None => return Err(Error::Misuse("call next_artifact before copy_to")),
            Some(c) if c.copied => {
                return Err(Error::Misuse("this artifact's data was already copied"));
            }
            Some(_) => {}
        }
        let r = self.copy_inner(sink);
        if r.is_err() {
            self.state = State::Failed;
        }
        r
    }

    fn copy_inner(&mut self, sink: &mut dyn Write) -> Result<(), Error> {
        let Some(cur) = self.current.as_mut() else {
            return Err(Error::Misuse("call next_artifact before copy_to"));
        };
        let entry = &self.manifest.entries[cur.index];
        let want = cur.remaining;
        let hasher = &mut cur.hasher;
        let got = self.tar.stream(want, &mut |chunk| {
            hasher.update(chunk);
            sink.write_all(chunk).map_err(Error::Sink)
        })?;
        cur.remaining -= got;
        if got < want {
            return Err(self
                .tar
                .ended_inside(&format!("entry {}", excerpt(&entry.tar_path()))));
        }
        let digest = std::mem::take(hasher).finalize();
        if digest.as_slice() != entry.sha256 {
            return Err(Error::DigestMismatch {
                path: excerpt(&entry.tar_path()),
            });
        }
        self.tar.padding(entry.size, || entry.tar_path())?;
        cur.copied = true;
        Ok(())
    }

    /// Decompressed payload bytes produced by the background thread so far.
    #[cfg(test)]
    pub(crate) fn produced(&self) -> u64 {
        self.tar.src.produced()
    }

    /// See `ReadAhead::thread_witness`.
    #[cfg(test)]
    pub(crate) fn thread_witness(&self) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
        self.tar.src.thread_witness()
    }

    /// Decompressed bytes consumed so far (head and payload).
    #[cfg(test)]
    pub(crate) fn consumed(&self) -> u64 {
        self.tar.offset
    }
}
