//! What a policy's rule decided.
use serde::{Deserialize, Serialize};

/// The result of one rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleResult {
    /// The rule's name.
    pub name: String,
    /// `pass`, `fail` or `error`.
    pub outcome: Outcome,
    /// Why it failed or erred (or the rule's description), bounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A rule's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The rule holds.
    Pass,
    /// The rule does not hold: a denial.
    Fail,
    /// The rule could not be evaluated: the policy cannot decide.
    Error,
}
