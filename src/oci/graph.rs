//! The graph of a bundle's images, checked from the signed manifest and the
//! image manifests carried in the head frame — before any payload is
//! decompressed: every descriptor points at content the bundle carries,
//! with the size it claims; nothing image-shaped is carried that no image
//! references; an index image's platforms are the ones the manifest lists.
//! A carried manifest no image references is allowed only as a referrer:
//! an OCI 1.1 artifact whose `subject` is one of an image's manifests (a
//! signature or attestation that came along from the source registry),
//! with every blob it references carried.
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
    /// The referrers carried with it, in manifest order.
    pub referrers: Vec<CarriedReferrer>,
}

/// A referrer carried with an image: an artifact manifest whose `subject`
/// is one of the image's manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarriedReferrer {
    /// The artifact manifest's digest.
    pub digest: Digest,
    /// Its subject (the image's own manifest, or one platform's).
    pub subject: Digest,
    /// The blobs it references, with sizes.
    pub blobs: Vec<(Digest, u64)>,
    /// The cosign tag suffix (`sig`, `att`) it was found under in the
    /// source registry, if it came from one (annotation [`COSIGN_TAG`]).
    pub cosign_tag: Option<String>,
}

/// The annotation `pack` adds to a manifest found under cosign's
/// `sha256-<hex>.sig` / `.att` tag (with the subject that tag names), so
/// that `publish` tags it the same way again.
pub const COSIGN_TAG: &str = "dev.airlock.cosign-tag";

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
            referrers: Vec::new(),
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
    // Referrers: carried manifests no image references, attached to one.
    for e in manifest
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::ImageManifest)
    {
        let Some(at) = digest_of(e) else { continue };
        if reached_m.contains(&at) {
            continue;
        }
        let Some(bytes) = documents.get(&at) else {
            continue; // refused below as unreferenced
        };
        let here = format!("manifest {at}");
        let doc = Doc::parse(bytes, &here)?;
        let Some(subject) = doc.subject() else {
            continue;
        };
        let Some(plan) = plans
            .iter_mut()
            .find(|p| p.manifests.iter().any(|(d, _)| *d == subject.digest))
        else {
            continue;
        };
        let subject_size = manifests.get(&subject.digest).copied().unwrap_or(0);
        if subject.size != subject_size {
            return Err(OciError::SizeMismatch {
                what: here,
                digest: subject.digest.to_string(),
                expected: subject.size,
                found: subject_size,
            });
        }
        let mut carried = CarriedReferrer {
            digest: at,
            subject: subject.digest,
            blobs: Vec::new(),
            cosign_tag: serde_json::from_slice::<serde_json::Value>(bytes)
                .ok()
                .and_then(|v| v["annotations"][COSIGN_TAG].as_str().map(str::to_owned))
                .filter(|t| t == "sig" || t == "att"),
        };
        for d in doc.references() {
            let size = *blobs.get(&d.digest).ok_or_else(|| OciError::Missing {
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
            if !carried.blobs.iter().any(|(b, _)| *b == d.digest) {
                carried.blobs.push((d.digest, size));
            }
            reached_b.insert(d.digest);
        }
        reached_m.insert(at);
        plan.referrers.push(carried);
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

    /// A manifest carrying `man` (the image), `extra` manifests and `blobs`.
    fn check_with_extra(
        man: &[u8],
        extra: &[&[u8]],
        blobs: &[&[u8]],
    ) -> Result<ImageGraph, OciError> {
        let mut entries = vec![entry(EntryKind::ImageManifest, man)];
        entries.extend(extra.iter().map(|b| entry(EntryKind::ImageManifest, b)));
        entries.extend(blobs.iter().map(|b| entry(EntryKind::Blob, b)));
        entries.sort_by(|a, b| (a.kind, a.path.as_str()).cmp(&(b.kind, b.path.as_str())));
        entries.dedup_by(|a, b| a.kind == b.kind && a.path == b.path);
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
                    platforms: vec![],
                }],
                entries,
                names: airlock_bundle::NameRule::Portable,
                enclaves: Vec::new(),
            },
            &Limits::default(),
        )
        .unwrap();
        let docs = std::iter::once(man)
            .chain(extra.iter().copied())
            .map(|b| (Digest::of(b), b.to_vec()))
            .collect();
        check(&m, docs)
    }

    fn referrer_of(subject: &[u8], layer: &[u8]) -> Vec<u8> {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","artifactType":"application/x","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{}","size":2}},"layers":[{{"mediaType":"application/x","digest":"{}","size":{}}}],"subject":{{"mediaType":"{}","digest":"{}","size":{}}}}}"#,
            crate::oci::MT_OCI_MANIFEST,
            Digest::of(b"{}"),
            Digest::of(layer),
            layer.len(),
            crate::oci::MT_OCI_MANIFEST,
            Digest::of(subject),
            subject.len()
        )
        .into_bytes()
    }

    #[test]
    fn a_referrer_of_a_carried_image_is_carried_with_it() {
        let cfg = b"{}".as_slice();
        let man = manifest_json(cfg, &[]);
        let r = referrer_of(&man, b"signature");
        let g = check_with_extra(&man, &[&r], &[cfg, b"signature"]).unwrap();
        let carried = &g.images[0].referrers;
        assert_eq!(carried.len(), 1);
        assert_eq!(carried[0].subject, Digest::of(&man));
        assert_eq!(carried[0].blobs.len(), 2);
        assert_eq!(carried[0].cosign_tag, None);
        // Its blobs are not the image's.
        assert_eq!(g.images[0].blobs.len(), 1);
    }

    #[test]
    fn a_referrer_missing_a_blob_or_of_another_image_is_refused() {
        let cfg = b"{}".as_slice();
        let man = manifest_json(cfg, &[]);
        let r = referrer_of(&man, b"signature");
        let e = check_with_extra(&man, &[&r], &[cfg]).unwrap_err();
        assert_eq!(e.code(), "image-blob-missing");
        let other = referrer_of(b"another image", b"signature");
        let e = check_with_extra(&man, &[&other], &[cfg, b"signature"]).unwrap_err();
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
