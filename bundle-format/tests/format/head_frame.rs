//! The head frame is the one canonical zstd frame of raw blocks for its
//! contents: other valid encodings of the same head are refused, zstd itself
//! decodes it, and its length is known before it is written.

use std::fs;
use std::io::Read;

use airlock_bundle::*;

use crate::common::*;
use crate::round_trip::write_bundle;

/// The sample items plus an attestation of `size` bytes, so that the head
/// tar stream has a chosen length.
fn items_with_attestation(size: usize) -> Vec<Item> {
    let mut items = sample_items();
    items.retain(|i| i.data.len() < 100_000);
    items.push(item(
        EntryKind::Attestation,
        "pad.bin",
        noise(8, size),
        0o644,
    ));
    items
}

/// Items whose head tar stream is exactly `target` bytes (a multiple of 512).
fn items_with_head_len(target: usize) -> Vec<Item> {
    // The attestation's size stays within one CBOR width (65536..2^32), so
    // the manifest length, and everything else, does not move with it.
    let probe = 70_144;
    let other = Parts::new(items_with_attestation(probe)).head().len() - probe;
    let items = items_with_attestation(target - other);
    assert_eq!(Parts::new(items.clone()).head().len(), target);
    items
}

fn metadata_files(items: &[Item]) -> Vec<MetadataFile> {
    items
        .iter()
        .filter(|i| i.kind.is_metadata())
        .map(|i| MetadataFile {
            kind: i.kind,
            path: bp(&i.path),
            bytes: i.data.clone(),
            mode: i.mode,
        })
        .collect()
}

/// Frame H, then the rest of the sample bundle.
fn with_head(parts: &Parts, h: Vec<u8>) -> Vec<u8> {
    let mut b = h;
    b.extend(frame(&parts.payload()));
    b
}

fn zstd_decodes_to(frame: &[u8], want: &[u8]) {
    let mut d = zstd::stream::read::Decoder::with_buffer(frame)
        .unwrap()
        .single_frame();
    let mut out = Vec::new();
    d.read_to_end(&mut out).unwrap();
    assert!(out == want, "zstd decodes it to something else");
}

fn head_err(b: Vec<u8>, want: &str) {
    let err = read_err(b);
    assert!(
        matches!(err, Error::HeadFrame(ref m) if m.contains(want)),
        "{want}: {err}"
    );
    assert_eq!(err.code(), "head-frame");
}

/// Re-blocks `tar` as raw blocks of the given sizes (the last one flagged
/// last) after the canonical frame header.
fn raw_blocks(tar: &[u8], sizes: &[usize]) -> Vec<u8> {
    assert_eq!(sizes.iter().sum::<usize>(), tar.len());
    let mut out = head_frame(tar)[..6].to_vec();
    let mut at = 0;
    for (i, n) in sizes.iter().enumerate() {
        let last = i + 1 == sizes.len();
        let h = (*n as u32) << 3 | u32::from(last);
        out.extend_from_slice(&h.to_le_bytes()[..3]);
        out.extend_from_slice(&tar[at..at + n]);
        at += n;
    }
    out
}

#[test]
fn the_head_frame_is_a_zstd_frame_zstd_decodes() {
    let parts = Parts::new(items_with_attestation(300_000));
    let head = parts.head();
    assert!(head.len() > 2 * HEAD_BLOCK);
    let h = head_frame(&head);
    assert_eq!(
        h.len(),
        6 + 3 * head.len().div_ceil(HEAD_BLOCK) + head.len()
    );
    zstd_decodes_to(&h, &head);
    read_bundle(with_head(&parts, h)).unwrap();
}

#[test]
fn other_encodings_of_the_same_head_are_refused() {
    let parts = Parts::new(items_with_attestation(300_000));
    let head = parts.head();
    let canonical = head_frame(&head);

    // Compressed blocks, with the canonical frame header.
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    enc.include_checksum(false).unwrap();
    enc.include_contentsize(false).unwrap();
    enc.window_log(17).unwrap();
    std::io::Write::write_all(&mut enc, &head).unwrap();
    let compressed = enc.finish().unwrap();
    assert_eq!(compressed[..6], canonical[..6]);
    zstd_decodes_to(&compressed, &head);
    head_err(with_head(&parts, compressed), "compressed block");

    // A larger window.
    let mut h = canonical.clone();
    h[5] = 0x40;
    zstd_decodes_to(&h, &head);
    head_err(with_head(&parts, h), "window descriptor");

    // The checksum flag, the single-segment flag, a content size.
    for fhd in [0x04, 0x20, 0x40] {
        let mut h = canonical.clone();
        h[4] = fhd;
        head_err(with_head(&parts, h), "frame header descriptor");
    }

    // A block of 131071 bytes before a non-last block.
    let n = head.len();
    let h = raw_blocks(&head, &[HEAD_BLOCK - 1, HEAD_BLOCK, n - 2 * HEAD_BLOCK + 1]);
    zstd_decodes_to(&h, &head);
    head_err(with_head(&parts, h), "131071 bytes before the last");

    // Short blocks at the end: the same bytes, one block more.
    let rest = n - 2 * HEAD_BLOCK;
    let h = raw_blocks(&head, &[HEAD_BLOCK, HEAD_BLOCK, rest - 1, 1]);
    zstd_decodes_to(&h, &head);
    head_err(with_head(&parts, h), "before the last");

    // Missing Last_Block on the final block.
    let mut h = canonical.clone();
    let last_header = 6 + 2 * (3 + HEAD_BLOCK);
    h[last_header] &= !1;
    head_err(with_head(&parts, h), "before the last");

    // An RLE block, and the reserved block type.
    for (ty, name) in [(1, "RLE"), (3, "reserved")] {
        let mut h = canonical.clone();
        h[6] |= ty << 1;
        head_err(with_head(&parts, h), name);
    }
}

