//! Inspections, soundly (docs/supply-chain.md, "Inspections"): by default an
//! inspection is evaluated without running anything — `true`, `cmp`, `tar -x`
//! of an archive (from the archive's bytes, read as the bundle's payload
//! streams past) and `sha256sum -c` — and any other inspection refuses the
//! chain with `inspection-unevaluable`, naming it; crafted archives are
//! refused (`inspection-archive-unsafe`) rather than followed; nothing is
//! written or placed before the verdict. `--run-inspections` runs the real
//! commands (no network), on `intoto verify`, `pack`, `verify` and `unpack`,
//! journaled.
use std::fs;
use std::path::Path;

use crate::common::{Run, World, airlock_in_env, listing, pack_args};

/// An inspection for [`with_inspections`]: name, run, product rules.
pub(crate) type Inspection<'a> = (&'a str, &'a [&'a str], &'a [&'a [&'a str]]);

/// Adds inspections to the fixture's layout (re-signed by the owner);
/// material rules are `ALLOW *`.
pub(crate) fn with_inspections(w: &World, inspections: &[Inspection]) {
    let v: serde_json::Value =
        serde_json::from_slice(&fs::read(w.path("root.layout")).unwrap()).unwrap();
    let mut layout = v["signed"].clone();
    layout["inspect"] = inspections
        .iter()
        .map(|(name, run, products)| {
            serde_json::json!({
                "_type": "inspection",
                "name": name,
                "run": run,
                "expected_materials": [["ALLOW", "*"]],
                "expected_products": products,
            })
        })
        .collect();
    w.write(
        "root.layout",
        serde_json::to_string_pretty(&layout).unwrap().as_bytes(),
    );
    w.run(&["layout", "sign", "root.layout", "--key", "keys/owner.pem"])
        .ok();
}

pub(crate) fn with_inspection(w: &World, name: &str, run: &[&str], products: &[&[&str]]) {
    with_inspections(w, &[(name, run, products)]);
}

/// Runs airlock in the fixture with an empty `PATH`: no `tar`, `sha256sum`
/// or `cmp` to find, so a verdict reached shows that airlock ran nothing.
fn no_commands(w: &World, args: &[&str]) -> Run {
    let empty = w.path("empty-path");
    fs::create_dir_all(&empty).unwrap();
    airlock_in_env(w.tmp.path(), args, &[("PATH", empty.as_path())])
}

fn intoto_verify(w: &World, extra: &[&str]) -> Run {
    let mut args = vec![
        "intoto",
        "verify",
        "--layout",
        "root.layout",
        "--layout-key",
        "keys/owner.pub",
        "--link-dir",
        "links",
        "--artifacts",
        "dist",
        "--json",
    ];
    args.extend(extra);
    no_commands(w, &args)
}

#[track_caller]
fn refused(r: &Run, code: &str) {
    assert_eq!((r.code, r.error_code().as_str()), (1, code), "{}", r.stderr);
}

/// `(name, evaluated_by, result)` of each inspection in a `--json` verdict.
fn evaluations(r: &Run) -> Vec<(String, String, String)> {
    r.json()["inspection_results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let s = |k: &str| i[k].as_str().unwrap().to_owned();
            (s("name"), s("evaluated_by"), s("result"))
        })
        .collect()
}

/// A gzip tarball of regular files.
fn tgz(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    gzip(&b.into_inner().unwrap())
}

fn gzip(tar: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(tar).unwrap();
    gz.finish().unwrap()
}

/// One raw ustar member (name written as is, no checks), then the end.
fn raw_tgz(name: &str, typeflag: u8, link: &str, data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(tar::EntryType::new(typeflag));
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    let mut t = h.as_bytes().to_vec();
    t.extend_from_slice(data);
    t.resize(t.len().div_ceil(512) * 512 + 1024, 0);
    gzip(&t)
}

const MAIN_C: &[u8] = b"int main(void) { return 0; }\n";

/// The classic untar layout on the fixture: `dist/` holds `src/main.c`
/// and `app.tar.gz`; the inspection extracts the archive and matches the
/// extracted `src/` against the build's products.
fn untar_world(archive_main_c: &[u8]) -> World {
    let w = World::new();
    w.write("dist/src/main.c", MAIN_C);
    w.write("dist/app.tar.gz", &tgz(&[("src/main.c", archive_main_c)]));
    w.record_build().ok();
    with_inspection(
        &w,
        "untar",
        &["tar", "xzf", "app.tar.gz"],
        &[
            &["MATCH", "src/*", "WITH", "PRODUCTS", "FROM", "build"],
            &["DISALLOW", "src/*"],
            &["ALLOW", "*"],
        ],
    );
    w
}

