//! README's quick start runs as written, in an empty directory.
use std::path::Path;
use std::process::Command;

/// The first ```sh block after `heading` in README.md.
fn block_after(heading: &str) -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let rest = &readme[readme
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading}"))..];
    let start = rest.find("```sh\n").unwrap() + 6;
    let end = start + rest[start..].find("```").unwrap();
    rest[start..end].to_owned()
}

#[test]
fn the_readme_quick_start_runs_verbatim() {
    let script = block_after("## Quick start");
    let airlock = Path::new(crate::common::airlock_bin());
    let dir = tempfile::tempdir().unwrap();
    let path = format!(
        "{}:{}",
        airlock.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .env("PATH", path)
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("AIRLOCK_STORE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let commands = script
        .lines()
        .filter(|l| l.trim_start().starts_with("airlock "))
        .count();
    assert!(
        commands <= 6,
        "the quick start has {commands} airlock commands"
    );
    assert_eq!(
        std::fs::read(dir.path().join("release-1/firmware.bin")).unwrap(),
        b"firmware 1.0\n"
    );
}
