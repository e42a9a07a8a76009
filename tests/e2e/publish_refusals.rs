//! `publish` into the real CNCF registry (Debian `docker-registry`) when
//! something is wrong: validly signed bundles whose images are incomplete,
//! an older bundle trying to move a tag, a tampered unpacked directory —
//! each refused with its exact code, no tag created or moved, and a journal
//! record; a registry that goes away mid-publish and a publish killed
//! mid-upload, each finished by the next run, which sends only what is
//! missing; and the round trip from a `docker://` source.
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::{fs, thread};

use airlock_hsm::{FileSigner, Signer};
use ciborium::Value;
use sha2::{Digest, Sha256};

use crate::common::{World, airlock_bin};
use crate::crafted::{raw_frame, reg, tar_item};
use crate::emulators::{Registry, missing};
use crate::images::{pack_images, record_with_images, write_layout};
use crate::publish::{
    APP, BASE, curl, digest_of, packed, publish, publish_records, ref_names, skopeo, world,
};

const PLAIN: &[&str] = &["--insecure-plain-http"];

/// The blobs (configs and layers) the test's two images have, counted per
/// repository as the registry links them: app's two configs, the shared
/// layer and one layer per platform; base's config and the shared layer.
const BLOBS: u64 = 7;

/// The tags of `repo` (none when the registry does not know it), without
/// the referrers tags (`sha256-<hex>`) the receipts are listed under.
fn tags(host: &str, repo: &str) -> Vec<String> {
    let (s, body) = curl(&[&format!("http://{host}/v2/{repo}/tags/list")]);
    if s == "404" {
        return Vec::new();
    }
    assert_eq!(s, "200", "{}", String::from_utf8_lossy(&body));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    v["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| t.as_str().unwrap().to_owned())
                .filter(|t| !t.starts_with("sha256-"))
                .collect()
        })
        .unwrap_or_default()
}

