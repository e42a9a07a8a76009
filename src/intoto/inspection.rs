//! Inspections evaluated faithfully without running anything
//! (docs/supply-chain.md, "Inspections").
//!
//! An inspection's link, in the reference, records the files in the
//! working directory before (materials) and after (products) its command
//! ran, and the verification fails when the command exits non-zero. airlock
//! does not run commands by default: it recognizes the few command forms
//! whose effect it can compute exactly from the artifacts under
//! verification, computes the link they would have produced, and refuses
//! every other inspection (`inspection-unevaluable`, naming it) rather than
//! pretend a check passed that did not run. The forms, exactly:
//!
//! - `true` — runs nothing and writes nothing: materials = products = the
//!   artifacts under verification.
//! - `cmp [-s|--silent|--quiet] A B` — two artifacts under verification,
//!   relative paths as the artifacts are named: equal SHA-256 is equal
//!   bytes, exit 0 (materials = products = the artifacts); different or
//!   missing, the inspection fails (`inspection-failed`), as `cmp`'s exit 1
//!   or 2 fails the reference's verification.
//!
//! Anything else (`tar -xf`, `sha256sum -c`, scripts, options in other
//! places, absolute or `..` paths) is not evaluated.
use super::IntotoError;
use super::model::Artifacts;

/// How an inspection was (or would be) evaluated: shown in the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evaluator {
    /// `true`.
    True,
    /// `cmp A B` (any accepted option spelling).
    Cmp(String, String),
}

impl Evaluator {
    /// A short description for the verdict line.
    pub fn describe(&self) -> String {
        match self {
            Evaluator::True => "`true`, evaluated without running it".to_owned(),
            Evaluator::Cmp(a, b) => {
                format!("`cmp {a} {b}`, evaluated from their SHA-256 without running it")
            }
        }
    }
}

/// A path as an inspection may name an artifact: relative, no `.`/`..`
/// components, not an option.
fn artifact_arg(s: &str) -> Option<String> {
    let ok = !s.is_empty()
        && !s.starts_with('-')
        && !s.starts_with('/')
        && s.split('/').all(|c| !c.is_empty() && c != "." && c != "..");
    ok.then(|| s.to_owned())
}

/// The evaluator for `run`, or why there is none.
pub fn classify(run: &[String]) -> Result<Evaluator, String> {
    let args: Vec<&str> = run.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["true"] => Ok(Evaluator::True),
        ["cmp", a, b] | ["cmp", "-s" | "--silent" | "--quiet", a, b] => {
            match (artifact_arg(a), artifact_arg(b)) {
                (Some(a), Some(b)) => Ok(Evaluator::Cmp(a, b)),
                _ => Err("`cmp` takes two relative artifact paths".to_owned()),
            }
        }
        [] => Err("the inspection has no command".to_owned()),
        _ => {
            Err("airlock evaluates only `true` and `cmp [-s] A B` without running them".to_owned())
        }
    }
}

/// Evaluates the inspection `name` (command `run`) over `artifacts`: the
/// artifacts it would have recorded as materials and products, or the
/// refusal.
pub fn evaluate(name: &str, run: &[String], artifacts: &Artifacts) -> Result<(), IntotoError> {
    let evaluator = classify(run).map_err(|reason| IntotoError::InspectionUnevaluable {
        name: name.to_owned(),
        command: run.join(" "),
        reason,
    })?;
    match evaluator {
        Evaluator::True => Ok(()),
        Evaluator::Cmp(a, b) => {
            let failed = |reason: String| IntotoError::InspectionFailed {
                name: name.to_owned(),
                reason,
            };
            let digest = |p: &str| {
                artifacts
                    .get(p)
                    .and_then(|d| d.get("sha256").map(|h| h.into_owned()))
                    .ok_or_else(|| failed(format!("cmp: {p}: no such artifact (cmp exits 2)")))
            };
            if digest(&a)? == digest(&b)? {
                Ok(())
            } else {
                Err(failed(format!("cmp: {a} and {b} differ (cmp exits 1)")))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::intoto::Digests;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn only_the_documented_forms_are_evaluated() {
        assert_eq!(classify(&v(&["true"])), Ok(Evaluator::True));
        assert_eq!(
            classify(&v(&["cmp", "-s", "a", "b/c"])),
            Ok(Evaluator::Cmp("a".into(), "b/c".into()))
        );
        for bad in [
            &["tar", "-xzf", "app.tar.gz"][..],
            &["sha256sum", "-c", "SHA256SUMS"],
            &["cmp", "/etc/passwd", "a"],
            &["cmp", "a", "../b"],
            &["cmp", "-l", "a", "b"],
            &["true", "x"],
            &["sh", "-c", "true"],
            &[],
        ] {
            assert!(classify(&v(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cmp_compares_digests() {
        let arts: Artifacts = [
            ("a".to_owned(), Digests::sha256([1; 32])),
            ("b".to_owned(), Digests::sha256([1; 32])),
            ("c".to_owned(), Digests::sha256([2; 32])),
        ]
        .into_iter()
        .collect();
        assert!(evaluate("i", &v(&["cmp", "a", "b"]), &arts).is_ok());
        let e = evaluate("i", &v(&["cmp", "a", "c"]), &arts).unwrap_err();
        assert_eq!(e.code(), "inspection-failed");
        let e = evaluate("i", &v(&["cmp", "a", "zz"]), &arts).unwrap_err();
        assert_eq!(e.code(), "inspection-failed");
        let e = evaluate("i", &v(&["tar", "xf", "a"]), &arts).unwrap_err();
        assert_eq!(e.code(), "inspection-unevaluable");
    }
}
