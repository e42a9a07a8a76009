//! The ledger of accepted bundle ids (the store's `ledger` file, which its
//! state binds by count, length and hash chain): an edited, cut, replaced
//! or missing ledger is refused as a damaged store when the replay check
//! reads it, with nothing accepted; bytes beyond the bound length (what an
//! import killed between its append and its commit leaves) are ignored.
use std::fs;

use crate::common::World;

/// A store that imported sequences 1 and 2 (`s1.airlock`, `s2.airlock`),
/// and its ledger as it was after the first import.
fn two_imports() -> (World, Vec<u8>) {
    let w = World::new();
    for s in ["1", "2"] {
        w.pack(&format!("s{s}.airlock"), &["--sequence", s]).ok();
    }
    w.unpack("s1.airlock", "o1").ok();
    let after_one = fs::read(w.path("store/ledger")).unwrap();
    w.unpack("s2.airlock", "o2").ok();
    (w, after_one)
}

#[test]
fn an_edited_cut_replaced_or_missing_ledger_is_refused_and_nothing_is_accepted() {
    let (w, older) = two_imports();
    let ledger = w.path("store/ledger");
    let good = fs::read(&ledger).unwrap();
    assert_eq!(good.len(), 66, "two ids of 32 hex digits, one a line");
    let text = String::from_utf8(good.clone()).unwrap();
    let (first, second) = text.split_at(33);
    let mut flipped = good.clone();
    flipped[5] = if flipped[5] == b'0' { b'1' } else { b'0' };
    let edits: Vec<(&str, Option<Vec<u8>>)> = vec![
        ("the first id removed", Some(second.as_bytes().to_vec())),
        (
            "the ids swapped",
            Some(format!("{second}{first}").into_bytes()),
        ),
        ("an id changed", Some(flipped)),
        ("cut by one byte", Some(good[..65].to_vec())),
        ("the copy from after the first import", Some(older)),
        ("emptied", Some(Vec::new())),
        ("removed", None),
    ];
    for (what, bytes) in edits {
        match &bytes {
            Some(b) => fs::write(&ledger, b).unwrap(),
            None => fs::remove_file(&ledger).unwrap(),
        }
        let before = w.store_state();
        // Sequence 1 is not above the channel's last (2): the replay check
        // reads the ledger.
        let r = w.unpack_json("s1.airlock", "again");
        assert_eq!(
            (r.code, r.error_code().as_str()),
            (3, "store-corrupt"),
            "{what}: {}",
            r.stderr
        );
        assert!(!w.path("again").exists(), "{what}: placed");
        assert_eq!(w.store_state(), before, "{what}: the state changed");
        let r = w.run(&["verify", "s1.airlock", "--store", "store", "--json"]);
        assert_eq!(r.error_code(), "store-corrupt", "{what}");
        fs::write(&ledger, &good).unwrap();
    }
    w.unpack_json("s1.airlock", "again")
        .fails(1, "replay: bundle");
}

#[test]
fn bytes_beyond_the_bound_ledger_are_ignored_and_a_replay_is_still_a_replay() {
    let (w, _) = two_imports();
    let ledger = w.path("store/ledger");
    let mut bytes = fs::read(&ledger).unwrap();
    bytes.extend_from_slice(format!("{}\nnot an id", "f".repeat(32)).as_bytes());
    fs::write(&ledger, &bytes).unwrap();
    let r = w.unpack_json("s2.airlock", "again");
    assert_eq!((r.code, r.error_code().as_str()), (1, "replay"));
    let r = w.unpack_json("s1.airlock", "again");
    assert_eq!((r.code, r.error_code().as_str()), (1, "replay"));
    // The next import cuts them off and appends its id.
    w.pack("s3.airlock", &["--sequence", "3"]).ok();
    w.unpack("s3.airlock", "o3").ok();
    assert_eq!(fs::read(&ledger).unwrap().len(), 99);
    let r = w.unpack_json("s3.airlock", "again");
    assert_eq!((r.code, r.error_code().as_str()), (1, "replay"));
    assert!(!w.path("again").exists());
}

#[test]
fn anchor_show_counts_the_ledger_from_the_state_binding() {
    let (w, _) = two_imports();
    let r = w
        .run(&["anchor", "show", "--store", "store", "--json"])
        .ok();
    assert_eq!(r.json()["imported"], 2);
    let state: serde_json::Value = serde_json::from_str(&w.store_state()).unwrap();
    assert_eq!(state["ledger"]["ids"], 2);
    assert_eq!(state["ledger"]["bytes"], 66);
    assert!(state.get("accepted").is_none());
}

#[test]
fn a_store_written_before_the_ledger_file_keeps_working_and_moves_its_ids_there() {
    let (w, _) = two_imports();
    // state.json as airlock wrote it before the ledger file: the ids inline,
    // sorted, under `accepted`.
    let mut ids: Vec<String> = fs::read_to_string(w.path("store/ledger"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    ids.sort();
    let path = w.path("store/state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let o = state.as_object_mut().unwrap();
    o.remove("ledger").unwrap();
    o.insert("accepted".into(), ids.clone().into());
    fs::write(&path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    fs::remove_file(w.path("store/ledger")).unwrap();

    let r = w
        .run(&["anchor", "show", "--store", "store", "--json"])
        .ok();
    assert_eq!(r.json()["imported"], 2);
    // The replay check reads the inline ids; its refusal (journaled) is
    // the store's next commit, which moves them into the ledger file.
    let r = w.unpack_json("s1.airlock", "again");
    assert_eq!((r.code, r.error_code().as_str()), (1, "replay"));
    let ledger = fs::read_to_string(w.path("store/ledger")).unwrap();
    assert_eq!(ledger, format!("{}\n{}\n", ids[0], ids[1]));
    let state: serde_json::Value = serde_json::from_str(&w.store_state()).unwrap();
    assert!(state.get("accepted").is_none());
    assert_eq!(state["ledger"]["ids"], 2);
    let r = w.unpack_json("s2.airlock", "again");
    assert_eq!((r.code, r.error_code().as_str()), (1, "replay"));
    w.pack("s3.airlock", &["--sequence", "3"]).ok();
    w.unpack("s3.airlock", "o3").ok();
    let r = w
        .run(&["anchor", "show", "--store", "store", "--json"])
        .ok();
    assert_eq!(r.json()["imported"], 3);
}
