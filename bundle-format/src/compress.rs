//! The payload compressor: zstd's multithreaded streaming encoder
//! (SPEC.md 9.2), driven so that compressed output leaves zstd as soon as
//! it is ready.
//!
//! zstd's multithreaded encoder keeps each job's output in a buffer of its
//! own (about 4 MiB at [`crate::write`]'s job size) until the caller has
//! taken all of it, and one call of `ZSTD_compressStream2` hands out at most
//! the rest of the oldest job. A caller that puts in 1 MiB and takes out at
//! most 1 MiB per call (as `zstd::stream::write::Encoder` does) takes out
//! less than it puts in whenever a job's tail is shorter than its buffer,
//! so on data that does not compress, finished jobs pile up until zstd's
//! input ring is full: six or seven output buffers live at once, about
//! 16 MiB more than the two the workers need (docs/performance.md, eighth
//! round). After each input, [`Compressor`] therefore also takes out what
//! the oldest job has ready, which cannot block: zstd waits only when the
//! oldest job has nothing to hand out.
//!
//! The bytes are those of any other caller of the same encoder: with a
//! fixed job size, zstd cuts jobs by input position alone, and a call with
//! no input and `ZSTD_e_continue` only hands out output. No flush directive
//! is ever given before the end (it would end a block early, and the output
//! would differ).

use std::io::{self, Write};

use zstd::zstd_safe::{self, CCtx, CParameter, InBuffer, OutBuffer, zstd_sys::ZSTD_EndDirective};

/// One multithreaded zstd frame being written to `W`.
pub(crate) struct Compressor<W> {
    cctx: CCtx<'static>,
    out: Box<[u8]>,
    inner: W,
}

/// The parameters of the frame (SPEC.md 9.2).
pub(crate) struct Params {
    pub level: i32,
    /// At least 1: the multithreaded format, whose output does not depend
    /// on the number.
    pub workers: u32,
    pub job_size: u32,
    /// Bytes handed out per call (the output buffer's size).
    pub out_buf: usize,
}

fn zstd_error(code: usize) -> io::Error {
    io::Error::other(format!("zstd: {}", zstd_safe::get_error_name(code)))
}

impl<W: Write> Compressor<W> {
    /// A compressor with a content checksum, writing to `inner`.
    pub(crate) fn new(inner: W, p: &Params) -> io::Result<Compressor<W>> {
        let mut cctx = CCtx::create();
        for param in [
            CParameter::CompressionLevel(p.level),
            CParameter::NbWorkers(p.workers),
            CParameter::JobSize(p.job_size),
            CParameter::ChecksumFlag(true),
        ] {
            cctx.set_parameter(param).map_err(zstd_error)?;
        }
        Ok(Compressor {
            cctx,
            out: vec![0u8; p.out_buf].into_boxed_slice(),
            inner,
        })
    }

    /// One call of `ZSTD_compressStream2`; what it hands out is written to
    /// the inner writer. Returns zstd's hint: more than 1 when the oldest
    /// job has that many bytes ready to hand out.
    fn step(&mut self, input: &mut InBuffer<'_>, end: ZSTD_EndDirective) -> io::Result<usize> {
        let mut out = OutBuffer::around(&mut self.out[..]);
        let hint = self
            .cctx
            .compress_stream2(&mut out, input, end)
            .map_err(zstd_error)?;
        let n = out.pos();
        self.inner.write_all(&self.out[..n])?;
        Ok(hint)
    }

    /// Ends the frame. The next write begins a new frame on the same
    /// context, with the same parameters: zstd keeps its workers and
    /// buffers (a new context per frame allocated and faulted in its
    /// buffers again, about 20 MiB at the job size of [`crate::write`]).
    /// Frames are independent, so the bytes are those of a new context.
    pub(crate) fn end_frame(&mut self) -> io::Result<()> {
        while self.step(&mut InBuffer::around(&[]), ZSTD_EndDirective::ZSTD_e_end)? != 0 {}
        Ok(())
    }

