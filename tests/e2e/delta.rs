//! Delta bundles (SPEC.md 5.7, docs/transfers.md "Delta bundles"): a delta
//! carries only what its base lacks, is accepted only on a store whose
//! journal shows the base imported, takes the rest from that import after
//! re-hashing it, and unpacks to exactly the tree of the full bundle.
//! Each refusal has its own code and leaves nothing behind.
use std::fs;

use sha2::Digest as _;

use crate::common::{World, airlock_in, listing, tree};
use crate::crafted::{Crafted, man, refused};

/// Packs `v1.bundle` (sequence 1) from the fixture's `dist/`, then changes
/// `README.md` and packs release 2 both in full (`v2-full.bundle`) and as a
/// delta of v1 (`v2-delta.bundle`), with `extra` flags on each.
fn two_releases(w: &World, extra: &[&str]) {
    let with = |seq: &str, more: &[&str]| {
        let mut a = vec!["--sequence", seq];
        a.extend(extra);
        a.extend(more);
        a.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>()
    };
    let pack = |out: &str, args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        w.pack(out, &args).ok();
    };
    pack("v1.bundle", with("1", &[]));
    w.write("dist/README.md", b"# release 2\n");
    pack("v2-full.bundle", with("2", &[]));
    pack("v2-delta.bundle", with("2", &["--base", "v1.bundle"]));
}

/// A second store with the same root: where the full bundles are unpacked
/// for comparison (a store accepts one bundle per sequence).
fn second_store(w: &World) {
    w.run(&[
        "anchor",
        "init",
        "--channel",
        "default",
        "--store",
        "store2",
        "--root",
        "1.root.json",
    ])
    .ok();
}

fn unpack2(w: &World, bundle: &str, to: &str) {
    w.run(&["unpack", bundle, "--store", "store2", "--to", to])
        .ok();
}

