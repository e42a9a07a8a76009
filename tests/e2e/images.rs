//! Container images end to end: an OCI layout written here (two images
//! sharing a layer, one a two-platform index) → record → pack → inspect →
//! verify → unpack as an OCI layout; refusals with their codes.
use std::fs;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::common::{World, pseudo_random};

fn digest(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// Writes a blob into an OCI layout and returns its descriptor JSON fields.
fn blob(dir: &Path, bytes: &[u8]) -> (String, usize) {
    let d = digest(bytes);
    let p = dir.join("blobs/sha256").join(&d[7..]);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, bytes).unwrap();
    (d, bytes.len())
}

fn manifest(dir: &Path, config: &[u8], layers: &[&[u8]]) -> Vec<u8> {
    let (cd, cs) = blob(dir, config);
    let layers: Vec<String> = layers
        .iter()
        .map(|l| {
            let (d, s) = blob(dir, l);
            format!(
                r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{d}","size":{s}}}"#
            )
        })
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cd}","size":{cs}}},"layers":[{}]}}"#,
        layers.join(",")
    )
    .into_bytes()
}

/// The test's images, written as an OCI layout at `dir`:
/// `app:1.0`, an index of linux/amd64 and linux/arm64 manifests, and
/// `base:1`, a linux/amd64 manifest; all three share one layer.
/// Returns (index digest of app, manifest digest of base, shared layer).
pub fn write_layout(dir: &Path) -> (String, String, Vec<u8>) {
    let shared = pseudo_random(300_000, 7);
    let amd = manifest(
        dir,
        br#"{"architecture":"amd64","os":"linux"}"#,
        &[&shared, b"amd64 layer"],
    );
    let arm = manifest(
        dir,
        br#"{"architecture":"arm64","os":"linux","variant":"v8"}"#,
        &[&shared, b"arm64 layer"],
    );
    let base = manifest(
        dir,
        br#"{"architecture":"amd64","os":"linux","base":true}"#,
        &[&shared],
    );
    let (amd_d, amd_s) = blob(dir, &amd);
    let (arm_d, arm_s) = blob(dir, &arm);
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{amd_d}","size":{amd_s},"platform":{{"architecture":"amd64","os":"linux"}}}},{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{arm_d}","size":{arm_s},"platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}}]}}"#
    );
    let (idx_d, idx_s) = blob(dir, index.as_bytes());
    let (base_d, base_s) = blob(dir, &base);
    let top = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{idx_d}","size":{idx_s},"annotations":{{"org.opencontainers.image.ref.name":"team/app:1.0"}}}},{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{base_d}","size":{base_s},"annotations":{{"org.opencontainers.image.ref.name":"team/base:1"}}}}]}}"#
    );
    fs::write(dir.join("index.json"), top).unwrap();
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    (idx_d, base_d, shared)
}

