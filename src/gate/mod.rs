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

pub mod eval;
pub mod file;
pub mod input;
pub mod pin;
pub mod receipt;
pub mod referrer;
pub mod sandbox;

pub use eval::{Outcome, RuleResult};

/// Why the gate did not admit a bundle, or a policy cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    /// The policy ran and at least one rule does not hold.
    #[error("the enclave policy {} denies this bundle: {}", short(.policy), list(.rules))]
    Denied {
        /// The policy's SHA-256.
        policy: String,
        /// The rules that failed.
        rules: Vec<RuleResult>,
    },
    /// Rules that could not be evaluated: the policy cannot decide.
    #[error("the enclave policy {} cannot decide: {}", short(.policy), list(.rules))]
    RuleErrors {
        /// The policy's SHA-256.
        policy: String,
        /// The rules that erred.
        rules: Vec<RuleResult>,
    },
    /// The evaluation did not finish (time or memory limit, a crash).
    #[error("the enclave policy could not be evaluated: {reason}")]
    Failed {
        /// Why.
        reason: String,
    },
    /// A policy file that does not parse or compile.
    #[error("the policy is not valid: {reason}")]
    Invalid {
        /// Why.
        reason: String,
    },
    /// The store's policy file is not the one it pins.
    #[error("the store's pinned policy {path} is not the one it pinned: {reason}")]
    Tampered {
        /// The file.
        path: String,
        /// What differs.
        reason: String,
    },
    /// A receipt that does not verify.
    #[error("the receipt does not verify: {reason}")]
    ReceiptInvalid {
        /// Why.
        reason: String,
    },
}

fn short(sha: &str) -> String {
    format!("sha256:{}", sha.get(..16).unwrap_or(sha))
}

fn list(rules: &[RuleResult]) -> String {
    rules
        .iter()
        .map(|r| match &r.detail {
            Some(d) => format!("rule {} ({d})", r.name),
            None => format!("rule {}", r.name),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl GateError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            GateError::Denied { .. } => "policy-denied",
            GateError::RuleErrors { .. } | GateError::Failed { .. } => "policy-error",
            GateError::Invalid { .. } => "policy-invalid",
            GateError::Tampered { .. } => "policy-tampered",
            GateError::ReceiptInvalid { .. } => "receipt-invalid",
        }
    }

    /// The exit code: a refusal (1), the operator's policy file (2), or a
    /// store whose policy was changed behind airlock's back (3).
    pub fn exit_code(&self) -> i32 {
        match self {
            GateError::Invalid { .. } => crate::error::EXIT_USAGE,
            GateError::Tampered { .. } => crate::error::EXIT_ENVIRONMENT,
            _ => crate::error::EXIT_REJECTED,
        }
    }

    /// One line: what to do.
    pub fn hint(&self) -> &'static str {
        match self {
            GateError::Denied { .. } => {
                "the enclave's policy (`airlock policy show`) does not admit this bundle: ask its producer for one that meets the failed rules, or change the policy with `airlock policy set`"
            }
            GateError::RuleErrors { .. } | GateError::Failed { .. } => {
                "nothing is admitted while the policy cannot decide: try it with `airlock policy test FILE BUNDLE --store STORE`, fix it, and install it with `airlock policy set`"
            }
            GateError::Invalid { .. } => {
                "fix the policy file (docs/policy.md describes the format) and try it with `airlock policy test`"
            }
            GateError::Tampered { .. } => {
                "the store's policy file was changed outside airlock: investigate, then install the intended policy again with `airlock policy set`"
            }
            GateError::ReceiptInvalid { .. } => {
                "this receipt was not signed by the given journal key, or it was altered: do not rely on it"
            }
        }
    }

    /// What a journal record keeps of a refusal by the policy: its digest
    /// and the rules that failed or erred (`None` for other errors).
    pub fn record(&self) -> Option<Value> {
        match self {
            GateError::Denied { policy, rules } | GateError::RuleErrors { policy, rules } => {
                Some(json!({
                    "sha256": policy,
                    "rules": rules.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
                }))
            }
            _ => None,
        }
    }
}

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
    let Some(pinned) = pin::load(store, state)? else {
        return Ok(None);
    };
    let doc = input::document(verdict, state.latest_time);
    let results = evaluate(&pinned, &doc)?;
    Ok(Some(judge(&pinned, results)?))
}

/// The `policy` line and field of an accepted bundle's outcome.
pub fn describe(o: &mut crate::cmd::Outcome, admission: Option<&Admission>) {
    match admission {
        Some(a) => {
            o.line(format!(
                "policy     admitted by sha256:{} ({} rules pass)",
                a.sha256,
                a.results.len()
            ));
            o.field("policy", a.field());
        }
        None => {
            o.field("policy", Value::Null);
        }
    }
}
