//! The enclave policy file (docs/policy.md): one TOML document naming its
//! language (CEL or Rego), its named rules and its evaluation limits. The
//! file's exact bytes are what a store pins (by SHA-256) and what a receipt
//! names.
use serde::Deserialize;

use super::GateError;

/// The largest policy file accepted (bytes).
pub const MAX_POLICY_BYTES: usize = 1 << 20;
/// The most rules (and expected attributes) a policy may have.
pub const MAX_RULES: usize = 256;
/// Default evaluation time limit (milliseconds).
pub const DEFAULT_TIME_MS: u64 = 5_000;
/// Highest evaluation time limit a policy may ask for (milliseconds).
pub const MAX_TIME_MS: u64 = 60_000;
/// Default memory limit of the evaluating process's heap (MiB).
pub const DEFAULT_MEMORY_MIB: u64 = 512;
/// Lowest and highest memory limits a policy may ask for (MiB).
pub const MEMORY_MIB_RANGE: (u64, u64) = (32, 4096);

/// The policy's language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Common Expression Language: each rule is a boolean expression.
    Cel,
    /// Rego (OPA 1.0 syntax): each rule is a query over the policy's module.
    Rego,
}

impl Language {
    /// `cel` or `rego`.
    pub fn name(self) -> &'static str {
        match self {
            Language::Cel => "cel",
            Language::Rego => "rego",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    format: u32,
    #[serde(default)]
    name: Option<String>,
    language: Language,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    rego: Option<String>,
    #[serde(default, rename = "rule")]
    rules: Vec<RawRule>,
    #[serde(default, rename = "expected_predicate")]
    expected: Vec<RawExpected>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    time_ms: Option<u64>,
    memory_mib: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    expr: String,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpected {
    predicate_type: String,
    #[serde(default)]
    allow_if_no_claim: bool,
    expected_attributes: Vec<RawAttribute>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttribute {
    name: String,
    rule: String,
    #[serde(default)]
    debug: Option<String>,
}

/// One named rule over the whole input document.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Its name (`[A-Za-z0-9._-]{1,64}`, unique in the policy).
    pub name: String,
    /// A CEL expression, or a Rego query, that must be `true`.
    pub expr: String,
    /// What it is for (shown when it fails).
    pub description: Option<String>,
}

/// ITE-11's `expectedAttributes` for one predicate type: every verified
/// attestation of that type must satisfy every attribute rule.
#[derive(Clone, Debug)]
pub struct ExpectedPredicate {
    /// The `predicateType` this applies to.
    pub predicate_type: String,
    /// Whether a bundle with no attestation of this type passes.
    pub allow_if_no_claim: bool,
    /// The rules (`name`, CEL `rule`, `debug` text).
    pub attributes: Vec<Rule>,
}

/// Evaluation limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock limit of one evaluation (milliseconds).
    pub time_ms: u64,
    /// Heap limit of the evaluating process (MiB).
    pub memory_mib: u64,
}

/// A parsed, checked policy file.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The policy's own name, if it gives one.
    pub name: Option<String>,
    /// Its language.
    pub language: Language,
    /// Its limits.
    pub limits: Limits,
    /// The Rego module (Rego policies).
    pub rego: Option<String>,
    /// Rules over the whole input.
    pub rules: Vec<Rule>,
    /// Per-predicate-type attribute rules (CEL policies).
    pub expected: Vec<ExpectedPredicate>,
}

/// Whether `s` is a rule name: 1 to 64 of `A-Z a-z 0-9 . _ -`. Rule names
/// reach metrics labels and journal records, so they are kept plain.
pub fn is_rule_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn invalid(reason: impl Into<String>) -> GateError {
    GateError::Invalid {
        reason: reason.into(),
    }
}

