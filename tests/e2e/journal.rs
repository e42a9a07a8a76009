//! The audit journal: every deciding command writes its record; edits,
//! deletions, reordering, truncation, forged and torn records are found and
//! named; parallel writers are serialized; exports verify without a store;
//! a full disk refuses the import before anything is accepted.
use std::fs;
use std::path::Path;
use std::process::Command;

use airlock::journal::record::build;
use airlock_hsm::{FileSigner, Signer};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::{World, airlock_bin, airlock_in, anchor_init_args, pseudo_random};

/// The journal's records, parsed (the store's file, as is).
fn records(w: &World) -> Vec<Value> {
    fs::read_to_string(w.path("store/journal.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn event_and_outcome(r: &Value) -> (String, String) {
    (
        r["event"].as_str().unwrap().to_owned(),
        r["fields"]["outcome"].as_str().unwrap_or("-").to_owned(),
    )
}

fn error_code(r: &Value) -> &str {
    r["fields"]["error"]["code"].as_str().unwrap_or("")
}

/// `journal verify --store store --json`: exit code and first error code.
fn journal_verify(w: &World) -> (i32, String, String) {
    let r = w.run(&["journal", "verify", "--store", "store", "--json"]);
    let j = r.json();
    (
        r.code,
        j["errors"][0]["code"].as_str().unwrap_or("").to_owned(),
        j["errors"][0]["message"].as_str().unwrap_or("").to_owned(),
    )
}

#[test]
fn every_deciding_command_writes_its_record() {
    let w = World::new();
    // anchor init: the journal's start, then the provisioning.
    let r = records(&w);
    assert_eq!(
        r.iter().map(event_and_outcome).collect::<Vec<_>>(),
        vec![
            ("journal.started".into(), "-".into()),
            ("anchor.provisioned".into(), "-".into())
        ]
    );
    let keyid = r[0]["fields"]["journal_key"]["keyid"].as_str().unwrap();
    let spki = fs::read_to_string(w.path("store/journal-key.pub")).unwrap();
    let der = airlock_hsm::PublicKey::from_spki_pem(&spki)
        .unwrap()
        .to_spki_der();
    assert_eq!(keyid, hex::encode(Sha256::digest(der)));

    w.pack("rel.airlock", &["--channel", "stable", "--sequence", "7"])
        .ok();
    let v = w
        .run(&["verify", "rel.airlock", "--store", "store", "--json"])
        .ok()
        .json();
    let rec = records(&w).pop().unwrap();
    assert_eq!(
        event_and_outcome(&rec),
        ("verify".into(), "accepted".into())
    );
    let f = &rec["fields"];
    for k in [
        "bundle_id",
        "channel",
        "sequence",
        "manifest_sha256",
        "signers",
        "root_version",
        "artifacts",
        "artifact_bytes",
    ] {
        assert_eq!(f[k], v[k], "{k}");
    }
    assert_eq!(f["manifest_authenticated"], true);
    assert_eq!(f["at"], Value::Null);
    assert_eq!(rec["seq"], v["journal_record"]);

    // A refused bundle is journaled even when it is garbage: with the
    // file's SHA-256, the error code and message.
    let garbage = pseudo_random(10_000, 9);
    w.write("garbage.airlock", &garbage);
    let g = w.run(&["verify", "garbage.airlock", "--store", "store", "--json"]);
    assert_eq!(g.code, 1);
    let rec = records(&w).pop().unwrap();
    assert_eq!(event_and_outcome(&rec), ("verify".into(), "refused".into()));
    assert_eq!(error_code(&rec), g.error_code());
    assert_eq!(
        rec["fields"]["bundle_sha256"],
        hex::encode(Sha256::digest(&garbage))
    );
    assert_eq!(rec["fields"]["bundle_size"], 10_000);
    assert_eq!(rec["fields"]["bundle_id"], Value::Null);
    assert_eq!(
        rec["fields"]["error"]["message"],
        g.json()["errors"][0]["message"]
    );

    // A bundle that is not there: the run failed (exit 2), and says so.
    w.verify("missing.airlock").fails(2, "missing.airlock");
    let rec = records(&w).pop().unwrap();
    assert_eq!(event_and_outcome(&rec), ("verify".into(), "failed".into()));
    assert_eq!(error_code(&rec), "input-unreadable");

    // --at is journaled with the decision it changed.
    w.run(&[
        "verify",
        "rel.airlock",
        "--store",
        "store",
        "--at",
        "2030-01-01T00:00:00Z",
    ])
    .ok();
    let rec = records(&w).pop().unwrap();
    assert_eq!(rec["fields"]["at"], "2030-01-01T00:00:00Z");
    assert_eq!(rec["fields"]["verification_time"], "2030-01-01T00:00:00Z");

    // unpack: accepted with its destination; then refused as a replay.
    let u = w
        .run(&[
            "unpack",
            "rel.airlock",
            "--store",
            "store",
            "--to",
            "out",
            "--json",
        ])
        .ok()
        .json();
    let rec = records(&w).pop().unwrap();
    assert_eq!(
        event_and_outcome(&rec),
        ("unpack".into(), "accepted".into())
    );
    assert_eq!(rec["fields"]["destination"], u["destination"]);
    assert_eq!(rec["fields"]["bundle_id"], u["bundle_id"]);
    w.unpack("rel.airlock", "again").fails(1, "replay");
    let rec = records(&w).pop().unwrap();
    assert_eq!(event_and_outcome(&rec), ("unpack".into(), "refused".into()));
    assert_eq!(error_code(&rec), "replay");
    assert_eq!(rec["fields"]["manifest_authenticated"], true);

    // intoto verify with a store: journaled, --run-inspections and all.
    w.run(&[
        "intoto",
        "verify",
        "--layout",
        "root.layout",
        "--layout-key",
        "keys/owner.pub",
        "--link-dir",
        "links",
        "--artifacts",
        "dist",
        "--run-inspections",
        "--store",
        "store",
    ])
    .ok();
    let rec = records(&w).pop().unwrap();
    assert_eq!(
        event_and_outcome(&rec),
        ("intoto.verify".into(), "accepted".into())
    );
    assert_eq!(rec["fields"]["run_inspections"], true);
    let layout = fs::read(w.path("root.layout")).unwrap();
    assert_eq!(
        rec["fields"]["layout_sha256"],
        hex::encode(Sha256::digest(layout))
    );
    // Without a store nothing is journaled, and an override says so.
    let n = records(&w).len();
    let r = w
        .run(&[
            "intoto",
            "verify",
            "--layout",
            "root.layout",
            "--layout-key",
            "keys/owner.pub",
            "--link-dir",
            "links",
            "--artifacts",
            "dist",
            "--at",
            "2030-01-01T00:00:00Z",
        ])
        .ok();
    assert!(r.stderr.contains("not journaled"), "{}", r.stderr);
    assert_eq!(records(&w).len(), n);

    // The export is journaled too; the journal verifies throughout.
    w.run(&[
        "journal",
        "export",
        "--store",
        "store",
        "--out",
        "audit.jsonl",
    ])
    .ok();
    let rec = records(&w).pop().unwrap();
    assert_eq!(rec["event"], "journal.exported");
    assert_eq!(rec["fields"]["records"], rec["seq"]);
    assert_eq!(journal_verify(&w).0, 0);
    // The head the store binds is the last record.
    let state: Value =
        serde_json::from_str(&fs::read_to_string(w.path("store/state.json")).unwrap()).unwrap();
    let last = fs::read_to_string(w.path("store/journal.jsonl")).unwrap();
    let last = last.lines().last().unwrap();
    assert_eq!(state["journal"]["seq"], rec["seq"]);
    assert_eq!(
        state["journal"]["sha256"],
        hex::encode(Sha256::digest(last.as_bytes()))
    );
}

#[test]
fn an_import_that_rotates_the_root_records_the_anchor_advancing() {
    let w = World::new();
    w.run(&["keygen", "--out", "keys/root2"]).ok();
    w.run(&[
        "root",
        "init",
        "--layout-key",
        "keys/owner.pub",
        "--out",
        "2.root.json",
        "--root-version",
        "2",
        "--root-key",
        "keys/root2.pub",
        "--targets-key",
        "keys/release.pub",
        "--expires",
        "3650d",
    ])
    .ok();
    w.root_sign("2.root.json", &["keys/root.pem", "keys/root2.pem"], &[])
        .ok();
    w.record_build().ok();
    let epoch = crate::common::EPOCH.to_string();
    w.pack_raw(
        "rot.airlock",
        &["keys/release.pem"],
        "1.root.json",
        &[
            "--root",
            "2.root.json",
            "--source-date-epoch",
            &epoch,
            "--expires",
            "36500d",
        ],
    )
    .ok();
    let old = Sha256::digest(fs::read(w.path("1.root.json")).unwrap());
    let new = Sha256::digest(fs::read(w.path("2.root.json")).unwrap());
    w.unpack("rot.airlock", "out").ok();
    let r = records(&w);
    let (unpack, advanced) = (&r[r.len() - 2], &r[r.len() - 1]);
    assert_eq!(
        event_and_outcome(unpack),
        ("unpack".into(), "accepted".into())
    );
    assert_eq!(advanced["event"], "anchor.advanced");
    let f = &advanced["fields"];
    assert_eq!(
        (
            f["old_root_version"].as_u64(),
            f["new_root_version"].as_u64()
        ),
        (Some(1), Some(2))
    );
    assert_eq!(f["old_root_sha256"], hex::encode(old));
    assert_eq!(f["new_root_sha256"], hex::encode(new));
    assert_eq!(f["bundle_id"], unpack["fields"]["bundle_id"]);
    assert_eq!(journal_verify(&w).0, 0);
    // anchor init --replace is journaled with the anchor it replaces.
    w.run(&anchor_init_args(
        "store",
        "1.root.json",
        &["--replace", "--allow-older-root"],
    ))
    .ok();
    let rec = records(&w).pop().unwrap();
    assert_eq!(rec["event"], "anchor.provisioned");
    assert_eq!(rec["fields"]["root_version"], 1);
    assert_eq!(rec["fields"]["replaced"]["root_version"], 2);
    assert_eq!(rec["fields"]["replaced"]["root_sha256"], hex::encode(new));
    assert_eq!(journal_verify(&w).0, 0);
}

#[test]
fn the_records_of_a_demo_run_match_what_happened() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = airlock_in(tmp.path(), &["demo", "--dir", "d"]).ok();
    assert!(
        demo.stdout.contains("journal intact: 7 records"),
        "{}",
        demo.stdout
    );
    // the file store's disclaimer is told once, when the store is made
    assert_eq!(
        demo.stdout.matches("does NOT protect against").count(),
        1,
        "{}",
        demo.stdout
    );
    let show = airlock_in(
        tmp.path(),
        &["journal", "show", "--store", "d/store", "--json"],
    )
    .ok();
    let recs: Vec<Value> = show
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(String, String, String)> = recs
        .iter()
        .map(|r| {
            let (e, o) = event_and_outcome(r);
            (e, o, error_code(r).to_owned())
        })
        .collect();
    let want = [
        ("journal.started", "-", ""),
        ("anchor.provisioned", "-", ""),
        ("verify", "accepted", ""),
        ("verify", "refused", "digest-mismatch"),
        ("verify", "refused", "artifact-unbound"),
        ("unpack", "accepted", ""),
        ("unpack", "refused", "replay"),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(a, b, c)| ((*a).into(), (*b).into(), (*c).into()))
        .collect();
    assert_eq!(got, want);
    // The files the records name are the demo's.
    let file = |i: usize| {
        recs[i]["fields"]["bundle_file"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(file(3).ends_with("tampered.airlock") && file(4).ends_with("evil.airlock"));
    assert!(
        recs[5]["fields"]["destination"]
            .as_str()
            .unwrap()
            .ends_with("incoming/release-1")
    );
    // The accepted import and the demo's unpacked tree agree.
    assert_eq!(recs[5]["fields"]["artifacts"], 3);
    assert_eq!(
        recs[2]["fields"]["bundle_id"],
        recs[5]["fields"]["bundle_id"]
    );
    // Filters.
    let refused = airlock_in(
        tmp.path(),
        &[
            "journal",
            "show",
            "--store",
            "d/store",
            "--outcome",
            "refused",
            "--json",
        ],
    )
    .ok();
    assert_eq!(refused.stdout.lines().count(), 3);
    let id = recs[2]["fields"]["bundle_id"].as_str().unwrap();
    let by_bundle = airlock_in(
        tmp.path(),
        &[
            "journal",
            "show",
            "--store",
            "d/store",
            "--bundle",
            &id[..8],
        ],
    )
    .ok();
    assert_eq!(
        by_bundle
            .stdout
            .lines()
            .filter(|l| l.contains(&id[..16]))
            .count(),
        3
    );
    let none = airlock_in(
        tmp.path(),
        &[
            "journal",
            "show",
            "--store",
            "d/store",
            "--until",
            "2000-01-01T00:00:00Z",
            "--json",
        ],
    )
    .ok();
    assert_eq!(none.stdout, "");
}

/// A world with records 1..=5: start, provisioning, three verifies.
fn five_records() -> World {
    let w = World::new();
    w.pack("rel.airlock", &[]).ok();
    for _ in 0..3 {
        w.verify("rel.airlock").ok();
    }
    assert_eq!(records(&w).len(), 5);
    w
}

fn with_journal(w: &World, edit: impl FnOnce(&mut Vec<String>)) -> (i32, String, String) {
    let path = w.path("store/journal.jsonl");
    let original = fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = original.lines().map(str::to_owned).collect();
    edit(&mut lines);
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(&path, text).unwrap();
    let got = journal_verify(w);
    fs::write(&path, original).unwrap();
    got
}

#[test]
fn tampering_is_found_and_named() {
    let w = five_records();
    assert_eq!(journal_verify(&w).0, 0);

    // One byte flipped inside a signed field.
    let (code, err, msg) = with_journal(&w, |l| {
        l[2] = l[2].replacen("\"outcome\":\"accepted\"", "\"outcome\":\"accepteD\"", 1);
    });
    assert_eq!((code, err.as_str()), (1, "journal-signature"), "{msg}");
    assert!(
        msg.contains("journal record 3 (line 3) has a bad signature"),
        "{msg}"
    );

    // One byte flipped so that the line is no longer a record.
    let (code, err, msg) = with_journal(&w, |l| {
        l[3] = l[3].replacen("{\"event\"", "[\"event\"", 1);
    });
    assert_eq!((code, err.as_str()), (1, "journal-malformed"), "{msg}");
    assert!(
        msg.contains("journal line 4 is not a valid record"),
        "{msg}"
    );

    // A record deleted.
    let (code, err, msg) = with_journal(&w, |l| {
        l.remove(2);
    });
    assert_eq!((code, err.as_str()), (1, "journal-sequence"), "{msg}");
    assert!(
        msg.contains("journal line 3 holds record 4 where record 3 belongs"),
        "{msg}"
    );

    // Two records swapped.
    let (code, err, msg) = with_journal(&w, |l| l.swap(2, 3));
    assert_eq!((code, err.as_str()), (1, "journal-sequence"), "{msg}");
    assert!(msg.contains("line 3 holds record 4"), "{msg}");

    // The tail cut off (whole records).
    let (code, err, msg) = with_journal(&w, |l| {
        l.pop();
    });
    assert_eq!((code, err.as_str()), (1, "journal-truncated"), "{msg}");
    assert!(
        msg.contains("ends at record 4 but the store's head is record 5"),
        "{msg}"
    );
    let (code, err, _) = with_journal(&w, |l| l.clear());
    assert_eq!((code, err.as_str()), (1, "journal-malformed"));

    // A record forged without the key: chained correctly, signed by
    // another key (and, with the journal's keyid, a signature that does
    // not verify).
    let journal_key = fs::read_to_string(w.path("store/journal-key.pem")).unwrap();
    let real = FileSigner::from_pem(&journal_key).unwrap();
    let forger = FileSigner::generate().unwrap();
    let forge = |l: &mut Vec<String>, signer: &dyn Signer| {
        let prev: [u8; 32] = Sha256::digest(l[4].as_bytes()).into();
        let fields = serde_json::json!({"outcome": "accepted", "bundle_id": "evil"});
        let (line, _) = build(
            6,
            1_900_000_000,
            "unpack",
            fields.as_object().unwrap().clone(),
            prev,
            signer,
        )
        .unwrap();
        String::from_utf8(line).unwrap()
    };
    let (code, err, msg) = with_journal(&w, |l| {
        let line = forge(l, &forger);
        l.push(line);
    });
    assert_eq!((code, err.as_str()), (1, "journal-signature"), "{msg}");
    assert!(msg.contains("journal record 6 (line 6)"), "{msg}");
    assert!(msg.contains("not the journal key"), "{msg}");
    let real_keyid = airlock_hsm::journal::journal_keyid(real.public_key());
    let forger_keyid = airlock_hsm::journal::journal_keyid(forger.public_key());
    let (code, err, msg) = with_journal(&w, |l| {
        let line = forge(l, &forger).replace(&forger_keyid, &real_keyid);
        l.push(line);
    });
    assert_eq!((code, err.as_str()), (1, "journal-signature"), "{msg}");
    assert!(msg.contains("does not verify"), "{msg}");

    // Even with the key, rewriting the last record breaks the head the
    // store bound.
    let (code, err, msg) = with_journal(&w, |l| {
        let prev: [u8; 32] = Sha256::digest(l[3].as_bytes()).into();
        let (line, _) = build(
            5,
            1_900_000_000,
            "verify",
            serde_json::Map::new(),
            prev,
            &real,
        )
        .unwrap();
        l[4] = String::from_utf8(line).unwrap();
    });
    assert_eq!((code, err.as_str()), (1, "journal-head-mismatch"), "{msg}");

    // A command that would append to a tampered journal refuses (exit 3)
    // and records nothing.
    let path = w.path("store/journal.jsonl");
    let original = fs::read_to_string(&path).unwrap();
    let cut: Vec<&str> = original.lines().take(4).collect();
    fs::write(&path, cut.join("\n") + "\n").unwrap();
    let before = w.store_state();
    let r = w.run(&["verify", "rel.airlock", "--store", "store", "--json"]);
    assert_eq!((r.code, r.error_code().as_str()), (3, "journal-damaged"));
    assert_eq!(fs::read_to_string(&path).unwrap(), cut.join("\n") + "\n");
    assert_eq!(w.store_state(), before);
    fs::write(&path, original).unwrap();
    assert_eq!(journal_verify(&w).0, 0);
}

#[test]
fn a_torn_last_line_is_reported_and_recovered_only_on_request() {
    let w = five_records();
    let path = w.path("store/journal.jsonl");
    let original = fs::read(&path).unwrap();
    // Half of a genuine record 6, as a crash in the middle of the write
    // would leave it.
    let real = FileSigner::from_pem(&fs::read_to_string(w.path("store/journal-key.pem")).unwrap())
        .unwrap();
    let text = String::from_utf8(original.clone()).unwrap();
    let prev: [u8; 32] = Sha256::digest(text.lines().last().unwrap().as_bytes()).into();
    let (line, _) = build(
        6,
        1_900_000_000,
        "verify",
        serde_json::Map::new(),
        prev,
        &real,
    )
    .unwrap();
    let half = &line[..line.len() / 2];
    let mut torn = original.clone();
    torn.extend_from_slice(half);
    fs::write(&path, &torn).unwrap();

    let (code, err, msg) = journal_verify(&w);
    assert_eq!((code, err.as_str()), (1, "journal-torn"), "{msg}");
    assert!(
        msg.contains(&format!("journal line 6 is torn: {} bytes", half.len())),
        "{msg}"
    );
    // Nothing more is decided until someone looks: exit 3, nothing written.
    let r = w.run(&["verify", "rel.airlock", "--store", "store", "--json"]);
    assert_eq!((r.code, r.error_code().as_str()), (3, "journal-damaged"));
    assert!(
        r.json()["errors"][0]["hint"]
            .as_str()
            .unwrap()
            .contains("journal recover")
    );
    assert_eq!(fs::read(&path).unwrap(), torn, "never silently repaired");
    // `journal show` shows the records that check, then the error.
    let s = w.run(&["journal", "show", "--store", "store"]);
    assert_eq!(s.code, 1);
    assert_eq!(s.stdout.lines().filter(|l| l.contains("verify")).count(), 3);

    // The operator records the torn line; its bytes stay in the file.
    w.run(&["journal", "recover", "--store", "store"]).ok();
    let after = fs::read(&path).unwrap();
    assert!(after.starts_with(&torn));
    let (code, _, _) = journal_verify(&w);
    assert_eq!(code, 0);
    let v = w.run(&["journal", "verify", "--store", "store"]).ok();
    assert!(v.stderr.contains("line 6 is a torn record"), "{}", v.stderr);
    let last: Value =
        serde_json::from_str(String::from_utf8(after).unwrap().lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "journal.recovered");
    assert_eq!(last["seq"], 6);
    assert_eq!(last["fields"]["torn"]["line"], 6);
    assert_eq!(
        last["fields"]["torn"]["sha256"],
        hex::encode(Sha256::digest(half))
    );
    w.verify("rel.airlock").ok();
    assert_eq!(journal_verify(&w).0, 0);
}

#[test]
fn parallel_verifies_leave_a_journal_with_one_record_each() {
    let w = World::new();
    w.pack("rel.airlock", &[]).ok();
    let before = records(&w).len();
    let children: Vec<_> = (0..8)
        .map(|_| {
            Command::new(airlock_bin())
                .current_dir(w.tmp.path())
                .args(["verify", "rel.airlock", "--store", "store", "--quiet"])
                .env_remove("AIRLOCK_STORE")
                .output_spawn()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (code, _, msg) = journal_verify(&w);
    assert_eq!(code, 0, "{msg}");
    let r = records(&w);
    assert_eq!(r.len(), before + 8);
    let verifies = r
        .iter()
        .filter(|r| event_and_outcome(r) == ("verify".into(), "accepted".into()))
        .count();
    assert_eq!(verifies, 8);
}

trait SpawnQuiet {
    fn output_spawn(&mut self) -> std::process::Child;
}

impl SpawnQuiet for Command {
    fn output_spawn(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}

#[test]
fn an_export_verifies_without_the_store_and_edits_are_caught() {
    let w = five_records();
    let r = w
        .run(&[
            "journal",
            "export",
            "--store",
            "store",
            "--out",
            "audit.jsonl",
        ])
        .ok();
    assert!(
        r.stdout.contains("exported 6 journal records"),
        "{}",
        r.stdout
    );
    w.run(&[
        "journal",
        "export",
        "--store",
        "store",
        "--out",
        "audit.jsonl",
        "--json",
    ])
    .fails(3, "already exists");

    // The auditor's machine: another directory, no store, no AIRLOCK_STORE.
    let auditor = tempfile::tempdir().unwrap();
    let a = |rel: &str| auditor.path().join(rel);
    fs::copy(w.path("audit.jsonl"), a("audit.jsonl")).unwrap();
    fs::copy(w.path("store/journal-key.pub"), a("journal.pub")).unwrap();
    let check = |args: &[&str]| {
        let mut all = vec!["journal", "verify", "--export", "audit.jsonl", "--json"];
        all.extend(args);
        let r = airlock_in(auditor.path(), &all);
        let j = r.json();
        (
            r.code,
            j["errors"][0]["code"].as_str().unwrap_or("").to_owned(),
            j["errors"][0]["message"].as_str().unwrap_or("").to_owned(),
        )
    };
    let ok = airlock_in(
        auditor.path(),
        &["journal", "verify", "--export", "audit.jsonl"],
    )
    .ok();
    assert!(
        ok.stdout.contains("export intact: 6 records"),
        "{}",
        ok.stdout
    );
    assert!(ok.stderr.contains("no --key given"), "{}", ok.stderr);
    assert_eq!(check(&["--key", "journal.pub"]).0, 0);
    let other = FileSigner::generate().unwrap();
    fs::write(a("other.pub"), other.public_key().to_spki_pem()).unwrap();
    let (code, err, _) = check(&["--key", "other.pub"]);
    assert_eq!((code, err.as_str()), (1, "journal-key-mismatch"));

    let original = fs::read_to_string(a("audit.jsonl")).unwrap();
    let edit = |f: &dyn Fn(&mut Vec<String>)| {
        let mut lines: Vec<String> = original.lines().map(str::to_owned).collect();
        f(&mut lines);
        fs::write(a("audit.jsonl"), lines.join("\n") + "\n").unwrap();
        let got = check(&[]);
        fs::write(a("audit.jsonl"), &original).unwrap();
        got
    };
    // A byte of a record (line 4 of the file is record 3).
    let (code, err, msg) = edit(&|l| {
        l[3] = l[3].replacen("\"outcome\":\"accepted\"", "\"outcome\":\"accepteD\"", 1);
    });
    assert_eq!((code, err.as_str()), (1, "journal-signature"), "{msg}");
    assert!(msg.contains("journal record 3 (line 4)"), "{msg}");
    // The export's own record cut off.
    let (code, err, msg) = edit(&|l| {
        l.pop();
    });
    assert_eq!(
        (code, err.as_str()),
        (1, "journal-export-incomplete"),
        "{msg}"
    );
    // A record removed from the middle.
    let (code, err, _) = edit(&|l| {
        l.remove(2);
    });
    assert_eq!((code, err.as_str()), (1, "journal-sequence"));
    // The header's anchor swapped for another root.
    let (code, err, msg) = edit(&|l| {
        let mut h: Value = serde_json::from_str(&l[0]).unwrap();
        h["anchor"]["root_version"] = 9.into();
        l[0] = String::from_utf8(airlock::journal::canonical::encode(&h).unwrap()).unwrap();
    });
    assert_eq!(
        (code, err.as_str()),
        (1, "journal-export-mismatch"),
        "{msg}"
    );
    // The header's key swapped: the records no longer verify with it.
    let (code, err, msg) = edit(&|l| {
        let mut h: Value = serde_json::from_str(&l[0]).unwrap();
        h["journal_key"] = airlock::journal::key_field(other.public_key());
        l[0] = String::from_utf8(airlock::journal::canonical::encode(&h).unwrap()).unwrap();
    });
    assert_eq!((code, err.as_str()), (1, "journal-signature"), "{msg}");
    assert!(msg.contains("journal record 1 (line 2)"), "{msg}");
    // Not an export at all.
    fs::write(a("audit.jsonl"), "hello\n").unwrap();
    assert_eq!(check(&[]).1, "journal-export-malformed");
    fs::write(a("audit.jsonl"), &original).unwrap();
    assert_eq!(check(&[]).0, 0);
}

#[test]
fn a_store_from_before_the_journal_is_refused_until_the_journal_starts() {
    let w = World::new();
    w.pack("rel.airlock", &[]).ok();
    // What a store provisioned before the journal existed looks like.
    let state = w.path("store/state.json");
    let mut v: Value = serde_json::from_str(&fs::read_to_string(&state).unwrap()).unwrap();
    v["format"] = 1.into();
    v.as_object_mut().unwrap().remove("journal");
    fs::write(&state, v.to_string()).unwrap();
    for f in ["journal.jsonl", "journal-key.pem", "journal-key.pub"] {
        fs::remove_file(w.path(&format!("store/{f}"))).unwrap();
    }
    let r = w.run(&["verify", "rel.airlock", "--store", "store", "--json"]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (3, "journal-not-started")
    );
    let r = w.verify("rel.airlock").fails(3, "has no audit journal");
    assert!(r.stderr.contains("hint: this store was provisioned before airlock kept an audit journal: start one with `airlock journal init --store STORE`"));
    w.unpack("rel.airlock", "out")
        .fails(3, "has no audit journal");
    assert!(!w.path("out").exists());
    w.run(&["journal", "init", "--store", "store"]).ok();
    w.run(&["journal", "init", "--store", "store"])
        .fails(3, "already has a journal");
    w.unpack("rel.airlock", "out").ok();
    let r = records(&w);
    assert_eq!(event_and_outcome(&r[0]).0, "journal.started");
    assert_eq!(
        event_and_outcome(&r[1]),
        ("unpack".into(), "accepted".into())
    );
    assert_eq!(journal_verify(&w).0, 0);
}

/// Runs `script` with `sh` in a new user and mount namespace (so that it
/// may mount a tmpfs) in `dir`; `None` if such namespaces are not allowed.
fn in_mount_namespace(dir: &Path, script: &str) -> Option<String> {
    let probe = Command::new("unshare")
        .args([
            "-rm",
            "sh",
            "-c",
            "mkdir -p m && mount -t tmpfs -o size=64k tmpfs m && umount m",
        ])
        .current_dir(dir)
        .output()
        .ok()?;
    if !probe.status.success() {
        return None;
    }
    let out = Command::new("unshare")
        .args(["-rm", "sh", "-c", script])
        .current_dir(dir)
        .env_remove("AIRLOCK_STORE")
        .output()
        .unwrap();
    Some(format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

#[test]
fn a_full_disk_refuses_the_import_before_anything_is_accepted() {
    let w = World::new();
    w.pack("rel.airlock", &[]).ok();
    // Make the journal's last page nearly full, so that the import's record
    // needs a new page of the filesystem the test fills below.
    let mut runs = 0;
    loop {
        let len = fs::metadata(w.path("store/journal.jsonl")).unwrap().len();
        if 4096 - len % 4096 < 400 {
            break;
        }
        w.verify("rel.airlock").ok();
        runs += 1;
        assert!(runs < 64, "could not align the journal");
    }
    // The store moves to a small tmpfs, which is then filled; --to stays on
    // the ordinary filesystem, so staging works and the journal is the
    // first write that finds the disk full.
    let bin = airlock_bin();
    let script = format!(
        "set -u
        mkdir -p m incoming
        mount -t tmpfs -o size=256k tmpfs m
        cp -a store m/store
        dd if=/dev/zero of=m/fill bs=4096 2>/dev/null
        '{bin}' unpack rel.airlock --store m/store --to incoming/rel --json > unpack.json 2> unpack.err
        echo \"unpack=$?\"
        '{bin}' verify rel.airlock --store m/store --json > verify.json 2> verify.err
        echo \"verify=$?\"
        cmp store/journal.jsonl m/store/journal.jsonl && echo journal-unchanged
        cmp store/state.json m/store/state.json && echo state-unchanged
        ls -a incoming | tr '\\n' ' '; echo
        "
    );
    let Some(out) = in_mount_namespace(w.tmp.path(), &script) else {
        panic!(
            "this machine does not allow a tmpfs in a user namespace (unshare -rm); the full-disk test needs one"
        );
    };
    assert!(out.contains("unpack=3"), "{out}");
    assert!(out.contains("verify=3"), "{out}");
    assert!(out.contains("journal-unchanged"), "{out}");
    assert!(out.contains("state-unchanged"), "{out}");
    assert!(
        out.contains(". .. \n") || out.trim_end().ends_with(". .."),
        "nothing placed: {out}"
    );
    let unpack: Value =
        serde_json::from_str(&fs::read_to_string(w.path("unpack.json")).unwrap()).unwrap();
    assert_eq!(unpack["errors"][0]["code"], "journal-write-failed");
    assert!(
        unpack["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("No space left on device")
    );
    let verify: Value =
        serde_json::from_str(&fs::read_to_string(w.path("verify.json")).unwrap()).unwrap();
    assert_eq!(verify["errors"][0]["code"], "journal-write-failed");
    // Back on a disk with space, the same import goes through.
    w.unpack("rel.airlock", "incoming/rel").ok();
    assert_eq!(journal_verify(&w).0, 0);
}
