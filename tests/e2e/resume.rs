//! Resumable import (issue 21, docs/transfers.md section 7): an `unpack`
//! killed with SIGKILL (held at a pause point of tests/e2e/faults.rs first)
//! part-way through a bundle whose payload is cut into frames
//! (bundle-format/SPEC.md 5.8) goes on, on its next run, from the first
//! payload frame it still needs — after re-hashing everything the killed run
//! staged — and ends exactly as an uninterrupted import does. A staged file
//! changed between the runs is not trusted, a staging directory of another
//! bundle is not taken over, and a bundle that changed on disk is refused
//! by the frame index.
#![cfg(feature = "test-hooks")]

use std::path::Path;

use serde_json::Value;

use crate::common::{World, anchor_init_args, listing, pseudo_random, tree};
use crate::faults::Paused;

/// Payload files of 10 MiB: with the fixture's five small files, 25 payload
/// entries and about 200 MiB of incompressible data, cut into three frames
/// (seven of these files fill a frame).
const FILES: usize = 20;
const FILE_SIZE: usize = 10 << 20;

/// The fixture with [`FILES`] large files added, packed as `rel.airlock`.
fn big_world() -> World {
    let w = World::new();
    for i in 0..FILES {
        w.write(
            &format!("dist/big/{i:02}.bin"),
            &pseudo_random(FILE_SIZE, 100 + i as u64),
        );
    }
    w.pack("rel.airlock", &[]).ok();
    w
}

fn manifest(w: &World, bundle: &str) -> airlock_bundle::Manifest {
    let f = std::fs::File::open(w.path(bundle)).unwrap();
    let r = airlock_bundle::BundleReader::open(f, airlock_bundle::Limits::default()).unwrap();
    r.manifest().clone()
}

/// A store of its own, for one import.
fn new_store(w: &World, store: &str) {
    w.run(&anchor_init_args(store, "1.root.json", &[])).ok();
}

fn unpack_args<'a>(bundle: &'a str, store: &'a str, to: &'a str) -> Vec<&'a str> {
    vec!["unpack", bundle, "--store", store, "--to", to, "--json"]
}

/// `unpack` held at the pause point `point` (its decoder thread still
/// running ahead) and killed there with SIGKILL.
fn killed_at(w: &World, bundle: &str, store: &str, to: &str, point: &str) {
    let r = Paused::start(w.tmp.path(), &unpack_args(bundle, store, to), point).signal("KILL");
    assert_eq!(
        r.code, -1,
        "not killed by the signal at {point}: {}",
        r.stderr
    );
    assert!(!w.path(to).exists());
}

fn resumable_dirs(dir: &Path) -> Vec<String> {
    listing(dir)
        .into_iter()
        .filter(|n| n.starts_with(".airlock-resume-"))
        .collect()
}

/// The store's state without the journal head.
fn state(w: &World, store: &str) -> Value {
    let text = std::fs::read_to_string(w.path(&format!("{store}/state.json"))).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v.as_object_mut().unwrap().remove("journal");
    v
}

