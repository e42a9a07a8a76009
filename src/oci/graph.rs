//! The graph of a bundle's images, checked from the signed manifest and the
//! image manifests carried in the head frame — before any payload is
//! decompressed: every descriptor points at content the bundle carries,
//! with the size it claims; nothing image-shaped is carried that no image
//! references; an index image's platforms are the ones the manifest lists.
use std::collections::{BTreeMap, BTreeSet};

use airlock_bundle::{Entry, EntryKind, Image, Manifest};

use super::{Digest, Doc, OciError};

/// One image with what it needs, in the order a registry wants it: blobs,
/// then manifests children first, the image's own manifest last.
#[derive(Debug, Clone)]
pub struct ImagePlan {
    /// The signed image entry.
    pub image: Image,
    /// Blobs (layers, configs) it references, each once, with sizes.
    pub blobs: Vec<(Digest, u64)>,
    /// Manifests it needs, children before parents, the top one last, with
    /// their media types.
    pub manifests: Vec<(Digest, String)>,
    /// Total bytes of everything it references (its size).
    pub size: u64,
}

/// The checked graph of all images of a bundle.
#[derive(Debug, Clone, Default)]
pub struct ImageGraph {
    /// One plan per image, in manifest order.
    pub images: Vec<ImagePlan>,
    /// The bytes of every carried image manifest, by digest.
    pub documents: BTreeMap<Digest, Vec<u8>>,
}

/// Checks the images of `manifest` given the carried image-manifest bytes.
pub fn check(
    manifest: &Manifest,
    documents: BTreeMap<Digest, Vec<u8>>,
) -> Result<ImageGraph, OciError> {
    let sizes = |kind: EntryKind| -> BTreeMap<Digest, u64> {
        manifest
            .entries
            .iter()
            .filter(|e| e.kind == kind)
            .filter_map(|e| digest_of(e).map(|d| (d, e.size)))
            .collect()
    };
    let (manifests, blobs) = (sizes(EntryKind::ImageManifest), sizes(EntryKind::Blob));
    let mut reached_m = BTreeSet::new();
    let mut reached_b = BTreeSet::new();
    let mut plans = Vec::new();
    let mut parsed: BTreeMap<Digest, Doc> = BTreeMap::new();
    for image in &manifest.images {
        let top = Digest(image.digest);
        let mut plan = ImagePlan {
            image: image.clone(),
            blobs: Vec::new(),
            manifests: Vec::new(),
            size: manifests.get(&top).copied().unwrap_or(0),
        };
        let mut seen = BTreeSet::new();
        walk(
            top,
            &format!("image {}", image.reference()),
            &documents,
            &manifests,
            &blobs,
            &mut parsed,
            &mut plan,
            &mut seen,
        )?;
        if let Some(Doc::Index(list)) = parsed.get(&top) {
            let found: BTreeSet<String> = list
                .iter()
                .filter_map(|d| d.platform.as_ref().map(|p| p.0.clone()))
                .collect();
            let listed: BTreeSet<String> = image.platforms.iter().cloned().collect();
            if found != listed {
                return Err(OciError::Platforms {
                    image: image.reference(),
                    listed: join(&listed),
                    found: join(&found),
                });
            }
        }
        reached_m.extend(plan.manifests.iter().map(|(d, _)| *d));
        reached_b.extend(plan.blobs.iter().map(|(d, _)| *d));
        plans.push(plan);
    }
    for e in &manifest.entries {
        let reached = match e.kind {
            EntryKind::ImageManifest => &reached_m,
            EntryKind::Blob => &reached_b,
            _ => continue,
        };
        if !digest_of(e).is_some_and(|d| reached.contains(&d)) {
            return Err(OciError::Unreferenced { path: e.tar_path() });
        }
    }
    Ok(ImageGraph {
        images: plans,
        documents,
    })
}

