//! The whole story (pack → anchor init → verify → unpack) with ECDSA P-256,
//! ECDSA P-384 and RSA-PSS keys in place of Ed25519: keys made by
//! `airlock keygen --type ecdsa-p256`, and keys made by OpenSSL (the
//! committed vectors of `hsm/tests/data`, made by `scripts/gen-key-vectors.sh`).
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::common::{World, tree};

/// A committed test key or its public half, `hsm/tests/data/keys/NAME`.
fn vector(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("hsm/tests/data/keys")
        .join(name)
}

/// Where a role's key comes from.
enum Key {
    /// `airlock keygen --type TYPE`.
    Keygen(&'static str),
    /// The committed OpenSSL-made key `NAME.pem` / `NAME.pub`.
    Committed(&'static str),
}

/// The standard fixture, re-keyed: `keys/root` and `keys/release` (the
/// targets key) replaced by `root` and `targets`, and the root and the store
/// made anew with them. Artifacts, layout and links stay the fixture's.
fn world_with(root: Key, targets: Key) -> World {
    let w = World::new();
    fs::remove_dir_all(w.path("store")).unwrap();
    fs::remove_file(w.path("1.root.json")).unwrap();
    for (role, key) in [("root", root), ("release", targets)] {
        for ext in ["pem", "pub"] {
            fs::remove_file(w.path(&format!("keys/{role}.{ext}"))).unwrap();
        }
        match key {
            Key::Keygen(kind) => {
                let r = w
                    .run(&["keygen", "--out", &format!("keys/{role}"), "--type", kind])
                    .ok();
                assert!(r.stdout.starts_with("keyid "), "{}", r.stdout);
            }
            Key::Committed(name) => {
                for ext in ["pem", "pub"] {
                    let to = w.path(&format!("keys/{role}.{ext}"));
                    fs::copy(vector(&format!("{name}.{ext}")), &to).unwrap();
                    fs::set_permissions(&to, fs::Permissions::from_mode(0o600)).unwrap();
                }
            }
        }
    }
    w.sign_root();
    w.anchor_store();
    w
}

/// The key object of keyid `id` in the root's `keys`.
fn root_key(w: &World, id: &str) -> serde_json::Value {
    let root: serde_json::Value =
        serde_json::from_slice(&fs::read(w.path("1.root.json")).unwrap()).unwrap();
    root["signed"]["keys"][id].clone()
}

/// `airlock key id FILE --json`: (keyid, keytype) of the one file.
fn key_id(w: &World, file: &str) -> (String, String) {
    let j = w.run(&["key", "id", file, "--json"]).ok().json();
    let k = &j["keys"][0];
    (
        k["keyid"].as_str().unwrap().to_owned(),
        k["keytype"].as_str().unwrap().to_owned(),
    )
}

/// pack → verify → unpack, each with exit 0, and the tree comes back.
fn round_trip(w: &World) {
    w.pack("rel.airlock", &["--channel", "stable", "--sequence", "3"])
        .ok();
    let before = w.store_state();
    let v = w
        .run(&["verify", "rel.airlock", "--store", "store", "--json"])
        .ok()
        .json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["sequence"], 3);
    assert_eq!(w.store_state(), before, "verify leaves the store unchanged");
    w.unpack("rel.airlock", "out").ok();
    assert_eq!(tree(&w.path("out")), tree(&w.path("dist")));
    assert_ne!(w.store_state(), before, "unpack records the import");
}

#[test]
fn ecdsa_p256_keys_from_keygen_carry_a_bundle_across() {
    let w = world_with(Key::Keygen("ecdsa-p256"), Key::Keygen("ecdsa-p256"));
    let mode = fs::metadata(w.path("keys/release.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let pem = fs::read_to_string(w.path("keys/release.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");

    let (id, keytype) = key_id(&w, "keys/release.pub");
    assert_eq!(keytype, "ecdsa-p256");
    assert_eq!(key_id(&w, "keys/release.pem"), (id.clone(), keytype));
    let object = root_key(&w, &id);
    assert_eq!(object["keytype"], "ecdsa");
    assert_eq!(object["scheme"], "ecdsa-sha2-nistp256");
    assert_eq!(
        object["keyval"]["public"].as_str().unwrap(),
        fs::read_to_string(w.path("keys/release.pub")).unwrap()
    );

    round_trip(&w);
    // The same bundle again: already imported (replay), refused.
    w.unpack("rel.airlock", "again")
        .fails(1, "has already been imported");
    assert!(!w.path("again").exists());
}

#[test]
fn openssl_rsa_targets_key_and_p384_root_key_carry_a_bundle_across() {
    let w = world_with(Key::Committed("p384"), Key::Committed("rsa3072"));
    let expected: serde_json::Value = serde_json::from_slice(
        &fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("hsm/tests/data/expected.json"))
            .unwrap(),
    )
    .unwrap();
    // keyids are securesystemslib's, for the public and the private files.
    for (file, name, keytype) in [
        ("keys/release.pub", "rsa3072", "rsa-pss-sha256"),
        ("keys/release.pem", "rsa3072", "rsa-pss-sha256"),
        ("keys/root.pub", "p384", "ecdsa-p384"),
        ("keys/root.pem", "p384", "ecdsa-p384"),
    ] {
        let want = expected[name]["keyid"].as_str().unwrap().to_owned();
        assert_eq!(key_id(&w, file), (want, keytype.to_owned()), "{file}");
    }
    let rsa = root_key(&w, expected["rsa3072"]["keyid"].as_str().unwrap());
    assert_eq!(rsa["keytype"], "rsa");
    assert_eq!(rsa["scheme"], "rsassa-pss-sha256");
    let p384 = root_key(&w, expected["p384"]["keyid"].as_str().unwrap());
    assert_eq!(p384["scheme"], "ecdsa-sha2-nistp384");

    round_trip(&w);
}

#[test]
fn a_key_outside_the_targets_role_cannot_pack_whatever_its_type() {
    let w = world_with(Key::Committed("p384"), Key::Committed("rsa3072"));
    // The root key is a P-384 key, not a targets key.
    w.pack_as("x.airlock", &["keys/root.pem"], "1.root.json", &[])
        .fails(2, "cannot sign this bundle: manifest signature by");
    assert!(!w.path("x.airlock").exists());
}

#[test]
fn openssl_sec1_and_pkcs1_private_keys_are_accepted() {
    let w = World::bare();
    for (file, name) in [
        ("p256-sec1.pem", "p256"),
        ("rsa3072-pkcs1.pem", "rsa3072"),
        ("p256-ecparam.pem", "p256-ecparam"),
    ] {
        fs::copy(vector(file), w.path(file)).unwrap();
        fs::copy(
            vector(&format!("{name}.pub")),
            w.path(&format!("{name}.pub")),
        )
        .unwrap();
        assert_eq!(
            key_id(&w, file),
            key_id(&w, &format!("{name}.pub")),
            "{file}"
        );
    }
}

#[test]
fn small_rsa_keys_and_unsupported_curves_are_refused() {
    let w = World::bare();
    for (file, needle) in [
        ("rsa1024.pub", "RSA key of 1024 bits is too small"),
        ("rsa1024.pem", "RSA key of 1024 bits is too small"),
        ("p521.pub", "unsupported elliptic curve 1.3.132.0.35"),
    ] {
        fs::copy(vector(file), w.path(file)).unwrap();
        w.run(&["key", "id", file]).fails(2, needle);
    }
}

/// A TUF root whose root key is listed under `rsa-pkcs1v15-sha256` (as
/// cloud KMS signers list theirs) and signed with PKCS#1 v1.5 by openssl:
/// `anchor init` accepts it (it counted as "signed by 0 of 1"), and the
/// same signature does not count for the key listed as RSASSA-PSS.
#[test]
fn a_root_signed_by_an_rsa_pkcs1v15_root_key_is_accepted() {
    use airlock::json::Json;
    use sha2::{Digest, Sha256};
    if crate::emulators::missing("rsa_pkcs1v15_root (openssl)", &["openssl"]).is_some() {
        return;
    }
    let w = World::new();
    for ext in ["pem", "pub"] {
        let to = w.path(&format!("keys/kms.{ext}"));
        fs::copy(vector(&format!("rsa3072.{ext}")), &to).unwrap();
        fs::set_permissions(&to, fs::Permissions::from_mode(0o600)).unwrap();
    }
    w.run(&[
        "root",
        "init",
        "--layout-key",
        "keys/owner.pub",
        "--out",
        "pss.root.json",
        "--root-key",
        "keys/kms.pub",
        "--targets-key",
        "keys/release.pub",
        "--expires",
        "3650d",
    ])
    .ok();
    let root = Json::parse(&fs::read(w.path("pss.root.json")).unwrap()).unwrap();
    let Json::Obj(mut signed) = root.as_obj().unwrap()["signed"].clone() else {
        panic!("no signed")
    };
    let Json::Arr(ids) = &signed["roles"].as_obj().unwrap()["root"].as_obj().unwrap()["keyids"]
    else {
        panic!("no root keyids")
    };
    let pss_id = ids[0].as_str().unwrap().to_owned();
    // The same key under the PKCS#1 v1.5 scheme: a new key object, keyid.
    let Json::Obj(keys) = &signed["keys"] else {
        panic!("no keys")
    };
    let Json::Obj(mut object) = keys[&pss_id].clone() else {
        panic!("no key object")
    };
    assert_eq!(object["scheme"].as_str(), Some("rsassa-pss-sha256"));
    object.insert("scheme".into(), Json::Str("rsa-pkcs1v15-sha256".into()));
    let object = Json::Obj(object);
    let v15_id = hex::encode(Sha256::digest(object.canonical()));
    let rekey = |signed: &mut std::collections::BTreeMap<String, Json>, id: &str, key: &Json| {
        let Json::Obj(keys) = signed.get_mut("keys").unwrap() else {
            panic!()
        };
        keys.remove(&pss_id);
        keys.insert(id.to_owned(), key.clone());
        let Json::Obj(roles) = signed.get_mut("roles").unwrap() else {
            panic!()
        };
        let Json::Obj(role) = roles.get_mut("root").unwrap() else {
            panic!()
        };
        role.insert("keyids".into(), Json::Arr(vec![Json::Str(id.to_owned())]));
    };
    let pss_object = keys[&pss_id].clone();
    let sign = |signed: &std::collections::BTreeMap<String, Json>, id: &str, out: &str| {
        let signed = Json::Obj(signed.clone());
        w.write("root.signed", &signed.canonical());
        let o = std::process::Command::new("openssl")
            .current_dir(w.tmp.path())
            .args([
                "dgst",
                "-sha256",
                "-sign",
                "keys/kms.pem",
                "-out",
                "root.sig",
            ])
            .arg("root.signed")
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
        let sig = fs::read(w.path("root.sig")).unwrap();
        let file = Json::Obj(
            [
                ("signed".to_owned(), signed),
                (
                    "signatures".to_owned(),
                    Json::Arr(vec![Json::Obj(
                        [
                            ("keyid".to_owned(), Json::Str(id.to_owned())),
                            ("sig".to_owned(), Json::Str(hex::encode(sig))),
                        ]
                        .into(),
                    )]),
                ),
            ]
            .into(),
        );
        w.write(out, file.to_pretty().as_bytes());
    };
    rekey(&mut signed, &v15_id, &object);
    sign(&signed, &v15_id, "kms.root.json");
    w.run(&[
        "anchor",
        "init",
        "--channel",
        "default",
        "--store",
        "kms-store",
        "--root",
        "kms.root.json",
    ])
    .ok();
    // The PKCS#1 v1.5 signature under the key listed as RSASSA-PSS: no.
    rekey(&mut signed, &pss_id, &pss_object);
    sign(&signed, &pss_id, "pss.root.json");
    let r = w.run(&[
        "anchor",
        "init",
        "--channel",
        "default",
        "--store",
        "pss-store",
        "--root",
        "pss.root.json",
        "--json",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(!w.path("pss-store/airlock-store.json").exists());
}
