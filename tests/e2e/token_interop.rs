//! Every common key, checked by the reference tools: ECDSA P-384 and
//! RSA-3072 key pairs that OpenSC's `pkcs11-tool` made on a SoftHSM2 token
//! (and an RSA key file from `openssl genpkey`), RSA under both
//! `rsassa-pss-sha256` and `rsa-pkcs1v15-sha256` (a key named with the
//! `rsa-pkcs1v15-sha256:` prefix), sign a root, a layout, links and a
//! bundle; python-tuf 7.0.1 loads the root, in-toto 3.1.0
//! (`in-toto-verify`, and its API for the PKCS#1 v1.5 layout key) accepts
//! the layout and links, and airlock verifies and unpacks the bundle. Also:
//! `keygen --pkcs11` of P-384 and RSA-3072 pairs, a project whose every
//! role is a PKCS#1 v1.5 key, and the refusals that name a scheme.
//!
//! The reference tools come from a venv scripts/test.sh makes
//! (`target/interop-venv`, `AIRLOCK_INTEROP_PYTHON`); never downloaded
//! here. Under `CI=true` a missing venv or emulator fails the test.
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::common::{EPOCH, Run, World, airlock_bin, tree};
use crate::emulators::{SoftHsm, missing, softhsm_module};

const PKCS1V15: &str = "rsa-pkcs1v15-sha256:";

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Python with tuf 7.0.1, securesystemslib 1.6.0 and in-toto 3.1.0
/// (scripts/test.sh makes target/interop-venv); under CI its absence fails
/// the test.
fn interop_python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("AIRLOCK_INTEROP_PYTHON").map(PathBuf::from),
        Some(repo("target/interop-venv/bin/python")),
    ];
    for p in candidates.into_iter().flatten() {
        let ok = Command::new(&p)
            .args(["-c", "import tuf, in_toto, securesystemslib, cryptography"])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(p);
        }
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI needs python-tuf and in-toto (scripts/test.sh installs them into target/interop-venv)"
    );
    eprintln!("SKIPPED: python-tuf / in-toto not installed (run scripts/test.sh once)");
    None
}

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

/// A key pair generated on the token by OpenSC's pkcs11-tool.
fn pkcs11_tool_keypair(hsm: &SoftHsm, label: &str, id: &str, kind: &str) {
    let o = Command::new("pkcs11-tool")
        .env("SOFTHSM2_CONF", hsm.conf())
        .arg("--module")
        .arg(softhsm_module())
        .args(["--token-label", &hsm.label, "--login", "--pin", &hsm.pin()])
        .args(["--keypairgen", "--key-type", kind, "--label", label])
        .args(["--id", id, "--usage-sign"])
        .output()
        .unwrap();
    assert!(o.status.success(), "pkcs11-tool: {o:?}");
}

