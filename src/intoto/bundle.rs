//! The supply chain of a bundle (design.md, trust chain step 6): the layout
//! carried in `meta/layout/` must be signed by exactly the layout keys the
//! signed manifest names (carried in `meta/layout-keys/`), the links in
//! `meta/links/` must satisfy it — with the bundle's artifacts as the files
//! under verification — and every artifact must be a product of the
//! manifest's product step, equal in path and SHA-256. Carried attestations
//! must be Statement v1 envelopes signed by a layout or functionary key.
use std::collections::{BTreeMap, BTreeSet};

use airlock_bundle::{Entry, EntryKind, Image, SupplyChain};
use airlock_hsm::PublicKey;

use super::model::{Artifacts, Digests};
use super::verify::{Inspections, LayoutKey, MapLinks, UnderVerification, verify};
use super::{IntotoError, statement};
use crate::keys::{KeyObject, keyid};

/// The supply-chain metadata of a bundle, gathered as it is read.
#[derive(Debug, Default)]
pub struct BundleChain {
    layouts: Vec<(String, Vec<u8>)>,
    layout_keys: Vec<(String, Vec<u8>)>,
    links: BTreeMap<String, Vec<u8>>,
    attestations: Vec<(String, Vec<u8>)>,
}

/// What the supply-chain check established.
#[derive(Debug, Clone)]
pub struct ChainVerdict {
    /// The step whose products the artifacts are.
    pub product_step: String,
    /// Steps in the layout.
    pub steps: usize,
    /// Inspections in the layout (evaluated, not run).
    pub inspections: usize,
    /// Layout expiry as written.
    pub layout_expires: String,
    /// Attestations checked.
    pub attestations: usize,
    /// Non-fatal findings.
    pub warnings: Vec<String>,
}

impl BundleChain {
    /// Takes one metadata entry (roots are ignored).
    pub fn add(&mut self, entry: &Entry, bytes: Vec<u8>) {
        let path = entry.path.as_str().to_owned();
        match entry.kind {
            EntryKind::Layout => self.layouts.push((path, bytes)),
            EntryKind::LayoutKey => self.layout_keys.push((path, bytes)),
            EntryKind::Link => {
                self.links.insert(path, bytes);
            }
            EntryKind::Attestation => self.attestations.push((path, bytes)),
            _ => {}
        }
    }
}

/// The artifacts under verification, as in-toto sees them: each artifact
/// by its path, each image as `images/NAME:TAG` (or `images/NAME@sha256:…`)
/// with the digest of its manifest or index, which covers all it contains.
pub fn artifacts_of(entries: &[Entry], images: &[Image]) -> Artifacts {
    entries
        .iter()
        .filter(|e| e.kind == EntryKind::Artifact)
        .map(|e| (e.path.as_str().to_owned(), Digests::sha256(e.sha256)))
        .chain(
            images
                .iter()
                .map(|i| (crate::oci::artifact_name(i), Digests::sha256(i.digest))),
        )
        .collect()
}

fn layout_keys(chain: &BundleChain, supply: &SupplyChain) -> Result<Vec<LayoutKey>, IntotoError> {
    let mismatch = IntotoError::LayoutKeyMismatch;
    if supply.layout_keyids.is_empty() {
        return Err(mismatch("the manifest names no layout keys".into()));
    }
    let mut found = BTreeSet::new();
    let mut keys = Vec::new();
    for (path, pem) in &chain.layout_keys {
        let pem = std::str::from_utf8(pem)
            .map_err(|_| mismatch(format!("{path} is not a PEM public key")))?;
        let pk = PublicKey::from_spki_pem(pem).map_err(|e| mismatch(format!("{path}: {e}")))?;
        let id = keyid(&pk);
        if path != &format!("{id}.pub") {
            return Err(mismatch(format!("{path} holds the key with keyid {id}")));
        }
        found.insert(id);
        keys.push(LayoutKey::from_public(&pk));
    }
    let named: BTreeSet<String> = supply.layout_keyids.iter().cloned().collect();
    if found != named {
        return Err(mismatch(format!(
            "the manifest names {} but the bundle carries {}",
            named.into_iter().collect::<Vec<_>>().join(", "),
            found.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(keys)
}

/// Verifies the bundle's supply chain at `time` over the artifact `entries`.
pub fn verify_bundle_chain(
    chain: &BundleChain,
    supply: &SupplyChain,
    entries: &[Entry],
    images: &[Image],
    time: u64,
) -> Result<ChainVerdict, IntotoError> {
    let keys = layout_keys(chain, supply)?;
    let [(name, layout_bytes)] = chain.layouts.as_slice() else {
        return Err(IntotoError::LayoutMalformed {
            what: "of the bundle".into(),
            reason: format!(
                "a bundle carries exactly one layout, this one {}",
                chain.layouts.len()
            ),
        });
    };
    let (doc, _) = super::verify::parse_layout(layout_bytes, name)?;
    let artifacts = artifacts_of(entries, images);
    let under = UnderVerification::known(artifacts.clone());
    let links = MapLinks(&chain.links);
    let verified = verify(&doc, &keys, &links, time, Inspections::Evaluate(&under))?;
    let product_step = match &supply.product_step {
        Some(s) => s.clone(),
        None => verified
            .layout
            .steps
            .last()
            .map(|s| s.item.name.clone())
            .ok_or_else(|| IntotoError::ProductStepUnknown("(the layout has no steps)".into()))?,
    };
    let product = verified
        .steps
        .get(&product_step)
        .ok_or_else(|| IntotoError::ProductStepUnknown(product_step.clone()))?;
    for (path, digests) in artifacts.iter() {
        let Some(want) = digests.get("sha256") else {
            continue; // artifacts_of always records sha256
        };
        match product.products.get(path).and_then(|d| d.get("sha256")) {
            Some(got) if got == want => {}
            Some(got) => {
                return Err(IntotoError::ArtifactUnbound {
                    path: path.to_owned(),
                    reason: format!(
                        "its SHA-256 is {want}, but step '{product_step}' produced {got}"
                    ),
                });
            }
            None => {
                return Err(IntotoError::ArtifactUnbound {
                    path: path.to_owned(),
                    reason: format!("it is not a product (with a sha256) of step '{product_step}'"),
                });
            }
        }
    }
    // Attestations: well-formed Statements signed by a layout key or a
    // functionary key of the layout.
    let mut known: BTreeMap<String, KeyObject> = verified.layout.keys.clone();
    for k in &keys {
        for id in &k.keyids {
            known.insert(id.clone(), k.key.clone());
        }
    }
    for (path, bytes) in &chain.attestations {
        let st = statement::parse(bytes).map_err(|reason| IntotoError::AttestationMalformed {
            file: path.clone(),
            reason,
        })?;
        if st.signers(&known).is_empty() {
            return Err(IntotoError::AttestationUnsigned {
                file: path.clone(),
                claimed: st.claimed_keyids().join(", "),
            });
        }
    }
    Ok(ChainVerdict {
        product_step,
        steps: verified.layout.steps.len(),
        inspections: verified.layout.inspections.len(),
        layout_expires: verified.layout.expires_text.clone(),
        attestations: chain.attestations.len(),
        warnings: verified.warnings,
    })
}
