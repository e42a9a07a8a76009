//! in-toto through the binary: `record` → `layout sign` → `intoto verify`,
//! and `pack` refusing a chain that does not hold (with nothing written).
use std::fs;

use crate::common::World;

/// A two-step chain: `build` (builder) writes `dist/` from `src/`;
/// `package` (packager) takes exactly what build made.
fn chain(dsse: bool) -> World {
    let w = World::new();
    w.run(&["keygen", "--out", "keys/packager"]).ok();
    fs::remove_dir_all(w.path("links")).unwrap();
    fs::create_dir_all(w.path("links")).unwrap();
    w.write("src/main.c", b"int main(void){return 0;}\n");
    let from_build: &[&str] = &[
        "MATCH", "*", "WITH", "PRODUCTS", "IN", "dist", "FROM", "build",
    ];
    w.write_layout(&[
        (
            "build",
            "builder",
            &[&["ALLOW", "src/*"], &["DISALLOW", "*"]],
            &[&["CREATE", "dist/*"], &["DISALLOW", "*"]],
        ),
        (
            "package",
            "packager",
            &[from_build, &["DISALLOW", "*"]],
            &[from_build, &["DISALLOW", "*"]],
        ),
    ]);
    let mut build = vec![
        "record",
        "--name",
        "build",
        "--key",
        "keys/builder.pem",
        "--materials",
        "src",
        "--products",
        "dist",
        "--out-dir",
        "links",
    ];
    if dsse {
        build.push("--dsse");
    }
    w.run(&build).ok();
    record_package(&w, "package", dsse);
    w
}

/// `package` recorded by the packager: dist/, paths relative to it.
fn record_package(w: &World, name: &str, dsse: bool) {
    let mut args = vec![
        "record",
        "--name",
        name,
        "--key",
        "keys/packager.pem",
        "--materials",
        "dist",
        "--products",
        "dist",
        "--lstrip-paths",
        "dist/",
        "--out-dir",
        "links",
    ];
    if dsse {
        args.push("--dsse");
    }
    w.run(&args).ok();
}

fn intoto_verify(w: &World) -> crate::common::Run {
    w.run(&[
        "intoto",
        "verify",
        "--layout",
        "root.layout",
        "--layout-key",
        "keys/owner.pub",
        "--link-dir",
        "links",
        "--json",
    ])
}

#[test]
fn recorded_chains_verify_in_both_encodings() {
    for dsse in [false, true] {
        let w = chain(dsse);
        intoto_verify(&w).ok();
        let link = fs::read_dir(w.path("links"))
            .unwrap()
            .map(|e| fs::read_to_string(e.unwrap().path()).unwrap())
            .next()
            .unwrap();
        assert_eq!(link.contains("payloadType"), dsse);
        w.pack_raw(
            "ok.airlock",
            &["keys/release.pem"],
            "1.root.json",
            &[
                "--source-date-epoch",
                &crate::common::EPOCH.to_string(),
                "--expires",
                "36500d",
            ],
        )
        .ok();
        w.unpack("ok.airlock", "out").ok();
    }
}

#[test]
fn a_product_changed_between_steps_is_refused() {
    let w = chain(false);
    // dist/ changes after `build` recorded it; `package` records the change.
    w.write("dist/README.md", b"# tampered\n");
    record_package(&w, "package", false);
    let r = intoto_verify(&w);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "rule-disallow"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("step 'package' materials") && r.stderr.contains("README.md"),
        "{}",
        r.stderr
    );
    // pack refuses before the gap, and leaves no bundle behind.
    let before = crate::common::listing(w.tmp.path());
    let p = w.pack_raw(
        "x.airlock",
        &["keys/release.pem"],
        "1.root.json",
        &["--json"],
    );
    assert_eq!(
        (p.code, p.error_code().as_str()),
        (1, "rule-disallow"),
        "{}",
        p.stderr
    );
    assert_eq!(crate::common::listing(w.tmp.path()), before);
}

#[test]
fn pack_refuses_artifacts_that_are_not_the_products() {
    let w = World::new(); // `build` recorded dist/ as it was
    w.write("dist/late.txt", b"added after the build\n");
    let before = crate::common::listing(w.tmp.path());
    let p = w.pack_raw(
        "x.airlock",
        &["keys/release.pem"],
        "1.root.json",
        &["--json"],
    );
    assert_eq!(
        (p.code, p.error_code().as_str()),
        (1, "artifact-unbound"),
        "{}",
        p.stderr
    );
    assert!(p.stderr.contains("late.txt"), "{}", p.stderr);
    assert_eq!(crate::common::listing(w.tmp.path()), before);
}

