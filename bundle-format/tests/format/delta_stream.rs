//! A delta bundle's stream is what its `entries` say, nothing of its
//! `base` (SPEC.md 5.7): the reader hands over only the carried files, and
//! a file taken from the base that appears in the stream is refused.
use airlock_bundle::*;
use sha2::{Digest, Sha256};

use crate::common::*;

/// The bundle of `carried` items whose manifest takes `taken` from a base,
/// with `extra` tar bytes appended to the payload after the carried files.
fn delta_bundle(carried: &[Item], taken: &[Item], extra: &[u8]) -> Vec<u8> {
    let mut payload: Vec<u8> = carried
        .iter()
        .filter(|i| !i.kind.is_metadata())
        .flat_map(Item::tar)
        .collect();
    payload.extend_from_slice(extra);
    payload.extend_from_slice(&EOA);
    let p = frame(&payload);
    let manifest = Manifest::new_delta(
        ManifestFields {
            payload_sha256: Sha256::digest(&p).into(),
            ..fields(carried.iter().map(Item::entry).collect())
        },
        Base {
            bundle_id: "00112233445566778899aabbccddeeff".into(),
            sequence: 1,
            entries: taken.iter().map(Item::entry).collect(),
        },
        &lim(),
    )
    .unwrap();
    let mut head = entry_tar(MANIFEST_PATH, &manifest.encode(), 0o644);
    head.extend(entry_tar(
        SIGNATURES_PATH,
        &sample_signatures().encode(),
        0o644,
    ));
    for i in carried.iter().filter(|i| i.kind.is_metadata()) {
        head.extend(i.tar());
    }
    let mut b = head_frame(&head);
    b.extend(p);
    b
}

fn items() -> (Vec<Item>, Vec<Item>) {
    let carried = vec![
        item(EntryKind::Layout, "root.layout", b"{}".to_vec(), 0o644),
        item(EntryKind::Artifact, "bin/new", noise(1, 5000), 0o755),
    ];
    let taken = vec![
        item(EntryKind::Artifact, "bin/old", noise(2, 70_000), 0o755),
        item(EntryKind::Artifact, "README", b"same\n".to_vec(), 0o644),
    ];
    (carried, taken)
}

#[test]
fn a_delta_streams_only_what_it_carries() {
    let (carried, taken) = items();
    let out = read_bundle(delta_bundle(&carried, &taken, b"")).unwrap();
    let paths: Vec<String> = out.artifacts.iter().map(|(e, _)| e.tar_path()).collect();
    assert_eq!(paths, ["artifacts/bin/new"]);
    assert_eq!(out.artifacts[0].1, noise(1, 5000));
    let base = out.manifest.base.as_ref().unwrap();
    assert_eq!(base.entries.len(), 2);
    let release: Vec<String> = out
        .manifest
        .full_release()
        .artifacts()
        .iter()
        .map(Entry::tar_path)
        .collect();
    assert_eq!(
        release,
        ["artifacts/README", "artifacts/bin/new", "artifacts/bin/old"]
    );
}

#[test]
fn a_file_taken_from_the_base_is_refused_in_the_stream() {
    let (carried, taken) = items();
    let smuggled = taken[1].tar();
    let err = read_err(delta_bundle(&carried, &taken, &smuggled));
    assert!(
        matches!(err, Error::NotInManifest { ref path } if path == "artifacts/README"),
        "{err}"
    );
}
