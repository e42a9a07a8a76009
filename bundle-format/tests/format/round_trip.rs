//! What the writer writes, the reader reads back exactly.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use airlock_bundle::*;
use sha2::{Digest, Sha256};

use crate::common::*;

/// The manifest of a bundle written with `opts`: `created` is the mtime.
fn manifest_for(
    entries: Vec<Entry>,
    images: &[Image],
    payload_sha256: [u8; 32],
    opts: &WriteOptions,
) -> Result<Manifest, Error> {
    let f = fields(entries);
    let fields = ManifestFields {
        created: opts.mtime,
        expires: f.expires.max(opts.mtime + 1),
        payload_sha256,
        images: images.to_vec(),
        ..f
    };
    Manifest::new(fields, &opts.limits)
}

/// Writes `items` as a bundle with the real writer, the way a caller does:
/// head length from a provisional manifest, payload, manifest, head.
/// Returns the manifest.
pub fn write_bundle(dir: &Path, out: &Path, items: &[Item], opts: &WriteOptions) -> Manifest {
    write_bundle_with_images(dir, out, items, &[], opts).unwrap()
}

/// [`write_bundle`] of a bundle that also lists `images`.
pub fn write_bundle_with_images(
    dir: &Path,
    out: &Path,
    items: &[Item],
    images: &[Image],
    opts: &WriteOptions,
) -> Result<Manifest, Error> {
    let mut sources = Vec::new();
    let mut metadata = Vec::new();
    for (n, it) in items.iter().enumerate() {
        if it.kind.is_metadata() {
            metadata.push(MetadataFile {
                kind: it.kind,
                path: bp(&it.path),
                bytes: it.data.clone(),
                mode: it.mode,
            });
        } else {
            let file = dir.join(format!("input-{n}"));
            fs::write(&file, &it.data).unwrap();
            sources.push(ArtifactSource {
                kind: it.kind,
                path: bp(&it.path),
                file,
                size: it.data.len() as u64,
                mode: it.mode,
            });
        }
    }
    let meta_entries = metadata.iter().map(MetadataFile::entry);
    let provisional: Vec<Entry> = sources
        .iter()
        .map(ArtifactSource::planned_entry)
        .chain(meta_entries.clone())
        .collect();
    let provisional = manifest_for(provisional, images, [0; 32], opts)?;
    let planned = provisional.planned_frames();
    let provisional = provisional.with_frames(planned, &opts.limits)?;
    let zero_sigs = sample_signatures().zeroed();
    let head_len = head_frame_len(&provisional, &zero_sigs, &metadata);
    let payload = write_payload(out, &sources, head_len, opts, &|_| {})?;
    let entries: Vec<Entry> = payload
        .entries()
        .iter()
        .cloned()
        .chain(meta_entries)
        .collect();
    let manifest = manifest_for(entries, images, payload.sha256(), opts)?
        .with_frames(payload.frames().to_vec(), &opts.limits)?;
    // The provisional manifest given the payload's digests is that same
    // manifest (what `airlock pack` does instead of building it again).
    let given = provisional
        .with_payload(payload.entries(), payload.sha256(), &opts.limits)?
        .with_frames(payload.frames().to_vec(), &opts.limits)?;
    assert_eq!(given, manifest);
    assert_eq!(given.encode(), manifest.encode());
    finish_bundle(
        out,
        &manifest.encode(),
        &sample_signatures(),
        &metadata,
        payload,
        opts,
    )?;
    Ok(manifest)
}

fn opts() -> WriteOptions {
    WriteOptions {
        workers: 2,
        mtime: 1_700_000_000,
        ..WriteOptions::default()
    }
}

fn check_round_trip(items: Vec<Item>) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.bundle");
    let manifest = write_bundle(dir.path(), &out, &items, &opts());
    let got = read_bundle(fs::read(&out).unwrap()).unwrap();
    assert_eq!(got.manifest, manifest);
    assert_eq!(got.manifest_bytes, manifest.encode());
    let mut want = sample_signatures();
    want.0.sort_by(|a, b| a.keyid.cmp(&b.keyid));
    assert_eq!(got.signatures, want);
    let parts = Parts::new(items);
    let meta: Vec<_> = parts
        .metadata()
        .iter()
        .map(|i| (i.entry(), i.data.clone()))
        .collect();
    let arts: Vec<_> = parts
        .artifacts()
        .iter()
        .map(|i| (i.entry(), i.data.clone()))
        .collect();
    assert_eq!(got.metadata, meta);
    assert_eq!(got.artifacts, arts);
}

