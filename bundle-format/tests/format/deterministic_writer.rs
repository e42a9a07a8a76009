//! The same inputs give the same bytes, whatever the machine's core count.

use std::fs;

use airlock_bundle::*;

use crate::common::*;
use crate::round_trip::write_bundle;

fn bundle_bytes(items: &[Item], workers: u32, level: i32, mtime: u64) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.bundle");
    let opts = WriteOptions {
        level,
        workers,
        mtime,
        limits: Limits::default(),
    };
    write_bundle(dir.path(), &out, items, &opts);
    fs::read(&out).unwrap()
}

#[test]
fn same_inputs_give_identical_bytes() {
    let items = sample_items();
    let a = bundle_bytes(&items, 2, 3, 1_700_000_000);
    let b = bundle_bytes(&items, 2, 3, 1_700_000_000);
    assert_eq!(a, b);
    let c = bundle_bytes(&items, 2, 3, 1_700_000_001);
    assert_ne!(a, c, "mtime is part of the output");
}

#[test]
fn worker_count_does_not_change_the_bytes() {
    // Large enough that zstd splits the payload into several jobs.
    let mut items = sample_items();
    items.push(item(
        EntryKind::Artifact,
        "huge.bin",
        noise(11, 24 << 20),
        0o644,
    ));
    for level in [1, 3] {
        let one = bundle_bytes(&items, 1, level, 0);
        let four = bundle_bytes(&items, 4, level, 0);
        assert!(one == four, "workers 1 and 4 differ at level {level}");
    }
}
