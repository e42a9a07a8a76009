//! The in-toto reference vectors (tests/vectors/intoto/, made by
//! scripts/gen-intoto-vectors.sh with in-toto 3.1.0): airlock's verdict must
//! equal the reference's on each, and name the exact error; the
//! `stricter_fail_*` cases are where airlock is deliberately stricter
//! (docs/supply-chain.md, "Where airlock is stricter than the reference").
use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{airlock_in, airlock_in_env, verdict_cases};

pub fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/intoto")
}

/// (case directory, expected exit, expected error code).
fn cases() -> Vec<(PathBuf, i32, String)> {
    verdict_cases(&vectors(), "root.layout")
}

#[test]
fn airlock_agrees_with_the_reference_on_every_vector() {
    let cases = cases();
    assert!(cases.len() >= 30, "only {} in-toto vectors", cases.len());
    let empty = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    for (dir, exit, code) in &cases {
        let expected: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join("expected.json")).unwrap()).unwrap();
        let name = dir.file_name().unwrap().to_str().unwrap();
        let stricter = name.starts_with("stricter_");
        let reference_exit = expected["reference_exit"].as_i64().unwrap();
        assert_eq!(
            reference_exit,
            if *exit == 0 || stricter { 0 } else { 1 },
            "{name}: its name disagrees with the reference verdict it records"
        );
        let mut keys: Vec<String> = fs::read_dir(dir.join("keys"))
            .unwrap()
            .map(|e| e.unwrap().path().display().to_string())
            .collect();
        keys.sort();
        let artifacts = if dir.join("artifacts").is_dir() {
            dir.join("artifacts")
        } else {
            empty.path().to_owned()
        };
        let layout = dir.join("root.layout").display().to_string();
        let links = dir.join("links").display().to_string();
        let artifacts = artifacts.display().to_string();
        let mut args = vec![
            "intoto",
            "verify",
            "--json",
            "--layout",
            &layout,
            "--link-dir",
            &links,
            "--artifacts",
            &artifacts,
            "--layout-key",
        ];
        args.extend(keys.iter().map(String::as_str));
        // Without --run-inspections airlock runs nothing: with an empty PATH
        // (no tar, no sha256sum to find) the verdict is the same.
        let r = airlock_in_env(empty.path(), &args, &[("PATH", empty.path())]);
        if name.starts_with("pass_inspection_") && r.code == 0 {
            // How each inspection was evaluated: built in, never run.
            let v = r.json();
            for i in v["inspection_results"].as_array().unwrap() {
                let by = i["evaluated_by"].as_str().unwrap();
                assert!(by.starts_with("builtin:"), "{name}: {i}");
                assert_eq!(i["result"], "pass", "{name}");
            }
        }
        let got = if r.code == 0 {
            String::new()
        } else {
            r.error_code()
        };
        if (r.code, &got) != (*exit, code) {
            wrong.push(format!(
                "{name}: expected exit {exit} {code}, got exit {} {got}: {}",
                r.code,
                r.stderr.trim()
            ));
        }
        // With --run-inspections (the inspections run as the reference
        // runs them), the reference's verdict and the expected code.
        if let Some(want) = expected.get("with_run_inspections") {
            args.push("--run-inspections");
            let r = airlock_in(empty.path(), &args);
            if r.code == 0 {
                let v = r.json();
                for i in v["inspection_results"].as_array().unwrap() {
                    assert_eq!(i["evaluated_by"], "ran", "{name}: {i}");
                }
            }
            let got = if r.code == 0 {
                String::new()
            } else {
                r.error_code()
            };
            let want = (
                want["exit"].as_i64().unwrap() as i32,
                want["code"].as_str().unwrap().to_owned(),
            );
            assert_eq!(i64::from(want.0), reference_exit, "{name}");
            if (r.code, got.clone()) != want {
                wrong.push(format!(
                    "{name} --run-inspections: expected {want:?}, got exit {} {got}: {}",
                    r.code,
                    r.stderr.trim()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "verdicts differ:\n{}", wrong.join("\n"));
}

/// Statement v1 attestations (tests/vectors/intoto/attestations/): parsed
/// and signature-checked as `pack`/`verify` do, with the verdict the
/// reference checks gave.
#[test]
fn attestation_vectors_get_their_verdicts() {
    use airlock::intoto::statement;
    use airlock::keys::{KeyObject, key_object, keyid, load_public_key};
    let dir = vectors().join("attestations");
    let expected: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let cases = expected.as_object().unwrap();
    assert!(cases.len() >= 8);
    for (file, case) in cases {
        let pk = load_public_key(&dir.join(case["key"].as_str().unwrap())).unwrap();
        let keys = [(keyid(&pk), KeyObject::parse(&key_object(&pk)).unwrap())].into();
        let verdict = match statement::parse(&fs::read(dir.join(file)).unwrap()) {
            Ok(st) if !st.signers(&keys).is_empty() => "pass",
            _ => "fail",
        };
        assert_eq!(verdict, case["verdict"].as_str().unwrap(), "{file}");
        // The failure class in the name is the one airlock finds.
        if let Some(kind) = file.strip_prefix("fail_").and_then(|f| f.split('_').next()) {
            let parsed = statement::parse(&fs::read(dir.join(file)).unwrap());
            match kind {
                "signature" => assert!(parsed.unwrap().signers(&keys).is_empty(), "{file}"),
                "payload-type" | "statement" => assert!(parsed.is_err(), "{file}"),
                other => panic!("{file}: unknown failure class {other}"),
            }
        }
    }
}