fn journal(w: &World, store: &str) -> Vec<Value> {
    std::fs::read_to_string(w.path(&format!("{store}/journal.jsonl")))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// What an import's outcome is judged by: the last unpack record's fields
/// that do not depend on the run (time, destination, duration).
fn outcome(w: &World, store: &str) -> Value {
    let last = journal(w, store)
        .into_iter()
        .rev()
        .find(|r| r["event"] == "unpack")
        .unwrap();
    let f = &last["fields"];
    serde_json::json!([
        f["outcome"],
        f["bundle_id"],
        f["manifest_sha256"],
        f["artifacts"],
        f["artifact_bytes"],
        f["signers"],
        f["error"]
    ])
}

/// What an import is compared by: its tree, its metadata tree, the store's
/// state and the outcome journaled.
type Imported = (Tree, Tree, Value, Value);
type Tree = Vec<(String, Vec<u8>, u32)>;

/// The reference: one uninterrupted import of `rel.airlock` to `ref` on
/// `store`.
fn reference_import(w: &World) -> Imported {
    w.unpack("rel.airlock", "ref").ok();
    (
        tree(&w.path("ref")),
        tree(&w.path("ref.airlock-metadata")),
        state(w, "store"),
        outcome(w, "store"),
    )
}

#[test]
fn an_import_killed_at_20_points_resumes_and_ends_as_an_uninterrupted_one() {
    let w = big_world();
    let m = manifest(&w, "rel.airlock");
    assert_eq!(m.frames.len(), 3, "the test bundle is cut in three frames");
    let shown = w.run(&["inspect", "rel.airlock"]).ok().stdout;
    assert!(
        shown.contains("payload    3 frames, index sha256 "),
        "{shown}"
    );
    let size = std::fs::metadata(w.path("rel.airlock")).unwrap().len();
    let cuts = m.frame_cuts();
    let reference = reference_import(&w);
    let payload = m.artifacts().len();
    assert_eq!(payload, 25);
    let (mut read_again, mut later) = (0u64, 0u64);
    // 20 random points over the 25 payload entries: the n-th file created
    // (nothing written to it yet) or the n-th complete. The seed is new on
    // every run and named in every failure; AIRLOCK_TEST_SEED=N repeats a
    // run. The first two points are always the extremes (a kill before the
    // first file, and after the last).
    let seed = std::env::var("AIRLOCK_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let draws = pseudo_random(20 * 8, seed);
    for i in 0..20usize {
        let r = u64::from_le_bytes(draws[i * 8..i * 8 + 8].try_into().unwrap());
        let (n, started) = match i {
            0 => (1, true),
            1 => (payload, false),
            _ => (1 + (r >> 1) as usize % payload, r & 1 == 0),
        };
        let point = if started {
            format!("unpack-artifact-started-{n} (AIRLOCK_TEST_SEED={seed})")
        } else {
            format!("unpack-artifact-staged-{n} (AIRLOCK_TEST_SEED={seed})")
        };
        let hook = point.split(' ').next().unwrap().to_owned();
        let (store, to) = (format!("s{i}"), format!("out{i}"));
        new_store(&w, &store);
        killed_at(&w, "rel.airlock", &store, &to, &hook);
        assert_eq!(resumable_dirs(w.tmp.path()).len(), 1, "{point}");
        // The same command again resumes and finishes.
        let r = w.run(&unpack_args("rel.airlock", &store, &to)).ok();
        let j = r.json();
        let resumed = &j["resumed"];
        let frame = resumed["frame"].as_u64().unwrap() as usize;
        let offset = resumed["offset"].as_u64().unwrap();
        // Everything complete before the kill and before the frame the
        // kill fell in was kept: the read went on from that frame.
        let complete = if started { n - 1 } else { n };
        let want = cuts
            .iter()
            .position(|c| c.end_entry > complete)
            .unwrap_or(cuts.len() - 1);
        assert_eq!(frame, want, "{point}");
        assert_eq!(resumed["kept_entries"], cuts[want].first_entry as u64);
        if frame > 0 {
            assert!(offset > 64 << 20, "{point}: resumed at byte {offset}");
        }
        read_again += size - offset;
        later += u64::from(frame > 0);
        // The same tree, metadata, store state and outcome.
        assert_eq!(tree(&w.path(&to)), reference.0, "{point}");
        assert_eq!(
            tree(&w.path(&format!("{to}.airlock-metadata"))),
            reference.1,
            "{point}"
        );
        assert_eq!(state(&w, &store), reference.2, "{point}");
        assert_eq!(outcome(&w, &store), reference.3, "{point}");
        // The journal shows the interruption and the resumption, then the
        // import, marked resumed when the read went on from a later frame.
        let recs = journal(&w, &store);
        let at = recs.len() - 3;
        assert_eq!(recs[at]["event"], "import.interrupted");
        assert_eq!(recs[at + 1]["event"], "import.resumed");
        assert_eq!(recs[at + 1]["fields"]["frame"], frame as u64);
        assert_eq!(recs[at + 2]["event"], "unpack");
        assert_eq!(
            recs[at + 2]["fields"].get("resumed").is_some(),
            frame > 0,
            "{point}"
        );
        assert!(resumable_dirs(w.tmp.path()).is_empty(), "{point}");
        std::fs::remove_dir_all(w.path(&to)).unwrap();
        std::fs::remove_dir_all(w.path(&format!("{to}.airlock-metadata"))).unwrap();
    }
    // Measurably less than the whole bundle again: every run resumed at a
    // later frame skipped at least one frame of 64 MiB of tar stream (the
    // kill after the last file always does), and each started at a frame
    // offset. The points are random, so no fixed share is asserted.
    assert!(later > 0, "AIRLOCK_TEST_SEED={seed}");
    assert!(
        read_again + later * (64 << 20) <= 20 * size,
        "{read_again} bytes read again of {} (AIRLOCK_TEST_SEED={seed})",
        20 * size
    );
}

/// The run that takes over a killed import is itself killed part-way:
/// the third run takes over again, from the frame the second reached, and
/// still ends as an uninterrupted import does, with no staging directory
/// left.
#[test]
fn a_resumed_import_killed_again_resumes_again() {
    let w = big_world();
    let cuts = manifest(&w, "rel.airlock").frame_cuts();
    assert_eq!(cuts.len(), 3);
    let reference = reference_import(&w);
    // The first run dies in the second frame, the one that takes over dies
    // in the third (it stages that frame's files again: it resumed at the
    // second), the third run finishes.
    let second = cuts[1].first_entry + 1;
    let third = cuts[2].first_entry + 2;
    new_store(&w, "s2");
    killed_at(
        &w,
        "rel.airlock",
        "s2",
        "out",
        &format!("unpack-artifact-staged-{second}"),
    );
    killed_at(
        &w,
        "rel.airlock",
        "s2",
        "out",
        &format!("unpack-artifact-staged-{third}"),
    );
    assert_eq!(
        resumable_dirs(w.tmp.path()).len(),
        1,
        "one staging directory, taken over"
    );
    let r = w.run(&unpack_args("rel.airlock", "s2", "out")).ok();
    assert_eq!(r.json()["resumed"]["frame"], 2, "{}", r.stdout);
    assert_eq!(tree(&w.path("out")), reference.0);
    assert_eq!(tree(&w.path("out.airlock-metadata")), reference.1);
    assert_eq!(state(&w, "s2"), reference.2);
    assert_eq!(outcome(&w, "s2"), reference.3);
    assert!(resumable_dirs(w.tmp.path()).is_empty());
    // A killed run journals nothing: the run that finishes records the
    // interruption it found (the second run's) and its resumption, then
    // the import (docs/transfers.md section 7).
    let recs = journal(&w, "s2");
    let events: Vec<&str> = recs
        .iter()
        .map(|r| r["event"].as_str().unwrap())
        .filter(|e| e.starts_with("import.") || *e == "unpack")
        .collect();
    assert_eq!(events, ["import.interrupted", "import.resumed", "unpack"]);
    let resumed = recs
        .iter()
        .find(|r| r["event"] == "import.resumed")
        .unwrap();
    assert_eq!(resumed["fields"]["frame"], 2);
}

#[test]
fn a_staged_file_changed_between_the_runs_is_read_again_not_trusted() {
    let w = big_world();
    w.unpack("rel.airlock", "ref").ok();
    let m = manifest(&w, "rel.airlock");
    let cuts = m.frame_cuts();
    // Entry 15 is in the third frame: killed there, the first two frames'
    // entries are staged.
    assert!(cuts[1].end_entry <= 15 && cuts[2].end_entry > 15);
    let name = |i: usize| m.artifacts()[i].path.as_str().to_owned();
    // A file of the second frame with one byte flipped (same size): the
    // read goes on from the second frame, and that file comes from the
    // bundle again.
    new_store(&w, "s2");
    killed_at(&w, "rel.airlock", "s2", "out", "unpack-artifact-staged-15");
    let dir = w.path(&resumable_dirs(w.tmp.path())[0]);
    let victim = dir.join(name(cuts[1].first_entry + 1));
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[4096] ^= 1;
    std::fs::write(&victim, &bytes).unwrap();
    let j = w.run(&unpack_args("rel.airlock", "s2", "out")).ok().json();
    assert_eq!(j["resumed"]["frame"], 1);
    assert_eq!(j["resumed"]["kept_entries"], cuts[1].first_entry as u64);
    assert_eq!(tree(&w.path("out")), tree(&w.path("ref")));
    // A file of the first frame replaced by a link to a copy of its right
    // bytes outside: links are not followed, so it is not kept, and the
    // read starts over.
    new_store(&w, "s3");
    killed_at(&w, "rel.airlock", "s3", "out3", "unpack-artifact-staged-15");
    let dir = w.path(&resumable_dirs(w.tmp.path())[0]);
    let victim = dir.join(name(1));
    std::fs::rename(&victim, w.path("outside.bin")).unwrap();
    std::os::unix::fs::symlink(w.path("outside.bin"), &victim).unwrap();
    let j = w.run(&unpack_args("rel.airlock", "s3", "out3")).ok().json();
    assert_eq!(j["resumed"]["frame"], 0);
    assert_eq!(j["resumed"]["kept_entries"], 0);
    assert_eq!(tree(&w.path("out3")), tree(&w.path("ref")));
}

/// A copy cut short (a medium pulled part-way): the import fails on the
/// input (`bundle-truncated`), keeps what it verified and says so; the same
/// command on the whole bundle resumes from the frame where the cut fell.
/// A refusal for anything else keeps nothing.
#[test]
fn an_import_whose_input_stops_keeps_its_files_and_resumes() {
    let w = big_world();
    w.unpack("rel.airlock", "ref").ok();
    let m = manifest(&w, "rel.airlock");
    let size = std::fs::metadata(w.path("rel.airlock")).unwrap().len();
    let bytes = std::fs::read(w.path("rel.airlock")).unwrap();
    // Cut 4 KiB into the third frame (the head, then the frames).
    let head = size - m.frames.iter().map(|f| f.len).sum::<u64>();
    let cut = usize::try_from(head + m.frames[0].len + m.frames[1].len + 4096).unwrap();
    std::fs::write(w.path("part.airlock"), &bytes[..cut]).unwrap();
    new_store(&w, "s2");
    let r = w.run(&unpack_args("part.airlock", "s2", "out"));
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "bundle-truncated"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("run the same command again"),
        "{}",
        r.stderr
    );
    assert_eq!(resumable_dirs(w.tmp.path()).len(), 1);
    assert!(!w.path("out").exists() && !w.path("out.airlock-metadata").exists());
    // The whole bundle, copied again: read from the third frame.
    let j = w.run(&unpack_args("rel.airlock", "s2", "out")).ok().json();
    assert_eq!(j["resumed"]["frame"], 2, "{j}");
    assert_eq!(tree(&w.path("out")), tree(&w.path("ref")));
    assert!(resumable_dirs(w.tmp.path()).is_empty());

    // A payload byte flipped (a refusal, not an interruption): nothing kept.
    let mut bad = bytes.clone();
    let at = cut - 2048;
    bad[at] ^= 0x40;
    std::fs::write(w.path("bad.airlock"), &bad).unwrap();
    new_store(&w, "s3");
    let r = w.run(&unpack_args("bad.airlock", "s3", "out3"));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_ne!(r.error_code(), "bundle-truncated");
    assert!(resumable_dirs(w.tmp.path()).is_empty(), "{}", r.stderr);
}

#[test]
fn a_staging_directory_of_another_bundle_is_not_taken_over() {
    let w = big_world();
    // Another bundle (another sequence, another id), killed on its way to
    // the same destination.
    w.pack("other.airlock", &["--sequence", "7"]).ok();
    new_store(&w, "s2");
    killed_at(&w, "other.airlock", "s2", "out", "unpack-artifact-staged-3");
    let left = resumable_dirs(w.tmp.path());
    assert_eq!(left.len(), 1);
    let r = w.run(&unpack_args("rel.airlock", "store", "out")).ok();
    assert_eq!(r.json()["resumed"], Value::Null);
    // The other import's directory is left for its own next run.
    assert_eq!(resumable_dirs(w.tmp.path()), left);
    let recs = journal(&w, "store");
    assert!(recs.iter().all(|r| r["event"] != "import.interrupted"));
}

#[test]
fn a_bundle_changed_on_disk_is_refused_by_the_frame_index_on_resume() {
    let w = big_world();
    new_store(&w, "s2");
    killed_at(&w, "rel.airlock", "s2", "out", "unpack-artifact-staged-10");
    // The last frame, which the resumed run reads, changed on disk where
    // only its stored bytes differ (a wider window: the same content), so
    // nothing but its record in the signed frame index can tell.
    let f = std::fs::File::open(w.path("rel.airlock")).unwrap();
    let mut r = airlock_bundle::BundleReader::open(f, airlock_bundle::Limits::default()).unwrap();
    while r.next_metadata().unwrap().is_some() {}
    let at = usize::try_from(r.frame_offset(2).unwrap()).unwrap();
    drop(r);
    let mut bytes = std::fs::read(w.path("rel.airlock")).unwrap();
    assert_eq!(bytes[at + 4] & 0x20, 0, "a window descriptor follows");
    assert!(bytes[at + 5] >> 3 < 14);
    bytes[at + 5] += 1 << 3;
    std::fs::write(w.path("rel.airlock"), &bytes).unwrap();
    let before = state(&w, "s2");
    let r = w.run(&unpack_args("rel.airlock", "s2", "out"));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.error_code(), "payload-frame-mismatch", "{}", r.stderr);
    assert!(!w.path("out").exists());
    assert_eq!(state(&w, "s2"), before);
    // Refused: nothing is kept for another attempt.
    assert!(resumable_dirs(w.tmp.path()).is_empty());
    let recs = journal(&w, "s2");
    let last = &recs[recs.len() - 1];
    assert_eq!(last["event"], "unpack");
    assert_eq!(last["fields"]["outcome"], "refused");
    assert_eq!(recs[recs.len() - 2]["event"], "import.resumed");
}

