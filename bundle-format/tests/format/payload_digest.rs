//! The payload frame is authenticated as stored: its SHA-256 must be the
//! manifest's `payload_sha256`, even where a change decompresses to the same
//! bytes.

use std::fs;

use airlock_bundle::*;

use crate::common::*;
use crate::round_trip::write_bundle;

/// Reads a bundle to the end, asserting each artifact reads and copies
/// cleanly; returns how the final `next_artifact` ends.
fn final_step(bytes: Vec<u8>) -> Result<(), Error> {
    let mut r = BundleReader::open(std::io::Cursor::new(bytes), lim()).unwrap();
    while r.next_metadata().unwrap().is_some() {}
    let mut p = r.into_payload().unwrap();
    loop {
        match p.next_artifact()? {
            Some(_) => p.copy_to(&mut std::io::sink()).unwrap(),
            None => return Ok(()),
        }
    }
}

/// The same frame with a window one step larger: a different byte,
/// the same decompressed content.
fn wider_window(p: &[u8]) -> Vec<u8> {
    let fhd = p[4];
    assert_eq!(
        fhd & 0x20,
        0,
        "single-segment frames have no window descriptor"
    );
    let mut q = p.to_vec();
    assert!(q[5] >> 3 < 14, "window must stay within 2^24");
    q[5] += 1 << 3;
    assert_eq!(
        zstd::decode_all(&q[..]).unwrap(),
        zstd::decode_all(p).unwrap()
    );
    q
}

#[test]
fn a_manifest_with_another_payload_digest_is_refused_at_the_end() {
    let parts = Parts::for_payload_sha256(sample_items(), [7; 32]);
    // Every artifact reads and verifies; the end of input is where it fails.
    let err = final_step(parts.bundle()).unwrap_err();
    assert!(matches!(err, Error::PayloadDigest), "{err}");
    assert_eq!(err.code(), "payload-digest-mismatch");
    assert_eq!(err.fault(), Fault::Bundle);
}

#[test]
fn a_payload_frame_that_decodes_the_same_is_still_refused() {
    let parts = Parts::sample();
    let h = head_frame(&parts.head()).len();
    let mut b = parts.bundle();
    let q = wider_window(&b[h..]);
    b.truncate(h);
    b.extend(q);
    assert!(matches!(final_step(b), Err(Error::PayloadDigest)));
}

#[test]
fn the_writers_payload_frame_is_covered_too() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.bundle");
    let opts = WriteOptions {
        workers: 2,
        mtime: CREATED,
        ..WriteOptions::default()
    };
    let m = write_bundle(dir.path(), &out, &sample_items(), &opts);
    let bytes = fs::read(&out).unwrap();
    let h = head_frame(&Parts::for_payload_sha256(sample_items(), m.payload_sha256).head()).len();
    final_step(bytes.clone()).unwrap();
    let mut b = bytes[..h].to_vec();
    b.extend(wider_window(&bytes[h..]));
    assert!(matches!(final_step(b), Err(Error::PayloadDigest)));
}

#[test]
fn trailing_data_is_reported_before_the_digest() {
    // Bytes after the payload frame are read (and would be hashed) but the
    // specific error wins.
    let parts = Parts::sample();
    let mut b = parts.bundle();
    b.push(0);
    assert!(matches!(final_step(b), Err(Error::TrailingData)));
}
