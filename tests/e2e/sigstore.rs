//! Sigstore bundles verified offline (`airlock sigstore verify`) against the
//! reference vectors (tests/vectors/sigstore/, made by
//! scripts/gen-sigstore-vectors.sh from real bundles on PyPI, each with
//! sigstore-python's `verify identity --offline` verdict): airlock reaches
//! the reference's verdict on every case, and refuses each failing one with
//! its exact code and exit 1.
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{World, airlock_in};

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/sigstore")
}

fn cases() -> Vec<Value> {
    let m: Value =
        serde_json::from_slice(&fs::read(vectors().join("vectors.json")).unwrap()).unwrap();
    m["cases"].as_array().unwrap().clone()
}

fn args(case: &Value) -> Vec<String> {
    let s = |k: &str| case[k].as_str().unwrap().to_owned();
    vec![
        "--json".into(),
        "sigstore".into(),
        "verify".into(),
        s("bundle"),
        "--artifact".into(),
        s("artifact"),
        "--trusted-root".into(),
        s("trusted_root"),
        "--certificate-identity".into(),
        s("identity"),
        "--certificate-oidc-issuer".into(),
        s("issuer"),
    ]
}

fn run(case: &Value) -> crate::common::Run {
    let a = args(case);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    airlock_in(&vectors(), &a)
}

