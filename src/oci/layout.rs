//! OCI image layouts written on the isolated side: `unpack` places a
//! bundle's images under `oci/` of its destination, and `publish --registry
//! oci:DIR` adds them to a layout directory. Both write `oci-layout` and an
//! `index.json` naming each tagged image `NAME:TAG`
//! (`org.opencontainers.image.ref.name`), so `skopeo copy oci:DIR:NAME:TAG …`
//! finds it.
use std::path::Path;

use serde_json::{Value, json};

use super::graph::{ImageGraph, ImagePlan};
use super::{Digest, Doc, REF_NAME};

/// The copy of the bundle's signed manifest `unpack` keeps beside the
/// images (below `oci/`), for `publish DIR` to check the directory against.
pub const MANIFEST_COPY: &str = "airlock-manifest.cbor";

/// The `oci-layout` file's bytes.
pub const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// The index entry of one image.
pub fn descriptor(plan: &ImagePlan, size: u64, media_type: &str) -> Value {
    let mut d = json!({
        "mediaType": media_type,
        "digest": Digest(plan.image.digest).to_string(),
        "size": size,
    });
    if let Some(tag) = &plan.image.tag {
        d["annotations"] = json!({ REF_NAME: format!("{}:{tag}", plan.image.name) });
    }
    d
}

/// `index.json` listing exactly `entries`, in order (deterministic bytes).
pub fn index(entries: Vec<Value>) -> Vec<u8> {
    let v = json!({
        "schemaVersion": 2,
        "mediaType": super::MT_OCI_INDEX,
        "manifests": entries,
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

/// The `index.json` of an unpacked bundle's images: each image in
/// manifest order (deterministic bytes).
pub fn index_of(graph: &ImageGraph) -> Vec<u8> {
    index(
        graph
            .images
            .iter()
            .map(|p| {
                let bytes = graph
                    .documents
                    .get(&Digest(p.image.digest))
                    .map_or(&[][..], Vec::as_slice);
                descriptor(p, bytes.len() as u64, &Doc::media_type_of(bytes))
            })
            .collect(),
    )
}

/// The ref names and digests an existing `index.json` holds.
pub fn existing_refs(dir: &Path) -> Vec<(Option<String>, Value)> {
    let Ok(bytes) = std::fs::read(dir.join("index.json")) else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
        return Vec::new();
    };
    v["manifests"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| {
                    (
                        m.get("annotations")
                            .and_then(|x| x.get(REF_NAME))
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        m.clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}