/// The digest tag `repo:tag` points at.
fn tag_digest(host: &str, repo: &str, tag: &str) -> String {
    let out = skopeo(&[
        "inspect".into(),
        "--raw".into(),
        "--tls-verify=false".into(),
        format!("docker://{host}/{repo}:{tag}"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    digest_of(&out.stdout)
}

/// The registry's catalog: no repository at all after a refusal.
fn catalog(host: &str) -> serde_json::Value {
    let (s, body) = curl(&[&format!("http://{host}/v2/_catalog")]);
    assert_eq!(s, "200");
    serde_json::from_slice::<serde_json::Value>(&body).unwrap()["repositories"].clone()
}

/// No repository of the registry has a tag (nor do the test's images).
fn no_tags(host: &str, why: &str) {
    let mut repos: Vec<String> = catalog(host)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    repos.extend(["team/app".into(), "team/base".into()]);
    for repo in repos {
        assert!(tags(host, &repo).is_empty(), "{why}: {repo} has a tag");
        let (s, body) = curl(&[&format!("http://{host}/v2/{repo}/tags/list")]);
        assert!(
            s == "404" || !String::from_utf8_lossy(&body).contains("sha256-"),
            "{why}: {repo} has a referrers tag"
        );
    }
}

/// The journal's last record.
fn last_record(w: &World) -> serde_json::Value {
    fs::read_to_string(w.path("store/journal.jsonl"))
        .unwrap()
        .lines()
        .last()
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap()
}

/// How many blobs the registry links into its repositories (what
/// `has_blob` answers yes to), read from its storage directory.
fn linked_blobs(reg_dir: &Path) -> u64 {
    fn walk(d: &Path, n: &mut u64) {
        let Ok(rd) = fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.ends_with("_layers/sha256") {
                    *n += fs::read_dir(&p).unwrap().count() as u64;
                } else {
                    walk(&p, n);
                }
            }
        }
    }
    let mut n = 0;
    walk(
        &reg_dir.join("storage/docker/registry/v2/repositories"),
        &mut n,
    );
    n
}

/// Rewrites the bundle `from` as `to`: every tar entry decoded, the signed
/// manifest's `entries` and the payload's items edited by `edit`, then
/// `payload_sha256` and `bundle_id` computed again and the manifest
/// signed again with the release key — a malicious *authorized* signer,
/// so the refusal is the image check, not the signature.
fn resign(
    w: &World,
    from: &str,
    to: &str,
    edit: impl FnOnce(&mut Vec<Value>, &mut Vec<(String, Vec<u8>)>),
) {
    let mut tar_bytes = Vec::new();
    zstd::stream::read::Decoder::new(&fs::read(w.path(from)).unwrap()[..])
        .unwrap()
        .read_to_end(&mut tar_bytes)
        .unwrap();
    let mut head: Vec<(String, Vec<u8>)> = Vec::new();
    let mut payload: Vec<(String, Vec<u8>)> = Vec::new();
    let mut manifest = None;
    for e in tar::Archive::new(&tar_bytes[..]).entries().unwrap() {
        let mut e = e.unwrap();
        let path = String::from_utf8(e.path_bytes().to_vec()).unwrap();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        if path == airlock_bundle::MANIFEST_PATH {
            manifest = Some(data);
        } else if path == airlock_bundle::SIGNATURES_PATH {
            // Signed again below.
        } else if path.starts_with("meta/") {
            head.push((path, data));
        } else {
            payload.push((path, data));
        }
    }
    let mut m: Value = ciborium::from_reader(&manifest.unwrap()[..]).unwrap();
    let Value::Array(list) = field(&mut m, "entries") else {
        panic!("entries")
    };
    edit(list, &mut payload);

    let mut p = Vec::new();
    for (path, data) in &payload {
        tar_item(&mut p, &reg(path, data));
    }
    p.extend_from_slice(&[0u8; 1024]);
    let frame_p = zstd::stream::encode_all(&p[..], 1).unwrap();
    *field(&mut m, "payload_sha256") = Value::Bytes(Sha256::digest(&frame_p).to_vec());
    *field(&mut m, "bundle_id") = Value::Text(String::new());
    let encode = |m: &Value| {
        let mut out = Vec::new();
        ciborium::into_writer(m, &mut out).unwrap();
        out
    };
    let id = hex::encode(&Sha256::digest(encode(&m))[..16]);
    *field(&mut m, "bundle_id") = Value::Text(id);
    let manifest = encode(&m);
    let release = FileSigner::load(&w.path("keys/release.pem")).unwrap();
    let sig = release
        .sign(&airlock_bundle::signing_message(&manifest))
        .unwrap();
    let sigs = Value::Array(vec![Value::Map(vec![
        (
            Value::Text("keyid".into()),
            Value::Text(airlock::keys::keyid(release.public_key())),
        ),
        (Value::Text("sig".into()), Value::Bytes(sig)),
    ])]);
    let mut h = Vec::new();
    tar_item(&mut h, &reg(airlock_bundle::MANIFEST_PATH, &manifest));
    tar_item(
        &mut h,
        &reg(airlock_bundle::SIGNATURES_PATH, &encode(&sigs)),
    );
    for (path, data) in &head {
        tar_item(&mut h, &reg(path, data));
    }
    let mut out = raw_frame(&h);
    out.extend(frame_p);
    fs::write(w.path(to), out).unwrap();
}

/// The value of `key` in the CBOR map `m`.
fn field<'a>(m: &'a mut Value, key: &str) -> &'a mut Value {
    let Value::Map(pairs) = m else {
        panic!("not a map")
    };
    &mut pairs
        .iter_mut()
        .find(|(k, _)| k.as_text() == Some(key))
        .unwrap()
        .1
}

/// The manifest entry's path of `blob` (`sha256/HEX`).
fn entry_path(blob: &[u8]) -> String {
    format!("sha256/{}", &digest_of(blob)[7..])
}