    /// The inner writer.
    pub(crate) fn inner_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Ends the frame and returns the inner writer.
    #[cfg(test)]
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.end_frame()?;
        Ok(self.inner)
    }

    /// The inner writer, once [`Self::end_frame`] has ended the last frame
    /// (ending it again would write an empty frame).
    pub(crate) fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut input = InBuffer::around(buf);
        // zstd takes no input while its input ring is full: the call then
        // waits for, and hands out, finished output instead.
        let mut hint = self.step(&mut input, ZSTD_EndDirective::ZSTD_e_continue)?;
        while input.pos() == 0 {
            hint = self.step(&mut input, ZSTD_EndDirective::ZSTD_e_continue)?;
        }
        while hint > 1 {
            hint = self.step(
                &mut InBuffer::around(&[]),
                ZSTD_EndDirective::ZSTD_e_continue,
            )?;
        }
        Ok(input.pos())
    }

    /// Flushes the inner writer only: a zstd flush would end a block early
    /// and change the frame's bytes.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// 12 MiB that compress in some places and not in others, so that
    /// jobs finish at different speeds and their tails differ in length.
    fn mixed_input() -> Vec<u8> {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut data = Vec::with_capacity(12 << 20);
        for block in 0..12 {
            for i in 0..(1usize << 20) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                data.push(if block % 3 == 0 {
                    (i % 251) as u8
                } else {
                    x as u8
                });
            }
        }
        data
    }

    /// The bytes are those of the zstd crate's own streaming encoder with
    /// the same parameters, fed the same way: taking output out early does
    /// not change where jobs are cut.
    #[test]
    fn writes_the_same_bytes_as_the_zstd_crates_encoder() {
        let data = mixed_input();
        let params = Params {
            level: 3,
            workers: 2,
            job_size: 1 << 20,
            out_buf: 64 << 10,
        };
        let mut ours = Compressor::new(Vec::new(), &params).unwrap();
        for chunk in data.chunks(300_000) {
            ours.write_all(chunk).unwrap();
        }
        let ours = ours.finish().unwrap();

        let mut theirs = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        theirs.multithread(2).unwrap();
        theirs.set_parameter(CParameter::JobSize(1 << 20)).unwrap();
        theirs.include_checksum(true).unwrap();
        for chunk in data.chunks(300_000) {
            theirs.write_all(chunk).unwrap();
        }
        let theirs = theirs.finish().unwrap();

        assert!(ours == theirs, "the frames differ");
        assert!(zstd::decode_all(&ours[..]).unwrap() == data);
    }

    /// Frames ended on one context are the frames new contexts write.
    #[test]
    fn a_frame_after_another_on_one_context_is_a_new_contexts_frame() {
        let data = mixed_input();
        let (a, b) = data.split_at(5_000_000);
        let params = Params {
            level: 3,
            workers: 2,
            job_size: 1 << 20,
            out_buf: 64 << 10,
        };
        let fresh = |part: &[u8]| {
            let mut c = Compressor::new(Vec::new(), &params).unwrap();
            c.write_all(part).unwrap();
            c.finish().unwrap()
        };
        let mut reused = Compressor::new(Vec::new(), &params).unwrap();
        reused.write_all(a).unwrap();
        reused.end_frame().unwrap();
        let first = reused.inner_mut().len();
        reused.write_all(b).unwrap();
        let both = reused.finish().unwrap();
        assert!(both[..first] == fresh(a), "the first frame differs");
        assert!(both[first..] == fresh(b), "the second frame differs");
    }

    /// One worker or several: the same frame (SPEC.md 9.2).
    #[test]
    fn the_frame_does_not_depend_on_the_number_of_workers() {
        let data = mixed_input();
        let frame = |workers| {
            let params = Params {
                level: 3,
                workers,
                job_size: 1 << 20,
                out_buf: 1 << 20,
            };
            let mut c = Compressor::new(Vec::new(), &params).unwrap();
            c.write_all(&data).unwrap();
            c.finish().unwrap()
        };
        assert!(frame(1) == frame(2));
    }
}
