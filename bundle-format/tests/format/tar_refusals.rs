//! Every tar entry that is not exactly what the manifest describes is
//! refused, with the error that names the problem.

use airlock_bundle::*;

use crate::common::*;

/// A bundle whose payload is `before`, the sample artifacts, then `after`
/// and the end-of-archive marker.
fn payload_with(parts: &Parts, before: &[u8], after: &[u8]) -> Vec<u8> {
    let mut p = before.to_vec();
    p.extend(parts.artifact_tar());
    p.extend_from_slice(after);
    p.extend_from_slice(&EOA);
    parts.with_payload(&p)
}

#[test]
fn non_regular_entries_are_refused_by_kind() {
    let parts = Parts::sample();
    let cases: [(u8, &str); 9] = [
        (b'2', "symbolic link"),
        (b'1', "hard link"),
        (b'3', "character device"),
        (b'4', "block device"),
        (b'6', "fifo"),
        (b'5', "directory"),
        (b'x', "PAX extended header"),
        (b'g', "PAX global header"),
        (b'K', "GNU long link name"),
    ];
    for (ty, want) in cases {
        let bad = raw_entry(b"artifacts/bin/tool", ty, b"", 0o755);
        let err = read_err(payload_with(&parts, &bad, b""));
        assert!(
            matches!(err, Error::EntryType { ref path, kind } if kind == want && path == "artifacts/bin/tool"),
            "{want}: {err}"
        );
    }
    let sparse = raw_entry(b"artifacts/x", b'S', b"", 0o644);
    assert!(matches!(
        read_err(payload_with(&parts, &sparse, b"")),
        Error::EntryType {
            kind: "GNU sparse file",
            ..
        }
    ));
    let odd = raw_entry(b"artifacts/x", b'Z', b"", 0o644);
    assert!(matches!(
        read_err(payload_with(&parts, &odd, b"")),
        Error::EntryType {
            kind: "tar entry of unknown type",
            ..
        }
    ));
}

#[test]
fn non_regular_entries_in_the_head_are_refused() {
    let parts = Parts::sample();
    let mut head = parts.control_tar();
    head.extend(raw_entry(b"meta/roots/1.root.json", b'2', b"", 0o644));
    let err = read_err(bundle_of(&head, &parts.payload()));
    assert!(matches!(
        err,
        Error::EntryType {
            kind: "symbolic link",
            ..
        }
    ));
}

#[test]
fn unsafe_header_paths_are_refused_before_lookup() {
    let parts = Parts::sample();
    let cases: [(&[u8], PathError); 5] = [
        (b"artifacts/../../etc/passwd", PathError::DotDot),
        (b"/etc/passwd", PathError::Absolute),
        (b"artifacts/./bin/tool", PathError::Dot),
        (b"artifacts/a\\b", PathError::Backslash),
        (b"artifacts/a\x1b[2J", PathError::ControlChar),
    ];
    for (name, want) in cases {
        let bad = raw_entry(name, b'0', b"x", 0o644);
        let err = read_err(payload_with(&parts, &bad, b""));
        assert!(
            matches!(err, Error::UnsafePath { reason, .. } if reason == want),
            "{want}: {err}"
        );
    }
    // The escape sequence is shown escaped, never raw.
    let bad = raw_entry(b"artifacts/a\x1b[2J", b'0', b"x", 0o644);
    let msg = read_err(payload_with(&parts, &bad, b"")).to_string();
    assert!(!msg.contains('\x1b') && msg.contains("\\u{1b}"), "{msg}");
}

#[test]
fn entries_not_in_the_manifest_are_refused() {
    let parts = Parts::sample();
    let extra = entry_tar("artifacts/zzz-extra", b"x", 0o644);
    let err = read_err(payload_with(&parts, &extra, b""));
    assert!(matches!(err, Error::NotInManifest { ref path } if path == "artifacts/zzz-extra"));
    // ... also after the last artifact, where the end-of-archive belongs.
    let err = read_err(payload_with(&parts, b"", &extra));
    assert!(matches!(err, Error::NotInManifest { ref path } if path == "artifacts/zzz-extra"));
}

