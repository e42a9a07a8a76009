//! The zstd layer: the head frame, written and parsed by hand as the one
//! canonical frame of raw blocks; a buffered input that can peek at frame
//! headers and pass on what the payload decoder consumes (to be hashed); the
//! payload frame's decoder setup; and the mapping of I/O errors to bundle
//! errors.

use std::fmt;
use std::io::{self, BufRead, Read};
use std::mem;
use std::ops::{Deref, Range};
use std::sync::Arc;

use crate::error::Error;

/// Capacity of the buffer between the raw bundle file and the decoders.
/// The payload's stored bytes reach the hashing thread in pieces of this
/// size ([`Tap`]): large enough that handing them over costs few wake-ups
/// (128 KiB pieces cost 600 more context switches on the 20,000-file corpus
/// and 10 % of its verify time; docs/performance.md, sixth round).
pub(crate) const INPUT_BUF: usize = 512 << 10;

/// Largest zstd window a bundle may require (16 MiB); levels 1 to 19 stay
/// below it. A frame asking for more is refused before any allocation.
pub(crate) const WINDOW_LOG_MAX: u32 = 24;

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The head frame's six header bytes: the magic number, a
/// Frame_Header_Descriptor of 0 (no content size, not single-segment, no
/// checksum, no dictionary) and a Window_Descriptor of 0x38 (2^17 = 128 KiB).
const HEAD_FRAME_HEADER: [u8; 6] = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38];

/// Size of every raw block of the head frame but the last, which holds the
/// remaining 1 to `HEAD_BLOCK` bytes: the largest block a 128 KiB window allows.
pub(crate) const HEAD_BLOCK: usize = 128 << 10;

/// Size of a zstd block header.
const BLOCK_HEADER: usize = 3;

/// Exact length of the head frame holding `tar_len` (> 0) bytes of tar stream.
pub(crate) fn head_frame_len(tar_len: u64) -> u64 {
    HEAD_FRAME_HEADER.len() as u64
        + BLOCK_HEADER as u64 * tar_len.div_ceil(HEAD_BLOCK as u64)
        + tar_len
}

/// The head frame for `tar` (never empty: the manifest entry is always
/// there): the frame header, then `tar` in raw blocks of exactly
/// [`HEAD_BLOCK`] bytes, the last one shorter or equal and flagged last.
pub(crate) fn head_frame(tar: &[u8]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(usize::try_from(head_frame_len(tar.len() as u64)).unwrap_or(0));
    out.extend_from_slice(&HEAD_FRAME_HEADER);
    let blocks = tar.len().div_ceil(HEAD_BLOCK);
    for (i, chunk) in tar.chunks(HEAD_BLOCK).enumerate() {
        // Block_Header: bit 0 Last_Block, bits 1-2 Block_Type (0 = raw),
        // bits 3-23 Block_Size, little-endian.
        let header = (chunk.len() as u32) << 3 | u32::from(i + 1 == blocks);
        out.extend_from_slice(&header.to_le_bytes()[..BLOCK_HEADER]);
        out.extend_from_slice(chunk);
    }
    out
}

/// The head frame being read: checks that every byte of frame structure is
/// the canonical one and passes the raw blocks' contents on.
///
/// The frame header must be [`HEAD_FRAME_HEADER`]; every block must be raw;
/// a block not flagged last must hold exactly [`HEAD_BLOCK`] bytes and the
/// last one 1 to [`HEAD_BLOCK`]. Where the contents end is the tar layer's
/// business (the frame must end right after the last metadata entry), so
/// together there is one valid head frame for each head tar stream.
pub(crate) struct HeadFrame {
    input: Input,
    /// Content bytes left in the current block.
    left: usize,
    /// Whether the current block is the last one.
    last: bool,
}

fn head_err(msg: impl Into<String>) -> Error {
    Error::HeadFrame(msg.into())
}

