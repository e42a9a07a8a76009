//! docs/json.md is the `--json` contract: every top-level field a command
//! prints is in that command's section, every field the section says is
//! always there is printed, and errors (usage errors too) have exactly the
//! documented shape.
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::common::{Run, World};

/// The document.
fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/json.md")).unwrap()
}

/// One documented field: its name and whether the table says `always`.
struct Field {
    name: String,
    always: bool,
}

/// The fields of the section headed `## \`section\`` (or `## section`):
/// the backticked names in the first column of its tables.
fn section(doc: &str, section: &str) -> Vec<Field> {
    let headings = [format!("## `{section}`"), format!("## {section}")];
    let mut lines = doc.lines().skip_while(|l| !headings.iter().any(|h| l == h));
    assert!(
        lines.next().is_some(),
        "docs/json.md has no section `## `{section}``"
    );
    let mut fields = Vec::new();
    for l in lines.take_while(|l| !l.starts_with("## ")) {
        let cells: Vec<&str> = l.split('|').map(str::trim).collect();
        // "| `name` | type | when | meaning |" -> ["", "`name`", ...]
        if cells.len() < 4 || !cells[1].starts_with('`') {
            continue;
        }
        let name = cells[1].trim_matches('`').to_owned();
        let when = cells.get(3).copied().unwrap_or("");
        fields.push(Field {
            name,
            always: when.starts_with("always") || when.starts_with("each record"),
        });
    }
    fields
}

/// Collects what the runs printed and what docs/json.md does not say.
struct Contract {
    doc: String,
    emitted: BTreeMap<String, BTreeSet<String>>,
    problems: Vec<String>,
}

impl Contract {
    fn new() -> Contract {
        Contract {
            doc: doc(),
            emitted: BTreeMap::new(),
            problems: Vec::new(),
        }
    }

    fn documented(&self, cmd: &str) -> BTreeSet<String> {
        section(&self.doc, cmd)
            .into_iter()
            .map(|f| f.name)
            .collect()
    }

    /// Records one object's top-level keys under `cmd`.
    fn keys(&mut self, cmd: &str, obj: &serde_json::Map<String, Value>) {
        let documented = self.documented(cmd);
        for k in obj.keys() {
            if !documented.contains(k) {
                self.problems.push(format!(
                    "`{cmd}` prints `{k}`, which its section does not list"
                ));
            }
        }
        self.emitted
            .entry(cmd.to_owned())
            .or_default()
            .extend(obj.keys().cloned());
    }

    /// A successful `--json` run of `cmd`: one object, schema 1, ok true,
    /// every field documented. Returns the object.
    #[track_caller]
    fn check(&mut self, cmd: &str, r: Run) -> Value {
        let r = r.ok();
        assert_eq!(
            r.stdout.lines().count(),
            1,
            "`{cmd} --json` printed more than one line:\n{}",
            r.stdout
        );
        let v = r.json();
        let obj = v
            .as_object()
            .unwrap_or_else(|| panic!("`{cmd} --json` is not an object: {v}"));
        assert_eq!(obj.get("schema"), Some(&Value::from(1)), "{cmd}: {v}");
        assert_eq!(obj.get("ok"), Some(&Value::Bool(true)), "{cmd}: {v}");
        let mut fields = obj.clone();
        fields.remove("schema");
        fields.remove("ok");
        self.keys(cmd, &fields);
        v
    }

    /// The reverse check: a field the doc says is always there must have
    /// been printed by every command that ran.
    fn always_printed(&mut self) {
        for (cmd, seen) in &self.emitted {
            for f in section(&self.doc, cmd) {
                if f.always && !seen.contains(&f.name) {
                    self.problems.push(format!(
                        "`{cmd}`: `{}` is documented as always present but was not printed",
                        f.name
                    ));
                }
            }
        }
    }
}