fn path_of(e: &Value) -> &str {
    let Value::Map(pairs) = e else { panic!() };
    pairs
        .iter()
        .find(|(k, _)| k.as_text() == Some("path"))
        .and_then(|(_, v)| v.as_text())
        .unwrap()
}

/// Validly signed bundles whose images are incomplete are refused by the
/// import `publish` runs first: a blob the manifest lists but the stream
/// does not carry, and an image manifest pointing at a blob the bundle
/// does not carry at all. Nothing reaches the registry, and the journal's
/// refused `unpack` record names the code.
#[test]
fn signed_bundles_with_incomplete_images_push_nothing() {
    let test = "signed_bundles_with_incomplete_images_push_nothing";
    if missing(test, &["skopeo", "curl"]).is_some() {
        return;
    }
    let Some(reg) = Registry::start(test, false) else {
        return;
    };
    let host = reg.host();
    let w = world();
    packed(&w, "rel.airlock", "5");
    let victim = entry_path(b"amd64 layer");
    // The untouched bundle, re-signed, is accepted: the crafting is sound.
    resign(&w, "rel.airlock", "same.airlock", |_, _| {});
    w.verify("same.airlock").ok();
    // Only in the signed list, not in the stream: in the middle of it (the
    // next blob arrives where the missing one was expected) and at its end.
    resign(&w, "rel.airlock", "gone.airlock", |_, payload| {
        let before = payload.len();
        payload.retain(|(p, _)| *p != format!("blobs/{victim}"));
        assert_eq!(payload.len(), before - 1);
        assert!(
            payload.last().unwrap().0.starts_with("blobs/"),
            "not the last"
        );
    });
    resign(&w, "rel.airlock", "gone-last.airlock", |_, payload| {
        assert!(payload.pop().unwrap().0.starts_with("blobs/"));
    });
    // Neither listed nor carried, while the amd64 manifest points at it.
    resign(
        &w,
        "rel.airlock",
        "uncarried.airlock",
        |entries, payload| {
            entries.retain(|e| path_of(e) != victim);
            payload.retain(|(p, _)| *p != format!("blobs/{victim}"));
        },
    );
    for (bundle, code) in [
        ("gone.airlock", "out-of-order"),
        ("gone-last.airlock", "missing-entry"),
        ("uncarried.airlock", "image-blob-missing"),
    ] {
        let r = publish(&w, bundle, &host, PLAIN);
        assert_eq!((r.code, r.error_code().as_str()), (1, code), "{}", r.stderr);
        // No tag anywhere (blobs streamed while the bundle was read may be
        // there, unreferenced: issue 16).
        no_tags(&host, bundle);
        // The import's refusal is journaled; blobs streamed into the
        // registry before it add a refused `publish` record after it.
        let mut last = last_record(&w);
        if last["event"] == "publish" {
            assert_eq!(last["fields"]["outcome"], "refused", "{bundle}");
            assert_eq!(last["fields"]["error"]["code"], code);
            let lines = fs::read_to_string(w.path("store/journal.jsonl")).unwrap();
            let all: Vec<&str> = lines.lines().collect();
            last = serde_json::from_str(all[all.len() - 2]).unwrap();
        }
        assert_eq!(last["event"], "unpack", "{bundle}");
        assert_eq!(last["fields"]["outcome"], "refused");
        assert_eq!(last["fields"]["error"]["code"], code);
    }
    assert!(
        publish_records(&w)
            .iter()
            .all(|r| r["fields"]["outcome"] != "published"),
        "nothing was published"
    );
}

/// `team/app:1.0` in `old-src` is only the amd64 manifest: another digest
/// than the two-platform index the newer bundle tags.
fn write_old_layout(w: &World) {
    let (idx, _, _) = write_layout(&w.path("old-src"));
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(w.path("old-src/blobs/sha256").join(&idx[7..])).unwrap())
            .unwrap();
    let top_path = w.path("old-src/index.json");
    let mut top: serde_json::Value = serde_json::from_slice(&fs::read(&top_path).unwrap()).unwrap();
    let amd = &index["manifests"][0];
    top["manifests"][0]["digest"] = amd["digest"].clone();
    top["manifests"][0]["size"] = amd["size"].clone();
    top["manifests"][0]["mediaType"] = amd["mediaType"].clone();
    fs::write(&top_path, top.to_string()).unwrap();
}