impl HeadFrame {
    /// Checks the frame header at the start of `input`.
    pub(crate) fn open(mut input: Input) -> Result<HeadFrame, Error> {
        let n = HEAD_FRAME_HEADER.len();
        let got = input.peek(n).map_err(|e| classify(e, "head"))?;
        let got = &got[..got.len().min(n)];
        if got.is_empty() {
            return Err(Error::Truncated("the head frame is missing".into()));
        }
        if got.len() >= 4 && got[..4] != ZSTD_MAGIC {
            return Err(
                if got[0] & 0xf0 == 0x50 && got[1..4] == [0x2a, 0x4d, 0x18] {
                    head_err("a skippable frame stands where the head frame should start")
                } else {
                    head_err("the bundle does not start with the zstd magic number")
                },
            );
        }
        if got.len() >= 5 && got[4] != HEAD_FRAME_HEADER[4] {
            return Err(head_err(format!(
                "frame header descriptor is {:#04x}, not 0x00 (no content size, \
                 not single-segment, no checksum, no dictionary)",
                got[4]
            )));
        }
        if got.len() >= 6 && got[5] != HEAD_FRAME_HEADER[5] {
            return Err(head_err(format!(
                "window descriptor is {:#04x}, not 0x38 (128 KiB)",
                got[5]
            )));
        }
        if got.len() < n {
            return Err(Error::Truncated(
                "the input ends inside the head frame's header".into(),
            ));
        }
        input.consume(n);
        Ok(HeadFrame {
            input,
            left: 0,
            last: false,
        })
    }

    /// The next content bytes of the frame; empty once the last block is consumed.
    pub(crate) fn fill(&mut self) -> Result<&[u8], Error> {
        if self.left == 0 {
            if self.last {
                return Ok(&[]);
            }
            self.next_block()?;
        }
        let left = self.left;
        let buf = self.input.fill_buf().map_err(|e| classify(e, "head"))?;
        if buf.is_empty() {
            return Err(Error::Truncated(
                "the input ends inside the head frame".into(),
            ));
        }
        Ok(&buf[..buf.len().min(left)])
    }

    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.left);
        self.input.consume(n);
        self.left -= n;
    }

    fn next_block(&mut self) -> Result<(), Error> {
        let h = self
            .input
            .peek(BLOCK_HEADER)
            .map_err(|e| classify(e, "head"))?;
        if h.len() < BLOCK_HEADER {
            return Err(Error::Truncated(
                "the input ends inside a block header of the head frame".into(),
            ));
        }
        let v = u32::from_le_bytes([h[0], h[1], h[2], 0]);
        let (last, kind, size) = (v & 1 == 1, (v >> 1) & 3, (v >> 3) as usize);
        if kind != 0 {
            let name = match kind {
                1 => "an RLE",
                2 => "a compressed",
                _ => "a reserved-type",
            };
            return Err(head_err(format!(
                "{name} block; the head frame holds raw blocks only"
            )));
        }
        if size == 0 || size > HEAD_BLOCK {
            return Err(head_err(format!(
                "a raw block of {size} bytes; blocks hold 1 to {HEAD_BLOCK}"
            )));
        }
        if !last && size != HEAD_BLOCK {
            return Err(head_err(format!(
                "a block of {size} bytes before the last; all but the last hold exactly {HEAD_BLOCK}"
            )));
        }
        self.input.consume(BLOCK_HEADER);
        self.left = size;
        self.last = last;
        Ok(())
    }

    /// The input, positioned right after the head frame. Call only once
    /// [`fill`](Self::fill) has returned an empty slice.
    pub(crate) fn into_input(self) -> Input {
        self.input
    }
}

/// The raw bundle input, buffered, type-erased.
pub(crate) type Input = InputBuf<Box<dyn Read + Send>>;

/// The decoder of one zstd frame.
pub(crate) type FrameDecoder = zstd::stream::read::Decoder<'static, Input>;

/// An I/O error that came from the caller's input rather than from zstd.
#[derive(Debug)]
struct InputFailure(io::Error);

impl fmt::Display for InputFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for InputFailure {}

/// Consumed input bytes, handed to a [`Tap`] without a copy: the buffer
/// they were read into, shared, and where in it they are. The reader
/// writes into that buffer again only once every `Taken` of it is dropped.
#[derive(Debug)]
pub(crate) struct Taken {
    buf: Arc<Vec<u8>>,
    range: Range<usize>,
}

