//! `pack --image docker://…` and `record --image docker://…`: images pulled
//! from the real CNCF registry (Debian `docker-registry`, pushed there with
//! `skopeo`) give the same bundle content as the same images read from an
//! OCI layout; refusals with their codes and no bundle written, including
//! a hostile registry that sends other bytes than the digest it was asked
//! for.
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;

use crate::common::World;
use crate::emulators::{REGISTRY_USER, Registry, missing};
use crate::images::{image_world, pack_images, record_with_images};

/// Copies the test's images into `reg` with skopeo (all platforms, same
/// digests).
pub fn push_images(w: &World, reg: &Registry) {
    for name in ["team/app:1.0", "team/base:1"] {
        let mut args = vec![
            "copy".to_owned(),
            "--all".to_owned(),
            "--preserve-digests".to_owned(),
        ];
        args.extend(reg.skopeo_flags("dest-"));
        args.push(format!("oci:{}:{name}", w.path("src").display()));
        args.push(format!("docker://{}/{name}", reg.host()));
        let out = Command::new("skopeo").args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The registry flags of `pack`/`record` for `reg` (TLS and credentials).
fn flags(w: &World, reg: &Registry) -> Vec<String> {
    let auth = format!(
        r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
        reg.host(),
        airlock::oci::registry::auth_value(REGISTRY_USER.0, REGISTRY_USER.1)
    );
    w.write("auth.json", auth.as_bytes());
    vec![
        "--ca-file".into(),
        reg.ca().display().to_string(),
        "--auth-file".into(),
        "auth.json".into(),
    ]
}

fn images_of(w: &World, bundle: &str) -> serde_json::Value {
    w.run(&["inspect", bundle, "--json"]).ok().json()["images"].clone()
}

#[test]
fn images_pulled_from_a_registry_are_the_images_of_the_layout() {
    let test = "images_pulled_from_a_registry_are_the_images_of_the_layout";
    if missing(test, &["skopeo"]).is_some() {
        return;
    }
    let Some(reg) = Registry::start(test, true) else {
        return;
    };
    let w = image_world();
    push_images(&w, &reg);
    let f = flags(&w, &reg);
    let f: Vec<&str> = f.iter().map(String::as_str).collect();
    let app = format!("docker://{}/team/app:1.0", reg.host());
    let base = format!("docker://{}/team/base:1", reg.host());

    // Every platform: the same images as read from the layout.
    record_with_images(&w, &["oci:src:team/app:1.0", "oci:src:team/base:1"], &[]);
    pack_images(
        &w,
        "local.airlock",
        &["oci:src:team/app:1.0", "oci:src:team/base:1"],
        &[],
    )
    .ok();
    record_with_images(&w, &[&app, &base], &f);
    pack_images(&w, "pulled.airlock", &[&app, &base], &f).ok();
    assert_eq!(
        images_of(&w, "pulled.airlock"),
        images_of(&w, "local.airlock")
    );
    w.unpack("pulled.airlock", "out").ok();

    // One platform: only that platform's manifest, as from the layout.
    let arm = ["--platform", "linux/arm64/v8"];
    let mut fa = f.clone();
    fa.extend(arm);
    record_with_images(&w, &["oci:src:team/app:1.0"], &arm);
    pack_images(&w, "local-arm.airlock", &["oci:src:team/app:1.0"], &arm).ok();
    record_with_images(&w, &[&app], &fa);
    pack_images(&w, "pulled-arm.airlock", &[&app], &fa).ok();
    let got = images_of(&w, "pulled-arm.airlock");
    assert_eq!(got, images_of(&w, "local-arm.airlock"));
    assert_eq!(got[0]["platforms"], serde_json::json!(["linux/arm64/v8"]));

    // By digest: the same image, without a tag, recorded under its digest.
    let digest = got[0]["digest"].as_str().unwrap().to_owned();
    let by_digest = format!("docker://{}/team/app@{digest}", reg.host());
    let ca = reg.ca().display().to_string();
    let j = w
        .run(&[
            "record",
            "--name",
            "probe",
            "--key",
            "keys/builder.pem",
            "--image",
            &by_digest,
            "--ca-file",
            &ca,
            "--auth-file",
            "auth.json",
            "--out-dir",
            "probe-links",
            "--json",
        ])
        .ok()
        .json();
    let link = std::fs::read_to_string(w.path(j["link"].as_str().unwrap())).unwrap();
    assert!(link.contains(&digest[7..]), "{link}");
}

#[test]
fn a_pull_that_cannot_be_done_is_refused_and_writes_no_bundle() {
    let test = "a_pull_that_cannot_be_done_is_refused_and_writes_no_bundle";
    if missing(test, &["skopeo"]).is_some() {
        return;
    }
    let Some(reg) = Registry::start(test, true) else {
        return;
    };
    let w = image_world();
    push_images(&w, &reg);
    let f = flags(&w, &reg);
    let f: Vec<&str> = f.iter().map(String::as_str).collect();
    let app = format!("docker://{}/team/app:1.0", reg.host());
    record_with_images(&w, &["oci:src:team/app:1.0"], &[]);

    // A tag the registry does not have.
    let missing_tag = format!("docker://{}/team/app:2.0", reg.host());
    pack_images(&w, "a.airlock", &[&missing_tag], &f).fails(2, "has no image team/app:2.0");
    // Wrong credentials.
    let bad = format!(
        r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
        reg.host(),
        airlock::oci::registry::auth_value(REGISTRY_USER.0, "wrong")
    );
    w.write("bad-auth.json", bad.as_bytes());
    let ca = reg.ca().display().to_string();
    let r = pack_images(
        &w,
        "b.airlock",
        &[&app],
        &["--ca-file", &ca, "--auth-file", "bad-auth.json", "--json"],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.json()["errors"][0]["code"], "registry-auth");
    // TLS without the registry's CA.
    let r = pack_images(
        &w,
        "c.airlock",
        &[&app],
        &["--auth-file", "auth.json", "--json"],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.json()["errors"][0]["code"], "registry-unreachable");
    // A malformed reference is a usage error before anything is reached.
    pack_images(&w, "d.airlock", &["docker://app:1.0"], &f).fails(2, "no registry host");
    for b in ["a", "b", "c", "d"] {
        assert!(!w.path(&format!("{b}.airlock")).exists(), "{b}");
    }
}

/// A registry that answers every manifest request with `manifest` and
/// every blob request with `blob`, whatever digest was asked for; plain
/// HTTP on a loopback port. Serves until the test ends.
fn hostile_registry(manifest: Vec<u8>, blob: Vec<u8>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut first = String::new();
            if r.read_line(&mut first).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).map(|n| n == 0).unwrap_or(true) || h == "\r\n" {
                    break;
                }
            }
            let (ct, body) = if first.contains("/manifests/") {
                ("application/vnd.oci.image.manifest.v1+json", &manifest)
            } else {
                ("application/octet-stream", &blob)
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            if !first.starts_with("HEAD") {
                let _ = s.write_all(body);
            }
        }
    });
    port
}

