//! Portable names at pack time (SPEC.md section 4.1): names that would
//! collide or cannot exist on FAT32, exFAT, NTFS or macOS are refused with
//! their own code before anything is written, unless the operator packs a
//! POSIX-only bundle with `--posix-names`. (Crafted bundles that break the
//! rules are refused at verify time: `crafted.rs`.)
use crate::common::{World, listing};

/// Packs `dist/` and asserts exit 2 with `names-not-portable` (pack's own
/// inputs: the operator's to rename), a message naming the rule broken
/// (`why`), and that no bundle (nor a temporary file) was written.
#[track_caller]
fn pack_refused(w: &World, why: &str) {
    w.record_build().ok();
    let before = listing(w.tmp.path());
    let r = w.pack_raw(
        "out.airlock",
        &["keys/release.pem"],
        "1.root.json",
        &["--expires", "30d", "--json"],
    );
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (2, "names-not-portable"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(why),
        "message does not say {why}: {}",
        r.stderr
    );
    assert!(r.stderr.contains("--posix-names"), "no hint: {}", r.stderr);
    assert_eq!(listing(w.tmp.path()), before, "pack wrote something");
}

#[test]
fn pack_refuses_names_that_differ_only_by_case() {
    let w = World::new();
    w.write("dist/readme.md", b"lower\n"); // beside README.md
    pack_refused(&w, "differ only by case");
}

#[test]
fn pack_refuses_names_that_differ_only_by_normalization() {
    let w = World::new();
    w.write("dist/caf\u{e9}.txt", b"nfc\n");
    w.write("dist/cafe\u{301}.txt", b"nfd\n");
    pack_refused(&w, "differ only by Unicode normalization");
}

#[test]
fn pack_refuses_names_no_windows_filesystem_can_hold() {
    for name in ["a:b.txt", "notes.", "nul.txt", "COM3"] {
        let w = World::new();
        w.write(&format!("dist/{name}"), b"x\n");
        pack_refused(&w, "is not portable");
    }
}

#[test]
fn pack_checks_every_entry_not_only_artifacts() {
    let w = World::new();
    w.write("con.json", b"{}");
    w.record_build().ok();
    let r = w.pack_raw(
        "out.airlock",
        &["keys/release.pem"],
        "1.root.json",
        &["--attestation", "con.json", "--json"],
    );
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (2, "names-not-portable"),
        "{}",
        r.stderr
    );
    assert!(!w.path("out.airlock").exists());
}

#[test]
fn posix_names_packs_them_and_the_isolated_side_warns() {
    let w = World::new();
    w.write("dist/readme.md", b"lower\n");
    w.write("dist/a:b.", b"colon\n");
    let p = w.pack("p.airlock", &["--posix-names", "--json"]).ok();
    assert_eq!(p.json()["posix_names"], true);
    assert!(p.stderr.contains("warning: --posix-names"), "{}", p.stderr);
    let v = w.verify("p.airlock").ok();
    assert!(
        v.stderr
            .contains("warning: the bundle is marked POSIX-only"),
        "{}",
        v.stderr
    );
    assert!(v.stdout.contains("names      POSIX-only"), "{}", v.stdout);
    w.unpack("p.airlock", "out").ok();
    assert_eq!(std::fs::read(w.path("out/readme.md")).unwrap(), b"lower\n");
    assert_eq!(
        std::fs::read(w.path("out/README.md")).unwrap(),
        b"# release\n"
    );
    // The journal records which kind of bundle was accepted.
    let shown = w
        .run(&["journal", "show", "--store", "store", "--json"])
        .ok();
    let posix: Vec<Option<bool>> = shown
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["event"] == "verify" || r["event"] == "unpack")
        .map(|r| r["fields"]["posix_names"].as_bool())
        .collect();
    assert_eq!(posix, [Some(true), Some(true)]);
}

#[test]
fn a_portable_bundle_is_not_marked() {
    let w = World::new();
    let p = w.pack("p.airlock", &["--json"]).ok();
    assert_eq!(p.json()["posix_names"], false);
    let v = w
        .run(&["verify", "p.airlock", "--store", "store", "--json"])
        .ok();
    assert_eq!(v.json()["posix_names"], false);
    assert!(!v.stderr.contains("POSIX-only"), "{}", v.stderr);
}
