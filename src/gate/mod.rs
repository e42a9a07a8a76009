//! The enclave's own gate: a policy the isolated side pins in its trust
//! store, evaluated over every bundle after every other check has passed,
//! and the signed receipt of each import it admitted.
//!
//! Why a "gate" and not "policy": [`crate::policy`] is airlock's fixed
//! trust rules (signature thresholds, freshness, channels) that every
//! store applies. The gate is the rules *this* enclave writes for itself
//! ("only our builder, SLSA build level 2, an SBOM for every image, no
//! critical finding") in CEL or Rego — docs/policy.md.
//!
//! - [`file`]: the policy file (TOML): language, named rules, limits;
//! - [`input`]: the one input document both languages see;
//! - [`eval`]: CEL and Rego evaluation;
//! - [`sandbox`]: evaluation in a child process bounded in time and memory;
//! - [`pin`]: the policy pinned in a store, checked against its digest;
//! - [`receipt`]: the SLSA verification summary (DSSE-signed with the
//!   store's journal key) written for each accepted import.
use airlock_hsm::{StoreState, TrustStore};
use serde_json::{Value, json};

use crate::error::Error;
use crate::verifier::Verdict;

pub mod error;
pub mod eval;
pub mod file;
pub mod input;
pub mod pin;
pub mod quote;
pub mod receipt;
pub mod referrer;
pub mod rule;
pub mod sandbox;

pub use error::GateError;
pub use rule::{Outcome, RuleResult};

/// What the pinned policy decided about an admitted bundle.
#[derive(Clone, Debug)]
pub struct Admission {
    /// The policy's SHA-256.
    pub sha256: String,
    /// Its name, if it has one.
    pub name: Option<String>,
    /// Every rule's result (all pass).
    pub results: Vec<RuleResult>,
}

impl Admission {
    /// The `policy` object of records and `--json` outputs.
    pub fn field(&self) -> Value {
        json!({
            "sha256": self.sha256,
            "name": self.name,
            "rules": self.results.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
        })
    }
}

/// Evaluates `pinned` over `input`: every rule's result, or why the policy
/// could not be evaluated.
pub fn evaluate(pinned: &pin::Pinned, input: &Value) -> Result<Vec<RuleResult>, GateError> {
    sandbox::evaluate_bounded(&pinned.text, &pinned.policy, input)
}

/// The verdict of `results`: admitted, or the denial / the errors.
pub fn judge(pinned: &pin::Pinned, results: Vec<RuleResult>) -> Result<Admission, GateError> {
    let errors: Vec<RuleResult> = results
        .iter()
        .filter(|r| r.outcome == Outcome::Error)
        .cloned()
        .collect();
    if !errors.is_empty() {
        return Err(GateError::RuleErrors {
            policy: pinned.sha256.clone(),
            rules: errors,
        });
    }
    let failed: Vec<RuleResult> = results
        .iter()
        .filter(|r| r.outcome == Outcome::Fail)
        .cloned()
        .collect();
    if !failed.is_empty() {
        return Err(GateError::Denied {
            policy: pinned.sha256.clone(),
            rules: failed,
        });
    }
    Ok(Admission {
        sha256: pinned.sha256.clone(),
        name: pinned.policy.name.clone(),
        results,
    })
}

/// The gate of `verify`, `unpack` and `publish`: after every other check
/// passed, the store's pinned policy (if any) over the verdict. `None`:
/// the store pins no policy (airlock's own checks decide alone).
pub fn enforce(
    store: &dyn TrustStore,
    state: &StoreState,
    verdict: &Verdict,
) -> Result<Option<Admission>, Error> {
    enforce_document(
        store,
        state,
        &input::Document::of(verdict, state.latest_time),
    )
}

/// [`enforce`] over an input document already built (`unpack` keeps it
/// too): its JSON tree is built only when a policy is pinned.
pub fn enforce_document(
    store: &dyn TrustStore,
    state: &StoreState,
    doc: &input::Document<'_>,
) -> Result<Option<Admission>, Error> {
    enforce_with(store, state, || doc.to_value())
}

/// [`enforce`] over an input document as a JSON tree (for `publish DIR`,
/// the one recorded with the import, [`input::recorded`]).
pub fn enforce_input(
    store: &dyn TrustStore,
    state: &StoreState,
    doc: Value,
) -> Result<Option<Admission>, Error> {
    enforce_with(store, state, || doc)
}

fn enforce_with(
    store: &dyn TrustStore,
    state: &StoreState,
    input: impl FnOnce() -> Value,
) -> Result<Option<Admission>, Error> {
    let Some(pinned) = pin::load(store, state)? else {
        return Ok(None);
    };
    let results = evaluate(&pinned, &input())?;
    Ok(Some(judge(&pinned, results)?))
}
