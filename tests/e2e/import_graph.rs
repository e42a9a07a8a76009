//! scripts/import-graph.py (run by scripts/test.sh on each crate) refuses
//! what it is there to refuse: a cycle between modules other than a parent
//! and its own children, and clap, indicatif or stderr below the command
//! line. Each case is a small crate written here.
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/import-graph.py")
}

/// Writes `files` (path, text) under a fresh `src/` and runs the script on
/// it: (exit code, stdout).
fn run(files: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    for (path, text) in files {
        let p = src.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    run_on(&src)
}

fn run_on(src: &Path) -> (i32, String) {
    let out = Command::new("python3")
        .arg(script())
        .arg(src)
        .output()
        .expect("python3 runs (scripts/test.sh needs it too)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_cycle_between_sibling_modules_is_refused() {
    let (code, out) = run(&[
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        ("a.rs", "use crate::b::B;\npub struct A;\n"),
        (
            "b.rs",
            "pub struct B;\npub fn f() -> crate::a::A { crate::a::A }\n",
        ),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("cycle among 2 modules: a, b"), "{out}");
}

#[test]
fn a_cycle_through_a_re_export_and_a_grouped_use_is_refused() {
    // `error` wraps `keys`' error; `keys` uses the crate-root re-export of
    // `error::Error`, written in a grouped use.
    let (code, out) = run(&[
        (
            "lib.rs",
            "pub mod error;\npub mod keys;\npub use error::Error;\n",
        ),
        (
            "error.rs",
            "pub enum Error { Key(crate::keys::KeyError) }\n",
        ),
        (
            "keys.rs",
            "use crate::{Error, error as _};\npub struct KeyError;\n",
        ),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("cycle among 2 modules: error, keys"), "{out}");
}

#[test]
fn a_parent_and_its_own_children_may_use_each_other() {
    let (code, out) = run(&[
        ("lib.rs", "pub mod journal;\n"),
        (
            "journal/mod.rs",
            "pub mod chain;\npub mod writer;\npub use chain::JournalError;\npub struct Journal;\n",
        ),
        (
            "journal/chain.rs",
            "use super::Journal;\npub struct JournalError;\n",
        ),
        (
            "journal/writer.rs",
            "use super::JournalError;\nuse crate::journal::Journal;\n",
        ),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 cycles: ok"), "{out}");
}

#[test]
fn unit_tests_comments_and_strings_are_not_imports() {
    let (code, out) = run(&[
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        ("a.rs", "use crate::b::B;\npub struct A;\n"),
        (
            "b.rs",
            "pub struct B;\n// crate::a::A\nconst S: &str = \"crate::a::A eprintln!\";\n\
             #[cfg(test)]\nmod tests {\n    use crate::a::A;\n    fn f() { eprintln!(\"x\"); }\n}\n",
        ),
    ]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn clap_indicatif_and_stderr_are_refused_below_the_command_line() {
    for (text, what) in [
        ("use clap::Parser;\n", "uses clap"),
        (
            "pub fn f() -> indicatif::ProgressBar { todo!() }\n",
            "uses indicatif",
        ),
        (
            "pub fn f() { eprintln!(\"warning\"); }\n",
            "prints to stderr",
        ),
        (
            "pub fn f() { let _ = std::io::stderr(); }\n",
            "prints to stderr",
        ),
    ] {
        let (code, out) = run(&[("lib.rs", "pub mod volumes;\n"), ("volumes.rs", text)]);
        assert_eq!(code, 1, "{text}: {out}");
        assert!(out.contains(&format!("volumes.rs:1: {what}")), "{out}");
    }
}

#[test]
fn the_command_line_may_use_clap_indicatif_and_stderr() {
    let (code, out) = run(&[
        ("lib.rs", "pub mod cli;\npub mod cmd;\n"),
        ("cli.rs", "use clap::Parser;\n"),
        (
            "cmd/mod.rs",
            "pub mod progress;\npub fn warn(m: &str) { eprintln!(\"{m}\"); }\n",
        ),
        ("cmd/progress.rs", "use indicatif::ProgressBar;\n"),
        ("main.rs", "fn main() { eprintln!(\"x\"); }\n"),
    ]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn the_workspace_crates_pass() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for krate in ["src", "bundle-format/src"] {
        let (code, out) = run_on(&root.join(krate));
        assert_eq!(code, 0, "{krate}: {out}");
    }
}
