//! The operator guides run as written: every ```sh block of
//! docs/connected-side.md, docs/isolated-side.md and docs/key-rotation.md,
//! in order, in one scratch directory, with `airlock` on PATH (README's
//! quick start is run by `readme.rs`).
//!
//! Conventions (for whoever edits the guides):
//!
//! - A ```sh block is a procedure and is run. Output listings and syntax
//!   summaries use ```text instead. A block that is a real procedure but
//!   cannot run here is preceded, on the line right before its fence, by
//!   `<!-- not run: REASON -->` (renders as nothing); use it sparingly.
//! - Each block runs in its own `bash -euo pipefail` started in the scratch
//!   directory: files carry over from block to block, `cd` does not.
//! - The machine's absolute paths are rebased into the scratch directory
//!   (a chroot, as far as the guides are concerned): [`REBASED`] lists them.
//!   The connected and isolated guides share the directory, so the bundle
//!   and `1.root.json` "cross the gap" between them.
use std::path::Path;
use std::process::Command;

/// Absolute paths the guides use, rebased under the scratch directory.
const REBASED: &[&str] = &[
    "/var/lib/airlock",
    "/srv/incoming",
    "/etc/airlock",
    "/media/",
];

/// The ```sh blocks of `doc` (relative to the repository), in order,
/// without those marked `<!-- not run: … -->`: (first line number, text).
fn sh_blocks(doc: &str) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(doc)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_end() == "```sh" {
            let skipped = i > 0 && lines[i - 1].trim_start().starts_with("<!-- not run:");
            let start = i + 1;
            let mut end = start;
            while !lines[end].starts_with("```") {
                end += 1;
            }
            if !skipped {
                out.push((start + 1, lines[start..end].join("\n") + "\n"));
            }
            i = end + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// A scratch directory with the rebased paths' parents made, as on a
/// provisioned machine.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for d in ["var/lib", "srv/incoming", "etc/airlock", "media"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    dir
}

/// Runs every ```sh block of `doc` in `dir`, in order; panics on the first
/// that fails, naming it. `env`: extra environment variables.
fn run_guide(doc: &str, dir: &Path, env: &[(&str, String)]) {
    let blocks = sh_blocks(doc);
    assert!(!blocks.is_empty(), "{doc} has no ```sh block");
    let airlock = Path::new(crate::common::airlock_bin());
    let path = format!(
        "{}:{}",
        airlock.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (line, block) in blocks {
        let mut script = block.clone();
        for p in REBASED {
            script = script.replace(p, &format!("{}{p}", dir.display()));
        }
        let mut cmd = Command::new("bash");
        cmd.args(["-euo", "pipefail", "-c", &script])
            .current_dir(dir)
            .env("PATH", &path)
            .env_remove("SOURCE_DATE_EPOCH")
            .env_remove("AIRLOCK_STORE")
            .env_remove("AIRLOCK_LOCK_TIMEOUT");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{doc}, the block at line {line} failed ({}):\n{block}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_connected_side_isolated_side_and_key_rotation_guides_run_in_order() {
    let dir = scratch();
    run_guide("docs/connected-side.md", dir.path(), &[]);
    assert!(dir.path().join("release/release-1.airlock").is_file());
    assert!(dir.path().join("release-42.airlock").is_file());
    run_guide("docs/isolated-side.md", dir.path(), &[]);
    assert!(dir.path().join("srv/incoming/release-42/app").is_file());
    // the key-rotation runbook continues the same project and store
    run_guide("docs/key-rotation.md", dir.path(), &[]);
    for d in ["rel-43", "rotate-now", "rel-46"] {
        assert!(
            dir.path()
                .join("srv/incoming")
                .join(d)
                .join("app")
                .is_file(),
            "{d}"
        );
    }
    let show = Command::new(crate::common::airlock_bin())
        .args(["anchor", "show", "--store"])
        .arg(dir.path().join("var/lib/airlock"))
        .output()
        .unwrap();
    let show = String::from_utf8_lossy(&show.stdout);
    assert!(show.contains("root       version 9,"), "{show}");
}
