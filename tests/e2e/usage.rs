//! The command-line contract: help with examples, exit codes, error and hint
//! lines, --json.
use crate::common::{World, airlock_in, anchor_init_args};

#[test]
fn every_command_has_help_with_an_example() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in [
        &["keygen"][..],
        &["key", "id"],
        &["root", "init"],
        &["root", "sign"],
        &["pack"],
        &["inspect"],
        &["verify"],
        &["unpack"],
        &["anchor", "init"],
        &["anchor", "show"],
        &["demo"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let r = airlock_in(dir.path(), &args).ok();
        assert!(
            r.stdout.contains("Example"),
            "{cmd:?} --help has no example:\n{}",
            r.stdout
        );
    }
}

#[test]
fn exit_codes_follow_the_contract() {
    let w = World::new();
    // 2: bad flags, a missing file, a key that does not parse.
    assert_eq!(w.run(&["pack", "--bogus"]).code, 2);
    w.verify("missing.airlock")
        .fails(2, "cannot read missing.airlock");
    w.write("keys/junk.pem", b"not a key");
    w.pack_as("x", &["keys/junk.pem"], "1.root.json", &[])
        .fails(2, "keys/junk.pem is not a usable key");
    // 3: an unprovisioned store.
    w.pack("rel.airlock", &[]).ok();
    w.run(&["verify", "rel.airlock", "--store", "nostore"])
        .fails(3, "is not a provisioned trust store");
    // 2: a directory given as the bundle.
    std::fs::create_dir(w.path("adir")).unwrap();
    w.verify("adir").fails(2, "adir is not a regular file");
    // 1: garbage presented as a bundle.
    w.write("junk.airlock", b"hello");
    w.verify("junk.airlock").fails(1, "");
}

#[test]
fn json_failure_object() {
    let w = World::new();
    w.write("junk.airlock", b"");
    let r = w.run(&["verify", "junk.airlock", "--store", "store", "--json"]);
    assert_eq!(r.code, 1);
    let j = r.json();
    assert_eq!(j["ok"], false);
    assert!(j["errors"][0]["code"].is_string() && j["errors"][0]["message"].is_string());
}

#[test]
fn store_from_environment() {
    let w = World::new();
    w.pack("rel.airlock", &[]).ok();
    let out = std::process::Command::new(crate::common::airlock_bin())
        .current_dir(w.tmp.path())
        .args(["verify", "rel.airlock"])
        .env("AIRLOCK_STORE", "file:store")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn anchor_init_refuses_a_second_time_and_bad_roots() {
    let w = World::new();
    w.run(&anchor_init_args("store", "1.root.json", &[]))
        .fails(3, "already provisioned");
    w.run(&anchor_init_args("s2", "root.layout", &[]))
        .fails(1, "root metadata is malformed");
    w.run(&[
        "root",
        "init",
        "--layout-key",
        "keys/owner.pub",
        "--out",
        "u.root.json",
        "--root-key",
        "keys/root.pub",
        "--targets-key",
        "keys/release.pub",
    ])
    .ok();
    w.run(&anchor_init_args("s3", "u.root.json", &[]))
        .fails(1, "signed by 0 of the 1 root keys");
    let show = w
        .run(&["anchor", "show", "--store", "store", "--json"])
        .ok()
        .json();
    assert_eq!(show["backend"], "file");
    assert_eq!(show["root"]["version"], 1);
}

#[test]
fn demo_runs() {
    let dir = tempfile::tempdir().unwrap();
    let r = airlock_in(dir.path(), &["demo", "--dir", "d"]).ok();
    assert!(r.stdout.contains("REJECTED (exit 1)"), "{}", r.stdout);
    assert!(r.stdout.contains("replay"), "{}", r.stdout);
    assert!(r.stdout.contains("demo complete"), "{}", r.stdout);
    // The tampered copy shows what tampering looks like (a content digest
    // that does not match), not zstd's own checksum.
    assert!(
        r.stdout
            .contains("entry artifacts/firmware/controller.bin does not match its SHA-256 digest"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("compression is invalid"), "{}", r.stdout);
    // Nothing on stderr: no stray warnings (the rogue bundle's skipped
    // check is told in the demo's own words), the store's disclaimer is on
    // stdout with the rest.
    assert!(r.stderr.is_empty(), "{}", r.stderr);
}

#[test]
fn no_progress_output_when_stderr_is_not_a_terminal() {
    let w = World::new();
    // (An explicit --sequence: without one pack warns, by design.)
    let r = w
        .pack("rel.airlock", &["--sequence", "1", "--expires", "30d"])
        .ok();
    assert!(r.stderr.is_empty(), "pack wrote to stderr: {}", r.stderr);
    let r = w.verify("rel.airlock").ok();
    assert!(r.stderr.is_empty(), "verify wrote to stderr: {}", r.stderr);
    let r = w.unpack("rel.airlock", "out").ok();
    assert!(r.stderr.is_empty(), "unpack wrote to stderr: {}", r.stderr);
}