/// The message of `unpack BUNDLE`'s refusal (exit 1).
fn refusal_message(w: &World, bundle: &str) -> String {
    let r = w.unpack_json(bundle, "x");
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn bundle_id(w: &World, bundle: &str) -> String {
    w.run(&["inspect", bundle, "--json"]).ok().json()["bundle_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_delta_unpacks_to_exactly_the_full_bundles_tree_and_so_does_a_delta_of_a_delta() {
    let w = World::new();
    two_releases(&w, &[]);
    let full = fs::metadata(w.path("v2-full.bundle")).unwrap().len();
    let delta = fs::metadata(w.path("v2-delta.bundle")).unwrap().len();
    assert!(delta * 4 < full, "delta {delta} bytes, full {full}");

    // What inspect says the delta needs.
    let v1 = bundle_id(&w, "v1.bundle");
    let i = w.run(&["inspect", "v2-delta.bundle", "--json"]).ok().json();
    assert_eq!(i["delta"]["base_bundle_id"], v1.as_str());
    assert_eq!(i["delta"]["base_sequence"], 1);
    assert_eq!(i["delta"]["from_base_files"], 4);
    assert_eq!(i["delta"]["carried_files"], 1);
    let taken: Vec<&str> = i["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["from_base"] == true)
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(taken.contains(&"bin/tool") && !taken.contains(&"README.md"));
    let text = w.run(&["inspect", "v2-delta.bundle"]).ok();
    assert!(text.stdout.contains(&format!("delta      of bundle {v1}")));

    // The isolated side: base, then the delta.
    w.unpack("v1.bundle", "base1").ok();
    let d = w
        .run(&[
            "unpack",
            "v2-delta.bundle",
            "--store",
            "store",
            "--to",
            "d2",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(d["delta"]["base_bundle_id"], v1.as_str());
    assert_eq!(d["delta"]["from_base_files"], 4);
    assert_eq!(d["artifacts"], 5);
    // The journal records the import as a delta of its base.
    let journal = fs::read_to_string(w.path("store/journal.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(journal.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "unpack");
    assert_eq!(last["fields"]["delta"]["base_bundle_id"], v1.as_str());
    assert_eq!(last["fields"]["delta"]["from_base_files"], 4);

    // The full bundle, on a store of its own.
    second_store(&w);
    unpack2(&w, "v1.bundle", "s2-base1");
    unpack2(&w, "v2-full.bundle", "full2");
    assert_eq!(tree(&w.path("d2")), tree(&w.path("full2")));

    // A delta of the delta: its base's import is itself a delta's.
    w.write("dist/share/a/b/c/deep.txt", b"deeper\n");
    w.pack(
        "v3-delta.bundle",
        &["--sequence", "3", "--base", "v2-delta.bundle"],
    )
    .ok();
    w.pack("v3-full.bundle", &["--sequence", "3"]).ok();
    let i3 = w.run(&["inspect", "v3-delta.bundle", "--json"]).ok().json();
    assert_eq!(
        i3["delta"]["base_bundle_id"],
        bundle_id(&w, "v2-delta.bundle").as_str()
    );
    assert_eq!(i3["delta"]["from_base_files"], 4);
    w.unpack("v3-delta.bundle", "d3").ok();
    unpack2(&w, "v3-full.bundle", "full3");
    assert_eq!(tree(&w.path("d3")), tree(&w.path("full3")));
    // The base's import is only read.
    assert_eq!(tree(&w.path("d2")), tree(&w.path("full2")));
}

#[test]
fn a_delta_whose_base_was_never_imported_is_refused() {
    let w = World::new();
    two_releases(&w, &[]);
    refused(&w, "v2-delta.bundle", "delta-base-not-imported");
}

#[test]
fn a_delta_whose_base_changed_after_unpack_is_refused_naming_the_files() {
    let w = World::new();
    two_releases(&w, &[]);
    w.unpack("v1.bundle", "base1").ok();
    // One file edited, one removed.
    let mut tool = fs::read(w.path("base1/bin/tool")).unwrap();
    tool[1000] ^= 1;
    fs::write(w.path("base1/bin/tool"), tool).unwrap();
    fs::remove_file(w.path("base1/share/a/b/c/deep.txt")).unwrap();
    let message = refusal_message(&w, "v2-delta.bundle");
    assert!(
        message.contains("bin/tool") && message.contains("deep.txt"),
        "{message}"
    );
    assert!(!message.contains("empty.dat"), "{message}");
    refused(&w, "v2-delta.bundle", "delta-base-changed");

    // The base's delivered manifest replaced: the import is not the
    // journaled one any more.
    let w = World::new();
    two_releases(&w, &[]);
    w.unpack("v1.bundle", "base1").ok();
    fs::copy(
        w.path("base1/README.md"),
        w.path("base1.airlock-metadata/manifest.cbor"),
    )
    .unwrap();
    refused(&w, "v2-delta.bundle", "delta-base-changed");
}

/// The journal keeps the base's destination as an absolute path: a base
/// unpacked with a relative `--to` from one working directory is found
/// from another.
#[test]
fn a_base_unpacked_with_a_relative_to_is_found_from_another_directory() {
    let w = World::new();
    two_releases(&w, &[]);
    fs::create_dir(w.path("ops")).unwrap();
    let u = airlock_in(
        &w.path("ops"),
        &[
            "unpack",
            "../v1.bundle",
            "--store",
            "../store",
            "--to",
            "base1",
            "--json",
        ],
    )
    .ok()
    .json();
    let dest = w.path("ops/base1").canonicalize().unwrap();
    assert_eq!(u["destination"], dest.to_str().unwrap());
    let journal = fs::read_to_string(w.path("store/journal.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(journal.lines().last().unwrap()).unwrap();
    assert_eq!(last["fields"]["destination"], u["destination"]);
    // From the world's directory, where `base1` does not exist.
    w.unpack("v2-delta.bundle", "d2").ok();
    second_store(&w);
    unpack2(&w, "v1.bundle", "s2-base1");
    unpack2(&w, "v2-full.bundle", "full2");
    assert_eq!(tree(&w.path("d2")), tree(&w.path("full2")));
}

/// A base file replaced by a symbolic link is gone, even when the link
/// points at exactly the right bytes: the base's files are read beneath
/// its destination, following no link.
#[test]
fn a_base_file_replaced_by_a_symbolic_link_is_refused() {
    let w = World::new();
    two_releases(&w, &[]);
    w.unpack("v1.bundle", "base1").ok();
    fs::rename(w.path("base1/bin/tool"), w.path("tool-elsewhere")).unwrap();
    std::os::unix::fs::symlink(w.path("tool-elsewhere"), w.path("base1/bin/tool")).unwrap();
    let message = refusal_message(&w, "v2-delta.bundle");
    assert!(
        message.contains("bin/tool") && message.contains("symbolic link"),
        "{message}"
    );
    refused(&w, "v2-delta.bundle", "delta-base-changed");
}

#[test]
fn a_delta_of_a_base_from_another_channel_is_refused_on_both_sides() {
    // The connected side: pack refuses to build it, writing nothing.
    let w = World::new();
    w.pack("beta1.bundle", &["--sequence", "1", "--channel", "beta"])
        .ok();
    let before = listing(w.tmp.path());
    let r = w.pack(
        "stable2.bundle",
        &[
            "--sequence",
            "2",
            "--channel",
            "stable",
            "--base",
            "beta1.bundle",
            "--json",
        ],
    );
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (2, "delta-base-unusable")
    );
    assert_eq!(listing(w.tmp.path()), before);

    // The isolated side, against a signer who builds one anyway: the
    // journal records the base's import on channel beta.
    w.unpack("beta1.bundle", "beta1").ok();
    let base = bundle_id(&w, "beta1.bundle");
    let readme = fs::read(w.path("dist/README.md")).unwrap();
    let mut c = Crafted::standard(&w);
    c.sequence = 5;
    c.base = Some((base.clone(), 1, vec![man("artifact", "README.md", &readme)]));
    let b = c.write(&w, "cross.bundle");
    refused(&w, &b, "delta-base-mismatch");
}

#[test]
fn a_delta_taking_a_file_its_base_lacks_is_refused() {
    let w = World::new();
    // The crafted bundles' channel.
    w.pack("c1.bundle", &["--sequence", "1", "--channel", "crafted"])
        .ok();
    w.unpack("c1.bundle", "c1").ok();
    let base = bundle_id(&w, "c1.bundle");
    let mut c = Crafted::standard(&w);
    c.sequence = 5;
    c.base = Some((
        base,
        1,
        vec![man("artifact", "other", b"not in the base\n")],
    ));
    let b = c.write(&w, "lacks.bundle");
    refused(&w, &b, "delta-base-lacks-file");
}

/// `policy test` judges a delta as `unpack` would, on its whole release
/// (what it carries and what it takes from its base), and records nothing;
/// without the base imported it is refused as `unpack` refuses it.
#[test]
fn policy_test_dry_runs_a_delta_on_its_whole_release() {
    let w = World::new();
    two_releases(&w, &[]);
    w.write(
        "policy.toml",
        br#"format = 1
language = "cel"
[[rule]]
name = "release-2"
expr = 'manifest.sequence == 2'
"#,
    );
    let test = |w: &World| {
        w.run(&[
            "policy",
            "test",
            "policy.toml",
            "v2-delta.bundle",
            "--store",
            "store",
            "--json",
        ])
    };
    let r = test(&w);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "delta-base-not-imported"),
        "{}",
        r.stderr
    );

    w.unpack("v1.bundle", "base1").ok();
    let before = listing(w.tmp.path());
    let state = w.store_state();
    let journal = fs::read(w.path("store/journal.jsonl")).unwrap();
    let admitted = test(&w).ok().json();
    assert_eq!(admitted["admitted"], true);
    // The input is the whole release: the file the delta carries and the
    // ones it takes from its base.
    let input = admitted["input"]["artifacts"].to_string();
    for path in ["README.md", "bin/tool"] {
        assert!(input.contains(path), "{path} not in {input}");
    }
    assert_eq!(listing(w.tmp.path()), before, "policy test wrote something");
    assert_eq!(w.store_state(), state);
    assert!(
        fs::read(w.path("store/journal.jsonl")).unwrap() == journal,
        "policy test journaled something"
    );
    // And the delta still unpacks afterwards.
    w.unpack("v2-delta.bundle", "d2").ok();
}

#[test]
fn inspect_lists_a_deltas_whole_release_marking_what_it_takes_from_its_base() {
    let w = World::new();
    two_releases(&w, &[]);
    let d = w.run(&["inspect", "v2-delta.bundle", "--json"]).ok().json();
    let f = w.run(&["inspect", "v2-full.bundle", "--json"]).ok().json();
    assert!(d["delta"].is_object() && f["delta"].is_null());
    assert_eq!(d["entries"], {
        let mut e = f["entries"].clone();
        for x in e.as_array_mut().unwrap() {
            let from_base = x["path"] != "README.md" && x["kind"] == "artifact";
            x["from_base"] = from_base.into();
        }
        e
    });
}

#[test]
fn an_image_delta_takes_its_blobs_from_the_base_and_publishes_like_the_full_bundle() {
    use crate::images::{image_world, pack_images, record_with_images};
    const APP: &str = "oci:src:team/app:1.0";
    const BASE: &str = "oci:src:team/base:1";
    let w = image_world();
    record_with_images(&w, &[APP, BASE], &[]);
    pack_images(&w, "v1.bundle", &[APP, BASE], &["--sequence", "1"]).ok();
    w.write("dist/README.md", b"# release 2\n");
    record_with_images(&w, &[APP, BASE], &[]);
    pack_images(&w, "v2-full.bundle", &[APP, BASE], &["--sequence", "2"]).ok();
    pack_images(
        &w,
        "v2-delta.bundle",
        &[APP, BASE],
        &["--sequence", "2", "--base", "v1.bundle"],
    )
    .ok();
    let i = w.run(&["inspect", "v2-delta.bundle", "--json"]).ok().json();
    // Every blob (configs and layers) comes from the base.
    let blobs = i["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "blob")
        .count();
    assert!(blobs > 0);
    assert_eq!(i["delta"]["carried_files"], 1);
    assert!(fs::metadata(w.path("v2-delta.bundle")).unwrap().len() < 100_000);

    w.unpack("v1.bundle", "base1").ok();
    w.unpack("v2-delta.bundle", "d2").ok();
    second_store(&w);
    unpack2(&w, "v1.bundle", "s2-base1");
    unpack2(&w, "v2-full.bundle", "full2");
    // The same tree, but for the copy of the signed manifest that `publish
    // DIR` reads (the delta's own).
    let without_manifest = |d: &str| {
        tree(&w.path(d))
            .into_iter()
            .filter(|(p, _, _)| p != "oci/airlock-manifest.cbor")
            .map(|(p, b, m)| (p, hex::encode(sha2::Sha256::digest(&b)), m))
            .collect::<Vec<_>>()
    };
    assert_eq!(without_manifest("d2"), without_manifest("full2"));
    // publish DIR checks the delta's import against its whole release.
    w.run(&[
        "publish",
        "d2",
        "--store",
        "store",
        "--registry",
        "oci:enclave",
    ])
    .ok();
    w.run(&[
        "publish",
        "full2",
        "--store",
        "store2",
        "--registry",
        "oci:enclave2",
    ])
    .ok();
    // Every image blob and manifest reached the layout (the receipts
    // attached as referrers name each import's own bundle, so differ).
    for e in fs::read_dir(w.path("full2/oci/blobs/sha256")).unwrap() {
        let e = e.unwrap();
        for layout in ["enclave", "enclave2"] {
            let got = fs::read(w.path(layout).join("blobs/sha256").join(e.file_name())).unwrap();
            assert_eq!(got, fs::read(e.path()).unwrap());
        }
    }

    // A base blob changed after unpack: refused, naming it.
    let w2 = image_world();
    record_with_images(&w2, &[APP, BASE], &[]);
    pack_images(&w2, "v1.bundle", &[APP, BASE], &["--sequence", "1"]).ok();
    w2.write("dist/README.md", b"# release 2\n");
    record_with_images(&w2, &[APP, BASE], &[]);
    pack_images(
        &w2,
        "v2-delta.bundle",
        &[APP, BASE],
        &["--sequence", "2", "--base", "v1.bundle"],
    )
    .ok();
    w2.unpack("v1.bundle", "base1").ok();
    let blob_dir = w2.path("base1/oci/blobs/sha256");
    let victim = fs::read_dir(&blob_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = fs::read(&victim).unwrap();
    bytes[7] ^= 0x40;
    fs::write(&victim, bytes).unwrap();
    refused(&w2, "v2-delta.bundle", "delta-base-changed");
}