fn join(s: &BTreeSet<String>) -> String {
    if s.is_empty() {
        "none".into()
    } else {
        s.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// The digest a content-addressed entry's path names.
pub fn digest_of(e: &Entry) -> Option<Digest> {
    Digest::parse(&format!(
        "sha256:{}",
        e.path.as_str().strip_prefix("sha256/")?
    ))
}

#[allow(clippy::too_many_arguments)]
fn walk(
    at: Digest,
    what: &str,
    documents: &BTreeMap<Digest, Vec<u8>>,
    manifests: &BTreeMap<Digest, u64>,
    blobs: &BTreeMap<Digest, u64>,
    parsed: &mut BTreeMap<Digest, Doc>,
    plan: &mut ImagePlan,
    seen: &mut BTreeSet<Digest>,
) -> Result<(), OciError> {
    if !seen.insert(at) {
        return Ok(());
    }
    let bytes = documents.get(&at).ok_or_else(|| OciError::Missing {
        what: what.to_owned(),
        digest: at.to_string(),
    })?;
    let doc = match parsed.get(&at) {
        Some(d) => d.clone(),
        None => {
            let d = Doc::parse(bytes, &format!("manifest {at}"))?;
            parsed.insert(at, d.clone());
            d
        }
    };
    let here = format!("manifest {at}");
    for d in doc.references() {
        let is_doc = Doc::is_index_type(&d.media_type) || Doc::is_manifest_type(&d.media_type);
        let table = if is_doc { manifests } else { blobs };
        let size = *table.get(&d.digest).ok_or_else(|| OciError::Missing {
            what: here.clone(),
            digest: d.digest.to_string(),
        })?;
        if size != d.size {
            return Err(OciError::SizeMismatch {
                what: here.clone(),
                digest: d.digest.to_string(),
                expected: d.size,
                found: size,
            });
        }
        if is_doc {
            if !seen.contains(&d.digest) {
                plan.size += size;
            }
            walk(
                d.digest, &here, documents, manifests, blobs, parsed, plan, seen,
            )?;
        } else if !plan.blobs.iter().any(|(b, _)| *b == d.digest) {
            plan.blobs.push((d.digest, size));
            plan.size += size;
        }
    }
    plan.manifests.push((at, Doc::media_type_of(bytes)));
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use airlock_bundle::{
        BundlePath, Entry, EntryKind, Image, Limits, Manifest, ManifestFields, SupplyChain,
    };

    use super::*;

    fn entry(kind: EntryKind, bytes: &[u8]) -> Entry {
        let d = Digest::of(bytes);
        Entry {
            kind,
            path: BundlePath::new(&format!("sha256/{}", d.hex()), &Limits::default()).unwrap(),
            size: bytes.len() as u64,
            sha256: d.0,
            mode: 0o644,
        }
    }

    fn manifest_json(config: &[u8], layers: &[(&[u8], u64)]) -> Vec<u8> {
        let l: Vec<String> = layers
            .iter()
            .map(|(b, size)| {
                format!(
                    r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":{size}}}"#,
                    Digest::of(b)
                )
            })
            .collect();
        format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{}]}}"#,
            Digest::of(config),
            config.len(),
            l.join(",")
        )
        .into_bytes()
    }

    /// A manifest carrying `man` (the image) and `blobs`.
    fn check_with(man: &[u8], blobs: &[&[u8]], platforms: &[&str]) -> Result<ImageGraph, OciError> {
        let mut entries = vec![entry(EntryKind::ImageManifest, man)];
        entries.extend(blobs.iter().map(|b| entry(EntryKind::Blob, b)));
        let m = Manifest::new(
            ManifestFields {
                channel: "c".into(),
                sequence: 1,
                created: 1,
                expires: 2,
                payload_sha256: [0; 32],
                supply_chain: SupplyChain::default(),
                images: vec![Image {
                    name: "app".into(),
                    tag: Some("1".into()),
                    digest: Digest::of(man).0,
                    platforms: platforms.iter().map(|p| p.to_string()).collect(),
                }],
                entries,
                names: airlock_bundle::NameRule::Portable,
                enclaves: Vec::new(),
            },
            &Limits::default(),
        )
        .unwrap();
        let docs = [(Digest::of(man), man.to_vec())].into_iter().collect();
        check(&m, docs)
    }

    #[test]
    fn a_complete_image_passes_with_its_size() {
        let (cfg, layer) = (b"{}".as_slice(), b"layer".as_slice());
        let man = manifest_json(cfg, &[(layer, 5)]);
        let g = check_with(&man, &[cfg, layer], &[]).unwrap();
        assert_eq!(g.images[0].blobs.len(), 2);
        assert_eq!(g.images[0].size, man.len() as u64 + 2 + 5);
    }

    #[test]
    fn a_manifest_pointing_at_a_blob_not_carried_is_refused() {
        let (cfg, layer) = (b"{}".as_slice(), b"layer".as_slice());
        let man = manifest_json(cfg, &[(layer, 5)]);
        let e = check_with(&man, &[cfg], &[]).unwrap_err();
        assert_eq!(e.code(), "image-blob-missing");
    }

    #[test]
    fn a_descriptor_size_that_lies_is_refused() {
        let (cfg, layer) = (b"{}".as_slice(), b"layer".as_slice());
        let man = manifest_json(cfg, &[(layer, 6)]);
        let e = check_with(&man, &[cfg, layer], &[]).unwrap_err();
        assert_eq!(e.code(), "image-blob-size");
    }

    #[test]
    fn content_no_image_references_is_refused() {
        let cfg = b"{}".as_slice();
        let man = manifest_json(cfg, &[]);
        let e = check_with(&man, &[cfg, b"stowaway"], &[]).unwrap_err();
        assert_eq!(e.code(), "image-content-unreferenced");
    }

    #[test]
    fn an_index_whose_platforms_differ_from_the_signed_list_is_refused() {
        let cfg = b"{}".as_slice();
        let child = manifest_json(cfg, &[]);
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{}","digest":"{}","size":{},"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#,
            crate::oci::MT_OCI_MANIFEST,
            Digest::of(&child),
            child.len()
        )
        .into_bytes();
        let mut entries = vec![
            entry(EntryKind::ImageManifest, &index),
            entry(EntryKind::ImageManifest, &child),
            entry(EntryKind::Blob, cfg),
        ];
        entries.sort_by(|a, b| (a.kind, a.path.as_str()).cmp(&(b.kind, b.path.as_str())));
        let mk = |platforms: Vec<String>| {
            Manifest::new(
                ManifestFields {
                    channel: "c".into(),
                    sequence: 1,
                    created: 1,
                    expires: 2,
                    payload_sha256: [0; 32],
                    supply_chain: SupplyChain::default(),
                    images: vec![Image {
                        name: "app".into(),
                        tag: None,
                        digest: Digest::of(&index).0,
                        platforms,
                    }],
                    entries: entries.clone(),
                    names: airlock_bundle::NameRule::Portable,
                    enclaves: Vec::new(),
                },
                &Limits::default(),
            )
            .unwrap()
        };
        let docs: BTreeMap<Digest, Vec<u8>> = [
            (Digest::of(&index), index.clone()),
            (Digest::of(&child), child.clone()),
        ]
        .into_iter()
        .collect();
        check(&mk(vec!["linux/amd64".into()]), docs.clone()).unwrap();
        let e = check(&mk(vec!["linux/arm64".into()]), docs).unwrap_err();
        assert_eq!(e.code(), "image-platforms-mismatch");
    }
}
