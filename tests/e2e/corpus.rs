//! The adversarial corpus (tests/vectors/corpus, made by
//! scripts/gen-adversarial-corpus.py from bundle-format/SPEC.md,
//! METADATA.md and the docs alone, never from airlock's code): every bundle
//! gets the verdict its file name states. `accept--*` is verified and
//! unpacked; `<code>--*` is refused by `verify --json` and by `unpack` with
//! exactly that code and the exit code docs/codes.md gives it, `--to` never
//! appears and nothing is written outside the store. A directory
//! `<code>--<case>/` is a split bundle: airlock is given its first file.
//! One test walks the whole corpus and fails with the list of every
//! disagreement, not just the first; another checks that the committed
//! corpus is exactly what the generator writes.
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{Run, airlock_in};

/// Bundles on which airlock's verdict differs from the one the SPEC gives:
/// (file name, what `verify` says, what `unpack` says), each as `exit code`
/// (`0` = accepted). The corpus keeps the SPEC's verdict in the file name
/// (tests/vectors/corpus/README.md lists these under "Disagreements", with
/// the section); the test expects airlock's verdicts here instead, and fails
/// when airlock comes to agree with the SPEC, so that the entry is removed.
/// Nothing here changes airlock: each is a finding for the SPEC's owner.
const KNOWN_DISAGREEMENTS: &[(&str, &str, &str)] = &[];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/corpus")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The exit code of every error code, from the table in docs/codes.md.
fn exit_codes() -> BTreeMap<String, i32> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/codes.md");
    let mut out = BTreeMap::new();
    for line in fs::read_to_string(path).unwrap().lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if let [_, code, exit, ..] = cells.as_slice()
            && let (Some(code), Ok(exit)) = (
                code.strip_prefix('`').and_then(|c| c.strip_suffix('`')),
                exit.parse(),
            )
        {
            out.insert(code.to_owned(), exit);
        }
    }
    out
}

/// `exit code` of a `--json` run (`0` when accepted).
fn verdict(r: &Run) -> String {
    if r.code == 0 {
        "0".to_owned()
    } else {
        format!("{} {}", r.code, r.error_code())
    }
}

/// The first `error:` line, for the report.
fn error_line(r: &Run) -> String {
    r.stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or("")
        .chars()
        .take(240)
        .collect()
}

/// Every path under `root` (with its size for files), except the top-level
/// names in `skip`.
fn snapshot(root: &Path, skip: &[&str]) -> BTreeSet<(String, u64)> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if d == root && skip.contains(&rel.as_str()) {
                continue;
            }
            let meta = e.path().symlink_metadata().unwrap();
            if meta.is_dir() {
                stack.push(e.path());
            }
            out.insert((rel, if meta.is_file() { meta.len() } else { 0 }));
        }
    }
    out
}

fn anchor(tmp: &Path, store: &str, channels: &[&str]) {
    let root = dir().join("1.root.json");
    let mut args = vec![
        "anchor",
        "init",
        "--store",
        store,
        "--root",
        s(&root),
        "--channel",
    ];
    args.extend(channels);
    airlock_in(tmp, &args).ok();
}

