//! Bundles that carry root rotations: the anchor advances only when a whole
//! bundle is accepted by `unpack`; a rejected bundle (or `verify`) leaves it
//! as it was; after a targets-key rotation the old key is refused; and the
//! store's clock (the latest authenticated time) cannot be turned back.
use std::fs;

use crate::common::{EPOCH, World, anchor_init_args, listing};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Root version 2 of the fixture: the targets key `release` replaced by
/// `release2`, signed by the (unchanged) root key.
fn rotate_targets(w: &World, out: &str, expires: &str) {
    if !w.path("keys/release2.pem").exists() {
        w.run(&["keygen", "--out", "keys/release2"]).ok();
    }
    w.run(&[
        "root",
        "rotate",
        "--from",
        "1.root.json",
        "--out",
        out,
        "--targets-key",
        "keys/release2.pub",
        "--expires",
        expires,
    ])
    .ok();
    w.root_sign(out, &["keys/root.pem"], &[]).ok();
}

/// `pack` carrying `roots`, signed by `key`, with `extra` flags.
fn pack_with(w: &World, out: &str, key: &str, roots: &[&str], extra: &[&str]) {
    let mut args: Vec<&str> = Vec::new();
    for r in &roots[1..] {
        args.extend(["--root", r]);
    }
    args.extend(extra);
    w.pack_as(out, &[key], roots[0], &args).ok();
}

fn anchor_version(w: &World) -> u64 {
    let r = w
        .run(&["anchor", "show", "--store", "store", "--json"])
        .ok();
    r.json()["root"]["version"].as_u64().unwrap()
}

/// Unpack refused with `code`; nothing placed; store (anchor included) unchanged.
#[track_caller]
fn unpack_refused(w: &World, bundle: &str, code: &str, extra: &[&str]) {
    let before = w.store_state();
    let roots = listing(&w.path("store/roots"));
    let mut args = vec![
        "unpack", bundle, "--store", "store", "--to", "out", "--json",
    ];
    args.extend(extra);
    let r = w.run(&args);
    assert_eq!((r.code, r.error_code().as_str()), (1, code), "{}", r.stdout);
    assert!(!w.path("out").exists());
    assert_eq!(w.store_state(), before, "the store must not change");
    assert_eq!(listing(&w.path("store/roots")), roots);
}

#[test]
fn accepting_a_bundle_advances_the_anchor() {
    let w = World::new();
    rotate_targets(&w, "2.root.json", "3650d");
    let epoch = EPOCH.to_string();
    pack_with(
        &w,
        "rot.airlock",
        "keys/release2.pem",
        &["1.root.json", "2.root.json"],
        &["--source-date-epoch", &epoch, "--expires", "36500d"],
    );
    // verify checks it all and changes nothing.
    let before = w.store_state();
    let r = w.verify("rot.airlock").ok();
    assert!(
        r.stdout.contains("rotates the anchor to version 2"),
        "{}",
        r.stdout
    );
    assert_eq!(w.store_state(), before);
    assert_eq!(anchor_version(&w), 1);
    // unpack accepts it and the anchor moves, to exactly the carried bytes.
    w.unpack("rot.airlock", "out").ok();
    assert_eq!(anchor_version(&w), 2);
    let state: serde_json::Value = serde_json::from_str(&w.store_state()).unwrap();
    assert_eq!(state["anchor"]["version"], 2);
    let sha = state["anchor"]["sha256"].as_str().unwrap();
    assert_eq!(
        fs::read(w.path(&format!("store/roots/2.{sha}.root.json"))).unwrap(),
        fs::read(w.path("2.root.json")).unwrap()
    );
    // A later bundle may carry the whole history: roots the store already
    // holds are skipped, and the anchor stays at 2.
    w.write("dist/next.txt", b"next release\n");
    pack_with(
        &w,
        "next.airlock",
        "keys/release2.pem",
        &["1.root.json", "2.root.json"],
        &[
            "--source-date-epoch",
            &(EPOCH + 1).to_string(),
            "--expires",
            "36500d",
        ],
    );
    w.unpack("next.airlock", "out2").ok();
    assert_eq!(anchor_version(&w), 2);
}

