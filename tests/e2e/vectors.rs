//! The committed bundle vectors (tests/vectors/bundle, made by
//! scripts/gen-bundle-vectors.sh): every file gets the verdict its name
//! states, and re-packing the committed inputs reproduces the pass vector
//! byte for byte, so the format cannot change by accident.
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::common::{airlock_in, anchor_init_args};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/bundle")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn every_vector_gets_its_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    let root = dir().join("1.root.json");
    airlock_in(tmp.path(), &anchor_init_args("store", s(&root), &[])).ok();
    let mut vectors: Vec<PathBuf> = fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "airlock"))
        .collect();
    vectors.sort();
    assert!(vectors.len() >= 8, "{vectors:?}");
    for v in &vectors {
        let name = v.file_name().unwrap().to_str().unwrap();
        let r = airlock_in(tmp.path(), &["verify", s(v), "--store", "store", "--json"]);
        if name.starts_with("pass_") {
            assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        } else {
            let expected = name
                .trim_start_matches("fail_")
                .trim_end_matches(".airlock");
            let expected = expected.split('_').next().unwrap();
            assert_eq!(
                (r.code, r.error_code().as_str()),
                (1, expected),
                "{name}: {}",
                r.stderr
            );
        }
    }
}

#[test]
fn repacking_the_inputs_reproduces_the_pass_vector() {
    let tmp = tempfile::tempdir().unwrap();
    // Copy the inputs with fixed modes, whatever the checkout's umask was.
    let input = tmp.path().join("input");
    for rel in walk(&dir().join("input")) {
        let to = input.join(&rel);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(dir().join("input").join(&rel), &to).unwrap();
        let mode = if rel.ends_with("bin/tool") {
            0o755
        } else {
            0o644
        };
        fs::set_permissions(&to, fs::Permissions::from_mode(mode)).unwrap();
    }
    let k = |n: &str| dir().join("keys").join(n);
    airlock_in(
        tmp.path(),
        &[
            "pack",
            "--out",
            "again.airlock",
            "--key",
            s(&k("release.pem")),
            "--root",
            s(&dir().join("1.root.json")),
            "--layout",
            "input/root.layout",
            "--layout-key",
            s(&k("owner.pub")),
            "--links",
            "input/links",
            "--artifacts",
            "input/dist",
            "--channel",
            "vectors",
            "--sequence",
            "1",
            "--expires",
            "36500d",
            "--source-date-epoch",
            "1794694400",
        ],
    )
    .ok();
    let again = fs::read(tmp.path().join("again.airlock")).unwrap();
    let committed = fs::read(dir().join("pass_minimal.airlock")).unwrap();
    assert!(
        again == committed,
        "pack output differs from the committed vector: the format changed (regenerate with scripts/gen-bundle-vectors.sh only if that was intended)"
    );
}

fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in fs::read_dir(root.join(&rel)).unwrap() {
            let e = e.unwrap();
            let r = rel.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                stack.push(r);
            } else {
                out.push(r);
            }
        }
    }
    out
}
