//! The two-frame layout is exact: truncation, trailing data, extra or
//! skippable frames, misplaced frame boundaries and oversized windows are
//! all refused. (The head frame's own canonical form: `head_frame.rs`.)

use std::fs;

use airlock_bundle::*;

use crate::common::*;
use crate::round_trip::write_bundle;

#[test]
fn truncation_anywhere_is_reported_as_truncation() {
    let parts = Parts::sample();
    let bundle = parts.bundle();
    let h = head_frame(&parts.head()).len();
    let n = bundle.len();
    for cut in [
        0,
        1,
        3,
        4,
        10,
        h / 2,
        h - 1,
        h,
        h + 1,
        h + 3,
        h + 100,
        (h + n) / 2,
        n - 5,
        n - 1,
    ] {
        let err = read_err(bundle[..cut].to_vec());
        assert!(
            matches!(err, Error::Truncated(_)),
            "cut at {cut} of {n}: {err}"
        );
        assert_eq!(err.code(), "bundle-truncated");
    }
}

#[test]
fn truncation_of_a_written_bundle_is_reported() {
    // The writer adds zstd checksums; cutting into them is truncation too.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.bundle");
    let opts = WriteOptions {
        workers: 1,
        ..WriteOptions::default()
    };
    write_bundle(dir.path(), &out, &sample_items(), &opts);
    let bytes = fs::read(&out).unwrap();
    for back in [1, 2, 4, 5, 9] {
        let err = read_err(bytes[..bytes.len() - back].to_vec());
        assert!(
            matches!(err, Error::Truncated(_)),
            "{back} bytes short: {err}"
        );
    }
    // A corrupted checksum is a compression error, even though every entry's
    // digest matched.
    let mut bad = bytes.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    assert!(matches!(read_err(bad), Error::Compression(_)));
}

#[test]
fn trailing_bytes_after_the_payload_frame_are_refused() {
    let parts = Parts::sample();
    let mut b = parts.bundle();
    b.extend_from_slice(b"garbage");
    assert!(matches!(read_err(b), Error::TrailingData));

    let mut b = parts.bundle();
    b.push(0);
    assert!(matches!(read_err(b), Error::TrailingData));
}

#[test]
fn skippable_frames_are_refused_wherever_they_are() {
    let parts = Parts::sample();
    let skippable = [0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4];
    let mut b = parts.bundle();
    b.extend_from_slice(&skippable);
    assert!(matches!(read_err(b), Error::TrailingData));

    let mut b = skippable.to_vec();
    b.extend(parts.bundle());
    assert!(matches!(read_err(b), Error::HeadFrame(ref m) if m.contains("skippable")));

    let mut b = head_frame(&parts.head());
    b.extend_from_slice(&skippable);
    b.extend(frame(&parts.payload()));
    assert!(matches!(read_err(b), Error::Compression(ref m) if m.contains("skippable")));
}

#[test]
fn a_third_frame_is_refused() {
    let parts = Parts::sample();
    let mut b = parts.bundle();
    b.extend(frame(b""));
    assert!(matches!(read_err(b), Error::TrailingData));
    // The payload split in two: the first frame lacks the end-of-archive.
    let mut b = head_frame(&parts.head());
    b.extend(frames(&[&parts.artifact_tar(), &EOA]));
    assert!(matches!(read_err(b), Error::Truncated(ref m) if m.contains("end-of-archive")));
}

#[test]
fn the_head_frame_must_end_exactly_after_the_metadata() {
    let parts = Parts::sample();
    // Early: the metadata is in the payload frame.
    let mut rest = parts.meta_tar();
    rest.extend(parts.payload());
    let err = read_err(bundle_of(&parts.control_tar(), &rest));
    assert!(matches!(err, Error::FrameBoundary));
    // Early, inside an entry.
    let head = parts.head();
    let err = read_err(bundle_of(&head[..head.len() - 512], &parts.payload()));
    assert!(matches!(err, Error::FrameBoundary));
    // Late: the first artifact is in the head frame.
    let arts = parts.artifacts();
    let mut head = parts.head();
    head.extend(arts[0].tar());
    let mut rest: Vec<u8> = arts[1..].iter().flat_map(|i| i.tar()).collect();
    rest.extend_from_slice(&EOA);
    let err = read_err(bundle_of(&head, &rest));
    assert!(matches!(err, Error::FrameBoundary));
    // Late: an end-of-archive marker in the head frame.
    let mut head = parts.head();
    head.extend_from_slice(&EOA);
    let err = read_err(bundle_of(&head, &parts.payload()));
    assert!(matches!(err, Error::FrameBoundary));
    // Everything in the head frame.
    let mut all = parts.head();
    all.extend(parts.payload());
    let err = read_err(head_frame(&all));
    assert!(matches!(err, Error::FrameBoundary));
}

