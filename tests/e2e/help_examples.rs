//! Every `--help` example runs as written.
//!
//! The examples are the indented lines under a heading starting with
//! `Example` in a command's `after_help` (what `--help` prints after the
//! options), up to the next blank line; a line ending in `\` continues on
//! the next. Each command's examples run as one bash script (so a `cd`
//! carries to the next line), in a fresh scratch directory prepared by
//! [`prepare`] with what the examples name: the e2e fixture's keys (also
//! beside the directory as `release.pem`, `owner.pub`, …), `1.root.json`,
//! `root.layout`, `links/`, `dist/`, bundles `release-42.airlock` and
//! `rel.airlock`, a provisioned store at `/var/lib/airlock`, and the
//! volumes of split bundles on `/media/usb` and `/media/cdrom`. [`prelude`]
//! adds what only one command's examples need.
//!
//! The machine's absolute paths are rebased into the scratch directory (see
//! [`REBASED`]); `HOME` is the scratch directory. A `pkcs11:token=LABEL`
//! URI gets a fresh SoftHSM2 token labelled LABEL whose PIN is
//! `/etc/airlock/pin` (`SOFTHSM2_CONF` set for the examples), so the
//! token examples run as written too. Every line must exit 0 unless
//! [`EXIT`] says otherwise; [`NOT_RUN`] lists the examples that need
//! something this test cannot provide, each with its reason.
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use clap::CommandFactory;

use crate::common::World;

/// Absolute paths in the examples, rebased under the scratch directory.
const REBASED: &[&str] = &[
    "/var/lib/",
    "/srv/",
    "/media/",
    "/etc/airlock",
    "/etc/bash_completion.d",
    "/usr/local/share/man",
    "/tmp/airlock-demo",
    "/root/",
];

/// Example lines (by command and a substring of the line) that exit with
/// something other than 0, as their comment says.
const EXIT: &[(&str, &str, i32)] = &[("journal recover", "journal verify", 1)];

/// Examples that do not run here, by command and a substring of the line.
const NOT_RUN: &[(&str, &str, &str)] = &[
    (
        "publish",
        "airlock publish",
        "needs a bundle with container images and a registry (tests/e2e/publish.rs runs both forms)",
    ),
    (
        "journal forward",
        "airlock journal forward",
        "needs a syslog receiver (tests/e2e/monitoring.rs runs forward against one)",
    ),
    (
        "anchor init",
        "--tpm device:/dev/tpmrm0",
        "needs a TPM device (tests/e2e/tpm.rs runs the TPM anchor on swtpm)",
    ),
    (
        "anchor quote",
        "airlock anchor quote",
        "needs a TPM store (tests/e2e/quote.rs runs quotes on swtpm)",
    ),
    (
        "anchor verify-quote",
        "airlock anchor verify-quote",
        "needs a quote made by a TPM (tests/e2e/quote.rs verifies them)",
    ),
];

/// Root versions 1 to 3, root keys a, b and c (2 of 3), each signed.
const ROOTS_1_TO_3: &str = "rm 1.root.json
for k in root-a root-b root-c root-d release-2; do airlock keygen --out $k; done
airlock root init --out 1.root.json --root-key root-a.pub root-b.pub root-c.pub --root-threshold 2 \\
  --targets-key release.pub --layout-key owner.pub --expires 365d
airlock root sign 1.root.json --key root-a.pem root-b.pem
airlock root rotate --from 1.root.json --out 2.root.json --expires 365d
airlock root sign 2.root.json --key root-a.pem root-b.pem
airlock root rotate --from 2.root.json --out 3.root.json --expires 365d
airlock root sign 3.root.json --key root-a.pem root-b.pem
";

/// The token URI of object OBJECT on SoftHSM token `ci`.
macro_rules! ci_token {
    ($object:literal) => {
        concat!(
            "'pkcs11:token=ci;object=",
            $object,
            "?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/airlock/pin'"
        )
    };
}

