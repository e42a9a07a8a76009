//! The trust chain's own refusals (issue: a release key alone must not be
//! able to ship anything): the layout owner is named by the root, an older
//! layout cannot be replayed, a future creation time cannot move the store's
//! clock, the store accepts only its own channels, and the supply chain is
//! decided before any payload byte is decompressed.
use std::fs;

use crate::common::{Run, World, airlock_in, listing, pack_inputs};
use crate::crafted::{Crafted, refused};

/// Replaces the owner and builder key pairs with the attacker's own.
fn attacker_keys(w: &World) {
    for k in ["owner", "builder"] {
        for ext in ["pem", "pub"] {
            fs::remove_file(w.path(&format!("keys/{k}.{ext}"))).unwrap();
        }
        w.run(&["keygen", "--out", &format!("keys/{k}")]).ok();
    }
    w.write_layout(&[("build", "builder", &[], &[&["ALLOW", "*"]])]);
}

/// Re-provisions `store` with the root in `1.root.json`.
fn reanchor(w: &World) {
    fs::remove_dir_all(w.path("store")).unwrap();
    w.run(&[
        "anchor",
        "init",
        "--store",
        "store",
        "--root",
        "1.root.json",
        "--channel",
        "crafted",
        "default",
    ])
    .ok();
}

#[test]
fn a_release_key_alone_cannot_bring_its_own_layout() {
    let w = World::new();
    // With only the release key: their own layout key, layout, functionary
    // key and link, binding a script they want placed with mode 0755.
    attacker_keys(&w);
    let b = Crafted::standard(&w)
        .artifact("bin/evil.sh", b"#!/bin/sh\nrm -rf /\n")
        .write(&w, "own-layout.airlock");
    refused(&w, &b, "layout-key-not-rooted");
    // pack, on the connected side, refuses to make it too.
    w.pack("packed.airlock", &[])
        .fails(1, "is not a layout-owner key of root version 1");
    assert!(!w.path("packed.airlock").exists());
}

#[test]
fn the_supply_chain_is_decided_before_the_payload() {
    let w = World::new();
    attacker_keys(&w);
    // The payload does not match the manifest either; the refusal is the
    // supply chain's, reached from the manifest alone.
    let mut c = Crafted::standard(&w).with_chain(&w);
    let at = c.payload.len() - 1;
    c.payload[at].data = b"jello\n".to_vec();
    let b = c.write_as_is(&w, "chain-first.airlock");
    refused(&w, &b, "layout-key-not-rooted");
}

#[test]
fn a_root_without_a_layout_owner_refuses_every_bundle() {
    use airlock::json::Json;
    use airlock::keys::{load_public_key, load_signer, obj};
    use airlock::tuf::{build_root, sign_root_document};
    let w = World::new();
    let root_key = load_public_key(&w.path("keys/root.pub")).unwrap();
    let release = load_public_key(&w.path("keys/release.pub")).unwrap();
    let signed = build_root(
        1,
        4_000_000_000,
        std::slice::from_ref(&root_key),
        1,
        std::slice::from_ref(&release),
        1,
        None,
    );
    let mut doc = obj([("signed", signed), ("signatures", Json::Arr(vec![]))]);
    let signer = load_signer(w.path("keys/root.pem").to_str().unwrap()).unwrap();
    sign_root_document(&mut doc, signer.as_ref(), &[]).unwrap();
    w.write("1.root.json", doc.to_pretty().as_bytes());
    reanchor(&w);
    let b = Crafted::standard(&w).write(&w, "unrooted.airlock");
    refused(&w, &b, "layout-keys-unrooted");
    w.pack("packed.airlock", &[])
        .fails(1, "names no in-toto layout owner");
}

/// `root init --out OUT --root-key keys/root.pub --targets-key TARGETS
/// --layout-key LAYOUT… EXTRA…`.
fn root_init(w: &World, out: &str, targets: &str, layout: &[&str], extra: &[&str]) -> Run {
    let mut args = vec![
        "root",
        "init",
        "--out",
        out,
        "--root-key",
        "keys/root.pub",
        "--targets-key",
        targets,
        "--layout-key",
    ];
    args.extend(layout);
    args.extend(extra);
    w.run(&args)
}

