//! Unit tests that need to see inside the reader.

#![allow(clippy::unwrap_used)]

use std::io::Cursor;

use sha2::{Digest, Sha256};

use crate::readahead::{CHUNK, DEPTH};
use crate::*;

/// An entry as the writer writes it, with mtime 1 (the `created` below).
fn tar_entry(path: &str, data: &[u8]) -> Vec<u8> {
    let mut v = crate::tarhdr::header_bytes(path, data.len() as u64, 0o644, 1).unwrap();
    v.extend_from_slice(data);
    v.resize(
        v.len() + crate::tarhdr::padding(data.len() as u64) as usize,
        0,
    );
    v
}

/// A zstd frame of raw blocks for `data`, then RLE blocks for `zeros` zero
/// bytes: a tiny input that decompresses to as much as we like.
fn bomb_frame(data: &[u8], zeros: u64) -> Vec<u8> {
    const MAX: usize = 128 << 10;
    let mut out = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3];
    let mut push = |ty: u32, size: usize, last: bool, body: &[u8]| {
        let h = (size as u32) << 3 | ty << 1 | u32::from(last);
        out.extend_from_slice(&h.to_le_bytes()[..3]);
        out.extend_from_slice(body);
    };
    for c in data.chunks(MAX) {
        push(0, c.len(), false, c);
    }
    let mut left = zeros;
    while left > 0 {
        let k = left.min(MAX as u64);
        left -= k;
        push(1, k as usize, left == 0, &[0]);
    }
    out
}

/// A one-artifact bundle (`a`, holding `data`) whose payload frame goes on
/// with `zeros` zero bytes after the end-of-archive; returns the bundle and
/// the head's and the payload's tar bytes.
fn bundle_with_bomb(data: &[u8], zeros: u64) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let limits = Limits::default();
    let data = data.to_vec();
    let entry = Entry {
        kind: EntryKind::Artifact,
        path: BundlePath::new("a", &limits).unwrap(),
        size: data.len() as u64,
        sha256: Sha256::digest(&data).into(),
        mode: 0o644,
    };
    let m = Manifest::new(
        ManifestFields {
            channel: "c".into(),
            sequence: 1,
            created: 1,
            expires: 2,
            payload_sha256: [0; 32],
            supply_chain: SupplyChain::default(),
            images: Vec::new(),
            entries: vec![entry],
            names: NameRule::Portable,
            enclaves: Vec::new(),
        },
        &limits,
    )
    .unwrap();
    let mut head = tar_entry(MANIFEST_PATH, &m.encode());
    head.extend(tar_entry(SIGNATURES_PATH, &Signatures::default().encode()));
    let mut payload = tar_entry("artifacts/a", &data);
    payload.extend_from_slice(&[0; 1024]);
    let mut bundle = crate::frames::head_frame(&head);
    bundle.extend(bomb_frame(&payload, zeros));
    (bundle, head, payload)
}

#[test]
fn read_ahead_stops_soon_after_the_end_of_archive() {
    let limits = Limits::default();
    let data = b"payload".to_vec();
    // 1 GiB of zeros after the end-of-archive, in 32 KiB of input.
    let (bundle, head, payload) = bundle_with_bomb(&data, 1 << 30);

    let mut r = BundleReader::open(Cursor::new(bundle), limits).unwrap();
    assert!(r.next_metadata().unwrap().is_none());
    let mut p = r.into_payload().unwrap();
    p.next_artifact().unwrap().unwrap();
    let mut out = Vec::new();
    p.copy_to(&mut out).unwrap();
    assert_eq!(out, data);
    assert!(matches!(p.next_artifact(), Err(Error::TrailingData)));

    // The consumer took the end-of-archive and looked at one more byte; the
    // decoder thread ran at most its fixed read-ahead beyond that.
    let consumed_payload = p.consumed() - head.len() as u64;
    assert_eq!(consumed_payload, payload.len() as u64);
    let bound = consumed_payload + ((DEPTH + 2) * CHUNK) as u64;
    // Give the thread time to fill the channel; it must then block. (Not a
    // timing assertion: the bound holds however long we wait.)
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(
        p.produced() <= bound,
        "produced {} > bound {bound}",
        p.produced()
    );
}

#[test]
fn dropping_a_payload_reader_mid_stream_joins_its_thread() {
    // The decoder thread has far more to decode than the channel holds; the
    // reader is given up after one artifact header, as a failed check does.
    let (bundle, _, _) = bundle_with_bomb(b"payload", 1 << 30);
    let mut r = BundleReader::open(Cursor::new(bundle), Limits::default()).unwrap();
    assert!(r.next_metadata().unwrap().is_none());
    let mut p = r.into_payload().unwrap();
    p.next_artifact().unwrap().unwrap();
    let witness = p.thread_witness();
    drop(p);
    // The thread held a clone until it returned; the drop joined it, so
    // only ours is left (no waiting: the drop returns after the join).
    assert_eq!(std::sync::Arc::strong_count(&witness), 1);
}

#[test]
fn payload_is_not_decompressed_before_into_payload() {
    // A payload frame that fails at once (reserved bit set): open and the
    // metadata stage succeed, because they never touch it.
    let limits = Limits::default();
    let m = Manifest::new(
        ManifestFields {
            channel: "c".into(),
            sequence: 1,
            created: 1,
            expires: 2,
            payload_sha256: [0; 32],
            supply_chain: SupplyChain::default(),
            images: Vec::new(),
            entries: Vec::new(),
            names: NameRule::Portable,
            enclaves: Vec::new(),
        },
        &limits,
    )
    .unwrap();
    let mut head = tar_entry(MANIFEST_PATH, &m.encode());
    head.extend(tar_entry(SIGNATURES_PATH, &Signatures::default().encode()));
    let mut bundle = crate::frames::head_frame(&head);
    let mut p = zstd::encode_all(&[0u8; 1024][..], 3).unwrap();
    p[4] |= 0x08;
    bundle.extend(p);
    let mut r = BundleReader::open(Cursor::new(bundle), limits).unwrap();
    assert!(r.next_metadata().unwrap().is_none());
    let mut p = r.into_payload().unwrap();
    assert!(matches!(p.next_artifact(), Err(Error::Compression(_))));
}