/// Shell run (under `set -e`) in the scratch directory before `cmd`'s
/// examples: what only they need.
fn prelude(cmd: &str) -> String {
    let journal_export = "airlock journal export --store /var/lib/airlock --out audit-2026-q1.jsonl
cp /var/lib/airlock/journal-key.pub .";
    match cmd {
        "key id" => "airlock keygen --out keys/release-1".into(),
        "key show" => format!(
            "airlock keygen --out keys/release-1
airlock keygen --type ecdsa-p256 --pkcs11 {}",
            ci_token!("packager")
        ),
        "root init" => {
            "rm 1.root.json && for k in root-a root-b release-1; do airlock keygen --out $k; done".into()
        }
        "root sign" => "rm 1.root.json && for k in root-a root-b root-c; do airlock keygen --out $k; done
airlock root init --out 1.root.json --root-key root-a.pub root-b.pub --root-threshold 2 \\
  --targets-key release.pub --layout-key owner.pub --expires 365d
airlock root rotate --from 1.root.json --out 2.root.json --add-root-key root-c.pub \\
  --remove-root-key root-b.pub"
            .into(),
        "root rotate" => ROOTS_1_TO_3.into(),
        "root verify" => format!("{ROOTS_1_TO_3}cp 1.root.json anchor.root.json && mkdir new && cp 2.root.json 3.root.json new/"),
        "record" => "airlock keygen --out alice && airlock keygen --out bob
mkdir src && echo 'int main(void) { return 0; }' > src/main.c
printf 'dist:\\n\\tmkdir -p dist && cp src/main.c dist/\\n' > Makefile"
            .into(),
        "layout new" => format!(
            "rm root.layout && airlock keygen --out keys/packager
airlock keygen --type ecdsa-p256 --pkcs11 {}",
            ci_token!("packager")
        ),
        "pack" => "git init -q && git -c user.name=ci -c user.email=ci@example.org commit -q --allow-empty -m release".into(),
        "anchor init" => "rm -r /var/lib/airlock".into(),
        "volumes check" => "airlock split release-42.airlock --size 120kB --key release.pem --out /media/usb/rel.airlock
[ -e /media/usb/rel.airlock.003 ] && [ ! -e /media/usb/rel.airlock.004 ]
cp /media/usb/rel.airlock.* /media/cdrom/"
            .into(),
        "journal verify" | "journal report" => journal_export.into(),
        // What a store provisioned before the journal existed looks like.
        "journal init" => "cd /var/lib/airlock && rm journal.jsonl journal-key.*
jq -c '.format = 1 | del(.journal)' state.json > state.old && mv state.old state.json"
            .into(),
        "journal recover" => "printf '{\"torn' >> /var/lib/airlock/journal.jsonl".into(),
        "metrics" => "mkdir -p /var/lib/node_exporter/textfile /srv/in".into(),
        "sigstore verify" => {
            let v = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/sigstore");
            format!(
                "cp {v}/pass_dsse_github_workflow.sigstore.json pypi_attestation_models-0.0.4a2.tar.gz.sigstore.json
cp {v}/pypi_attestation_models-0.0.4a2.tar.gz .
cp {v}/trusted_root.production.json trusted_root.json
airlock anchor sigstore --store /var/lib/airlock --trusted-root trusted_root.json \\
  --identity https://github.com/trailofbits/pypi-attestation-models/.github/workflows/release.yml@refs/tags/v0.0.4a2 \\
  --issuer https://token.actions.githubusercontent.com"
            )
        }
        "anchor sigstore" => format!(
            "cp {}/tests/vectors/sigstore/trusted_root.production.json trusted_root.json",
            env!("CARGO_MANIFEST_DIR")
        ),
        "init" => format!(
            "mkdir build && echo 'app 1.0' > build/app
airlock keygen --type ecdsa-p256 --pkcs11 {}",
            ci_token!("release")
        ),
        "completions" => "mkdir -p .zfunc .config/fish/completions /etc/bash_completion.d".into(),
        "policy set" | "policy test" => r#"cat > enclave-policy.toml <<'EOF'
format = 1
language = "cel"
[[rule]]
name = "any-channel"
expr = 'manifest.channel != ""'
EOF"#
            .into(),
        "receipt verify" => "airlock unpack release-42.airlock --store /var/lib/airlock --to /srv/incoming/release-42
cp /var/lib/airlock/journal-key.pub .
airlock journal export --store /var/lib/airlock --out audit-2026-q1.jsonl"
            .into(),
        _ => "true".into(),
    }
}