/// Asserts `r` is exactly one documented error object with `code` and exit
/// `exit`, and nothing else on stdout.
#[track_caller]
fn error_object(r: &Run, exit: i32, code: &str) {
    assert_eq!(r.code, exit, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    let v = r.json();
    let obj = v.as_object().unwrap();
    let envelope: BTreeSet<String> = section(&doc(), "The envelope")
        .into_iter()
        .map(|f| f.name)
        .collect();
    let keys: BTreeSet<&str> = obj.keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["schema", "ok", "errors"]), "{v}");
    for k in ["schema", "ok", "errors", "code", "message", "hint"] {
        assert!(envelope.contains(k), "the envelope section lacks `{k}`");
    }
    assert_eq!(v["schema"], 1);
    assert_eq!(v["ok"], false);
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{v}");
    let e = errors[0].as_object().unwrap();
    let members: BTreeSet<&str> = e.keys().map(String::as_str).collect();
    assert_eq!(members, BTreeSet::from(["code", "message", "hint"]), "{v}");
    assert!(e.values().all(Value::is_string), "{v}");
    assert_eq!(e["code"], code, "{v}");
    assert!(!e["hint"].as_str().unwrap().is_empty(), "{v}");
    // The people's lines still go to stderr (for a command line clap
    // refuses, clap's own message and usage).
    assert!(
        r.stderr.lines().any(|l| l.starts_with("error: ")),
        "{}",
        r.stderr
    );
    let clap_refused = r.stderr.lines().any(|l| l.starts_with("Usage: "));
    assert!(
        clap_refused || r.stderr.lines().any(|l| l.starts_with("hint: ")),
        "{}",
        r.stderr
    );
}

