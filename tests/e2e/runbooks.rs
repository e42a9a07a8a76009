//! The operator guides run as written: every ```sh block of each guide
//! under docs/, in order, in a scratch directory, with `airlock` on PATH
//! (README's quick start is run by `readme.rs`, its block done by hand
//! here). One test per guide; a
//! guide that continues another starts where that one ends (the connected
//! side's project, the isolated side's store), as its text says.
//!
//! Conventions (for whoever edits the guides):
//!
//! - A ```sh block is a procedure and is run. Output listings and syntax
//!   summaries use ```text instead. A block that is a real procedure but
//!   cannot run here is preceded, on the line right before its fence, by
//!   `<!-- not run: REASON -->` (renders as nothing); use it sparingly.
//!   [`every_guide_is_run_or_says_why_not`] checks that every guide with a
//!   ```sh block is run by a test here.
//! - A block preceded by `<!-- alternative: REASON -->` is an alternative
//!   to the last block before it that is not one (a TPM or a token instead
//!   of a file store, publishing a directory instead of a bundle): it runs
//!   in a copy of the scratch directory as it stood before that block; the
//!   guide then goes on with the block it replaces.
//! - Each block runs in its own `bash -euo pipefail` started in the scratch
//!   directory: files carry over from block to block, `cd` does not.
//! - The machine's absolute paths are rebased into the scratch directory
//!   (a chroot, as far as the guides are concerned): [`REBASED`] lists them;
//!   [`scratch`] makes the directories a provisioned machine has (mounted
//!   media, the node exporter's textfile directory, a SIEM spool).
//! - A block that names hardware or a service runs against the real thing
//!   the test suite uses ([`Emulators`]): `--tpm device:/dev/tpmrm0` against
//!   a swtpm; a `pkcs11:token=LABEL` URI against a SoftHSM2 token labelled
//!   LABEL whose user PIN is in `/etc/airlock/pin` (a block that runs
//!   `softhsm2-util --init-token` itself gets an empty SoftHSM2 instead);
//!   the tests of the monitoring and container guides start an rsyslogd
//!   for `siem.example:514` and a TLS registry for `registry.enclave:5000`.
//!   Under CI a missing component fails the test.
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::emulators::{REGISTRY_USER, Registry, SoftHsm, Swtpm, missing, softhsm_module};

/// Absolute paths the guides use, rebased under the scratch directory.
const REBASED: &[&str] = &[
    "/var/lib/airlock",
    "/var/lib/node_exporter",
    "/var/spool/siem",
    "/srv/incoming",
    "/srv/out",
    "/etc/airlock",
    "/media/",
];

/// The guides under docs/ with ```sh blocks that the tests below run
/// (those whose every block is marked `not run` need no test).
const RUN: &[&str] = &[
    "docs/connected-side.md",
    "docs/isolated-side.md",
    "docs/key-rotation.md",
    "docs/containers.md",
    "docs/monitoring.md",
    "docs/supply-chain.md",
    "docs/transfers.md",
    "docs/trust-stores.md",
];

/// A ```sh block of a guide.
struct Block {
    /// The line of its first command.
    line: usize,
    text: String,
    /// Marked `<!-- alternative: … -->`: instead of the last block before
    /// it that is not an alternative.
    alternative: bool,
    /// The `## ` heading it is under ("" before the first).
    section: String,
}

