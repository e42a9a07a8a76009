//! The gate's error: why a bundle was not admitted, or a policy or receipt
//! cannot be used.
use serde_json::{Value, json};

use super::rule::RuleResult;

/// Who has to act on a [`GateError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateFault {
    /// The bundle is refused (exit 1).
    Bundle,
    /// The operator's policy file (exit 2).
    Operator,
    /// The store's environment (exit 3).
    Environment,
}

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

    /// Who has to act: a refusal of the bundle, the operator's policy
    /// file, or a store whose policy was changed behind airlock's back.
    pub fn fault(&self) -> GateFault {
        match self {
            GateError::Invalid { .. } => GateFault::Operator,
            GateError::Tampered { .. } => GateFault::Environment,
            _ => GateFault::Bundle,
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
