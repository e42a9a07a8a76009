//! OCI 1.1 referrers: documents attached to an image by an artifact
//! manifest whose `subject` is the image (distribution spec 1.1, "Pushing
//! Manifests with Subject" and "Referrers Tag Schema"). The one
//! implementation behind every referrer `publish` attaches: the import's
//! receipt (`crate::gate::referrer`) and the bundle's attestations about an
//! image (`crate::publish`).
//!
//! An artifact is an image manifest whose config is the empty descriptor
//! and whose one layer is the attached document. It is pushed by digest. A
//! registry with the referrers API answers that push with `OCI-Subject` and
//! lists the artifact itself. A registry without (the CNCF distribution
//! registry 2.x, Debian's `docker-registry`) does not answer so: then the
//! client keeps the list, as the spec's referrers tag schema says — an image
//! index tagged `sha256-<hex of the subject>` in the same repository, read
//! (none yet: an empty index), given the artifact's descriptor once (with
//! its `artifactType` and annotations), every entry already there kept,
//! and put back.
//!
//! The read-and-put is not atomic: a second client updating the same tag
//! between them could lose an entry (the spec lets clients use conditional
//! requests; the distribution registry 2.x does not support them on
//! manifests). Publishing again restores airlock's own entries, since an
//! entry already listed is never added twice.
use std::path::Path;

use serde_json::{Map, Value, json};

use super::registry::{Connection, Registry, Target};
use super::{Digest, MAX_MANIFEST_BYTES, MT_OCI_INDEX, MT_OCI_MANIFEST};
use crate::error::Error;

/// The OCI empty descriptor's media type (an artifact's config).
pub const MT_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The OCI empty blob.
pub const EMPTY: &[u8] = b"{}";

/// An artifact manifest attaching one document to one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The image (manifest or index) digest: the `subject`.
    pub subject: Digest,
    /// Its `artifactType` (also the layer's media type).
    pub artifact_type: String,
    /// The attached document (the one layer).
    pub layer: Vec<u8>,
    /// The artifact manifest's bytes.
    pub manifest: Vec<u8>,
    /// Their digest.
    pub digest: Digest,
    annotations: Map<String, Value>,
}

/// The subject of an artifact: the image's digest, media type and size.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Its digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: &'a str,
    /// Its size in bytes.
    pub size: u64,
}

impl Artifact {
    /// The artifact attaching `layer` (of `artifact_type`) to `subject`,
    /// with `annotations` on the manifest (copied into the referrers list).
    pub fn new(
        artifact_type: &str,
        layer: Vec<u8>,
        subject: Subject<'_>,
        annotations: Map<String, Value>,
    ) -> Artifact {
        let mut m = json!({
            "schemaVersion": 2,
            "mediaType": MT_OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": MT_EMPTY, "digest": Digest::of(EMPTY).to_string(), "size": EMPTY.len()},
            "layers": [{"mediaType": artifact_type, "digest": Digest::of(&layer).to_string(), "size": layer.len()}],
            "subject": {"mediaType": subject.media_type, "digest": subject.digest.to_string(), "size": subject.size},
        });
        if !annotations.is_empty() {
            m["annotations"] = Value::Object(annotations.clone());
        }
        let manifest = serde_json::to_vec(&m).unwrap_or_default();
        Artifact {
            subject: subject.digest,
            artifact_type: artifact_type.to_owned(),
            digest: Digest::of(&manifest),
            manifest,
            layer,
            annotations,
        }
    }

    /// Its descriptor in a referrers list (and an OCI layout's
    /// `index.json`): media type, digest, size, `artifactType`, and the
    /// manifest's annotations, as the spec asks.
    pub fn descriptor(&self) -> Value {
        let mut d = json!({
            "mediaType": MT_OCI_MANIFEST,
            "artifactType": self.artifact_type,
            "digest": self.digest.to_string(),
            "size": self.manifest.len(),
        });
        if !self.annotations.is_empty() {
            d["annotations"] = Value::Object(self.annotations.clone());
        }
        d
    }
}

/// The referrers-list descriptor of a manifest carried as it is (a
/// referrer that came from the source registry): media type, digest,
/// size, `artifactType` (the manifest's, else its config's media type, as
/// the spec says) and the manifest's annotations.
pub fn descriptor_of(bytes: &[u8]) -> Value {
    let v: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let artifact_type = v
        .get("artifactType")
        .or_else(|| v.get("config").and_then(|c| c.get("mediaType")))
        .cloned()
        .unwrap_or(Value::Null);
    let mut d = json!({
        "mediaType": super::Doc::media_type_of(bytes),
        "digest": Digest::of(bytes).to_string(),
        "size": bytes.len(),
        "artifactType": artifact_type,
    });
    if let Some(a) = v.get("annotations").filter(|a| a.is_object()) {
        d["annotations"] = a.clone();
    }
    d
}