/// An older bundle, accepted in its time, cannot move a tag the newer one
/// set in the real registry: `tag-rollback`, the tag still at the newer
/// image, the old image not pushed, and the refusal journaled.
#[test]
fn an_older_bundle_never_moves_a_tag_in_the_registry() {
    let test = "an_older_bundle_never_moves_a_tag_in_the_registry";
    if missing(test, &["skopeo", "curl"]).is_some() {
        return;
    }
    let Some(reg) = Registry::start(test, false) else {
        return;
    };
    let host = reg.host();
    let w = crate::images::image_world();
    write_old_layout(&w);
    let old = ["oci:old-src:team/app:1.0", "oci:old-src:team/base:1"];
    record_with_images(&w, &old, &[]);
    pack_images(
        &w,
        "old.airlock",
        &old,
        &["--channel", "stable", "--sequence", "5"],
    )
    .ok();
    w.unpack("old.airlock", "old").ok();
    let old_app = ref_names(&w.path("old-src"))[0].1.clone();
    record_with_images(&w, &[APP, BASE], &[]);
    packed(&w, "new.airlock", "6");
    publish(&w, "new.airlock", &host, PLAIN).ok();
    let new_app = ref_names(&w.path("src"))[0].1.clone();
    assert_ne!(old_app, new_app);
    assert_eq!(tag_digest(&host, "team/app", "1.0"), new_app);
    let before = publish_records(&w).len();

    let r = publish(&w, "old", &host, PLAIN);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.error_code(), "tag-rollback");
    assert_eq!(tag_digest(&host, "team/app", "1.0"), new_app, "not moved");
    assert_eq!(tags(&host, "team/app"), ["1.0"], "no other tag");
    let (s, _) = curl(&[
        "-I",
        "-H",
        "Accept: application/vnd.oci.image.manifest.v1+json",
        &format!("http://{host}/v2/team/app/manifests/{old_app}"),
    ]);
    // The amd64 manifest is part of the newer index, so it is there; the
    // tag is what must not move.
    assert_eq!(s, "200");
    let recs = publish_records(&w);
    assert!(recs.len() > before);
    let last = recs.last().unwrap();
    assert_eq!(last["fields"]["outcome"], "refused");
    assert_eq!(last["fields"]["error"]["code"], "tag-rollback");
    assert_eq!(last["fields"]["registry"], host.as_str());
}

/// `publish DIR` into the real registry re-hashes the unpacked directory
/// first: a flipped byte in a blob or a replaced `index.json` is refused
/// with `unpacked-dir-tampered`, the registry gets nothing, and each
/// refusal is journaled; restored, the directory is published.
#[test]
fn a_tampered_unpacked_directory_pushes_nothing_to_the_registry() {
    let test = "a_tampered_unpacked_directory_pushes_nothing_to_the_registry";
    if missing(test, &["skopeo", "curl"]).is_some() {
        return;
    }
    let Some(reg) = Registry::start(test, false) else {
        return;
    };
    let host = reg.host();
    let w = world();
    packed(&w, "rel.airlock", "5");
    w.unpack("rel.airlock", "out").ok();
    let (_, _, shared) = write_layout(&w.path("src"));
    let victim = w
        .path("out/oci/blobs/sha256")
        .join(&digest_of(&shared)[7..]);
    let good = fs::read(&victim).unwrap();
    let mut bad = good.clone();
    bad[good.len() / 2] ^= 1;
    fs::write(&victim, &bad).unwrap();
    let index = w.path("out/oci/index.json");
    let good_index = fs::read(&index).unwrap();
    let r = publish(&w, "out", &host, PLAIN);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "unpacked-dir-tampered")
    );
    fs::write(&victim, &good).unwrap();
    // Another image under the same tag: base's manifest as team/app:1.0.
    let mut top: serde_json::Value = serde_json::from_slice(&good_index).unwrap();
    top["manifests"][0] = top["manifests"][1].clone();
    top["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] = "team/app:1.0".into();
    fs::write(&index, top.to_string()).unwrap();
    let r = publish(&w, "out", &host, PLAIN);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "unpacked-dir-tampered")
    );
    assert_eq!(catalog(&host), serde_json::json!([]));
    let recs = publish_records(&w);
    assert_eq!(recs.len(), 2);
    assert!(recs.iter().all(|r| r["fields"]["outcome"] == "refused"
        && r["fields"]["error"]["code"] == "unpacked-dir-tampered"));
    fs::write(&index, &good_index).unwrap();
    publish(&w, "out", &host, PLAIN).ok();
    assert_eq!(tags(&host, "team/app"), ["1.0"]);
}

