//! in-toto: the supply-chain layer. Layouts and links in both encodings
//! ([`envelope`]), checked types ([`model`]), artifact rules ([`rules`],
//! with Python-compatible [`fnmatch`]), the verifier in the reference's
//! order ([`verify`]), recording links ([`record`]) and in-toto Statement
//! attestations ([`statement`]).
//!
//! Where airlock is deliberately stricter than the reference
//! (docs/supply-chain.md): a link's `name` must equal its step; a threshold counts
//! distinct public keys; floats and duplicate JSON keys are refused; step
//! names must be plain file-name components; inspections are evaluated
//! without running their commands ([`inspection`]: only the forms whose
//! effect airlock computes exactly; any other inspection is refused),
//! unless the operator asks for them to run.
pub mod artifacts;
pub mod bundle;
pub mod envelope;
pub mod fnmatch;
pub mod inspection;
pub mod linkfile;
pub mod model;
pub mod record;
pub mod rules;
pub mod scaffold;
pub mod statement;
mod stream_check;
pub mod verify;

pub use model::{Artifacts, Digests, Layout, Link};

/// Why a supply chain is not accepted. Every variant names the step, rule
/// or file concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntotoError {
    /// The layout does not parse.
    #[error("the layout {what} is malformed: {reason}")]
    LayoutMalformed {
        /// Which layout.
        what: String,
        /// Why.
        reason: String,
    },
    /// A link file does not parse.
    #[error("link {file} is malformed: {reason}")]
    LinkMalformed {
        /// The link file.
        file: String,
        /// Why.
        reason: String,
    },
    /// A given layout key has no valid signature on the layout.
    #[error("the layout has no valid signature by layout key {keyid}")]
    LayoutSignature {
        /// The key's keyid.
        keyid: String,
    },
    /// The layout has expired.
    #[error("the layout expired at {expires} (verification time {time})")]
    LayoutExpired {
        /// `expires` as written.
        expires: String,
        /// The verification time.
        time: String,
    },
    /// Too few valid links for a step.
    #[error(
        "step '{step}' needs {threshold} link(s) validly signed by distinct authorized functionaries, found {found}{detail}"
    )]
    LinkThreshold {
        /// The step.
        step: String,
        /// Its threshold.
        threshold: u64,
        /// Valid links found.
        found: u64,
        /// What was missing or refused.
        detail: String,
    },
    /// The valid links of a step with threshold > 1 differ.
    #[error("step '{step}': links {first} and {other} record different materials or products")]
    LinkDisagreement {
        /// The step.
        step: String,
        /// The reference link file.
        first: String,
        /// The link that differs.
        other: String,
    },
    /// A link's `name` is not its step (stricter than the reference).
    #[error(
        "link {file} is named '{name}' but is evidence for step '{step}': a link's name must equal its step"
    )]
    LinkNameMismatch {
        /// The link file.
        file: String,
        /// The name it carries.
        name: String,
        /// The step it was loaded for.
        step: String,
    },
    /// An artifact rule failed.
    #[error("{0}")]
    Rule(Box<RuleFailure>),
    /// An inspection command failed (only with `--run-inspections`).
    #[error("inspection '{name}' failed: {reason}")]
    InspectionFailed {
        /// The inspection.
        name: String,
        /// Why.
        reason: String,
    },
    /// An inspection whose command airlock cannot evaluate without running
    /// it (and inspections are not run).
    #[error("inspection '{name}' cannot be evaluated without running `{command}`: {reason}")]
    InspectionUnevaluable {
        /// The inspection.
        name: String,
        /// Its command, as written (space-joined).
        command: String,
        /// Why.
        reason: String,
    },
    /// An inspection's archive is one airlock will not extract, even in
    /// memory: links, devices, absolute or `..` names, over a limit.
    #[error("inspection '{name}': the archive is refused: {reason}")]
    InspectionArchiveUnsafe {
        /// The inspection.
        name: String,
        /// Why.
        reason: String,
    },
    /// Something failed inside a sublayout.
    #[error("in the sublayout of step '{step}' ({file}): {inner}")]
    Sublayout {
        /// The superlayout's step.
        step: String,
        /// The sublayout's link file.
        file: String,
        /// The failure inside.
        inner: Box<IntotoError>,
    },
    /// A bundle artifact is not a product of the product step.
    #[error("artifact {path} is not bound to the supply chain: {reason}")]
    ArtifactUnbound {
        /// The artifact path.
        path: String,
        /// Why.
        reason: String,
    },
    /// A carried attestation is not a Statement (v1 or v0.1) in a DSSE envelope.
    #[error("attestation {file} is malformed: {reason}")]
    AttestationMalformed {
        /// The attestation file.
        file: String,
        /// Why.
        reason: String,
    },
    /// A carried attestation has no valid signature by a known key.
    #[error(
        "attestation {file} has no valid signature by a layout or functionary key (it claims keyids: {claimed})"
    )]
    AttestationUnsigned {
        /// The attestation file.
        file: String,
        /// The keyids its signatures claim.
        claimed: String,
    },
    /// A subject of a carried attestation names no artifact or image of the
    /// bundle by SHA-256.
    #[error("attestation {file}: subject {subject} {reason}")]
    AttestationSubjectUnbound {
        /// The attestation file.
        file: String,
        /// The subject's name (quoted, possibly empty).
        subject: String,
        /// Why it is unbound.
        reason: String,
    },
    /// The layout keys carried do not match what the manifest names.
    #[error("layout keys: {0}")]
    LayoutKeyMismatch(String),
    /// The final root names no layout owner (`x-airlock-layout`).
    #[error(
        "root version {root_version} names no in-toto layout owner, so no layout can be trusted"
    )]
    LayoutKeysUnrooted {
        /// The final root's version.
        root_version: u64,
    },
    /// A layout key the manifest names is not one the root names.
    #[error(
        "layout key {keyid} is not a layout-owner key of root version {root_version}: the bundle brings its own layout key"
    )]
    LayoutKeyNotRooted {
        /// The key's keyid.
        keyid: String,
        /// The final root's version.
        root_version: u64,
    },
    /// Fewer layout-owner keys signed than the root requires.
    #[error(
        "the layout is signed by {counted} of the {threshold} layout-owner keys root version {root_version} requires"
    )]
    LayoutThreshold {
        /// Distinct root-named keys that signed.
        counted: usize,
        /// Required.
        threshold: u64,
        /// The final root's version.
        root_version: u64,
    },
    /// An older layout than one already accepted on the channel.
    #[error(
        "layout rollback: this layout expires {expires}, but the layout accepted last on channel {channel} expires {seen}"
    )]
    LayoutRollback {
        /// The channel.
        channel: String,
        /// This layout's expiry (as written).
        expires: String,
        /// The accepted layout's expiry.
        seen: String,
    },
    /// The manifest's product step is not a step of the layout.
    #[error("the product step '{0}' is not a step of the layout")]
    ProductStepUnknown(String),
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A failed artifact rule, naming the step or inspection, the rule and the
/// artifact.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} '{item}' {side}: rule '{rule}' {detail}")]
pub struct RuleFailure {
    /// `rule-disallow` or `rule-require`.
    pub code: &'static str,
    /// `step` or `inspection`.
    pub kind: String,
    /// Its name.
    pub item: String,
    /// `materials` or `products`.
    pub side: &'static str,
    /// The rule as written.
    pub rule: String,
    /// What failed, naming the artifact.
    pub detail: String,
}