/// The referrers tag of `subject`: `sha256-<hex>`.
pub fn tag_of(subject: Digest) -> String {
    format!("sha256-{}", subject.hex())
}

/// How an artifact came to be listed among its subject's referrers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed {
    /// The registry has the referrers API (it answered `OCI-Subject`).
    ByRegistry,
    /// In the referrers tag `tag` (added now, or already there).
    InTag {
        /// `sha256-<hex>`.
        tag: String,
    },
    /// An OCI layout's `index.json`.
    InLayout,
    /// Not listed: the referrers tag holds something other than an image
    /// index, which is left alone (the artifact is there by digest).
    TagNotIndex {
        /// The tag.
        tag: String,
        /// What it holds.
        reason: String,
    },
}

impl Listed {
    /// A warning for the operator, if the artifact could not be listed.
    pub fn warning(&self, repo: &str) -> Option<String> {
        match self {
            Listed::TagNotIndex { tag, reason } => Some(format!(
                "{repo}:{tag} is not a referrers list ({reason}): it was left alone, so the referrer pushed by digest is not listed there"
            )),
            _ => None,
        }
    }
}

/// The referrers list `existing` (the bytes the referrers tag holds, or
/// `None` when the tag does not exist: an empty list) with `entry` added.
/// `Ok(None)` when an entry of that digest is listed already; `Err` (why)
/// when `existing` is not an image index. Every existing entry is kept.
pub fn add_to_index(existing: Option<&[u8]>, entry: &Value) -> Result<Option<Vec<u8>>, String> {
    let mut index = match existing {
        None => json!({"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": []}),
        Some(bytes) => {
            let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
            if v["schemaVersion"] != 2 {
                return Err("not schemaVersion 2".into());
            }
            if let Some(mt) = v.get("mediaType")
                && mt != MT_OCI_INDEX
            {
                return Err(format!("media type {mt}"));
            }
            if !v["manifests"].is_array() {
                return Err("no manifests list".into());
            }
            v
        }
    };
    let list = index["manifests"]
        .as_array_mut()
        .ok_or_else(|| "no manifests list".to_owned())?;
    if list.iter().any(|e| e["digest"] == entry["digest"]) {
        return Ok(None);
    }
    list.push(entry.clone());
    index["mediaType"] = json!(MT_OCI_INDEX);
    let bytes = serde_json::to_vec(&index).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(format!("the list would exceed {MAX_MANIFEST_BYTES} bytes"));
    }
    Ok(Some(bytes))
}

/// Attaches `a` in `repo` of a registry: the empty config and the layer as
/// blobs (unless there), the artifact manifest by digest, then — unless
/// the registry answered `OCI-Subject` — its descriptor in the referrers
/// tag of its subject.
pub fn push(reg: &mut Registry, repo: &str, a: &Artifact) -> Result<Listed, Error> {
    for blob in [EMPTY, a.layer.as_slice()] {
        let d = Digest::of(blob);
        if reg.has_blob(repo, d)? {
            continue;
        }
        let owned = blob.to_vec();
        let mut open = move || -> Result<Box<dyn std::io::Read + Send>, Error> {
            Ok(Box::new(std::io::Cursor::new(owned.clone())))
        };
        reg.push_blob(repo, d, blob.len() as u64, &mut open)?;
    }
    let with_api = reg.put_referrer(repo, a.digest, &a.manifest)?;
    list(reg, repo, a.subject, &a.descriptor(), with_api)
}

/// Lists the referrer of `subject` described by `entry` (its manifest
/// already put by digest, the registry answering `OCI-Subject` or not:
/// `with_api`) in the referrers tag of `subject`, unless the registry lists
/// it itself.
pub fn list(
    reg: &mut Registry,
    repo: &str,
    subject: Digest,
    entry: &Value,
    with_api: bool,
) -> Result<Listed, Error> {
    if with_api {
        return Ok(Listed::ByRegistry);
    }
    let tag = tag_of(subject);
    let existing = reg.find_manifest(repo, &tag)?;
    match add_to_index(existing.as_deref(), entry) {
        Ok(None) => Ok(Listed::InTag { tag }),
        Ok(Some(bytes)) => {
            reg.put_manifest(repo, &tag, MT_OCI_INDEX, &bytes)?;
            Ok(Listed::InTag { tag })
        }
        Err(reason) => Ok(Listed::TagNotIndex { tag, reason }),
    }
}