#[test]
fn sample_bundle_round_trips() {
    check_round_trip(sample_items());
}

#[test]
fn bundle_without_metadata_or_artifacts_round_trips() {
    check_round_trip(vec![item(
        EntryKind::Artifact,
        "only",
        b"x".to_vec(),
        0o644,
    )]);
    check_round_trip(vec![item(
        EntryKind::Root,
        "1.root.json",
        b"{}".to_vec(),
        0o644,
    )]);
    check_round_trip(Vec::new());
}

#[test]
fn long_paths_round_trip_through_gnu_long_names() {
    let c = "c".repeat(200);
    let deep = format!(
        "{c}/{c}/{c}/{c}/{c}/{c}/{c}/{c}/{c}/{c}/{c}/{c}/{c}/{c}/{c}/{c}/{c}/{c}/{}",
        "d".repeat(200)
    );
    assert!(deep.len() + "artifacts/".len() <= 4096 && deep.len() > 3500);
    let exactly_100 = format!("{}.bin", "e".repeat(100 - "artifacts/".len() - 4));
    let exactly_101 = format!("{}.bin", "f".repeat(101 - "artifacts/".len() - 4));
    let unicode = format!("{}/ünïcødé-文件.txt", "g".repeat(95));
    let items = vec![
        item(EntryKind::Artifact, &deep, b"deep".to_vec(), 0o644),
        item(EntryKind::Artifact, &exactly_100, b"100".to_vec(), 0o644),
        item(EntryKind::Artifact, &exactly_101, b"101".to_vec(), 0o644),
        item(EntryKind::Artifact, &unicode, b"u".to_vec(), 0o644),
        item(
            EntryKind::Link,
            &format!("{}.link", "h".repeat(150)),
            b"{}".to_vec(),
            0o644,
        ),
    ];
    check_round_trip(items);
}

#[test]
fn writer_output_is_the_documented_layout() {
    // Frame H is exactly the canonical raw-block frame of manifest,
    // signatures and metadata (no end-of-archive), and zstd decodes it like
    // any frame; frame P decompresses to the artifacts and exactly two zero
    // blocks, hashes to the manifest's payload_sha256, and nothing follows.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.bundle");
    let items = sample_items();
    let manifest = write_bundle(dir.path(), &out, &items, &opts());
    let bytes = fs::read(&out).unwrap();

    // entry_tar and the writer use the same mtime, so the bytes match.
    let parts = Parts::for_payload_sha256(items, manifest.payload_sha256);
    assert_eq!(parts.manifest_bytes, manifest.encode());
    let h = head_frame(&parts.head());
    assert_eq!(&bytes[..h.len()], h.as_slice());
    let p = &bytes[h.len()..];
    assert_eq!(Sha256::digest(p).as_slice(), manifest.payload_sha256);

    let mut head = Vec::new();
    let mut payload = Vec::new();
    let mut rest = &bytes[..];
    for out in [&mut head, &mut payload] {
        use std::io::Read;
        let mut d = zstd::stream::read::Decoder::with_buffer(&mut rest)
            .unwrap()
            .single_frame();
        d.read_to_end(out).unwrap();
    }
    assert!(
        rest.is_empty(),
        "{} bytes after the payload frame",
        rest.len()
    );
    assert_eq!(head, parts.head());
    assert_eq!(payload, parts.payload());
}

#[test]
fn skipping_copy_still_verifies_each_artifact() {
    let parts = Parts::sample();
    let mut r = BundleReader::open(std::io::Cursor::new(parts.bundle()), lim()).unwrap();
    while r.next_metadata().unwrap().is_some() {}
    let mut p = r.into_payload().unwrap();
    let mut n = 0;
    while p.next_artifact().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, parts.artifacts().len());
    assert!(p.next_artifact().unwrap().is_none());

    // The same, with one artifact's data damaged: skipping it is no escape.
    let mut payload = Vec::new();
    for it in parts.artifacts() {
        let mut it = it.clone();
        if it.path == "bin/tool" {
            it.data[0] ^= 1;
        }
        payload.extend(it.tar());
    }
    payload.extend_from_slice(&EOA);
    let mut r =
        BundleReader::open(std::io::Cursor::new(parts.with_payload(&payload)), lim()).unwrap();
    while r.next_metadata().unwrap().is_some() {}
    let mut p = r.into_payload().unwrap();
    let err = loop {
        match p.next_artifact() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("accepted"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, Error::DigestMismatch { ref path } if path == "artifacts/bin/tool"));
    assert!(matches!(p.next_artifact(), Err(Error::Misuse(_))));
}