/// Every leaf command (by its path, e.g. `root sign`; `` for `airlock`
/// itself) and its `after_help`.
fn commands() -> BTreeMap<String, String> {
    fn walk(prefix: &str, cmd: &clap::Command, out: &mut BTreeMap<String, String>) {
        let help = cmd
            .get_after_help()
            .map(|h| h.to_string())
            .unwrap_or_default();
        let subs: Vec<&clap::Command> = cmd
            .get_subcommands()
            .filter(|c| c.get_name() != "help")
            .collect();
        if subs.is_empty() || prefix.is_empty() {
            out.insert(prefix.to_owned(), help);
        }
        for s in subs {
            let path = if prefix.is_empty() {
                s.get_name().to_owned()
            } else {
                format!("{prefix} {}", s.get_name())
            };
            walk(&path, s, out);
        }
    }
    let mut out = BTreeMap::new();
    walk("", &airlock::cli::Cli::command(), &mut out);
    out
}

/// The example lines of `after_help`: logical lines (continuations joined),
/// comments included.
fn examples(after_help: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_examples = false;
    let mut pending = String::new();
    for line in after_help.lines() {
        if line.starts_with("Example") {
            in_examples = true;
            continue;
        }
        if !in_examples {
            continue;
        }
        if line.trim().is_empty() || !line.starts_with("  ") {
            break;
        }
        let l = line.trim();
        if let Some(head) = l.strip_suffix('\\') {
            pending.push_str(head);
            continue;
        }
        pending.push_str(l);
        out.push(std::mem::take(&mut pending));
    }
    assert!(pending.is_empty(), "a continued line ends the examples");
    out
}

#[test]
fn every_command_has_an_example() {
    let missing: Vec<String> = commands()
        .into_iter()
        .filter(|(_, help)| examples(help).iter().all(|l| l.starts_with('#')))
        .map(|(cmd, _)| format!("airlock {cmd}"))
        .collect();
    assert!(missing.is_empty(), "no --help example: {missing:?}");
}

/// The scratch directory every command's examples start from.
fn prepare() -> World {
    let w = World::new();
    for k in ["root", "release", "owner", "builder"] {
        for ext in ["pem", "pub"] {
            std::fs::copy(
                w.path(&format!("keys/{k}.{ext}")),
                w.path(&format!("{k}.{ext}")),
            )
            .unwrap();
        }
    }
    for d in ["srv/incoming", "media/usb", "media/cdrom", "etc/airlock"] {
        std::fs::create_dir_all(w.path(d)).unwrap();
    }
    w.pack(
        "release-42.airlock",
        &["--channel", "stable", "--sequence", "42"],
    )
    .ok();
    w.pack(
        "release-43.airlock",
        &["--channel", "stable", "--sequence", "43"],
    )
    .ok();
    w.pack("rel.airlock", &["--sequence", "44"]).ok();
    w.run(&[
        "split",
        "release-42.airlock",
        "--size",
        "120kB",
        "--key",
        "release.pem",
        "--out",
        "media/usb/release-42.airlock",
    ])
    .ok();
    w.run(&[
        "split",
        "release-43.airlock",
        "--size",
        "120kB",
        "--key",
        "release.pem",
        "--out",
        "media/cdrom/release-43.airlock",
    ])
    .ok();
    w.run(&[
        "anchor",
        "init",
        "--store",
        "var/lib/airlock",
        "--root",
        "1.root.json",
        "--channel",
        "default",
        "stable",
    ])
    .ok();
    w
}

