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
