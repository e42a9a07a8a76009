//! Which of a bundle's attestations are about its images, as OCI 1.1
//! referrers (`publish` attaches them, [`super::referrers`]): an in-toto
//! DSSE envelope whose subject is an image's digest, or a Sigstore bundle
//! that signs it.
use serde_json::{Map, Value, json};

use crate::oci::Digest;
use crate::oci::graph::ImageGraph;
use crate::oci::referrers::{Artifact, Subject};
use crate::sigstore::{ArtifactDigest, Bundle, Content};

/// The artifact type of an in-toto attestation in a DSSE envelope.
pub const DSSE: &str = "application/vnd.dsse.envelope.v1+json";

/// What one attestation is attached as: its artifact type (a Sigstore
/// bundle's own media type, `application/vnd.dev.sigstore.bundle.v0.3+json`
/// for the current version; [`DSSE`] for an in-toto envelope) and the
/// manifest annotations, and the digests (SHA-256) it is about.
struct Kind {
    artifact_type: String,
    annotations: Map<String, Value>,
    about: Box<dyn Fn(Digest) -> bool>,
}

fn kind(bytes: &[u8]) -> Option<Kind> {
    let mut annotations = Map::new();
    if crate::sigstore::carried::is_sigstore_bundle(bytes) {
        let bundle = Bundle::parse(bytes).ok()?;
        let media_type = serde_json::from_slice::<Value>(bytes)
            .ok()?
            .get("mediaType")?
            .as_str()?
            .to_owned();
        match bundle.content() {
            Content::Dsse { payload, .. } => {
                annotations.insert("dev.sigstore.bundle.content".into(), json!("dsse-envelope"));
                if let Some(t) = serde_json::from_slice::<Value>(payload)
                    .ok()
                    .and_then(|v| v["predicateType"].as_str().map(str::to_owned))
                {
                    annotations.insert("dev.sigstore.bundle.predicateType".into(), json!(t));
                }
            }
            Content::MessageSignature { .. } => {
                annotations.insert(
                    "dev.sigstore.bundle.content".into(),
                    json!("message-signature"),
                );
            }
        }
        return Some(Kind {
            artifact_type: media_type,
            annotations,
            about: Box::new(move |d| {
                crate::sigstore::bundle::verify_artifact(&bundle, &ArtifactDigest(d.0)).is_ok()
            }),
        });
    }
    let st = crate::intoto::statement::parse(bytes).ok()?;
    annotations.insert("in-toto.io/predicate-type".into(), json!(st.predicate_type));
    let subjects: Vec<String> = st
        .subjects
        .iter()
        .filter_map(|s| s.sha256().map(str::to_owned))
        .collect();
    Some(Kind {
        artifact_type: DSSE.into(),
        annotations,
        about: Box::new(move |d| subjects.iter().any(|s| *s == d.hex())),
    })
}

/// The referrers of `graph`'s images for `attestations` (file name,
/// bytes: verified with the bundle): one per attestation and manifest
/// of an image (the image's own, or one platform's) it names, each with
/// the repository `repo` gives the image's name. An attestation about
/// no image (an artifact's SBOM, say) gives none.
pub fn referrers(
    graph: &ImageGraph,
    attestations: &[(String, Vec<u8>)],
    repo: &dyn Fn(&str) -> String,
) -> Vec<(String, Artifact)> {
    let kinds: Vec<(Kind, &[u8])> = attestations
        .iter()
        .filter_map(|(_, b)| kind(b).map(|k| (k, b.as_slice())))
        .collect();
    let mut out: Vec<(String, Artifact)> = Vec::new();
    for p in &graph.images {
        let r = repo(&p.image.name);
        for (d, media_type) in p.manifests.iter().rev() {
            let Some(doc) = graph.documents.get(d) else {
                continue;
            };
            for (k, bytes) in &kinds {
                if !(k.about)(*d) {
                    continue;
                }
                let a = Artifact::new(
                    &k.artifact_type,
                    bytes.to_vec(),
                    Subject {
                        digest: *d,
                        media_type,
                        size: doc.len() as u64,
                    },
                    k.annotations.clone(),
                );
                if !out.iter().any(|(x, y)| *x == r && y.digest == a.digest) {
                    out.push((r.clone(), a));
                }
            }
        }
    }
    out
}