#[test]
fn airlock_agrees_with_sigstore_python_on_every_bundle() {
    let cases = cases();
    assert!(cases.len() >= 20, "only {} Sigstore vectors", cases.len());
    let mut wrong = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let reference_ok = case["reference"].as_str().unwrap() == "OK";
        assert_eq!(
            reference_ok,
            name.starts_with("pass_"),
            "{name}: its name disagrees with the reference verdict it records"
        );
        let r = run(case);
        let got = (
            r.code,
            if r.code == 0 {
                String::new()
            } else {
                r.error_code()
            },
        );
        let want = match case["code"].as_str() {
            None => (0, String::new()),
            Some(c) => (1, c.to_owned()),
        };
        if got != want {
            wrong.push(format!("{name}: got {got:?}, want {want:?}: {}", r.stdout));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn a_verified_bundle_reports_who_signed_and_when() {
    let case = cases()
        .into_iter()
        .find(|c| c["name"] == "pass_dsse_github_workflow")
        .unwrap();
    let j = run(&case).ok().json();
    assert_eq!(j["identity"], case["identity"]);
    assert_eq!(j["issuer"], "https://token.actions.githubusercontent.com");
    assert_eq!(j["signed_at"], "2024-06-10T19:47:25Z");
    assert_eq!(j["time_source"], "rekor");
    assert_eq!(j["bundle_version"], "0.3");
    assert_eq!(j["content"], "dsse");
    assert_eq!(j["inclusion_promise"], true);
    assert_eq!(j["inclusion_proof"], true);
    assert_eq!(
        j["sha256"],
        "c9709ce6fd5b67b59b4a28758cf14d3f411803c4b89b6068b1f1a8e4ee94c8ef"
    );
}

/// A copy of a passing case's inputs in a scratch directory, with the
/// bundle or trusted root edited by `edit`.
fn edited(w: &World, file: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let mut case = cases()
        .into_iter()
        .find(|c| c["name"] == "pass_dsse_github_workflow")
        .unwrap();
    for k in ["bundle", "artifact", "trusted_root"] {
        let name = case[k].as_str().unwrap();
        fs::copy(vectors().join(name), w.path(name)).unwrap();
        case[k] = Value::String(w.path(name).display().to_string());
    }
    let path = PathBuf::from(case[file].as_str().unwrap());
    let mut v: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    edit(&mut v);
    fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    case
}

/// An edit of a bundle's JSON.
type Edit = Box<dyn FnOnce(&mut Value)>;

#[test]
fn crafted_bundles_are_refused_with_their_code() {
    let w = World::bare();
    let tlog = |v: &mut Value| v["verificationMaterial"]["tlogEntries"][0].take();
    let crafted: Vec<(&str, Edit, &str)> = vec![
        (
            "not a bundle",
            Box::new(|v: &mut Value| v["mediaType"] = "application/json".into()),
            "sigstore-bundle-malformed",
        ),
        (
            "a future bundle version",
            Box::new(|v: &mut Value| {
                v["mediaType"] = "application/vnd.dev.sigstore.bundle.v0.9+json".into()
            }),
            "sigstore-bundle-unsupported",
        ),
        (
            "no Rekor entry",
            Box::new(|v: &mut Value| {
                v["verificationMaterial"]["tlogEntries"] = Value::Array(vec![])
            }),
            "sigstore-tlog-missing",
        ),
        (
            "a v0.3 bundle without an inclusion proof",
            Box::new(|v: &mut Value| {
                v["verificationMaterial"]["tlogEntries"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("inclusionProof");
            }),
            "sigstore-tlog-missing",
        ),
        (
            "a checkpoint for another tree",
            Box::new(|v: &mut Value| {
                let cp = &mut v["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]
                    ["envelope"];
                *cp = cp
                    .as_str()
                    .unwrap()
                    .replacen("97323998", "97323999", 1)
                    .into();
            }),
            "sigstore-tlog-proof-invalid",
        ),
        (
            "a log index moved",
            Box::new(|v: &mut Value| {
                v["verificationMaterial"]["tlogEntries"][0]["logIndex"] = "101487428".into()
            }),
            "sigstore-tlog-promise-invalid",
        ),
        (
            "a public key instead of a certificate",
            Box::new(|v: &mut Value| {
                let vm = v["verificationMaterial"].as_object_mut().unwrap();
                vm.remove("certificate");
                vm.insert("publicKey".into(), serde_json::json!({"hint": "k"}));
            }),
            "sigstore-bundle-unsupported",
        ),
        (
            "a duplicate key",
            Box::new(|_: &mut Value| {}),
            "sigstore-bundle-malformed",
        ),
        (
            "two Rekor entries",
            Box::new(move |v: &mut Value| {
                let e = tlog(v);
                v["verificationMaterial"]["tlogEntries"] = Value::Array(vec![e.clone(), e]);
            }),
            "sigstore-bundle-unsupported",
        ),
    ];
    for (what, edit, code) in crafted {
        let dup = what == "a duplicate key";
        let case = edited(&w, "bundle", edit);
        if dup {
            let path = case["bundle"].as_str().unwrap();
            let text = fs::read_to_string(path).unwrap();
            let text = text.replacen('{', "{\"mediaType\":\"x\",", 1);
            fs::write(path, text).unwrap();
        }
        let r = run(&case);
        assert_eq!(
            (r.code, r.error_code()),
            (1, code.to_owned()),
            "{what}: {}",
            r.stdout
        );
    }
}

#[test]
fn an_unusable_trusted_root_or_policy_is_the_operators_mistake() {
    let w = World::bare();
    let case = edited(&w, "trusted_root", |v| {
        v["tlogs"][0]["publicKey"]["rawBytes"] = "AAAA".into()
    });
    let r = run(&case);
    assert_eq!(
        (r.code, r.error_code()),
        (2, "sigstore-trusted-root-malformed".to_owned())
    );
    let mut case = edited(&w, "trusted_root", |_| {});
    case["issuer"] = "".into();
    let r = run(&case);
    assert_eq!(
        (r.code, r.error_code()),
        (2, "sigstore-policy-invalid".to_owned())
    );
}

#[test]
fn a_root_without_the_signing_ca_refuses_the_certificate() {
    let w = World::bare();
    let case = edited(&w, "trusted_root", |v| {
        let cas = v["certificateAuthorities"].as_array_mut().unwrap();
        // Keep only the 2021-2022 CA: not the one that issued this certificate.
        cas.retain(|ca| ca["validFor"].get("end").is_some());
        assert!(!cas.is_empty());
    });
    let r = run(&case);
    assert_eq!(
        (r.code, r.error_code()),
        (1, "sigstore-certificate-untrusted".to_owned()),
        "{}",
        r.stdout
    );
}

#[test]
fn a_v01_proof_without_checkpoint_leaves_the_promise_as_evidence() {
    let w = World::bare();
    let mut case = cases()
        .into_iter()
        .find(|c| c["name"] == "pass_message_v01_synthetic")
        .unwrap();
    for k in ["bundle", "artifact", "trusted_root"] {
        let name = case[k].as_str().unwrap();
        fs::copy(vectors().join(name), w.path(name)).unwrap();
        case[k] = Value::String(w.path(name).display().to_string());
    }
    let path = PathBuf::from(case["bundle"].as_str().unwrap());
    let mut v: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    v["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
        .as_object_mut()
        .unwrap()
        .remove("checkpoint");
    fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    let j = run(&case).ok().json();
    assert_eq!(j["bundle_version"], "0.1");
    assert_eq!(j["content"], "message-signature");
    assert_eq!(j["inclusion_promise"], true);
    assert_eq!(j["inclusion_proof"], false);
    // The same in a v0.2 bundle is refused: it needs the checkpoint.
    v["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.2".into();
    fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    let r = run(&case);
    assert_eq!(
        (r.code, r.error_code()),
        (1, "sigstore-tlog-missing".to_owned())
    );
}

/// The identity and issuer of the published GitHub-workflow bundle.
fn workflow_case() -> Value {
    cases()
        .into_iter()
        .find(|c| c["name"] == "pass_dsse_github_workflow")
        .unwrap()
}

fn pin(w: &World, identity: &str) -> crate::common::Run {
    let case = workflow_case();
    let root = vectors().join(case["trusted_root"].as_str().unwrap());
    w.run(&[
        "--json",
        "anchor",
        "sigstore",
        "--store",
        "store",
        "--trusted-root",
        root.to_str().unwrap(),
        "--identity",
        identity,
        "--issuer",
        case["issuer"].as_str().unwrap(),
    ])
}

fn verify_with_store(w: &World, case: &Value) -> crate::common::Run {
    let at = |k: &str| vectors().join(case[k].as_str().unwrap());
    w.run(&[
        "--json",
        "sigstore",
        "verify",
        at("bundle").to_str().unwrap(),
        "--artifact",
        at("artifact").to_str().unwrap(),
        "--store",
        "store",
    ])
}

#[test]
fn a_pinned_policy_is_journaled_and_verifies_bundles() {
    let w = World::new();
    let case = workflow_case();
    let r = verify_with_store(&w, &case);
    assert_eq!(
        (r.code, r.error_code()),
        (2, "sigstore-not-pinned".to_owned())
    );

    let j = pin(&w, case["identity"].as_str().unwrap()).ok().json();
    let sha = j["sigstore"]["trusted_root_sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let journal = fs::read_to_string(w.path("store/journal.jsonl")).unwrap();
    let record: Value = journal
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["event"] == "store.sigstore")
        .expect("a store.sigstore record");
    assert_eq!(
        record["fields"]["pinned"]["trusted_root_sha256"],
        sha.as_str(),
        "{record}"
    );
    assert_eq!(record["fields"]["previous"], Value::Null, "{record}");
    let j = verify_with_store(&w, &case).ok().json();
    assert_eq!(j["identity"], case["identity"]);

    // Another identity pinned: the same bundle is someone else's now.
    pin(
        &w,
        "https://github.com/other/repo/.github/workflows/release.yml@refs/tags/v1",
    )
    .ok();
    let r = verify_with_store(&w, &case);
    assert_eq!(
        (r.code, r.error_code()),
        (1, "sigstore-identity-mismatch".to_owned())
    );
    let shown = w
        .run(&["--json", "anchor", "sigstore", "--store", "store"])
        .ok()
        .json();
    assert_eq!(
        shown["sigstore"]["identity"],
        "https://github.com/other/repo/.github/workflows/release.yml@refs/tags/v1"
    );
}

#[test]
fn an_unusable_pin_is_refused_and_nothing_is_written() {
    let w = World::new();
    let before = (
        w.store_state(),
        fs::read(w.path("store/journal.jsonl")).unwrap(),
        crate::common::listing(&w.path("store")),
    );
    let bad = w.path("bad_root.json");
    fs::write(&bad, b"{\"mediaType\": \"application/json\"}").unwrap();
    let r = w.run(&[
        "--json",
        "anchor",
        "sigstore",
        "--store",
        "store",
        "--trusted-root",
        bad.to_str().unwrap(),
        "--identity",
        "a@b",
        "--issuer",
        "https://x",
    ]);
    assert_eq!(
        (r.code, r.error_code()),
        (2, "sigstore-trusted-root-malformed".to_owned())
    );
    let r = pin(&w, "");
    assert_eq!(
        (r.code, r.error_code()),
        (2, "sigstore-policy-invalid".to_owned())
    );
    let after = (
        w.store_state(),
        fs::read(w.path("store/journal.jsonl")).unwrap(),
        crate::common::listing(&w.path("store")),
    );
    assert!(before == after, "a refused pin changed the store");
}

#[test]
fn a_pinned_trusted_root_changed_on_disk_is_store_corruption() {
    let w = World::new();
    let case = workflow_case();
    let j = pin(&w, case["identity"].as_str().unwrap()).ok().json();
    let sha = j["sigstore"]["trusted_root_sha256"].as_str().unwrap();
    let file = w.path(&format!("store/sigstore-trusted-root.{sha}.json"));
    let mut bytes = fs::read(&file).unwrap();
    bytes.push(b'\n');
    fs::write(&file, bytes).unwrap();
    let r = verify_with_store(&w, &case);
    assert_eq!((r.code, r.error_code()), (3, "store-corrupt".to_owned()));
}

/// The pin is part of a PKCS#11 store's hardware-bound state like its
/// channels: pinned and used on a SoftHSM2 token.
#[test]
fn a_pin_on_a_pkcs11_store() {
    let Some(hsm) = crate::emulators::SoftHsm::new("sigstore_pin_on_pkcs11", "store") else {
        return;
    };
    let w = World::new();
    let run = |args: &[&str]| {
        let o = std::process::Command::new(crate::common::airlock_bin())
            .current_dir(w.tmp.path())
            .args(args)
            .env("SOFTHSM2_CONF", hsm.conf())
            .env_remove("AIRLOCK_STORE")
            .output()
            .unwrap();
        crate::common::Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    };
    let token = hsm.token_uri();
    run(&[
        "anchor",
        "init",
        "--channel",
        "stable",
        "--store",
        "pstore",
        "--root",
        "1.root.json",
        "--pkcs11",
        &token,
    ])
    .ok();
    let case = workflow_case();
    let at = |k: &str| {
        vectors()
            .join(case[k].as_str().unwrap())
            .display()
            .to_string()
    };
    let verify = |store: &str| {
        run(&[
            "--json",
            "sigstore",
            "verify",
            &at("bundle"),
            "--artifact",
            &at("artifact"),
            "--store",
            store,
        ])
    };
    let r = verify("pstore");
    assert_eq!(
        (r.code, r.error_code()),
        (2, "sigstore-not-pinned".to_owned())
    );
    run(&[
        "anchor",
        "sigstore",
        "--store",
        "pstore",
        "--trusted-root",
        &at("trusted_root"),
        "--identity",
        case["identity"].as_str().unwrap(),
        "--issuer",
        case["issuer"].as_str().unwrap(),
    ])
    .ok();
    let j = verify("pstore").ok().json();
    assert_eq!(j["identity"], case["identity"]);
    let shown = run(&["--json", "anchor", "sigstore", "--store", "pstore"])
        .ok()
        .json();
    assert_eq!(shown["sigstore"]["identity"], case["identity"]);
    run(&["journal", "verify", "--store", "pstore"]).ok();
}

/// A world whose `dist/` holds the artifact of the published GitHub-workflow
/// bundle, and that bundle beside it as `upstream.sigstore.json`.
fn world_with_upstream() -> (World, Value) {
    let w = World::new();
    let case = workflow_case();
    let art = case["artifact"].as_str().unwrap();
    fs::copy(vectors().join(art), w.path(&format!("dist/{art}"))).unwrap();
    fs::copy(
        vectors().join(case["bundle"].as_str().unwrap()),
        w.path("upstream.sigstore.json"),
    )
    .unwrap();
    (w, case)
}

#[test]
fn a_carried_sigstore_bundle_is_verified_against_the_pin_on_import() {
    let (w, case) = world_with_upstream();
    w.pack("rel.airlock", &["--attestation", "upstream.sigstore.json"])
        .ok();
    // No pin: the store cannot judge it, and imports nothing.
    let before = w.store_state();
    let r = w.run(&["verify", "rel.airlock", "--store", "store", "--json"]);
    assert_eq!(
        (r.code, r.error_code()),
        (2, "sigstore-not-pinned".to_owned())
    );
    assert_eq!(w.store_state(), before);
    // Pinned to someone else: refused, nothing imported, nothing unpacked.
    pin(
        &w,
        "https://github.com/other/repo/.github/workflows/release.yml@refs/tags/v1",
    )
    .ok();
    let before = w.store_state();
    let r = w.run(&["verify", "rel.airlock", "--store", "store", "--json"]);
    assert_eq!(
        (r.code, r.error_code()),
        (1, "sigstore-identity-mismatch".to_owned())
    );
    let r = w.unpack_json("rel.airlock", "out");
    assert_eq!(
        (r.code, r.error_code()),
        (1, "sigstore-identity-mismatch".to_owned())
    );
    assert!(!w.path("out").exists());
    assert_eq!(w.store_state(), before);
    // Pinned to the signer: accepted.
    pin(&w, case["identity"].as_str().unwrap()).ok();
    w.unpack("rel.airlock", "out").ok();
    assert!(
        w.path(&format!("out/{}", case["artifact"].as_str().unwrap()))
            .exists()
    );
}

#[test]
fn pack_refuses_a_sigstore_bundle_that_signs_no_artifact() {
    let (w, case) = world_with_upstream();
    fs::remove_file(w.path(&format!("dist/{}", case["artifact"].as_str().unwrap()))).unwrap();
    let r = w.pack(
        "rel.airlock",
        &["--attestation", "upstream.sigstore.json", "--json"],
    );
    assert_eq!(
        (r.code, r.error_code()),
        (1, "sigstore-artifact-mismatch".to_owned())
    );
    assert!(!w.path("rel.airlock").exists());
    // Not a bundle at all: malformed, also refused by pack.
    w.write(
        "junk.sigstore.json",
        b"{\"mediaType\": \"application/vnd.dev.sigstore.bundle.v0.3+json\"}",
    );
    let r = w.pack(
        "rel.airlock",
        &["--attestation", "junk.sigstore.json", "--json"],
    );
    assert_eq!(
        (r.code, r.error_code()),
        (1, "sigstore-bundle-malformed".to_owned())
    );
    assert!(!w.path("rel.airlock").exists());
}

/// A Sigstore bundle that signs an image of the bundle — its OCI index's
/// digest, as the signed manifest records it, the way an upstream image
/// signature or a GitHub artifact attestation for an image names it — is
/// carried like one that signs an artifact, and verified against the pin on
/// import; signing an image the bundle does not carry is refused by pack.
#[test]
fn a_carried_sigstore_bundle_may_sign_an_image() {
    let Some(python) = crate::spec_writer::python() else {
        return;
    };
    let w = crate::images::image_world();
    crate::images::record_with_images(&w, &["oci:src:team/app:1.0", "oci:src:team/base:1"], &[]);
    let (idx, _, _) = crate::images::write_layout(&w.path("src"));
    let index = w.path(&format!("src/blobs/sha256/{}", &idx[7..]));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lib/sigstore_image_bundle.py");
    let out = std::process::Command::new(&python)
        .arg(&script)
        .arg(w.path(""))
        .arg(&index)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let who: Value = serde_json::from_slice(&out.stdout).unwrap();
    let packed = crate::images::pack_images(
        &w,
        "rel.airlock",
        &["oci:src:team/app:1.0"],
        &["--attestation", "image.sigstore.json", "--json"],
    );
    packed.ok();
    // Pinned to another identity: refused on import, nothing placed.
    let pin_to = |identity: &str| {
        w.run(&[
            "anchor",
            "sigstore",
            "--store",
            "store",
            "--trusted-root",
            w.path("trusted_root.json").to_str().unwrap(),
            "--identity",
            identity,
            "--issuer",
            who["issuer"].as_str().unwrap(),
        ])
        .ok();
    };
    pin_to("someone-else@example.org");
    let before = w.store_state();
    let r = w.run(&[
        "unpack",
        "rel.airlock",
        "--store",
        "store",
        "--to",
        "out",
        "--json",
    ]);
    assert_eq!(
        (r.code, r.error_code()),
        (1, "sigstore-identity-mismatch".to_owned())
    );
    assert!(!w.path("out").exists());
    assert_eq!(w.store_state(), before);
    // Pinned to the signer: accepted.
    pin_to(who["identity"].as_str().unwrap());
    w.unpack("rel.airlock", "out").ok();
    // An image the bundle does not carry: pack refuses, writes nothing.
    let r = crate::images::pack_images(
        &w,
        "other.airlock",
        &["oci:src:team/base:1"],
        &["--attestation", "image.sigstore.json", "--json"],
    );
    assert_eq!(
        (r.code, r.error_code()),
        (1, "sigstore-artifact-mismatch".to_owned())
    );
    assert!(!w.path("other.airlock").exists());
}