#[test]
fn every_corpus_bundle_gets_the_verdict_the_spec_gives_it() {
    let at = fs::read_to_string(dir().join("at.txt")).unwrap();
    let at = at.trim();
    let channels = fs::read_to_string(dir().join("channels.txt")).unwrap();
    let channels: Vec<&str> = channels.split_whitespace().collect();
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    anchor(t, "store", &channels);
    let exits = exit_codes();
    let mut bundles: Vec<PathBuf> = fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "airlock")
                || (p.is_dir() && p.file_name().unwrap().to_str().unwrap().contains("--"))
        })
        .collect();
    bundles.sort();
    assert!(bundles.len() >= 150, "only {} bundles", bundles.len());
    let corpus_before = snapshot(&dir(), &[]);
    let mut problems = Vec::new();
    let mut seen_known = BTreeSet::new();
    for (i, case) in bundles.iter().enumerate() {
        let name = case.file_name().unwrap().to_str().unwrap();
        // A split bundle: its first volume.
        let b = &if case.is_dir() {
            let mut v: Vec<PathBuf> = fs::read_dir(case)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            v.sort();
            v.remove(0)
        } else {
            case.clone()
        };
        let (code, _) = name
            .split_once("--")
            .unwrap_or_else(|| panic!("{name}: a corpus file is <code>--<case>.airlock"));
        let spec = if code == "accept" {
            "0".to_owned()
        } else {
            let exit = exits
                .get(code)
                .unwrap_or_else(|| panic!("{name}: {code} is not in docs/codes.md"));
            format!("{exit} {code}")
        };
        let known = KNOWN_DISAGREEMENTS.iter().find(|(n, _, _)| *n == name);
        let (want, want_unpack) = match known {
            Some((n, verify, unpack)) => {
                seen_known.insert(*n);
                ((*verify).to_owned(), (*unpack).to_owned())
            }
            None => (spec.clone(), spec.clone()),
        };
        let mut agrees = true;

        let v = airlock_in(
            t,
            &["verify", s(b), "--store", "store", "--json", "--at", at],
        );
        let got = verdict(&v);
        agrees &= got == spec;
        if got != want && !(known.is_some() && got == spec) {
            problems.push(format!(
                "{name}: verify: expected {want}, got {got} {}",
                error_line(&v)
            ));
        }

        let dest = t.join(format!("dest-{i}"));
        let before = snapshot(t, &["store"]);
        if code == "accept" {
            // Accepting commits the store's state (sequence, bundle id): a
            // store of its own for each.
            let store = format!("store-{i}");
            anchor(t, &store, &channels);
            let u = airlock_in(
                t,
                &[
                    "unpack",
                    s(b),
                    "--store",
                    &store,
                    "--to",
                    s(&dest),
                    "--json",
                    "--at",
                    at,
                ],
            );
            let got = verdict(&u);
            agrees &= got == spec && dest.is_dir();
            if (got != want_unpack && !(known.is_some() && got == spec))
                || (u.code == 0 && !dest.is_dir())
            {
                problems.push(format!(
                    "{name}: unpack: expected {want_unpack}, got {got} {}",
                    error_line(&u)
                ));
            }
            fs::remove_dir_all(t.join(&store)).unwrap();
            if dest.exists() {
                remove_tree(&dest);
            }
            // An accepted unpack leaves its receipt beside --to
            // (docs/policy.md), a refused one nothing.
            let mut receipt = dest.clone().into_os_string();
            receipt.push(".receipt.dsse.json");
            let receipt = std::path::PathBuf::from(receipt);
            if receipt.exists() != (u.code == 0) {
                problems.push(format!(
                    "{name}: unpack exited {} and left a receipt: {}",
                    u.code,
                    receipt.exists()
                ));
            }
            let _ = fs::remove_file(&receipt);
            // The bundle's metadata, delivered beside --to on success.
            // (DEST.airlock-metadata, docs/isolated-side.md)
            let mut metadata = t.join(&dest).into_os_string();
            metadata.push(".airlock-metadata");
            let metadata = std::path::PathBuf::from(metadata);
            if metadata.exists() {
                remove_tree(&metadata);
            }
            let after = snapshot(t, &["store"]);
            if after != before {
                let new: Vec<_> = after.difference(&before).collect();
                problems.push(format!("{name}: unpack left files beside --to: {new:?}"));
            }
        } else {
            let u = airlock_in(
                t,
                &[
                    "unpack",
                    s(b),
                    "--store",
                    "store",
                    "--to",
                    s(&dest),
                    "--json",
                    "--at",
                    at,
                ],
            );
            let got = verdict(&u);
            agrees &= got == spec;
            if got != want_unpack && !(known.is_some() && got == spec) {
                problems.push(format!(
                    "{name}: unpack: expected {want_unpack}, got {got} {}",
                    error_line(&u)
                ));
            }
            if dest.exists() {
                problems.push(format!(
                    "{name}: unpack refused but {} exists",
                    dest.display()
                ));
            }
            if u.code == 0 {
                // It was accepted after all: the store moved on. Start
                // afresh so that this does not cascade into the rest.
                fs::remove_dir_all(t.join("store")).unwrap();
                anchor(t, "store", &channels);
                remove_tree(&dest);
            }
            let after = snapshot(t, &["store"]);
            if after != before {
                let new: Vec<_> = after.difference(&before).collect();
                problems.push(format!("{name}: unpack wrote outside the store: {new:?}"));
            }
        }
        if known.is_some() && agrees {
            problems.push(format!(
                "{name}: airlock now agrees with the SPEC: remove it from KNOWN_DISAGREEMENTS"
            ));
        }
    }
    for (n, _, _) in KNOWN_DISAGREEMENTS {
        if !seen_known.contains(n) {
            problems.push(format!(
                "KNOWN_DISAGREEMENTS names {n}, which is not in the corpus"
            ));
        }
    }
    if snapshot(&dir(), &[]) != corpus_before {
        problems.push("the corpus directory changed".to_owned());
    }
    assert!(
        problems.is_empty(),
        "{} disagreement(s) over {} corpus bundles:\n{}",
        problems.len(),
        bundles.len(),
        problems.join("\n")
    );
}

/// Removes an unpacked tree: it may be read-only (modes come from the
/// manifest) and deeper than PATH_MAX (a 4096-byte path below it), so
/// `chmod -R` and `rm -rf`, which walk by directory handle, do it.
fn remove_tree(p: &Path) {
    let run = |cmd: &str, args: &[&str]| {
        std::process::Command::new(cmd)
            .args(args)
            .arg(p)
            .status()
            .unwrap_or_else(|e| panic!("{cmd}: {e}"))
    };
    run("chmod", &["-R", "u+rwx"]);
    assert!(run("rm", &["-rf"]).success(), "rm -rf {}", p.display());
}

/// The committed corpus is exactly what its generator writes: running
/// scripts/gen-adversarial-corpus.py again reproduces every file byte for
/// byte (fixed keys, times and compressor), so the corpus cannot drift from
/// the script that documents it.
#[test]
fn the_corpus_is_what_its_generator_writes() {
    let Some(py) = crate::spec_writer::python() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gen-adversarial-corpus.py");
    let out = std::process::Command::new(py)
        .arg(script)
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gen-adversarial-corpus.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (want, got) = (snapshot(&dir(), &[]), snapshot(tmp.path(), &[]));
    assert_eq!(
        want.symmetric_difference(&got).collect::<Vec<_>>(),
        Vec::<&(String, u64)>::new(),
        "the generator writes other files than the committed corpus"
    );
    for (rel, _) in &want {
        let a = dir().join(rel);
        if a.is_file() {
            assert!(
                fs::read(&a).unwrap() == fs::read(tmp.path().join(rel)).unwrap(),
                "{rel} differs from what the generator writes: regenerate the corpus"
            );
        }
    }
}
