//! Attestations (docs/supply-chain.md, section 4): in-toto Statements v1 and
//! v0.1 in DSSE envelopes, their payloads parsed as ordinary JSON (signed as
//! bytes), every subject bound to an artifact or image of the bundle by
//! SHA-256 — refused with `attestation-subject-unbound` otherwise, by `pack`
//! and, for a bundle a malicious signer made by hand, by `verify`/`unpack`
//! with nothing written.
use std::fs;

use airlock::intoto::envelope::{PAYLOAD_TYPE, Signature, dsse, pae};
use airlock_hsm::{FileSigner, Signer};
use sha2::{Digest, Sha256};

use crate::common::{World, listing};
use crate::crafted::{Crafted, refused};

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A DSSE envelope over exactly `body`, signed with the key file `key`.
pub fn signed(w: &World, key: &str, body: &[u8]) -> Vec<u8> {
    let s = FileSigner::load(&w.path(key)).unwrap();
    let sig = s.sign(&pae(PAYLOAD_TYPE, body)).unwrap();
    let keyid = airlock::keys::keyid(s.public_key());
    dsse(body, &[Signature { keyid, sig }])
}

/// A CycloneDX 1.5 SBOM as a Statement v0.1, with the floats real SBOMs
/// carry (`2.0`, a CVSS score of `7.8`), about one subject.
pub fn cyclonedx_v01(name: &str, sha256: &str) -> Vec<u8> {
    format!(
        r#"{{"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://cyclonedx.org/bom",
  "subject": [{{"name": "{name}", "digest": {{"sha256": "{sha256}"}}}}],
  "predicate": {{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, "x-ratio": 2.0,
    "vulnerabilities": [{{"id": "CVE-2024-0001", "ratings": [{{"score": 7.8, "method": "CVSSv31"}}]}}]}}}}"#
    )
    .into_bytes()
}

#[test]
fn statements_with_floats_and_v0_1_are_carried_when_bound() {
    let w = World::new();
    let readme = sha256_hex(&fs::read(w.path("dist/README.md")).unwrap());
    let body = cyclonedx_v01("README.md", &readme);
    w.write("sbom.dsse.json", &signed(&w, "keys/builder.pem", &body));
    w.pack("a.airlock", &["--attestation", "sbom.dsse.json"])
        .ok();
    let i = w.run(&["inspect", "a.airlock", "--json"]).ok();
    assert_eq!(
        i.json()["attestations"][0]["predicate_type"],
        "https://cyclonedx.org/bom"
    );
    w.verify("a.airlock").ok();
    w.unpack("a.airlock", "out").ok();
}

#[test]
fn pack_refuses_an_attestation_about_something_the_bundle_does_not_carry() {
    let w = World::new();
    let body = cyclonedx_v01("other.tar.gz", &"ab".repeat(32));
    w.write("sbom.dsse.json", &signed(&w, "keys/builder.pem", &body));
    let before = listing(w.tmp.path());
    let p = w.pack("a.airlock", &["--attestation", "sbom.dsse.json", "--json"]);
    assert_eq!(
        (p.code, p.error_code().as_str()),
        (1, "attestation-subject-unbound"),
        "{}",
        p.stderr
    );
    assert!(!w.path("a.airlock").exists());
    // Only the build link pack re-records may have changed.
    let after: Vec<_> = listing(w.tmp.path())
        .into_iter()
        .filter(|p| !p.contains("links/"))
        .collect();
    let before: Vec<_> = before
        .into_iter()
        .filter(|p| !p.contains("links/"))
        .collect();
    assert_eq!(after, before);
}

/// The standard crafted bundle, with the fixture's supply chain, carrying
/// `body` signed by the builder key as attestation `name`; written as is
/// to `out`.
fn crafted_attesting(w: &World, name: &str, body: &[u8], out: &str) -> String {
    Crafted::standard(w)
        .with_chain(w)
        .attestation(name, &signed(w, "keys/builder.pem", body))
        .write_as_is(w, out)
}

