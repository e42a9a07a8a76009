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

const APP: &str = "oci:src:team/app:1.0";
const BASE: &str = "oci:src:team/base:1";

fn packed(w: &World, out: &str, seq: &str) {
    pack_images(
        w,
        out,
        &[APP, BASE],
        &["--channel", "stable", "--sequence", seq],
    )
    .ok();
}

fn world() -> World {
    let w = image_world();
    record_with_images(&w, &[APP, BASE], &[]);
    w
}

fn publish(w: &World, source: &str, target: &str, extra: &[&str]) -> Run {
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
fn publish_records(w: &World) -> Vec<serde_json::Value> {
    fs::read_to_string(w.path("store/journal.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["event"] == "publish")
        .collect()
}

fn ref_names(layout: &Path) -> Vec<(String, String)> {
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

fn digest_of(b: &[u8]) -> String {
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

fn skopeo(args: &[String]) -> std::process::Output {
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
