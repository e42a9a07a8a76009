//! Evaluating a policy over an input document, in this process. Only the
//! sandbox's child process ([`super::sandbox`]) calls [`evaluate`]: there
//! the evaluation is bounded in time and memory. [`compile`] (used when a
//! policy is installed or tested) only parses the expressions.
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::file::{Language, Policy, Rule};
use super::rule::{Outcome, RuleResult};

/// The longest detail kept per rule (characters).
const MAX_DETAIL: usize = 300;

fn bounded(s: &str) -> String {
    let mut t: String = s.chars().take(MAX_DETAIL).collect();
    if s.chars().count() > MAX_DETAIL {
        t.push('…');
    }
    t
}

/// Checks that every expression of `policy` parses (and, for Rego, that
/// the module compiles): what `policy set` and `policy test` check first.
pub fn compile(policy: &Policy) -> Result<(), String> {
    match policy.language {
        Language::Cel => {
            let all = policy
                .rules
                .iter()
                .chain(policy.expected.iter().flat_map(|e| e.attributes.iter()));
            for r in all {
                cel::Program::compile(&r.expr)
                    .map_err(|e| format!("rule {}: {}", r.name, bounded(&e.to_string())))?;
            }
            Ok(())
        }
        Language::Rego => {
            let mut engine = rego_engine(policy)?;
            engine
                .set_input_json("{}")
                .map_err(|e| bounded(&e.to_string()))?;
            Ok(())
        }
    }
}

/// Evaluates every rule of `policy` over `input` (docs/policy.md, "The
/// input document").
pub fn evaluate(policy: &Policy, input: &Value) -> Result<Vec<RuleResult>, String> {
    match policy.language {
        Language::Cel => Ok(evaluate_cel(policy, input)),
        Language::Rego => evaluate_rego(policy, input),
    }
}

/// A JSON value as CEL sees it: integers as `int` (`uint` only above
/// i64), other numbers as `double`.
fn to_cel(v: &Value) -> cel::Value {
    match v {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => cel::Value::Int(i),
            (None, Some(u), _) => cel::Value::UInt(u),
            (_, _, Some(f)) => cel::Value::Float(f),
            _ => cel::Value::Null,
        },
        Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        Value::Array(a) => cel::Value::List(Arc::new(a.iter().map(to_cel).collect())),
        Value::Object(o) => {
            let m: HashMap<String, cel::Value> =
                o.iter().map(|(k, v)| (k.clone(), to_cel(v))).collect();
            cel::Value::from(m)
        }
    }
}

/// Runs one CEL expression in `ctx`: `Ok(true/false)`, or why it erred.
fn run_cel(expr: &str, ctx: &cel::Context<'_, '_>) -> Result<bool, String> {
    let program = cel::Program::compile(expr).map_err(|e| bounded(&e.to_string()))?;
    match program.execute(ctx) {
        Ok(cel::Value::Bool(b)) => Ok(b),
        Ok(other) => Err(format!(
            "the expression is not a boolean ({})",
            bounded(&format!("{other:?}"))
        )),
        Err(e) => Err(bounded(&e.to_string())),
    }
}

fn cel_root(input: &Value) -> cel::Context<'static, 'static> {
    let mut ctx = cel::Context::default();
    if let Value::Object(o) = input {
        for (k, v) in o {
            ctx.add_variable_from_value(k.clone(), to_cel(v));
        }
    }
    ctx
}

fn result(rule: &Rule, r: Result<bool, String>) -> RuleResult {
    match r {
        Ok(true) => RuleResult {
            name: rule.name.clone(),
            outcome: Outcome::Pass,
            detail: None,
        },
        Ok(false) => RuleResult {
            name: rule.name.clone(),
            outcome: Outcome::Fail,
            detail: rule.description.as_deref().map(bounded),
        },
        Err(e) => RuleResult {
            name: rule.name.clone(),
            outcome: Outcome::Error,
            detail: Some(e),
        },
    }
}

fn evaluate_cel(policy: &Policy, input: &Value) -> Vec<RuleResult> {
    let root = cel_root(input);
    let mut out = Vec::new();
    for rule in &policy.rules {
        out.push(result(rule, run_cel(&rule.expr, &root)));
    }
    let attestations = input
        .get("attestations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for expected in &policy.expected {
        let claims: Vec<&Value> = attestations
            .iter()
            .filter(|a| {
                a.get("predicate_type").and_then(Value::as_str)
                    == Some(expected.predicate_type.as_str())
            })
            .collect();
        for rule in &expected.attributes {
            if claims.is_empty() {
                let r = if expected.allow_if_no_claim {
                    Ok(true)
                } else {
                    Ok(false)
                };
                let mut res = result(rule, r);
                if res.outcome == Outcome::Fail {
                    res.detail = Some(format!(
                        "no verified attestation of type {}",
                        bounded(&expected.predicate_type)
                    ));
                }
                out.push(res);
                continue;
            }
            // Every claim of the type must hold; the first that does not
            // is named.
            let mut res = result(rule, Ok(true));
            for a in &claims {
                let mut ctx = root.new_inner_scope();
                for (var, key) in [
                    ("predicate", "predicate"),
                    ("predicateType", "predicate_type"),
                    ("subject", "subjects"),
                    ("signers", "signers"),
                ] {
                    ctx.add_variable_from_value(var, to_cel(a.get(key).unwrap_or(&Value::Null)));
                }
                ctx.add_variable_from_value("attestation", to_cel(a));
                let file = a.get("file").and_then(Value::as_str).unwrap_or("?");
                let r = run_cel(&rule.expr, &ctx);
                if r != Ok(true) {
                    res = result(rule, r);
                    let why = res
                        .detail
                        .take()
                        .map_or(String::new(), |d| format!(": {d}"));
                    res.detail = Some(bounded(&format!("attestation {file}{why}")));
                    break;
                }
            }
            out.push(res);
        }
    }
    out
}