impl Policy {
    /// Parses and checks a policy file's bytes (not its expressions: see
    /// [`super::eval::compile`]).
    pub fn parse(bytes: &[u8]) -> Result<Policy, GateError> {
        if bytes.len() > MAX_POLICY_BYTES {
            return Err(invalid(format!(
                "the policy file is {} bytes; at most {MAX_POLICY_BYTES} are accepted",
                bytes.len()
            )));
        }
        let text =
            std::str::from_utf8(bytes).map_err(|_| invalid("the policy file is not UTF-8"))?;
        let raw: Raw = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if raw.format != 1 {
            return Err(invalid(format!(
                "format = {} is not a policy format this airlock reads (1)",
                raw.format
            )));
        }
        let time_ms = raw.limits.time_ms.unwrap_or(DEFAULT_TIME_MS);
        if !(1..=MAX_TIME_MS).contains(&time_ms) {
            return Err(invalid(format!(
                "limits.time_ms = {time_ms}: give 1 to {MAX_TIME_MS}"
            )));
        }
        let memory_mib = raw.limits.memory_mib.unwrap_or(DEFAULT_MEMORY_MIB);
        let (lo, hi) = MEMORY_MIB_RANGE;
        if !(lo..=hi).contains(&memory_mib) {
            return Err(invalid(format!(
                "limits.memory_mib = {memory_mib}: give {lo} to {hi}"
            )));
        }
        let mut names = std::collections::BTreeSet::new();
        let mut check_name = |n: &str| -> Result<(), GateError> {
            if !is_rule_name(n) {
                return Err(invalid(format!(
                    "rule name {} is not 1 to 64 characters of A-Z a-z 0-9 . _ -",
                    crate::excerpt(n)
                )));
            }
            if !names.insert(n.to_owned()) {
                return Err(invalid(format!("rule name {n} is used twice")));
            }
            Ok(())
        };
        let mut rules = Vec::new();
        for r in raw.rules {
            check_name(&r.name)?;
            rules.push(Rule {
                name: r.name,
                expr: r.expr,
                description: r.description,
            });
        }
        let mut expected = Vec::new();
        for e in raw.expected {
            if e.predicate_type.is_empty() {
                return Err(invalid("an expected_predicate has an empty predicate_type"));
            }
            if e.expected_attributes.is_empty() {
                return Err(invalid(format!(
                    "expected_predicate {} has no expected_attributes",
                    crate::excerpt(&e.predicate_type)
                )));
            }
            let mut attributes = Vec::new();
            for a in e.expected_attributes {
                check_name(&a.name)?;
                attributes.push(Rule {
                    name: a.name,
                    expr: a.rule,
                    description: a.debug,
                });
            }
            expected.push(ExpectedPredicate {
                predicate_type: e.predicate_type,
                allow_if_no_claim: e.allow_if_no_claim,
                attributes,
            });
        }
        if names.is_empty() {
            return Err(invalid(
                "the policy has no rules: give at least one [[rule]] (or, in CEL, an [[expected_predicate]])",
            ));
        }
        if names.len() > MAX_RULES {
            return Err(invalid(format!(
                "the policy has {} rules; at most {MAX_RULES}",
                names.len()
            )));
        }
        match (raw.language, &raw.rego) {
            (Language::Rego, None) => {
                return Err(invalid(
                    "a Rego policy needs its module: rego = '''package airlock ...'''",
                ));
            }
            (Language::Cel, Some(_)) => {
                return Err(invalid("a CEL policy has no `rego` module"));
            }
            (Language::Rego, Some(_)) if !expected.is_empty() => {
                return Err(invalid(
                    "[[expected_predicate]] is for CEL policies; in Rego, write the check in the module",
                ));
            }
            _ => {}
        }
        Ok(Policy {
            name: raw.name,
            language: raw.language,
            limits: Limits {
                time_ms,
                memory_mib,
            },
            rego: raw.rego,
            rules,
            expected,
        })
    }

    /// Every rule name, in evaluation order.
    pub fn rule_names(&self) -> Vec<String> {
        self.rules
            .iter()
            .map(|r| r.name.clone())
            .chain(
                self.expected
                    .iter()
                    .flat_map(|e| e.attributes.iter().map(|a| a.name.clone())),
            )
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let p = Policy::parse(
            br#"format = 1
language = "cel"
[[rule]]
name = "channel"
expr = 'manifest.channel == "stable"'
[[expected_predicate]]
predicate_type = "https://slsa.dev/provenance/v1"
[[expected_predicate.expected_attributes]]
name = "builder"
rule = 'predicate.runDetails.builder.id == "b"'
"#,
        )
        .unwrap();
        assert_eq!(p.rule_names(), vec!["channel", "builder"]);
        assert_eq!(p.limits.time_ms, DEFAULT_TIME_MS);
        for bad in [
            &b"format = 2\nlanguage = \"cel\"\n[[rule]]\nname = \"a\"\nexpr = \"true\"\n"[..],
            b"format = 1\nlanguage = \"cel\"\n",
            b"format = 1\nlanguage = \"rego\"\n[[rule]]\nname = \"a\"\nexpr = \"true\"\n",
            b"format = 1\nlanguage = \"cel\"\n[[rule]]\nname = \"a b\"\nexpr = \"true\"\n",
            b"format = 1\nlanguage = \"cel\"\n[[rule]]\nname = \"a\"\nexpr = \"true\"\n[[rule]]\nname = \"a\"\nexpr = \"true\"\n",
            b"format = 1\nlanguage = \"cel\"\nextra = 1\n[[rule]]\nname = \"a\"\nexpr = \"true\"\n",
            b"format = 1\nlanguage = \"cel\"\n[limits]\ntime_ms = 0\n[[rule]]\nname = \"a\"\nexpr = \"true\"\n",
        ] {
            assert!(
                matches!(Policy::parse(bad), Err(GateError::Invalid { .. })),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