#[test]
fn a_registry_that_sends_other_bytes_is_refused() {
    let w = image_world();
    record_with_images(&w, &["oci:src:team/app:1.0"], &[]);
    let real = b"the real layer".to_vec();
    let digest = |b: &[u8]| {
        use sha2::Digest as _;
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
    };
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":{}}}]}}"#,
        digest(&config),
        config.len(),
        digest(&real),
        real.len()
    )
    .into_bytes();
    // Blobs: other bytes of the same length as the layer (and the config).
    let port = hostile_registry(manifest.clone(), b"a forged layer".to_vec());
    let image = format!("docker://127.0.0.1:{port}/team/app:1.0");
    let r = pack_images(
        &w,
        "e.airlock",
        &[&image],
        &["--insecure-plain-http", "--json"],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.json()["errors"][0]["code"], "image-pull-mismatch");
    // A digest reference answered with another manifest.
    let other = format!("docker://127.0.0.1:{port}/team/app@{}", digest(b"other"));
    let r = pack_images(
        &w,
        "f.airlock",
        &[&other],
        &["--insecure-plain-http", "--json"],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.json()["errors"][0]["code"], "image-pull-mismatch");
    assert!(!w.path("e.airlock").exists() && !w.path("f.airlock").exists());
    // Nothing left beside --out either (the scratch directory is removed).
    let left: Vec<_> = std::fs::read_dir(w.path(""))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".airlock"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
