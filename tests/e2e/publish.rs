//! `publish`: verified images into an OCI layout and into the real CNCF
//! registry (Debian `docker-registry`), read back with `skopeo`; refusals
//! with their codes, no tag created or moved, and a journal record.
use std::fs;
use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::common::{Run, World};
use crate::emulators::{REGISTRY_USER, Registry, missing};
use crate::images::{image_world, pack_images, record_with_images};

pub const APP: &str = "oci:src:team/app:1.0";
pub const BASE: &str = "oci:src:team/base:1";

pub fn packed(w: &World, out: &str, seq: &str) {
    pack_images(
        w,
        out,
        &[APP, BASE],
        &["--channel", "stable", "--sequence", seq],
    )
    .ok();
}

pub fn world() -> World {
    let w = image_world();
    record_with_images(&w, &[APP, BASE], &[]);
    w
}

pub fn publish(w: &World, source: &str, target: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "publish",
        source,
        "--store",
        "store",
        "--registry",
        target,
        "--json",
    ];
    args.extend(extra);
    w.run(&args)
}

/// The journal's `publish` records.
pub fn publish_records(w: &World) -> Vec<serde_json::Value> {
    fs::read_to_string(w.path("store/journal.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["event"] == "publish")
        .collect()
}

pub fn ref_names(layout: &Path) -> Vec<(String, String)> {
    let v: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["annotations"]["org.opencontainers.image.ref.name"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                m["digest"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

pub fn digest_of(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

#[test]
fn publish_to_an_oci_layout_then_again() {
    let w = world();
    packed(&w, "rel.airlock", "5");
    let j = publish(&w, "rel.airlock", "oci:enclave", &[]).ok().json();
    assert_eq!(j["published"].as_array().unwrap().len(), 2);
    let src = ref_names(&w.path("src"));
    let named: Vec<(String, String)> = ref_names(&w.path("enclave"))
        .into_iter()
        .filter(|(n, _)| !n.is_empty())
        .collect();
    assert_eq!(named, src, "same names, same digests as the source");
    // Each image: the import's receipt and this publish's.
    receipts_are_referrers(&w, &j, 2 * 2);
    for e in fs::read_dir(w.path("src/blobs/sha256")).unwrap() {
        let e = e.unwrap();
        assert_eq!(
            fs::read(w.path("enclave/blobs/sha256").join(e.file_name())).unwrap(),
            fs::read(e.path()).unwrap()
        );
    }
    let recs = publish_records(&w);
    assert_eq!(recs.len(), 2);
    let f = &recs[0]["fields"];
    assert_eq!(f["outcome"], "published");
    assert_eq!(f["registry"], "oci:enclave");
    assert_eq!(f["repository"], "team/app");
    assert_eq!(f["tag"], "1.0");
    assert_eq!(f["digest"], src[0].1);
    assert_eq!(f["bundle_id"].as_str().unwrap().len(), 32);
    // The same bundle again (a resumed or repeated publish): allowed,
    // nothing sent twice, journaled again.
    let again = publish(&w, "rel.airlock", "oci:enclave", &[]).ok().json();
    assert_eq!(again["blobs_sent"], 0);
    assert_eq!(publish_records(&w).len(), 4);
    // The import's referrers are there once; each publish added its own.
    receipts_are_referrers(&w, &again, 3 * 2);
    assert_ne!(again["receipt"], j["receipt"], "one receipt per publish");
}

/// Each published image has two receipts (docs/policy.md) as OCI
/// referrers in the layout `enclave`: the import's and this publish's, each
/// an artifact manifest whose `subject` is the image and whose one layer is
/// the receipt, listed once in `index.json` (`artifacts` of them in all).
/// The journal's publish records name the import's referrer; the publish's
/// receipt, written beside the import, names those records.
fn receipts_are_referrers(w: &World, j: &serde_json::Value, artifacts: usize) {
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(w.path("enclave/index.json")).unwrap()).unwrap();
    let listed: Vec<&serde_json::Value> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["artifactType"] == "application/vnd.dsse.envelope.v1+json")
        .collect();
    assert_eq!(listed.len(), artifacts, "{index}");
    let blob = |d: &str| fs::read(w.path("enclave/blobs/sha256").join(&d[7..])).unwrap();
    let written = w.path(j["receipt"].as_str().unwrap());
    let published = j["published"].as_array().unwrap();
    for p in published {
        for (field, command) in [
            ("receipt_referrer", "unpack"),
            ("publish_receipt_referrer", "publish"),
        ] {
            let referrer = p[field].as_str().unwrap();
            assert!(listed.iter().any(|a| a["digest"] == referrer));
            let m: serde_json::Value = serde_json::from_slice(&blob(referrer)).unwrap();
            assert_eq!(m["subject"]["digest"], p["digest"]);
            let layer = blob(m["layers"][0]["digest"].as_str().unwrap());
            if command == "publish" {
                assert_eq!(layer, fs::read(&written).unwrap(), "the receipt written");
            }
            w.write("referred.dsse.json", &layer);
            let v = w
                .run(&[
                    "receipt",
                    "verify",
                    "referred.dsse.json",
                    "--key",
                    "store/journal-key.pub",
                    "--json",
                ])
                .ok()
                .json();
            let a = &v["statement"]["predicate"]["airlock"];
            assert_eq!(a["command"], command, "{field}");
            if command == "publish" {
                // It names this run's records: the last `published` ones.
                assert_eq!(a["journal"]["head_seq"], j["journal_record"]);
                assert_eq!(
                    a["journal"]["seq"].as_u64().unwrap() + published.len() as u64 - 1,
                    j["journal_record"].as_u64().unwrap()
                );
                assert_eq!(a["registry"], "oci:enclave");
            }
        }
    }
    let recs = publish_records(w);
    assert!(
        recs.iter()
            .rev()
            .take(published.len())
            .all(|r| r["fields"]["receipt_referrer"].is_string())
    );
}

#[test]
fn a_tampered_unpacked_directory_is_refused() {
    let w = world();
    packed(&w, "rel.airlock", "5");
    w.unpack("rel.airlock", "out").ok();
    let blobs = w.path("out/oci/blobs/sha256");
    let victim = fs::read_dir(&blobs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let good = fs::read(&victim).unwrap();
    let mut bad = good.clone();
    bad[0] ^= 1;
    type Case<'a> = (&'a str, Box<dyn Fn() + 'a>, Box<dyn Fn() + 'a>);
    let cases: Vec<Case> = vec![
        (
            "a flipped blob byte",
            Box::new(|| fs::write(&victim, &bad).unwrap()),
            Box::new(|| fs::write(&victim, &good).unwrap()),
        ),
        (
            "an extra file",
            Box::new(|| fs::write(blobs.join("extra"), b"x").unwrap()),
            Box::new(|| fs::remove_file(blobs.join("extra")).unwrap()),
        ),
        (
            "a missing blob",
            Box::new(|| fs::rename(&victim, w.path("aside")).unwrap()),
            Box::new(|| fs::rename(w.path("aside"), &victim).unwrap()),
        ),
        (
            // Another image under the same tag, as in the issue's report.
            "a replaced index.json",
            Box::new(|| fs::write(w.path("out/oci/index.json"), b"{}").unwrap()),
            Box::new(|| {}),
        ),
    ];
    for (what, break_it, restore) in &cases {
        break_it();
        let r = publish(&w, "out", "oci:enclave", &[]);
        assert_eq!(r.code, 1, "{what}: {}", r.stderr);
        assert_eq!(r.error_code(), "unpacked-dir-tampered", "{what}");
        assert!(!w.path("enclave").exists(), "{what}: nothing published");
        restore();
    }
    let recs = publish_records(&w);
    assert_eq!(recs.len(), 4);
    assert!(recs.iter().all(|r| r["fields"]["outcome"] == "refused"
        && r["fields"]["error"]["code"] == "unpacked-dir-tampered"));
}

#[test]
fn a_directory_no_import_accepted_is_refused() {
    let w = world();
    packed(&w, "rel.airlock", "5");
    w.unpack("rel.airlock", "out").ok();
    // A copy in another store's eyes: a fresh store never accepted it.
    w.run(&[
        "anchor",
        "init",
        "--store",
        "store2",
        "--root",
        "1.root.json",
        "--channel",
        "default",
    ])
    .ok();
    let r = w.run(&[
        "publish",
        "out",
        "--store",
        "store2",
        "--registry",
        "oci:enclave",
        "--json",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.error_code(), "publish-not-imported");
    assert!(!w.path("enclave").exists());
}

#[test]
fn an_older_bundle_never_moves_a_tag() {
    let w = world();
    packed(&w, "old.airlock", "5");
    // The old bundle is unpacked first (accepted in its time) ...
    w.unpack("old.airlock", "old").ok();
    // ... then a newer release under the same tags is published.
    fs::write(w.path("dist/README.md"), b"# release 2\n").unwrap();
    record_with_images(&w, &[APP, BASE], &[]);
    packed(&w, "new.airlock", "6");
    publish(&w, "new.airlock", "oci:enclave", &[]).ok();
    let tags_before = fs::read(w.path("enclave/index.json")).unwrap();
    // Publishing the old import now would move the tags back.
    let r = publish(&w, "old", "oci:enclave", &[]);
    // Same images here (the layout did not change), so only the sequence
    // decides: refused.
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.error_code(), "tag-rollback");
    assert_eq!(fs::read(w.path("enclave/index.json")).unwrap(), tags_before);
    let last = publish_records(&w).pop().unwrap();
    assert_eq!(last["fields"]["error"]["code"], "tag-rollback");
    assert_eq!(last["fields"]["tag"], "1.0");
}

pub fn skopeo(args: &[String]) -> std::process::Output {
    Command::new("skopeo")
        .args(args)
        .output()
        .expect("run skopeo")
}

/// Publish into a real registry; `skopeo inspect --raw` shows the source's
/// manifest digests and `skopeo copy` back gives the same blobs.
fn registry_round_trip(test: &str, tls: bool) {
    if missing(test, &["skopeo"]).is_some() {
        return;
    }
    let Some(reg) = Registry::start(test, tls) else {
        return;
    };
    let w = world();
    packed(&w, "rel.airlock", "5");
    let target = format!("{}/enclave", reg.host());
    let mut extra: Vec<String> = Vec::new();
    if tls {
        let auth = format!(
            r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
            reg.host(),
            airlock::oci::registry::auth_value(REGISTRY_USER.0, REGISTRY_USER.1)
        );
        w.write("auth.json", auth.as_bytes());
        extra.extend([
            "--ca-file".into(),
            reg.ca().display().to_string(),
            "--auth-file".into(),
            "auth.json".into(),
        ]);
    } else {
        extra.push("--insecure-plain-http".into());
    }
    let extra_ref: Vec<&str> = extra.iter().map(String::as_str).collect();
    let j = publish(&w, "rel.airlock", &target, &extra_ref).ok().json();
    assert!(j["blobs_sent"].as_u64().unwrap() >= 6);
    let src = ref_names(&w.path("src"));
    for (name, digest) in &src {
        let mut args = vec!["inspect".to_owned(), "--raw".to_owned()];
        args.extend(reg.skopeo_flags(""));
        args.push(format!("docker://{}/enclave/{name}", reg.host()));
        let out = skopeo(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(&digest_of(&out.stdout), digest, "{name}");
    }
    // Copy back the index with all platforms: identical blobs.
    let mut args = vec![
        "copy".to_owned(),
        "--all".to_owned(),
        "--preserve-digests".to_owned(),
    ];
    args.extend(reg.skopeo_flags("src-"));
    args.push(format!("docker://{}/enclave/team/app:1.0", reg.host()));
    args.push(format!("oci:{}:back", w.path("back").display()));
    let out = skopeo(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for e in fs::read_dir(w.path("back/blobs/sha256")).unwrap() {
        let e = e.unwrap();
        assert_eq!(
            fs::read(e.path()).unwrap(),
            fs::read(w.path("src/blobs/sha256").join(e.file_name())).unwrap()
        );
    }
    // Each image has the import's receipt and the publish's as referrers
    // (their subject).
    for (p, field) in j["published"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| [(p, "receipt_referrer"), (p, "publish_receipt_referrer")])
    {
        let referrer = p[field].as_str().unwrap();
        let mut args = vec!["inspect".to_owned(), "--raw".to_owned()];
        args.extend(reg.skopeo_flags(""));
        args.push(format!(
            "docker://{}/enclave/{}@{referrer}",
            reg.host(),
            p["repository"]
                .as_str()
                .unwrap()
                .trim_start_matches("enclave/")
        ));
        let out = skopeo(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(m["subject"]["digest"], p["digest"]);
        assert_eq!(m["artifactType"], "application/vnd.dsse.envelope.v1+json");
    }
    // Publishing again sends nothing new.
    let again = publish(&w, "rel.airlock", &target, &extra_ref).ok().json();
    assert_eq!(again["blobs_sent"], 0);
}

#[test]
fn publish_into_a_registry_over_plain_http() {
    registry_round_trip("publish_into_a_registry_over_plain_http", false);
}

#[test]
fn publish_into_a_registry_with_tls_and_htpasswd() {
    registry_round_trip("publish_into_a_registry_with_tls_and_htpasswd", true);
}

#[test]
fn a_registry_that_goes_away_leaves_no_tag_and_a_rerun_completes() {
    let test = "a_registry_that_goes_away_leaves_no_tag_and_a_rerun_completes";
    if missing(test, &["skopeo"]).is_some() {
        return;
    }
    let Some(mut reg) = Registry::start(test, false) else {
        return;
    };
    let w = world();
    packed(&w, "rel.airlock", "5");
    let target = reg.host();
    reg.stop();
    let r = publish(&w, "rel.airlock", &target, &["--insecure-plain-http"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.error_code(), "registry-unreachable");
    let last = publish_records(&w).pop().unwrap();
    assert_eq!(last["fields"]["outcome"], "failed");
    reg.restart();
    let out = skopeo(&[
        "inspect".into(),
        "--raw".into(),
        "--tls-verify=false".into(),
        format!("docker://{}/team/app:1.0", reg.host()),
    ]);
    assert!(!out.status.success(), "no tag after the failed publish");
    // The import was committed; publishing the same bundle again resumes.
    let j = publish(&w, "rel.airlock", &target, &["--insecure-plain-http"])
        .ok()
        .json();
    assert_eq!(j["published"].as_array().unwrap().len(), 2);
    let out = skopeo(&[
        "inspect".into(),
        "--raw".into(),
        "--tls-verify=false".into(),
        format!("docker://{}/team/app:1.0", reg.host()),
    ]);
    assert!(out.status.success());
}

/// `curl` against a plain-HTTP registry: status and body.
pub fn curl(args: &[&str]) -> (String, Vec<u8>) {
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("run curl");
    assert!(out.status.success(), "curl {args:?}");
    let mut body = out.stdout;
    let cut = body.iter().rposition(|b| *b == b'\n').unwrap();
    let status = String::from_utf8(body[cut + 1..].to_vec()).unwrap();
    body.truncate(cut);
    (status, body)
}

const ACCEPT_INDEX: &str = "Accept: application/vnd.oci.image.index.v1+json";

/// The referrers list the tag scheme keeps for `subject` in `repo`.
fn referrers_tag(host: &str, repo: &str, subject: &str) -> serde_json::Value {
    let url = format!("http://{host}/v2/{repo}/manifests/sha256-{}", &subject[7..]);
    let (status, body) = curl(&["-H", ACCEPT_INDEX, &url]);
    assert_eq!(status, "200", "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// The one layer of referrer `digest` in `repo`, fetched by digest.
fn referred_blob(host: &str, repo: &str, digest: &str) -> Vec<u8> {
    let (s, m) = curl(&[
        "-H",
        "Accept: application/vnd.oci.image.manifest.v1+json",
        &format!("http://{host}/v2/{repo}/manifests/{digest}"),
    ]);
    assert_eq!(s, "200");
    assert_eq!(digest_of(&m), digest, "the manifest is the one listed");
    let m: serde_json::Value = serde_json::from_slice(&m).unwrap();
    let layer = m["layers"][0]["digest"].as_str().unwrap();
    let (s, blob) = curl(&[&format!("http://{host}/v2/{repo}/blobs/{layer}")]);
    assert_eq!(s, "200");
    blob
}

/// The bundle's attestations about its images (an index, a manifest) and
/// the import's receipt are attached as
/// OCI 1.1 referrers; the CNCF registry has no referrers API, so they are
/// listed in the referrers tag `sha256-<digest>`, with what another tool
/// listed there before kept, each entry once however often the bundle is
/// published; the blobs are the carried attestations byte for byte.
#[test]
fn attestations_about_images_are_referrers_in_the_referrers_tag() {
    let test = "attestations_about_images_are_referrers_in_the_referrers_tag";
    if missing(test, &["skopeo", "curl"]).is_some() {
        return;
    }
    let Some(reg) = Registry::start(test, false) else {
        return;
    };
    let host = reg.host();
    let w = world();
    let (idx, base, _) = crate::images::write_layout(&w.path("src"));
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(w.path("src/blobs/sha256").join(&idx[7..])).unwrap())
            .unwrap();
    let amd = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let statement = |name: &str, d: &str, predicate: &str| {
        format!(
            r#"{{"_type":"https://in-toto.io/Statement/v1","predicateType":"{predicate}","subject":[{{"name":"{name}","digest":{{"sha256":"{}"}}}}],"predicate":{{}}}}"#,
            &d[7..]
        )
    };
    let about_image = crate::attestations::signed(
        &w,
        "keys/builder.pem",
        statement(
            "images/team/app:1.0",
            &idx,
            "https://slsa.dev/provenance/v1",
        )
        .as_bytes(),
    );
    let about_base = crate::attestations::signed(
        &w,
        "keys/builder.pem",
        statement("images/team/base:1", &base, "https://spdx.dev/Document").as_bytes(),
    );
    w.write("image.dsse.json", &about_image);
    w.write("base.dsse.json", &about_base);
    pack_images(
        &w,
        "rel.airlock",
        &[APP, BASE],
        &[
            "--channel",
            "stable",
            "--sequence",
            "5",
            "--attestation",
            "image.dsse.json",
            "--attestation",
            "base.dsse.json",
        ],
    )
    .ok();
    // Another tool has already listed a referrer of the image (here: the
    // amd64 manifest, standing in for its signature).
    let mut args = vec![
        "copy".to_owned(),
        "--all".to_owned(),
        "--preserve-digests".to_owned(),
    ];
    args.extend(reg.skopeo_flags("dest-"));
    args.push(format!("oci:{}:team/app:1.0", w.path("src").display()));
    args.push(format!("docker://{host}/team/app:pre"));
    let out = skopeo(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let foreign = serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": amd,
        "size": index["manifests"][0]["size"],
        "artifactType": "application/vnd.example.signature",
    });
    let pre = serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [foreign]});
    w.write("pre.json", pre.to_string().as_bytes());
    let (s, body) = curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/vnd.oci.image.index.v1+json",
        "--data-binary",
        &format!("@{}", w.path("pre.json").display()),
        &format!("http://{host}/v2/team/app/manifests/sha256-{}", &idx[7..]),
    ]);
    assert_eq!(s, "201", "{}", String::from_utf8_lossy(&body));

    let j = publish(&w, "rel.airlock", &host, &["--insecure-plain-http"])
        .ok()
        .json();
    let app = &j["published"][0];
    assert_eq!(app["digest"], idx.as_str());
    let attested = app["attestation_referrers"].as_array().unwrap();
    assert_eq!(attested.len(), 1, "{app}");
    let base_attested = j["published"][1]["attestation_referrers"].clone();
    assert_eq!(base_attested.as_array().unwrap().len(), 1);

    // `publishes`: the receipts of the publishes so far (each publish signs
    // its own, docs/policy.md), listed beside the import's.
    let check = |publishes: usize| {
        // The index's list: the foreign entry, the import's receipt, the
        // attestation, and each publish's receipt.
        let list = referrers_tag(&host, "team/app", &idx);
        let entries = list["manifests"].as_array().unwrap();
        assert_eq!(entries[0], foreign, "what was listed before is kept");
        assert_eq!(entries.len(), 3 + publishes, "{list}");
        let receipt = app["receipt_referrer"].as_str().unwrap();
        assert_eq!(entries.iter().filter(|e| e["digest"] == receipt).count(), 1);
        let att = entries
            .iter()
            .find(|e| {
                e["annotations"]["in-toto.io/predicate-type"] == "https://slsa.dev/provenance/v1"
            })
            .unwrap();
        assert_eq!(att["artifactType"], "application/vnd.dsse.envelope.v1+json");
        assert!(attested.contains(&att["digest"]));
        assert_eq!(
            referred_blob(&host, "team/app", att["digest"].as_str().unwrap()),
            about_image,
            "the carried attestation, byte for byte"
        );
        let mine = app["publish_receipt_referrer"].as_str().unwrap();
        assert_eq!(entries.iter().filter(|e| e["digest"] == mine).count(), 1);
        // The other image's list: its receipts and its attestation.
        let list = referrers_tag(&host, "team/base", &base);
        let entries = list["manifests"].as_array().unwrap();
        assert_eq!(entries.len(), 2 + publishes, "{list}");
        let att = entries
            .iter()
            .find(|e| e["annotations"]["in-toto.io/predicate-type"] == "https://spdx.dev/Document")
            .unwrap();
        assert_eq!(att["digest"], base_attested[0]);
        assert_eq!(
            referred_blob(&host, "team/base", att["digest"].as_str().unwrap()),
            about_base
        );
    };
    check(1);
    // The journal names them.
    let recs = publish_records(&w);
    assert_eq!(
        recs[0]["fields"]["attestation_referrers"],
        app["attestation_referrers"]
    );
    // Again: nothing listed twice (only the new publish's own receipt).
    publish(&w, "rel.airlock", &host, &["--insecure-plain-http"]).ok();
    check(2);
}

/// The attestations published as referrers are the ones delivered beside
/// the import (`DIR.airlock-metadata/attestations/`); one changed there is
/// refused like any other byte of the import, before anything is sent.
#[test]
fn a_changed_attestation_beside_the_import_is_refused() {
    let w = world();
    let (idx, _, _) = crate::images::write_layout(&w.path("src"));
    let body = format!(
        r#"{{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://slsa.dev/provenance/v1","subject":[{{"name":"images/team/app:1.0","digest":{{"sha256":"{}"}}}}],"predicate":{{}}}}"#,
        &idx[7..]
    );
    let att = crate::attestations::signed(&w, "keys/builder.pem", body.as_bytes());
    w.write("image.dsse.json", &att);
    pack_images(
        &w,
        "rel.airlock",
        &[APP, BASE],
        &[
            "--channel",
            "stable",
            "--sequence",
            "5",
            "--attestation",
            "image.dsse.json",
        ],
    )
    .ok();
    w.unpack("rel.airlock", "out").ok();
    let side = w.path("out.airlock-metadata/attestations/image.dsse.json");
    assert_eq!(fs::read(&side).unwrap(), att);
    let mut other = att.clone();
    other[10] ^= 1;
    fs::write(&side, &other).unwrap();
    let r = publish(&w, "out", "oci:enclave", &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.error_code(), "unpacked-dir-tampered");
    assert!(!w.path("enclave").exists(), "nothing published");
    assert_eq!(
        publish_records(&w).pop().unwrap()["fields"]["error"]["code"],
        "unpacked-dir-tampered"
    );
    // Restored, it is published, with the attestation listed in the layout.
    fs::write(&side, &att).unwrap();
    let j = publish(&w, "out", "oci:enclave", &[]).ok().json();
    let referrer = j["published"][0]["attestation_referrers"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(w.path("enclave/index.json")).unwrap()).unwrap();
    assert!(
        index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["digest"] == referrer.as_str())
    );
    let m: serde_json::Value = serde_json::from_slice(
        &fs::read(w.path("enclave/blobs/sha256").join(&referrer[7..])).unwrap(),
    )
    .unwrap();
    assert_eq!(m["subject"]["digest"], idx.as_str());
    let layer = m["layers"][0]["digest"].as_str().unwrap();
    assert_eq!(
        fs::read(w.path("enclave/blobs/sha256").join(&layer[7..])).unwrap(),
        att
    );
}

/// Pushes `bytes` as a blob of `repo` with curl (POST, then one PUT).
fn curl_blob(host: &str, repo: &str, bytes: &[u8], w: &World) -> String {
    let d = digest_of(bytes);
    let out = Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null", "-X", "POST"])
        .arg(format!("http://{host}/v2/{repo}/blobs/uploads/"))
        .output()
        .unwrap();
    let headers = String::from_utf8(out.stdout).unwrap();
    let loc = headers
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("location:")
                .then(|| l[9..].trim().to_owned())
        })
        .unwrap();
    let loc = if loc.starts_with('/') {
        format!("http://{host}{loc}")
    } else {
        loc
    };
    let sep = if loc.contains('?') { '&' } else { '?' };
    let file = w.path(&format!("blob-{}", &d[7..19]));
    fs::write(&file, bytes).unwrap();
    let (s, body) = curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        &format!("@{}", file.display()),
        &format!("{loc}{sep}digest={d}"),
    ]);
    assert_eq!(s, "201", "{}", String::from_utf8_lossy(&body));
    d
}

