//! The supply chain of a bundle (docs/isolated-side.md, "Verify and
//! import", step 5): the layout
//! carried in `meta/layout/` must be signed by exactly the layout keys the
//! signed manifest names (carried in `meta/layout-keys/`), every one of them
//! a key of the layout owner that the final root names (`x-airlock-layout`,
//! which only the root role can change), at least the owner's threshold of
//! them, and the layout must not be older (by its signed `expires`) than the
//! one accepted last on the channel; the links in
//! `meta/links/` must satisfy it — with the bundle's artifacts as the files
//! under verification — and every artifact must be a product of the
//! manifest's product step, equal in path and SHA-256. Carried attestations
//! must be Statement (v1 or v0.1) envelopes signed by a layout or
//! functionary key, and every subject must name an artifact or image of the
//! bundle by SHA-256.
use std::collections::{BTreeMap, BTreeSet};

use airlock_bundle::{Entry, EntryKind, Image, SupplyChain};
use airlock_hsm::{LayoutSeen, PublicKey};
use sha2::{Digest, Sha256};

use super::inspection::{Contents, InspectionResult, Need};
use super::model::{Artifacts, Digests};
use super::verify::{Inspections, LayoutKey, MapLinks, UnderVerification, verify};
use super::{IntotoError, statement};
use crate::keys::{KeyObject, keyid};
use crate::tuf::Root;