impl Taken {
    /// A piece of its own, for tests of a tap.
    #[cfg(test)]
    pub(crate) fn of(bytes: &[u8]) -> Taken {
        Taken {
            range: 0..bytes.len(),
            buf: Arc::new(bytes.to_vec()),
        }
    }
}

impl Deref for Taken {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.buf[self.range.clone()]
    }
}

/// Receives, in order, every byte consumed from an [`InputBuf`] once set
/// with [`InputBuf::set_tap`].
pub(crate) trait Tap: Send {
    /// The next consumed bytes.
    fn take(&mut self, bytes: Taken);
    /// The bytes taken since the last call are one stretch (a payload
    /// frame, SPEC.md 5.8, or the whole payload): pass on anything held
    /// back, and mark where it ends.
    fn end_stretch(&mut self);
}

/// A `BufRead` like `std::io::BufReader`, plus [`InputBuf::peek`], which can
/// look at the next few bytes even when they straddle a refill, and an
/// optional [`Tap`] on every byte consumed from it. Errors from the inner
/// reader are tagged so they can be told apart from zstd's.
///
/// With a tap, the consumed bytes are not copied: when the reader leaves a
/// buffer (to refill, or to gather bytes for `peek`) or a stretch ends, the
/// tap is given the buffer, shared, with the range consumed since the last
/// hand-over ([`Taken`]); the reader goes on in a spare buffer the tap has
/// let go of, or a new one. A buffer is left only once it is full, so each
/// hand-over is a whole buffer but at a stretch's end, whatever the inner
/// reader's read sizes.
pub(crate) struct InputBuf<R> {
    inner: R,
    buf: Arc<Vec<u8>>,
    pos: usize,
    end: usize,
    /// Where the consumed bytes not yet handed to the tap start.
    tapped: usize,
    tap: Option<Box<dyn Tap>>,
    /// Buffers handed to the tap, reused once it has dropped them.
    spent: Vec<Arc<Vec<u8>>>,
}

impl<R: Read> InputBuf<R> {
    pub(crate) fn new(inner: R) -> Self {
        InputBuf {
            inner,
            buf: Arc::new(vec![0u8; INPUT_BUF]),
            pos: 0,
            end: 0,
            tapped: 0,
            tap: None,
            spent: Vec::new(),
        }
    }

    /// From now on, pass every byte consumed (by `consume` or `read`) to `tap`.
    ///
    /// What the payload decoder *consumes* is exactly the bytes of its
    /// frame, because the decoder stops at the frame's end; the reader then
    /// requires end of input, so these are also all the bytes after the head
    /// frame.
    pub(crate) fn set_tap(&mut self, tap: Box<dyn Tap>) {
        self.tap = Some(tap);
        self.tapped = self.pos;
    }

    /// Ends the tap's stretch ([`Tap::end_stretch`]), if there is a tap.
    pub(crate) fn end_stretch(&mut self) {
        self.hand_over();
        if let Some(t) = self.tap.as_mut() {
            t.end_stretch();
        }
    }

    /// Gives the tap the bytes consumed since the last hand-over.
    fn hand_over(&mut self) {
        if self.pos > self.tapped
            && let Some(t) = self.tap.as_mut()
        {
            t.take(Taken {
                buf: Arc::clone(&self.buf),
                range: self.tapped..self.pos,
            });
        }
        self.tapped = self.pos;
    }

    /// Makes the buffer the reader's alone: if the tap still holds it, the
    /// unconsumed bytes move to the front of a spare one.
    fn make_own(&mut self) {
        if Arc::strong_count(&self.buf) == 1 {
            return;
        }
        self.hand_over();
        let mut fresh = match self.spent.iter().position(|b| Arc::strong_count(b) == 1) {
            Some(i) => self.spent.swap_remove(i),
            None => Arc::new(vec![0u8; INPUT_BUF]),
        };
        let n = self.end - self.pos;
        // `fresh` is held by nobody else: no copy of it is made.
        Arc::make_mut(&mut fresh)[..n].copy_from_slice(&self.buf[self.pos..self.end]);
        self.spent.push(mem::replace(&mut self.buf, fresh));
        (self.pos, self.end, self.tapped) = (0, n, 0);
    }

