//! The zstd layer: a buffered input that can peek at frame magic numbers, the
//! frame decoder setup, and the mapping of I/O errors to bundle errors.

use std::fmt;
use std::io::{self, BufRead, Read};

use crate::error::Error;

/// Capacity of the buffer between the raw bundle file and the decoders.
const INPUT_BUF: usize = 1 << 20;

/// Largest zstd window a bundle may require (16 MiB); levels 1 to 19 stay
/// below it. A frame asking for more is refused before any allocation.
pub(crate) const WINDOW_LOG_MAX: u32 = 24;

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

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

/// A `BufRead` like `std::io::BufReader`, plus [`InputBuf::peek`], which can
/// look at the next few bytes even when they straddle a refill. Errors from
/// the inner reader are tagged so they can be told apart from zstd's.
pub(crate) struct InputBuf<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
}

impl<R: Read> InputBuf<R> {
    pub(crate) fn new(inner: R) -> Self {
        InputBuf {
            inner,
            buf: vec![0u8; INPUT_BUF].into_boxed_slice(),
            pos: 0,
            end: 0,
        }
    }

    fn read_inner(&mut self, at: usize) -> io::Result<usize> {
        loop {
            match self.inner.read(&mut self.buf[at..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io::Error::new(e.kind(), InputFailure(e))),
                Ok(n) => return Ok(n),
            }
        }
    }

    /// At least `n` buffered bytes, or fewer only at end of input.
    pub(crate) fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        if self.end - self.pos < n {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
            while self.end < n {
                let k = self.read_inner(self.end)?;
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
            self.pos = 0;
            self.end = 0;
            self.end = self.read_inner(0)?;
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
/// pre-1.0 formats; neither belongs in a bundle.
pub(crate) fn open_frame(mut input: Input, frame: &str) -> Result<FrameDecoder, Error> {
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
    let mut d = zstd::stream::read::Decoder::with_buffer(input)
        .map_err(|e| Error::Compression(e.to_string()))?
        .single_frame();
    d.window_log_max(WINDOW_LOG_MAX)
        .map_err(|e| Error::Compression(e.to_string()))?;
    Ok(d)
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

    #[test]
    fn input_errors_are_not_compression_errors() {
        struct Fails;
        impl Read for Fails {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::UnexpectedEof, "disk gone"))
            }
        }
        let input: Input = InputBuf::new(Box::new(Fails));
        let Err(err) = open_frame(input, "head") else {
            panic!("expected an error")
        };
        assert!(matches!(err, Error::Read(ref e) if e.to_string() == "disk gone"));
    }
}
