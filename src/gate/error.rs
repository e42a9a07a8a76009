//! The gate's error: why a bundle was not admitted, or a policy or receipt
//! cannot be used.
use serde_json::{Value, json};

use super::rule::RuleResult;

/// Who has to act on a [`GateError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateFault {
    /// The bundle (or a receipt, a quote) is refused (exit 1).
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
    /// The input document an import kept in the store is not the one its
    /// journal record names.
    #[error("the store's policy input {path} is not the one the import journaled: {reason}")]
    InputTampered {
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
    /// A quote file or TPM structure that does not parse, or is not a
    /// TPM-made quote of PCR 23.
    #[error("the TPM quote is not valid: {reason}")]
    QuoteInvalid {
        /// Why.
        reason: String,
    },
    /// A quote whose signature does not verify with the attestation key.
    #[error("the TPM quote's signature does not verify: {reason}")]
    QuoteSignatureInvalid {
        /// Why.
        reason: String,
    },
    /// A quote signed for another nonce (stale or replayed), or for
    /// another journal head than the file says.
    #[error("the TPM quote was not made for nonce {nonce} (a stale or replayed quote)")]
    QuoteNonceMismatch {
        /// The nonce given (hex).
        nonce: String,
    },
    /// A quote bound to another journal head than the auditor expects.
    #[error("the TPM quote is bound to journal head {quoted}, not {expected}")]
    QuoteJournalMismatch {
        /// The head the auditor gave.
        expected: String,
        /// The head the quote is bound to.
        quoted: String,
    },
    /// The PCR value in a quote file is not the one the TPM quoted.
    #[error("the TPM quote's PCR value does not match: {reason}")]
    QuotePcrMismatch {
        /// Why.
        reason: String,
    },
    /// A nonce that is not 8 to 64 bytes of hex.
    #[error("the nonce is not usable: {reason}")]
    NonceInvalid {
        /// Why.
        reason: String,
    },
    /// A quote asked of a store that is not anchored in a TPM.
    #[error("store {store} is a {backend} store: only a TPM store can quote its measurements")]
    QuoteNeedsTpm {
        /// The store directory.
        store: String,
        /// Its backend.
        backend: String,
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
            GateError::InputTampered { .. } => "policy-input-tampered",
            GateError::ReceiptInvalid { .. } => "receipt-invalid",
            GateError::QuoteInvalid { .. } => "quote-invalid",
            GateError::QuoteSignatureInvalid { .. } => "quote-signature-invalid",
            GateError::QuoteNonceMismatch { .. } => "quote-nonce-mismatch",
            GateError::QuoteJournalMismatch { .. } => "quote-journal-mismatch",
            GateError::QuotePcrMismatch { .. } => "quote-pcr-mismatch",
            GateError::NonceInvalid { .. } => "quote-nonce-invalid",
            GateError::QuoteNeedsTpm { .. } => "quote-needs-tpm",
        }
    }

    /// Who has to act: a refusal of the bundle, the operator's policy
    /// file, or a store whose policy was changed behind airlock's back.
    pub fn fault(&self) -> GateFault {
        match self {
            GateError::Invalid { .. }
            | GateError::NonceInvalid { .. }
            | GateError::QuoteNeedsTpm { .. } => GateFault::Operator,
            GateError::Tampered { .. } | GateError::InputTampered { .. } => GateFault::Environment,
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
            GateError::InputTampered { .. } => {
                "the store's record of what the policy saw at import was changed outside airlock: investigate; nothing is published from this import while a policy is pinned"
            }
            GateError::ReceiptInvalid { .. } => {
                "this receipt was not signed by the given journal key, or it was altered: do not rely on it"
            }
            GateError::QuoteInvalid { .. } => {
                "this is not an intact quote file written by `airlock anchor quote`: ask for a new quote"
            }
            GateError::QuoteSignatureInvalid { .. } => {
                "the quote was not signed by this attestation key (another TPM, or altered): check that --ak-pub is the key recorded for this enclave's TPM"
            }
            GateError::QuoteNonceMismatch { .. } => {
                "the quote is not fresh: ask the enclave for a quote over a new nonce of yours and verify it with that nonce"
            }
            GateError::QuoteJournalMismatch { .. } => {
                "the journal has moved since, or the quote is not this journal's: compare with the journal's head record (`airlock journal show --store STORE`)"
            }
            GateError::QuotePcrMismatch { .. } => {
                "the quote file was altered: do not rely on it; ask for a new quote"
            }
            GateError::NonceInvalid { .. } => {
                "give a fresh random nonce of 8 to 64 bytes in hex, e.g. `openssl rand -hex 32`"
            }
            GateError::QuoteNeedsTpm { .. } => {
                "quotes need a TPM store (`anchor init --tpm TCTI`); a file or PKCS#11 store has no PCRs to quote"
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
