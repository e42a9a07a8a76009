//! The TPM trust store on a private swtpm per test: the whole story, the
//! write-once anchor (direct NV writes fail; replacing it needs the owner's
//! authorization), a root swapped into the store directory, and an older
//! copy of the store directory put back (rollback). Counter values are never
//! asserted as absolute numbers.
use std::fs;
use std::path::Path;
use std::process::Command;

use crate::common::{World, anchor_init_args, listing, tree};
use crate::emulators::{Swtpm, missing};

/// The TPM-held anchor index (hsm/src/tpm/device.rs).
const ANCHOR_INDEX: &str = "0x0150A1A0";

/// The fixture world plus a TPM store `tstore` provisioned with its root.
pub(crate) fn tpm_world(test: &str) -> Option<(World, Swtpm)> {
    let tpm = Swtpm::start(test)?;
    let w = World::new();
    tpm_init(&w, &tpm, "tstore", &[]).ok();
    Some((w, tpm))
}

/// `anchor init --store STORE --root 1.root.json --tpm TCTI EXTRA…`.
fn tpm_init(w: &World, tpm: &Swtpm, store: &str, extra: &[&str]) -> crate::common::Run {
    let tcti = tpm.tcti();
    let mut args = anchor_init_args(store, "1.root.json", &["--tpm", &tcti]);
    args.extend_from_slice(extra);
    w.run(&args)
}

fn verify(w: &World, bundle: &str) -> crate::common::Run {
    w.run(&["verify", bundle, "--store", "tstore", "--json"])
}

pub(crate) fn unpack(w: &World, bundle: &str, to: &str) -> crate::common::Run {
    w.run(&["unpack", bundle, "--store", "tstore", "--to", to, "--json"])
}

/// Runs a tpm2-tools command against `tpm`.
pub(crate) fn tpm2(tpm: &Swtpm, args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(args[0])
        .args(&args[1..])
        .current_dir(cwd)
        .env("TPM2TOOLS_TCTI", tpm.tcti())
        .env("TSS2_LOG", "all+none")
        .output()
        .unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn pack_verify_unpack_with_a_tpm_store() {
    let Some((w, _tpm)) = tpm_world("pack_verify_unpack_with_a_tpm_store") else {
        return;
    };
    let show = w
        .run(&["anchor", "show", "--store", "tstore", "--json"])
        .ok()
        .json();
    assert_eq!(show["backend"], "tpm");
    let protections = show["protections"].to_string();
    assert!(protections.contains("write-once"), "{protections}");
    assert!(protections.contains("monotonic counter"), "{protections}");
    assert!(
        protections.contains("does NOT protect against"),
        "{protections}"
    );
    // Later commands need only --store: the TCTI is recorded in the store.
    w.pack("rel.airlock", &["--channel", "stable", "--sequence", "3"])
        .ok();
    let v = verify(&w, "rel.airlock").ok().json();
    assert_eq!(v["sequence"], 3);
    unpack(&w, "rel.airlock", "out").ok();
    assert_eq!(tree(&w.path("out")), tree(&w.path("dist")));
    // The import is recorded: a replay is refused.
    let r = verify(&w, "rel.airlock");
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.error_code(), "replay");
    let show = w
        .run(&["anchor", "show", "--store", "tstore", "--json"])
        .ok()
        .json();
    assert_eq!(show["imported"], 1);
    assert_eq!(show["channels"]["stable"], 3);
    // A hardware store is not quietly re-provisioned as a file store.
    w.run(&anchor_init_args("tstore", "1.root.json", &["--replace"]))
        .fails(3, "cannot be re-provisioned as a file store");
}

