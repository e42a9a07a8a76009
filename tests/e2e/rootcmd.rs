//! `root init`, `root rotate`, `root sign` and `root verify` as an operator
//! uses them: what `root sign` says is missing, what `root verify` prints,
//! and the refusals that leave every file as it was.
use std::fs;

use crate::common::World;

/// Keys a, b, c, d (root) and rel, rel2 (targets); 1.root.json: 2 of a, b, c.
fn world() -> World {
    let w = World::bare();
    for k in ["a", "b", "c", "d", "rel", "rel2"] {
        w.run(&["keygen", "--out", &format!("keys/{k}")]).ok();
    }
    w.run(&[
        "root",
        "init",
        "--layout-key",
        "keys/rel.pub",
        "--out",
        "1.root.json",
        "--root-key",
        "keys/a.pub",
        "keys/b.pub",
        "keys/c.pub",
        "--root-threshold",
        "2",
        "--targets-key",
        "keys/rel.pub",
    ])
    .ok();
    w
}

fn keyid(w: &World, key: &str) -> String {
    let r = w.run(&["key", "id", &format!("keys/{key}.pub")]).ok();
    r.stdout.split_whitespace().next().unwrap().to_owned()
}

#[test]
fn a_rotation_from_init_to_verify() {
    let w = world();
    let r = w
        .root_sign("1.root.json", &["keys/a.pem"], &["--json"])
        .ok();
    let j = r.json();
    assert_eq!(j["complete"], false);
    assert_eq!(j["missing"].as_array().unwrap().len(), 2, "b or c");
    w.root_sign("1.root.json", &["keys/b.pem"], &[]).ok();

    // 2: c replaced by d, threshold 3, a new targets key.
    let r = w
        .run(&[
            "root",
            "rotate",
            "--from",
            "1.root.json",
            "--out",
            "2.root.json",
            "--add-root-key",
            "keys/d.pub",
            "--remove-root-key",
            &keyid(&w, "c"),
            "--root-threshold",
            "3",
            "--targets-key",
            "keys/rel2.pub",
            "--expires",
            "30d",
        ])
        .ok();
    assert!(
        r.stdout
            .contains("it must be signed by 2 of the root keys of version 1"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("and 3 of its own"), "{}", r.stdout);

    // Signed by a alone: both thresholds still short; the previous version is
    // found beside the file.
    let r = w
        .root_sign("2.root.json", &["keys/a.pem"], &["--json"])
        .ok();
    let j = r.json();
    assert_eq!(j["complete"], false);
    assert_eq!(j["previous"]["version"], 1);
    assert_eq!(j["previous"]["complete"], false);
    let mut missing_now: Vec<String> = j["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    missing_now.sort();
    let mut want = vec![keyid(&w, "b"), keyid(&w, "d")];
    want.sort();
    assert_eq!(missing_now, want);
    let r = w.root_sign("2.root.json", &["keys/a.pem"], &[]).ok();
    assert!(
        r.stdout.contains("root keys of version 1 (previous, ")
            && r.stdout
                .contains("still missing a signature from 1 more of"),
        "{}",
        r.stdout
    );
    let r = w.root_verify("1.root.json", &["2.root.json"]);
    r.fails(
        1,
        "rotation 1 -> 2 (2.root.json): root version 2 is signed by 1 of the 2 root keys of version 1 it needs",
    );

    // The old key c still counts for version 1 (it is not in version 2).
    let r = w
        .root_sign("2.root.json", &["keys/c.pem", "keys/b.pem"], &["--json"])
        .ok();
    assert_eq!(r.json()["previous"]["complete"], true);
    assert_eq!(r.json()["complete"], false, "a and b: 2 of 3");
    let r = w.root_sign("2.root.json", &["keys/d.pem"], &[]).ok();
    assert!(
        r.stdout.contains("complete: the rotation is fully signed"),
        "{}",
        r.stdout
    );

    let r = w.root_verify("1.root.json", &["2.root.json"]).ok();
    assert!(
        r.stdout.contains("VALID: final root version 2"),
        "{}",
        r.stdout
    );
    let r = w
        .root_verify("1.root.json", &["2.root.json", "--json"])
        .ok();
    assert_eq!(r.json()["version"], 2);
    assert_eq!(r.json()["rotations"], 1);
    // Expiry: only the final root, at --at.
    let r = w.root_verify(
        "1.root.json",
        &["2.root.json", "--at", "2030-01-01T00:00:00Z"],
    );
    let r = r.fails(1, "final root 2.root.json: root version 2 expired at");
    assert!(r.stderr.contains("warning: --at overrides"), "{}", r.stderr);
}

#[test]
fn roots_are_applied_in_version_order() {
    let w = world();
    w.root_sign("1.root.json", &["keys/a.pem", "keys/b.pem"], &[])
        .ok();
    let mut prev = "1.root.json".to_owned();
    for v in 2..=11 {
        let out = format!("{v}.root.json");
        w.run(&["root", "rotate", "--from", &prev, "--out", &out])
            .ok();
        w.root_sign(&out, &["keys/a.pem", "keys/b.pem"], &[]).ok();
        prev = out;
    }
    // A shell glob puts 10 and 11 before 2.
    let r = w
        .root_verify(
            "1.root.json",
            &[
                "10.root.json",
                "11.root.json",
                "2.root.json",
                "3.root.json",
                "4.root.json",
                "5.root.json",
                "6.root.json",
                "7.root.json",
                "8.root.json",
                "9.root.json",
                "--json",
            ],
        )
        .ok();
    assert_eq!(r.json()["version"], 11);
    // A gap is named.
    let r = w.root_verify("1.root.json", &["2.root.json", "4.root.json"]);
    r.fails(
        1,
        "rotation 2 -> 4 (4.root.json): root version 4 cannot follow version 2",
    );
    // The trusted file among the roots (a glob) is skipped; another root of
    // the trusted version is refused.
    let r = w
        .root_verify("1.root.json", &["1.root.json", "2.root.json"])
        .ok();
    assert!(
        r.stdout
            .contains("skipped   1.root.json (the trusted root itself)"),
        "{}",
        r.stdout
    );
    fs::copy(w.path("1.root.json"), w.path("1b.root.json")).unwrap();
    let r = w.root_verify("1.root.json", &["1b.root.json", "--json"]);
    assert_eq!((r.code, r.error_code().as_str()), (1, "root-version"));
}

#[test]
fn root_verify_limits_and_operator_mistakes() {
    let w = world();
    w.root_sign("1.root.json", &["keys/a.pem", "keys/b.pem"], &[])
        .ok();
    // More than 256 rotations: refused before anything is read.
    let mut args = vec!["root", "verify", "--json", "--trusted", "1.root.json"];
    args.extend(std::iter::repeat_n("1.root.json", 258));
    let r = w.run(&args);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "root-too-many-rotations")
    );
    // A root over python-tuf's 512000-byte limit is a refused root (1), not a
    // usage error.
    let mut big = fs::read(w.path("1.root.json")).unwrap();
    big.resize(512_001, b' ');
    w.write("big.root.json", &big);
    let r = w.root_verify("1.root.json", &["big.root.json"]);
    r.fails(
        1,
        "root file big.root.json: root metadata is 512001 bytes, over the limit of 512000",
    );
    big.truncate(512_000);
    w.write("big.root.json", &big);
    w.root_verify("big.root.json", &[]).ok();
    // Malformed roots are rejections too.
    w.write("junk.root.json", b"{\"signed\": 1.5}");
    let r = w.root_verify("junk.root.json", &["--json"]);
    assert_eq!((r.code, r.error_code().as_str()), (1, "root-malformed"));
    // A missing file and a bad --at are the operator's.
    w.root_verify("1.root.json", &["nope.root.json"])
        .fails(2, "cannot read nope.root.json");
    w.root_verify("1.root.json", &["--at", "tomorrow"])
        .fails(2, "is not a UTC time");
}

