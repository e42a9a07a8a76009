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
//! - A block preceded by `<!-- alternative: REASON -->` is an alternative
//!   to the last block before it that is not one (a TPM or a token instead
//!   of a file store): it runs in a copy of the scratch directory as it
//!   stood before that block, against swtpm (`--tpm device:/dev/tpmrm0`) or
//!   a SoftHSM2 token labelled `airlock` whose PIN is in
//!   `/etc/airlock/pin`; the guide then goes on with the block it replaces.
//! - Each block runs in its own `bash -euo pipefail` started in the scratch
//!   directory: files carry over from block to block, `cd` does not.
//! - The machine's absolute paths are rebased into the scratch directory
//!   (a chroot, as far as the guides are concerned): [`REBASED`] lists them.
//!   The connected and isolated guides share the directory, so the bundle
//!   and `1.root.json` "cross the gap" between them.
use std::path::Path;
use std::process::Command;

use crate::emulators::{SoftHsm, Swtpm, softhsm_module};

/// Absolute paths the guides use, rebased under the scratch directory.
const REBASED: &[&str] = &[
    "/var/lib/airlock",
    "/srv/incoming",
    "/etc/airlock",
    "/media/",
];

/// A ```sh block of a guide.
struct Block {
    /// The line of its first command.
    line: usize,
    text: String,
    /// Marked `<!-- alternative: … -->`: instead of the last block before
    /// it that is not an alternative.
    alternative: bool,
}

/// The ```sh blocks of `doc` (relative to the repository), in order,
/// without those marked `<!-- not run: … -->`.
fn sh_blocks(doc: &str) -> Vec<Block> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(doc)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_end() == "```sh" {
            let marker = if i > 0 { lines[i - 1].trim_start() } else { "" };
            let start = i + 1;
            let mut end = start;
            while !lines[end].starts_with("```") {
                end += 1;
            }
            if !marker.starts_with("<!-- not run:") {
                out.push(Block {
                    line: start + 1,
                    text: lines[start..end].join("\n") + "\n",
                    alternative: marker.starts_with("<!-- alternative:"),
                });
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

/// A copy of the scratch directory `dir` as it stands.
fn copy_of(dir: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    let st = Command::new("cp")
        .arg("-a")
        .arg(dir.join("."))
        .arg(copy.path())
        .status()
        .unwrap();
    assert!(st.success(), "cp -a {}", dir.display());
    copy
}

/// Runs every ```sh block of `doc` in `dir`, in order; panics on the first
/// that fails, naming it. `env`: extra environment variables. An
/// alternative block runs instead, in a copy of `dir` as it stood before
/// the block it replaces, against an emulator ([`run_alternative`]); the
/// guide then goes on in `dir`.
fn run_guide(doc: &str, dir: &Path, env: &[(&str, String)]) {
    let blocks = sh_blocks(doc);
    assert!(!blocks.is_empty(), "{doc} has no ```sh block");
    let mut before_last: Option<tempfile::TempDir> = None;
    for (i, block) in blocks.iter().enumerate() {
        if block.alternative {
            let before = before_last
                .as_ref()
                .unwrap_or_else(|| panic!("{doc}:{}: an alternative to nothing", block.line));
            run_alternative(doc, block, &copy_of(before.path()));
            continue;
        }
        if blocks.get(i + 1).is_some_and(|b| b.alternative) {
            before_last = Some(copy_of(dir));
        }
        run_block(doc, block, dir, env);
    }
}

/// Runs an alternative block in `dir` against the emulator it needs: a
/// swtpm for `--tpm device:/dev/tpmrm0`, a SoftHSM2 token labelled
/// `airlock` (its PIN in the guide's PIN file) for a `pkcs11:` URI.
fn run_alternative(doc: &str, block: &Block, dir: &tempfile::TempDir) {
    let test = format!("{doc}:{}", block.line);
    let mut text = block.text.clone();
    let mut env = Vec::new();
    let _tpm;
    let _token;
    if text.contains("--tpm device:/dev/tpmrm0") {
        let Some(tpm) = Swtpm::start(&test) else {
            return;
        };
        text = text.replace("device:/dev/tpmrm0", &tpm.tcti());
        env.push(("TSS2_LOG", "all+none".to_owned()));
        _tpm = tpm;
    }
    if text.contains("pkcs11:token=airlock?") {
        let Some(hsm) = SoftHsm::new(&test, "airlock") else {
            return;
        };
        text = text.replace(
            "/usr/lib/softhsm/libsofthsm2.so",
            &softhsm_module().display().to_string(),
        );
        std::fs::write(dir.path().join("etc/airlock/pin"), hsm.pin() + "\n").unwrap();
        env.push(("SOFTHSM2_CONF", hsm.conf().display().to_string()));
        _token = hsm;
    }
    let block = Block {
        line: block.line,
        text,
        alternative: true,
    };
    run_block(doc, &block, dir.path(), &env);
}

/// Runs one block in `dir` with `airlock` on PATH and the machine's paths
/// rebased into `dir`; panics if it fails.
fn run_block(doc: &str, block: &Block, dir: &Path, env: &[(&str, String)]) {
    let airlock = Path::new(crate::common::airlock_bin());
    let path = format!(
        "{}:{}",
        airlock.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut script = block.text.clone();
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
        "{doc}, the block at line {} failed ({}):\n{}\nstdout:\n{}\nstderr:\n{}",
        block.line,
        out.status,
        block.text,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
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
