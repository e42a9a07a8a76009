//! The sharp edges a release team meets in its first hour: each a refusal
//! or a warning that says what is wrong instead of a quiet surprise.
use std::fs;

use crate::common::World;

#[test]
fn a_tampered_copy_of_an_imported_bundle_is_tampering_not_replay() {
    let w = World::new();
    w.pack("rel.airlock", &["--sequence", "1"]).ok();
    w.unpack("rel.airlock", "out").ok();
    // The intact bundle again: a replay, nothing to do.
    let r = w.run(&["verify", "rel.airlock", "--store", "store", "--json"]);
    assert_eq!((r.code, r.error_code().as_str()), (1, "replay"));
    // A copy with one payload byte flipped: what is wrong with it is said.
    let mut bytes = fs::read(w.path("rel.airlock")).unwrap();
    let at = bytes.len() - 40;
    bytes[at] ^= 0x01;
    fs::write(w.path("tampered.airlock"), &bytes).unwrap();
    for cmd in ["verify", "unpack"] {
        let mut args = vec![cmd, "tampered.airlock", "--store", "store", "--json"];
        if cmd == "unpack" {
            args.extend(["--to", "again"]);
        }
        let r = w.run(&args);
        assert_eq!(r.code, 1, "{}", r.stdout);
        assert_ne!(r.error_code(), "replay", "{cmd}: {}", r.stdout);
        assert!(!w.path("again").exists());
    }
}