#[test]
fn refusals_leave_every_file_as_it_was() {
    let w = world();
    w.root_sign("1.root.json", &["keys/a.pem"], &[]).ok();
    let v1 = fs::read(w.path("1.root.json")).unwrap();
    // A key of no root role: nothing signed, even with a good key first.
    let r = w.root_sign("1.root.json", &["keys/b.pem", "keys/rel.pem"], &[]);
    r.fails(2, "is not a root key of version 1");
    assert_eq!(fs::read(w.path("1.root.json")).unwrap(), v1);
    // A public key where a private one is needed.
    w.root_sign("1.root.json", &["keys/b.pub"], &[])
        .fails(2, "this is a public key");
    assert_eq!(fs::read(w.path("1.root.json")).unwrap(), v1);

    // rotate: thresholds that cannot be met, unknown keys, existing output.
    for (args, needle) in [
        (
            vec!["--root-threshold", "4"],
            "the root role would need 4 signatures but has 3 distinct usable key(s)",
        ),
        (
            vec!["--remove-root-key", "keys/rel.pub"],
            "is not a root key of version 1",
        ),
        (
            vec!["--remove-root-key", "deadbeef"],
            "\"deadbeef\" is neither a root keyid of version 1 nor a key file",
        ),
        (
            vec!["--add-root-key", "keys/a.pub"],
            "is already a root key",
        ),
        (
            vec!["--targets-key", "keys/rel2.pub", "--targets-threshold", "2"],
            "the targets role would need 2 signatures but has 1",
        ),
        (vec!["--expires", "soon"], "is not a duration"),
    ] {
        let mut full = vec![
            "root",
            "rotate",
            "--from",
            "1.root.json",
            "--out",
            "2.root.json",
        ];
        full.extend(args);
        w.run(&full).fails(2, needle);
        assert!(!w.path("2.root.json").exists(), "{needle}");
    }
    w.write("2.root.json", b"keep me");
    w.run(&[
        "root",
        "rotate",
        "--from",
        "1.root.json",
        "--out",
        "2.root.json",
    ])
    .fails(3, "2.root.json already exists");
    assert_eq!(fs::read(w.path("2.root.json")).unwrap(), b"keep me");
    fs::remove_file(w.path("2.root.json")).unwrap();

    // A key of neither version signing a rotation.
    w.run(&[
        "root",
        "rotate",
        "--from",
        "1.root.json",
        "--out",
        "2.root.json",
    ])
    .ok();
    let v2 = fs::read(w.path("2.root.json")).unwrap();
    w.root_sign("2.root.json", &["keys/d.pem"], &[])
        .fails(2, "is a root key of neither version 2 nor version 1");
    assert_eq!(fs::read(w.path("2.root.json")).unwrap(), v2);
    // --previous must be the version before.
    w.run(&[
        "root",
        "sign",
        "2.root.json",
        "--previous",
        "2.root.json",
        "--key",
        "keys/a.pem",
    ])
    .fails(
        2,
        "--previous 2.root.json is version 2, but 2.root.json is version 2",
    );
}