/// When the proxy of [`proxy`] trips: at the `nth` blob upload
/// (`PUT …/blobs/uploads/…`, counted over all connections) whose request
/// line also contains `needle`; with `forward_first`, the bytes read with
/// that request line (its headers, the start of its body) are forwarded
/// before `trip` runs, so the upload is cut in the middle.
struct TripAt {
    needle: String,
    nth: usize,
    forward_first: bool,
}

impl TripAt {
    /// Before the `nth` blob upload starts: blobs go up one after the
    /// other, so exactly `nth - 1` arrived.
    fn before(nth: usize) -> TripAt {
        TripAt {
            needle: String::new(),
            nth,
            forward_first: false,
        }
    }
}

/// A plain TCP proxy to the registry on `to`: when `at` is reached, `trip`
/// runs once and that connection is dropped. Returns the proxy's port; it
/// serves until the test ends.
fn proxy(to: u16, at: TripAt, trip: Box<dyn FnOnce() + Send>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let state = Arc::new(Mutex::new((0usize, Some(trip))));
    let at = Arc::new(at);
    thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut client) = c else { continue };
            let Ok(mut server) = TcpStream::connect(("127.0.0.1", to)) else {
                continue;
            };
            let (mut s2, mut c2) = (server.try_clone().unwrap(), client.try_clone().unwrap());
            thread::spawn(move || {
                let _ = std::io::copy(&mut s2, &mut c2);
                let _ = c2.shutdown(Shutdown::Both);
            });
            let state = state.clone();
            let at = at.clone();
            thread::spawn(move || {
                let mut tail: Vec<u8> = Vec::new();
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let n = match client.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let old = tail.len();
                    tail.extend_from_slice(&buf[..n]);
                    // Request lines completed by this chunk.
                    let mut puts = 0;
                    let mut from = 0;
                    while let Some(i) = find(&tail[from..], b"PUT /v2/") {
                        let start = from + i;
                        let Some(e) = find(&tail[start..], b"\r\n") else {
                            break;
                        };
                        let end = start + e;
                        let line = &tail[start..end];
                        if end + 2 > old
                            && find(line, b"/blobs/uploads/").is_some()
                            && find(line, at.needle.as_bytes()).is_some()
                        {
                            puts += 1;
                        }
                        from = end;
                    }
                    let trip = {
                        let mut s = state.lock().unwrap();
                        let before = s.0;
                        s.0 += puts;
                        if before < at.nth && s.0 >= at.nth {
                            s.1.take()
                        } else {
                            None
                        }
                    };
                    if let Some(trip) = trip {
                        if at.forward_first {
                            let _ = server.write_all(&buf[..n]);
                        }
                        trip();
                        let _ = server.shutdown(Shutdown::Both);
                        let _ = client.shutdown(Shutdown::Both);
                        break;
                    }
                    if server.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    if tail.len() > 4096 {
                        tail.drain(..tail.len() - 4096);
                    }
                }
                let _ = server.shutdown(Shutdown::Both);
            });
        }
    });
    port
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The registry process goes away after the first blob arrived, before
/// the second: the publish fails with `registry-unreachable`, no tag is
/// created, the journal says `failed`; restarted on the same storage, the
/// same publish completes and sends only the blobs that are missing.
#[test]
fn a_registry_that_dies_mid_publish_is_resumed_with_only_the_missing_blobs() {
    let test = "a_registry_that_dies_mid_publish_is_resumed_with_only_the_missing_blobs";
    if missing(test, &["skopeo", "curl"]).is_some() {
        return;
    }
    let Some(reg) = Registry::start(test, false) else {
        return;
    };
    let reg_port = reg.port;
    let reg = Arc::new(Mutex::new(reg));
    let killer = reg.clone();
    let port = proxy(
        reg_port,
        TripAt::before(2),
        Box::new(move || killer.lock().unwrap().stop()),
    );
    let target = format!("127.0.0.1:{port}");
    let w = world();
    packed(&w, "rel.airlock", "5");
    let r = publish(&w, "rel.airlock", &target, PLAIN);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.error_code(), "registry-unreachable", "{}", r.stderr);
    let last = publish_records(&w).pop().unwrap();
    assert_eq!(last["fields"]["outcome"], "failed");
    assert_eq!(last["fields"]["error"]["code"], "registry-unreachable");
    reg.lock().unwrap().restart();
    let host = reg.lock().unwrap().host();
    no_tags(&host, "after the failed run");
    let dir = reg.lock().unwrap().dir.path().to_owned();
    let there = linked_blobs(&dir);
    // Blobs go up one after the other: the first arrived, the second not.
    assert_eq!(there, 1);
    let j = publish(&w, "rel.airlock", &target, PLAIN).ok().json();
    assert_eq!(j["blobs_skipped"], there);
    assert_eq!(j["blobs_sent"], BLOBS - there);
    assert_eq!(tags(&host, "team/app"), ["1.0"]);
    assert_eq!(tags(&host, "team/base"), ["1"]);
    let src = ref_names(&w.path("src"));
    assert_eq!(tag_digest(&host, "team/app", "1.0"), src[0].1);
    assert_eq!(tag_digest(&host, "team/base", "1"), src[1].1);
    assert_eq!(
        publish_records(&w).pop().unwrap()["fields"]["outcome"],
        "published"
    );
}