/// Runs `args` (with `--json`) and asserts the refusal of an existing
/// destination (exit 3, `destination-exists`).
fn refused_as_existing(w: &World, args: &[&str]) {
    let mut all = args.to_vec();
    all.push("--json");
    let r = w.run(&all);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (3, "destination-exists"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_crafted_bundle_with_an_unbound_subject_is_refused_with_nothing_written() {
    let w = World::new();
    // One subject bound (a.txt), the second matching nothing.
    let body = format!(
        r#"{{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://slsa.dev/provenance/v1","subject":[{{"name":"a.txt","digest":{{"sha256":"{}"}}}},{{"name":"a.txt","digest":{{"sha256":"{}"}}}}],"predicate":{{}}}}"#,
        sha256_hex(b"hello\n"),
        "cd".repeat(32)
    );
    let b = crafted_attesting(&w, "p.dsse.json", body.as_bytes(), "unbound.airlock");
    refused(&w, &b, "attestation-subject-unbound");
    // A subject with no sha256 names nothing airlock can check.
    let body = br#"{"_type":"https://in-toto.io/Statement/v1","predicateType":"x","subject":[{"name":"a.txt","digest":{"sha512":"ab"}}]}"#;
    let b = crafted_attesting(&w, "p.dsse.json", body, "sha512.airlock");
    refused(&w, &b, "attestation-subject-unbound");
}

#[test]
fn a_crafted_bundle_with_a_bound_float_statement_is_accepted() {
    let w = World::new();
    let body = cyclonedx_v01("a.txt", &sha256_hex(b"hello\n"));
    let b = crafted_attesting(&w, "sbom.dsse.json", &body, "ok.airlock");
    w.unpack(&b, "out").ok();
}

/// tests/vectors/intoto/bound-attestations/: Statements made by the
/// `in-toto-attestation` bindings (SLSA provenance v1, SPDX 2.3, CycloneDX
/// 1.5 with floats, VSA) and by hand (Statement v0.1), each packed with the
/// vector's artifacts, its signing key a functionary of the layout: the
/// verdict and exact code of expected.json, on `pack` and (for the pass
/// cases) on `verify` and `unpack`.
#[test]
fn reference_made_attestations_get_their_verdicts() {
    let dir = crate::intoto_vectors::vectors().join("bound-attestations");
    let expected: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let cases = expected.as_object().unwrap();
    assert!(cases.len() >= 7);
    let w = vector_world(&dir);
    let mut wrong = Vec::new();
    for (n, (file, case)) in cases.iter().enumerate() {
        fs::copy(dir.join(file), w.path(file)).unwrap();
        let out = format!("{n}.airlock");
        let seq = (n + 1).to_string();
        let p = w.pack(
            &out,
            &[
                "--attestation",
                file,
                "--channel",
                "vectors",
                "--sequence",
                &seq,
                "--json",
            ],
        );
        let got = if p.code == 0 {
            "pass".to_owned()
        } else {
            format!("fail {} {}", p.code, p.error_code())
        };
        let want = match case["code"].as_str() {
            None => "pass".to_owned(),
            Some(code) => format!("fail 1 {code}"),
        };
        if got != want {
            wrong.push(format!(
                "{file}: expected {want}, got {got}: {}",
                p.stderr.trim()
            ));
            continue;
        }
        if p.code == 0 {
            let u = w.unpack(&out, &format!("out{n}"));
            if u.code != 0 {
                wrong.push(format!("{file}: unpack: {}", u.stderr.trim()));
            }
            // Delivered byte for byte beside the artifacts.
            let delivered = w.path(&format!("out{n}.airlock-metadata/attestations/{file}"));
            if fs::read(&delivered).ok() != Some(fs::read(dir.join(file)).unwrap()) {
                wrong.push(format!("{file}: not delivered byte-identical"));
            }
        } else {
            assert!(!w.path(&out).exists(), "{file}: a refused pack wrote {out}");
        }
    }
    assert!(wrong.is_empty(), "verdicts differ:\n{}", wrong.join("\n"));
}

/// A World whose `dist/` is the vector's `artifacts/` and whose `build`
/// functionary is the vectors' attestation signer (attest-ed25519).
pub fn vector_world(dir: &std::path::Path) -> World {
    let w = World::new();
    let keys = crate::intoto_vectors::vectors().join("keys");
    fs::copy(
        keys.join("attest-ed25519.test-only.pem"),
        w.path("keys/builder.pem"),
    )
    .unwrap();
    fs::copy(keys.join("attest-ed25519.pub"), w.path("keys/builder.pub")).unwrap();
    fs::remove_dir_all(w.path("dist")).unwrap();
    for (rel, bytes, _) in crate::common::tree(&dir.join("artifacts")) {
        w.write(&format!("dist/{rel}"), &bytes);
    }
    w.write_layout(&[("build", "builder", &[], &[&["ALLOW", "*"]])]);
    w
}

// ---- delivery: DEST.airlock-metadata/ and inspect --extract-metadata ----------------

/// Asserts two file lists are equal, naming the first difference.
#[track_caller]
fn same_files(got: &[(String, Vec<u8>)], want: &[(String, Vec<u8>)]) {
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    assert_eq!(names(got), names(want));
    for ((p, a), (_, b)) in got.iter().zip(want) {
        assert!(a == b, "{p} differs");
    }
}

/// Every file under `dir` as (relative path, bytes).
fn files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    crate::common::tree(dir)
        .into_iter()
        .map(|(p, b, _)| (p, b))
        .collect()
}

/// A World with a bound attestation, packed as `a.airlock`; returns the
/// attestation's bytes.
fn packed_with_attestation(w: &World) -> Vec<u8> {
    let readme = sha256_hex(&fs::read(w.path("dist/README.md")).unwrap());
    let env = signed(w, "keys/builder.pem", &cyclonedx_v01("README.md", &readme));
    w.write("sbom.dsse.json", &env);
    w.pack("a.airlock", &["--attestation", "sbom.dsse.json"])
        .ok();
    env
}

/// What DEST.airlock-metadata must hold for the fixture's bundle: each file byte for
/// byte as given to pack.
fn expected_metadata(w: &World, attestation: &[u8]) -> Vec<(String, Vec<u8>)> {
    let owner = airlock::keys::load_public_key(&w.path("keys/owner.pub")).unwrap();
    let mut want = vec![
        (
            "attestations/sbom.dsse.json".to_owned(),
            attestation.to_vec(),
        ),
        (
            format!("layout-keys/{}.pub", airlock::keys::keyid(&owner)),
            fs::read(w.path("keys/owner.pub")).unwrap(),
        ),
        (
            "layout/root.layout".to_owned(),
            fs::read(w.path("root.layout")).unwrap(),
        ),
        (
            "roots/0000000001.root.json".to_owned(),
            fs::read(w.path("1.root.json")).unwrap(),
        ),
    ];
    for (p, b) in files(&w.path("links")) {
        want.push((format!("links/{p}"), b));
    }
    want.sort();
    want
}

#[test]
fn unpack_delivers_the_metadata_beside_the_artifacts_byte_identical() {
    let w = World::new();
    let attestation = packed_with_attestation(&w);
    let u = w
        .run(&[
            "unpack",
            "a.airlock",
            "--store",
            "store",
            "--to",
            "out",
            "--json",
        ])
        .ok();
    let j = u.json();
    assert!(
        j["metadata_destination"]
            .as_str()
            .unwrap()
            .ends_with("out.airlock-metadata")
    );
    // The artifact tree is exactly dist/: nothing of the metadata mixed in.
    assert_eq!(
        crate::common::tree(&w.path("out")),
        crate::common::tree(&w.path("dist"))
    );
    let mut got = files(&w.path("out.airlock-metadata"));
    let manifest = got.iter().position(|(p, _)| p == "manifest.cbor").unwrap();
    let (_, manifest) = got.remove(manifest);
    assert_eq!(
        sha256_hex(&manifest),
        j["manifest_sha256"].as_str().unwrap()
    );
    same_files(&got, &expected_metadata(&w, &attestation));
    // inspect writes the same tree without importing anything.
    let state = w.store_state();
    let i = w
        .run(&[
            "inspect",
            "a.airlock",
            "--extract-metadata",
            "meta",
            "--json",
        ])
        .ok();
    assert!(
        i.json()["metadata_extracted"]
            .as_str()
            .unwrap()
            .ends_with("meta")
    );
    same_files(
        &files(&w.path("meta")),
        &files(&w.path("out.airlock-metadata")),
    );
    assert_eq!(w.store_state(), state);
    // An existing directory is never written into.
    let before = listing(w.tmp.path());
    refused_as_existing(&w, &["inspect", "a.airlock", "--extract-metadata", "meta"]);
    assert_eq!(listing(w.tmp.path()), before);
}

#[test]
fn an_existing_metadata_directory_refuses_the_import_with_nothing_written() {
    let w = World::new();
    packed_with_attestation(&w);
    fs::create_dir(w.path("out.airlock-metadata")).unwrap();
    let state = w.store_state();
    let before = listing(w.tmp.path());
    refused_as_existing(
        &w,
        &["unpack", "a.airlock", "--store", "store", "--to", "out"],
    );
    assert_eq!(listing(w.tmp.path()), before);
    assert!(
        fs::read_dir(w.path("out.airlock-metadata"))
            .unwrap()
            .next()
            .is_none()
    );
    assert_eq!(w.store_state(), state);
}

#[cfg(feature = "test-hooks")]
#[test]
fn a_crash_before_or_between_the_renames_leaves_nothing_half_written() {
    use crate::faults::{airlock_env, staging_dirs};
    let w = World::new();
    let attestation = packed_with_attestation(&w);
    let state = w.store_state();
    let args = ["unpack", "a.airlock", "--store", "store", "--to", "out"];
    // Before the renames: neither directory.
    let r = airlock_env(
        w.tmp.path(),
        &args,
        ("AIRLOCK_TEST_CRASH_AT", "unpack-before-rename"),
    );
    assert_eq!(r.code, 137, "{}", r.stderr);
    assert!(!w.path("out").exists() && !w.path("out.airlock-metadata").exists());
    assert_eq!(w.store_state(), state);
    // Between them: the metadata whole, the artifacts absent, the import
    // not recorded; the next unpack refuses to write over it.
    let r = airlock_env(
        w.tmp.path(),
        &args,
        ("AIRLOCK_TEST_CRASH_AT", "unpack-metadata-placed"),
    );
    assert_eq!(r.code, 137, "{}", r.stderr);
    assert!(!w.path("out").exists());
    let mut got = files(&w.path("out.airlock-metadata"));
    got.retain(|(p, _)| p != "manifest.cbor");
    same_files(&got, &expected_metadata(&w, &attestation));
    assert_eq!(w.store_state(), state);
    refused_as_existing(
        &w,
        &["unpack", "a.airlock", "--store", "store", "--to", "out"],
    );
    fs::remove_dir_all(w.path("out.airlock-metadata")).unwrap();
    w.unpack("a.airlock", "out").ok();
    assert!(staging_dirs(w.tmp.path()).is_empty());
    assert_eq!(files(&w.path("out.airlock-metadata")).len(), got.len() + 1);
}
