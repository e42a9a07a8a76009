//! Container images (format 2): content-addressed `image-manifest` and
//! `blob` entries and the signed image list; format 1 stays as it was.

use std::fs;

use airlock_bundle::*;
use sha2::{Digest, Sha256};

use crate::common::*;
use crate::round_trip::write_bundle_with_images;

fn opts() -> WriteOptions {
    WriteOptions {
        workers: 1,
        mtime: CREATED,
        ..WriteOptions::default()
    }
}

fn named(kind: EntryKind, data: &[u8]) -> Item {
    item(
        kind,
        &format!("sha256/{}", hex::encode(Sha256::digest(data))),
        data.to_vec(),
        0o644,
    )
}

fn image(name: &str, tag: Option<&str>, manifest: &[u8], platforms: &[&str]) -> Image {
    Image {
        name: name.into(),
        tag: tag.map(Into::into),
        digest: Sha256::digest(manifest).into(),
        platforms: platforms.iter().map(|p| p.to_string()).collect(),
    }
}

/// Two images sharing a layer: the layer is one blob entry.
fn sample() -> (Vec<Item>, Vec<Image>) {
    let layer = noise(11, 200_000);
    let (cfg_a, cfg_b) = (br#"{"a":1}"#.to_vec(), br#"{"b":2}"#.to_vec());
    let man_a = br#"{"schemaVersion":2,"a":1}"#.to_vec();
    let man_b = br#"{"schemaVersion":2,"b":2}"#.to_vec();
    let mut items = sample_items();
    items.extend([
        named(EntryKind::Blob, &layer),
        named(EntryKind::Blob, &cfg_a),
        named(EntryKind::Blob, &cfg_b),
        named(EntryKind::ImageManifest, &man_a),
        named(EntryKind::ImageManifest, &man_b),
    ]);
    let images = vec![
        image("team/app", Some("1.0"), &man_a, &["linux/amd64"]),
        image(
            "team/base",
            None,
            &man_b,
            &["linux/arm64/v8", "linux/amd64"],
        ),
    ];
    (items, images)
}

#[test]
fn images_round_trip_as_format_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.bundle");
    let (items, images) = sample();
    let m = write_bundle_with_images(dir.path(), &out, &items, &images, &opts()).unwrap();
    assert_eq!(m.format, FORMAT_VERSION_IMAGES);
    assert_eq!(m.images.len(), 2);
    // Platforms are sorted by Manifest::new.
    assert_eq!(m.images[1].platforms, ["linux/amd64", "linux/arm64/v8"]);
    assert_eq!(
        m.images[1].reference(),
        format!("team/base@sha256:{}", hex::encode(m.images[1].digest))
    );
    let got = read_bundle(fs::read(&out).unwrap()).unwrap();
    assert_eq!(got.manifest, m);
    // Image manifests travel in the head, blobs after the artifacts.
    assert!(
        got.metadata
            .iter()
            .filter(|(e, _)| e.kind == EntryKind::ImageManifest)
            .count()
            == 2
    );
    let kinds: Vec<EntryKind> = got.artifacts.iter().map(|(e, _)| e.kind).collect();
    let first_blob = kinds.iter().position(|k| *k == EntryKind::Blob).unwrap();
    assert!(
        kinds[..first_blob]
            .iter()
            .all(|k| *k == EntryKind::Artifact)
    );
    assert!(kinds[first_blob..].iter().all(|k| *k == EntryKind::Blob));
    assert_eq!(kinds.len() - first_blob, 3);
    for (e, data) in &got.artifacts {
        if e.kind == EntryKind::Blob {
            assert_eq!(
                e.tar_path(),
                format!("blobs/sha256/{}", hex::encode(Sha256::digest(data)))
            );
        }
    }
}