#[test]
fn an_unreachable_tpm_is_an_environment_error() {
    let Some((w, tpm)) = tpm_world("an_unreachable_tpm_is_an_environment_error") else {
        return;
    };
    w.pack("rel.airlock", &[]).ok();
    drop(tpm);
    for args in [
        &["verify", "rel.airlock", "--store", "tstore", "--json"][..],
        &[
            "unpack",
            "rel.airlock",
            "--store",
            "tstore",
            "--to",
            "out",
            "--json",
        ][..],
    ] {
        let r = w.run(args);
        assert_eq!((r.code, r.error_code().as_str()), (3, "tpm-error"), "{r:?}");
        assert!(
            r.json()["errors"][0]["hint"]
                .as_str()
                .unwrap()
                .contains("TPM is reachable")
        );
    }
    assert!(!w.path("out").exists());
    // Only airlock's own lines: tpm2-tss's WARNING:/ERROR: lines are
    // silenced, unless the operator asks for them with TSS2_LOG.
    let r = w.run(&["anchor", "show", "--store", "tstore"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr
            .lines()
            .all(|l| l.starts_with("error: ") || l.starts_with("hint: ")),
        "{}",
        r.stderr
    );
    let out = std::process::Command::new(crate::common::airlock_bin())
        .args(["anchor", "show", "--store", "tstore"])
        .current_dir(w.path(""))
        .env("TSS2_LOG", "all+error")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ERROR:"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_tpm_anchor_is_write_locked_and_replacing_it_needs_the_owner() {
    let Some((w, tpm)) = tpm_world("the_tpm_anchor_is_write_locked") else {
        return;
    };
    if missing(
        "the_tpm_anchor_is_write_locked (tpm2-tools)",
        &["tpm2_nvwrite"],
    )
    .is_some()
    {
        return;
    }
    let before = w
        .run(&["anchor", "show", "--store", "tstore", "--json"])
        .ok()
        .json();
    // Direct writes to the NV index fail, with the owner's authorization
    // (empty on a fresh TPM) and with the index's own.
    w.write("forged.bin", &[0x66; 44]);
    for auth in ["o", ANCHOR_INDEX] {
        let o = tpm2(
            &tpm,
            &["tpm2_nvwrite", "-C", auth, "-i", "forged.bin", ANCHOR_INDEX],
            w.tmp.path(),
        );
        assert!(!o.status.success(), "tpm2_nvwrite -C {auth} must fail");
    }
    let after = w
        .run(&["anchor", "show", "--store", "tstore", "--json"])
        .ok()
        .json();
    assert_eq!(after["root"]["sha256"], before["root"]["sha256"]);

    // Provisioning again needs --replace, in this directory or any other.
    tpm_init(&w, &tpm, "tstore", &[]).fails(3, "already provisioned");
    tpm_init(&w, &tpm, "other", &[]).fails(3, "already provisioned");

    // Once the owner hierarchy has a password, --replace needs it.
    let o = tpm2(
        &tpm,
        &["tpm2_changeauth", "-c", "o", "owner-secret"],
        w.tmp.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = tpm_init(&w, &tpm, "tstore", &["--replace", "--json"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.error_code(), "tpm-error");
    assert!(
        r.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("owner authorization")
    );
    w.write("owner.pw", b"owner-secret\n");
    tpm_init(
        &w,
        &tpm,
        "tstore",
        &["--replace", "--owner-auth-file", "owner.pw"],
    )
    .ok();
    w.pack("rel.airlock", &[]).ok();
    verify(&w, "rel.airlock").ok();
}

/// A second, self-signed root made by an attacker (`evil.root.json`, or
/// version `version`).
fn evil_root(w: &World, out: &str, version: &str) {
    if !w.path("keys/evil.pem").exists() {
        w.run(&["keygen", "--out", "keys/evil"]).ok();
    }
    w.run(&[
        "root",
        "init",
        "--layout-key",
        "keys/owner.pub",
        "--out",
        out,
        "--root-key",
        "keys/evil.pub",
        "--targets-key",
        "keys/evil.pub",
        "--expires",
        "3650d",
        "--root-version",
        version,
    ])
    .ok();
    w.root_sign(out, &["keys/evil.pem"], &[]).ok();
}

#[test]
fn a_root_swapped_into_the_tpm_store_directory_is_detected() {
    let Some((w, _tpm)) = tpm_world("a_root_swapped_into_the_tpm_store_directory") else {
        return;
    };
    w.pack("rel.airlock", &[]).ok();
    let pristine_roots = w.path("pristine-roots");
    copy_dir(&w.path("tstore/roots"), &pristine_roots);
    let roots = listing(&w.path("tstore/roots"));
    assert_eq!(roots.len(), 1);
    let state_path = w.path("tstore/state.json");
    let current_state = || -> serde_json::Value {
        serde_json::from_slice(&fs::read(&state_path).unwrap()).unwrap()
    };

    // Refused, nothing unpacked; then the tampering is undone: the roots
    // as they were, and `undo` for the state. (A refusal the store can
    // still journal advances the TPM counter, so an older copy of the
    // whole directory cannot serve as the undo.)
    let expect_refused = |how: &str, undo: &dyn Fn()| {
        for r in [verify(&w, "rel.airlock"), unpack(&w, "rel.airlock", "out")] {
            assert_eq!(r.code, 3, "{how}: {r:?}");
            assert_eq!(r.error_code(), "store-anchor-mismatch", "{how}");
        }
        assert!(!w.path("out").exists(), "{how}: nothing unpacked");
        fs::remove_dir_all(w.path("tstore/roots")).unwrap();
        copy_dir(&pristine_roots, &w.path("tstore/roots"));
        undo();
        verify(&w, "rel.airlock").ok();
    };

    // (a) The anchored root file's content replaced.
    evil_root(&w, "evil.root.json", "1");
    fs::copy(
        w.path("evil.root.json"),
        w.path(&format!("tstore/roots/{}", roots[0])),
    )
    .unwrap();
    expect_refused("root file replaced", &|| {});

    // (b) The state pointed at the attacker's root, stored beside it.
    let evil = fs::read(w.path("evil.root.json")).unwrap();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&evil));
    fs::write(w.path(&format!("tstore/roots/1.{sha}.root.json")), &evil).unwrap();
    let before = fs::read(&state_path).unwrap();
    let mut s = current_state();
    s["anchors"][0]["sha256"] = sha.clone().into();
    fs::write(&state_path, serde_json::to_vec(&s).unwrap()).unwrap();
    // (The hardware-held root is not the state's first: nothing can be
    // journaled, so the state is as the tampering left it.)
    expect_refused("state points at another root", &|| {
        fs::write(&state_path, &before).unwrap()
    });

    // (c) A forged "rotation" to the attacker's version 2 appended.
    evil_root(&w, "2.evil.root.json", "2");
    let evil2 = fs::read(w.path("2.evil.root.json")).unwrap();
    let sha2 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&evil2));
    fs::write(w.path(&format!("tstore/roots/2.{sha2}.root.json")), &evil2).unwrap();
    let mut s = current_state();
    s["anchors"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"version": 2, "sha256": sha2}));
    fs::write(&state_path, serde_json::to_vec(&s).unwrap()).unwrap();
    // (The refusals were journaled: the state moved on, with the forged
    // rotation still in it.)
    expect_refused("forged rotation", &|| {
        let mut s = current_state();
        s["anchors"].as_array_mut().unwrap().pop();
        fs::write(&state_path, serde_json::to_vec(&s).unwrap()).unwrap();
    });
    // The refusals the store could journal are in its journal, which
    // verifies.
    w.run(&["journal", "verify", "--store", "tstore"]).ok();
}