#[test]
fn a_layout_needs_the_owner_threshold_the_root_names() {
    let w = World::new();
    w.run(&["keygen", "--out", "keys/owner2"]).ok();
    fs::remove_file(w.path("1.root.json")).unwrap();
    root_init(
        &w,
        "1.root.json",
        "keys/release.pub",
        &["keys/owner.pub", "keys/owner2.pub"],
        &["--layout-threshold", "2"],
    )
    .ok();
    w.root_sign("1.root.json", &["keys/root.pem"], &[]).ok();
    reanchor(&w);
    let b = Crafted::standard(&w).write(&w, "one-owner.airlock");
    refused(&w, &b, "layout-threshold");
    // A threshold that no set of keys can meet is refused when written.
    root_init(
        &w,
        "bad.root.json",
        "keys/release.pub",
        &["keys/owner.pub"],
        &["--layout-threshold", "2"],
    )
    .fails(
        2,
        "--layout-threshold 2 cannot be met by 1 distinct layout key",
    );
}

#[test]
fn rotating_the_layout_owner_is_a_root_rotation() {
    let w = World::new();
    let old_layout = fs::read(w.path("root.layout")).unwrap();
    // The owner moves to a new key: root version 2 names it.
    w.run(&["keygen", "--out", "keys/owner-new"]).ok();
    w.run(&[
        "root",
        "rotate",
        "--from",
        "1.root.json",
        "--out",
        "2.root.json",
        "--layout-key",
        "keys/owner-new.pub",
        "--expires",
        "3650d",
    ])
    .ok();
    w.root_sign("2.root.json", &["keys/root.pem"], &[]).ok();
    // A layout signed by the old owner, carried with root 2: refused.
    w.pack_as(
        "old-owner.airlock",
        &["keys/release.pem"],
        "1.root.json",
        &[],
    )
    .ok();
    let mut args = vec!["pack", "--out", "old-owner-2.airlock"];
    args.extend(pack_inputs(
        &["1.root.json", "2.root.json"],
        &["keys/release.pem"],
        &[],
    ));
    w.run(&args)
        .fails(1, "is not a layout-owner key of root version 2");
    // Signed by the new owner: accepted, and the anchor moves to root 2.
    for f in ["owner.pem", "owner.pub"] {
        fs::copy(
            w.path(&format!("keys/{}", f.replace("owner", "owner-new"))),
            w.path(&format!("keys/{f}")),
        )
        .unwrap();
    }
    w.write_layout(&[("build", "builder", &[], &[&["ALLOW", "*"]])]);
    args[2] = "new-owner.airlock";
    w.run(&args).ok();
    w.unpack("new-owner.airlock", "out").ok();
    assert_ne!(fs::read(w.path("root.layout")).unwrap(), old_layout);
}

#[test]
fn an_older_owner_signed_layout_is_not_replayed() {
    let w = World::new();
    let steps: &[crate::common::Step] = &[("build", "builder", &[], &[&["ALLOW", "*"]])];
    w.write_layout_expiring(steps, "2098-01-01T00:00:00Z", "old");
    let old = fs::read(w.path("root.layout")).unwrap();
    w.write_layout_expiring(steps, "2099-01-01T00:00:00Z", "new");
    w.pack("new.airlock", &["--channel", "stable", "--sequence", "2"])
        .ok();
    w.unpack("new.airlock", "new").ok();
    // The older layout (owner-signed, genuine) in a fresh bundle with a
    // higher sequence, as a holder of the release key would make it.
    w.write("root.layout", &old);
    w.pack("old.airlock", &["--channel", "stable", "--sequence", "3"])
        .ok();
    let before = listing(w.tmp.path());
    let r = w.unpack_json("old.airlock", "old");
    assert_eq!((r.code, r.error_code().as_str()), (1, "layout-rollback"));
    assert_eq!(listing(w.tmp.path()), before, "nothing written");
    // Same expiry, other bytes: refused too.
    w.write_layout_expiring(steps, "2099-01-01T00:00:00Z", "new, edited");
    w.pack("same.airlock", &["--channel", "stable", "--sequence", "4"])
        .ok();
    let r = w.run(&["verify", "same.airlock", "--store", "store", "--json"]);
    assert_eq!((r.code, r.error_code().as_str()), (1, "layout-rollback"));
    // A newer layout is accepted; the store shows it.
    w.write_layout_expiring(steps, "2099-06-01T00:00:00Z", "newer");
    w.pack("newer.airlock", &["--channel", "stable", "--sequence", "5"])
        .ok();
    w.unpack("newer.airlock", "newer").ok();
    let show = w
        .run(&["anchor", "show", "--store", "store", "--json"])
        .ok()
        .json();
    assert_eq!(
        show["layouts"]["stable"]["expires"],
        airlock::timefmt::parse_utc("2099-06-01T00:00:00Z").unwrap()
    );
}