#[test]
fn zeros_after_the_end_of_archive_are_refused() {
    // A gigabyte of zeros after the end-of-archive, in 32 KiB of input. The
    // reader stops after one byte of it (the bound on how far the read-ahead
    // runs is checked in the crate's unit tests).
    let parts = Parts::sample();
    let payload = parts.payload();
    let p = hand_frame(17, &[Piece::Raw(&payload), Piece::Zeros(1 << 30)]);
    assert!(matches!(
        read_err(parts.with_payload_frame(p)),
        Error::TrailingData
    ));
    // A third zero block alone is refused the same way.
    let mut p = parts.payload();
    p.extend_from_slice(&[0; 512]);
    assert!(matches!(
        read_err(parts.with_payload(&p)),
        Error::TrailingData
    ));
}

#[test]
fn hand_made_payload_frames_are_accepted_when_well_formed() {
    // The helper itself is sound: the same content in a hand-made frame
    // reads, given a manifest with that frame's digest.
    let parts = Parts::sample();
    let p = hand_frame(17, &[Piece::Raw(&parts.payload())]);
    read_bundle(parts.with_payload_frame(p)).unwrap();
}

#[test]
fn payload_frames_needing_a_large_window_are_refused() {
    let parts = Parts::sample();
    let p = hand_frame(25, &[Piece::Raw(&parts.payload())]);
    assert!(matches!(
        read_err(parts.with_payload_frame(p)),
        Error::Compression(_)
    ));
    // 2^24 is allowed.
    let p = hand_frame(24, &[Piece::Raw(&parts.payload())]);
    read_bundle(parts.with_payload_frame(p)).unwrap();
}

#[test]
fn non_zstd_input_is_refused() {
    assert!(matches!(read_err(Vec::new()), Error::Truncated(ref m) if m.contains("missing")));
    assert!(matches!(
        read_err(b"not a bundle at all".to_vec()),
        Error::HeadFrame(ref m) if m.contains("magic")
    ));
    let parts = Parts::sample();
    let mut b = head_frame(&parts.head());
    b.extend_from_slice(b"PK\x03\x04 a zip file");
    assert!(matches!(read_err(b), Error::Compression(ref m) if m.contains("payload")));
    // Uncompressed tar.
    let mut raw = parts.head();
    raw.extend(parts.payload());
    assert!(matches!(read_err(raw), Error::HeadFrame(_)));
}

#[test]
fn damaged_compressed_data_is_refused() {
    let parts = Parts::sample();
    let head = head_frame(&parts.head());
    let mut p = frame(&parts.payload());
    // Corrupt the frame header descriptor with reserved bits.
    p[4] |= 0x08;
    let mut b = head.clone();
    b.extend(p);
    assert!(matches!(read_err(b), Error::Compression(_)));
}

#[test]
fn input_read_errors_are_read_errors() {
    struct Broken(Vec<u8>, usize);
    impl std::io::Read for Broken {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.1 >= self.0.len() {
                return Err(std::io::Error::other("device error"));
            }
            let n = buf.len().min(self.0.len() - self.1).min(4096);
            buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
    }
    let parts = Parts::sample();
    let b = parts.bundle();
    let cut = b.len() - 10;
    let err = (|| -> Result<(), Error> {
        let mut r = BundleReader::open(Broken(b[..cut].to_vec(), 0), lim())?;
        while r.next_metadata()?.is_some() {}
        let mut p = r.into_payload()?;
        while p.next_artifact()?.is_some() {
            p.copy_to(&mut std::io::sink())?;
        }
        Ok(())
    })()
    .unwrap_err();
    assert!(
        matches!(err, Error::Read(ref e) if e.to_string() == "device error"),
        "{err}"
    );
}
