//! OCI image layouts written on the isolated side: `unpack` places a
//! bundle's images under `oci/` of its destination, and `publish --registry
//! oci:DIR` adds them to a layout directory. Both write `oci-layout` and an
//! `index.json` naming each tagged image `NAME:TAG`
//! (`org.opencontainers.image.ref.name`), so `skopeo copy oci:DIR:NAME:TAG …`
//! finds it.
use std::path::Path;

use serde_json::{Value, json};

use super::graph::ImagePlan;
use super::{Digest, REF_NAME};

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