#[test]
fn an_older_copy_of_the_tpm_store_directory_is_refused() {
    let Some((w, _tpm)) = tpm_world("an_older_copy_of_the_tpm_store_directory") else {
        return;
    };
    w.pack("one.airlock", &["--sequence", "1"]).ok();
    w.pack("two.airlock", &["--sequence", "2"]).ok();
    let backup = w.path("backup");
    copy_dir(&w.path("tstore"), &backup);
    unpack(&w, "one.airlock", "out1").ok();
    unpack(&w, "two.airlock", "out2").ok();

    // Put the older copy back: it would re-open sequence 1 and 2 and forget
    // both imports. The TPM counter has moved on, so it is refused.
    fs::remove_dir_all(w.path("tstore")).unwrap();
    copy_dir(&backup, &w.path("tstore"));
    let state_before = fs::read(w.path("tstore/state.json")).unwrap();
    for r in [
        verify(&w, "two.airlock"),
        unpack(&w, "two.airlock", "again"),
        w.run(&["anchor", "show", "--store", "tstore", "--json"]),
    ] {
        assert_eq!(r.code, 3, "{r:?}");
        assert_eq!(r.error_code(), "store-rolled-back");
    }
    assert!(!w.path("again").exists(), "nothing unpacked");
    assert_eq!(fs::read(w.path("tstore/state.json")).unwrap(), state_before);
    let r = w.run(&["verify", "two.airlock", "--store", "tstore"]);
    assert!(
        r.stderr
            .contains("hint: an older copy of the store directory"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_floor_on_a_tpm_store_is_bound_under_the_tpm_counter() {
    let Some((w, _tpm)) = tpm_world("a_floor_on_a_tpm_store") else {
        return;
    };
    w.pack("one.airlock", &["--sequence", "1"]).ok();
    w.pack("two.airlock", &["--sequence", "2"]).ok();
    let backup = w.path("backup");
    copy_dir(&w.path("tstore"), &backup);
    w.run(&[
        "anchor",
        "floor",
        "--store",
        "tstore",
        "--channel",
        "default",
        "--sequence",
        "2",
    ])
    .ok();
    let r = unpack(&w, "one.airlock", "out1");
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "sequence-below-floor"),
        "{}",
        r.stderr
    );
    assert!(!w.path("out1").exists());
    // The directory from before the floor, put back: refused.
    let current = w.path("current");
    copy_dir(&w.path("tstore"), &current);
    fs::remove_dir_all(w.path("tstore")).unwrap();
    copy_dir(&backup, &w.path("tstore"));
    let r = unpack(&w, "one.airlock", "out1");
    assert_eq!((r.code, r.error_code().as_str()), (3, "store-rolled-back"));
    assert!(!w.path("out1").exists());
    fs::remove_dir_all(w.path("tstore")).unwrap();
    copy_dir(&current, &w.path("tstore"));
    unpack(&w, "two.airlock", "out2").ok();
    let show = w
        .run(&["anchor", "show", "--store", "tstore", "--json"])
        .ok();
    assert_eq!(show.json()["floors"], serde_json::json!({"default": 2}));
}

#[test]
fn a_rotation_accepted_into_a_tpm_store_extends_the_checked_chain() {
    let Some((w, _tpm)) = tpm_world("a_rotation_accepted_into_a_tpm_store") else {
        return;
    };
    w.run(&["keygen", "--out", "keys/root2"]).ok();
    w.run(&[
        "root",
        "init",
        "--layout-key",
        "keys/owner.pub",
        "--out",
        "2.root.json",
        "--root-key",
        "keys/root2.pub",
        "--targets-key",
        "keys/release.pub",
        "--expires",
        "3650d",
        "--root-version",
        "2",
    ])
    .ok();
    w.root_sign("2.root.json", &["keys/root.pem", "keys/root2.pem"], &[])
        .ok();
    w.record_build().ok();
    w.pack_raw(
        "rot.airlock",
        &["keys/release.pem"],
        "1.root.json",
        &["--root", "2.root.json", "--sequence", "1"],
    )
    .ok();
    let r = unpack(&w, "rot.airlock", "out").ok();
    assert_eq!(r.json()["root_version"], 2);
    let show = w
        .run(&["anchor", "show", "--store", "tstore", "--json"])
        .ok()
        .json();
    assert_eq!(show["root"]["version"], 2);
    assert_eq!(show["root_chain"].as_array().unwrap().len(), 2);
    // The TPM still holds version 1; the chain to version 2 is checked.
    assert!(show["protections"].to_string().contains("root version 1"));
    w.pack_raw(
        "next.airlock",
        &["keys/release.pem"],
        "2.root.json",
        &["--sequence", "2"],
    )
    .ok();
    verify(&w, "next.airlock").ok();

    // The rotated root's file replaced by the attacker's version 2.
    evil_root(&w, "2.evil.root.json", "2");
    let name = listing(&w.path("tstore/roots"))
        .into_iter()
        .find(|n| n.starts_with("2."))
        .unwrap();
    fs::copy(
        w.path("2.evil.root.json"),
        w.path(&format!("tstore/roots/{name}")),
    )
    .unwrap();
    let r = verify(&w, "next.airlock");
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.error_code(), "store-corrupt");
}