/// The registry process goes away while the large shared layer is on the
/// wire (its headers and first bytes forwarded): the publish fails with
/// `registry-unreachable` and no tag; the layer did not arrive, and the
/// resumed run sends it and whatever else is missing, skipping the rest.
#[test]
fn a_registry_that_dies_during_a_blob_upload_is_resumed() {
    let test = "a_registry_that_dies_during_a_blob_upload_is_resumed";
    if missing(test, &["skopeo", "curl"]).is_some() {
        return;
    }
    let Some(reg) = Registry::start(test, false) else {
        return;
    };
    let w = world();
    packed(&w, "rel.airlock", "5");
    let (_, _, shared) = write_layout(&w.path("src"));
    let shared = digest_of(&shared)[7..].to_owned();
    let reg_port = reg.port;
    let reg = Arc::new(Mutex::new(reg));
    let killer = reg.clone();
    let at = TripAt {
        needle: shared.clone(),
        nth: 1,
        forward_first: true,
    };
    let port = proxy(
        reg_port,
        at,
        Box::new(move || killer.lock().unwrap().stop()),
    );
    let target = format!("127.0.0.1:{port}");
    let r = publish(&w, "rel.airlock", &target, PLAIN);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.error_code(), "registry-unreachable", "{}", r.stderr);
    assert_eq!(
        publish_records(&w).pop().unwrap()["fields"]["outcome"],
        "failed"
    );
    reg.lock().unwrap().restart();
    let host = reg.lock().unwrap().host();
    no_tags(&host, "after the failed run");
    let (s, _) = curl(&[
        "-I",
        &format!("http://{host}/v2/team/app/blobs/sha256:{shared}"),
    ]);
    assert_eq!(s, "404", "the cut upload did not arrive");
    let there = linked_blobs(reg.lock().unwrap().dir.path());
    let j = publish(&w, "rel.airlock", &target, PLAIN).ok().json();
    assert_eq!(j["blobs_skipped"], there);
    assert_eq!(j["blobs_sent"], BLOBS - there);
    let src = ref_names(&w.path("src"));
    assert_eq!(tag_digest(&host, "team/app", "1.0"), src[0].1);
    assert_eq!(tag_digest(&host, "team/base", "1"), src[1].1);
}