#[test]
fn api_order_is_enforced() {
    let parts = Parts::sample();
    let r = BundleReader::open(std::io::Cursor::new(parts.bundle()), lim()).unwrap();
    assert!(matches!(r.into_payload(), Err(Error::Misuse(_))));

    let mut r = BundleReader::open(std::io::Cursor::new(parts.bundle()), lim()).unwrap();
    while r.next_metadata().unwrap().is_some() {}
    assert!(r.next_metadata().unwrap().is_none());
    let mut p = r.into_payload().unwrap();
    assert!(matches!(
        p.copy_to(&mut std::io::sink()),
        Err(Error::Misuse(_))
    ));
    p.next_artifact().unwrap().unwrap();
    p.copy_to(&mut std::io::sink()).unwrap();
    assert!(matches!(
        p.copy_to(&mut std::io::sink()),
        Err(Error::Misuse(_))
    ));
}

#[test]
fn sink_errors_are_reported_as_sink_errors() {
    struct Full;
    impl std::io::Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let parts = Parts::sample();
    let mut r = BundleReader::open(std::io::Cursor::new(parts.bundle()), lim()).unwrap();
    while r.next_metadata().unwrap().is_some() {}
    let mut p = r.into_payload().unwrap();
    p.next_artifact().unwrap().unwrap();
    let err = p.copy_to(&mut Full).unwrap_err();
    assert!(matches!(err, Error::Sink(_)));
    assert_eq!(err.fault(), Fault::Environment);
}

#[test]
fn progress_counts_every_artifact_byte() {
    let dir = tempfile::tempdir().unwrap();
    let data = noise(9, 3 << 20);
    let file = dir.path().join("in");
    fs::write(&file, &data).unwrap();
    let seen = AtomicU64::new(0);
    let src = ArtifactSource {
        kind: EntryKind::Artifact,
        path: bp("a"),
        file,
        size: data.len() as u64,
        mode: 0o644,
    };
    let p = write_payload(&dir.path().join("o"), &[src], 0, &opts(), &|n| {
        seen.fetch_add(n, Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(seen.load(Ordering::Relaxed), data.len() as u64);
    assert_eq!(p.entries()[0].size, data.len() as u64);
}

fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("input"))
        .collect()
}

#[test]
fn inputs_that_change_size_are_refused_and_nothing_is_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.bundle");
    let file = dir.path().join("input-a");
    fs::write(&file, b"12345").unwrap();
    for (size, what) in [(6, "shrank"), (4, "grew")] {
        let src = ArtifactSource {
            kind: EntryKind::Artifact,
            path: bp("a"),
            file: file.clone(),
            size,
            mode: 0o644,
        };
        let err = write_payload(&out, &[src], 0, &opts(), &|_| {}).unwrap_err();
        assert!(
            matches!(err, Error::InputChanged { ref path } if *path == file),
            "{what}: {err}"
        );
        assert_eq!(err.fault(), Fault::Input);
    }
    let src = ArtifactSource {
        kind: EntryKind::Artifact,
        path: bp("a"),
        file: dir.path().join("input-missing"),
        size: 1,
        mode: 0o644,
    };
    let err = write_payload(&out, &[src], 0, &opts(), &|_| {}).unwrap_err();
    assert!(matches!(err, Error::Input { .. }));
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
}

#[test]
fn writer_refuses_bad_options_and_mismatched_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.bundle");
    for bad in [
        WriteOptions { level: 0, ..opts() },
        WriteOptions {
            level: 20,
            ..opts()
        },
        WriteOptions {
            workers: 0,
            ..opts()
        },
    ] {
        assert!(matches!(
            write_payload(&out, &[], 0, &bad, &|_| {}),
            Err(Error::Misuse(_))
        ));
    }
    let dup = |p: &str| ArtifactSource {
        kind: EntryKind::Artifact,
        path: bp(p),
        file: dir.path().join("nope"),
        size: 0,
        mode: 0o644,
    };
    assert!(matches!(
        write_payload(&out, &[dup("a"), dup("a")], 0, &opts(), &|_| {}),
        Err(Error::DuplicatePath { .. })
    ));
    assert!(matches!(
        write_payload(&out, &[dup("a"), dup("a/b")], 0, &opts(), &|_| {}),
        Err(Error::PathConflict { .. })
    ));

    // A manifest that lists an artifact the payload does not hold.
    let payload = write_payload(&out, &[], 0, &opts(), &|_| {}).unwrap();
    let other = Manifest::new(
        fields(vec![
            item(EntryKind::Artifact, "a", b"x".to_vec(), 0o644).entry(),
        ]),
        &lim(),
    )
    .unwrap();
    let err = finish_bundle(
        &out,
        &other.encode(),
        &Signatures::default(),
        &[],
        payload,
        &opts(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Misuse(_)));

    // Metadata that differs from the manifest.
    let payload = write_payload(&out, &[], 0, &opts(), &|_| {}).unwrap();
    let m = Manifest::new(
        fields(vec![
            item(EntryKind::Root, "r", b"x".to_vec(), 0o644).entry(),
        ]),
        &lim(),
    )
    .unwrap();
    let meta = MetadataFile {
        kind: EntryKind::Root,
        path: bp("r"),
        bytes: b"y".to_vec(),
        mode: 0o644,
    };
    let err = finish_bundle(
        &out,
        &m.encode(),
        &Signatures::default(),
        &[meta],
        payload,
        &opts(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Misuse(_)));
    assert!(!out.exists());
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
}

