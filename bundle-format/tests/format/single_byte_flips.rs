//! Flipping any single byte of a bundle makes reading it fail: every byte is
//! either canonical structure or authenticated content.
//!
//! The one exception is content this crate cannot authenticate: the value of
//! a signature (and a key id turned into another well-formed key id), which
//! only the caller's signature check covers. The test predicts exactly which
//! positions those are and requires every other position to fail.

use std::collections::BTreeSet;
use std::fs;

use airlock_bundle::*;

use crate::common::*;
use crate::round_trip::write_bundle;

/// A small bundle from the real writer: every metadata kind, one metadata
/// path and one artifact path longer than 100 bytes (GNU long names in both
/// frames), an empty artifact, one of exactly one block, one of several.
fn small_bundle() -> (Vec<u8>, Manifest) {
    use EntryKind::*;
    let long_link = format!("{}.link", "l".repeat(110));
    let long_artifact = format!("deep/{}/tool", "d".repeat(100));
    let items = vec![
        item(
            Root,
            "1.root.json",
            br#"{"signed":{"version":1}}"#.to_vec(),
            0o644,
        ),
        item(
            Layout,
            "root.layout",
            br#"{"steps":["build"]}"#.to_vec(),
            0o644,
        ),
        item(Link, &long_link, br#"{"name":"build"}"#.to_vec(), 0o644),
        item(Attestation, "sbom.json", noise(5, 700), 0o644),
        item(
            Artifact,
            "bin/tool",
            b"#!/bin/sh\necho tool\n".to_vec(),
            0o755,
        ),
        item(Artifact, &long_artifact, noise(6, 2000), 0o755),
        item(Artifact, "lib/block.bin", noise(2, 512), 0o644),
        item(Artifact, "share/empty", Vec::new(), 0o644),
    ];
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.bundle");
    let opts = WriteOptions {
        workers: 1,
        mtime: CREATED,
        ..WriteOptions::default()
    };
    let manifest = write_bundle(dir.path(), &out, &items, &opts);
    (fs::read(&out).unwrap(), manifest)
}

/// The only position of `needle` in `hay`.
fn find_once(hay: &[u8], needle: &[u8]) -> usize {
    let hits: Vec<usize> = hay
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(hits.len(), 1, "expected exactly one occurrence");
    hits[0]
}

fn is_keyid(s: &[u8]) -> bool {
    s.len() == 64 && s.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Positions where `^ mask` still reads cleanly in this crate: every byte of
/// each signature value, and each key id byte whose flip gives another
/// well-formed key id that keeps the signatures sorted. The caller catches
/// both: a changed signature does not verify, an unknown key id is refused.
fn caller_only_positions(bundle: &[u8], mask: u8) -> BTreeSet<usize> {
    let mut sigs = sample_signatures().0;
    sigs.sort_by(|a, b| a.keyid.cmp(&b.keyid));
    let mut set = BTreeSet::new();
    for (k, s) in sigs.iter().enumerate() {
        let at = find_once(bundle, &s.sig);
        set.extend(at..at + s.sig.len());
        let at = find_once(bundle, s.keyid.as_bytes());
        for i in 0..64 {
            let mut id = s.keyid.clone().into_bytes();
            id[i] ^= mask;
            let sorted = (k == 0 || sigs[k - 1].keyid.as_bytes() < id.as_slice())
                && (k + 1 == sigs.len() || id.as_slice() < sigs[k + 1].keyid.as_bytes());
            if is_keyid(&id) && sorted {
                set.insert(at + i);
            }
        }
    }
    set
}

/// Positions (from `positions`) where reading the bundle with that byte
/// flipped by `mask` succeeds. Runs on all cores: each read is independent.
fn accepted_flips(bundle: &[u8], mask: u8, positions: &[usize]) -> BTreeSet<usize> {
    let threads = std::thread::available_parallelism().map_or(4, |n| n.get());
    let chunk = positions.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = positions
            .chunks(chunk)
            .map(|ps| {
                s.spawn(move || {
                    ps.iter()
                        .copied()
                        .filter(|&i| {
                            let mut b = bundle.to_vec();
                            b[i] ^= mask;
                            read_bundle(b).is_ok()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

fn check(bundle: &[u8], mask: u8, positions: &[usize]) {
    let expected: BTreeSet<usize> = caller_only_positions(bundle, mask)
        .into_iter()
        .filter(|i| positions.contains(i))
        .collect();
    let accepted = accepted_flips(bundle, mask, positions);
    let blind: Vec<&usize> = accepted.difference(&expected).collect();
    assert!(
        blind.is_empty(),
        "flipping with {mask:#04x} at these positions of {} was accepted: {blind:?}",
        bundle.len()
    );
    let missed: Vec<&usize> = expected.difference(&accepted).collect();
    assert!(
        missed.is_empty(),
        "expected signature positions were refused (test is off): {missed:?}"
    );
}

#[test]
fn the_sample_is_what_the_test_assumes() {
    let (bundle, manifest) = small_bundle();
    read_bundle(bundle.clone()).unwrap();
    assert!(
        (4_000..=20_000).contains(&bundle.len()),
        "{} bytes",
        bundle.len()
    );
    assert!(
        manifest
            .entries
            .iter()
            .any(|e| e.tar_path().len() > 100 && e.kind.is_metadata())
    );
    assert!(
        manifest
            .entries
            .iter()
            .any(|e| e.tar_path().len() > 100 && !e.kind.is_metadata())
    );
    // 2 signatures of 64 bytes, and some key id flips keep a valid key id.
    let only = caller_only_positions(&bundle, 0x01);
    assert!(only.len() > 128, "{}", only.len());
}

#[test]
fn flipping_the_low_bit_of_any_byte_is_refused() {
    let (bundle, _) = small_bundle();
    let all: Vec<usize> = (0..bundle.len()).collect();
    check(&bundle, 0x01, &all);
}

#[test]
fn flipping_the_high_bit_of_any_byte_is_refused() {
    let (bundle, _) = small_bundle();
    let all: Vec<usize> = (0..bundle.len()).collect();
    check(&bundle, 0x80, &all);
}
