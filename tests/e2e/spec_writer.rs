//! The SPEC defines every byte: `scripts/spec-writer.py`, an independent
//! writer built from `bundle-format/SPEC.md` and `METADATA.md` alone
//! (Python, `zstandard` 0.25.0 = libzstd 1.5.7, `cryptography`), must write
//! exactly the bytes `airlock pack` writes from the same inputs, keys and
//! `--source-date-epoch`: GNU long names (including a name cut inside a
//! `.` component and one inside a multi-byte character), a payload of
//! several zstd jobs, an attestation, an mtime in GNU base-256 (created ≥
//! 8^11). `scripts/test.sh` installs the Python side into
//! `target/spec-writer-venv`; without it the test fails under `CI=true`.
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{EPOCH, World, pack_inputs, pseudo_random};

/// The Python that has the writer's dependencies, or `None` (outside CI).
pub fn python() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        std::env::var_os("AIRLOCK_SPEC_WRITER_PYTHON").map(PathBuf::from),
        Some(root.join("target/spec-writer-venv/bin/python")),
    ];
    for p in candidates.into_iter().flatten() {
        let ok = Command::new(&p)
            .args([
                "-c",
                "import zstandard, cryptography; assert zstandard.ZSTD_VERSION == (1, 5, 7)",
            ])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(p);
        }
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI: no Python with zstandard 0.25.0 and cryptography (scripts/test.sh installs \
         them into target/spec-writer-venv)"
    );
    eprintln!("SKIPPED: no Python with zstandard 0.25.0; run scripts/test.sh once");
    None
}

/// Runs the independent writer in the world's directory.
fn spec_write(w: &World, py: &Path, args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/spec-writer.py");
    let out = Command::new(py)
        .arg(script)
        .args(args)
        .current_dir(w.tmp.path())
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "spec-writer.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts two bundles are byte-identical, naming the first difference.
fn same_bytes(w: &World, a: &str, b: &str) {
    let (x, y) = (
        std::fs::read(w.path(a)).unwrap(),
        std::fs::read(w.path(b)).unwrap(),
    );
    if let Some(i) = x.iter().zip(&y).position(|(p, q)| p != q) {
        panic!(
            "{a} and {b} differ first at byte {i} ({:#04x} vs {:#04x})",
            x[i], y[i]
        );
    }
    assert_eq!(x.len(), y.len(), "{a} and {b} differ in length");
}

/// The inputs both writers get, as command-line arguments.
/// Writes `out.0` with `pack` (plus `pack_only` flags) and `out.1` with
/// the spec writer, from the same inputs (`root`, `extra`), and asserts
/// the two files are the same bytes.
fn both_write(
    w: &World,
    py: &Path,
    out: (&str, &str),
    root: &str,
    extra: &[&str],
    pack_only: &[&str],
) {
    let mut pack = vec!["pack", "--out", out.0];
    pack.extend(pack_only);
    pack.extend(inputs(root, extra));
    w.run(&pack).ok();
    let mut spec = vec!["--out", out.1];
    spec.extend(inputs(root, extra));
    spec_write(w, py, &spec);
    same_bytes(w, out.0, out.1);
}

fn inputs<'a>(root: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    pack_inputs(&[root], &["keys/release.pem"], extra)
}

fn statement(w: &World, key: &str, name: &str) {
    use airlock::intoto::envelope::{PAYLOAD_TYPE, Signature, dsse, pae};
    use airlock_hsm::{FileSigner, Signer};
    let s = FileSigner::load(&w.path(key)).unwrap();
    let body = format!(
        r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"bin/tool","digest":{{"sha256":"{}"}}}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{{}}}}"#,
        // Bound to an artifact the bundle carries (attestation-subject-unbound).
        crate::attestations::sha256_hex(&std::fs::read(w.path("dist/bin/tool")).unwrap())
    );
    let sig = s.sign(&pae(PAYLOAD_TYPE, body.as_bytes())).unwrap();
    let id = airlock::keys::keyid(s.public_key());
    w.write(
        name,
        &dsse(body.as_bytes(), &[Signature { keyid: id, sig }]),
    );
}