/// Writes `artifacts` into the OCI layout `out`: their blobs, and one
/// `index.json` entry each (its descriptor; listed once however often the
/// images are published), every entry already there kept.
pub fn write_layout(out: &Path, artifacts: &[&Artifact]) -> Result<(), Error> {
    let bdir = out.join("blobs/sha256");
    let mut entries: Vec<Value> = super::layout::existing_refs(out)
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    for a in artifacts {
        for blob in [EMPTY, a.layer.as_slice(), a.manifest.as_slice()] {
            let to = bdir.join(Digest::of(blob).hex());
            if !to.exists() {
                crate::fsutil::replace_file(&to, blob)?;
            }
        }
        let digest = a.digest.to_string();
        if !entries.iter().any(|e| e["digest"] == digest.as_str()) {
            entries.push(a.descriptor());
        }
    }
    crate::fsutil::replace_file(&out.join("index.json"), &super::layout::index(entries))
}

/// Attaches each `(repository, artifact)` at `target` (after the images
/// themselves are there). Returns how each was listed, in order.
pub fn attach(
    target: &Target,
    conn: &Connection,
    artifacts: &[(String, Artifact)],
) -> Result<Vec<Listed>, Error> {
    if artifacts.is_empty() {
        return Ok(Vec::new());
    }
    match target {
        Target::Layout(out) => {
            let all: Vec<&Artifact> = artifacts.iter().map(|(_, a)| a).collect();
            write_layout(out, &all)?;
            Ok(vec![Listed::InLayout; artifacts.len()])
        }
        Target::Registry { host, .. } => {
            let mut reg = Registry::connect(host, conn)?;
            artifacts
                .iter()
                .map(|(repo, a)| push(&mut reg, repo, a))
                .collect()
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn artifact(layer: &[u8]) -> Artifact {
        let mut ann = Map::new();
        ann.insert("in-toto.io/predicate-type".into(), json!("https://x/y"));
        Artifact::new(
            "application/vnd.dsse.envelope.v1+json",
            layer.to_vec(),
            Subject {
                digest: Digest::of(b"image"),
                media_type: MT_OCI_MANIFEST,
                size: 5,
            },
            ann,
        )
    }

    #[test]
    fn the_tag_is_the_subject_digest_with_a_dash() {
        let d = Digest::of(b"image");
        assert_eq!(tag_of(d), format!("sha256-{}", d.hex()));
    }

    #[test]
    fn an_artifact_names_its_subject_type_and_annotations() {
        let a = artifact(b"envelope");
        let m: Value = serde_json::from_slice(&a.manifest).unwrap();
        assert_eq!(m["subject"]["digest"], Digest::of(b"image").to_string());
        assert_eq!(m["artifactType"], "application/vnd.dsse.envelope.v1+json");
        assert_eq!(
            m["layers"][0]["digest"],
            Digest::of(b"envelope").to_string()
        );
        let d = a.descriptor();
        assert_eq!(d["artifactType"], m["artifactType"]);
        assert_eq!(d["annotations"], m["annotations"]);
        assert_eq!(d["size"], a.manifest.len());
    }

    #[test]
    fn adding_keeps_every_entry_and_adds_each_once() {
        let (a, b) = (artifact(b"one"), artifact(b"two"));
        let first = add_to_index(None, &a.descriptor()).unwrap().unwrap();
        let second = add_to_index(Some(&first), &b.descriptor())
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_slice(&second).unwrap();
        assert_eq!(v["mediaType"], MT_OCI_INDEX);
        assert_eq!(v["manifests"], json!([a.descriptor(), b.descriptor()]));
        assert_eq!(add_to_index(Some(&second), &a.descriptor()).unwrap(), None);
        // Someone else's entries (another tool's signatures) stay.
        let foreign = json!({"schemaVersion": 2, "manifests": [{"mediaType": MT_OCI_MANIFEST,
            "digest": Digest::of(b"x").to_string(), "size": 1, "artifactType": "application/x"}]});
        let v: Value = serde_json::from_slice(
            &add_to_index(
                Some(&serde_json::to_vec(&foreign).unwrap()),
                &a.descriptor(),
            )
            .unwrap()
            .unwrap(),
        )
        .unwrap();
        assert_eq!(v["manifests"][0], foreign["manifests"][0]);
        assert_eq!(v["manifests"][1], a.descriptor());
    }

    #[test]
    fn a_tag_holding_something_else_is_left_alone() {
        let a = artifact(b"one");
        for other in [
            &b"not json"[..],
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{}}"#,
            br#"{"schemaVersion":1,"manifests":[]}"#,
        ] {
            assert!(add_to_index(Some(other), &a.descriptor()).is_err());
        }
    }
}