#[test]
fn a_rejected_bundle_leaves_the_anchor_as_it_was() {
    let w = World::new();
    rotate_targets(&w, "2.root.json", "3650d");
    let epoch = EPOCH.to_string();
    w.pack("s5.airlock", &["--channel", "stable", "--sequence", "5"])
        .ok();
    w.unpack("s5.airlock", "first").ok();
    // Rotation and signatures are fine, but the sequence is a rollback.
    pack_with(
        &w,
        "rot-old-seq.airlock",
        "keys/release2.pem",
        &["1.root.json", "2.root.json"],
        &[
            "--source-date-epoch",
            &epoch,
            "--expires",
            "36500d",
            "--channel",
            "stable",
            "--sequence",
            "4",
        ],
    );
    unpack_refused(&w, "rot-old-seq.airlock", "rollback", &[]);
    // Expired by the time it is checked.
    pack_with(
        &w,
        "rot-expired.airlock",
        "keys/release2.pem",
        &["1.root.json", "2.root.json"],
        &[
            "--source-date-epoch",
            &epoch,
            "--expires",
            "30d",
            "--channel",
            "x",
        ],
    );
    unpack_refused(
        &w,
        "rot-expired.airlock",
        "bundle-expired",
        &["--at", "2030-01-01T00:00:00Z"],
    );
    // A payload byte flipped after signing: refused while streaming, after
    // the chain and the manifest were accepted.
    pack_with(
        &w,
        "rot.airlock",
        "keys/release2.pem",
        &["1.root.json", "2.root.json"],
        &[
            "--source-date-epoch",
            &epoch,
            "--expires",
            "36500d",
            "--channel",
            "y",
        ],
    );
    let mut bytes = fs::read(w.path("rot.airlock")).unwrap();
    let at = bytes.len() - 64;
    bytes[at] ^= 0x40;
    w.write("rot-tampered.airlock", &bytes);
    unpack_refused(&w, "rot-tampered.airlock", "bundle-compression", &[]);
    assert_eq!(anchor_version(&w), 1);
    // The intact bundle is accepted.
    w.unpack("rot.airlock", "ok").ok();
    assert_eq!(anchor_version(&w), 2);
}

#[test]
fn the_old_targets_key_is_refused_after_a_rotation() {
    let w = World::new();
    rotate_targets(&w, "2.root.json", "3650d");
    // Before the rotation reaches the isolated side, the old key is trusted.
    w.pack("old-before.airlock", &["--channel", "a"]).ok();
    w.verify("old-before.airlock").ok();
    // pack will not sign a rotation bundle with the old key.
    let r = w.pack_as(
        "x.airlock",
        &["keys/release.pem"],
        "1.root.json",
        &["--root", "2.root.json"],
    );
    r.fails(2, "cannot sign this bundle");
    // The rotation arrives.
    let epoch = EPOCH.to_string();
    pack_with(
        &w,
        "rot.airlock",
        "keys/release2.pem",
        &["1.root.json", "2.root.json"],
        &[
            "--source-date-epoch",
            &epoch,
            "--expires",
            "36500d",
            "--channel",
            "b",
        ],
    );
    w.unpack("rot.airlock", "first").ok();
    // From now on a bundle signed by the old targets key is refused, whether
    // it carries the old root only or was made before the rotation.
    let r = w.verify("old-before.airlock");
    r.fails(1, "is not from a targets key of root version 2");
    w.write("dist/evil.txt", b"signed by a retired key\n");
    w.pack_as(
        "old-after.airlock",
        &["keys/release.pem"],
        "1.root.json",
        &["--channel", "c"],
    )
    .ok();
    unpack_refused(&w, "old-after.airlock", "signature-unknown-key", &[]);
}

#[test]
fn carried_chains_that_do_not_chain_are_refused() {
    let w = World::new();
    w.run(&["keygen", "--out", "keys/root2"]).ok();
    // Version 2 with a new root key, signed only by the new key.
    w.run(&[
        "root",
        "rotate",
        "--from",
        "1.root.json",
        "--out",
        "2-new-only.root.json",
        "--add-root-key",
        "keys/root2.pub",
        "--remove-root-key",
        "keys/root.pub",
        "--expires",
        "3650d",
    ])
    .ok();
    w.root_sign("2-new-only.root.json", &["keys/root2.pem"], &[])
        .ok();
    // pack refuses a chain that does not hold...
    let r = w.pack_as(
        "x.airlock",
        &["keys/release.pem"],
        "1.root.json",
        &["--root", "2-new-only.root.json", "--json"],
    );
    assert_eq!((r.code, r.error_code().as_str()), (1, "root-threshold"));
    // ...but a bundle made without the old root still reaches the isolated
    // side, which refuses it.
    w.pack_as(
        "new-only.airlock",
        &["keys/release.pem"],
        "2-new-only.root.json",
        &[],
    )
    .ok();
    unpack_refused(&w, "new-only.airlock", "root-threshold", &[]);
    // A chain that does not start at anchor+1 (version 3 straight after 1).
    rotate_targets(&w, "2.root.json", "3650d");
    w.run(&[
        "root",
        "rotate",
        "--from",
        "2.root.json",
        "--out",
        "3.root.json",
        "--expires",
        "3650d",
    ])
    .ok();
    w.root_sign("3.root.json", &["keys/root.pem"], &[]).ok();
    w.pack_as("skip.airlock", &["keys/release2.pem"], "3.root.json", &[])
        .ok();
    unpack_refused(&w, "skip.airlock", "root-version", &[]);
    // A chain that leaves the store on a root expired at verification time.
    rotate_targets(&w, "2-short.root.json", "2d");
    let epoch = EPOCH.to_string();
    pack_with(
        &w,
        "short.airlock",
        "keys/release2.pem",
        &["1.root.json", "2-short.root.json"],
        &["--source-date-epoch", &epoch, "--expires", "36500d"],
    );
    w.verify("short.airlock").ok();
    unpack_refused(
        &w,
        "short.airlock",
        "root-expired",
        &["--at", "2030-01-01T00:00:00Z"],
    );
    assert_eq!(anchor_version(&w), 1);
}