/// A reference tool's verdict: whether it accepted, and what it said.
fn reference(cmd: &mut Command) -> (bool, String) {
    let o = cmd.output().unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// `key show --json` of `spec`, checked against `key id` of the same key;
/// writes its public key to `keys/NAME.pub`.
fn show(w: &World, hsm: &SoftHsm, spec: &str, name: &str, scheme: &str) -> Value {
    let shown = run(w, hsm, &["key", "show", spec, "--json"]).ok().json();
    assert_eq!(shown["key"]["scheme"], scheme, "{spec}: {shown}");
    let id = run(w, hsm, &["key", "id", spec, "--json"]).ok().json();
    assert_eq!(id["keys"][0]["keyid"], shown["keyid"], "{spec}");
    let pem = shown["key"]["keyval"]["public"].as_str().unwrap();
    w.write(&format!("keys/{name}.pub"), pem.as_bytes());
    // The .pub file, named under the same scheme, has the same keyid.
    let prefix = if scheme == "rsa-pkcs1v15-sha256" {
        PKCS1V15
    } else {
        ""
    };
    let from_file = w
        .run(&["key", "id", &format!("{prefix}keys/{name}.pub"), "--json"])
        .ok()
        .json();
    assert_eq!(from_file["keys"][0]["keyid"], shown["keyid"], "{spec}");
    shown
}

#[test]
fn p384_and_rsa_token_keys_sign_a_root_a_layout_links_and_a_bundle_python_tuf_and_in_toto_accept() {
    let Some(hsm) = SoftHsm::new("token_interop", "interop") else {
        return;
    };
    if missing("token_interop", &["pkcs11-tool", "openssl"]).is_some() {
        return;
    }
    let Some(python) = interop_python() else {
        return;
    };
    let w = World::bare();
    // (label, id, pkcs11-tool type, how the URI names it, scheme)
    let token_keys = [
        ("root-ec", "01", "EC:secp384r1", "id", "ecdsa-sha2-nistp384"),
        ("root-kms", "02", "rsa:3072", "label", "rsa-pkcs1v15-sha256"),
        ("release", "03", "rsa:3072", "label", "rsassa-pss-sha256"),
        ("release-kms", "04", "rsa:3072", "id", "rsa-pkcs1v15-sha256"),
        ("owner", "05", "rsa:3072", "both", "rsassa-pss-sha256"),
        (
            "owner-kms",
            "06",
            "rsa:3072",
            "label",
            "rsa-pkcs1v15-sha256",
        ),
        (
            "builder",
            "07",
            "EC:secp384r1",
            "both",
            "ecdsa-sha2-nistp384",
        ),
    ];
    let mut key: BTreeMap<&str, String> = BTreeMap::new();
    let mut ids: BTreeMap<&str, Value> = BTreeMap::new();
    let mut objects: BTreeMap<&str, Value> = BTreeMap::new();
    for (label, id, kind, by, scheme) in token_keys {
        pkcs11_tool_keypair(&hsm, label, id, kind);
        let uri = hsm.uri(label);
        let uri = match by {
            "id" => uri.replace(&format!("object={label}"), &format!("id=%{id}")),
            "both" => uri.replace(
                &format!("object={label}"),
                &format!("object={label};id=%{id}"),
            ),
            _ => uri,
        };
        let spec = if scheme == "rsa-pkcs1v15-sha256" {
            format!("{PKCS1V15}{uri}")
        } else {
            uri
        };
        let shown = show(&w, &hsm, &spec, label, scheme);
        ids.insert(label, shown["keyid"].clone());
        objects.insert(label, shown["key"].clone());
        key.insert(label, spec);
    }
    // A functionary's RSA key file (openssl), signing PKCS#1 v1.5.
    let o = Command::new("openssl")
        .current_dir(w.tmp.path())
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .args(["-out", "keys/packager.pem"])
        .output()
        .unwrap();
    assert!(o.status.success(), "openssl: {o:?}");
    let packager = format!("{PKCS1V15}keys/packager.pem");
    let shown = show(&w, &hsm, &packager, "packager", "rsa-pkcs1v15-sha256");
    ids.insert("packager", shown["keyid"].clone());
    objects.insert("packager", shown["key"].clone());
    key.insert("packager", packager);

    // The root: P-384 and PKCS#1 v1.5 root keys, PSS and PKCS#1 v1.5
    // targets keys, PSS and PKCS#1 v1.5 layout owners, all needed.
    let pkcs1 = |name: &str| format!("{PKCS1V15}keys/{name}.pub");
    let (root_kms, release_kms, owner_kms) =
        (pkcs1("root-kms"), pkcs1("release-kms"), pkcs1("owner-kms"));
    w.run(&[
        "root",
        "init",
        "--out",
        "1.root.json",
        "--root-key",
        "keys/root-ec.pub",
        &root_kms,
        "--root-threshold",
        "2",
        "--targets-key",
        "keys/release.pub",
        &release_kms,
        "--targets-threshold",
        "2",
        "--layout-key",
        "keys/owner.pub",
        &owner_kms,
        "--layout-threshold",
        "2",
        "--expires",
        "3650d",
    ])
    .ok();
    run(
        &w,
        &hsm,
        &["root", "sign", "1.root.json", "--key", &key["root-ec"]],
    )
    .ok();
    // The RSA root key named without its scheme is refused, naming the
    // scheme the root lists it under, and the root is left as it was.
    let before = fs::read(w.path("1.root.json")).unwrap();
    let plain = key["root-kms"].strip_prefix(PKCS1V15).unwrap();
    let r = run(
        &w,
        &hsm,
        &["root", "sign", "1.root.json", "--key", plain, "--json"],
    );
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (2, "usage"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("under the rsa-pkcs1v15-sha256 scheme"),
        "{}",
        r.stdout
    );
    assert_eq!(fs::read(w.path("1.root.json")).unwrap(), before);
    run(
        &w,
        &hsm,
        &["root", "sign", "1.root.json", "--key", &key["root-kms"]],
    )
    .ok();

    // The layout lists the functionaries as `key show` printed them
    // (in-toto 3.1 also wants the keyid inside each key object).
    let with_id = |name: &str| {
        let mut o = objects[name].clone();
        o["keyid"] = ids[name].clone();
        (ids[name].as_str().unwrap().to_owned(), o)
    };
    let keys: serde_json::Map<String, Value> =
        ["builder", "packager"].into_iter().map(with_id).collect();
    let step = |name: &str, who: &str| {
        json!({"_type": "step", "name": name, "threshold": 1, "pubkeys": [ids[who]],
               "expected_command": [], "expected_materials": [["ALLOW", "*"]],
               "expected_products": [["ALLOW", "*"]]})
    };
    let layout = json!({"_type": "layout", "expires": "2099-01-01T00:00:00Z",
        "readme": "token keys", "keys": keys,
        "steps": [step("build", "builder"), step("package", "packager")], "inspect": []});
    w.write(
        "root.layout",
        serde_json::to_string_pretty(&layout).unwrap().as_bytes(),
    );
    run(
        &w,
        &hsm,
        &[
            "layout",
            "sign",
            "root.layout",
            "--key",
            &key["owner"],
            &key["owner-kms"],
        ],
    )
    .ok();
    w.write("dist/app", b"app 1.0\n");
    for (step, who) in [("build", "builder"), ("package", "packager")] {
        run(
            &w,
            &hsm,
            &[
                "record",
                "--name",
                step,
                "--key",
                &key[who],
                "--products",
                "dist",
                "--lstrip-paths",
                "dist/",
                "--out-dir",
                "links",
            ],
        )
        .ok();
    }

    // A bundle signed by both targets keys; the PKCS#1 v1.5 one named
    // without its scheme is refused first, and nothing is written.
    let epoch = EPOCH.to_string();
    let pack = |keys: &[&str]| {
        let mut args = vec![
            "pack",
            "--out",
            "rel.airlock",
            "--root",
            "1.root.json",
            "--layout",
            "root.layout",
            "--layout-key",
            "keys/owner.pub",
            &owner_kms,
            "--links",
            "links",
            "--artifacts",
            "dist",
            "--source-date-epoch",
            &epoch,
            "--expires",
            "36500d",
            "--json",
        ];
        for k in keys {
            args.extend(["--key", k]);
        }
        run(&w, &hsm, &args)
    };
    let plain = key["release-kms"].strip_prefix(PKCS1V15).unwrap();
    let r = pack(&[&key["release"], plain]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (2, "usage"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("under the rsa-pkcs1v15-sha256 scheme"),
        "{}",
        r.stdout
    );
    assert!(!w.path("rel.airlock").exists());
    pack(&[&key["release"], &key["release-kms"]]).ok();
    w.run(&[
        "anchor",
        "init",
        "--channel",
        "default",
        "--store",
        "store",
        "--root",
        "1.root.json",
    ])
    .ok();
    let v = w
        .run(&["verify", "rel.airlock", "--store", "store", "--json"])
        .ok()
        .json();
    let mut signers: Vec<Value> = v["signers"].as_array().unwrap().clone();
    signers.sort_by_key(|s| s.as_str().unwrap().to_owned());
    let mut want = vec![ids["release"].clone(), ids["release-kms"].clone()];
    want.sort_by_key(|s| s.as_str().unwrap().to_owned());
    assert_eq!(signers, want);
    w.unpack("rel.airlock", "out").ok();
    assert_eq!(tree(&w.path("out")), tree(&w.path("dist")));

    // python-tuf loads the root: both root signatures verify, P-384 and
    // PKCS#1 v1.5.
    let (ok, said) = reference(
        Command::new(&python)
            .arg(repo("scripts/lib/tuf_interop.py"))
            .args(["load", "1.root.json"])
            .current_dir(w.tmp.path()),
    );
    assert!(ok, "python-tuf refuses the root: {said}");
    // in-toto-verify accepts the layout (the PSS owner key) and the links
    // (P-384 token key, PKCS#1 v1.5 key file) ...
    let in_toto_verify = python.with_file_name("in-toto-verify");
    let verify_links = |dir: &str| {
        reference(
            Command::new(&in_toto_verify)
                .args([
                    "--layout",
                    "../root.layout",
                    "--verification-keys",
                    "../keys/owner.pub",
                ])
                .args(["--link-dir", dir])
                .current_dir(w.path("dist")),
        )
    };
    let (ok, said) = verify_links("../links");
    assert!(ok, "in-toto-verify refuses: {said}");
    // ... and in-toto's API the layout's PKCS#1 v1.5 owner signature.
    let (ok, said) = reference(
        Command::new(&python)
            .arg(repo("scripts/lib/intoto_keys.py"))
            .args([
                "../root.layout",
                "../links",
                "rsassa-pss-sha256:../keys/owner.pub",
            ])
            .arg("rsa-pkcs1v15-sha256:../keys/owner-kms.pub")
            .current_dir(w.path("dist")),
    );
    assert!(
        ok,
        "in-toto refuses the PKCS#1 v1.5 layout signature: {said}"
    );
    // The references really check: a tampered link is refused by both.
    fs::create_dir_all(w.path("links.bad")).unwrap();
    for e in fs::read_dir(w.path("links")).unwrap() {
        let p = e.unwrap().path();
        let text = fs::read_to_string(&p)
            .unwrap()
            .replace("\"app\"", "\"app2\"");
        fs::write(w.path("links.bad").join(p.file_name().unwrap()), text).unwrap();
    }
    let (ok, said) = verify_links("../links.bad");
    assert!(!ok, "in-toto-verify accepts tampered links: {said}");
    let mut bad: Value = serde_json::from_slice(&fs::read(w.path("1.root.json")).unwrap()).unwrap();
    bad["signed"]["version"] = json!(2);
    w.write("bad.root.json", bad.to_string().as_bytes());
    let (ok, said) = reference(
        Command::new(&python)
            .arg(repo("scripts/lib/tuf_interop.py"))
            .args(["load", "bad.root.json"])
            .current_dir(w.tmp.path()),
    );
    assert!(!ok, "python-tuf accepts a changed root: {said}");
}

/// `keygen --pkcs11` makes ECDSA P-384 and RSA-3072 pairs on the token,
/// sensitive and never extractable; the RSA one signs RSASSA-PSS, or
/// PKCS#1 v1.5 (CKM_SHA256_RSA_PKCS) when named under
/// `rsa-pkcs1v15-sha256:`, and openssl checks each link signature.
#[test]
fn keygen_makes_p384_and_rsa_3072_pairs_on_the_token_that_sign_under_both_rsa_schemes() {
    let Some(hsm) = SoftHsm::new("token_keygen_types", "keys") else {
        return;
    };
    if missing("token_keygen_types", &["openssl"]).is_some() {
        return;
    }
    let w = World::bare();
    w.write("dist/app", b"app 1.0\n");
    // (label, --type, how it signs, openssl dgst options)
    let cases: [(&str, &str, &str, &[&str]); 3] = [
        ("ec", "ecdsa-p384", "", &["-sha384"]),
        (
            "rsa",
            "rsa-3072",
            "",
            &[
                "-sha256",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:32",
            ],
        ),
        ("rsa", "rsa-3072", PKCS1V15, &["-sha256"]),
    ];
    for (i, (label, kind, prefix, dgst)) in cases.into_iter().enumerate() {
        let uri = hsm.uri(label);
        if prefix.is_empty() {
            let j = run(
                &w,
                &hsm,
                &[
                    "keygen",
                    "--pkcs11",
                    &uri,
                    "--type",
                    kind,
                    "--out",
                    &format!("keys/{label}"),
                    "--json",
                ],
            )
            .ok()
            .json();
            assert_eq!(j["keytype"], kind);
            assert_eq!(
                (&j["sensitive"], &j["extractable"], &j["never_extractable"]),
                (&json!(true), &json!(false), &json!(true)),
                "{j}"
            );
            let shown = run(&w, &hsm, &["key", "show", &uri, "--json"]).ok().json();
            assert_eq!(shown["keyid"], j["keyid"]);
            assert_eq!(
                shown["key"]["keyval"]["public"].as_str().unwrap(),
                fs::read_to_string(w.path(&format!("keys/{label}.pub"))).unwrap()
            );
        }
        if kind == "ecdsa-p384" {
            // PKCS#1 v1.5 is for RSA keys only, on tokens as in files.
            let r = run(
                &w,
                &hsm,
                &["key", "show", &format!("{PKCS1V15}{uri}"), "--json"],
            );
            assert_eq!(
                (r.code, r.error_code().as_str()),
                (2, "key-invalid"),
                "{}",
                r.stdout
            );
            assert!(
                r.stdout
                    .contains("the rsa-pkcs1v15-sha256 scheme needs an RSA key, not ecdsa-p384"),
                "{}",
                r.stdout
            );
        }
        let spec = format!("{prefix}{uri}");
        let step = format!("s{i}");
        let out = format!("links{i}");
        run(
            &w,
            &hsm,
            &[
                "record",
                "--name",
                &step,
                "--key",
                &spec,
                "--products",
                "dist",
                "--out-dir",
                &out,
            ],
        )
        .ok();
        let link = fs::read_dir(w.path(&out))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let doc: Value = serde_json::from_slice(&fs::read(&link).unwrap()).unwrap();
        let keyid =
            run(&w, &hsm, &["key", "id", &spec, "--json"]).ok().json()["keys"][0]["keyid"].clone();
        assert_eq!(doc["signatures"][0]["keyid"], keyid, "{spec}");
        // The signed bytes: the canonical JSON airlock signed.
        let signed = airlock::json::Json::parse(&fs::read(&link).unwrap()).unwrap();
        w.write(
            "meta.signed",
            &signed.as_obj().unwrap()["signed"].canonical(),
        );
        let sig = hex::decode(doc["signatures"][0]["sig"].as_str().unwrap()).unwrap();
        w.write("meta.sig", &sig);
        let check = |data: &str| {
            Command::new("openssl")
                .current_dir(w.tmp.path())
                .arg("dgst")
                .args(dgst)
                .args([
                    "-verify",
                    &format!("keys/{label}.pub"),
                    "-signature",
                    "meta.sig",
                    data,
                ])
                .output()
                .unwrap()
        };
        let o = check("meta.signed");
        assert!(o.status.success(), "openssl on {spec}: {o:?}");
        w.write("other.signed", b"something else");
        assert!(
            !check("other.signed").status.success(),
            "openssl really checked"
        );
    }
}

/// Scheme refusals say which scheme: `rsa-pkcs1v15-sha256:` on a key that
/// is not RSA, an RSA key file asked of `keygen`, and a root whose only root
/// key is under a scheme airlock cannot verify (`rsa-pkcs1v15-sha384`) —
/// refused with the scheme named, never a bare "signed by 0 of 1", and no
/// store is made.
#[test]
fn keys_under_schemes_airlock_cannot_use_are_refused_naming_the_scheme() {
    let w = World::bare();
    w.run(&["keygen", "--type", "ecdsa-p384", "--out", "keys/ec"])
        .ok();
    let r = w.run(&["key", "show", "rsa-pkcs1v15-sha256:keys/ec.pub", "--json"]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (2, "key-invalid"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("the rsa-pkcs1v15-sha256 scheme needs an RSA key, not ecdsa-p384"),
        "{}",
        r.stdout
    );
    let r = w.run(&[
        "record",
        "--name",
        "build",
        "--key",
        "rsa-pkcs1v15-sha256:keys/ec.pem",
        "--products",
        "keys",
        "--json",
    ]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (2, "key-invalid"),
        "{}",
        r.stdout
    );
    let r = w.run(&[
        "keygen", "--type", "rsa-3072", "--out", "keys/rsa", "--json",
    ]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (2, "usage"),
        "{}",
        r.stdout
    );
    assert!(!w.path("keys/rsa.pem").exists() && !w.path("keys/rsa.pub").exists());

    if missing("keys_under_schemes (openssl)", &["openssl"]).is_some() {
        return;
    }
    let o = Command::new("openssl")
        .current_dir(w.tmp.path())
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "keys/kms.pem",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    w.run(&["key", "show", "keys/kms.pem", "--json"]).ok();
    w.write(
        "keys/kms.pub",
        w.run(&["key", "show", "keys/kms.pem", "--json"])
            .ok()
            .json()["key"]["keyval"]["public"]
            .as_str()
            .unwrap()
            .as_bytes(),
    );
    w.run(&[
        "root",
        "init",
        "--out",
        "1.root.json",
        "--root-key",
        "keys/kms.pub",
        "--targets-key",
        "keys/ec.pub",
        "--layout-key",
        "keys/ec.pub",
    ])
    .ok();
    w.root_sign("1.root.json", &["keys/kms.pem"], &[]).ok();
    let text = fs::read_to_string(w.path("1.root.json"))
        .unwrap()
        .replace("\"rsassa-pss-sha256\"", "\"rsa-pkcs1v15-sha384\"");
    w.write("1.root.json", text.as_bytes());
    let r = w.run(&[
        "anchor",
        "init",
        "--channel",
        "default",
        "--store",
        "store",
        "--root",
        "1.root.json",
        "--json",
    ]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "root-threshold"),
        "{}",
        r.stdout
    );
    let message = r.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.ends_with("(keytype \"rsa\", scheme \"rsa-pkcs1v15-sha384\")"),
        "{message}"
    );
    assert!(!w.path("store").exists());
}

/// A layout that lists its functionary's key under a scheme airlock cannot
/// verify: the link is refused with the key type and scheme named
/// (`link-threshold`), by `pack` on the connected side; no bundle is
/// written.
#[test]
fn a_functionary_key_under_a_scheme_airlock_cannot_verify_is_named_in_the_refusal() {
    let w = World::new();
    let doc: Value = serde_json::from_slice(&fs::read(w.path("root.layout")).unwrap()).unwrap();
    let mut layout = doc["signed"].clone();
    let keys = layout["keys"].as_object_mut().unwrap();
    assert_eq!(keys.len(), 1);
    for k in keys.values_mut() {
        k["scheme"] = json!("ed25519-ph");
    }
    w.write(
        "root.layout",
        serde_json::to_string_pretty(&layout).unwrap().as_bytes(),
    );
    w.run(&["layout", "sign", "root.layout", "--key", "keys/owner.pem"])
        .ok();
    let r = w.pack("rel.airlock", &["--json"]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "link-threshold"),
        "{}",
        r.stdout
    );
    let message = r.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("airlock cannot verify key type \"ed25519\" with scheme \"ed25519-ph\""),
        "{message}"
    );
    assert!(!w.path("rel.airlock").exists());
}