/// Tags an earlier bundle set stay where they are when the registry goes
/// away in the middle of a newer bundle's publish: the older image is
/// still under `team/app:1.0` after the failed run; the resumed run sends
/// the one blob that is missing and only then moves the tag.
#[test]
fn a_registry_that_dies_mid_publish_moves_no_tag() {
    let test = "a_registry_that_dies_mid_publish_moves_no_tag";
    if missing(test, &["skopeo", "curl"]).is_some() {
        return;
    }
    let Some(reg) = Registry::start(test, false) else {
        return;
    };
    let host = reg.host();
    let w = crate::images::image_world();
    write_old_layout(&w);
    let old = ["oci:old-src:team/app:1.0", "oci:old-src:team/base:1"];
    record_with_images(&w, &old, &[]);
    pack_images(
        &w,
        "old.airlock",
        &old,
        &["--channel", "stable", "--sequence", "5"],
    )
    .ok();
    // Straight to the registry: the old images and their tags.
    publish(&w, "old.airlock", &host, PLAIN).ok();
    let old_app = ref_names(&w.path("old-src"))[0].1.clone();
    assert_eq!(tag_digest(&host, "team/app", "1.0"), old_app);
    let before = linked_blobs(reg.dir.path());
    record_with_images(&w, &[APP, BASE], &[]);
    packed(&w, "new.airlock", "6");

    // The newer bundle needs the arm64 config and layer: the registry
    // stops after the first arrived.
    let reg_port = reg.port;
    let reg = Arc::new(Mutex::new(reg));
    let killer = reg.clone();
    let port = proxy(
        reg_port,
        TripAt::before(2),
        Box::new(move || killer.lock().unwrap().stop()),
    );
    let target = format!("127.0.0.1:{port}");
    let r = publish(&w, "new.airlock", &target, PLAIN);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.error_code(), "registry-unreachable", "{}", r.stderr);
    assert_eq!(
        publish_records(&w).pop().unwrap()["fields"]["outcome"],
        "failed"
    );
    reg.lock().unwrap().restart();
    assert_eq!(tags(&host, "team/app"), ["1.0"]);
    assert_eq!(tag_digest(&host, "team/app", "1.0"), old_app, "not moved");
    let there = linked_blobs(reg.lock().unwrap().dir.path());
    assert_eq!(there, before + 1);
    let j = publish(&w, "new.airlock", &target, PLAIN).ok().json();
    // Of the image blobs, only the arm64 layer (or config) that did not
    // arrive is sent.
    assert_eq!(j["blobs_sent"], 1);
    assert_eq!(j["blobs_skipped"], BLOBS - 1);
    let new_app = ref_names(&w.path("src"))[0].1.clone();
    assert_eq!(tag_digest(&host, "team/app", "1.0"), new_app);
}