fn rego_engine(policy: &Policy) -> Result<regorus::Engine, String> {
    let mut engine = regorus::Engine::new();
    engine.set_strict_builtin_errors(true);
    engine.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
        limit: std::time::Duration::from_millis(policy.limits.time_ms),
        check_interval: std::num::NonZeroU32::MIN,
    });
    let module = policy.rego.clone().unwrap_or_default();
    engine
        .add_policy("policy.rego".into(), module)
        .map_err(|e| bounded(&e.to_string()))?;
    Ok(engine)
}

fn evaluate_rego(policy: &Policy, input: &Value) -> Result<Vec<RuleResult>, String> {
    let mut engine = rego_engine(policy)?;
    engine.set_input(regorus::Value::from(input.clone()));
    let mut out = Vec::new();
    for rule in &policy.rules {
        let r = match engine.eval_query(rule.expr.clone(), false) {
            Err(e) => Err(bounded(&e.to_string())),
            // Undefined: the rule does not hold.
            Ok(q) if q.result.is_empty() => Ok(false),
            Ok(q) => {
                let values: Vec<&regorus::Value> = q
                    .result
                    .iter()
                    .flat_map(|r| r.expressions.iter().map(|e| &e.value))
                    .collect();
                match values.as_slice() {
                    [regorus::Value::Bool(b)] => Ok(*b),
                    [regorus::Value::Undefined] => Ok(false),
                    _ => Err(format!(
                        "the query is not one boolean ({})",
                        bounded(&format!("{values:?}"))
                    )),
                }
            }
        };
        out.push(result(rule, r));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input() -> Value {
        json!({
            "manifest": {"channel": "stable", "sequence": 7},
            "attestations": [{"file": "a", "predicate_type": "https://slsa.dev/provenance/v1",
                "predicate": {"runDetails": {"builder": {"id": "https://b"}}, "score": 9.8},
                "subjects": [], "signers": ["k"]}],
        })
    }

    #[test]
    fn cel_rules_and_expected_attributes() {
        let p = Policy::parse(
            br#"format = 1
language = "cel"
[[rule]]
name = "channel"
expr = 'manifest.channel == "stable" && manifest.sequence > 5'
[[rule]]
name = "broken"
expr = 'manifest.nope == 1'
[[expected_predicate]]
predicate_type = "https://slsa.dev/provenance/v1"
[[expected_predicate.expected_attributes]]
name = "builder"
rule = 'predicate.runDetails.builder.id == "https://b" && predicate.score < 9.9'
[[expected_predicate]]
predicate_type = "https://spdx.dev/Document"
[[expected_predicate.expected_attributes]]
name = "sbom"
rule = 'true'
"#,
        )
        .unwrap();
        compile(&p).unwrap();
        let r = evaluate(&p, &input()).unwrap();
        let o: Vec<_> = r.iter().map(|r| (r.name.as_str(), r.outcome)).collect();
        assert_eq!(
            o,
            vec![
                ("channel", Outcome::Pass),
                ("broken", Outcome::Error),
                ("builder", Outcome::Pass),
                ("sbom", Outcome::Fail)
            ]
        );
    }

    #[test]
    fn rego_rules() {
        let p = Policy::parse(
            br#"format = 1
language = "rego"
rego = '''
package airlock
default stable := false
stable if input.manifest.channel == "stable"
builder_ok if {
  every a in input.attestations { a.predicate.runDetails.builder.id == "https://b" }
}
'''
[[rule]]
name = "stable"
expr = "data.airlock.stable"
[[rule]]
name = "builder"
expr = "data.airlock.builder_ok"
[[rule]]
name = "undefined"
expr = "data.airlock.nothing"
[[rule]]
name = "not-bool"
expr = "input.manifest.channel"
"#,
        )
        .unwrap();
        compile(&p).unwrap();
        let r = evaluate(&p, &input()).unwrap();
        let o: Vec<_> = r.iter().map(|r| (r.name.as_str(), r.outcome)).collect();
        assert_eq!(
            o,
            vec![
                ("stable", Outcome::Pass),
                ("builder", Outcome::Pass),
                ("undefined", Outcome::Fail),
                ("not-bool", Outcome::Error)
            ]
        );
    }
}