fn journal_last(w: &World) -> serde_json::Value {
    let text = fs::read_to_string(w.path("store/journal.jsonl")).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

#[test]
fn an_honest_untar_inspection_is_evaluated_from_the_bundle_without_running_anything() {
    let w = untar_world(MAIN_C);
    let r = intoto_verify(&w, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        evaluations(&r),
        [("untar".into(), "builtin:untar".into(), "pass".into())]
    );
    // pack, verify and unpack evaluate it too (the archive read as the
    // payload streams past), with no command to run.
    let p = no_commands(
        &w,
        &pack_args(
            "u.airlock",
            "1.root.json",
            &["keys/release.pem"],
            &["--expires", "36500d"],
        ),
    );
    assert_eq!(p.code, 0, "{}", p.stderr);
    let v = no_commands(&w, &["verify", "u.airlock", "--store", "store"]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(
        v.stdout.contains("inspection 'untar' pass (builtin:untar)"),
        "{}",
        v.stdout
    );
    let v = no_commands(&w, &["verify", "u.airlock", "--store", "store", "--json"]);
    assert_eq!(
        evaluations(&v),
        [("untar".into(), "builtin:untar".into(), "pass".into())]
    );
    let u = no_commands(
        &w,
        &["unpack", "u.airlock", "--store", "store", "--to", "out"],
    );
    assert_eq!(u.code, 0, "{}", u.stderr);
    assert_eq!(fs::read(w.path("out/src/main.c")).unwrap(), MAIN_C);
}

#[test]
fn a_dishonest_packager_is_caught_by_the_untar_inspection_and_nothing_is_placed() {
    // The archive holds another main.c than the one the build produced.
    let w = untar_world(b"int main(void) { return 1; }\n");
    refused(&intoto_verify(&w, &[]), "rule-disallow");
    // pack refuses it, leaving nothing behind.
    let before = listing(w.tmp.path());
    let p = w.pack_raw(
        "d.airlock",
        &["keys/release.pem"],
        "1.root.json",
        &["--expires", "36500d", "--json"],
    );
    refused(&p, "rule-disallow");
    assert_eq!(listing(w.tmp.path()), before);
    // Running the real command gives the same verdict.
    let p = w.pack_raw(
        "d.airlock",
        &["keys/release.pem"],
        "1.root.json",
        &["--expires", "36500d", "--json", "--run-inspections"],
    );
    refused(&p, "rule-disallow");
    assert_eq!(listing(w.tmp.path()), before);
}

#[test]
fn run_inspections_runs_the_real_commands_on_verify_and_unpack_journaled() {
    let w = untar_world(MAIN_C);
    w.pack("u.airlock", &[]).ok();
    let v = w.run(&[
        "verify",
        "u.airlock",
        "--store",
        "store",
        "--run-inspections",
        "--json",
    ]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert_eq!(
        evaluations(&v),
        [("untar".into(), "ran".into(), "pass".into())]
    );
    let rec = journal_last(&w);
    assert_eq!(rec["fields"]["run_inspections"], true);
    assert_eq!(
        rec["fields"]["inspections_run"],
        serde_json::json!(["untar"])
    );
    let u = w.run(&[
        "unpack",
        "u.airlock",
        "--store",
        "store",
        "--to",
        "out",
        "--run-inspections",
    ]);
    assert_eq!(u.code, 0, "{}", u.stderr);
    assert!(
        u.stdout.contains("inspection 'untar' pass (ran)"),
        "{}",
        u.stdout
    );
    let rec = journal_last(&w);
    assert_eq!(rec["event"], "unpack");
    assert_eq!(
        rec["fields"]["inspections_run"],
        serde_json::json!(["untar"])
    );
    // What the command extracted stayed in its scratch copy.
    assert_eq!(listing(&w.path("out")), listing(&w.path("dist")));
}

#[test]
fn crafted_archives_are_refused_not_followed() {
    for (what, archive) in [
        ("symlink", raw_tgz("src/main.c", b'2', "/etc/passwd", b"")),
        ("hard link", raw_tgz("src/main.c", b'1', "README.md", b"")),
        ("dot-dot", raw_tgz("../main.c", b'0', "", MAIN_C)),
        ("absolute", raw_tgz("/tmp/main.c", b'0', "", MAIN_C)),
        ("device", raw_tgz("src/main.c", b'3', "", b"")),
    ] {
        let w = untar_world(MAIN_C);
        w.write("dist/app.tar.gz", &archive);
        w.record_build().ok();
        let r = intoto_verify(&w, &[]);
        refused(&r, "inspection-archive-unsafe");
        assert!(r.stderr.contains("'untar'"), "{what}: {}", r.stderr);
    }
    // Through a bundle: an archive whose symlink real tar follows to the
    // same bytes passes `pack --run-inspections`; the isolated side, not
    // running anything, refuses it once the archive has streamed past,
    // before anything is placed or the store moves.
    let w = untar_world(MAIN_C);
    w.write("dist/copy.c", MAIN_C);
    w.write(
        "dist/app.tar.gz",
        &raw_tgz("src/main.c", b'2', "../copy.c", b""),
    );
    w.pack("s.airlock", &["--run-inspections"]).ok();
    let state = w.store_state();
    refused(
        &no_commands(&w, &["verify", "s.airlock", "--store", "store", "--json"]),
        "inspection-archive-unsafe",
    );
    refused(
        &no_commands(
            &w,
            &[
                "unpack",
                "s.airlock",
                "--store",
                "store",
                "--to",
                "out",
                "--json",
            ],
        ),
        "inspection-archive-unsafe",
    );
    assert!(!w.path("out").exists());
    assert_eq!(w.store_state(), state);
    // A file where the archive puts a directory.
    let w = untar_world(MAIN_C);
    w.write("dist/app.tar.gz", &tgz(&[("README.md/x", b"x")]));
    w.record_build().ok();
    refused(&intoto_verify(&w, &[]), "inspection-archive-unsafe");
    // Not an archive at all: tar would fail.
    w.write("dist/app.tar.gz", b"not a tarball");
    w.record_build().ok();
    refused(&intoto_verify(&w, &[]), "inspection-failed");
}

#[test]
fn sha256sum_inspections_check_every_listed_file() {
    use sha2::{Digest, Sha256};
    let w = World::new();
    let sum = |b: &[u8]| hex::encode(Sha256::digest(b));
    w.write(
        "dist/SHA256SUMS",
        format!(
            "{}  README.md\n{} *share/a/b/c/deep.txt\n",
            sum(b"# release\n"),
            sum(b"deep\n")
        )
        .as_bytes(),
    );
    w.record_build().ok();
    let allow: &[&[&str]] = &[&["ALLOW", "*"]];
    with_inspection(&w, "sums", &["sha256sum", "--check", "SHA256SUMS"], allow);
    let r = intoto_verify(&w, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        evaluations(&r),
        [("sums".into(), "builtin:sha256sum".into(), "pass".into())]
    );
    w.pack("s.airlock", &[]).ok();
    let v = no_commands(&w, &["verify", "s.airlock", "--store", "store"]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    // A listed file that differs, or is missing: sha256sum exits 1.
    for bad in [
        format!("{}  README.md\n", sum(b"other\n")),
        format!("{}  nope.txt\n", sum(b"x")),
        String::new(),
    ] {
        w.write("dist/SHA256SUMS", bad.as_bytes());
        w.record_build().ok();
        refused(&intoto_verify(&w, &[]), "inspection-failed");
    }
    // A line sha256sum might read otherwise is not guessed at.
    w.write(
        "dist/SHA256SUMS",
        format!("SHA256 (README.md) = {}\n", sum(b"# release\n")).as_bytes(),
    );
    w.record_build().ok();
    refused(&intoto_verify(&w, &[]), "inspection-unevaluable");
}

#[test]
fn inspections_see_what_the_one_before_left() {
    // The reference runs inspections one after another in one directory:
    // after the untar, `cmp` compares the extracted file.
    let w = untar_world(MAIN_C);
    w.write("dist/copy.c", MAIN_C);
    w.record_build().ok();
    let allow: &[&[&str]] = &[&["ALLOW", "*"]];
    let untar: &[&str] = &["tar", "-x", "-z", "-f", "app.tar.gz"];
    with_inspections(
        &w,
        &[
            ("untar", untar, allow),
            ("same", &["cmp", "src/main.c", "copy.c"], allow),
        ],
    );
    let r = intoto_verify(&w, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // An archive that replaces the file cmp reads: cmp sees the new one.
    w.write("dist/app.tar.gz", &tgz(&[("copy.c", b"other\n")]));
    w.record_build().ok();
    refused(&intoto_verify(&w, &[]), "inspection-failed");
}

#[test]
fn an_inspection_airlock_cannot_evaluate_is_refused_by_default_and_run_on_request() {
    let w = World::new();
    with_inspection(&w, "size", &["test", "-s", "README.md"], &[&["ALLOW", "*"]]);
    let r = intoto_verify(&w, &[]);
    refused(&r, "inspection-unevaluable");
    assert!(r.stderr.contains("'size'"), "{}", r.stderr);
    // pack refuses it too, before writing anything.
    let before = listing(w.tmp.path());
    let p = w.pack_raw(
        "u.airlock",
        &["keys/release.pem"],
        "1.root.json",
        &["--expires", "36500d", "--json"],
    );
    refused(&p, "inspection-unevaluable");
    assert_eq!(listing(w.tmp.path()), before);
    // Run for real (with the machine's PATH): it passes, as in the reference.
    let r = w.run(&[
        "intoto",
        "verify",
        "--layout",
        "root.layout",
        "--layout-key",
        "keys/owner.pub",
        "--link-dir",
        "links",
        "--artifacts",
        "dist",
        "--run-inspections",
        "--json",
    ]);
    assert_eq!(
        evaluations(&r.ok()),
        [("size".into(), "ran".into(), "pass".into())]
    );
    // pack --run-inspections runs it too.
    w.pack("r.airlock", &["--run-inspections"]).ok();
    assert!(Path::new(&w.path("r.airlock")).is_file());
}

#[test]
fn cmp_inspections_are_evaluated_from_digests() {
    let w = World::new();
    w.write("dist/README.copy", b"# release\n");
    w.record_build().ok();
    let allow: &[&[&str]] = &[&["ALLOW", "*"]];
    with_inspection(
        &w,
        "same",
        &["cmp", "-s", "README.md", "README.copy"],
        allow,
    );
    intoto_verify(&w, &[]).ok();
    w.pack_raw(
        "c.airlock",
        &["keys/release.pem"],
        "1.root.json",
        &["--expires", "36500d"],
    )
    .ok();
    // The verdict says how the inspection was evaluated.
    let v = w.verify("c.airlock").ok();
    assert!(
        v.stdout.contains("inspection 'same' pass (builtin:cmp)"),
        "{}",
        v.stdout
    );
    w.unpack("c.airlock", "out").ok();
    with_inspection(&w, "differ", &["cmp", "README.md", "empty.dat"], allow);
    let r = intoto_verify(&w, &[]);
    refused(&r, "inspection-failed");
    assert!(r.stderr.contains("'differ'"), "{}", r.stderr);
    with_inspection(&w, "missing", &["cmp", "README.md", "nope"], allow);
    refused(&intoto_verify(&w, &[]), "inspection-failed");
    with_inspection(&w, "escape", &["cmp", "README.md", "../x"], allow);
    refused(&intoto_verify(&w, &[]), "inspection-unevaluable");
}

#[test]
fn publish_runs_the_inspections_only_on_request_and_journals_it() {
    const APP: &str = "oci:src:team/app:1.0";
    let w = crate::images::image_world();
    crate::images::record_with_images(&w, &[APP], &[]);
    with_inspection(&w, "size", &["test", "-s", "README.md"], &[&["ALLOW", "*"]]);
    crate::images::pack_images(&w, "rel.airlock", &[APP], &["--run-inspections"]).ok();
    let publish = |extra: &[&str]| {
        let mut args = vec![
            "publish",
            "rel.airlock",
            "--store",
            "store",
            "--registry",
            "oci:enclave",
            "--json",
        ];
        args.extend(extra);
        w.run(&args)
    };
    refused(&publish(&[]), "inspection-unevaluable");
    assert!(!w.path("enclave").exists());
    publish(&["--run-inspections"]).ok();
    let text = fs::read_to_string(w.path("store/journal.jsonl")).unwrap();
    let import = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .rfind(|r| r["event"] == "unpack")
        .unwrap();
    assert_eq!(import["fields"]["outcome"], "accepted");
    assert_eq!(import["fields"]["run_inspections"], true);
    assert_eq!(
        import["fields"]["inspections_run"],
        serde_json::json!(["size"])
    );
}