/// `airlock init` takes RSA keys under `rsa-pkcs1v15-sha256:` for every
/// role: the root lists them under that scheme, the project file names them
/// with it, and the project's record, pack, verify and unpack work.
#[test]
fn a_project_with_pkcs1v15_rsa_keys_in_every_role_carries_a_bundle_across() {
    let w = World::bare();
    if missing("init_pkcs1v15 (openssl)", &["openssl"]).is_some() {
        return;
    }
    for k in ["root", "release", "owner", "builder"] {
        let o = Command::new("openssl")
            .current_dir(w.tmp.path())
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .args(["-out", &format!("keys/{k}.pem")])
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
    }
    let spec = |k: &str| format!("{PKCS1V15}keys/{k}.pem");
    w.run(&[
        "init",
        "p",
        "--channel",
        "stable",
        "--root-key",
        &spec("root"),
        "--release-key",
        &spec("release"),
        "--owner-key",
        &spec("owner"),
        "--builder-key",
        &spec("builder"),
    ])
    .ok();
    let root: Value = serde_json::from_slice(&fs::read(w.path("p/1.root.json")).unwrap()).unwrap();
    let schemes: Vec<&str> = root["signed"]["keys"]
        .as_object()
        .unwrap()
        .values()
        .map(|k| k["scheme"].as_str().unwrap())
        .collect();
    assert_eq!(schemes, ["rsa-pkcs1v15-sha256"; 2], "{root}");
    w.write("p/dist/a.txt", b"a\n");
    let p = w.path("p");
    let run = |args: &[&str]| crate::common::airlock_in(&p, args);
    run(&["record"]).ok();
    // The owner's key named without its scheme: refused, naming it.
    let r = run(&[
        "pack",
        "--sequence",
        "1",
        "--out",
        "rel.airlock",
        "--layout-key",
        "keys/owner.pub",
        "--json",
    ]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (2, "usage"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("under the rsa-pkcs1v15-sha256 scheme"),
        "{}",
        r.stdout
    );
    assert!(!p.join("rel.airlock").exists());
    run(&["pack", "--sequence", "1", "--out", "rel.airlock"]).ok();
    run(&[
        "anchor",
        "init",
        "--channel",
        "stable",
        "--store",
        "store",
        "--root",
        "1.root.json",
    ])
    .ok();
    let v = run(&["verify", "rel.airlock", "--store", "store", "--json"])
        .ok()
        .json();
    let release = w
        .run(&["key", "id", &spec("release"), "--json"])
        .ok()
        .json();
    assert_eq!(v["signers"], json!([release["keys"][0]["keyid"]]));
    run(&["unpack", "rel.airlock", "--store", "store", "--to", "out"]).ok();
    assert_eq!(tree(&p.join("out")), tree(&p.join("dist")));
    // Split volumes, their index signed PKCS#1 v1.5 by the release key.
    let key = format!("{PKCS1V15}{}", w.path("keys/release.pem").display());
    let split = run(&[
        "split",
        "rel.airlock",
        "--size",
        "1MiB",
        "--key",
        &key,
        "--out",
        "v.airlock",
        "--json",
    ])
    .ok()
    .json();
    let first = split["volumes"][0]["path"].as_str().unwrap().to_owned();
    let j = run(&["volumes", "check", &first, "--store", "store", "--json"])
        .ok()
        .json();
    assert_eq!(j["authenticated"], true, "{j}");
}
