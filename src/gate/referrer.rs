//! Receipts as OCI referrers: on `publish`, each image gets the import's
//! receipt (docs/policy.md, "Receipts") attached as an OCI 1.1 artifact
//! whose `subject` is the image — pushed to the registry by digest, or
//! listed in the OCI layout's `index.json` — so that whoever pulls the
//! image can find and check the enclave's signed verification summary.
use std::path::{Path, PathBuf};

use airlock_hsm::TrustStore;
use serde_json::{Value, json};

use super::receipt;
use crate::error::Error;
use crate::oci::graph::ImageGraph;
use crate::oci::registry::Registry;
use crate::oci::{Digest, Doc, MT_OCI_MANIFEST};

/// The artifact type (and layer media type) of a receipt: a DSSE envelope.
pub const ARTIFACT_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The OCI empty descriptor's media type (the artifact's config).
const MT_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The OCI empty blob.
const EMPTY: &[u8] = b"{}";

/// One image's referrer: the artifact manifest and the receipt it carries.
#[derive(Debug, Clone)]
pub struct Referrer {
    /// The image manifest's digest (the `subject`).
    pub subject: Digest,
    /// The artifact manifest's bytes.
    pub manifest: Vec<u8>,
    /// Their digest.
    pub digest: Digest,
    /// The receipt's bytes.
    pub receipt: Vec<u8>,
}

/// The receipt of the import in `dir` (`DIR.receipt.dsse.json`), checked
/// with the store's journal key and against `bundle_id`; `None` (with a
/// warning to `warn`) when there is none usable — an import made before receipts,
/// or a file that does not verify: the images are published without one.
pub fn receipt_of(
    store: &dyn TrustStore,
    dir: &Path,
    bundle_id: &str,
    warn: &dyn Fn(&str),
) -> Option<(Value, Vec<u8>)> {
    let path: PathBuf = receipt::path_for(dir);
    let skip = |why: String| {
        warn(&format!(
            "the images are published without the import's receipt as a referrer: {why}"
        ));
        None
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => return skip(format!("cannot read {}: {e}", path.display())),
    };
    let key = match store.journal_public_key() {
        Ok(k) => k,
        Err(e) => return skip(e.to_string()),
    };
    let checked = match receipt::verify(&bytes, &key) {
        Ok(c) => c,
        Err(e) => return skip(format!("{}: {e}", path.display())),
    };
    if checked.statement["predicate"]["airlock"]["bundle_id"] != bundle_id {
        return skip(format!(
            "{} is the receipt of another bundle",
            path.display()
        ));
    }
    Some((checked.statement, bytes))
}

/// The referrers of `graph`'s images for `receipt` (whose Statement is
/// `statement`): one per image the receipt names as a subject.
pub fn referrers(graph: &ImageGraph, statement: &Value, receipt: &[u8]) -> Vec<Referrer> {
    let named = |d: &Digest| {
        statement["subject"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["digest"]["sha256"] == d.hex()))
    };
    let layer = Digest::of(receipt);
    let mut out = Vec::new();
    for p in &graph.images {
        let subject = Digest(p.image.digest);
        let Some(doc) = graph.documents.get(&subject) else {
            continue;
        };
        if !named(&subject) {
            continue;
        }
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": MT_OCI_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": {"mediaType": MT_EMPTY, "digest": Digest::of(EMPTY).to_string(), "size": EMPTY.len()},
            "layers": [{"mediaType": ARTIFACT_TYPE, "digest": layer.to_string(), "size": receipt.len()}],
            "subject": {"mediaType": Doc::media_type_of(doc), "digest": subject.to_string(), "size": doc.len()},
            "annotations": {"in-toto.io/predicate-type": receipt::VSA_V1},
        }))
        .unwrap_or_default();
        out.push(Referrer {
            subject,
            digest: Digest::of(&manifest),
            manifest,
            receipt: receipt.to_vec(),
        });
    }
    out
}

/// Pushes `r` into `repo`: the empty config and the receipt as blobs (if
/// the registry lacks them), then the artifact manifest by digest.
pub fn push(reg: &mut Registry, repo: &str, r: &Referrer) -> Result<(), Error> {
    for blob in [EMPTY, r.receipt.as_slice()] {
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
    reg.put_manifest(repo, &r.digest.to_string(), MT_OCI_MANIFEST, &r.manifest)
}

/// Writes `referrers` into the OCI layout `out`: their blobs, and one
/// `index.json` entry each (with its `artifactType`; kept once however
/// often the images are published).
pub fn write_layout(out: &Path, referrers: &[Referrer]) -> Result<(), Error> {
    let werr = |p: &Path, e: std::io::Error| Error::from(crate::fsutil::FsError::write(p, e));
    let bdir = out.join("blobs/sha256");
    let mut entries: Vec<Value> = crate::oci::layout::existing_refs(out)
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    for r in referrers {
        for blob in [EMPTY, r.receipt.as_slice(), r.manifest.as_slice()] {
            let to = bdir.join(Digest::of(blob).hex());
            if !to.exists() {
                crate::fsutil::replace_file(&to, blob)
                    .map_err(|_| werr(&to, std::io::Error::other("cannot write the blob")))?;
            }
        }
        let digest = r.digest.to_string();
        if !entries.iter().any(|e| e["digest"] == digest.as_str()) {
            entries.push(json!({
                "mediaType": MT_OCI_MANIFEST,
                "artifactType": ARTIFACT_TYPE,
                "digest": digest,
                "size": r.manifest.len(),
            }));
        }
    }
    crate::fsutil::replace_file(&out.join("index.json"), &crate::oci::layout::index(entries))
}

/// Attaches `receipt` (the import's, from [`receipt_of`]: its Statement
/// and its bytes) to each of `graph`'s images at `target` (after the images
/// themselves are there); `repo` names an image's repository there. Returns
/// the referrers attached (none without a usable receipt).
pub fn attach(
    receipt: Option<(Value, Vec<u8>)>,
    graph: &ImageGraph,
    target: &crate::oci::registry::Target,
    conn: &crate::oci::registry::Connection,
    repo: &dyn Fn(&str) -> String,
) -> Result<Vec<(String, Referrer)>, Error> {
    use crate::oci::registry::Target;
    let Some((statement, bytes)) = receipt else {
        return Ok(Vec::new());
    };
    let refs = referrers(graph, &statement, &bytes);
    let names: Vec<String> = graph
        .images
        .iter()
        .filter(|p| refs.iter().any(|r| r.subject.0 == p.image.digest))
        .map(|p| repo(&p.image.name))
        .collect();
    match target {
        Target::Layout(out) => write_layout(out, &refs)?,
        Target::Registry { host, .. } => {
            let mut reg = Registry::connect(host, conn)?;
            for (r, name) in refs.iter().zip(&names) {
                push(&mut reg, name, r)?;
            }
        }
    }
    Ok(names.into_iter().zip(refs).collect())
}