#[test]
fn every_json_field_is_documented() {
    let w = World::new();
    let mut c = Contract::new();
    let run = |args: &[&str]| {
        let mut a = args.to_vec();
        a.push("--json");
        w.run(&a)
    };

    // Keys and roots.
    c.check("keygen", run(&["keygen", "--out", "keys/extra"]));
    c.check(
        "key id",
        run(&["key", "id", "keys/extra.pub", "keys/root.pub"]),
    );
    c.check("key show", run(&["key", "show", "keys/extra.pub"]));
    c.check(
        "root init",
        run(&[
            "root",
            "init",
            "--out",
            "other.root.json",
            "--root-key",
            "keys/extra.pub",
            "--targets-key",
            "keys/release.pub",
            "--layout-key",
            "keys/owner.pub",
        ]),
    );
    c.check(
        "root sign",
        run(&["root", "sign", "other.root.json", "--key", "keys/extra.pem"]),
    );
    c.check(
        "root rotate",
        run(&[
            "root",
            "rotate",
            "--from",
            "1.root.json",
            "--out",
            "2.root.json",
            "--add-root-key",
            "keys/extra.pub",
        ]),
    );
    let signed = c.check(
        "root sign",
        run(&[
            "root",
            "sign",
            "2.root.json",
            "--key",
            "keys/root.pem",
            "keys/extra.pem",
        ]),
    );
    assert!(signed["previous"].is_object(), "{signed}");
    c.check(
        "root verify",
        run(&["root", "verify", "--trusted", "1.root.json", "2.root.json"]),
    );

    // The supply chain.
    c.check(
        "record",
        run(&[
            "record",
            "--name",
            "build",
            "--key",
            "keys/builder.pem",
            "--products",
            "dist",
            "--lstrip-paths",
            "dist/",
            "--out-dir",
            "links",
        ]),
    );
    c.check(
        "layout new",
        run(&[
            "layout",
            "new",
            "--out",
            "new.layout",
            "--step",
            "build=keys/builder.pub",
        ]),
    );
    c.check(
        "layout sign",
        run(&["layout", "sign", "new.layout", "--key", "keys/owner.pem"]),
    );
    c.check(
        "intoto verify",
        run(&[
            "intoto",
            "verify",
            "--layout",
            "root.layout",
            "--layout-key",
            "keys/owner.pub",
            "--link-dir",
            "links",
        ]),
    );

    let sigstore = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/sigstore");
    let at = |f: &str| sigstore.join(f).display().to_string();
    c.check(
        "sigstore verify",
        run(&[
            "sigstore",
            "verify",
            &at("pass_dsse_github_workflow.sigstore.json"),
            "--artifact",
            &at("pypi_attestation_models-0.0.4a2.tar.gz"),
            "--trusted-root",
            &at("trusted_root.production.json"),
            "--certificate-identity",
            "https://github.com/trailofbits/pypi-attestation-models/.github/workflows/release.yml@refs/tags/v0.0.4a2",
            "--certificate-oidc-issuer",
            "https://token.actions.githubusercontent.com",
        ]),
    );

    // Bundles and volumes.
    c.check("pack", w.pack("rel.airlock", &["--json"]));
    c.check("inspect", run(&["inspect", "rel.airlock"]));
    let split = c.check(
        "pack",
        w.pack("split.airlock", &["--split", "200kB", "--json"]),
    );
    assert!(split["volumes"].is_array(), "{split}");
    std::fs::create_dir(w.path("vol")).unwrap();
    c.check(
        "split",
        run(&[
            "split",
            "rel.airlock",
            "--size",
            "200kB",
            "--key",
            "keys/release.pem",
            "--out",
            "vol/rel.airlock",
        ]),
    );
    let insp = c.check("inspect", run(&["inspect", "vol/rel.airlock.001"]));
    assert!(insp["volumes"].is_array(), "{insp}");
    let vols: Vec<String> = (1..=insp["volumes"].as_array().unwrap().len())
        .map(|n| format!("vol/rel.airlock.{n:03}"))
        .collect();
    let mut check_args = vec!["volumes", "check"];
    check_args.extend(vols.iter().map(String::as_str));
    check_args.extend(["--store", "store"]);
    c.check("volumes check", run(&check_args));
    // The enclave policy (docs/policy.md), then verify and unpack under it.
    w.write(
        "allow.toml",
        b"format = 1\nname = \"allow\"\nlanguage = \"cel\"\n[[rule]]\nname = \"any-channel\"\nexpr = \"manifest.channel != ''\"\n",
    );
    c.check(
        "policy test",
        run(&[
            "policy",
            "test",
            "allow.toml",
            "rel.airlock",
            "--store",
            "store",
        ]),
    );
    c.check(
        "policy set",
        run(&["policy", "set", "--store", "store", "allow.toml"]),
    );
    c.check("policy show", run(&["policy", "show", "--store", "store"]));
    c.check(
        "verify",
        run(&["verify", "rel.airlock", "--store", "store"]),
    );
    c.check(
        "unpack",
        run(&["unpack", "rel.airlock", "--store", "store", "--to", "out"]),
    );
    c.check(
        "receipt verify",
        run(&[
            "receipt",
            "verify",
            "out.receipt.dsse.json",
            "--key",
            "store/journal-key.pub",
        ]),
    );
    c.check(
        "policy clear",
        run(&["policy", "clear", "--store", "store"]),
    );

    // The store.
    c.check("anchor show", run(&["anchor", "show", "--store", "store"]));
    c.check(
        "anchor channels",
        run(&[
            "anchor", "channels", "--store", "store", "--allow", "nightly",
        ]),
    );
    let trusted_root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/sigstore/trusted_root.production.json");
    c.check(
        "anchor sigstore",
        run(&[
            "anchor",
            "sigstore",
            "--store",
            "store",
            "--trusted-root",
            trusted_root.to_str().unwrap(),
            "--identity",
            "release@example.org",
            "--issuer",
            "https://issuer.example.org",
        ]),
    );
    c.check(
        "anchor sigstore",
        run(&["anchor", "sigstore", "--store", "store"]),
    );
    c.check(
        "anchor init",
        run(&[
            "anchor",
            "init",
            "--store",
            "store2",
            "--root",
            "1.root.json",
            "--channel",
            "stable",
        ]),
    );

    // The journal: `show` prints the records themselves, one a line.
    let r = run(&["journal", "show", "--store", "store"]).ok();
    assert!(r.stdout.lines().count() > 3, "{}", r.stdout);
    for line in r.stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(v.get("ok").is_none() && v.get("schema").is_none(), "{v}");
        c.keys("journal show", v.as_object().unwrap());
    }
    c.check(
        "journal verify",
        run(&["journal", "verify", "--store", "store"]),
    );
    c.check(
        "journal export",
        run(&[
            "journal",
            "export",
            "--store",
            "store",
            "--out",
            "audit.jsonl",
        ]),
    );
    c.check(
        "journal verify",
        run(&["journal", "verify", "--export", "audit.jsonl"]),
    );
    c.check(
        "journal export",
        run(&[
            "journal", "export", "--store", "store", "--format", "cef", "--out", "a.cef",
        ]),
    );
    c.check(
        "journal report",
        run(&["journal", "report", "--store", "store", "--out", "r.html"]),
    );
    c.check(
        "journal recover",
        run(&["journal", "recover", "--store", "store"]),
    );
    // A UDP receiver needs nobody to read: the socket only has to exist.
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = format!("udp://127.0.0.1:{}", sink.local_addr().unwrap().port());
    let f = c.check(
        "journal forward",
        run(&["journal", "forward", "--store", "store", "--to", &to]),
    );
    assert!(f["sent"].as_u64().unwrap() > 0, "{f}");
    let m = c.check("metrics", run(&["metrics", "--store", "store"]));
    assert!(
        m["metrics"]
            .as_str()
            .unwrap()
            .contains("airlock_journal_intact 1"),
        "{m}"
    );
    c.check(
        "metrics",
        run(&["metrics", "--store", "store", "--out", "m.prom"]),
    );

    // Projects and the rest.
    c.check("init", run(&["init", "proj"]));
    c.check("man", run(&["man", "--out", "man"]));
    c.check("demo", run(&["demo", "--dir", "demo"]));

    c.always_printed();
    assert!(
        c.problems.is_empty(),
        "docs/json.md does not match the --json output:\n  {}",
        c.problems.join("\n  ")
    );
}