    /// Reads more input after `end` (into the reader's own buffer).
    fn read_more(&mut self) -> io::Result<usize> {
        self.make_own();
        // The buffer is the reader's alone now: `make_mut` copies nothing.
        let buf = Arc::make_mut(&mut self.buf);
        loop {
            match self.inner.read(&mut buf[self.end..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io::Error::new(e.kind(), InputFailure(e))),
                Ok(n) => return Ok(n),
            }
        }
    }

    /// At least `n` buffered bytes, or fewer only at end of input.
    pub(crate) fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        if self.end - self.pos < n {
            // Move the unconsumed bytes to the front (of a spare buffer if
            // the tap holds this one).
            self.hand_over();
            self.make_own();
            Arc::make_mut(&mut self.buf).copy_within(self.pos..self.end, 0);
            (self.pos, self.end, self.tapped) = (0, self.end - self.pos, 0);
            while self.end < n {
                let k = self.read_more()?;
                if k == 0 {
                    break;
                }
                self.end += k;
            }
        }
        Ok(&self.buf[self.pos..self.end])
    }
}

impl<R: Read> Read for InputBuf<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for InputBuf<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.end {
            // With a tap, a buffer is filled to the end before it is left,
            // so that the tap gets it in one piece.
            if self.tap.is_none() || self.end == self.buf.len() {
                self.hand_over();
                (self.pos, self.end, self.tapped) = (0, 0, 0);
            }
            let k = self.read_more()?;
            self.end += k;
        }
        Ok(&self.buf[self.pos..self.end])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.end);
    }
}

/// Maps an error from reading a frame: the caller's input failing is
/// [`Error::Read`], zstd reaching the end of input inside a frame is
/// [`Error::Truncated`], anything else zstd reports is [`Error::Compression`].
pub(crate) fn classify(e: io::Error, frame: &str) -> Error {
    if e.get_ref().is_some_and(|inner| inner.is::<InputFailure>()) {
        let kind = e.kind();
        return match e.into_inner().map(|b| b.downcast::<InputFailure>()) {
            Some(Ok(f)) => Error::Read(f.0),
            _ => Error::Read(io::Error::from(kind)),
        };
    }
    if e.kind() == io::ErrorKind::UnexpectedEof {
        return Error::Truncated(format!("the input ends inside the {frame} frame"));
    }
    Error::Compression(format!("{frame} frame: {e}"))
}

/// Checks that an ordinary zstd frame starts here, then returns its decoder.
///
/// The magic number is checked by hand because zstd's streaming decoder
/// silently skips skippable frames and, with the `legacy` feature, accepts
/// pre-1.0 formats; neither belongs in a bundle. Used for the payload frame.
pub(crate) fn open_frame(mut input: Input, frame: &str) -> Result<FrameDecoder, Error> {
    check_frame_start(&mut input, frame)?;
    let mut d = zstd::stream::read::Decoder::with_buffer(input)
        .map_err(|e| Error::Compression(e.to_string()))?
        .single_frame();
    d.window_log_max(WINDOW_LOG_MAX)
        .map_err(|e| Error::Compression(e.to_string()))?;
    Ok(d)
}