#[test]
fn a_bundle_without_images_is_format_1_without_an_images_field() {
    let p = Parts::sample();
    assert_eq!(p.manifest.format, FORMAT_VERSION);
    let v: ciborium::Value = ciborium::from_reader(p.manifest_bytes.as_slice()).unwrap();
    let keys: Vec<String> = v
        .as_map()
        .unwrap()
        .iter()
        .map(|(k, _)| k.as_text().unwrap().to_owned())
        .collect();
    assert_eq!(
        keys,
        [
            "format",
            "bundle_id",
            "channel",
            "sequence",
            "created",
            "expires",
            "payload_sha256",
            "supply_chain",
            "entries"
        ]
    );
}

fn manifest(items: &[Item], images: Vec<Image>) -> Result<Manifest, Error> {
    Manifest::new(
        ManifestFields {
            images,
            ..fields(items.iter().map(Item::entry).collect())
        },
        &lim(),
    )
}

#[test]
fn a_blob_not_named_by_its_digest_is_refused() {
    let (mut items, images) = sample();
    let blob = items
        .iter_mut()
        .find(|i| i.kind == EntryKind::Blob)
        .unwrap();
    blob.path = format!("sha256/{}", "0".repeat(64));
    let err = manifest(&items, images).unwrap_err();
    assert_eq!(err.code(), "blob-name-mismatch");
    let (mut items, images) = sample();
    let man = items
        .iter_mut()
        .find(|i| i.kind == EntryKind::ImageManifest)
        .unwrap();
    man.path = "app.json".into();
    assert_eq!(
        manifest(&items, images).unwrap_err().code(),
        "blob-name-mismatch"
    );
}

#[test]
fn an_image_whose_manifest_is_not_carried_is_refused() {
    let (items, mut images) = sample();
    images.push(image("team/ghost", Some("1"), b"not carried", &[]));
    let err = manifest(&items, images).unwrap_err();
    assert!(matches!(err, Error::ImageNotCarried { ref image } if image == "team/ghost:1"));
    assert_eq!(err.code(), "image-not-carried");
}

#[test]
fn image_content_needs_format_2() {
    let (items, _) = sample();
    let err = manifest(&items, Vec::new()).unwrap_err();
    assert!(
        matches!(err, Error::Manifest(ref m) if m.contains("only a format 2 manifest")),
        "{err:?}"
    );
}

#[test]
fn malformed_image_fields_are_refused() {
    let (items, images) = sample();
    let with = |f: &dyn Fn(&mut Image)| {
        let mut imgs = images.clone();
        f(&mut imgs[0]);
        manifest(&items, imgs).unwrap_err()
    };
    for bad in [
        "Team/app",
        "team//app",
        "team/app/",
        "-app",
        "a..b",
        "a___b",
        "",
    ] {
        let e = with(&|i| i.name = bad.into());
        assert!(
            matches!(e, Error::Manifest(ref m) if m.contains("image name")),
            "{bad}: {e:?}"
        );
    }
    for bad in [".1", "a:b", "", &"t".repeat(129)] {
        let e = with(&|i| i.tag = Some(bad.to_string()));
        assert!(
            matches!(e, Error::Manifest(ref m) if m.contains("tag")),
            "{bad}: {e:?}"
        );
    }
    for bad in ["linux", "linux/", "linux/amd64/v8/x", "linux/am d64"] {
        let e = with(&|i| i.platforms = vec![bad.into()]);
        assert!(
            matches!(e, Error::Manifest(ref m) if m.contains("platform")),
            "{bad}: {e:?}"
        );
    }
    let e = with(&|i| i.platforms = vec!["linux/amd64".into(), "linux/amd64".into()]);
    assert!(
        matches!(e, Error::Manifest(ref m) if m.contains("twice")),
        "{e:?}"
    );
    let mut twice = images.clone();
    twice.push(images[0].clone());
    let e = manifest(&items, twice).unwrap_err();
    assert!(
        matches!(e, Error::Manifest(ref m) if m.contains("listed twice")),
        "{e:?}"
    );
    // Names that the distribution grammar allows.
    for ok in ["a", "a.b", "a_b", "a__b", "a--b", "reg/team/app-x"] {
        let mut imgs = images.clone();
        imgs[0].name = ok.into();
        manifest(&items, imgs).unwrap();
    }
}