#[test]
fn an_import_from_volumes_resumes_at_the_volume_holding_the_frame() {
    let w = big_world();
    w.run(&[
        "split",
        "rel.airlock",
        "--size",
        "60MiB",
        "--key",
        "keys/release.pem",
        "--out",
        "vol.airlock",
    ])
    .ok();
    assert!(w.path("vol.airlock.004").exists(), "four volumes");
    w.unpack("rel.airlock", "ref").ok();
    new_store(&w, "s2");
    // Entry 15 is in the third frame, which starts in volume 3.
    killed_at(
        &w,
        "vol.airlock.001",
        "s2",
        "out",
        "unpack-artifact-staged-15",
    );
    // Volume 2 holds no byte the resumed run needs: it is not read (a
    // damaged copy goes unnoticed; every volume present is still checked
    // by its header and length).
    let v2 = std::fs::read(w.path("vol.airlock.002")).unwrap();
    let mut bad = v2.clone();
    let n = bad.len();
    bad[n - 1000] ^= 1;
    std::fs::write(w.path("vol.airlock.002"), &bad).unwrap();
    let r = w.run(&unpack_args("vol.airlock.001", "s2", "out")).ok();
    let j = r.json();
    assert_eq!(j["resumed"]["frame"], 2);
    let offset = j["resumed"]["offset"].as_u64().unwrap();
    assert!(offset > 120 << 20, "{offset}");
    assert_eq!(tree(&w.path("out")), tree(&w.path("ref")));
    assert_eq!(outcome(&w, "s2"), outcome(&w, "store"));
}