/// Checks that an ordinary zstd frame starts here (the magic number),
/// consuming nothing.
pub(crate) fn check_frame_start(input: &mut Input, frame: &str) -> Result<(), Error> {
    let head = input.peek(4).map_err(|e| classify(e, frame))?;
    match &head[..head.len().min(4)] {
        [] => return Err(Error::Truncated(format!("the {frame} frame is missing"))),
        [a, b, c, d] if [*a, *b, *c, *d] == ZSTD_MAGIC => {}
        [a, 0x2a, 0x4d, 0x18] if a & 0xf0 == 0x50 => {
            return Err(Error::Compression(format!(
                "a skippable frame stands where the {frame} frame should start"
            )));
        }
        h if h.len() < 4 => {
            return Err(Error::Truncated(format!(
                "the input ends inside the {frame} frame's magic number"
            )));
        }
        _ => {
            return Err(Error::Compression(format!(
                "the {frame} frame does not start with the zstd magic number"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A reader that hands out one byte per call, to exercise `peek` across refills.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() || out.is_empty() {
                return Ok(0);
            }
            out[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    #[test]
    fn peek_gathers_across_short_reads() {
        let mut b = InputBuf::new(Trickle(b"abcdef"));
        assert_eq!(b.fill_buf().unwrap(), b"a");
        b.consume(1);
        assert_eq!(b.peek(4).unwrap(), b"bcde");
        let mut rest = Vec::new();
        b.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"bcdef");
        assert_eq!(b.peek(4).unwrap(), b"");
    }

    #[test]
    fn one_frame_then_the_next_on_the_same_input() {
        let mut both = zstd::encode_all(&b"first"[..], 3).unwrap();
        both.extend(zstd::encode_all(&b"second"[..], 3).unwrap());
        let input: Input = InputBuf::new(Box::new(io::Cursor::new(both)));
        let mut d = open_frame(input, "head").unwrap();
        let mut out = Vec::new();
        d.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"first");
        let mut d = open_frame(d.into_inner(), "payload").unwrap();
        out.clear();
        d.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"second");
        assert!(d.into_inner().fill_buf().unwrap().is_empty());
    }

    fn head_input(bytes: Vec<u8>) -> Input {
        InputBuf::new(Box::new(io::Cursor::new(bytes)))
    }

    /// Reads a whole head frame with `HeadFrame`; returns its contents and
    /// what follows it.
    fn read_head(bytes: Vec<u8>) -> Result<(Vec<u8>, Vec<u8>), Error> {
        let mut h = HeadFrame::open(head_input(bytes))?;
        let mut out = Vec::new();
        loop {
            let buf = h.fill()?;
            if buf.is_empty() {
                break;
            }
            out.extend_from_slice(buf);
            let n = buf.len();
            h.consume(n);
        }
        let mut rest = Vec::new();
        h.into_input().read_to_end(&mut rest).unwrap();
        Ok((out, rest))
    }

    #[test]
    fn head_frames_are_read_back_and_are_valid_zstd() {
        for n in [
            1,
            511,
            HEAD_BLOCK - 1,
            HEAD_BLOCK,
            HEAD_BLOCK + 1,
            3 * HEAD_BLOCK,
        ] {
            let tar: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
            let mut f = head_frame(&tar);
            assert_eq!(f.len() as u64, head_frame_len(n as u64), "{n}");
            assert_eq!(zstd::decode_all(&f[..]).unwrap(), tar, "{n}");
            f.extend_from_slice(b"next");
            let (got, rest) = read_head(f).unwrap();
            assert_eq!(got, tar);
            assert_eq!(rest, b"next");
        }
    }

    #[test]
    fn consumed_bytes_reach_the_tap_once_set() {
        use std::sync::{Arc, Mutex};
        struct Record(Arc<Mutex<(Vec<u8>, bool)>>);
        impl Tap for Record {
            fn take(&mut self, bytes: Taken) {
                self.0.lock().unwrap().0.extend_from_slice(&bytes);
            }
            fn end_stretch(&mut self) {
                self.0.lock().unwrap().1 = true;
            }
        }
        let seen = Arc::new(Mutex::new((Vec::new(), false)));
        let mut b = InputBuf::new(Trickle(b"headpayload"));
        let mut four = [0u8; 4];
        b.read_exact(&mut four).unwrap();
        b.set_tap(Box::new(Record(Arc::clone(&seen))));
        assert_eq!(b.peek(3).unwrap(), b"pay");
        let mut rest = Vec::new();
        b.read_to_end(&mut rest).unwrap();
        b.end_stretch();
        assert_eq!(*seen.lock().unwrap(), (b"payload".to_vec(), true));
    }

    /// A reader that hands out at most `step` bytes per call.
    struct Steps {
        data: Vec<u8>,
        at: usize,
        step: usize,
    }

    impl Read for Steps {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len() - self.at);
            out[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    /// A tap that keeps every piece it is given (so the reader can never
    /// write into those buffers again) and each stretch's end.
    #[derive(Clone, Default)]
    struct Keep(std::sync::Arc<std::sync::Mutex<Vec<Option<Taken>>>>);

    impl Tap for Keep {
        fn take(&mut self, bytes: Taken) {
            self.0.lock().unwrap().push(Some(bytes));
        }
        fn end_stretch(&mut self) {
            self.0.lock().unwrap().push(None);
        }
    }

    impl Keep {
        /// The stretches, each the concatenation of its pieces, and the
        /// pieces' sizes.
        fn stretches(&self) -> (Vec<Vec<u8>>, Vec<usize>) {
            let (mut all, mut cur, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
            for p in self.0.lock().unwrap().iter() {
                match p {
                    Some(t) => {
                        cur.extend_from_slice(t);
                        sizes.push(t.len());
                    }
                    None => all.push(std::mem::take(&mut cur)),
                }
            }
            (all, sizes)
        }
    }

    #[test]
    fn the_tap_gets_whole_buffers_it_may_keep_whatever_the_read_sizes() {
        let data: Vec<u8> = (0..3 * INPUT_BUF + 4321)
            .map(|i| (i * 13 % 251) as u8)
            .collect();
        let keep = Keep::default();
        let mut b = InputBuf::new(Steps {
            data: data.clone(),
            at: 0,
            step: 1000,
        });
        let mut head = [0u8; 7];
        b.read_exact(&mut head).unwrap();
        b.set_tap(Box::new(keep.clone()));
        let cut = INPUT_BUF + 99;
        let mut first = vec![0u8; cut - 7];
        b.read_exact(&mut first).unwrap();
        b.end_stretch();
        // A stretch ends inside a buffer the tap now holds; the next one
        // starts there, and a peek gathers bytes across its end.
        assert_eq!(b.peek(3).unwrap()[..3], data[cut..cut + 3]);
        // A peek across the end of a full buffer.
        let mut rest = vec![0u8; 2 * INPUT_BUF - cut - 100];
        b.read_exact(&mut rest).unwrap();
        assert_eq!(
            b.peek(5000).unwrap()[..5000],
            data[cut + rest.len()..][..5000]
        );
        b.read_to_end(&mut rest).unwrap();
        b.end_stretch();
        assert_eq!(head, data[..7]);
        assert_eq!(rest, data[cut..]);
        let (stretches, sizes) = keep.stretches();
        assert_eq!(stretches, [data[7..cut].to_vec(), data[cut..].to_vec()]);
        // Whole buffers but where a stretch ends or a peek moves on.
        let whole = sizes.iter().filter(|&&n| n == INPUT_BUF).count();
        assert!(whole >= 1, "{sizes:?}");
        assert!(sizes.len() <= 7, "{sizes:?}");
    }

    #[test]
    fn buffers_the_tap_drops_are_reused() {
        struct Drops;
        impl Tap for Drops {
            fn take(&mut self, _: Taken) {}
            fn end_stretch(&mut self) {}
        }
        let data = vec![7u8; 20 * INPUT_BUF + 5];
        let mut b = InputBuf::new(Steps {
            data,
            at: 0,
            step: INPUT_BUF / 3,
        });
        b.set_tap(Box::new(Drops));
        let mut out = Vec::new();
        b.read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), 20 * INPUT_BUF + 5);
        assert!(b.spent.len() <= 1, "{} buffers", b.spent.len() + 1);
    }

    #[test]
    fn input_errors_are_not_compression_errors() {
        struct Fails;
        impl Read for Fails {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::UnexpectedEof, "disk gone"))
            }
        }
        let input: Input = InputBuf::new(Box::new(Fails));
        let Err(err) = open_frame(input, "payload") else {
            panic!("expected an error")
        };
        assert!(matches!(err, Error::Read(ref e) if e.to_string() == "disk gone"));
        let input: Input = InputBuf::new(Box::new(Fails));
        let Err(err) = HeadFrame::open(input) else {
            panic!("expected an error")
        };
        assert!(matches!(err, Error::Read(ref e) if e.to_string() == "disk gone"));
    }
}