impl IntotoError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            IntotoError::LayoutMalformed { .. } => "layout-malformed",
            IntotoError::LinkMalformed { .. } => "link-malformed",
            IntotoError::LayoutSignature { .. } => "layout-signature",
            IntotoError::LayoutExpired { .. } => "layout-expired",
            IntotoError::LinkThreshold { .. } => "link-threshold",
            IntotoError::LinkDisagreement { .. } => "link-disagreement",
            IntotoError::LinkNameMismatch { .. } => "link-name-mismatch",
            IntotoError::Rule(r) => r.code,
            IntotoError::InspectionFailed { .. } => "inspection-failed",
            IntotoError::InspectionUnevaluable { .. } => "inspection-unevaluable",
            IntotoError::InspectionArchiveUnsafe { .. } => "inspection-archive-unsafe",
            IntotoError::Sublayout { inner, .. } => inner.code(),
            IntotoError::ArtifactUnbound { .. } => "artifact-unbound",
            IntotoError::AttestationMalformed { .. } => "attestation-malformed",
            IntotoError::AttestationUnsigned { .. } => "attestation-signature",
            IntotoError::AttestationSubjectUnbound { .. } => "attestation-subject-unbound",
            IntotoError::LayoutKeyMismatch(_) => "layout-key-mismatch",
            IntotoError::LayoutKeysUnrooted { .. } => "layout-keys-unrooted",
            IntotoError::LayoutKeyNotRooted { .. } => "layout-key-not-rooted",
            IntotoError::LayoutThreshold { .. } => "layout-threshold",
            IntotoError::LayoutRollback { .. } => "layout-rollback",
            IntotoError::ProductStepUnknown(_) => "product-step-unknown",
            IntotoError::Internal(_) => "intoto-internal",
        }
    }

    /// What the operator should do.
    pub fn hint(&self) -> &'static str {
        match self {
            IntotoError::Sublayout { inner, .. } => inner.hint(),
            IntotoError::LayoutMalformed { .. } | IntotoError::LinkMalformed { .. } => {
                "the supply-chain metadata is not well-formed in-toto JSON: regenerate it with `airlock record` / `airlock layout sign` or the reference tools"
            }
            IntotoError::LayoutSignature { .. } | IntotoError::LayoutKeyMismatch(_) => {
                "the layout is not signed by the expected layout keys: get a layout signed by the project owner (`airlock layout sign`)"
            }
            IntotoError::LayoutKeysUnrooted { .. } => {
                "the root must name the layout owner: rotate the root with `airlock root rotate --layout-key OWNER.pub` (signed by the root keys) and carry it in the bundle"
            }
            IntotoError::LayoutKeyNotRooted { .. } | IntotoError::LayoutThreshold { .. } => {
                "only the layout owner the root names may sign the layout: do not use this bundle; if the owner changed, carry a root rotation naming the new owner (`root rotate --layout-key`)"
            }
            IntotoError::LayoutRollback { .. } => {
                "an older layout was replayed: do not use this bundle; a new layout must expire later than the one accepted before"
            }
            IntotoError::LayoutExpired { .. } => {
                "ask the project owner for a layout with a later `expires`, re-signed"
            }
            IntotoError::LinkThreshold { .. } => {
                "a step lacks evidence: record it with `airlock record` using an authorized functionary key and put the link in the link directory"
            }
            IntotoError::LinkDisagreement { .. } => {
                "functionaries of the same step recorded different artifacts: find out why before trusting either"
            }
            IntotoError::LinkNameMismatch { .. } => {
                "a link was recorded for another step: re-record it with `--name` equal to the step"
            }
            IntotoError::Rule(_) | IntotoError::ArtifactUnbound { .. } => {
                "the artifacts are not what the supply chain produced: do not use them; find where they were changed"
            }
            IntotoError::InspectionFailed { .. } => {
                "the inspection command failed on the artifacts: do not use them"
            }
            IntotoError::InspectionUnevaluable { .. } => {
                "airlock evaluates only the inspection forms docs/supply-chain.md lists, without running them: ask the layout owner for such an inspection, or give --run-inspections where running the command is acceptable"
            }
            IntotoError::InspectionArchiveUnsafe { .. } => {
                "the archive holds links, devices, absolute or `..` names, or is over a limit: do not use it; ask the packager for a plain archive of regular files"
            }
            IntotoError::AttestationMalformed { .. } | IntotoError::AttestationUnsigned { .. } => {
                "carry only in-toto Statement (v1 or v0.1) attestations in DSSE envelopes signed by a layout or functionary key"
            }
            IntotoError::AttestationSubjectUnbound { .. } => {
                "every subject of an attestation must name an artifact or image the bundle carries by its sha256 digest: carry only attestations about what the bundle carries"
            }
            IntotoError::ProductStepUnknown(_) => {
                "pack with --product-step naming a step of the layout"
            }
            IntotoError::Internal(_) => "report this as a bug",
        }
    }
}