#[test]
fn a_cleared_tpm_is_reported_and_replace_recovers_keeping_the_state() {
    let Some((w, tpm)) = tpm_world("a_cleared_tpm_is_reported") else {
        return;
    };
    if missing("a_cleared_tpm_is_reported (tpm2-tools)", &["tpm2_clear"]).is_some() {
        return;
    }
    w.pack("one.airlock", &["--sequence", "1"]).ok();
    unpack(&w, "one.airlock", "out").ok();
    let o = tpm2(&tpm, &["tpm2_clear", "-c", "l"], w.tmp.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = verify(&w, "one.airlock");
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.error_code(), "tpm-error");
    assert!(
        r.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("holds no airlock anchor")
    );
    tpm_init(&w, &tpm, "tstore", &["--replace"]).ok();
    // The imports recorded before the clear are kept: still a replay.
    let r = verify(&w, "one.airlock");
    assert_eq!((r.code, r.error_code().as_str()), (1, "replay"));
    // The journal carries on with the same TPM key (derived from the
    // endorsement seed, which a clear keeps), and verifies.
    let r = w.run(&["journal", "verify", "--store", "tstore", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let show = w
        .run(&["journal", "show", "--store", "tstore", "--json"])
        .ok();
    let provisioned = show
        .stdout
        .lines()
        .filter(|l| l.contains("\"anchor.provisioned\""))
        .count();
    assert_eq!(provisioned, 2, "{}", show.stdout);
}

#[test]
fn every_import_extends_pcr_23_with_the_bundle_id() {
    let Some((w, tpm)) = tpm_world("every_import_extends_pcr_23") else {
        return;
    };
    if missing(
        "every_import_extends_pcr_23 (tpm2-tools)",
        &["tpm2_pcrread"],
    )
    .is_some()
    {
        return;
    }
    let pcr = || {
        let o = tpm2(
            &tpm,
            &["tpm2_pcrread", "sha256:23", "-o", "pcr.bin"],
            w.tmp.path(),
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        fs::read(w.path("pcr.bin")).unwrap()
    };
    let mut expected = pcr();
    for seq in ["1", "2"] {
        let name = format!("b{seq}.airlock");
        w.pack(&name, &["--sequence", seq]).ok();
        verify(&w, &name).ok();
        let id = unpack(&w, &name, &format!("out{seq}")).ok().json()["bundle_id"]
            .as_str()
            .unwrap()
            .to_owned();
        // PCR_new = SHA-256(PCR_old ‖ SHA-256(bundle id)); verify extends nothing.
        let mut h = <sha2::Sha256 as sha2::Digest>::new();
        sha2::Digest::update(&mut h, &expected);
        sha2::Digest::update(
            &mut h,
            <sha2::Sha256 as sha2::Digest>::digest(id.as_bytes()),
        );
        expected = sha2::Digest::finalize(h).to_vec();
        assert_eq!(pcr(), expected, "after importing {name}");
    }
}

/// `journal verify --store tstore --json`: exit code, first error code, and
/// the JSON.
fn journal_verify(w: &World) -> (i32, String, serde_json::Value) {
    let r = w.run(&["journal", "verify", "--store", "tstore", "--json"]);
    let j = r.json();
    (
        r.code,
        j["errors"][0]["code"].as_str().unwrap_or("").to_owned(),
        j,
    )
}

#[test]
fn the_tpm_store_journal_is_signed_in_the_tpm_and_cutting_it_back_is_detected() {
    let Some(tpm) = Swtpm::start("the_tpm_store_journal_is_signed_in_the_tpm") else {
        return;
    };
    let w = World::new();
    let init = tpm_init(&w, &tpm, "tstore", &["--json"]).ok().json();
    let keyid = init["journal_keyid"].as_str().unwrap().to_owned();
    // No key material in the store directory: the key is in the TPM.
    let files = listing(&w.path("tstore"));
    assert!(
        files.iter().all(|f| !f.starts_with("journal-key")),
        "{files:?}"
    );
    w.pack("one.airlock", &["--sequence", "1"]).ok();
    w.pack("two.airlock", &["--sequence", "2"]).ok();
    verify(&w, "one.airlock").ok();
    unpack(&w, "one.airlock", "out1").ok();
    assert_eq!(verify(&w, "one.airlock").error_code(), "replay");
    let (code, _, j) = journal_verify(&w);
    assert_eq!(code, 0, "{j}");
    assert_eq!(j["journal_keyid"], keyid.as_str());
    let records: Vec<serde_json::Value> = fs::read_to_string(w.path("tstore/journal.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events: Vec<(&str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["event"].as_str().unwrap(),
                r["fields"]["outcome"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("journal.started", "-"),
            ("anchor.provisioned", "-"),
            ("verify", "accepted"),
            ("unpack", "accepted"),
            ("verify", "refused"),
        ]
    );
    assert_eq!(records[0]["fields"]["backend"], "tpm");
    assert_eq!(records[0]["fields"]["journal_key"]["keyid"], keyid.as_str());
    for r in &records {
        assert_eq!(r["sig"]["alg"], "ecdsa-p256-sha256");
        assert_eq!(r["sig"]["keyid"], keyid.as_str());
    }
    // An export verifies on its own, with the key the TPM holds.
    w.run(&[
        "journal",
        "export",
        "--store",
        "tstore",
        "--out",
        "audit.jsonl",
    ])
    .ok();
    let e = w
        .run(&["journal", "verify", "--export", "audit.jsonl", "--json"])
        .ok()
        .json();
    assert_eq!(e["journal_keyid"], keyid.as_str());

    // The store and journal as they are now; then one more import.
    let state_then = fs::read(w.path("tstore/state.json")).unwrap();
    let journal_then = fs::read(w.path("tstore/journal.jsonl")).unwrap();
    unpack(&w, "two.airlock", "out2").ok();
    assert_eq!(journal_verify(&w).0, 0);
    let journal_now = fs::read(w.path("tstore/journal.jsonl")).unwrap();

    // The journal cut back to before the import: its end no longer reaches
    // the bound head.
    fs::write(w.path("tstore/journal.jsonl"), &journal_then).unwrap();
    let (code, err, j) = journal_verify(&w);
    assert_eq!((code, err.as_str()), (1, "journal-truncated"), "{j}");

    // Cut back together with the state that matched it (what a file store
    // cannot tell from the real thing): the TPM counter has moved on.
    fs::write(w.path("tstore/state.json"), &state_then).unwrap();
    let (code, err, j) = journal_verify(&w);
    assert_eq!((code, err.as_str()), (1, "journal-head-rolled-back"), "{j}");
    assert!(
        j["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("older copy of the store"),
        "{j}"
    );
    // Deciding commands refuse to work on it (and write nothing).
    let r = verify(&w, "two.airlock");
    assert_eq!((r.code, r.error_code().as_str()), (3, "store-rolled-back"));
    assert_eq!(
        fs::read(w.path("tstore/journal.jsonl")).unwrap(),
        journal_then
    );
    // The whole journal put back is no cure: the state is still the old
    // copy.
    fs::write(w.path("tstore/journal.jsonl"), &journal_now).unwrap();
    let (code, err, j) = journal_verify(&w);
    assert_eq!((code, err.as_str()), (1, "journal-head-rolled-back"), "{j}");
    // Nor is re-provisioning: `anchor init --replace` on the same TPM does
    // not bind the older state anew.
    let r = tpm_init(&w, &tpm, "tstore", &["--replace", "--json"]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (3, "store-rolled-back"),
        "{r:?}"
    );
    assert_eq!(fs::read(w.path("tstore/state.json")).unwrap(), state_then);
}

#[test]
fn a_file_store_with_a_journal_is_not_moved_onto_a_tpm() {
    let Some(tpm) = Swtpm::start("a_file_store_with_a_journal_is_not_moved_onto_a_tpm") else {
        return;
    };
    let w = World::new();
    let before = tree(&w.path("store"));
    let r = tpm_init(&w, &tpm, "store", &["--replace", "--json"]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (3, "journal-key-changed"),
        "{r:?}"
    );
    assert!(r.stderr.contains("journal export"), "{}", r.stderr);
    assert_eq!(tree(&w.path("store")), before, "the store is unchanged");
    // …and so is the TPM: no anchor was written into it.
    let o = tpm2(&tpm, &["tpm2_getcap", "handles-nv-index"], w.tmp.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let listed = String::from_utf8_lossy(&o.stdout).to_lowercase();
    assert!(!listed.contains(&ANCHOR_INDEX.to_lowercase()), "{listed}");
}

#[test]
fn a_file_store_moves_onto_a_tpm_with_a_new_journal_keeping_its_state() {
    let Some(tpm) = Swtpm::start("a_file_store_moves_onto_a_tpm_with_a_new_journal") else {
        return;
    };
    let w = World::new();
    w.pack("one.airlock", &["--sequence", "1"]).ok();
    w.unpack("one.airlock", "out").ok();
    let old_journal = fs::read(w.path("store/journal.jsonl")).unwrap();
    let old_head: serde_json::Value =
        serde_json::from_slice(&fs::read(w.path("store/state.json")).unwrap()).unwrap();
    let r = tpm_init(&w, &tpm, "store", &["--replace", "--new-journal", "--json"])
        .ok()
        .json();
    // The old journal is kept byte for byte under its closed name.
    let closed = format!(
        "journal.closed-{}-{}.jsonl",
        &old_head["journal"]["key"].as_str().unwrap()[..16],
        old_head["journal"]["seq"]
    );
    assert_eq!(r["closed_journals"], serde_json::json!([closed]));
    assert_eq!(
        fs::read(w.path(&format!("store/{closed}"))).unwrap(),
        old_journal
    );
    // The new journal starts from the kept state, signed in the TPM.
    let first: serde_json::Value = serde_json::from_str(
        fs::read_to_string(w.path("store/journal.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["event"], "journal.started");
    assert_eq!(first["fields"]["backend"], "tpm");
    assert_eq!(first["fields"]["imported"], 1);
    assert_eq!(first["sig"]["alg"], "ecdsa-p256-sha256");
    let r = w.run(&["journal", "verify", "--store", "store", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["journal_keyid"], first["sig"]["keyid"]);
    // The public key for the auditors, from the store (the private half is in the TPM).
    let show = w
        .run(&["anchor", "show", "--store", "store", "--json"])
        .ok()
        .json();
    let pem = show["journal"]["public_key_pem"].as_str().unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
    fs::write(w.path("tpm-journal.pub"), pem).unwrap();
    w.run(&[
        "journal",
        "export",
        "--store",
        "store",
        "--out",
        "audit.jsonl",
    ])
    .ok();
    w.run(&[
        "journal",
        "verify",
        "--export",
        "audit.jsonl",
        "--key",
        "tpm-journal.pub",
    ])
    .ok();
    // The import made on the file store is remembered: still a replay.
    let r = w.run(&["verify", "one.airlock", "--store", "store", "--json"]);
    assert_eq!((r.code, r.error_code().as_str()), (1, "replay"));
    // --new-journal is for hardware only.
    let r = w.run(&anchor_init_args(
        "other",
        "1.root.json",
        &["--replace", "--new-journal"],
    ));
    assert_eq!(r.code, 2, "{r:?}");
}

#[test]
fn a_refused_anchor_init_leaves_the_directory_as_it_was() {
    let Some(tpm) = Swtpm::start("a_refused_anchor_init_leaves_the_directory") else {
        return;
    };
    let w = World::new();
    // A directory with a journal but no store configuration (an
    // interrupted init, or a lost airlock-store.json): refused, and the
    // journal and state are left for investigation.
    fs::create_dir_all(w.path("half")).unwrap();
    fs::write(w.path("half/journal.jsonl"), b"{\"seq\":1}\n").unwrap();
    fs::write(w.path("half/state.json"), b"{}").unwrap();
    let before = tree(&w.path("half"));
    let r = tpm_init(&w, &tpm, "half", &["--json"]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (3, "store-corrupt"),
        "{r:?}"
    );
    // (Only the lock file is new.)
    let mut after = tree(&w.path("half"));
    after.retain(|(name, ..)| name != "lock");
    assert_eq!(after, before);
    // A second init of a provisioned store is refused and removes nothing.
    tpm_init(&w, &tpm, "tstore", &[]).ok();
    let before = tree(&w.path("tstore"));
    let r = tpm_init(&w, &tpm, "tstore", &["--json"]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (3, "store-already-provisioned"),
        "{r:?}"
    );
    assert_eq!(tree(&w.path("tstore")), before);
    w.run(&["journal", "verify", "--store", "tstore"]).ok();
}

/// The enclave policy on a TPM store (docs/policy.md): a swapped policy
/// file is detected, an older copy of the store without the policy is a
/// rollback, and the receipt is signed by the TPM-resident journal key.
#[test]
fn a_policy_swapped_on_a_tpm_store_is_detected_and_receipts_are_signed_in_the_tpm() {
    let Some((w, _tpm)) = tpm_world("a_policy_swapped_on_a_tpm_store") else {
        return;
    };
    w.pack("one.airlock", &["--sequence", "1"]).ok();
    let backup = w.path("backup");
    copy_dir(&w.path("tstore"), &backup);
    w.write(
        "never.toml",
        b"format = 1\nlanguage = \"cel\"\n[[rule]]\nname = \"never\"\nexpr = \"false\"\n",
    );
    let set = w
        .run(&["policy", "set", "--store", "tstore", "never.toml", "--json"])
        .ok();
    let sha = set.json()["policy"]["sha256"].as_str().unwrap().to_owned();
    assert_eq!(verify(&w, "one.airlock").error_code(), "policy-denied");
    // The file swapped for one that admits everything: detected.
    let file = w.path(&format!("tstore/policy/{sha}.toml"));
    let saved = fs::read(&file).unwrap();
    fs::write(
        &file,
        b"format = 1\nlanguage = \"cel\"\n[[rule]]\nname = \"never\"\nexpr = \"true\"\n",
    )
    .unwrap();
    let r = unpack(&w, "one.airlock", "out");
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (3, "policy-tampered"),
        "{}",
        r.stderr
    );
    assert!(!w.path("out").exists());
    fs::write(&file, saved).unwrap();
    // The store put back as it was before the policy: the TPM counter has
    // moved on, so it is refused.
    let current = w.path("current");
    copy_dir(&w.path("tstore"), &current);
    fs::remove_dir_all(w.path("tstore")).unwrap();
    copy_dir(&backup, &w.path("tstore"));
    let r = unpack(&w, "one.airlock", "out");
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (3, "store-rolled-back"),
        "{}",
        r.stderr
    );
    assert!(!w.path("out").exists());
    fs::remove_dir_all(w.path("tstore")).unwrap();
    copy_dir(&current, &w.path("tstore"));
    // Admitted under a policy that holds: the receipt verifies with the
    // TPM journal key (its SubjectPublicKeyInfo, from record 1).
    w.write(
        "any.toml",
        b"format = 1\nlanguage = \"cel\"\n[[rule]]\nname = \"any\"\nexpr = \"true\"\n",
    );
    w.run(&["policy", "set", "--store", "tstore", "any.toml"])
        .ok();
    unpack(&w, "one.airlock", "out").ok();
    w.assert_receipt_signed_by_journal_key("tstore", "tpm-journal.pub");
}