#[test]
fn finish_refuses_what_does_not_fit_the_payload_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.bundle");
    let file = dir.path().join("input-a");
    fs::write(&file, b"abc").unwrap();
    let src = ArtifactSource {
        kind: EntryKind::Artifact,
        path: bp("a"),
        file,
        size: 3,
        mode: 0o644,
    };
    let sigs = sample_signatures();
    let provisional = Manifest::new(
        fields(vec![Entry {
            sha256: [0; 32],
            ..item(EntryKind::Artifact, "a", b"abc".to_vec(), 0o644).entry()
        }]),
        &lim(),
    )
    .unwrap();
    let head_len = head_frame_len(&provisional, &sigs, &[]);
    let manifest_of = |p: &Payload, sha: Option<[u8; 32]>| {
        Manifest::new(
            ManifestFields {
                payload_sha256: sha.unwrap_or(p.sha256()),
                ..fields(p.entries().to_vec())
            },
            &lim(),
        )
        .unwrap()
        .encode()
    };
    let attempt =
        |head_len: u64, pack: &WriteOptions, finish: &WriteOptions, sha: Option<[u8; 32]>| {
            let p =
                write_payload(&out, std::slice::from_ref(&src), head_len, pack, &|_| {}).unwrap();
            let m = manifest_of(&p, sha);
            let err = finish_bundle(&out, &m, &sigs, &[], p, finish).unwrap_err();
            assert!(!out.exists());
            assert!(
                leftovers(dir.path()).is_empty(),
                "{:?}",
                leftovers(dir.path())
            );
            err
        };
    let misuse = |e: Error, want: &str| {
        assert!(matches!(e, Error::Misuse(m) if m.contains(want)), "{want}");
    };
    let later = WriteOptions {
        mtime: CREATED + 1,
        ..opts()
    };
    misuse(attempt(head_len, &opts(), &later, None), "mtime");
    misuse(attempt(head_len, &later, &opts(), None), "mtime");
    misuse(
        attempt(head_len + 1, &opts(), &opts(), None),
        "reserved space",
    );
    misuse(
        attempt(head_len - 1, &opts(), &opts(), None),
        "reserved space",
    );
    misuse(
        attempt(head_len, &opts(), &opts(), Some([1; 32])),
        "payload_sha256",
    );

    // With everything right, the same calls make a bundle that reads.
    let p = write_payload(&out, &[src], head_len, &opts(), &|_| {}).unwrap();
    let m = manifest_of(&p, None);
    finish_bundle(&out, &m, &sigs, &[], p, &opts()).unwrap();
    read_bundle(fs::read(&out).unwrap()).unwrap();
    assert_eq!(leftovers(dir.path()), ["x.bundle"]);
}

#[test]
fn finishing_replaces_an_existing_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.bundle");
    fs::write(&out, b"old").unwrap();
    let manifest = write_bundle(dir.path(), &out, &sample_items(), &opts());
    assert_eq!(
        read_bundle(fs::read(&out).unwrap()).unwrap().manifest,
        manifest
    );
    assert_eq!(leftovers(dir.path()), ["x.bundle"]);
}

#[test]
fn every_allowed_level_writes_a_readable_bundle() {
    let items: Vec<Item> = sample_items()
        .into_iter()
        .filter(|i| i.data.len() < 100_000)
        .collect();
    for level in [1, 19] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.bundle");
        let opts = WriteOptions { level, ..opts() };
        let manifest = write_bundle(dir.path(), &out, &items, &opts);
        assert_eq!(
            read_bundle(fs::read(&out).unwrap()).unwrap().manifest,
            manifest
        );
    }
}