/// Puts manifest `bytes` (of `media_type`) under `reference` with curl.
fn curl_manifest(
    host: &str,
    repo: &str,
    reference: &str,
    media_type: &str,
    bytes: &[u8],
    w: &World,
) {
    let file = w.path(&format!("manifest-{}", &digest_of(bytes)[7..19]));
    fs::write(&file, bytes).unwrap();
    let (s, body) = curl(&[
        "-X",
        "PUT",
        "-H",
        &format!("Content-Type: {media_type}"),
        "--data-binary",
        &format!("@{}", file.display()),
        &format!("http://{host}/v2/{repo}/manifests/{reference}"),
    ]);
    assert_eq!(s, "201", "{}", String::from_utf8_lossy(&body));
}

/// Signatures and attestations attached to an image in the source registry
/// come along with a `docker://` image: an OCI 1.1 referrer (listed in the
/// referrers tag, as the CNCF registry has no referrers API) byte for
/// byte, and cosign's `sha256-<digest>.sig` with the image as subject
/// added; `publish` attaches both to the image in the enclave registry and
/// tags the signature `sha256-<digest>.sig` again, with the same layers.
#[test]
fn referrers_from_the_source_registry_come_along_and_are_attached_again() {
    let test = "referrers_from_the_source_registry_come_along_and_are_attached_again";
    if missing(test, &["skopeo", "curl"]).is_some() {
        return;
    }
    let Some(reg) = Registry::start(test, false) else {
        return;
    };
    let host = reg.host();
    let w = crate::images::image_world();
    crate::pull::push_images(&w, &reg);
    let (idx, _, _) = crate::images::write_layout(&w.path("src"));
    let idx_size = fs::metadata(w.path("src/blobs/sha256").join(&idx[7..]))
        .unwrap()
        .len();
    let subject = format!(
        r#"{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{idx}","size":{idx_size}}}"#
    );
    // An SBOM attached as an OCI 1.1 referrer, listed in the referrers tag.
    let sbom = br#"{"spdxVersion":"SPDX-2.3","name":"team/app"}"#;
    let empty = curl_blob(&host, "team/app", b"{}", &w);
    let sbom_d = curl_blob(&host, "team/app", sbom, &w);
    let referrer = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/spdx+json","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{empty}","size":2}},"layers":[{{"mediaType":"application/spdx+json","digest":"{sbom_d}","size":{}}}],"subject":{subject}}}"#,
        sbom.len()
    );
    let referrer_d = digest_of(referrer.as_bytes());
    let mt = "application/vnd.oci.image.manifest.v1+json";
    curl_manifest(&host, "team/app", &referrer_d, mt, referrer.as_bytes(), &w);
    let list = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"{mt}","digest":"{referrer_d}","size":{},"artifactType":"application/spdx+json"}}]}}"#,
        referrer.len()
    );
    let sha_tag = format!("sha256-{}", &idx[7..]);
    curl_manifest(
        &host,
        "team/app",
        &sha_tag,
        "application/vnd.oci.image.index.v1+json",
        list.as_bytes(),
        &w,
    );
    // An SBOM of one platform's manifest, listed in that one's tag.
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(w.path("src/blobs/sha256").join(&idx[7..])).unwrap())
            .unwrap();
    let amd = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let amd_sbom = br#"{"spdxVersion":"SPDX-2.3","name":"team/app amd64"}"#;
    let amd_sbom_d = curl_blob(&host, "team/app", amd_sbom, &w);
    let amd_referrer = format!(
        r#"{{"schemaVersion":2,"mediaType":"{mt}","artifactType":"application/spdx+json","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{empty}","size":2}},"layers":[{{"mediaType":"application/spdx+json","digest":"{amd_sbom_d}","size":{}}}],"subject":{{"mediaType":"{mt}","digest":"{amd}","size":{}}}}}"#,
        amd_sbom.len(),
        index["manifests"][0]["size"]
    );
    let amd_referrer_d = digest_of(amd_referrer.as_bytes());
    curl_manifest(
        &host,
        "team/app",
        &amd_referrer_d,
        mt,
        amd_referrer.as_bytes(),
        &w,
    );
    let amd_list = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"{mt}","digest":"{amd_referrer_d}","size":{},"artifactType":"application/spdx+json"}}]}}"#,
        amd_referrer.len()
    );
    curl_manifest(
        &host,
        "team/app",
        &format!("sha256-{}", &amd[7..]),
        "application/vnd.oci.image.index.v1+json",
        amd_list.as_bytes(),
        &w,
    );
    // A cosign-style signature under sha256-<digest>.sig (no subject).
    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{host}/team/app"}},"image":{{"docker-manifest-digest":"{idx}"}},"type":"cosign container image signature"}},"optional":null}}"#
    );
    let payload_d = curl_blob(&host, "team/app", payload.as_bytes(), &w);
    let config = format!(
        r#"{{"architecture":"","os":"","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{payload_d}"]}}}}"#
    );
    let config_d = curl_blob(&host, "team/app", config.as_bytes(), &w);
    let sig = format!(
        r#"{{"schemaVersion":2,"mediaType":"{mt}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_d}","size":{}}},"layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"{payload_d}","size":{},"annotations":{{"dev.cosignproject.cosign/signature":"MEUCIQDtest"}}}}]}}"#,
        config.len(),
        payload.len()
    );
    curl_manifest(
        &host,
        "team/app",
        &format!("{sha_tag}.sig"),
        mt,
        sig.as_bytes(),
        &w,
    );

    // Pack the image from the registry: the referrers come along.
    let app = format!("docker://{host}/team/app:1.0");
    let plain = ["--insecure-plain-http"];
    crate::images::record_with_images(&w, &[&app], &plain);
    pack_images(
        &w,
        "rel.airlock",
        &[&app],
        &[
            "--insecure-plain-http",
            "--channel",
            "stable",
            "--sequence",
            "5",
        ],
    )
    .ok();
    let entries = w.run(&["inspect", "rel.airlock", "--json"]).ok().json()["entries"].clone();
    assert!(
        entries
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["path"] == format!("sha256/{}", &referrer_d[7..])),
        "the referrer is carried byte for byte"
    );

    let j = publish(&w, "rel.airlock", &format!("{host}/enclave"), &plain)
        .ok()
        .json();
    let from_source = j["published"][0]["source_referrers"].as_array().unwrap();
    assert_eq!(from_source.len(), 3, "{j}");
    assert!(from_source.contains(&serde_json::json!(amd_referrer_d)));
    // The platform's SBOM, listed among that manifest's referrers.
    let list = referrers_tag(&host, "enclave/team/app", &amd);
    assert_eq!(list["manifests"][0]["digest"], amd_referrer_d.as_str());
    assert_eq!(
        referred_blob(&host, "enclave/team/app", &amd_referrer_d),
        amd_sbom
    );
    assert!(from_source.contains(&serde_json::json!(referrer_d)));
    // Listed among the image's referrers in the enclave registry.
    let list = referrers_tag(&host, "enclave/team/app", &idx);
    let listed: Vec<&serde_json::Value> = list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["digest"])
        .collect();
    for r in from_source
        .iter()
        .filter(|r| **r != amd_referrer_d.as_str())
    {
        assert!(listed.contains(&r), "{r} in {list}");
    }
    assert_eq!(
        referred_blob(&host, "enclave/team/app", &referrer_d),
        sbom,
        "the SBOM, byte for byte"
    );
    // The signature is under cosign's tag again, with the same layers.
    let (s, got) = curl(&[
        "-H",
        &format!("Accept: {mt}"),
        &format!("http://{host}/v2/enclave/team/app/manifests/{sha_tag}.sig"),
    ]);
    assert_eq!(s, "200");
    let got: serde_json::Value = serde_json::from_slice(&got).unwrap();
    let sig: serde_json::Value = serde_json::from_str(&sig).unwrap();
    assert_eq!(got["layers"], sig["layers"]);
    assert_eq!(got["config"], sig["config"]);
    assert_eq!(got["subject"]["digest"], idx.as_str());
    let (s, p) = curl(&[&format!(
        "http://{host}/v2/enclave/team/app/blobs/{payload_d}"
    )]);
    assert_eq!((s.as_str(), p), ("200", payload.into_bytes()));
    // The journal names them.
    let rec = publish_records(&w).pop().unwrap();
    assert_eq!(
        rec["fields"]["source_referrers"],
        j["published"][0]["source_referrers"]
    );
    // Into an OCI layout: written and listed in index.json.
    let j = publish(&w, "rel.airlock", "oci:enclave", &[]).ok().json();
    let from_source = j["published"][0]["source_referrers"].as_array().unwrap();
    assert_eq!(from_source.len(), 3);
    let index = fs::read_to_string(w.path("enclave/index.json")).unwrap();
    for r in from_source {
        let r = r.as_str().unwrap();
        assert!(index.contains(r), "{r} in {index}");
        assert!(w.path("enclave/blobs/sha256").join(&r[7..]).exists());
    }
    assert_eq!(
        fs::read(w.path("enclave/blobs/sha256").join(&sbom_d[7..])).unwrap(),
        sbom
    );
}