#[test]
fn a_publish_whose_import_was_killed_resumes_it() {
    let w = killed_publish_world();
    let publish = [
        "publish",
        "rel.airlock",
        "--store",
        "store",
        "--registry",
        "oci:enclave",
        "--json",
    ];
    let first = kill_publish_after_first_frame(&w, &publish);
    assert!(!w.path("enclave/index.json").exists());
    let j = w.run(&publish).ok().json();
    assert_eq!(j["published"].as_array().unwrap().len(), 2);
    // Every blob of the source, byte for byte.
    for e in std::fs::read_dir(w.path("src/blobs/sha256")).unwrap() {
        let e = e.unwrap();
        assert_eq!(
            std::fs::read(w.path("enclave/blobs/sha256").join(e.file_name())).unwrap(),
            std::fs::read(e.path()).unwrap()
        );
    }
    assert_resumed_publish_journal(&w, first);
}

/// Into a registry (the CNCF distribution registry), an image of eight
/// 10 MiB layers: the layers the interrupted run had staged (the first
/// frame's) are kept, not streamed during the resumed import, and sent
/// from the import afterwards; the image arrives whole.
#[test]
fn a_publish_to_a_registry_whose_import_was_killed_resumes_it() {
    use crate::images::{pack_images, record_with_images, write_big_layout};
    let test = "a_publish_to_a_registry_whose_import_was_killed_resumes_it";
    if crate::emulators::missing(test, &["skopeo"]).is_some() {
        return;
    }
    let Some(reg) = crate::emulators::Registry::start(test, false) else {
        return;
    };
    let w = World::new();
    write_big_layout(&w.path("src"), 8, FILE_SIZE);
    let images = ["oci:src:team/big:1"];
    record_with_images(&w, &images, &[]);
    pack_images(&w, "rel.airlock", &images, &["--channel", "stable"]).ok();
    let m = manifest(&w, "rel.airlock");
    assert_eq!(m.frames.len(), 2);
    let kept_blobs = m.artifacts()[..m.frame_cuts()[0].end_entry]
        .iter()
        .filter(|e| e.kind == airlock_bundle::EntryKind::Blob)
        .count();
    assert!(
        kept_blobs >= 5,
        "the first frame holds layers: {kept_blobs}"
    );
    let host = reg.host();
    let publish = [
        "publish",
        "rel.airlock",
        "--store",
        "store",
        "--registry",
        host.as_str(),
        "--insecure-plain-http",
        "--json",
    ];
    let first = kill_publish_after_first_frame(&w, &publish);
    let j = w.run(&publish).ok().json();
    assert_eq!(j["published"].as_array().unwrap().len(), 1, "{j}");
    // The image in the registry is whole: skopeo copies it out of the
    // registry (checking every blob's digest) into a layout.
    let (name, tag) = ("team/big", "1");
    let out = crate::publish::skopeo(&[
        "copy".into(),
        "--src-tls-verify=false".into(),
        format!("docker://{host}/{name}:{tag}"),
        format!("oci:{}:{name}:{tag}", w.path("back").display()),
    ]);
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_resumed_publish_journal(&w, first);
}