#[test]
fn a_header_is_the_expected_entry_only_when_spelled_exactly_alike() {
    // The expected entry's path under another kind's prefix, with another
    // case, or with more after it: none is the entry the manifest expects.
    let parts = Parts::sample();
    let expected = parts.artifacts()[0].tar_path();
    let path = expected.strip_prefix("artifacts/").unwrap();
    for name in [
        format!("blobs/{path}"),
        format!("meta/roots/{path}"),
        format!("artifacts/{}", path.to_uppercase()),
        format!("{expected}x"),
        format!("{expected}/x"),
    ] {
        let bad = entry_tar(&name, b"x", 0o644);
        let err = read_err(payload_with(&parts, &bad, b""));
        assert!(
            matches!(err, Error::NotInManifest { path: ref p } if *p == name),
            "{name}: {err}"
        );
    }
}

#[test]
fn entries_out_of_order_are_refused() {
    let parts = Parts::sample();
    let arts = parts.artifacts();
    let mut p = arts[1].tar();
    p.extend(arts[0].tar());
    p.extend_from_slice(&EOA);
    let err = read_err(parts.with_payload(&p));
    assert!(matches!(
        err,
        Error::OutOfOrder { ref expected, ref found }
            if *expected == arts[0].tar_path() && *found == arts[1].tar_path()
    ));
}

#[test]
fn repeated_entries_are_refused() {
    let parts = Parts::sample();
    let arts = parts.artifacts();
    let mut p = arts[0].tar();
    p.extend(arts[0].tar());
    let err = read_err(parts.with_payload(&p));
    assert!(matches!(err, Error::DuplicateEntry { ref path } if *path == arts[0].tar_path()));
    // A metadata entry again in the payload.
    let root = parts.metadata()[0].tar();
    let err = read_err(payload_with(&parts, &root, b""));
    assert!(matches!(err, Error::DuplicateEntry { ref path } if path == "meta/roots/1.root.json"));
    // The manifest again, after the last artifact.
    let again = entry_tar(MANIFEST_PATH, &parts.manifest_bytes, 0o644);
    let err = read_err(payload_with(&parts, b"", &again));
    assert!(matches!(err, Error::DuplicateEntry { ref path } if path == MANIFEST_PATH));
}

#[test]
fn missing_entries_are_refused() {
    let parts = Parts::sample();
    let arts = parts.artifacts();
    let mut p = arts[0].tar();
    p.extend_from_slice(&EOA);
    let err = read_err(parts.with_payload(&p));
    assert!(matches!(err, Error::MissingEntry { ref path } if *path == arts[1].tar_path()));
    // The payload frame ends cleanly without the remaining artifacts.
    let err = read_err(parts.with_payload(&arts[0].tar()));
    assert!(matches!(err, Error::MissingEntry { ref path } if *path == arts[1].tar_path()));
}

#[test]
fn size_mode_and_digest_must_match_the_manifest() {
    let parts = Parts::sample();
    let tool = parts
        .artifacts()
        .into_iter()
        .find(|i| i.path == "bin/tool")
        .unwrap()
        .clone();
    let replace = |t: Vec<u8>| -> Vec<u8> {
        let mut p = Vec::new();
        for it in parts.artifacts() {
            p.extend(if it.path == "bin/tool" {
                t.clone()
            } else {
                it.tar()
            });
        }
        p.extend_from_slice(&EOA);
        parts.with_payload(&p)
    };

    let mut longer = tool.data.clone();
    longer.push(b'!');
    let err = read_err(replace(entry_tar(&tool.tar_path(), &longer, tool.mode)));
    assert!(matches!(
        err,
        Error::SizeMismatch { ref path, expected, found }
            if path == "artifacts/bin/tool" && expected + 1 == found
    ));

    let err = read_err(replace(entry_tar(&tool.tar_path(), &tool.data, 0o4755)));
    assert!(matches!(
        err,
        Error::ModeMismatch {
            expected: 0o755,
            found: 0o4755,
            ..
        }
    ));

    let mut flipped = tool.data.clone();
    flipped[3] ^= 0x20;
    let err = read_err(replace(entry_tar(&tool.tar_path(), &flipped, tool.mode)));
    assert!(matches!(err, Error::DigestMismatch { ref path } if path == "artifacts/bin/tool"));
}

#[test]
fn metadata_digest_is_checked() {
    let parts = Parts::sample();
    let mut head = parts.control_tar();
    for it in parts.metadata() {
        let mut it = it.clone();
        if it.kind == EntryKind::Layout {
            it.data[0] ^= 1;
        }
        head.extend(it.tar());
    }
    let err = read_err(bundle_of(&head, &parts.payload()));
    assert!(matches!(err, Error::DigestMismatch { ref path } if path == "meta/layout/root.layout"));
}