/// The ```sh blocks of `doc` (relative to the repository), in order,
/// without those marked `<!-- not run: … -->`.
fn sh_blocks(doc: &str) -> Vec<Block> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(doc)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut section = String::new();
    let mut i = 0;
    while i < lines.len() {
        if let Some(h) = lines[i].strip_prefix("## ") {
            section = h.to_owned();
        }
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
                    section: section.clone(),
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
/// provisioned machine: a USB stick and a disc mounted under /media, the
/// node exporter's textfile directory, the SIEM agent's spool.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for d in [
        "var/lib/node_exporter/textfile",
        "var/spool/siem",
        "srv/incoming",
        "etc/airlock",
        "media/usb",
        "media/cdrom",
    ] {
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

/// What a test gives the blocks of a guide besides the scratch directory:
/// text to replace (a service's name by where the test runs it) and
/// environment variables.
#[derive(Default)]
struct Machine {
    replace: Vec<(&'static str, String)>,
    env: Vec<(&'static str, String)>,
}

/// Runs every ```sh block of `doc` in `dir`, in order; panics on the first
/// that fails, naming it. An alternative block runs instead, in a copy of
/// `dir` as it stood before the block it replaces; the guide then goes on
/// in `dir`. `false` when a developer run lacks an emulator (skipped,
/// loudly).
fn run_guide(doc: &str, dir: &Path, machine: &Machine) -> bool {
    run_blocks(doc, &sh_blocks(doc), dir, machine)
}

/// As [`run_guide`], only the blocks of the section whose heading starts
/// with `section`.
fn run_section(doc: &str, section: &str, dir: &Path, machine: &Machine) -> bool {
    let blocks: Vec<Block> = sh_blocks(doc)
        .into_iter()
        .filter(|b| b.section.starts_with(section))
        .collect();
    run_blocks(doc, &blocks, dir, machine)
}

fn run_blocks(doc: &str, blocks: &[Block], dir: &Path, machine: &Machine) -> bool {
    assert!(!blocks.is_empty(), "{doc}: no ```sh block to run");
    let mut before_last: Option<tempfile::TempDir> = None;
    for (i, block) in blocks.iter().enumerate() {
        if block.alternative {
            let before = before_last
                .as_ref()
                .unwrap_or_else(|| panic!("{doc}:{}: an alternative to nothing", block.line));
            if !run_block(doc, block, copy_of(before.path()).path(), machine) {
                return false;
            }
            continue;
        }
        if blocks.get(i + 1).is_some_and(|b| b.alternative) {
            before_last = Some(copy_of(dir));
        }
        if !run_block(doc, block, dir, machine) {
            return false;
        }
    }
    true
}

/// The emulators one block needs, alive while it runs.
#[derive(Default)]
struct Emulators {
    replace: Vec<(&'static str, String)>,
    env: Vec<(&'static str, String)>,
    _tpm: Option<Swtpm>,
    _token: Option<SoftHsm>,
    _softhsm: Option<tempfile::TempDir>,
}

impl Emulators {
    /// Starts what `text` names: a swtpm for `--tpm device:/dev/tpmrm0`;
    /// for `softhsm2-util --init-token`, an empty SoftHSM2 of its own; for
    /// a `pkcs11:token=LABEL` URI, a SoftHSM2 token labelled LABEL whose
    /// PIN goes into `dir`'s `/etc/airlock/pin`. `None`: skip (a developer
    /// run without them).
    fn start(test: &str, text: &str, dir: &Path) -> Option<Emulators> {
        let mut e = Emulators::default();
        if text.contains("--tpm device:/dev/tpmrm0") {
            let tpm = Swtpm::start(test)?;
            e.replace.push(("device:/dev/tpmrm0", tpm.tcti()));
            e.env.push(("TSS2_LOG", "all+none".to_owned()));
            e._tpm = Some(tpm);
        }
        let module = softhsm_module().display().to_string();
        if text.contains("softhsm2-util --init-token") {
            missing(test, &["softhsm2-util", &module])?;
            let d = tempfile::tempdir().unwrap();
            std::fs::create_dir(d.path().join("tokens")).unwrap();
            std::fs::write(
                d.path().join("softhsm2.conf"),
                format!(
                    "directories.tokendir = {}/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                    d.path().display()
                ),
            )
            .unwrap();
            e.env.push((
                "SOFTHSM2_CONF",
                d.path().join("softhsm2.conf").display().to_string(),
            ));
            e._softhsm = Some(d);
        } else if let Some(at) = text.find("pkcs11:token=") {
            let label: String = text[at + "pkcs11:token=".len()..]
                .chars()
                .take_while(|c| !matches!(c, ';' | '?' | '\'' | '"'))
                .collect();
            let hsm = SoftHsm::new(test, &label)?;
            std::fs::write(dir.join("etc/airlock/pin"), hsm.pin() + "\n").unwrap();
            e.env
                .push(("SOFTHSM2_CONF", hsm.conf().display().to_string()));
            e._token = Some(hsm);
        }
        if text.contains("pkcs11:") || text.contains("softhsm2-util") {
            e.replace.push(("/usr/lib/softhsm/libsofthsm2.so", module));
        }
        Some(e)
    }
}

/// Runs one block in `dir` with `airlock` on PATH, the machine's paths
/// rebased into `dir` and the emulators it needs; panics if it fails.
/// `false`: skipped (a developer run without an emulator).
fn run_block(doc: &str, block: &Block, dir: &Path, machine: &Machine) -> bool {
    let test = format!("{doc}:{}", block.line);
    let Some(emulators) = Emulators::start(&test, &block.text, dir) else {
        return false;
    };
    let airlock = Path::new(crate::common::airlock_bin());
    let path = format!(
        "{}:{}",
        airlock.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut script = block.text.clone();
    for (from, to) in machine.replace.iter().chain(&emulators.replace) {
        script = script.replace(from, to);
    }
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
    for (k, v) in machine.env.iter().chain(&emulators.env) {
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
    true
}

/// `airlock ARGS` (no guide), its stdout; panics if it fails.
fn airlock(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(crate::common::airlock_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("AIRLOCK_STORE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "airlock {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A scratch directory where the connected-side guide has run: the
/// project (keys, roots 1 and 2, layout, link, `dist/`, `release-42.airlock`).
fn connected_side_done() -> tempfile::TempDir {
    let dir = scratch();
    assert!(run_guide(
        "docs/connected-side.md",
        dir.path(),
        &Machine::default()
    ));
    dir
}

/// ... and then the isolated-side guide: a file store at /var/lib/airlock
/// that imported release 42, its journal exported for the auditors.
/// `None`: skipped (a developer run without swtpm or SoftHSM2).
fn both_sides_done() -> Option<tempfile::TempDir> {
    let dir = connected_side_done();
    run_guide("docs/isolated-side.md", dir.path(), &Machine::default()).then_some(dir)
}

#[test]
fn the_connected_side_isolated_side_and_key_rotation_guides_run_in_order() {
    let dir = connected_side_done();
    assert!(dir.path().join("release/release-1.airlock").is_file());
    assert!(dir.path().join("release-42.airlock").is_file());
    if !run_guide("docs/isolated-side.md", dir.path(), &Machine::default()) {
        return;
    }
    assert!(dir.path().join("srv/incoming/release-42/app").is_file());
    // the key-rotation runbook continues the same project and store
    assert!(run_guide(
        "docs/key-rotation.md",
        dir.path(),
        &Machine::default()
    ));
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
    let store = dir.path().join("var/lib/airlock");
    let show = airlock(
        dir.path(),
        &["anchor", "show", "--store", store.to_str().unwrap()],
    );
    assert!(show.contains("root       version 9,"), "{show}");
}

/// The transfer guide's reader has the connected side's project and a
/// store provisioned as the isolated-side guide's section 1 does.
#[test]
fn the_transfer_guide_runs_in_order() {
    let test = "the_transfer_guide_runs_in_order";
    if missing(test, &["xorriso", "genisoimage"]).is_some() {
        return;
    }
    let dir = connected_side_done();
    assert!(run_section(
        "docs/isolated-side.md",
        "1. Provision",
        dir.path(),
        &Machine::default()
    ));
    assert!(run_guide(
        "docs/transfers.md",
        dir.path(),
        &Machine::default()
    ));
    let d = dir.path();
    assert!(d.join("media/usb/rel-42.airlock.001").is_file());
    assert!(d.join("srv/out/release-42.airlock.001").is_file());
    assert!(d.join("disc1.iso").is_file());
    assert!(d.join("srv/incoming/rel-42/app").is_file());
    // Section 6: the delta of rel-42, unpacked beside it.
    assert!(d.join("srv/incoming/rel-43/app").is_file());
}

/// Both anchors of the trust-store guide (a swtpm; a SoftHSM2 token it
/// initialises itself), then the release key moved onto a token; the
/// bundle that key signs verifies against a store of the connected side's
/// first root.
#[test]
fn the_trust_store_guide_runs_in_order() {
    let dir = connected_side_done();
    if !run_guide("docs/trust-stores.md", dir.path(), &Machine::default()) {
        return;
    }
    let d = dir.path();
    let store = d.join("check-store");
    airlock(
        d,
        &[
            "anchor",
            "init",
            "--store",
            store.to_str().unwrap(),
            "--root",
            "1.root.json",
            "--channel",
            "stable",
        ],
    );
    let v = airlock(
        d,
        &[
            "verify",
            "release-43.airlock",
            "--store",
            store.to_str().unwrap(),
        ],
    );
    assert!(v.contains("rotates the anchor to version 3"), "{v}");
}

/// The supply-chain guide starts in an empty directory (its own prologue
/// makes the keys and the source tree).
#[test]
fn the_supply_chain_guide_runs_in_order() {
    if missing("the_supply_chain_guide_runs_in_order", &["jq", "make"]).is_some() {
        return;
    }
    let dir = scratch();
    assert!(run_guide(
        "docs/supply-chain.md",
        dir.path(),
        &Machine::default()
    ));
    assert!(dir.path().join("dist/main.c").is_file());
}

/// The monitoring guide's reader runs a store with a history (both sides'
/// guides); `journal forward` reaches a real rsyslogd and the metrics
/// file passes promtool.
#[test]
fn the_monitoring_guide_runs_in_order() {
    let test = "the_monitoring_guide_runs_in_order";
    if crate::monitoring::skip(test, &["rsyslogd", "promtool"]) {
        return;
    }
    let Some(dir) = both_sides_done() else {
        return;
    };
    let rsyslog = crate::monitoring::Rsyslog::start("tcp");
    let machine = Machine {
        replace: vec![(
            "tcp://siem.example:514",
            format!("tcp://127.0.0.1:{}", rsyslog.port),
        )],
        env: Vec::new(),
    };
    assert!(run_guide("docs/monitoring.md", dir.path(), &machine));
    let d = dir.path();
    let metrics =
        std::fs::read_to_string(d.join("var/lib/node_exporter/textfile/airlock.prom")).unwrap();
    let (ok, out) = crate::monitoring::promtool(&["check", "metrics"], Some(&metrics));
    assert!(ok, "promtool check metrics: {out}");
    assert!(
        std::fs::read_to_string(d.join("report.html"))
            .unwrap()
            .contains("<html")
    );
    assert!(
        std::fs::read_to_string(d.join("var/spool/siem/airlock.cef"))
            .unwrap()
            .starts_with("CEF:0|airlock|")
    );
    let records = std::fs::read_to_string(d.join("var/lib/airlock/journal.jsonl"))
        .unwrap()
        .lines()
        .count();
    crate::monitoring::wait_for("the journal at rsyslogd", 60, || {
        rsyslog.airlock().len() >= records
    });
}

/// The container guide continues both sides' guides: images built and
/// recorded in the connected side's project, packed, and published from
/// the isolated side's store into a TLS registry with credentials (the
/// CNCF registry) — or, instead, unpacked and published into an OCI
/// layout; skopeo then reads the published image.
#[test]
fn the_container_guide_runs_in_order() {
    let test = "the_container_guide_runs_in_order";
    if missing(test, &["skopeo"]).is_some() {
        return;
    }
    let Some(reg) = Registry::start(test, true) else {
        return;
    };
    let Some(dir) = both_sides_done() else {
        return;
    };
    let d = dir.path();
    // The enclave registry's CA and the publisher's credentials, as the
    // guide's reader has them.
    std::fs::copy(reg.ca(), d.join("etc/airlock/enclave-ca.pem")).unwrap();
    let auth = tempfile::tempdir().unwrap();
    let auth_file: PathBuf = auth.path().join("auth.json");
    std::fs::write(
        &auth_file,
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
            reg.host(),
            airlock::oci::registry::auth_value(REGISTRY_USER.0, REGISTRY_USER.1)
        ),
    )
    .unwrap();
    let machine = Machine {
        replace: vec![("registry.enclave:5000", reg.host())],
        env: vec![("REGISTRY_AUTH_FILE", auth_file.display().to_string())],
    };
    assert!(run_guide("docs/containers.md", d, &machine));
    for image in ["team/app:1.0", "team/base:1.0"] {
        let mut args = vec!["inspect".to_owned(), "--raw".to_owned()];
        args.extend(reg.skopeo_flags(""));
        args.push(format!("docker://{}/releases/{image}", reg.host()));
        let out = Command::new("skopeo").args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "{image}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// README's "by hand" block (its quick start is run by `readme.rs`), in an
/// empty directory.
#[test]
fn the_readme_by_hand_block_runs() {
    let blocks: Vec<Block> = sh_blocks("README.md")
        .into_iter()
        .filter(|b| b.text.starts_with("# connected side\n"))
        .collect();
    assert_eq!(blocks.len(), 1, "README's block done by hand");
    let dir = scratch();
    assert!(run_blocks(
        "README.md",
        &blocks,
        dir.path(),
        &Machine::default()
    ));
    assert!(
        dir.path()
            .join("srv/incoming/rel-42/firmware.bin")
            .is_file()
    );
    assert!(dir.path().join("report.html").is_file());
}

/// Every guide under docs/ with a ```sh block to run is run by a test
/// above (a new guide gets a test, or its blocks say why they are not
/// run).
#[test]
fn every_guide_is_run_or_says_why_not() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    for e in std::fs::read_dir(&docs).unwrap() {
        let name = format!("docs/{}", e.unwrap().file_name().to_string_lossy());
        if name.ends_with(".md") && !sh_blocks(&name).is_empty() {
            assert!(
                RUN.contains(&name.as_str()),
                "{name} has ```sh blocks that no test in tests/e2e/runbooks.rs runs"
            );
        }
    }
}