#[test]
fn errors_and_usage_errors_have_the_documented_shape() {
    let w = World::new();
    w.write("junk.airlock", b"");
    error_object(
        &w.run(&["verify", "junk.airlock", "--store", "store", "--json"]),
        1,
        "bundle-truncated",
    );
    error_object(&w.run(&["pack", "--bogus", "--json"]), 2, "usage");
    error_object(&w.run(&["--json", "anchor", "show"]), 2, "usage");
}

/// What would print text on stdout is refused under `--json` (stdout carries
/// JSON only), before anything is written.
#[test]
fn text_only_outputs_refuse_json() {
    let w = World::new();
    error_object(&w.run(&["completions", "bash", "--json"]), 2, "usage");
    let journal = std::fs::read(w.path("store/journal.jsonl")).unwrap();
    for format in ["cef", "syslog"] {
        let r = w.run(&[
            "journal", "export", "--store", "store", "--format", format, "--json",
        ]);
        error_object(&r, 2, "usage");
    }
    assert_eq!(
        std::fs::read(w.path("store/journal.jsonl")).unwrap(),
        journal,
        "a refused export journals nothing"
    );
    // jsonl: the records, one JSON object a line, as `journal show --json`.
    let r = w
        .run(&[
            "journal", "export", "--store", "store", "--format", "jsonl", "--json",
        ])
        .ok();
    for line in r.stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(v.get("seq").is_some(), "{v}");
    }
}

/// Every command of the command line (each leaf of the clap tree) has its
/// section in docs/json.md.
#[test]
fn every_command_has_a_section() {
    use clap::CommandFactory;
    fn leaves(cmd: &clap::Command, prefix: &str, out: &mut Vec<String>) {
        let subs: Vec<&clap::Command> = cmd
            .get_subcommands()
            .filter(|s| s.get_name() != "help")
            .collect();
        if subs.is_empty() {
            out.push(prefix.trim().to_owned());
        }
        for s in subs {
            leaves(s, &format!("{prefix} {}", s.get_name()), out);
        }
    }
    let mut commands = Vec::new();
    leaves(&airlock::cli::Cli::command(), "", &mut commands);
    assert!(commands.len() > 30, "{commands:?}");
    let doc = doc();
    let missing: Vec<&String> = commands
        .iter()
        .filter(|c| !doc.lines().any(|l| l == format!("## `{c}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/json.md has no section for {missing:?}"
    );
}

/// `publish` (into an OCI layout: no registry needed), and `pack` and
/// `inspect` of a bundle with images.
#[test]
fn publish_fields_are_documented() {
    use crate::images::{image_world, pack_images, record_with_images};
    const APP: &str = "oci:src:team/app:1.0";
    let w = image_world();
    record_with_images(&w, &[APP], &[]);
    let mut c = Contract::new();
    let p = c.check(
        "pack",
        pack_images(
            &w,
            "img.airlock",
            &[APP],
            &["--channel", "stable", "--json"],
        ),
    );
    assert_eq!(p["images"].as_array().unwrap().len(), 1, "{p}");
    let i = c.check("inspect", w.run(&["inspect", "img.airlock", "--json"]));
    assert_eq!(i["images"].as_array().unwrap().len(), 1, "{i}");
    c.check(
        "publish",
        w.run(&[
            "publish",
            "img.airlock",
            "--store",
            "store",
            "--registry",
            "oci:enclave",
            "--json",
        ]),
    );
    c.always_printed();
    assert!(
        c.problems.is_empty(),
        "docs/json.md does not match the --json output:\n  {}",
        c.problems.join("\n  ")
    );
}