#[test]
fn an_independent_writer_from_the_spec_writes_the_same_bytes_as_pack() {
    let Some(py) = python() else { return };
    let w = World::new();
    // `artifacts/` + 88 + `/` is 99 bytes: the name field is cut inside
    // the `.` component (SPEC.md 3.2), and inside a 3-byte character.
    w.write(&format!("dist/{}/.hidden", "d".repeat(88)), b"hidden\n");
    w.write(&format!("dist/{}/文件", "q".repeat(88)), b"utf-8\n");
    // More than one zstd job at level 3 (8 MiB each, SPEC.md 9.2).
    let mut big = pseudo_random(3 << 20, 5);
    big.extend(std::iter::repeat_n(b"airlock ".as_slice(), 1 << 20).flatten());
    w.write("dist/big.bin", &big);
    statement(&w, "keys/builder.pem", "prov.dsse.json");
    let epoch = EPOCH.to_string();
    let extra = [
        "--source-date-epoch",
        &epoch,
        "--expires",
        "36500d",
        "--channel",
        "stable",
        "--sequence",
        "42",
        "--attestation",
        "prov.dsse.json",
    ];
    w.record_build().ok();
    both_write(
        &w,
        &py,
        ("pack.airlock", "spec.airlock"),
        "1.root.json",
        &extra,
        &["--threads", "2"],
    );
    w.verify("spec.airlock").ok();

    // Another level, the default channel and sequence; directed to two
    // enclaves (SPEC.md 5.6), named out of order and one twice.
    let (b, a) = ("b".repeat(64), "a".repeat(64));
    let extra = [
        "--source-date-epoch",
        &epoch,
        "--level",
        "9",
        "--for",
        &b,
        "--for",
        &a,
        "--for",
        &b,
    ];
    both_write(
        &w,
        &py,
        ("l9.airlock", "l9-spec.airlock"),
        "1.root.json",
        &extra,
        &[],
    );
    let i = w.run(&["inspect", "l9.airlock", "--json"]).ok().json();
    assert_eq!(i["enclaves"], serde_json::json!([a, b]));
}

#[test]
fn created_from_8_pow_11_on_is_written_in_base_256_by_both() {
    let Some(py) = python() else { return };
    let w = World::new();
    // A root valid past 2242 (8^11 s), so pack accepts such a `created`.
    w.run(&[
        "root",
        "init",
        "--out",
        "far.root.json",
        "--root-key",
        "keys/root.pub",
        "--targets-key",
        "keys/release.pub",
        "--layout-key",
        "keys/owner.pub",
        "--expires",
        "100000d",
    ])
    .ok();
    w.root_sign("far.root.json", &["keys/root.pem"], &[]).ok();
    let created = (8u64.pow(11) + 12_345).to_string();
    let extra = ["--source-date-epoch", &created, "--expires", "1d"];
    both_write(
        &w,
        &py,
        ("far.airlock", "far-spec.airlock"),
        "far.root.json",
        &extra,
        &[],
    );
    // The manifest entry's header (after the 6-byte frame header and the
    // 3-byte block header): mtime field 136..148 is 0x80, three zeros, u64.
    let b = std::fs::read(w.path("far.airlock")).unwrap();
    let h = &b[9..9 + 512];
    let mut want = vec![0x80, 0, 0, 0];
    want.extend((8u64.pow(11) + 12_345).to_be_bytes());
    assert_eq!(&h[136..148], want.as_slice());
}

#[test]
fn a_payload_cut_into_frames_is_written_the_same_by_both() {
    let Some(py) = python() else { return };
    let w = World::new();
    // 64 MiB and more of tar stream: the payload is cut into two frames
    // before `z.txt` (bundle-format/SPEC.md 5.8), and both writers write
    // the same frame index.
    let mut big = pseudo_random(1 << 20, 9);
    big.extend(std::iter::repeat_n(b"airlock frames ".as_slice(), 5 << 22).flatten());
    w.write("dist/a.bin", &big);
    w.write("dist/z.txt", b"after the cut\n");
    let epoch = EPOCH.to_string();
    let extra = ["--source-date-epoch", &epoch, "--channel", "stable"];
    w.record_build().ok();
    both_write(
        &w,
        &py,
        ("pack.airlock", "spec.airlock"),
        "1.root.json",
        &extra,
        &[],
    );
    let bytes = std::fs::read(w.path("pack.airlock")).unwrap();
    let r = airlock_bundle::BundleReader::open(
        std::io::Cursor::new(bytes),
        airlock_bundle::Limits::default(),
    )
    .unwrap();
    assert_eq!(r.manifest().frames.len(), 2);
    // `a.bin` (with whatever sorts before it) alone fills the first frame.
    let m = r.manifest();
    let first = usize::try_from(m.frames[1].first_entry).unwrap();
    assert_eq!(m.artifacts()[first - 1].path.as_str(), "a.bin");
}