/// A bundle with a flipped byte in its stored payload, before any image
/// blob (the middle of this bundle falls in an artifact, ahead of the
/// layers), is refused by the import `publish` runs, with the bundle's
/// code: nothing reaches the registry (no tag, no blob), and the journal's
/// `unpack` record says why. (A flipped byte inside a layer, after blobs
/// were streamed: tests/e2e/publish_stream.rs.)
#[test]
fn a_bundle_with_a_flipped_payload_byte_before_the_blobs_sends_nothing() {
    let test = "a_bundle_with_a_flipped_payload_byte_before_the_blobs_sends_nothing";
    if missing(test, &["skopeo", "curl"]).is_some() {
        return;
    }
    let Some(reg) = Registry::start(test, false) else {
        return;
    };
    let host = reg.host();
    let w = world();
    packed(&w, "rel.airlock", "5");
    let mut b = fs::read(w.path("rel.airlock")).unwrap();
    // In the stored (incompressible) payload, before the first layer: the
    // bytes change, not the framing.
    let at = b.len() / 2;
    b[at] ^= 0x10;
    fs::write(w.path("bad.airlock"), &b).unwrap();
    let r = publish(&w, "bad.airlock", &host, &["--insecure-plain-http"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.error_code(), "digest-mismatch");
    for repo in ["team/app", "team/base"] {
        let (s, _) = curl(&[&format!("http://{host}/v2/{repo}/tags/list")]);
        assert_eq!(s, "404", "{repo}: nothing was pushed");
    }
    let (_, catalog) = curl(&[&format!("http://{host}/v2/_catalog")]);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&catalog).unwrap()["repositories"],
        serde_json::json!([])
    );
    let last: serde_json::Value = fs::read_to_string(w.path("store/journal.jsonl"))
        .unwrap()
        .lines()
        .last()
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap();
    assert_eq!(last["event"], "unpack");
    assert_eq!(last["fields"]["outcome"], "refused");
    assert_eq!(last["fields"]["error"]["code"], r.error_code());
    assert!(
        !w.path("store/imports").read_dir().unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .len()
            == 32)
    );
}