/// An image world with 8 large files, so that its bundle (two images) is
/// cut into two frames, packed as `rel.airlock`.
fn killed_publish_world() -> World {
    use crate::images::{image_world, pack_images, record_with_images};
    let w = image_world();
    for i in 0..8 {
        w.write(
            &format!("dist/big/{i:02}.bin"),
            &pseudo_random(FILE_SIZE, 200 + i as u64),
        );
    }
    let images = ["oci:src:team/app:1.0", "oci:src:team/base:1"];
    record_with_images(&w, &images, &[]);
    pack_images(&w, "rel.airlock", &images, &["--channel", "stable"]).ok();
    assert_eq!(manifest(&w, "rel.airlock").frames.len(), 2);
    w
}

/// Runs `publish` (args) until the first frame's entries (README.md,
/// big/00 to big/06) are staged, kills it there; returns how many.
fn kill_publish_after_first_frame(w: &World, publish: &[&str]) -> usize {
    let first = manifest(w, "rel.airlock").frame_cuts()[0].end_entry;
    let point = format!("unpack-artifact-staged-{first}");
    let r = Paused::start(w.tmp.path(), publish, &point).signal("KILL");
    assert_eq!(r.code, -1, "{}", r.stderr);
    first
}

/// The journal of a resumed publish: interrupted, resumed at frame 1
/// with the first frame's `first` entries kept, then the accepted import.
fn assert_resumed_publish_journal(w: &World, first: usize) {
    let recs = journal(w, "store");
    let unpack = recs.iter().position(|r| r["event"] == "unpack").unwrap();
    assert_eq!(recs[unpack - 2]["event"], "import.interrupted");
    assert_eq!(recs[unpack - 2]["fields"]["kept_entries"], first as u64);
    assert_eq!(recs[unpack - 1]["event"], "import.resumed");
    assert_eq!(recs[unpack - 1]["fields"]["frame"], 1);
    assert_eq!(recs[unpack]["fields"]["outcome"], "accepted");
    assert_eq!(recs[unpack]["fields"]["resumed"], true);
}
