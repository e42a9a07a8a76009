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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use airlock_bundle::Image;

    use super::*;
    use crate::intoto::envelope::{Signature, dsse};
    use crate::oci::graph::ImagePlan;

    fn envelope(subject: Digest, predicate: &str) -> Vec<u8> {
        let body = format!(
            r#"{{"_type":"https://in-toto.io/Statement/v1","predicateType":"{predicate}","subject":[{{"name":"x","digest":{{"sha256":"{}"}}}}],"predicate":{{}}}}"#,
            subject.hex()
        );
        dsse(
            body.as_bytes(),
            &[Signature {
                keyid: "k".into(),
                sig: vec![1; 64],
            }],
        )
    }

    fn graph(doc: &[u8]) -> ImageGraph {
        let d = Digest::of(doc);
        ImageGraph {
            images: vec![ImagePlan {
                image: Image {
                    name: "team/app".into(),
                    tag: Some("1".into()),
                    digest: d.0,
                    platforms: vec![],
                },
                blobs: vec![],
                manifests: vec![(d, crate::oci::MT_OCI_MANIFEST.into())],
                size: doc.len() as u64,
                referrers: vec![],
            }],
            documents: [(d, doc.to_vec())].into_iter().collect(),
        }
    }

    #[test]
    fn an_envelope_about_an_image_becomes_its_referrer_byte_for_byte() {
        let doc = br#"{"schemaVersion":2}"#;
        let g = graph(doc);
        let about = envelope(Digest::of(doc), "https://slsa.dev/provenance/v1");
        let other = envelope(Digest::of(b"an artifact"), "https://spdx.dev/Document");
        let refs = referrers(
            &g,
            &[("a".into(), about.clone()), ("b".into(), other)],
            &|n| format!("ns/{n}"),
        );
        assert_eq!(refs.len(), 1, "only the one about the image");
        let (repo, a) = &refs[0];
        assert_eq!(repo, "ns/team/app");
        assert_eq!(a.layer, about);
        assert_eq!(a.subject, Digest::of(doc));
        assert_eq!(a.artifact_type, DSSE);
        assert_eq!(
            a.descriptor()["annotations"]["in-toto.io/predicate-type"],
            "https://slsa.dev/provenance/v1"
        );
    }

    /// A Sigstore bundle (message signature, v0.3) over an image's digest:
    /// attached under its own media type (the test vector signs a file, so
    /// the image here takes that file's digest).
    #[test]
    fn a_sigstore_bundle_signing_an_image_becomes_its_referrer() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/sigstore");
        let bundle = std::fs::read(dir.join("pass_message_v03_synthetic.sigstore.json")).unwrap();
        let signed = Digest::of(&std::fs::read(dir.join("synthetic-artifact.txt")).unwrap());
        let mut g = graph(b"{}");
        let doc = g.documents.pop_first().unwrap().1;
        g.documents.insert(signed, doc);
        g.images[0].image.digest = signed.0;
        g.images[0].manifests = vec![(signed, crate::oci::MT_OCI_MANIFEST.into())];
        let refs = referrers(&g, &[("s".into(), bundle.clone())], &|n| n.to_owned());
        assert_eq!(refs.len(), 1);
        let a = &refs[0].1;
        assert_eq!(a.layer, bundle);
        assert_eq!(
            a.artifact_type,
            "application/vnd.dev.sigstore.bundle.v0.3+json"
        );
        assert_eq!(
            a.descriptor()["annotations"]["dev.sigstore.bundle.content"],
            "message-signature"
        );
        // Not about another image.
        g.documents.insert(Digest::of(b"other"), b"{}".to_vec());
        g.images[0].manifests = vec![(Digest::of(b"other"), crate::oci::MT_OCI_MANIFEST.into())];
        assert!(referrers(&g, &[("s".into(), bundle)], &|n| n.to_owned()).is_empty());
    }
}