#[test]
fn control_entries_are_checked() {
    let parts = Parts::sample();
    // Signatures first.
    let mut head = entry_tar(SIGNATURES_PATH, &parts.sig_bytes, 0o644);
    head.extend(entry_tar(MANIFEST_PATH, &parts.manifest_bytes, 0o644));
    head.extend(parts.meta_tar());
    let err = read_err(bundle_of(&head, &parts.payload()));
    assert!(
        matches!(err, Error::OutOfOrder { ref expected, ref found } if expected == MANIFEST_PATH && found == SIGNATURES_PATH)
    );
    // Wrong mode on the manifest.
    let mut head = entry_tar(MANIFEST_PATH, &parts.manifest_bytes, 0o755);
    head.extend(entry_tar(SIGNATURES_PATH, &parts.sig_bytes, 0o644));
    let err = read_err(bundle_of(&head, &parts.payload()));
    assert!(matches!(
        err,
        Error::ModeMismatch {
            expected: 0o644,
            found: 0o755,
            ..
        }
    ));
    // A manifest entry larger than the limit is refused before it is read.
    let small = Limits {
        max_manifest_bytes: 100,
        ..Limits::default()
    };
    let err = read_bundle_with(parts.bundle(), small).unwrap_err();
    assert!(matches!(
        err,
        Error::Limit {
            what: "manifest bytes",
            limit: 100
        }
    ));
    let small = Limits {
        max_signatures_bytes: 10,
        ..Limits::default()
    };
    let err = read_bundle_with(parts.bundle(), small).unwrap_err();
    assert!(matches!(
        err,
        Error::Limit {
            what: "signatures bytes",
            limit: 10
        }
    ));
}

#[test]
fn malformed_headers_are_refused() {
    let parts = Parts::sample();
    let tool = parts.artifacts()[0].clone();

    let mut bad_sum = tool.tar();
    bad_sum[0] ^= 1;
    let err = read_err(payload_with(&parts, &bad_sum, b""));
    let head_blocks = (parts.head().len() / 512) as u64;
    assert!(
        matches!(err, Error::TarHeader { index, ref reason } if index == head_blocks && reason == "checksum mismatch")
    );

    let mut ustar = tar::Header::new_ustar();
    ustar.set_path(tool.tar_path()).unwrap();
    ustar.set_size(tool.data.len() as u64);
    ustar.set_mode(tool.mode);
    ustar.set_cksum();
    let mut e = ustar.as_bytes().to_vec();
    e.extend_from_slice(&tool.data);
    pad(&mut e);
    let err = read_err(payload_with(&parts, &e, b""));
    assert!(matches!(err, Error::TarHeader { ref reason, .. } if reason.contains("GNU")));

    // One zero block, then garbage instead of the second.
    let mut p = parts.artifact_tar();
    p.extend_from_slice(&[0; 512]);
    p.extend(raw_header(b"x", b'0', 0, 0o644));
    let err = read_err(parts.with_payload(&p));
    assert!(
        matches!(err, Error::TarHeader { ref reason, .. } if reason.contains("end-of-archive"))
    );

    // A long-name entry for a name that fits in the header.
    let mut p = raw_entry(b"././@LongLink", b'L', b"artifacts/bin/tool\0", 0o644);
    p.extend(tool.tar());
    let err = read_err(payload_with(&parts, &p, b""));
    assert!(matches!(err, Error::TarHeader { ref reason, .. } if reason.contains("fits")));

    // A long name followed by a symlink.
    let long = format!("artifacts/{}", "l".repeat(120));
    let mut name = long.clone().into_bytes();
    name.push(0);
    let mut p = raw_entry(b"././@LongLink", b'L', &name, 0o644);
    p.extend(raw_entry(&long.as_bytes()[..100], b'2', b"", 0o777));
    let err = read_err(payload_with(&parts, &p, b""));
    assert!(
        matches!(err, Error::EntryType { ref path, kind: "symbolic link" } if *path == excerpt(&long))
    );

    // A long name longer than any path may be.
    let small = Limits {
        max_path_bytes: 200,
        ..Limits::default()
    };
    let mut name = format!("artifacts/{}", "m".repeat(300)).into_bytes();
    name.push(0);
    let mut p = raw_entry(b"././@LongLink", b'L', &name, 0o644);
    p.extend(raw_entry(b"artifacts/m", b'0', b"", 0o644));
    let err = read_bundle_with(payload_with(&parts, &p, b""), small).unwrap_err();
    assert!(matches!(
        err,
        Error::Limit {
            what: "path bytes",
            limit: 200
        }
    ));
}