fn rebase(text: &str, dir: &Path) -> String {
    let mut s = text.to_owned();
    for p in REBASED {
        s = s.replace(p, &format!("{}{p}", dir.display()));
    }
    s
}

/// Runs `script` (already rebased) in `dir`: (exit, stdout, stderr).
fn bash(dir: &Path, script: &str, env: &[(String, String)]) -> (i32, String, String) {
    let airlock = Path::new(crate::common::airlock_bin());
    let path = format!(
        "{}:{}",
        airlock.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.args(["-uo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .env("HOME", dir)
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("AIRLOCK_STORE")
        .env_remove("AIRLOCK_LOCK_TIMEOUT")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The SoftHSM2 tokens the lines name (`pkcs11:token=LABEL`), made in one
/// configuration with the PIN at `etc/airlock/pin`: the environment for
/// the examples, or `None` when the test must skip.
fn tokens(
    w: &World,
    text: &str,
    keep: &mut Vec<crate::emulators::SoftHsm>,
) -> Option<Vec<(String, String)>> {
    let mut labels: Vec<&str> = text
        .match_indices("pkcs11:token=")
        .map(|(i, m)| {
            let rest = &text[i + m.len()..];
            &rest[..rest.find([';', '?', '\'']).unwrap_or(rest.len())]
        })
        .collect();
    labels.sort();
    labels.dedup();
    let Some(first) = labels.first() else {
        return Some(Vec::new());
    };
    let hsm = crate::emulators::SoftHsm::new("help_examples", first)?;
    let conf = hsm.conf().display().to_string();
    for label in &labels[1..] {
        let so = std::fs::read_to_string(hsm.dir.path().join("so.pin")).unwrap();
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", label])
            .args(["--pin", &hsm.pin(), "--so-pin", so.trim_end()])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    std::fs::copy(hsm.pin_file(), w.path("etc/airlock/pin")).unwrap();
    keep.push(hsm);
    Some(vec![("SOFTHSM2_CONF".to_owned(), conf)])
}

#[test]
fn every_help_example_runs_as_written() {
    let mut failures = Vec::new();
    for (cmd, help) in commands() {
        let lines: Vec<String> = examples(&help)
            .into_iter()
            .filter(|l| {
                !NOT_RUN
                    .iter()
                    .any(|(c, needle, _)| *c == cmd && l.contains(needle))
            })
            .collect();
        if lines.iter().all(|l| l.starts_with('#')) {
            continue;
        }
        let w = prepare();
        let dir = w.tmp.path().to_owned();
        let prelude = prelude(&cmd);
        let mut keep = Vec::new();
        let Some(env) = tokens(&w, &(prelude.clone() + &lines.join("\n")), &mut keep) else {
            continue;
        };
        let (code, _, err) = bash(&dir, &format!("set -e\n{}", rebase(&prelude, &dir)), &env);
        assert_eq!(code, 0, "airlock {cmd}: the prelude failed: {err}");
        let mut script = String::new();
        for (i, line) in lines.iter().enumerate() {
            if line.starts_with('#') {
                continue;
            }
            let want = EXIT
                .iter()
                .find(|(c, needle, _)| *c == cmd && line.contains(needle))
                .map_or(0, |e| e.2);
            script.push_str(&rebase(line, &dir));
            script.push_str(&format!(
                "\nrc=$?; if [ $rc -ne {want} ]; then echo \"example {i} exited $rc, not {want}\" >&2; exit 99; fi\n"
            ));
        }
        let (code, out, err) = bash(&dir, &script, &env);
        if code != 0 {
            failures.push(format!(
                "airlock {cmd} --help:\n{}\nstdout:\n{out}\nstderr:\n{err}",
                lines.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
