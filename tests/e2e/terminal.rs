//! Strings from a bundle (artifact paths, step names) and a bundle's file
//! name never reach the terminal raw: no control, bidi or line-separator
//! character in any message, table row or success line, while `--json` and
//! the journal keep the exact strings (issues 13.3 and 15.6).
use std::fs;

use crate::common::World;
use crate::crafted::Crafted;

/// What the tests smuggle in: CSI (C1), RLO (bidi override), LINE
/// SEPARATOR, ESC and a line feed.
const HOSTILE: [char; 5] = ['\u{9b}', '\u{202e}', '\u{2028}', '\u{1b}', '\n'];

/// No hostile character except the line feeds that end lines, and every
/// line one of the tool's own (no forged line).
#[track_caller]
fn assert_safe(what: &str, text: &str, line_ok: &dyn Fn(&str) -> bool) {
    for c in text.chars() {
        assert!(
            c == '\n' || !(HOSTILE.contains(&c) || airlock::cmd::terminal::is_unsafe(c)),
            "{what} holds a raw {c:?}: {text:?}"
        );
    }
    for l in text.lines() {
        assert!(
            line_ok(l),
            "{what} has a line that is not the tool's: {l:?}"
        );
    }
}

/// stderr of a failed run: only `error:`, `hint:` and `warning:` lines.
#[track_caller]
fn assert_safe_stderr(what: &str, text: &str) {
    assert_safe(what, text, &|l| {
        l.starts_with("error: ") || l.starts_with("hint: ") || l.starts_with("warning: ")
    });
}

fn any_line(_: &str) -> bool {
    true
}