#[test]
fn a_blob_whose_bytes_differ_from_its_name_is_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.bundle");
    let (mut items, images) = sample();
    let blob = items
        .iter_mut()
        .find(|i| i.kind == EntryKind::Blob)
        .unwrap();
    blob.data[0] ^= 1;
    let err = write_bundle_with_images(dir.path(), &out, &items, &images, &opts()).unwrap_err();
    assert_eq!(err.code(), "input-changed");
    assert!(!out.exists());
}

#[test]
fn a_flipped_blob_byte_is_refused_by_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.bundle");
    let (items, images) = sample();
    write_bundle_with_images(dir.path(), &out, &items, &images, &opts()).unwrap();
    // Build the bundle by hand with one blob byte flipped: the blob's
    // digest (its name) no longer matches.
    let mut items = items;
    items.sort_by(|a, b| (a.kind, &a.path).cmp(&(b.kind, &b.path)));
    let i = items
        .iter()
        .position(|i| i.kind == EntryKind::Blob)
        .unwrap();
    let mut payload = Vec::new();
    for (n, it) in items.iter().enumerate() {
        if it.kind.is_metadata() {
            continue;
        }
        let mut data = it.data.clone();
        if n == i {
            data[3] ^= 0x40;
        }
        payload.extend(entry_tar(&it.tar_path(), &data, it.mode));
    }
    payload.extend(EOA);
    let manifest = Manifest::new(
        ManifestFields {
            images,
            payload_sha256: Sha256::digest(frame(&payload)).into(),
            ..fields(items.iter().map(Item::entry).collect())
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
    for it in items.iter().filter(|i| i.kind.is_metadata()) {
        head.extend(it.tar());
    }
    let err = read_err(bundle_of(&head, &payload));
    assert!(
        matches!(err, Error::DigestMismatch { ref path } if path.starts_with("blobs/sha256/")),
        "{err:?}"
    );
}

#[test]
fn a_provisional_manifest_takes_the_payload_digests_but_not_other_entries() {
    let (items, images) = sample();
    let l = Limits::default();
    let entries: Vec<Entry> = items.iter().map(Item::entry).collect();
    let zeroed: Vec<Entry> = entries
        .iter()
        .map(|e| Entry {
            // As pack plans them: artifacts' digests unknown yet.
            sha256: if e.kind == EntryKind::Artifact {
                [0; 32]
            } else {
                e.sha256
            },
            ..e.clone()
        })
        .collect();
    let built = |entries: Vec<Entry>, sha: [u8; 32]| {
        Manifest::new(
            ManifestFields {
                payload_sha256: sha,
                images: images.clone(),
                ..fields(entries)
            },
            &l,
        )
        .unwrap()
    };
    let provisional = built(zeroed, [0; 32]);
    let full = built(entries, [9; 32]);
    let payload = full.artifacts().to_vec();
    assert_eq!(
        provisional
            .clone()
            .with_payload(&payload, [9; 32], &l)
            .unwrap(),
        full
    );
    // A blob is named by its digest: another digest is refused.
    let mut other = payload.clone();
    let blob = other
        .iter()
        .position(|e| e.kind == EntryKind::Blob)
        .unwrap();
    other[blob].sha256[0] ^= 1;
    assert!(matches!(
        provisional.clone().with_payload(&other, [9; 32], &l),
        Err(Error::BlobName { .. })
    ));
    // Entries that are not the manifest's: one missing, or one of another size.
    assert!(matches!(
        provisional.clone().with_payload(&payload[1..], [9; 32], &l),
        Err(Error::Misuse(_))
    ));
    let mut other = payload.clone();
    other[0].size += 1;
    assert!(matches!(
        provisional.with_payload(&other, [9; 32], &l),
        Err(Error::Misuse(_))
    ));
}
