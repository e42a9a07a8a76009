//! Signing keys on a PKCS#11 token (SoftHSM2, a fresh token per test):
//! generated on the token and non-extractable, used wherever a key is taken
//! (`root sign`, `layout sign`, `record`, `pack`), their signatures checked
//! by ed25519-dalek, p256 and openssl — and the whole story with them.
use std::fs;
use std::process::Command;

use airlock::json::Json;

use crate::common::{EPOCH, ROOT_INIT, Run, World, airlock_bin, anchor_init_args, pack_args, tree};
use crate::emulators::SoftHsm;

/// Runs the binary in the world's directory with the token's configuration.
fn run(w: &World, hsm: &SoftHsm, args: &[&str]) -> Run {
    let o = Command::new(airlock_bin())
        .current_dir(w.tmp.path())
        .args(args)
        .env("SOFTHSM2_CONF", hsm.conf())
        .env_remove("AIRLOCK_STORE")
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// `keygen --pkcs11` of `object` (writing `keys/NAME.pub`); the JSON outcome.
fn token_key(w: &World, hsm: &SoftHsm, name: &str, kind: &str) -> serde_json::Value {
    for ext in ["pem", "pub"] {
        let _ = fs::remove_file(w.path(&format!("keys/{name}.{ext}")));
    }
    let uri = hsm.uri(name);
    let j = run(
        w,
        hsm,
        &[
            "keygen",
            "--pkcs11",
            &uri,
            "--type",
            kind,
            "--out",
            &format!("keys/{name}"),
            "--json",
        ],
    )
    .ok()
    .json();
    assert!(
        !w.path(&format!("keys/{name}.pem")).exists(),
        "no private key file"
    );
    j
}

/// The `signed` part of a Metablock file and its signatures (keyid, bytes).
fn metablock(path: &std::path::Path) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let j = Json::parse(&fs::read(path).unwrap()).unwrap();
    let obj = j.as_obj().unwrap();
    let signed = obj["signed"].canonical();
    let Json::Arr(sigs) = &obj["signatures"] else {
        panic!("no signatures")
    };
    let sigs = sigs
        .iter()
        .map(|s| {
            let s = s.as_obj().unwrap();
            (
                s["keyid"].as_str().unwrap().to_owned(),
                hex::decode(s["sig"].as_str().unwrap()).unwrap(),
            )
        })
        .collect();
    (signed, sigs)
}