/// The supply-chain metadata of a bundle, by kind (the bytes borrowed
/// from whoever holds them for delivery: a link of a large release is
/// megabytes, held once).
#[derive(Debug, Default)]
pub struct BundleChain<'a> {
    layouts: Vec<(String, &'a [u8])>,
    layout_keys: Vec<(String, &'a [u8])>,
    links: BTreeMap<String, &'a [u8]>,
    attestations: Vec<(String, &'a [u8])>,
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
    /// How each inspection was evaluated (empty while pending).
    pub inspection_results: Vec<InspectionResult>,
    /// Artifacts whose bytes inspections read, not read yet: the verdict
    /// holds only once the chain is verified again with them
    /// ([`ChainInspections::Contents`]).
    pub pending_inspections: Vec<Need>,
    /// Layout expiry as written.
    pub layout_expires: String,
    /// Attestations checked.
    pub attestations: usize,
    /// Artifacts and images named by a subject of a verified attestation.
    pub attested_subjects: usize,
    /// Artifacts and images in the bundle (what attestations could cover).
    pub attestable_subjects: usize,
    /// Non-fatal findings.
    pub warnings: Vec<String>,
    /// The layout, as the store records it for the channel.
    pub layout: LayoutSeen,
    /// The attestations that verified (for the enclave policy, `crate::gate`).
    pub statements: Vec<VerifiedStatement>,
}

/// One attestation that verified: its Statement and the keyids whose
/// signatures on it verified.
#[derive(Debug, Clone)]
pub struct VerifiedStatement {
    /// Its path in the bundle.
    pub file: String,
    /// The Statement (the envelope's payload).
    pub statement: serde_json::Value,
    /// Keyids (layout or functionary keys) that signed it.
    pub signers: Vec<String>,
}

/// What the supply chain is held to besides the bundle itself.
#[derive(Debug, Clone, Copy)]
pub struct ChainContext<'a> {
    /// The final root: it names the layout owner.
    pub root: &'a Root,
    /// The layout accepted last on the bundle's channel, if any.
    pub seen: Option<&'a LayoutSeen>,
    /// The bundle's channel.
    pub channel: &'a str,
    /// The verification time.
    pub time: u64,
    /// How inspections are evaluated.
    pub inspections: ChainInspections<'a>,
}

/// How a bundle's inspections are evaluated.
#[derive(Debug, Clone, Copy)]
pub enum ChainInspections<'a> {
    /// From the metadata alone: the built-in evaluators that read an
    /// artifact's bytes are left pending ([`ChainVerdict::pending_inspections`]).
    Metadata,
    /// With the bytes of the artifacts the inspections read.
    Contents(&'a Contents),
    /// Left for [`ChainInspections::Run`] (`--run-inspections`).
    Defer,
    /// The commands run in a scratch copy of `dir` (`--run-inspections`).
    Run {
        /// The artifacts, as files.
        dir: &'a std::path::Path,
        /// Per-command timeout.
        timeout: std::time::Duration,
    },
}

impl<'a> BundleChain<'a> {
    /// The carried attestations (file name, bytes).
    pub fn attestations(&self) -> &[(String, &'a [u8])] {
        &self.attestations
    }

    /// Takes one metadata entry (roots are ignored).
    pub fn add(&mut self, entry: &Entry, bytes: &'a [u8]) {
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

fn layout_keys(
    chain: &BundleChain<'_>,
    supply: &SupplyChain,
) -> Result<Vec<LayoutKey>, IntotoError> {
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
        // An RSA key named by the keyid of its rsa-pkcs1v15-sha256 key
        // object is that key (METADATA.md 1.2): a PEM carries no scheme.
        let pk = match pk.clone().with_pkcs1v15() {
            Some(v15) if path == &format!("{}.pub", keyid(&v15)) => v15,
            _ => pk,
        };
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

/// Holds the layout keys to the layout owner the final root names: each one
/// of the owner's keys, and at least the owner's threshold of distinct keys
/// (all of them sign: [`verify`] requires a signature by every given key).
fn check_rooted(keys: &[LayoutKey], root: &Root) -> Result<(), IntotoError> {
    let Some(owner) = &root.layout_owner else {
        return Err(IntotoError::LayoutKeysUnrooted {
            root_version: root.version,
        });
    };
    let mut distinct = BTreeSet::new();
    for k in keys {
        let Some(pk) = &k.key.public else { continue };
        if !owner.names(pk) {
            return Err(IntotoError::LayoutKeyNotRooted {
                keyid: k.keyids.first().cloned().unwrap_or_default(),
                root_version: root.version,
            });
        }
        distinct.insert(pk.raw_bytes());
    }
    if (distinct.len() as u64) < owner.threshold {
        return Err(IntotoError::LayoutThreshold {
            counted: distinct.len(),
            threshold: owner.threshold,
            root_version: root.version,
        });
    }
    Ok(())
}

/// Refuses a layout older than the one accepted last on the channel: it
/// expires earlier, or at the same instant with other bytes.
fn check_not_replayed(layout: &LayoutSeen, cx: &ChainContext<'_>) -> Result<(), IntotoError> {
    let Some(seen) = cx.seen else { return Ok(()) };
    if layout.expires < seen.expires
        || (layout.expires == seen.expires && layout.sha256 != seen.sha256)
    {
        return Err(IntotoError::LayoutRollback {
            channel: cx.channel.to_owned(),
            expires: crate::timefmt::format_utc(layout.expires),
            seen: crate::timefmt::format_utc(seen.expires),
        });
    }
    Ok(())
}

/// The artifacts (and images, as in [`artifacts_of`]) the subjects of an
/// attestation name, by SHA-256: every subject must name one, else the
/// attestation is about something the bundle does not carry.
fn bind_subjects<'a>(
    file: &str,
    st: &statement::Statement,
    artifacts: &'a Artifacts,
) -> Result<Vec<&'a str>, IntotoError> {
    let mut bound = Vec::new();
    for subject in &st.subjects {
        let unbound = |reason: String| IntotoError::AttestationSubjectUnbound {
            file: file.to_owned(),
            subject: format!("'{}'", subject.name),
            reason,
        };
        let Some(want) = subject.sha256() else {
            return Err(unbound(format!(
                "has no sha256 digest (only {}), so it cannot name an artifact or image of the bundle",
                subject
                    .digest
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let before = bound.len();
        bound.extend(
            artifacts
                .iter()
                .filter(|(_, d)| d.get("sha256").as_deref() == Some(want))
                .map(|(path, _)| path),
        );
        if bound.len() == before {
            return Err(unbound(format!(
                "names sha256:{want}, which is no artifact or image of the bundle"
            )));
        }
    }
    Ok(bound)
}

/// Verifies the bundle's supply chain over the artifact `entries`, held to
/// `cx` (the root's layout owner, the channel's last layout, the time).
pub fn verify_bundle_chain(
    chain: &BundleChain<'_>,
    supply: &SupplyChain,
    entries: &[Entry],
    images: &[Image],
    cx: &ChainContext<'_>,
) -> Result<ChainVerdict, IntotoError> {
    let time = cx.time;
    let keys = layout_keys(chain, supply)?;
    check_rooted(&keys, cx.root)?;
    let [(name, layout_bytes)] = chain.layouts.as_slice() else {
        return Err(IntotoError::LayoutMalformed {
            what: "of the bundle".into(),
            reason: format!(
                "a bundle carries exactly one layout, this one {}",
                chain.layouts.len()
            ),
        });
    };
    let (doc, parsed) = super::verify::parse_layout(layout_bytes, name)?;
    let layout = LayoutSeen {
        expires: parsed.expires,
        sha256: hex::encode(Sha256::digest(layout_bytes)),
    };
    check_not_replayed(&layout, cx)?;
    let artifacts = artifacts_of(entries, images);
    let under = match cx.inspections {
        ChainInspections::Contents(c) => {
            UnderVerification::with_contents(artifacts.clone(), c.clone())
        }
        _ => UnderVerification::known(artifacts.clone()),
    };
    let mode = match cx.inspections {
        ChainInspections::Metadata | ChainInspections::Contents(_) => Inspections::Evaluate(&under),
        ChainInspections::Defer => Inspections::Defer,
        ChainInspections::Run { dir, timeout } => Inspections::Run { dir, timeout },
    };
    let links = MapLinks(&chain.links);
    let verified = verify(&doc, &keys, &links, time, mode)?;
    if !verified.pending.is_empty() && !matches!(cx.inspections, ChainInspections::Metadata) {
        return Err(IntotoError::Internal(
            "inspections left pending after the artifacts were read".into(),
        ));
    }
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
        let got = product.products.get(path);
        // The common case, compared as bytes: formatting both digests as
        // hex for every artifact was most of this loop (docs/performance.md).
        if let (Digests::Sha256(want), Some(Digests::Sha256(got))) = (digests, got)
            && want == got
        {
            continue;
        }
        let Some(want) = digests.get("sha256") else {
            continue; // artifacts_of always records sha256
        };
        match got.and_then(|d| d.get("sha256")) {
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
    let mut statements = Vec::new();
    let mut attested = BTreeSet::new();
    for (path, bytes) in &chain.attestations {
        // Sigstore bundles are checked against the store's pinned Sigstore
        // policy (crate::sigstore::carried), not against the layout's keys.
        if crate::sigstore::carried::is_sigstore_bundle(bytes) {
            continue;
        }
        let st = statement::parse(bytes).map_err(|reason| IntotoError::AttestationMalformed {
            file: path.clone(),
            reason,
        })?;
        let signers = st.signers(&known);
        statements.push(VerifiedStatement {
            file: path.clone(),
            // The payload as `statement::parse` checked it: never parsed
            // a second time, never replaced by a default.
            statement: st.payload.clone(),
            signers: signers.iter().map(|s| (*s).to_owned()).collect(),
        });
        if signers.is_empty() {
            return Err(IntotoError::AttestationUnsigned {
                file: path.clone(),
                claimed: st.claimed_keyids().join(", "),
            });
        }
        attested.extend(bind_subjects(path, &st, &artifacts)?);
    }
    Ok(ChainVerdict {
        product_step,
        steps: verified.layout.steps.len(),
        inspections: verified.layout.inspections.len(),
        inspection_results: verified.inspections,
        pending_inspections: verified.pending,
        layout_expires: verified.layout.expires_text.clone(),
        attestations: chain.attestations.len(),
        attested_subjects: attested.len(),
        attestable_subjects: artifacts.len(),
        warnings: verified.warnings,
        layout,
        statements,
    })
}