#[test]
fn missing_links_wrong_keys_and_names_are_refused() {
    let w = chain(false);
    // The layout key given did not sign the layout.
    let r = w.run(&[
        "intoto",
        "verify",
        "--layout",
        "root.layout",
        "--layout-key",
        "keys/release.pub",
        "--link-dir",
        "links",
        "--json",
    ]);
    assert_eq!((r.code, r.error_code().as_str()), (1, "layout-signature"));
    // A link recorded under another step's name (stricter than the reference).
    let package_link = fs::read_dir(w.path("links"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("package.")
        })
        .unwrap();
    let saved = fs::read(&package_link).unwrap();
    record_package(&w, "pkg", false);
    let pkg = fs::read_dir(w.path("links"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with("pkg."))
        .unwrap();
    fs::rename(&pkg, &package_link).unwrap();
    let r = intoto_verify(&w);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "link-name-mismatch"),
        "{}",
        r.stderr
    );
    // The link removed.
    fs::remove_file(&package_link).unwrap();
    let r = intoto_verify(&w);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "link-threshold"),
        "{}",
        r.stderr
    );
    fs::write(&package_link, saved).unwrap();
    intoto_verify(&w).ok();
    // A bad layout key file is the operator's mistake: exit 2.
    w.write("bad.pub", b"not a key");
    let r = w.run(&[
        "intoto",
        "verify",
        "--layout",
        "root.layout",
        "--layout-key",
        "bad.pub",
        "--link-dir",
        "links",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

fn statement(w: &World, key: &str, name: &str, predicate_type: &str) {
    use airlock::intoto::envelope::{PAYLOAD_TYPE, Signature, dsse, pae};
    use airlock_hsm::{FileSigner, Signer};
    let s = FileSigner::load(&w.path(key)).unwrap();
    let body = format!(
        r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"bin/tool","digest":{{"sha256":"{}"}}}}],"predicateType":"{predicate_type}","predicate":{{"buildDefinition":{{}}}}}}"#,
        crate::attestations::sha256_hex(&fs::read(w.path("dist/bin/tool")).unwrap())
    );
    let sig = s.sign(&pae(PAYLOAD_TYPE, body.as_bytes())).unwrap();
    let id = airlock::keys::keyid(s.public_key());
    w.write(
        name,
        &dsse(body.as_bytes(), &[Signature { keyid: id, sig }]),
    );
}

#[test]
fn attestations_are_carried_checked_and_shown() {
    let w = World::new();
    statement(
        &w,
        "keys/builder.pem",
        "prov.dsse.json",
        "https://slsa.dev/provenance/v1",
    );
    w.pack("a.airlock", &["--attestation", "prov.dsse.json"])
        .ok();
    let i = w.run(&["inspect", "a.airlock", "--json"]).ok();
    let j = i.json();
    assert_eq!(
        j["attestations"][0]["predicate_type"],
        "https://slsa.dev/provenance/v1"
    );
    assert_eq!(
        j["attestations"][0]["valid_signers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    w.verify("a.airlock").ok();
    // Signed by a key the chain does not know: refused before the gap.
    statement(
        &w,
        "keys/release.pem",
        "rogue.dsse.json",
        "https://slsa.dev/provenance/v1",
    );
    let p = w.pack("b.airlock", &["--attestation", "rogue.dsse.json", "--json"]);
    assert_eq!(
        (p.code, p.error_code().as_str()),
        (1, "attestation-signature"),
        "{}",
        p.stderr
    );
    // Not a Statement at all.
    w.write(
        "junk.json",
        br#"{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[]}"#,
    );
    let p = w.pack("c.airlock", &["--attestation", "junk.json", "--json"]);
    assert_eq!(
        (p.code, p.error_code().as_str()),
        (1, "attestation-malformed"),
        "{}",
        p.stderr
    );
}

#[test]
fn dsse_layouts_with_pem_keys_are_valid_json() {
    // An ECDSA functionary key puts a PEM (with newlines) into the layout:
    // the DSSE payload must escape them (canonical JSON would not).
    let w = World::new();
    w.run(&["keygen", "--out", "keys/ec", "--type", "ecdsa-p256"])
        .ok();
    w.write_layout(&[("build", "ec", &[], &[])]);
    let signed: serde_json::Value =
        serde_json::from_slice(&fs::read(w.path("root.layout")).unwrap()).unwrap();
    w.write("root.layout", signed["signed"].to_string().as_bytes());
    w.run(&[
        "layout",
        "sign",
        "root.layout",
        "--dsse",
        "--key",
        "keys/owner.pem",
    ])
    .ok();
    fs::remove_dir_all(w.path("links")).unwrap();
    fs::create_dir_all(w.path("links")).unwrap();
    w.run(&[
        "record",
        "--name",
        "build",
        "--key",
        "keys/ec.pem",
        "--products",
        "dist",
        "--dsse",
        "--out-dir",
        "links",
    ])
    .ok();
    intoto_verify(&w).ok();
}
