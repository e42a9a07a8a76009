//! Receipts as OCI referrers: on `publish`, each image gets the import's
//! receipt (docs/policy.md, "Receipts") attached as an OCI 1.1 artifact
//! whose `subject` is the image — pushed to the registry by digest, or
//! listed in the OCI layout's `index.json` — so that whoever pulls the
//! image can find and check the enclave's signed verification summary.
//! Attaching (the referrers API, or the referrers tag schema where the
//! registry has none) is `crate::oci::referrers`, shared with the bundle's
//! attestations.
use std::path::{Path, PathBuf};

use airlock_hsm::TrustStore;
use serde_json::{Map, Value, json};

use super::receipt;
use crate::oci::graph::ImageGraph;
use crate::oci::referrers::{Artifact, Subject};
use crate::oci::{Digest, Doc};

/// The artifact type (and layer media type) of a receipt: a DSSE envelope.
pub const ARTIFACT_TYPE: &str = "application/vnd.dsse.envelope.v1+json";

/// One image's referrer: the artifact manifest carrying the receipt.
pub type Referrer = Artifact;

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

/// The referrers of `graph`'s images for `receipt` (whose subjects are
/// `subjects`: its Statement read back, or the subjects it was just signed
/// with): one per image the receipt names as a subject, each with the
/// repository `repo` gives the image's name.
pub fn referrers(
    graph: &ImageGraph,
    subjects: &dyn receipt::Subjects,
    receipt: &[u8],
    repo: &dyn Fn(&str) -> String,
) -> Vec<(String, Referrer)> {
    let mut out = Vec::new();
    for p in &graph.images {
        let subject = Digest(p.image.digest);
        let Some(doc) = graph.documents.get(&subject) else {
            continue;
        };
        if !subjects.names(&p.image.digest) {
            continue;
        }
        let mut annotations = Map::new();
        annotations.insert("in-toto.io/predicate-type".into(), json!(receipt::VSA_V1));
        let artifact = Artifact::new(
            ARTIFACT_TYPE,
            receipt.to_vec(),
            Subject {
                digest: subject,
                media_type: &Doc::media_type_of(doc),
                size: doc.len() as u64,
            },
            annotations,
        );
        out.push((repo(&p.image.name), artifact));
    }
    out
}