#[test]
fn turning_the_clock_back_does_not_accept_an_expired_bundle_or_root() {
    // The store has accepted a bundle signed as created 800 s from now
    // (within the allowed clock skew): its clock is there, whatever the
    // system clock says (as if the system clock had been turned back since).
    let w = World::new();
    let later = now() + 800;
    pack_with(
        &w,
        "future.airlock",
        "keys/release.pem",
        &["1.root.json"],
        &[
            "--source-date-epoch",
            &later.to_string(),
            "--expires",
            "30d",
            "--channel",
            "f",
        ],
    );
    w.unpack("future.airlock", "first").ok();
    let state: serde_json::Value = serde_json::from_str(&w.store_state()).unwrap();
    assert_eq!(state["latest_time"].as_u64().unwrap(), later);

    // A bundle valid by the system clock but expired by the store's.
    let today = now().to_string();
    w.write("dist/today.txt", b"today\n");
    pack_with(
        &w,
        "today.airlock",
        "keys/release.pem",
        &["1.root.json"],
        &[
            "--source-date-epoch",
            &today,
            "--expires",
            "10m",
            "--channel",
            "t",
        ],
    );
    let r = w.verify("today.airlock");
    r.fails(
        1,
        &format!(
            "(verification time {})",
            airlock::timefmt::format_utc(later)
        ),
    );
    unpack_refused(&w, "today.airlock", "bundle-expired", &[]);

    // A root valid by the system clock but expired by the store's.
    rotate_targets(&w, "2.root.json", "12m");
    pack_with(
        &w,
        "root100d.airlock",
        "keys/release2.pem",
        &["1.root.json", "2.root.json"],
        &[
            "--source-date-epoch",
            &today,
            "--expires",
            "30d",
            "--channel",
            "r",
        ],
    );
    unpack_refused(&w, "root100d.airlock", "root-expired", &[]);
    // The same bundle is fine for a store whose clock is the system clock.
    w.run(&anchor_init_args("fresh", "1.root.json", &[])).ok();
    w.run(&["verify", "root100d.airlock", "--store", "fresh"])
        .ok();
}

/// Writes roots 2..=last of the fixture (same keys, one rotation each),
/// signed in-process to keep the test fast.
fn many_roots(w: &World, last: u64) -> Vec<String> {
    use airlock::json::Json;
    use airlock::keys::{load_public_key, load_signer, obj};
    use airlock::tuf::{build_root, sign_root_document};
    let root_key = load_public_key(&w.path("keys/root.pub")).unwrap();
    let release = load_public_key(&w.path("keys/release.pub")).unwrap();
    let owner = load_public_key(&w.path("keys/owner.pub")).unwrap();
    let signer = load_signer(w.path("keys/root.pem").to_str().unwrap()).unwrap();
    let mut names = vec!["1.root.json".to_owned()];
    for v in 2..=last {
        let signed = build_root(
            v,
            now() + 86_400 * 365,
            std::slice::from_ref(&root_key),
            1,
            std::slice::from_ref(&release),
            1,
            Some((std::slice::from_ref(&owner), 1)),
        );
        let mut doc = obj([("signed", signed), ("signatures", Json::Arr(vec![]))]);
        sign_root_document(&mut doc, signer.as_ref(), &[]).unwrap();
        let name = format!("many/{v}.root.json");
        w.write(&name, doc.to_pretty().as_bytes());
        names.push(name);
    }
    names
}

#[test]
fn a_bundle_applies_at_most_256_rotations() {
    let w = World::new();
    let names = many_roots(&w, 258);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    // 256 rotations: packed, verified, imported.
    pack_with(&w, "256.airlock", "keys/release.pem", &refs[..257], &[]);
    w.unpack("256.airlock", "out").ok();
    assert_eq!(anchor_version(&w), 257);
    // 257: pack refuses, nothing written.
    let mut args: Vec<&str> = Vec::new();
    for r in &refs[1..] {
        args.extend(["--root", r]);
    }
    args.push("--json");
    let r = w.pack_as("257.airlock", &["keys/release.pem"], refs[0], &args);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "root-too-many-rotations")
    );
    assert!(!w.path("257.airlock").exists());
}