#[test]
fn keygen_on_the_token_is_sensitive_and_never_extractable() {
    let Some(hsm) = SoftHsm::new("keygen_on_the_token", "keys") else {
        return;
    };
    let w = World::bare();
    for (name, kind) in [("ed", "ed25519"), ("ec", "ecdsa-p256")] {
        let j = token_key(&w, &hsm, name, kind);
        assert_eq!(j["sensitive"], true);
        assert_eq!(j["extractable"], false);
        assert_eq!(j["never_extractable"], true);
        let pem = fs::read_to_string(w.path(&format!("keys/{name}.pub"))).unwrap();
        assert_eq!(j["public_pem"], pem.as_str());
        // The printed keyid is the one `key id` computes from the .pub file.
        let id = w
            .run(&["key", "id", &format!("keys/{name}.pub"), "--json"])
            .ok()
            .json();
        assert_eq!(id["keys"][0]["keyid"], j["keyid"]);
    }
    // An independent reader (OpenSC's pkcs11-tool) sees the same flags.
    if crate::emulators::missing("keygen_on_the_token (pkcs11-tool)", &["pkcs11-tool"]).is_some() {
        return;
    }
    let tool = |args: &[&str]| {
        Command::new("pkcs11-tool")
            .env("SOFTHSM2_CONF", hsm.conf())
            .arg("--module")
            .arg(crate::emulators::softhsm_module())
            .args(["--token-label", "keys", "--login", "--pin", &hsm.pin()])
            .args(args)
            .output()
            .unwrap()
    };
    let list = tool(&["--list-objects", "--type", "privkey"]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert_eq!(
        text.matches("sensitive, always sensitive, never extractable, local")
            .count(),
        2,
        "{text}"
    );
}

#[test]
fn keygen_refuses_a_taken_label_and_an_existing_pub() {
    let Some(hsm) = SoftHsm::new("keygen_refuses", "keys") else {
        return;
    };
    let w = World::bare();
    token_key(&w, &hsm, "k", "ed25519");
    let uri = hsm.uri("k");
    // The label is taken on the token.
    run(&w, &hsm, &["keygen", "--pkcs11", &uri]).fails(3, "already exists");
    // PREFIX.pub exists: refused before the token is touched.
    let other = hsm.uri("other");
    run(&w, &hsm, &["keygen", "--pkcs11", &other, "--out", "keys/k"]).fails(3, "already exists");
    run(&w, &hsm, &["keygen", "--pkcs11", &other]).ok();
}

#[test]
fn two_keys_on_one_token_sign_in_one_command() {
    let Some(hsm) = SoftHsm::new("two_keys_on_one_token", "keys") else {
        return;
    };
    let w = World::bare();
    let a = token_key(&w, &hsm, "a", "ed25519");
    let b = token_key(&w, &hsm, "b", "ecdsa-p256");
    w.run(&["keygen", "--out", "keys/release"]).ok();
    w.run(&[
        "root",
        "init",
        "--layout-key",
        "keys/release.pub",
        "--out",
        "1.root.json",
        "--root-key",
        "keys/a.pub",
        "keys/b.pub",
        "--root-threshold",
        "2",
        "--targets-key",
        "keys/release.pub",
    ])
    .ok();
    // One process, one module context, two keys: the second login finds
    // the token logged in already.
    run(
        &w,
        &hsm,
        &[
            "root",
            "sign",
            "1.root.json",
            "--key",
            &hsm.uri("a"),
            &hsm.uri("b"),
        ],
    )
    .ok();
    let (_, sigs) = metablock(&w.path("1.root.json"));
    let ids: Vec<_> = sigs.iter().map(|(k, _)| serde_json::json!(k)).collect();
    assert!(
        ids.contains(&a["keyid"]) && ids.contains(&b["keyid"]),
        "{ids:?}"
    );
    w.anchor_store();
}

#[test]
fn a_pin_on_the_command_line_is_refused() {
    let Some(hsm) = SoftHsm::new("a_pin_on_the_command_line", "keys") else {
        return;
    };
    let w = World::bare();
    let uri = format!(
        "pkcs11:token=keys;object=k?module-path={}&pin-value={}",
        crate::emulators::softhsm_module().display(),
        hsm.pin()
    );
    let r = run(&w, &hsm, &["keygen", "--pkcs11", &uri, "--json"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(r.error_code(), "pkcs11-uri-invalid");
    assert!(!r.stdout.contains(&hsm.pin()) && !r.stderr.contains(&hsm.pin()));
}

#[test]
fn a_wrong_pin_is_an_environment_error_with_a_hint_and_writes_nothing() {
    let Some(hsm) = SoftHsm::new("a_wrong_pin", "keys") else {
        return;
    };
    let w = World::new();
    let before = fs::read(w.path("1.root.json")).unwrap();
    token_key(&w, &hsm, "root2", "ed25519");
    w.write("wrong.pin", b"not-the-pin\n");
    let uri = hsm.uri("root2").replace(
        &hsm.pin_file().display().to_string(),
        &w.path("wrong.pin").display().to_string(),
    );
    let r = run(&w, &hsm, &["root", "sign", "1.root.json", "--key", &uri]);
    let r = r.fails(3, "refused the PIN");
    assert!(
        r.stderr.contains("hint: check the PIN file"),
        "{}",
        r.stderr
    );
    let j = run(
        &w,
        &hsm,
        &["root", "sign", "1.root.json", "--key", &uri, "--json"],
    );
    assert_eq!(j.error_code(), "pin-incorrect");
    assert_eq!(
        fs::read(w.path("1.root.json")).unwrap(),
        before,
        "root untouched"
    );
    // A missing PIN file is the operator's mistake (exit 2), an unknown
    // object label too.
    let missing = hsm.uri("root2").replace("user.pin", "nope.pin");
    run(
        &w,
        &hsm,
        &["root", "sign", "1.root.json", "--key", &missing],
    )
    .fails(2, "cannot read the PIN file");
    run(
        &w,
        &hsm,
        &["root", "sign", "1.root.json", "--key", &hsm.uri("nosuch")],
    )
    .fails(2, "no usable key");
    assert_eq!(
        fs::read(w.path("1.root.json")).unwrap(),
        before,
        "root untouched"
    );
}

/// The whole story with every signing key on the token: root (Ed25519),
/// release/targets (ECDSA P-256), layout owner (Ed25519) and the build
/// functionary (ECDSA P-256); a file store on the isolated side.
#[test]
fn pack_verify_unpack_with_keys_on_a_token() {
    let Some(hsm) = SoftHsm::new("pack_verify_unpack_with_keys_on_a_token", "release") else {
        return;
    };
    let w = World::new();
    fs::remove_dir_all(w.path("store")).unwrap();
    fs::remove_dir_all(w.path("links")).unwrap();
    fs::create_dir_all(w.path("links")).unwrap();
    fs::remove_file(w.path("1.root.json")).unwrap();
    let mut ids = std::collections::BTreeMap::new();
    for (name, kind) in [
        ("root", "ed25519"),
        ("release", "ecdsa-p256"),
        ("builder", "ecdsa-p256"),
    ] {
        ids.insert(name, token_key(&w, &hsm, name, kind)["keyid"].clone());
    }
    // The fixture's layout names the token's builder key; it is signed by
    // the fixture's file owner key first (World::run has no token), then
    // stripped to the bare layout and signed by the owner key on the token.
    w.write_layout(&[("build", "builder", &[], &[&["ALLOW", "*"]])]);
    ids.insert(
        "owner",
        token_key(&w, &hsm, "owner", "ed25519")["keyid"].clone(),
    );
    // The root names the token's owner key as the layout owner.
    let uri = |k: &str| hsm.uri(k);
    run(&w, &hsm, &ROOT_INIT).ok();
    run(
        &w,
        &hsm,
        &["root", "sign", "1.root.json", "--key", &uri("root")],
    )
    .ok();
    let j = Json::parse(&fs::read(w.path("root.layout")).unwrap()).unwrap();
    w.write(
        "root.layout",
        j.as_obj().unwrap()["signed"].to_pretty().as_bytes(),
    );
    run(
        &w,
        &hsm,
        &["layout", "sign", "root.layout", "--key", &uri("owner")],
    )
    .ok();
    let (_, sigs) = metablock(&w.path("root.layout"));
    assert_eq!(serde_json::json!(sigs[0].0), ids["owner"]);
    run(
        &w,
        &hsm,
        &[
            "record",
            "--name",
            "build",
            "--key",
            &uri("builder"),
            "--products",
            "dist",
            "--lstrip-paths",
            "dist/",
            "--exclude",
            "__none__",
            "--out-dir",
            "links",
        ],
    )
    .ok();
    run(&w, &hsm, &anchor_init_args("store", "1.root.json", &[])).ok();
    let epoch = EPOCH.to_string();
    run(
        &w,
        &hsm,
        &pack_args(
            "rel.airlock",
            "1.root.json",
            &[&uri("release")],
            &["--source-date-epoch", &epoch, "--expires", "36500d"],
        ),
    )
    .ok();
    // The isolated side needs no token: only public keys are in the root.
    let v = w
        .run(&["verify", "rel.airlock", "--store", "store", "--json"])
        .ok()
        .json();
    assert_eq!(v["signers"], serde_json::json!([ids["release"]]));
    w.unpack("rel.airlock", "out").ok();
    assert_eq!(tree(&w.path("out")), tree(&w.path("dist")));

    // The token's signatures verify with the reference Rust crates…
    let (signed, sigs) = metablock(&w.path("1.root.json"));
    assert_eq!(sigs.len(), 1);
    assert_eq!(serde_json::json!(sigs[0].0), ids["root"]);
    let root_pub = fs::read_to_string(w.path("keys/root.pub")).unwrap();
    let ed = <ed25519_dalek::VerifyingKey as ed25519_dalek::pkcs8::DecodePublicKey>::from_public_key_pem(&root_pub).unwrap();
    let sig = ed25519_dalek::Signature::from_slice(&sigs[0].1).unwrap();
    ed.verify_strict(&signed, &sig).unwrap();

    let link = fs::read_dir(w.path("links"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let (signed, sigs) = metablock(&link);
    let builder_pub = fs::read_to_string(w.path("keys/builder.pub")).unwrap();
    let ec = <p256::ecdsa::VerifyingKey as p256::pkcs8::DecodePublicKey>::from_public_key_pem(
        &builder_pub,
    )
    .unwrap();
    let sig = p256::ecdsa::Signature::from_der(&sigs[0].1).unwrap();
    p256::ecdsa::signature::Verifier::verify(&ec, &signed, &sig).unwrap();

    // …and with openssl on the command line.
    if crate::emulators::missing("pack_verify_unpack (openssl)", &["openssl"]).is_none() {
        w.write("link.signed", &signed);
        w.write("link.sig", &sigs[0].1);
        let o = Command::new("openssl")
            .current_dir(w.tmp.path())
            .args([
                "dgst",
                "-sha256",
                "-verify",
                "keys/builder.pub",
                "-signature",
                "link.sig",
                "link.signed",
            ])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "openssl: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "Verified OK");
        // A changed message does not verify: openssl really checked.
        w.write("link.signed", b"something else");
        let o = Command::new("openssl")
            .current_dir(w.tmp.path())
            .args([
                "dgst",
                "-sha256",
                "-verify",
                "keys/builder.pub",
                "-signature",
                "link.sig",
                "link.signed",
            ])
            .output()
            .unwrap();
        assert!(!o.status.success());
    }
}

/// The fixture world plus a PKCS#11 store `pstore` on a fresh token.
fn pkcs11_world(test: &str) -> Option<(World, SoftHsm)> {
    let hsm = SoftHsm::new(test, "store")?;
    let w = World::new();
    run(
        &w,
        &hsm,
        &anchor_init_args("pstore", "1.root.json", &["--pkcs11", &hsm.token_uri()]),
    )
    .ok();
    Some((w, hsm))
}

/// Runs OpenSC's pkcs11-tool, logged in to the token.
fn pkcs11_tool(hsm: &SoftHsm, args: &[&str], cwd: &std::path::Path) -> std::process::Output {
    Command::new("pkcs11-tool")
        .current_dir(cwd)
        .env("SOFTHSM2_CONF", hsm.conf())
        .arg("--module")
        .arg(crate::emulators::softhsm_module())
        .args(["--token-label", &hsm.label, "--login", "--pin", &hsm.pin()])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn pack_verify_unpack_with_a_pkcs11_store() {
    let Some((w, hsm)) = pkcs11_world("pack_verify_unpack_with_a_pkcs11_store") else {
        return;
    };
    let show = run(&w, &hsm, &["anchor", "show", "--store", "pstore", "--json"])
        .ok()
        .json();
    assert_eq!(show["backend"], "pkcs11");
    let protections = show["protections"].to_string();
    assert!(
        protections.contains("neither modifiable nor destroyable"),
        "{protections}"
    );
    assert!(
        protections.contains("does NOT protect against"),
        "{protections}"
    );
    w.pack("rel.airlock", &["--channel", "stable", "--sequence", "4"])
        .ok();
    run(&w, &hsm, &["verify", "rel.airlock", "--store", "pstore"]).ok();
    run(
        &w,
        &hsm,
        &["unpack", "rel.airlock", "--store", "pstore", "--to", "out"],
    )
    .ok();
    assert_eq!(tree(&w.path("out")), tree(&w.path("dist")));
    let r = run(
        &w,
        &hsm,
        &["verify", "rel.airlock", "--store", "pstore", "--json"],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.error_code(), "replay");
    // The metrics report the token's monotonic counter, which every commit
    // advances.
    let counter = || -> u64 {
        let m = run(&w, &hsm, &["metrics", "--store", "pstore"]).ok().stdout;
        assert!(
            m.contains("airlock_store_info{backend=\"pkcs11\"} 1"),
            "{m}"
        );
        m.lines()
            .find_map(|l| l.strip_prefix("airlock_store_counter "))
            .unwrap_or_else(|| panic!("no counter: {m}"))
            .parse()
            .unwrap()
    };
    let before = counter();
    assert!(before > 0);
    assert_eq!(
        run(&w, &hsm, &["verify", "rel.airlock", "--store", "pstore"]).code,
        1
    );
    assert!(counter() > before);
    // The store needs its token: without the token's configuration the
    // module finds no such token (exit 3), and nothing is imported.
    let r = w.run(&["verify", "rel.airlock", "--store", "pstore", "--json"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.error_code(), "pkcs11-error");
}

#[test]
fn the_pkcs11_anchor_cannot_be_removed_replaced_or_doubled() {
    let Some((w, hsm)) = pkcs11_world("the_pkcs11_anchor_cannot_be_removed") else {
        return;
    };
    w.pack("rel.airlock", &[]).ok();
    // Only the token: no object= in a store URI.
    let r = run(
        &w,
        &hsm,
        &anchor_init_args(
            "other",
            "1.root.json",
            &["--pkcs11", &hsm.uri("x"), "--json"],
        ),
    );
    assert_eq!((r.code, r.error_code().as_str()), (2, "pkcs11-uri-invalid"));
    // One anchor per token, and it cannot be replaced.
    for store in ["other", "pstore"] {
        let r = run(
            &w,
            &hsm,
            &anchor_init_args(
                store,
                "1.root.json",
                &["--pkcs11", &hsm.token_uri(), "--replace"],
            ),
        );
        r.fails(3, "already provisioned");
    }
    assert!(!w.path("other").exists(), "no half-made store left behind");
    if crate::emulators::missing(
        "the_pkcs11_anchor_cannot_be_removed (pkcs11-tool)",
        &["pkcs11-tool"],
    )
    .is_some()
    {
        return;
    }
    // Someone with the PIN cannot delete it…
    let o = pkcs11_tool(
        &hsm,
        &[
            "--delete-object",
            "--type",
            "data",
            "--label",
            "airlock-anchor",
        ],
        w.tmp.path(),
    );
    assert!(
        !o.status.success(),
        "the anchor object must not be destroyable"
    );
    run(&w, &hsm, &["verify", "rel.airlock", "--store", "pstore"]).ok();
    // …and a second anchor object makes the store refuse to work.
    w.write("forged.bin", &[0x66; 44]);
    let o = pkcs11_tool(
        &hsm,
        &[
            "--write-object",
            "forged.bin",
            "--type",
            "data",
            "--label",
            "airlock-anchor",
        ],
        w.tmp.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for args in [
        &["verify", "rel.airlock", "--store", "pstore", "--json"][..],
        &[
            "unpack",
            "rel.airlock",
            "--store",
            "pstore",
            "--to",
            "out",
            "--json",
        ][..],
    ] {
        let r = run(&w, &hsm, args);
        assert_eq!(r.code, 3, "{r:?}");
        assert_eq!(r.error_code(), "store-anchor-mismatch");
    }
    assert!(!w.path("out").exists());
}

#[test]
fn an_older_copy_of_the_pkcs11_store_directory_is_refused() {
    let Some((w, hsm)) = pkcs11_world("an_older_copy_of_the_pkcs11_store_directory") else {
        return;
    };
    w.pack("one.airlock", &["--sequence", "1"]).ok();
    let backup = fs::read(w.path("pstore/state.json")).unwrap();
    run(
        &w,
        &hsm,
        &["unpack", "one.airlock", "--store", "pstore", "--to", "out"],
    )
    .ok();
    fs::write(w.path("pstore/state.json"), &backup).unwrap();
    for args in [
        &["verify", "one.airlock", "--store", "pstore", "--json"][..],
        &[
            "unpack",
            "one.airlock",
            "--store",
            "pstore",
            "--to",
            "again",
            "--json",
        ][..],
    ] {
        let r = run(&w, &hsm, args);
        assert_eq!(r.code, 3, "{r:?}");
        assert_eq!(r.error_code(), "store-rolled-back");
    }
    assert!(!w.path("again").exists());
    assert_eq!(fs::read(w.path("pstore/state.json")).unwrap(), backup);
}

#[test]
fn a_bundle_directed_to_a_token_store_is_refused_by_a_file_store_with_the_same_root() {
    let Some((w, hsm)) = pkcs11_world("a_bundle_directed_to_a_token_store") else {
        return;
    };
    let show = run(&w, &hsm, &["anchor", "show", "--store", "pstore", "--json"]).ok();
    // The enclave id is the token-resident journal key's keyid.
    let id = show.json()["enclave_id"].as_str().unwrap().to_owned();
    assert_eq!(show.json()["journal"]["keyid"].as_str(), Some(id.as_str()));
    w.pack("for-token.airlock", &["--sequence", "1", "--for", &id])
        .ok();
    let r = w.unpack_json("for-token.airlock", "file-out");
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "bundle-not-for-this-enclave")
    );
    assert!(!w.path("file-out").exists());
    run(
        &w,
        &hsm,
        &[
            "unpack",
            "for-token.airlock",
            "--store",
            "pstore",
            "--to",
            "token-out",
        ],
    )
    .ok();
    assert!(w.path("token-out/bin/tool").exists());
}

#[test]
fn a_floor_on_a_pkcs11_store_is_bound_under_the_token_counter() {
    let Some((w, hsm)) = pkcs11_world("a_floor_on_a_pkcs11_store") else {
        return;
    };
    w.pack("one.airlock", &["--sequence", "1"]).ok();
    w.pack("two.airlock", &["--sequence", "2"]).ok();
    let backup = fs::read(w.path("pstore/state.json")).unwrap();
    let floor = |n: &str| {
        run(
            &w,
            &hsm,
            &[
                "anchor",
                "floor",
                "--store",
                "pstore",
                "--channel",
                "default",
                "--sequence",
                n,
                "--json",
            ],
        )
    };
    floor("2").ok();
    let unpack = |bundle: &str, to: &str| {
        run(
            &w,
            &hsm,
            &["unpack", bundle, "--store", "pstore", "--to", to, "--json"],
        )
    };
    let r = unpack("one.airlock", "out1");
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "sequence-below-floor"),
        "{}",
        r.stderr
    );
    assert!(!w.path("out1").exists());
    let r = floor("1");
    assert_eq!((r.code, r.error_code().as_str()), (2, "floor-not-raised"));
    let show = run(&w, &hsm, &["anchor", "show", "--store", "pstore", "--json"]).ok();
    assert_eq!(show.json()["floors"], serde_json::json!({"default": 2}));
    // The state from before the floor, put back: the token's counter has
    // moved on, so the floor cannot be dropped by restoring a copy.
    let bound = fs::read(w.path("pstore/state.json")).unwrap();
    fs::write(w.path("pstore/state.json"), &backup).unwrap();
    let r = unpack("one.airlock", "out1");
    assert_eq!((r.code, r.error_code().as_str()), (3, "store-rolled-back"));
    assert!(!w.path("out1").exists());
    fs::write(w.path("pstore/state.json"), &bound).unwrap();
    unpack("two.airlock", "out2").ok();
    run(&w, &hsm, &["journal", "verify", "--store", "pstore"]).ok();
}

#[test]
fn the_pkcs11_store_journal_key_is_on_the_token_and_cutting_the_journal_back_is_detected() {
    let Some((w, hsm)) = pkcs11_world("the_pkcs11_store_journal_key_is_on_the_token") else {
        return;
    };
    // The journal key: a P-256 pair on the token, the private half
    // sensitive and never extractable; nothing of it in the directory.
    let o = pkcs11_tool(&hsm, &["--list-objects"], w.tmp.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let objects = String::from_utf8_lossy(&o.stdout).into_owned();
    let private = objects
        .split("Private Key Object")
        .skip(1)
        .find(|o| o.contains("label:      airlock-journal"))
        .unwrap_or_else(|| panic!("no journal key on the token: {objects}"));
    assert!(private.starts_with("; EC"), "{private}");
    let public = objects
        .split("Public Key Object")
        .skip(1)
        .find(|o| o.contains("label:      airlock-journal"))
        .unwrap_or_else(|| panic!("no journal public key on the token: {objects}"));
    assert!(public.contains("EC_POINT 256 bits"), "{public}");
    assert!(private.contains("never extractable"), "{private}");
    assert!(private.contains("sensitive"), "{private}");
    let files = crate::common::listing(&w.path("pstore"));
    assert!(
        files.iter().all(|f| !f.starts_with("journal-key")),
        "{files:?}"
    );

    w.pack("one.airlock", &["--sequence", "1"]).ok();
    let state_then = fs::read(w.path("pstore/state.json")).unwrap();
    let journal_then = fs::read(w.path("pstore/journal.jsonl")).unwrap();
    run(
        &w,
        &hsm,
        &["unpack", "one.airlock", "--store", "pstore", "--to", "out"],
    )
    .ok();
    let verify = |w: &World| {
        let r = run(
            w,
            &hsm,
            &["journal", "verify", "--store", "pstore", "--json"],
        );
        let code = r.error_code();
        (r.code, code, r)
    };
    let (code, _, r) = verify(&w);
    assert_eq!(code, 0, "{r:?}");
    let last: serde_json::Value = serde_json::from_str(
        fs::read_to_string(w.path("pstore/journal.jsonl"))
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(last["event"], "unpack");
    assert_eq!(last["sig"]["alg"], "ecdsa-p256-sha256");
    // The import removed from the journal, with the state put back to
    // match: the token's counter has moved on.
    fs::write(w.path("pstore/journal.jsonl"), &journal_then).unwrap();
    fs::write(w.path("pstore/state.json"), &state_then).unwrap();
    let (code, err, r) = verify(&w);
    assert_eq!(
        (code, err.as_str()),
        (1, "journal-head-rolled-back"),
        "{r:?}"
    );
}

#[test]
fn a_store_moves_onto_a_new_token_only_with_a_new_journal() {
    let Some((w, lost)) = pkcs11_world("a_store_moves_onto_a_new_token") else {
        return;
    };
    w.pack("one.airlock", &["--sequence", "1"]).ok();
    run(
        &w,
        &lost,
        &["unpack", "one.airlock", "--store", "pstore", "--to", "out"],
    )
    .ok();
    // The first token is lost; a new one takes its place.
    let Some(new) = SoftHsm::new("a_store_moves_onto_a_new_token", "store2") else {
        return;
    };
    let before = tree(&w.path("pstore"));
    let init = |extra: &[&str]| {
        let mut args = anchor_init_args("pstore", "1.root.json", &["--pkcs11"]);
        let uri = new.token_uri();
        args.push(&uri);
        args.extend_from_slice(&["--replace", "--json"]);
        args.extend_from_slice(extra);
        run(&w, &new, &args)
    };
    // The journal's key was on the lost token: refused, nothing changed —
    // neither the directory nor the new token.
    let r = init(&[]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (3, "journal-key-changed"),
        "{r:?}"
    );
    assert!(r.stderr.contains("holds no journal key"), "{}", r.stderr);
    assert_eq!(tree(&w.path("pstore")), before);
    let o = pkcs11_tool(&new, &["--list-objects"], w.tmp.path());
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("airlock"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // With --new-journal: the state is kept, the old journal is closed.
    let j = init(&["--new-journal"]).ok().json();
    assert_eq!(j["closed_journals"].as_array().unwrap().len(), 1);
    let r = run(
        &w,
        &new,
        &["verify", "one.airlock", "--store", "pstore", "--json"],
    );
    assert_eq!((r.code, r.error_code().as_str()), (1, "replay"));
    let r = run(
        &w,
        &new,
        &["journal", "verify", "--store", "pstore", "--json"],
    );
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn the_pkcs11_counter_is_one_object_whatever_the_history() {
    let Some((w, hsm)) = pkcs11_world("the_pkcs11_counter_is_one_object") else {
        return;
    };
    if crate::emulators::missing(
        "the_pkcs11_counter_is_one_object (pkcs11-tool)",
        &["pkcs11-tool"],
    )
    .is_some()
    {
        return;
    }
    w.pack("rel.airlock", &[]).ok();
    let data_objects = || {
        let o = pkcs11_tool(&hsm, &["--list-objects", "--type", "data"], w.tmp.path());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout)
            .matches("Data object")
            .count()
    };
    run(&w, &hsm, &["verify", "rel.airlock", "--store", "pstore"]).ok();
    let after_one = data_objects();
    for _ in 0..5 {
        run(&w, &hsm, &["verify", "rel.airlock", "--store", "pstore"]).ok();
    }
    assert_eq!(
        data_objects(),
        after_one,
        "every decision added a token object"
    );
    let show = run(&w, &hsm, &["anchor", "show", "--store", "pstore"]).ok();
    assert!(
        show.stdout.contains("one private, non-destroyable object"),
        "{}",
        show.stdout
    );
}

/// Key pairs `pkcs11-tool` (OpenSC) generated on the token, ECDSA P-384 and
/// RSA-3072 (the CNSA suite, and what PIV cards and HSM policies hold),
/// named by label, by `id=` alone, or by both: `key id` and `key show` name
/// them, and they sign a root, a layout, a link and a bundle that verify
/// and unpack; openssl checks their signatures independently.
#[test]
fn p384_and_rsa_keys_made_by_pkcs11_tool_sign_a_root_a_layout_a_link_and_a_bundle() {
    let Some(hsm) = SoftHsm::new("p384_and_rsa_token_keys", "release") else {
        return;
    };
    if crate::emulators::missing("p384_and_rsa_token_keys (pkcs11-tool)", &["pkcs11-tool"])
        .is_some()
    {
        return;
    }
    let w = World::new();
    fs::remove_dir_all(w.path("store")).unwrap();
    fs::remove_dir_all(w.path("links")).unwrap();
    fs::create_dir_all(w.path("links")).unwrap();
    fs::remove_file(w.path("1.root.json")).unwrap();
    // (label, id, pkcs11-tool key type, how the URI names it)
    let keys = [
        ("root", "01", "EC:secp384r1", "id"),
        ("release", "02", "rsa:3072", "label"),
        ("builder", "03", "EC:secp384r1", "both"),
        ("owner", "04", "rsa:3072", "label"),
    ];
    let mut uris = std::collections::BTreeMap::new();
    let mut ids = std::collections::BTreeMap::new();
    for (label, id, kind, by) in keys {
        let o = pkcs11_tool(
            &hsm,
            &[
                "--keypairgen",
                "--key-type",
                kind,
                "--label",
                label,
                "--id",
                id,
                "--usage-sign",
            ],
            w.tmp.path(),
        );
        assert!(o.status.success(), "pkcs11-tool: {o:?}");
        let uri = hsm.uri(label);
        let uri = match by {
            "id" => uri.replace(&format!("object={label}"), &format!("id=%{id}")),
            "both" => uri.replace(
                &format!("object={label}"),
                &format!("object={label};id=%{id}"),
            ),
            _ => uri,
        };
        // `key show` prints the key object a layout or root lists; its
        // public key is the .pub the file-based commands take.
        let shown = run(&w, &hsm, &["key", "show", &uri, "--json"]).ok().json();
        let object = &shown["key"];
        let (keytype, scheme) = match kind {
            "rsa:3072" => ("rsa", "rsassa-pss-sha256"),
            _ => ("ecdsa", "ecdsa-sha2-nistp384"),
        };
        assert_eq!(object["keytype"], keytype, "{shown}");
        assert_eq!(object["scheme"], scheme, "{shown}");
        let pem = object["keyval"]["public"].as_str().unwrap();
        w.write(&format!("keys/{label}.pub"), pem.as_bytes());
        let from_file = w
            .run(&["key", "id", &format!("keys/{label}.pub"), "--json"])
            .ok()
            .json();
        assert_eq!(from_file["keys"][0]["keyid"], shown["keyid"]);
        let from_token = run(&w, &hsm, &["key", "id", &uri, "--json"]).ok().json();
        assert_eq!(from_token["keys"][0]["keyid"], shown["keyid"]);
        let text = run(&w, &hsm, &["key", "show", &uri]).ok();
        assert!(
            text.stdout
                .starts_with(&format!("keyid {}\n", shown["keyid"].as_str().unwrap())),
            "{}",
            text.stdout
        );
        ids.insert(label, shown["keyid"].clone());
        uris.insert(label, uri);
    }
    w.write_layout(&[("build", "builder", &[], &[&["ALLOW", "*"]])]);
    run(&w, &hsm, &ROOT_INIT).ok();
    run(
        &w,
        &hsm,
        &["root", "sign", "1.root.json", "--key", &uris["root"]],
    )
    .ok();
    let j = Json::parse(&fs::read(w.path("root.layout")).unwrap()).unwrap();
    w.write(
        "root.layout",
        j.as_obj().unwrap()["signed"].to_pretty().as_bytes(),
    );
    run(
        &w,
        &hsm,
        &["layout", "sign", "root.layout", "--key", &uris["owner"]],
    )
    .ok();
    run(
        &w,
        &hsm,
        &[
            "record",
            "--name",
            "build",
            "--key",
            &uris["builder"],
            "--products",
            "dist",
            "--lstrip-paths",
            "dist/",
            "--exclude",
            "__none__",
            "--out-dir",
            "links",
        ],
    )
    .ok();
    run(&w, &hsm, &anchor_init_args("store", "1.root.json", &[])).ok();
    let epoch = EPOCH.to_string();
    run(
        &w,
        &hsm,
        &pack_args(
            "rel.airlock",
            "1.root.json",
            &[&uris["release"]],
            &["--source-date-epoch", &epoch, "--expires", "36500d"],
        ),
    )
    .ok();
    let v = w
        .run(&["verify", "rel.airlock", "--store", "store", "--json"])
        .ok()
        .json();
    assert_eq!(v["signers"], serde_json::json!([ids["release"]]));
    w.unpack("rel.airlock", "out").ok();
    assert_eq!(tree(&w.path("out")), tree(&w.path("dist")));

    // Each metadata file carries the token key's signature, which openssl
    // verifies: P-384 over SHA-384, RSA as RSASSA-PSS-SHA256.
    let link = fs::read_dir(w.path("links"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    if crate::emulators::missing("p384_and_rsa_token_keys (openssl)", &["openssl"]).is_some() {
        return;
    }
    for (file, key) in [
        (w.path("1.root.json"), "root"),
        (w.path("root.layout"), "owner"),
        (link, "builder"),
    ] {
        let (signed, sigs) = metablock(&file);
        assert_eq!(sigs.len(), 1, "{}", file.display());
        assert_eq!(serde_json::json!(sigs[0].0), ids[key]);
        w.write("meta.signed", &signed);
        w.write("meta.sig", &sigs[0].1);
        let pub_file = format!("keys/{key}.pub");
        let mut args = vec!["dgst"];
        if key == "owner" {
            args.extend([
                "-sha256",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:-2",
            ]);
        } else {
            args.push("-sha384");
        }
        args.extend([
            "-verify",
            &pub_file,
            "-signature",
            "meta.sig",
            "meta.signed",
        ]);
        let o = Command::new("openssl")
            .current_dir(w.tmp.path())
            .args(&args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "openssl on {}: {}",
            file.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        w.write("meta.signed", b"something else");
        let o = Command::new("openssl")
            .current_dir(w.tmp.path())
            .args(&args)
            .output()
            .unwrap();
        assert!(!o.status.success(), "openssl really checked");
    }
}

/// The enclave policy on a PKCS#11 store (docs/policy.md): bound to the
/// token's counter like the anchor, so a swapped policy file is detected
/// and a state from before the policy was set is a rollback; the receipt
/// is signed by the token's journal key.
#[test]
fn a_policy_swapped_on_a_pkcs11_store_is_detected_and_receipts_are_signed_on_the_token() {
    let Some((w, hsm)) = pkcs11_world("a_policy_swapped_on_a_pkcs11_store") else {
        return;
    };
    w.pack("one.airlock", &["--sequence", "1"]).ok();
    let before = fs::read(w.path("pstore/state.json")).unwrap();
    w.write(
        "never.toml",
        b"format = 1\nlanguage = \"cel\"\n[[rule]]\nname = \"never\"\nexpr = \"false\"\n",
    );
    let set = run(
        &w,
        &hsm,
        &["policy", "set", "--store", "pstore", "never.toml", "--json"],
    )
    .ok();
    let sha = set.json()["policy"]["sha256"].as_str().unwrap().to_owned();
    let unpack = |to: &str| {
        run(
            &w,
            &hsm,
            &[
                "unpack",
                "one.airlock",
                "--store",
                "pstore",
                "--to",
                to,
                "--json",
            ],
        )
    };
    let r = unpack("out");
    assert_eq!((r.code, r.error_code().as_str()), (1, "policy-denied"));
    // The file swapped for one that admits everything: detected.
    let file = w.path(&format!("pstore/policy/{sha}.toml"));
    let saved = fs::read(&file).unwrap();
    fs::write(
        &file,
        b"format = 1\nlanguage = \"cel\"\n[[rule]]\nname = \"never\"\nexpr = \"true\"\n",
    )
    .unwrap();
    let r = unpack("out");
    assert_eq!((r.code, r.error_code().as_str()), (3, "policy-tampered"));
    assert!(!w.path("out").exists());
    fs::write(&file, saved).unwrap();
    // The state from before the policy was set: the token's counter has
    // moved on.
    let current = fs::read(w.path("pstore/state.json")).unwrap();
    fs::write(w.path("pstore/state.json"), &before).unwrap();
    let r = unpack("out");
    assert_eq!((r.code, r.error_code().as_str()), (3, "store-rolled-back"));
    assert!(!w.path("out").exists());
    fs::write(w.path("pstore/state.json"), &current).unwrap();
    // Admitted under a policy that holds: the receipt verifies with the
    // token's journal key (its SubjectPublicKeyInfo, from record 1).
    w.write(
        "any.toml",
        b"format = 1\nlanguage = \"cel\"\n[[rule]]\nname = \"any\"\nexpr = \"true\"\n",
    );
    run(
        &w,
        &hsm,
        &["policy", "set", "--store", "pstore", "any.toml"],
    )
    .ok();
    unpack("out").ok();
    w.assert_receipt_signed_by_journal_key("pstore", "token-journal.pub");
}