#[test]
fn unpack_at_moves_time_only_forward() {
    let w = World::new();
    w.pack("rel.airlock", &["--sequence", "1"]).ok();
    let before = w.store_state();
    w.run(&[
        "unpack",
        "rel.airlock",
        "--store",
        "store",
        "--to",
        "out",
        "--at",
        "2020-01-01T00:00:00Z",
    ])
    .fails(2, "an import only moves time forward");
    assert!(!w.path("out").exists());
    assert_eq!(w.store_state(), before);
    // verify may look back (it imports nothing).
    let r = w.run(&[
        "verify",
        "rel.airlock",
        "--store",
        "store",
        "--at",
        "2026-11-20T00:00:00Z",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn pack_says_what_expires_before_the_bundle_and_where_the_sequence_comes_from() {
    let w = World::new();
    // The layout expires in about a day; the bundle would live 30 days.
    let soon = airlock::timefmt::format_utc(airlock::timefmt::now() + 86_400);
    w.write_layout_expiring(
        &[("build", "builder", &[], &[&["ALLOW", "*"]])],
        &soon,
        "short-lived",
    );
    let r = w
        .pack_as(
            "rel.airlock",
            &["keys/release.pem"],
            "1.root.json",
            &["--expires", "30d"],
        )
        .ok();
    assert!(
        r.stderr
            .contains(&format!("the layout expires at {soon}, before the bundle")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("no --sequence"), "{}", r.stderr);
}

#[test]
fn journal_details_do_not_repeat_the_code() {
    let w = World::new();
    w.pack("rel.airlock", &["--sequence", "1"]).ok();
    w.unpack("rel.airlock", "out").ok();
    w.unpack("rel.airlock", "out2").fails(1, "replay");
    let show = w.run(&["journal", "show", "--store", "store"]).ok();
    assert!(!show.stdout.contains("replay: replay:"), "{}", show.stdout);
    assert!(show.stdout.contains("replay: bundle"), "{}", show.stdout);
}

#[test]
fn replacing_the_anchor_with_an_older_root_needs_a_flag() {
    let w = World::new();
    w.run(&[
        "root",
        "rotate",
        "--from",
        "1.root.json",
        "--out",
        "2.root.json",
        "--expires",
        "3650d",
    ])
    .ok();
    w.root_sign("2.root.json", &["keys/root.pem"], &[]).ok();
    w.run(&[
        "anchor",
        "init",
        "--store",
        "store",
        "--root",
        "2.root.json",
        "--replace",
    ])
    .ok();
    let before = w.store_state();
    w.run(&[
        "anchor",
        "init",
        "--store",
        "store",
        "--root",
        "1.root.json",
        "--replace",
    ])
    .fails(2, "going back undoes every rotation after version 1");
    assert_eq!(w.store_state(), before);
    w.run(&[
        "anchor",
        "init",
        "--store",
        "store",
        "--root",
        "1.root.json",
        "--replace",
        "--allow-older-root",
    ])
    .ok();
}

#[test]
fn output_directories_are_created() {
    let w = World::bare();
    w.run(&["keygen", "--out", "new/keys/root"]).ok();
    assert!(w.path("new/keys/root.pem").exists());
    let w = World::new();
    w.run(&[
        "record",
        "--name",
        "build",
        "--key",
        "keys/builder.pem",
        "--products",
        "dist",
        "--out-dir",
        "fresh/links",
    ])
    .ok();
    assert_eq!(fs::read_dir(w.path("fresh/links")).unwrap().count(), 1);
    w.pack("out/dir/rel.airlock", &["--sequence", "1"]).ok();
    assert!(w.path("out/dir/rel.airlock").exists());
}

#[test]
fn usage_errors_honour_json_and_every_object_has_a_schema() {
    let w = World::bare();
    let r = w.run(&["verify", "--json"]);
    assert_eq!(r.code, 2);
    let j = r.json();
    assert_eq!(j["schema"], 1);
    assert_eq!(j["ok"], false);
    assert_eq!(j["errors"][0]["code"], "usage");
    assert!(
        j["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("--store <STORE>"),
        "{j}"
    );
    assert!(r.stderr.contains("error:"), "{}", r.stderr);
    let r = w.run(&["keygen", "--out", "k", "--json"]).ok();
    assert_eq!(r.json()["schema"], 1);
    // Without --json, clap's message alone.
    let r = w.run(&["verify"]);
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty());
}

#[test]
fn version_completions_and_man_pages() {
    let w = World::bare();
    let v = w.run(&["--version"]).ok();
    assert!(v.stdout.contains("commit:"), "{}", v.stdout);
    assert!(v.stdout.contains("backends:"), "{}", v.stdout);
    assert!(
        v.stdout.contains(&format!(
            "bundle format:  {}",
            airlock_bundle::FORMAT_VERSION
        )),
        "{}",
        v.stdout
    );
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let r = w.run(&["completions", shell]).ok();
        assert!(r.stdout.contains("anchor"), "{shell}");
    }
    let r = w.run(&["man", "--out", "man1", "--json"]).ok();
    let pages = r.json()["pages"].as_array().unwrap().len();
    assert!(pages > 30, "{pages}");
    let unpack = fs::read_to_string(w.path("man1/airlock-unpack.1")).unwrap();
    assert!(unpack.contains("\\-\\-to"), "{unpack}");
}

#[test]
fn layout_new_writes_a_chain_of_steps_that_verifies() {
    let w = World::new();
    w.run(&["keygen", "--out", "keys/packager"]).ok();
    w.run(&[
        "layout",
        "new",
        "--out",
        "new.layout",
        "--step",
        "build=keys/builder.pub",
        "--step",
        "package=keys/packager.pub",
        "--key",
        "keys/owner.pem",
    ])
    .ok();
    let j: serde_json::Value =
        serde_json::from_slice(&fs::read(w.path("new.layout")).unwrap()).unwrap();
    let steps = j["signed"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(
        steps[1]["expected_materials"][0],
        serde_json::json!(["MATCH", "*", "WITH", "PRODUCTS", "FROM", "build"])
    );
    assert_eq!(j["signed"]["keys"].as_object().unwrap().len(), 2);
    // Existing file, bad step: refused, nothing written.
    w.run(&[
        "layout",
        "new",
        "--out",
        "new.layout",
        "--step",
        "build=keys/builder.pub",
    ])
    .fails(3, "already exists");
    w.run(&["layout", "new", "--out", "x.layout", "--step", "build"])
        .fails(2, "is not NAME=KEY");
    assert!(!w.path("x.layout").exists());
}

#[test]
fn init_refuses_an_existing_project_and_the_sequence_never_comes_from_the_clock() {
    let w = World::bare();
    w.run(&["init", "p"]).ok();
    w.run(&["init", "p"]).fails(3, "already exists");
    w.write("p/dist/a.txt", b"a\n");
    let p = w.path("p");
    let run = |args: &[&str]| crate::common::airlock_in(&p, args);
    run(&["record"]).ok();
    let r = run(&["pack", "--json"]).ok();
    assert_eq!(r.json()["sequence"], 1);
    assert!(!r.stderr.contains("no --sequence"), "{}", r.stderr);
    run(&["pack", "--sequence", "10", "--out", "ten.airlock"]).ok();
    let r = run(&["pack", "--json"]).ok();
    assert_eq!(r.json()["sequence"], 11);
    assert!(p.join("release-11.airlock").exists());
}