#[test]
fn a_bundle_created_in_the_future_is_refused_and_moves_no_clock() {
    let w = World::new();
    let year = (airlock::timefmt::now() + 365 * 86_400).to_string();
    w.pack_as(
        "future.airlock",
        &["keys/release.pem"],
        "1.root.json",
        &["--source-date-epoch", &year, "--expires", "30d"],
    )
    .ok();
    let state = w.store_state();
    let r = w.unpack_json("future.airlock", "out");
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "bundle-from-future"),
        "{}",
        r.stdout
    );
    assert!(!w.path("out").exists());
    assert_eq!(w.store_state(), state, "the store's clock did not move");
    // Within the allowed skew (15 minutes) it is accepted.
    let soon = (airlock::timefmt::now() + 600).to_string();
    w.pack_as(
        "soon.airlock",
        &["keys/release.pem"],
        "1.root.json",
        &["--source-date-epoch", &soon, "--expires", "30d"],
    )
    .ok();
    w.unpack("soon.airlock", "soon").ok();
}

#[test]
fn a_store_accepts_only_its_own_channels() {
    let w = World::new();
    fs::remove_dir_all(w.path("store")).unwrap();
    // A new store must name its channels.
    w.run(&[
        "anchor",
        "init",
        "--store",
        "store",
        "--root",
        "1.root.json",
    ])
    .fails(2, "anchor init needs the channels the store accepts");
    assert!(!w.path("store").exists());
    w.run(&[
        "anchor",
        "init",
        "--store",
        "store",
        "--root",
        "1.root.json",
        "--channel",
        "stable",
    ])
    .ok();
    w.pack(
        "stable.airlock",
        &["--channel", "stable", "--sequence", "1"],
    )
    .ok();
    w.unpack("stable.airlock", "stable").ok();
    // A genuine, old nightly bundle: refused, nothing placed.
    w.pack(
        "nightly.airlock",
        &["--channel", "nightly", "--sequence", "1"],
    )
    .ok();
    let r = w.unpack_json("nightly.airlock", "nightly");
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "channel-not-allowed")
    );
    assert!(!w.path("nightly").exists());
    // The operator allows it (journaled), then takes it back.
    w.run(&[
        "anchor", "channels", "--store", "store", "--allow", "nightly",
    ])
    .ok();
    w.verify("nightly.airlock").ok();
    w.run(&[
        "anchor", "channels", "--store", "store", "--deny", "nightly",
    ])
    .ok();
    w.verify("nightly.airlock")
        .fails(1, "channel nightly is not accepted by this store");
    let show = w
        .run(&["journal", "show", "--store", "store", "--json"])
        .ok();
    let changes: Vec<serde_json::Value> = show
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["event"] == "store.channels")
        .collect();
    assert_eq!(changes.len(), 2);
    assert_eq!(
        changes[0]["fields"]["added"],
        serde_json::json!(["nightly"])
    );
    assert_eq!(
        changes[1]["fields"]["removed"],
        serde_json::json!(["nightly"])
    );
    // Bad names are the operator's mistake.
    airlock_in(
        w.tmp.path(),
        &["anchor", "channels", "--store", "store", "--allow", "a b"],
    )
    .fails(2, "is not a channel name");
}

/// An ECDSA P-256 signature with `S` negated: as valid, other bytes.
fn high_s(der: Vec<u8>) -> Vec<u8> {
    let sig = p256::ecdsa::Signature::from_der(&der).unwrap();
    let (r, s) = (sig.r(), sig.s());
    p256::ecdsa::Signature::from_scalars(r.to_bytes(), (-*s).to_bytes())
        .unwrap()
        .to_der()
        .as_bytes()
        .to_vec()
}

#[test]
fn a_high_s_manifest_signature_is_refused() {
    let w = World::new();
    w.run(&["keygen", "--type", "ecdsa-p256", "--out", "keys/release-ec"])
        .ok();
    fs::remove_file(w.path("1.root.json")).unwrap();
    root_init(
        &w,
        "1.root.json",
        "keys/release-ec.pub",
        &["keys/owner.pub"],
        &[],
    )
    .ok();
    w.root_sign("1.root.json", &["keys/root.pem"], &[]).ok();
    reanchor(&w);
    let id = w
        .run(&["key", "id", "keys/release-ec.pub"])
        .ok()
        .stdout
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let low = Crafted::standard(&w).signed_as(vec![("keys/release-ec.pem", id.clone())]);
    let b = low.write(&w, "low-s.airlock");
    w.verify(&b).ok();
    let mut high = low;
    high.sig_edit = Some(high_s);
    let b = high.write(&w, "high-s.airlock");
    refused(&w, &b, "signature-not-low-s");
}
