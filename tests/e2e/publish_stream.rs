//! `publish BUNDLE` streams each image blob into the registry (the real
//! CNCF registry, Debian `docker-registry`) as the import checks it: each
//! blob is sent once and the images are the source's; a blob that fails
//! its check never completes in the registry, and a refused bundle leaves
//! no manifest and no tag, only the blobs streamed before, unreferenced and
//! counted in the journal; publishing again sends nothing new.
use std::fs;

use crate::common::World;
use crate::emulators::{Registry, missing};
use crate::publish::{curl, digest_of, packed, publish, publish_records, ref_names, skopeo, world};

/// Each image's repository and the blobs (configs, layers) it needs, from
/// the source layout the bundle was packed from.
fn image_blobs(w: &World) -> Vec<(String, Vec<String>)> {
    let blob = |d: &str| fs::read(w.path("src/blobs/sha256").join(&d[7..])).unwrap();
    let json = |d: &str| serde_json::from_slice::<serde_json::Value>(&blob(d)).unwrap();
    let mut out = Vec::new();
    for (name, digest) in ref_names(&w.path("src")) {
        let repo = name.split(':').next().unwrap().to_owned();
        let top = json(&digest);
        let manifests: Vec<String> = match top["manifests"].as_array() {
            Some(ms) => ms
                .iter()
                .map(|m| m["digest"].as_str().unwrap().to_owned())
                .collect(),
            None => vec![digest.clone()],
        };
        let mut blobs = Vec::new();
        for m in manifests {
            let m = json(&m);
            for d in std::iter::once(&m["config"]).chain(m["layers"].as_array().unwrap()) {
                let d = d["digest"].as_str().unwrap().to_owned();
                if !blobs.contains(&d) {
                    blobs.push(d);
                }
            }
        }
        out.push((repo, blobs));
    }
    out
}

/// The status of `HEAD /v2/REPO/blobs/DIGEST`.
fn has_blob(host: &str, repo: &str, digest: &str) -> bool {
    let (s, _) = curl(&["-I", &format!("http://{host}/v2/{repo}/blobs/{digest}")]);
    s == "200"
}

#[test]
fn a_bundle_publish_streams_each_blob_once_and_again_sends_nothing() {
    let test = "a_bundle_publish_streams_each_blob_once_and_again_sends_nothing";
    if missing(test, &["skopeo", "curl"]).is_some() {
        return;
    }
    let Some(reg) = Registry::start(test, false) else {
        return;
    };
    let host = reg.host();
    let w = world();
    packed(&w, "rel.airlock", "5");
    let images = image_blobs(&w);
    let pairs: usize = images.iter().map(|(_, b)| b.len()).sum();
    let distinct: std::collections::BTreeSet<&String> =
        images.iter().flat_map(|(_, b)| b).collect();
    let j = publish(&w, "rel.airlock", &host, &["--insecure-plain-http"])
        .ok()
        .json();
    // Each blob streamed once, to the first repository that needs it, as
    // it was checked; only a layer another repository shares is sent from
    // the import afterwards: every (repository, blob) once, none skipped.
    assert_eq!(j["blobs_streamed"], distinct.len(), "{j}");
    assert_eq!(j["blobs_sent"], pairs, "{j}");
    assert_eq!(j["blobs_skipped"], 0, "{j}");
    for r in publish_records(&w) {
        assert_eq!(r["fields"]["blobs_streamed"], distinct.len());
    }
    // The images are the source's, byte for byte.
    for (name, digest) in ref_names(&w.path("src")) {
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
        assert_eq!(digest_of(&out.stdout), digest, "{name}");
    }
    for (repo, blobs) in &images {
        for d in blobs {
            let (s, b) = curl(&[&format!("http://{host}/v2/{repo}/blobs/{d}")]);
            assert_eq!(s, "200", "{repo} {d}");
            assert_eq!(&digest_of(&b), d);
        }
    }
    // The same bundle again: the import is reused, nothing is sent.
    let again = publish(&w, "rel.airlock", &host, &["--insecure-plain-http"])
        .ok()
        .json();
    assert_eq!(again["blobs_streamed"], 0, "{again}");
    assert_eq!(again["blobs_sent"], 0, "{again}");
    assert_eq!(again["blobs_skipped"], pairs, "{again}");
    // A newer bundle of the same images: it is imported (and checked) with
    // every blob asked for first (`HEAD`), none sent.
    packed(&w, "rel6.airlock", "6");
    let newer = publish(&w, "rel6.airlock", &host, &["--insecure-plain-http"])
        .ok()
        .json();
    assert_eq!(newer["blobs_streamed"], 0, "{newer}");
    assert_eq!(newer["blobs_sent"], 0, "{newer}");
    assert_eq!(newer["blobs_skipped"], pairs, "{newer}");
}

