//! The TUF root-chain reference vectors (tests/vectors/tuf/, made by
//! scripts/gen-tuf-vectors.sh with python-tuf): `airlock root verify` must
//! reach python-tuf's verdict on each — the same final version on a pass,
//! exit 1 with the exact error code on a failure — except the
//! `stricter_fail_*` cases, where airlock is deliberately stricter
//! (docs/key-rotation.md: thresholds count distinct public keys).
use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{airlock_in, verdict_cases};

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/tuf")
}

/// (case directory, expected exit, expected error code).
fn cases() -> Vec<(PathBuf, i32, String)> {
    verdict_cases(&vectors(), "expected.json")
}

#[test]
fn airlock_agrees_with_python_tuf_on_every_root_chain() {
    let cases = cases();
    assert!(cases.len() >= 40, "only {} TUF vectors", cases.len());
    let mut wrong = Vec::new();
    for (dir, exit, code) in &cases {
        let name = dir.file_name().unwrap().to_str().unwrap();
        let expected: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join("expected.json")).unwrap()).unwrap();
        let stricter = name.starts_with("stricter_");
        assert_eq!(
            expected["reference_exit"].as_i64().unwrap(),
            if *exit == 0 || stricter { 0 } else { 1 },
            "{name}: its name disagrees with the reference verdict it records"
        );
        let at = expected["reference_time"].as_str().unwrap();
        let trusted = expected["trusted"].as_str().unwrap();
        let chain: Vec<&str> = expected["chain"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let mut args = vec!["root", "verify", "--json", "--at", at, "--trusted", trusted];
        args.extend(&chain);
        let r = airlock_in(dir, &args);
        let got = if r.code == 0 {
            let v = r.json()["version"].as_u64();
            if v != expected["reference_final_version"].as_u64() {
                wrong.push(format!(
                    "{name}: final version {v:?}, python-tuf says {}",
                    expected["reference_final_version"]
                ));
            }
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
    }
    assert!(wrong.is_empty(), "verdicts differ:\n{}", wrong.join("\n"));
}

/// A failure names the link of the chain where it happened.
#[test]
fn a_refusal_names_the_failing_link() {
    let dir = vectors().join("fail_root-threshold_revoked_key_signs_next");
    let r = airlock_in(
        &dir,
        &[
            "root",
            "verify",
            "--at",
            "2026-06-01T00:00:00Z",
            "--trusted",
            "1.root.json",
            "2.root.json",
            "3.root.json",
        ],
    );
    r.fails(
        1,
        "rotation 2 -> 3 (3.root.json): root version 3 is signed by 0 of the 1 root keys of version 2 it needs",
    );
    let dir = vectors().join("fail_root-expired_final");
    let r = airlock_in(
        &dir,
        &[
            "root",
            "verify",
            "--at",
            "2026-06-01T00:00:00Z",
            "--trusted",
            "1.root.json",
            "2.root.json",
        ],
    );
    r.fails(
        1,
        "final root 2.root.json: root version 2 expired at 2026-01-01T00:00:00Z",
    );
    let dir = vectors().join("fail_root-threshold_trusted_not_self_signed");
    airlock_in(
        &dir,
        &["root", "verify", "--trusted", "1.root.json"],
    )
    .fails(
        1,
        "trusted root 1.root.json: root version 1 is signed by 1 of the 2 root keys of version 1 it needs",
    );
}
