//! pack → anchor init → verify → unpack gives back the input tree.
use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::common::{World, listing, tree};

#[test]
fn pack_verify_unpack_round_trip() {
    let w = World::new();
    fs::set_permissions(w.path("dist/bin/tool"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(w.path("dist/README.md"), fs::Permissions::from_mode(0o640)).unwrap();
    w.pack("rel.airlock", &["--channel", "stable", "--sequence", "7"])
        .ok();
    let before = w.store_state();
    let v = w
        .run(&["verify", "rel.airlock", "--store", "store", "--json"])
        .ok()
        .json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["artifacts"], 5);
    assert_eq!(v["sequence"], 7);
    assert_eq!(w.store_state(), before, "verify leaves the store unchanged");

    w.unpack("rel.airlock", "out").ok();
    assert_eq!(
        tree(&w.path("out")),
        tree(&w.path("dist")),
        "byte for byte, modes included"
    );
    assert_ne!(w.store_state(), before, "unpack records the import");
    assert_eq!(
        listing(w.tmp.path())
            .iter()
            .filter(|n| n.contains("staging"))
            .count(),
        0
    );
}

#[test]
fn special_mode_bits_are_cleared() {
    let w = World::new();
    fs::set_permissions(w.path("dist/bin/tool"), fs::Permissions::from_mode(0o755)).unwrap();
    w.pack("rel.airlock", &[]).ok();
    w.unpack("rel.airlock", "out").ok();
    let mode = fs::metadata(w.path("out/bin/tool"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o755);
}

#[test]
fn inspect_lists_without_trusting() {
    let w = World::new();
    w.pack("rel.airlock", &["--channel", "beta"]).ok();
    let r = w.run(&["inspect", "rel.airlock"]).ok();
    assert!(r.stdout.starts_with("UNVERIFIED"), "{}", r.stdout);
    let j = w.run(&["inspect", "rel.airlock", "--json"]).ok().json();
    assert_eq!(j["verified"], false);
    assert_eq!(j["channel"], "beta");
    let kinds: Vec<&str> = j["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "root",
            "layout",
            "layout-key",
            "link",
            "artifact",
            "artifact",
            "artifact",
            "artifact",
            "artifact"
        ]
    );
}

#[test]
fn symlinks_inside_the_tree_are_carried_as_files_and_escaping_ones_refused() {
    let w = World::new();
    std::os::unix::fs::symlink("README.md", w.path("dist/readme-link")).unwrap();
    w.pack("rel.airlock", &[]).ok();
    w.unpack("rel.airlock", "out").ok();
    assert_eq!(fs::read(w.path("out/readme-link")).unwrap(), b"# release\n");
    assert!(
        fs::symlink_metadata(w.path("out/readme-link"))
            .unwrap()
            .is_file()
    );

    std::os::unix::fs::symlink("../1.root.json", w.path("dist/escape")).unwrap();
    w.pack("bad.airlock", &[])
        .fails(2, "symlink pointing outside the directory");
    assert!(!w.path("bad.airlock").exists());
}

#[test]
fn special_files_are_refused_at_pack() {
    let w = World::new();
    let fifo = w.path("dist/pipe");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    w.pack("bad.airlock", &[]).fails(2, "it is a fifo");
    assert!(!w.path("bad.airlock").exists());
}

#[test]
fn unpack_refuses_an_existing_destination() {
    let w = World::new();
    w.pack("rel.airlock", &[]).ok();
    fs::create_dir(w.path("out")).unwrap();
    let before = w.store_state();
    w.unpack("rel.airlock", "out").fails(3, "already exists");
    assert!(
        listing(&w.path("out")).is_empty(),
        "nothing written into it"
    );
    assert_eq!(w.store_state(), before);
}