/// The journal's records, parsed from the file itself.
fn journal(w: &World) -> Vec<serde_json::Value> {
    fs::read_to_string(w.path("store/journal.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `journal show`: escaped, one row per record (nothing forged), and
/// `--json`: terminal-safe text whose parsed records equal the journal's.
#[track_caller]
fn assert_journal_show_safe(w: &World) {
    let records = journal(w);
    let show = w.run(&["journal", "show", "--store", "store"]).ok();
    assert_safe("journal show", &show.stdout, &any_line);
    // Header, one row per record, the summary line.
    assert_eq!(
        show.stdout.lines().count(),
        records.len() + 2,
        "{}",
        show.stdout
    );
    for (row, r) in show.stdout.lines().skip(1).zip(&records) {
        assert!(
            row.trim_start().starts_with(&format!("{}  ", r["seq"])),
            "forged row {row:?}"
        );
    }
    let json = w
        .run(&["journal", "show", "--store", "store", "--json"])
        .ok();
    assert_safe("journal show --json", &json.stdout, &any_line);
    let parsed: Vec<serde_json::Value> = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(parsed, records);
}

#[test]
fn a_hostile_bundle_file_name_is_escaped_everywhere() {
    let w = World::new();
    w.pack("good.airlock", &[]).ok();
    let name = "x\u{9b}31m\u{202e}lmth.exe\u{2028}\u{1b}[2J\n    9  2026-01-01T00:00:00Z  unpack  accepted  forged.airlock";
    // Refused: the file is not a bundle.
    fs::write(w.path(name), b"not a bundle").unwrap();
    let r = w.verify(name);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_safe_stderr("verify stderr (refused)", &r.stderr);
    assert_safe("verify stdout (refused)", &r.stdout, &any_line);
    // Accepted: the same name, a good bundle.
    fs::copy(w.path("good.airlock"), w.path(name)).unwrap();
    let r = w.verify(name).ok();
    assert_safe("verify stdout (accepted)", &r.stdout, &any_line);
    assert_safe("verify stderr (accepted)", &r.stderr, &any_line);
    assert!(
        r.stdout.contains("\\u{202e}lmth.exe\\u{2028}\\u{1b}[2J\\n"),
        "{}",
        r.stdout
    );
    let r = w
        .run(&["unpack", name, "--store", "store", "--to", "out"])
        .ok();
    assert_safe("unpack stdout", &r.stdout, &any_line);
    // The journal keeps the exact name; `journal show` escapes it.
    let records = journal(&w);
    let files: Vec<&str> = records
        .iter()
        .filter_map(|r| r["fields"]["bundle_file"].as_str())
        .collect();
    assert_eq!(files, [name, name, name]);
    assert_journal_show_safe(&w);
}

#[test]
fn hostile_artifact_paths_in_refusals_are_escaped_and_kept_exact_in_json() {
    let w = World::new();
    // A C1 control makes the name unportable: a POSIX-only bundle may carry it.
    let path = "z\u{9b}31m\u{202e}gpj.exe\u{2028}";
    let mut c = Crafted::standard(&w)
        .with_chain(&w)
        .artifact(path, b"unbound\n");
    c.posix_names = true;
    let b = c.write_as_is(&w, "unbound.airlock");
    for cmd in ["verify", "unpack"] {
        let mut args = vec![cmd, &b, "--store", "store"];
        if cmd == "unpack" {
            args.extend(["--to", "out"]);
        }
        let r = w.run(&args);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert_safe_stderr(&format!("{cmd} stderr"), &r.stderr);
        args.push("--json");
        let r = w.run(&args);
        assert_eq!(r.error_code(), "artifact-unbound", "{}", r.stderr);
        assert_safe(&format!("{cmd} --json"), &r.stdout, &any_line);
        let message = r.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains(path), "{message:?}");
    }
    assert!(!w.path("out").exists());
    let last = journal(&w).pop().unwrap();
    assert!(
        last["fields"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains(path),
        "{last}"
    );
    // ESC and a line feed are refused in any path; the refusal quotes it.
    let b = Crafted::standard(&w)
        .artifact("z\u{1b}[2J\nforged", b"x")
        .write(&w, "esc.airlock");
    let r = w.verify(&b);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_safe_stderr("unsafe-path stderr", &r.stderr);
    assert_journal_show_safe(&w);
}

#[test]
fn a_hostile_product_step_in_a_refusal_is_escaped() {
    let w = World::new();
    let step = "nope\u{202e}\u{2066}\u{2028}";
    let mut c = Crafted::standard(&w);
    c.product_step = Some(step.into());
    let b = c.write(&w, "step.airlock");
    let r = w.verify(&b);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_safe_stderr("verify stderr", &r.stderr);
    let r = w.run(&["verify", &b, "--store", "store", "--json"]);
    assert_eq!(r.error_code(), "product-step-unknown", "{}", r.stderr);
    assert_safe("verify --json", &r.stdout, &any_line);
    assert!(
        r.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(step)
    );
    assert_journal_show_safe(&w);
}

#[test]
fn a_hostile_step_name_in_success_lines_is_escaped() {
    let w = World::new();
    let step = "b\u{202e}dliub\u{2028}";
    w.write_layout(&[(step, "builder", &[], &[&["ALLOW", "*"]])]);
    for e in fs::read_dir(w.path("links")).unwrap() {
        fs::remove_file(e.unwrap().path()).unwrap();
    }
    w.run(&[
        "record",
        "--name",
        step,
        "--key",
        "keys/builder.pem",
        "--products",
        "dist",
        "--lstrip-paths",
        "dist/",
        "--exclude",
        "__none__",
        "--out-dir",
        "links",
    ])
    .ok();
    let p = w
        .pack_raw("s.airlock", &["keys/release.pem"], "1.root.json", &[])
        .ok();
    assert_safe("pack stdout", &p.stdout, &any_line);
    assert!(
        p.stdout.contains("'b\\u{202e}dliub\\u{2028}'"),
        "{}",
        p.stdout
    );
    let v = w.verify("s.airlock").ok();
    assert_safe("verify stdout", &v.stdout, &any_line);
    let j = w
        .run(&["verify", "s.airlock", "--store", "store", "--json"])
        .ok();
    assert_safe("verify --json", &j.stdout, &any_line);
    assert_eq!(j.json()["product_step"], step);
    let u = w
        .run(&["unpack", "s.airlock", "--store", "store", "--to", "out"])
        .ok();
    assert_safe("unpack stdout", &u.stdout, &any_line);
    assert_journal_show_safe(&w);
}