#[test]
fn block_boundaries_at_exactly_131072_bytes_are_canonical() {
    let items = items_with_head_len(2 * HEAD_BLOCK);
    let parts = Parts::new(items);
    let head = parts.head();
    let canonical = head_frame(&head);
    assert_eq!(canonical.len(), 6 + 2 * 3 + 2 * HEAD_BLOCK);
    read_bundle(with_head(&parts, canonical.clone())).unwrap();

    // Without Last_Block the frame goes on into the payload frame's magic
    // number, which is no canonical block header.
    let mut h = canonical.clone();
    h[6 + 3 + HEAD_BLOCK] &= !1;
    zstd_decodes_to(&raw_blocks(&head, &[HEAD_BLOCK, HEAD_BLOCK]), &head);
    head_err(with_head(&parts, h), "raw block of");

    // An empty last block after two full ones: valid zstd, not canonical.
    let mut h = raw_blocks(&head, &[HEAD_BLOCK, HEAD_BLOCK]);
    h[6 + 3 + HEAD_BLOCK] &= !1;
    h.extend_from_slice(&[1, 0, 0]);
    zstd_decodes_to(&h, &head);
    head_err(with_head(&parts, h), "raw block of 0 bytes");

    // Last_Block on the first block: the frame ends in the middle of the
    // metadata, and the second block's header is read as the payload frame.
    let mut h = canonical;
    h[6] |= 1;
    let err = read_err(with_head(&parts, h));
    assert!(matches!(err, Error::FrameBoundary), "{err}");
}

#[test]
fn head_frame_len_is_the_length_of_the_head_frame() {
    let sigs = sample_signatures();
    let mut shapes: Vec<Vec<Item>> = Vec::new();
    // No metadata, then one to all five kinds.
    let base: Vec<Item> = sample_items()
        .into_iter()
        .filter(|i| i.data.len() < 100_000)
        .collect();
    let (meta, arts): (Vec<Item>, Vec<Item>) = base.into_iter().partition(|i| i.kind.is_metadata());
    for k in 0..=meta.len() {
        let mut v = arts.clone();
        v.extend(meta[..k].iter().cloned());
        shapes.push(v);
    }
    // A metadata path long enough for a GNU long-name entry.
    let mut v = arts.clone();
    let long = format!("{}/{}.link", "k".repeat(200), "j".repeat(100));
    v.push(item(EntryKind::Link, &long, b"{}".to_vec(), 0o644));
    shapes.push(v);
    // Head streams ending just before, exactly at and just after block ends.
    for t in [
        HEAD_BLOCK - 512,
        HEAD_BLOCK,
        HEAD_BLOCK + 512,
        2 * HEAD_BLOCK,
    ] {
        shapes.push(items_with_head_len(t));
    }
    // A manifest that alone crosses a block boundary.
    shapes.push(many_roots());
    for items in shapes {
        let parts = Parts::new(items.clone());
        let n = parts.head().len();
        let want = 6 + 3 * n.div_ceil(HEAD_BLOCK) + n;
        assert_eq!(head_frame(&parts.head()).len(), want);
        let got = head_frame_len(&parts.manifest, &sigs, &metadata_files(&items));
        assert_eq!(got, want as u64, "head tar of {n} bytes");
    }
}

/// 2000 tiny roots: a manifest of more than one head-frame block.
fn many_roots() -> Vec<Item> {
    let items: Vec<Item> = (0..2000)
        .map(|i| {
            item(
                EntryKind::Root,
                &format!("roots/{i:05}.root.json"),
                vec![b'{'],
                0o644,
            )
        })
        .collect();
    assert!(Parts::new(items.clone()).manifest_bytes.len() > HEAD_BLOCK);
    items
}

#[test]
fn the_writer_fills_exactly_the_reserved_head() {
    // write_bundle reserves head_frame_len and finish_bundle refuses any
    // other length; here the written head is also compared byte for byte
    // with the canonical frame built from the SPEC.
    let mut shapes = vec![
        items_with_head_len(HEAD_BLOCK),
        items_with_head_len(HEAD_BLOCK + 512),
        many_roots(),
    ];
    shapes[2].push(item(EntryKind::Artifact, "a", b"x".to_vec(), 0o644));
    for items in shapes {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.bundle");
        let opts = WriteOptions {
            workers: 1,
            mtime: CREATED,
            ..WriteOptions::default()
        };
        let m = write_bundle(dir.path(), &out, &items, &opts);
        let bytes = fs::read(&out).unwrap();
        let want = head_frame(&Parts::for_payload_sha256(items, m.payload_sha256).head());
        assert!(bytes[..want.len()] == want[..], "head differs");
        read_bundle(bytes).unwrap();
    }
}