#[test]
fn a_flipped_layer_byte_is_refused_and_no_manifest_or_tag_is_pushed() {
    let test = "a_flipped_layer_byte_is_refused_and_no_manifest_or_tag_is_pushed";
    if missing(test, &["skopeo", "curl"]).is_some() {
        return;
    }
    let Some(reg) = Registry::start(test, false) else {
        return;
    };
    let host = reg.host();
    let w = world();
    packed(&w, "rel.airlock", "5");
    let images = image_blobs(&w);
    // The layer of the largest digest (blobs travel sorted by digest):
    // one byte of it flipped in the payload, the payload frame otherwise
    // sound, so that what refuses it is the layer's own digest, once the
    // blobs before it were streamed.
    let read = |d: &str| fs::read(w.path("src/blobs/sha256").join(&d[7..])).unwrap();
    let layer = images
        .iter()
        .flat_map(|(_, b)| b)
        .filter(|d| serde_json::from_slice::<serde_json::Value>(&read(d)).is_err())
        .max()
        .unwrap()
        .clone();
    let b = flipped_in_payload(&fs::read(w.path("rel.airlock")).unwrap(), &read(&layer));
    fs::write(w.path("bad.airlock"), &b).unwrap();
    let r = publish(&w, "bad.airlock", &host, &["--insecure-plain-http"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.error_code(), "digest-mismatch");
    no_manifest_or_tag(&w, &host);
    // The refused layer never completed anywhere.
    for (repo, _) in &images {
        assert!(
            !has_blob(&host, repo, &layer),
            "{repo} has the refused layer"
        );
    }
    // The journal: the import's refusal with its code; the blobs streamed
    // before it (in the registry, unreferenced) are counted by a publish
    // record with the same code, and are each there.
    let streamed: usize = images
        .iter()
        .map(|(repo, blobs)| blobs.iter().filter(|d| has_blob(&host, repo, d)).count())
        .sum();
    let records: Vec<serde_json::Value> = fs::read_to_string(w.path("store/journal.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let unpack = records.iter().rfind(|r| r["event"] == "unpack").unwrap();
    assert_eq!(unpack["fields"]["outcome"], "refused");
    assert_eq!(unpack["fields"]["error"]["code"], "digest-mismatch");
    // Every blob of a smaller digest travelled before the layer and was
    // streamed, each to the first repository needing it.
    let distinct: std::collections::BTreeSet<&String> =
        images.iter().flat_map(|(_, b)| b).collect();
    let before = distinct.iter().filter(|d| ***d < layer).count();
    assert!(before > 0);
    assert_eq!(streamed, before, "every blob before the layer");
    let publishes = publish_records(&w);
    assert_eq!(publishes.len(), 1, "{publishes:?}");
    let f = &publishes[0]["fields"];
    assert_eq!(f["outcome"], "refused");
    assert_eq!(f["error"]["code"], "digest-mismatch");
    assert_eq!(f["blobs_streamed"], streamed);
    // Nothing was committed.
    assert!(
        !w.path("store/imports").read_dir().unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .len()
            == 32)
    );
}

/// `bundle` with one byte flipped in the middle of `blob` (a file of the
/// payload): frame P decompressed, changed, compressed again (with its
/// content checksum, as the reference writer does). Only the blob's digest
/// (and, checked last, the stored payload's) no longer match.
fn flipped_in_payload(bundle: &[u8], blob: &[u8]) -> Vec<u8> {
    // Frame H (SPEC.md 2.1): magic, 2 header bytes, raw blocks.
    assert_eq!(&bundle[..4], &[0x28, 0xB5, 0x2F, 0xFD]);
    let mut p = 6;
    loop {
        let h = u32::from_le_bytes([bundle[p], bundle[p + 1], bundle[p + 2], 0]);
        p += 3 + (h >> 3) as usize;
        if h & 1 == 1 {
            break;
        }
    }
    let mut content = zstd::decode_all(&bundle[p..]).unwrap();
    let found: Vec<usize> = content
        .windows(blob.len())
        .enumerate()
        .filter(|(_, x)| *x == blob)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(found.len(), 1, "the blob is in the payload once");
    content[found[0] + blob.len() / 2] ^= 0x10;
    let mut e = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
    e.include_checksum(true).unwrap();
    std::io::Write::write_all(&mut e, &content).unwrap();
    let mut out = bundle[..p].to_vec();
    out.extend(e.finish().unwrap());
    out
}

/// No manifest and no tag of `images` in the registry at `host`.
fn no_manifest_or_tag(w: &World, host: &str) {
    for (name, digest) in ref_names(&w.path("src")) {
        let repo = name.split(':').next().unwrap();
        let (s, body) = curl(&[&format!("http://{host}/v2/{repo}/tags/list")]);
        let tags = serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default();
        assert!(
            s == "404" || tags["tags"].as_array().is_none_or(Vec::is_empty),
            "{repo}: no tag ({s} {tags})"
        );
        let (s, _) = curl(&[
            "-H",
            "Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json",
            &format!("http://{host}/v2/{repo}/manifests/{digest}"),
        ]);
        assert_eq!(s, "404", "{repo}: no manifest");
    }
}

/// The enclave policy decides after the whole payload was checked (and
/// streamed): its denial pushes no manifest and no tag, and the journal
/// counts the blobs left in the registry, unreferenced.
#[test]
fn a_bundle_the_policy_denies_after_streaming_leaves_no_manifest_or_tag() {
    let test = "a_bundle_the_policy_denies_after_streaming_leaves_no_manifest_or_tag";
    if missing(test, &["skopeo", "curl"]).is_some() {
        return;
    }
    let Some(reg) = Registry::start(test, false) else {
        return;
    };
    let host = reg.host();
    let w = world();
    packed(&w, "rel.airlock", "5");
    let images = image_blobs(&w);
    let distinct: std::collections::BTreeSet<&String> =
        images.iter().flat_map(|(_, b)| b).collect();
    w.write(
        "never.toml",
        b"format = 1\nlanguage = \"cel\"\n[[rule]]\nname = \"never\"\nexpr = \"false\"\n",
    );
    w.run(&["policy", "set", "--store", "store", "never.toml"])
        .ok();
    let before = w.store_state();
    let r = publish(&w, "rel.airlock", &host, &["--insecure-plain-http"]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "policy-denied"),
        "{}",
        r.stderr
    );
    assert_eq!(w.store_state(), before, "the store did not advance");
    no_manifest_or_tag(&w, &host);
    let streamed: usize = images
        .iter()
        .map(|(repo, blobs)| blobs.iter().filter(|d| has_blob(&host, repo, d)).count())
        .sum();
    assert_eq!(streamed, distinct.len(), "every blob was streamed, once");
    let publishes = publish_records(&w);
    assert_eq!(publishes.len(), 1, "{publishes:?}");
    let f = &publishes[0]["fields"];
    assert_eq!(f["outcome"], "refused");
    assert_eq!(f["error"]["code"], "policy-denied");
    assert_eq!(f["blobs_streamed"], streamed);
}