/// `airlock publish` killed (SIGKILL) while a blob upload is on the wire:
/// no tag; the next run finishes the publish and sends only what is
/// missing.
#[test]
fn a_killed_publish_finishes_on_the_next_run() {
    let test = "a_killed_publish_finishes_on_the_next_run";
    if missing(test, &["skopeo", "curl"]).is_some() {
        return;
    }
    let Some(reg) = Registry::start(test, false) else {
        return;
    };
    let host = reg.host();
    let (seen_tx, seen_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let port = proxy(
        reg.port,
        TripAt::before(3),
        Box::new(move || {
            let _ = seen_tx.send(());
            // Held until the test has killed the publisher.
            let _ = release_rx.recv();
        }),
    );
    let target = format!("127.0.0.1:{port}");
    let w = world();
    packed(&w, "rel.airlock", "5");
    let mut child = Command::new(airlock_bin())
        .current_dir(w.tmp.path())
        .args([
            "publish",
            "rel.airlock",
            "--store",
            "store",
            "--registry",
            &target,
            "--insecure-plain-http",
            "--json",
        ])
        .env_remove("AIRLOCK_STORE")
        .env_remove("SOURCE_DATE_EPOCH")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    loop {
        if seen_rx
            .recv_timeout(std::time::Duration::from_millis(100))
            .is_ok()
        {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the publish ended before its third blob upload"
        );
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    drop(release_tx);
    no_tags(&host, "after the failed run");
    let there = linked_blobs(reg.dir.path());
    assert_eq!(there, 2);
    let j = publish(&w, "rel.airlock", &target, PLAIN).ok().json();
    assert_eq!(j["blobs_skipped"], there);
    assert_eq!(j["blobs_sent"], BLOBS - there);
    assert_eq!(tags(&host, "team/app"), ["1.0"]);
    assert_eq!(tags(&host, "team/base"), ["1"]);
    let recs = publish_records(&w);
    assert_eq!(recs.len(), 2, "one record per image, from the finished run");
    assert!(recs.iter().all(|r| r["fields"]["outcome"] == "published"));
}

/// Images pulled from a registry standing in for the connected side's
/// (`pack --image docker://…`) reach the enclave registry with the source's
/// manifest digests, and `skopeo copy` back gives the source's blobs.
#[test]
fn images_from_a_docker_source_round_trip() {
    let test = "images_from_a_docker_source_round_trip";
    if missing(test, &["skopeo", "curl"]).is_some() {
        return;
    }
    let Some(reg) = Registry::start(test, false) else {
        return;
    };
    let host = reg.host();
    let w = crate::images::image_world();
    crate::pull::push_images(&w, &reg);
    let sources = [
        format!("docker://{host}/team/app:1.0"),
        format!("docker://{host}/team/base:1"),
    ];
    let sources: Vec<&str> = sources.iter().map(String::as_str).collect();
    record_with_images(&w, &sources, PLAIN);
    pack_images(
        &w,
        "rel.airlock",
        &sources,
        &[
            "--insecure-plain-http",
            "--channel",
            "stable",
            "--sequence",
            "5",
        ],
    )
    .ok();
    let j = publish(&w, "rel.airlock", &format!("{host}/enclave"), PLAIN)
        .ok()
        .json();
    assert_eq!(j["published"].as_array().unwrap().len(), 2);
    for (repo, tag) in [("team/app", "1.0"), ("team/base", "1")] {
        let source = tag_digest(&host, repo, tag);
        assert_eq!(
            tag_digest(&host, &format!("enclave/{repo}"), tag),
            source,
            "{repo}:{tag}"
        );
        let copy = |from: String, to: &str| {
            let out = skopeo(&[
                "copy".into(),
                "--all".into(),
                "--preserve-digests".into(),
                "--src-tls-verify=false".into(),
                from,
                format!("oci:{}:x", w.path(to).display()),
            ]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let name = repo.replace('/', "-");
        copy(
            format!("docker://{host}/{repo}:{tag}"),
            &format!("from-{name}"),
        );
        copy(
            format!("docker://{host}/enclave/{repo}:{tag}"),
            &format!("back-{name}"),
        );
        let list = |d: &str| {
            let mut v: Vec<(String, Vec<u8>)> = fs::read_dir(w.path(d).join("blobs/sha256"))
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        fs::read(e.path()).unwrap(),
                    )
                })
                .collect();
            v.sort();
            v
        };
        let back = list(&format!("back-{name}"));
        assert!(back.len() >= 3, "{repo}");
        assert_eq!(
            back,
            list(&format!("from-{name}")),
            "{repo}: identical blobs"
        );
    }
}