/// One image, `team/big:1` (linux/amd64), of `layers` pseudo-random
/// layers of `size` bytes each, written as an OCI layout at `dir`: a
/// bundle of it is mostly blobs (payload frames of blobs, SPEC.md 5.8).
#[cfg(feature = "test-hooks")]
pub fn write_big_layout(dir: &Path, layers: usize, size: usize) {
    let bytes: Vec<Vec<u8>> = (0..layers)
        .map(|i| pseudo_random(size, 500 + i as u64))
        .collect();
    let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
    let m = manifest(dir, br#"{"architecture":"amd64","os":"linux"}"#, &refs);
    let (d, s) = blob(dir, &m);
    let top = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{d}","size":{s},"annotations":{{"org.opencontainers.image.ref.name":"team/big:1"}}}}]}}"#
    );
    fs::write(dir.join("index.json"), top).unwrap();
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// A world whose build step produced `dist/` and the two images of `src`.
pub fn image_world() -> World {
    let w = World::new();
    write_layout(&w.path("src"));
    w
}

/// Records the build step with the images `images` (as SOURCEs).
pub fn record_with_images(w: &World, images: &[&str], extra: &[&str]) {
    let mut args = vec![
        "record",
        "--name",
        "build",
        "--key",
        "keys/builder.pem",
        "--products",
        "dist",
        "--lstrip-paths",
        "dist/",
        "--exclude",
        "__none__",
        "--out-dir",
        "links",
    ];
    for i in images {
        args.extend(["--image", i]);
    }
    args.extend(extra);
    w.run(&args).ok();
}

/// Packs `dist/` and `images` (without recording again).
pub fn pack_images(w: &World, out: &str, images: &[&str], extra: &[&str]) -> crate::common::Run {
    let epoch = crate::common::EPOCH.to_string();
    let mut args = vec!["--source-date-epoch", epoch.as_str(), "--expires", "36500d"];
    for i in images {
        args.extend(["--image", i]);
    }
    args.extend(extra);
    w.pack_raw(out, &["keys/release.pem"], "1.root.json", &args)
}

const APP: &str = "oci:src:team/app:1.0";
const BASE: &str = "oci:src:team/base:1";

#[test]
fn images_round_trip_into_an_oci_layout() {
    let w = image_world();
    record_with_images(&w, &[APP, BASE], &[]);
    let packed = pack_images(&w, "rel.airlock", &[APP, BASE], &["--json"])
        .ok()
        .json();
    let (idx, base, shared) = write_layout(&w.path("src"));
    let images = packed["images"].as_array().unwrap();
    assert_eq!(images[0], format!("team/app:1.0@{idx}"));
    assert_eq!(images[1], format!("team/base:1@{base}"));

    // inspect lists them, with platforms and sizes.
    let j = w.run(&["inspect", "rel.airlock", "--json"]).ok().json();
    assert_eq!(j["format"], 2);
    assert_eq!(j["images"][0]["name"], "team/app");
    assert_eq!(j["images"][0]["tag"], "1.0");
    assert_eq!(j["images"][0]["digest"], idx);
    assert_eq!(
        j["images"][0]["platforms"],
        serde_json::json!(["linux/amd64", "linux/arm64/v8"])
    );
    assert_eq!(
        j["images"][1]["platforms"],
        serde_json::json!(["linux/amd64"])
    );
    // Each blob once per image, even the layer both platforms share.
    let size = j["images"][0]["size"].as_u64().unwrap();
    assert!(size > 300_000 && size < 310_000, "{size}");
    // The shared layer is carried once.
    let entries = j["entries"].as_array().unwrap();
    let shared_d = digest(&shared);
    assert_eq!(
        entries
            .iter()
            .filter(|e| e["kind"] == "blob" && e["path"] == format!("sha256/{}", &shared_d[7..]))
            .count(),
        1
    );

    w.verify("rel.airlock").ok();
    w.unpack("rel.airlock", "out").ok();
    // The artifacts as before, the images as an OCI layout under oci/.
    assert_eq!(fs::read(w.path("out/README.md")).unwrap(), b"# release\n");
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(w.path("out/oci/index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], idx);
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "team/app:1.0"
    );
    assert_eq!(index["manifests"][1]["digest"], base);
    // Every source blob arrived byte for byte.
    for e in fs::read_dir(w.path("src/blobs/sha256")).unwrap() {
        let e = e.unwrap();
        let got = fs::read(w.path("out/oci/blobs/sha256").join(e.file_name())).unwrap();
        assert_eq!(got, fs::read(e.path()).unwrap());
    }
}

#[test]
fn platform_filter_carries_one_platform_manifest() {
    let w = image_world();
    record_with_images(&w, &[APP], &["--platform", "linux/arm64/v8"]);
    let j = pack_images(
        &w,
        "rel.airlock",
        &[APP],
        &["--platform", "linux/arm64/v8", "--json"],
    )
    .ok()
    .json();
    let img = j["images"][0].as_str().unwrap().to_owned();
    let (idx, _, _) = write_layout(&w.path("src"));
    assert!(
        !img.ends_with(&idx),
        "the image is the arm64 manifest, not the index"
    );
    let i = w.run(&["inspect", "rel.airlock", "--json"]).ok().json();
    assert_eq!(
        i["images"][0]["platforms"],
        serde_json::json!(["linux/arm64/v8"])
    );
    w.unpack("rel.airlock", "out").ok();
}

#[test]
fn an_image_that_is_not_a_product_is_refused() {
    let w = image_world();
    // The link records dist/ only; the layout allows anything, but the
    // image is not a product of the build step.
    record_with_images(&w, &[], &[]);
    let r = pack_images(&w, "rel.airlock", &[APP], &["--json"]);
    r.fails(1, "images/team/app:1.0");
    assert!(!w.path("rel.airlock").exists());
}

#[test]
fn docker_archive_is_converted_deterministically() {
    let w = image_world();
    // A `docker save`-shaped archive: manifest.json, config, layer tars.
    let d = w.path("save");
    fs::create_dir_all(d.join("abc")).unwrap();
    fs::write(
        d.join("cfg.json"),
        br#"{"architecture":"amd64","os":"linux"}"#,
    )
    .unwrap();
    fs::write(d.join("abc/layer.tar"), pseudo_random(10_000, 3)).unwrap();
    fs::write(
        d.join("manifest.json"),
        br#"[{"Config":"cfg.json","RepoTags":["docker.io/team/saved:2"],"Layers":["abc/layer.tar"]}]"#,
    )
    .unwrap();
    let tar = w.path("saved.tar");
    {
        let f = fs::File::create(&tar).unwrap();
        let mut b = tar::Builder::new(f);
        b.append_dir_all(".", &d).unwrap();
        b.finish().unwrap();
    }
    let src = "docker-archive:saved.tar";
    record_with_images(&w, &[src], &[]);
    let a = pack_images(&w, "a.airlock", &[src], &["--json"])
        .ok()
        .json();
    let b = pack_images(&w, "b.airlock", &[src], &["--json"])
        .ok()
        .json();
    assert_eq!(a["images"], b["images"]);
    assert!(
        a["images"][0]
            .as_str()
            .unwrap()
            .starts_with("team/saved:2@sha256:")
    );
    assert_eq!(
        fs::read(w.path("a.airlock")).unwrap(),
        fs::read(w.path("b.airlock")).unwrap()
    );
    w.unpack("a.airlock", "out").ok();
    // Scratch directories are gone.
    assert!(fs::read_dir(w.tmp.path()).unwrap().all(|e| {
        !e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".airlock-images-")
    }));
}

#[test]
fn an_artifact_under_oci_is_refused_with_images() {
    let w = image_world();
    w.write("dist/oci/x", b"x");
    record_with_images(&w, &[APP], &[]);
    pack_images(&w, "rel.airlock", &[APP], &[]).fails(2, "oci/");
}

#[test]
fn oci_archive_gives_the_same_image_as_the_layout() {
    let w = image_world();
    let tar = w.path("src.tar");
    {
        let f = fs::File::create(&tar).unwrap();
        let mut b = tar::Builder::new(f);
        b.append_dir_all(".", w.path("src")).unwrap();
        b.finish().unwrap();
    }
    let src = "oci-archive:src.tar:team/app:1.0";
    record_with_images(&w, &[src], &[]);
    let a = pack_images(&w, "a.airlock", &[src], &["--json"])
        .ok()
        .json();
    let (idx, _, _) = write_layout(&w.path("src"));
    assert_eq!(a["images"][0], format!("team/app:1.0@{idx}"));
    w.unpack("a.airlock", "out").ok();
}
