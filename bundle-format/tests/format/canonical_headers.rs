//! Every tar header, long-name entry and padding is exactly what the writer
//! writes for the manifest's entry (mtime = the manifest's `created`,
//! uid = gid = 0, empty names); fields no reader uses cannot carry anything.

use airlock_bundle::*;

use crate::common::*;

/// The sample bundle with artifact `path`'s entry replaced by `tar`.
fn with_artifact_tar(parts: &Parts, path: &str, tar: Vec<u8>) -> Vec<u8> {
    let mut p = Vec::new();
    for it in parts.artifacts() {
        p.extend(if it.path == path {
            tar.clone()
        } else {
            it.tar()
        });
    }
    p.extend_from_slice(&EOA);
    parts.with_payload(&p)
}

/// The sample bundle with metadata or control entry `tar_path` replaced by `tar`.
fn with_head_tar(parts: &Parts, tar_path: &str, tar: Vec<u8>) -> Vec<u8> {
    let mut head = Vec::new();
    let control = [
        (MANIFEST_PATH, &parts.manifest_bytes),
        (SIGNATURES_PATH, &parts.sig_bytes),
    ];
    for (p, bytes) in control {
        head.extend(if p == tar_path {
            tar.clone()
        } else {
            entry_tar(p, bytes, 0o644)
        });
    }
    for it in parts.metadata() {
        head.extend(if it.tar_path() == tar_path {
            tar.clone()
        } else {
            it.tar()
        });
    }
    bundle_of(&head, &parts.payload())
}

fn mismatch(b: Vec<u8>, path: &str) {
    let err = read_err(b);
    assert!(
        matches!(err, Error::TarHeaderMismatch { path: ref p } if *p == excerpt(path)),
        "{path}: {err}"
    );
    assert_eq!(err.code(), "tar-header-mismatch");
}

/// Recomputes a header block's checksum after an edit.
fn recksum(block: &mut [u8]) {
    let mut h = tar::Header::new_old();
    h.as_mut_bytes().copy_from_slice(block);
    h.set_cksum();
    block.copy_from_slice(h.as_bytes());
}

type Edit = fn(&mut tar::Header);

const EDITS: [(&str, Edit); 6] = [
    ("mtime", |h| h.set_mtime(CREATED + 1)),
    ("mtime 0", |h| h.set_mtime(0)),
    ("uid", |h| h.set_uid(1000)),
    ("gid", |h| h.set_gid(1000)),
    ("uname", |h| h.set_username("root").unwrap()),
    ("device", |h| h.set_device_major(1).unwrap()),
];

#[test]
fn artifact_headers_must_be_canonical() {
    let parts = Parts::sample();
    let tool = parts.artifacts()[0].clone();
    assert_eq!(tool.path, "bin/tool");
    for (what, edit) in EDITS {
        let tar = entry_tar_with(&tool.tar_path(), &tool.data, tool.mode, edit);
        assert_ne!(tar, tool.tar(), "{what}");
        mismatch(
            with_artifact_tar(&parts, "bin/tool", tar),
            "artifacts/bin/tool",
        );
    }
}

#[test]
fn metadata_and_control_headers_must_be_canonical() {
    let parts = Parts::sample();
    let layout = parts
        .metadata()
        .into_iter()
        .find(|i| i.kind == EntryKind::Layout)
        .unwrap()
        .clone();
    for (what, edit) in EDITS {
        let tar = entry_tar_with(&layout.tar_path(), &layout.data, layout.mode, edit);
        assert_ne!(tar, layout.tar(), "{what}");
        mismatch(
            with_head_tar(&parts, &layout.tar_path(), tar),
            "meta/layout/root.layout",
        );

        let tar = entry_tar_with(MANIFEST_PATH, &parts.manifest_bytes, 0o644, edit);
        mismatch(with_head_tar(&parts, MANIFEST_PATH, tar), MANIFEST_PATH);
        let tar = entry_tar_with(SIGNATURES_PATH, &parts.sig_bytes, 0o644, edit);
        mismatch(with_head_tar(&parts, SIGNATURES_PATH, tar), SIGNATURES_PATH);
    }
}

#[test]
fn padding_must_be_zero() {
    let parts = Parts::sample();
    let tool = parts.artifacts()[0].clone();
    let mut tar = tool.tar();
    *tar.last_mut().unwrap() = b'!';
    mismatch(
        with_artifact_tar(&parts, "bin/tool", tar),
        "artifacts/bin/tool",
    );

    let layout = parts.metadata()[1].clone();
    assert_eq!(layout.kind, EntryKind::Layout);
    let mut tar = layout.tar();
    tar[512 + layout.data.len()] = 1;
    mismatch(
        with_head_tar(&parts, &layout.tar_path(), tar),
        "meta/layout/root.layout",
    );

    let mut tar = entry_tar(MANIFEST_PATH, &parts.manifest_bytes, 0o644);
    *tar.last_mut().unwrap() = 0x80;
    mismatch(with_head_tar(&parts, MANIFEST_PATH, tar), MANIFEST_PATH);
}

#[test]
fn long_name_entries_must_be_canonical() {
    let long = format!("deep/{}/tool", "d".repeat(120));
    let mut items = sample_items();
    items.push(item(EntryKind::Artifact, &long, b"long".to_vec(), 0o755));
    let parts = Parts::new(items);
    let tar_path = format!("artifacts/{long}");
    let good = entry_tar(&tar_path, b"long", 0o755);
    assert_eq!(good[156], b'L');
    let name_len = tar_path.len() + 1;
    let second = 512 + name_len.div_ceil(512) * 512;
    read_bundle(with_artifact_tar(&parts, &long, good.clone())).unwrap();

    // The long-name entry's own header: an mtime (the writer writes 0).
    let mut t = good.clone();
    t[136..147].copy_from_slice(b"00000000001");
    recksum(&mut t[..512]);
    mismatch(with_artifact_tar(&parts, &long, t), &tar_path);

    // Its padding.
    let mut t = good.clone();
    t[512 + name_len] = b'x';
    mismatch(with_artifact_tar(&parts, &long, t), &tar_path);

    // The file header's name: a shorter prefix of the long name than the
    // writer's 100 bytes.
    let mut t = good.clone();
    t[second + 50..second + 100].fill(0);
    recksum(&mut t[second..second + 512]);
    mismatch(with_artifact_tar(&parts, &long, t), &tar_path);
}

#[test]
fn specific_errors_come_before_the_canonical_check() {
    let parts = Parts::sample();
    let tool = parts.artifacts()[0].clone();
    let tar = entry_tar_with(&tool.tar_path(), &tool.data, 0o700, |h| h.set_mtime(5));
    let err = read_err(with_artifact_tar(&parts, "bin/tool", tar));
    assert!(matches!(err, Error::ModeMismatch { .. }), "{err}");
}
