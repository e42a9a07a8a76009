//! Inspections, soundly (docs/supply-chain.md): by default an inspection is
//! evaluated without running anything only when its outcome can be computed
//! exactly (`true`, `cmp [-s] A B`); any other inspection refuses the chain
//! with `inspection-unevaluable`, naming it — in `intoto verify` and in
//! `pack` (nothing written); `--run-inspections` runs the real command.
use std::fs;

use crate::common::{World, listing};

/// Adds an inspection to the fixture's layout (re-signed by the owner).
pub(crate) fn with_inspection(w: &World, name: &str, run: &[&str], materials: &[&[&str]]) {
    let v: serde_json::Value =
        serde_json::from_slice(&fs::read(w.path("root.layout")).unwrap()).unwrap();
    let mut layout = v["signed"].clone();
    layout["inspect"] = serde_json::json!([{
        "_type": "inspection",
        "name": name,
        "run": run,
        "expected_materials": materials,
        "expected_products": [],
    }]);
    w.write(
        "root.layout",
        serde_json::to_string_pretty(&layout).unwrap().as_bytes(),
    );
    w.run(&["layout", "sign", "root.layout", "--key", "keys/owner.pem"])
        .ok();
}

fn intoto_verify(w: &World, extra: &[&str]) -> crate::common::Run {
    let mut args = vec![
        "intoto",
        "verify",
        "--layout",
        "root.layout",
        "--layout-key",
        "keys/owner.pub",
        "--link-dir",
        "links",
        "--artifacts",
        "dist",
        "--json",
    ];
    args.extend(extra);
    w.run(&args)
}

#[track_caller]
fn refused(r: &crate::common::Run, code: &str) {
    assert_eq!((r.code, r.error_code().as_str()), (1, code), "{}", r.stderr);
}

#[test]
fn an_untar_inspection_is_refused_by_default_and_run_on_request() {
    let w = World::new();
    w.record_build().ok();
    with_inspection(
        &w,
        "untar",
        &["tar", "-xf", "README.md"],
        &[
            &["MATCH", "*", "WITH", "PRODUCTS", "FROM", "build"],
            &["DISALLOW", "*"],
        ],
    );
    let r = intoto_verify(&w, &[]);
    refused(&r, "inspection-unevaluable");
    assert!(r.stderr.contains("'untar'"), "{}", r.stderr);
    // pack refuses it too, before writing anything.
    let before = listing(w.tmp.path());
    let p = w.pack_raw(
        "u.airlock",
        &["keys/release.pem"],
        "1.root.json",
        &["--expires", "36500d", "--json"],
    );
    refused(&p, "inspection-unevaluable");
    assert_eq!(listing(w.tmp.path()), before);
    // Run for real (README.md is no tarball: tar fails).
    refused(
        &intoto_verify(&w, &["--run-inspections"]),
        "inspection-failed",
    );
}

#[test]
fn cmp_inspections_are_evaluated_from_digests() {
    let w = World::new();
    w.write("dist/README.copy", b"# release\n");
    w.record_build().ok();
    let allow: &[&[&str]] = &[&["ALLOW", "*"]];
    with_inspection(
        &w,
        "same",
        &["cmp", "-s", "README.md", "README.copy"],
        allow,
    );
    intoto_verify(&w, &[]).ok();
    w.pack_raw(
        "c.airlock",
        &["keys/release.pem"],
        "1.root.json",
        &["--expires", "36500d"],
    )
    .ok();
    // The verdict says how the inspection was evaluated.
    let v = w.run(&["verify", "c.airlock", "--store", "store"]).ok();
    assert!(
        v.stdout
            .contains("inspection 'same' `cmp README.md README.copy`, evaluated from their SHA-256 without running it"),
        "{}",
        v.stdout
    );
    w.unpack("c.airlock", "out").ok();
    with_inspection(&w, "differ", &["cmp", "README.md", "empty.dat"], allow);
    let r = intoto_verify(&w, &[]);
    refused(&r, "inspection-failed");
    assert!(r.stderr.contains("'differ'"), "{}", r.stderr);
    with_inspection(&w, "missing", &["cmp", "README.md", "nope"], allow);
    refused(&intoto_verify(&w, &[]), "inspection-failed");
    with_inspection(&w, "escape", &["cmp", "README.md", "../x"], allow);
    refused(&intoto_verify(&w, &[]), "inspection-unevaluable");
}