/// Images packed from an `oci-archive:` and from a `docker-archive:`
/// (written by skopeo, as `docker save` would) reach the registry with the
/// digests they were packed with: `skopeo inspect --raw` shows them, and
/// `skopeo copy` back gives the blobs the bundle carried.
#[test]
fn images_from_archives_are_published_with_their_digests() {
    let test = "images_from_archives_are_published_with_their_digests";
    if missing(test, &["skopeo"]).is_some() {
        return;
    }
    let Some(reg) = Registry::start(test, false) else {
        return;
    };
    let host = reg.host();
    let w = crate::images::image_world();
    {
        let f = fs::File::create(w.path("src.tar")).unwrap();
        let mut b = tar::Builder::new(f);
        b.append_dir_all(".", w.path("src")).unwrap();
        b.finish().unwrap();
    }
    let out = skopeo(&[
        "copy".into(),
        "-q".into(),
        format!("oci:{}:team/base:1", w.path("src").display()),
        format!(
            "docker-archive:{}:team/base:1",
            w.path("base.tar").display()
        ),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sources = [
        "oci-archive:src.tar:team/app:1.0",
        "docker-archive:base.tar",
    ];
    crate::images::record_with_images(&w, &sources, &[]);
    pack_images(
        &w,
        "rel.airlock",
        &sources,
        &["--channel", "stable", "--sequence", "5"],
    )
    .ok();
    let (idx, _, _) = crate::images::write_layout(&w.path("src"));
    let j = publish(&w, "rel.airlock", &host, &["--insecure-plain-http"])
        .ok()
        .json();
    let published = j["published"].as_array().unwrap();
    assert_eq!(published[0]["digest"], idx.as_str());
    let import = w
        .path("store/imports")
        .join(j["bundle_id"].as_str().unwrap());
    for p in published {
        let name = format!(
            "{}:{}",
            p["repository"].as_str().unwrap(),
            p["tag"].as_str().unwrap()
        );
        let out = skopeo(&[
            "inspect".into(),
            "--raw".into(),
            "--tls-verify=false".into(),
            format!("docker://{host}/{name}"),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            digest_of(&out.stdout),
            p["digest"].as_str().unwrap(),
            "{name}"
        );
        let back = w.path(&format!("back-{}", name.replace(['/', ':'], "-")));
        let out = skopeo(&[
            "copy".into(),
            "--all".into(),
            "--preserve-digests".into(),
            "--src-tls-verify=false".into(),
            format!("docker://{host}/{name}"),
            format!("oci:{}:x", back.display()),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for e in fs::read_dir(back.join("blobs/sha256")).unwrap() {
            let e = e.unwrap();
            assert_eq!(
                fs::read(e.path()).unwrap(),
                fs::read(import.join("oci/blobs/sha256").join(e.file_name())).unwrap(),
                "{name}: a blob the bundle carried"
            );
        }
    }
}
