//! The manifest must be signed by a threshold of the final root's targets
//! keys, counted by distinct public key.
use crate::common::{World, anchor_init_args};

#[test]
fn a_key_outside_the_targets_role_cannot_pack() {
    let w = World::new();
    // pack refuses up front: the bundle would be refused on the other side.
    w.pack_as("x.airlock", &["keys/owner.pem"], "1.root.json", &[])
        .fails(2, "cannot sign this bundle: manifest signature by");
    assert!(!w.path("x.airlock").exists());
}

#[test]
fn a_manifest_signed_by_a_non_targets_key_is_refused() {
    // A bundle made for another root (its own release key) and carried to
    // this store: signed, but not by a targets key of the anchored root.
    let w = World::new();
    w.run(&["keygen", "--out", "keys/root2"]).ok();
    w.run(&["keygen", "--out", "keys/other"]).ok();
    w.run(&[
        "root",
        "init",
        "--layout-key",
        "keys/owner.pub",
        "--out",
        "other.root.json",
        "--root-key",
        "keys/root2.pub",
        "--targets-key",
        "keys/other.pub",
    ])
    .ok();
    w.root_sign("other.root.json", &["keys/root2.pem"], &[])
        .ok();
    w.pack_as("x.airlock", &["keys/other.pem"], "other.root.json", &[])
        .ok();
    let before = w.store_state();
    let r = w.verify("x.airlock");
    let r = r.fails(1, "is not from a targets key of root version 1");
    assert!(r.stderr.contains("manifest signature by "), "{}", r.stderr);
    let r = w.unpack_json("x.airlock", "out");
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "signature-unknown-key")
    );
    assert!(!w.path("out").exists());
    assert_eq!(w.store_state(), before);
}

/// A store whose root needs two targets signatures (two-person integrity).
fn two_person_world() -> World {
    let w = World::bare();
    for k in ["root", "rel-a", "rel-b", "owner", "builder"] {
        w.run(&["keygen", "--out", &format!("keys/{k}")]).ok();
    }
    w.run(&[
        "root",
        "init",
        "--layout-key",
        "keys/owner.pub",
        "--out",
        "1.root.json",
        "--root-key",
        "keys/root.pub",
        "--targets-key",
        "keys/rel-a.pub",
        "keys/rel-b.pub",
        "--targets-threshold",
        "2",
    ])
    .ok();
    w.root_sign("1.root.json", &["keys/root.pem"], &[]).ok();
    w.write("dist/a.txt", b"a\n");
    w.write_layout(&[("build", "builder", &[], &[])]);
    std::fs::create_dir_all(w.path("links")).unwrap();
    w.anchor_store();
    w
}

fn pack_with(w: &World, keys: &[&str]) -> crate::common::Run {
    w.pack_as("x.airlock", keys, "1.root.json", &[])
}

#[test]
fn threshold_two_needs_two_distinct_signers() {
    let w = two_person_world();
    pack_with(&w, &["keys/rel-a.pem"]).fails(2, "signed by 1 of the 2 targets keys");
    pack_with(&w, &["keys/rel-a.pem", "keys/rel-a.pem"])
        .fails(2, "signed by 1 of the 2 targets keys");
    pack_with(&w, &["keys/rel-a.pem", "keys/rel-b.pem"]).ok();
    w.unpack("x.airlock", "out").ok();
}

#[test]
fn one_key_listed_under_two_keyids_counts_once() {
    // The root lists the same public key twice: under its modern keyid and
    // under its legacy keyid, with threshold 2. Signatures under both keyids
    // are one key, not two.
    use airlock::json::Json;
    use airlock::keys::{key_object, keyid, legacy_keyid};
    use airlock::tuf::{build_root, sign_root_document};
    use airlock_hsm::{FileSigner, Signer};

    let w = World::new();
    let release = FileSigner::load(&w.path("keys/release.pem")).unwrap();
    let root_key = FileSigner::load(&w.path("keys/root.pem")).unwrap();
    let pk = release.public_key().clone();
    let mut signed = build_root(
        1,
        4_000_000_000,
        &[root_key.public_key().clone()],
        1,
        std::slice::from_ref(&pk),
        1,
        Some((
            &[airlock::keys::load_public_key(&w.path("keys/owner.pub")).unwrap()],
            1,
        )),
    );
    if let Json::Obj(s) = &mut signed {
        if let Some(Json::Obj(keys)) = s.get_mut("keys") {
            keys.insert(legacy_keyid(&pk), key_object(&pk));
        }
        if let Some(Json::Obj(roles)) = s.get_mut("roles") {
            roles.insert(
                "targets".into(),
                airlock::keys::obj([
                    (
                        "keyids",
                        Json::Arr(vec![Json::Str(keyid(&pk)), Json::Str(legacy_keyid(&pk))]),
                    ),
                    ("threshold", Json::Int(2)),
                ]),
            );
        }
    }
    let mut doc = airlock::keys::obj([("signed", signed), ("signatures", Json::Arr(vec![]))]);
    sign_root_document(&mut doc, &root_key, &[]).unwrap();
    w.write("2key.root.json", doc.to_pretty().as_bytes());
    w.run(&anchor_init_args("store2", "2key.root.json", &[]))
        .ok();

    // Sign the manifest under both keyids with the same key, as an attacker
    // holding one key would.
    let bundle = crate::crafted::Crafted::standard(&w)
        .signed_as(vec![
            ("keys/release.pem", keyid(&pk)),
            ("keys/release.pem", legacy_keyid(&pk)),
        ])
        .write(&w, "twice.airlock");
    let r = w.run(&["verify", &bundle, "--store", "store2"]);
    r.fails(1, "manifest is signed by 1 of the 2 targets keys");
}