#[test]
fn rotate_keeps_what_airlock_does_not_know() {
    let w = world();
    // A root with a field and a role key set airlock did not write.
    let mut doc: serde_json::Value =
        serde_json::from_slice(&fs::read(w.path("1.root.json")).unwrap()).unwrap();
    doc["signed"]["x-vendor"] = serde_json::json!({"note": "kept"});
    doc["signed"]["consistent_snapshot"] = serde_json::json!(true);
    w.write(
        "1.root.json",
        serde_json::to_string_pretty(&doc).unwrap().as_bytes(),
    );
    w.root_sign("1.root.json", &["keys/a.pem", "keys/b.pem"], &[])
        .ok();
    w.run(&[
        "root",
        "rotate",
        "--from",
        "1.root.json",
        "--out",
        "2.root.json",
        "--remove-root-key",
        "keys/c.pub",
    ])
    .ok();
    let new: serde_json::Value =
        serde_json::from_slice(&fs::read(w.path("2.root.json")).unwrap()).unwrap();
    assert_eq!(new["signed"]["x-vendor"]["note"], "kept");
    assert_eq!(new["signed"]["consistent_snapshot"], true);
    assert_eq!(new["signed"]["version"], 2);
    assert_eq!(new["signed"]["spec_version"], doc["signed"]["spec_version"]);
    assert_eq!(
        new["signed"]["keys"].as_object().unwrap().len(),
        3,
        "c dropped"
    );
    assert_eq!(new["signatures"], serde_json::json!([]));
    w.root_sign("2.root.json", &["keys/a.pem", "keys/b.pem"], &[])
        .ok();
    w.root_verify("1.root.json", &["2.root.json"]).ok();
}

#[test]
fn more_signatures_than_the_threshold_are_counted_plainly_and_complete_said_once() {
    let w = world();
    let r = w
        .root_sign(
            "1.root.json",
            &["keys/a.pem", "keys/b.pem", "keys/c.pem"],
            &[],
        )
        .ok();
    assert!(
        r.stdout
            .contains("(this root): 3 signatures, 2 required: threshold met"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("3 of 2"), "{}", r.stdout);
    assert_eq!(r.stdout.matches("complete").count(), 1, "{}", r.stdout);
    // root verify counts the same way, for the trusted root and a rotation
    w.run(&[
        "root",
        "rotate",
        "--from",
        "1.root.json",
        "--out",
        "2.root.json",
    ])
    .ok();
    w.root_sign(
        "2.root.json",
        &["keys/a.pem", "keys/b.pem", "keys/c.pem"],
        &[],
    )
    .ok();
    let r = w.root_verify("1.root.json", &["2.root.json"]).ok();
    assert!(
        r.stdout
            .contains("signed by 3 of its root keys (2 required)")
            && r.stdout.contains(
                "signed by 3 of version 1's root keys (2 required) and 3 of its own (2 required)"
            ),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("3 of 2"), "{}", r.stdout);
}
