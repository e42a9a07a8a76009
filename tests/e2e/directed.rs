//! Directed bundles (`pack --for ENCLAVE-ID`, SPEC.md 5.6) and per-channel
//! floors (`anchor floor`) on a file store: what each refuses, with its
//! exact code, nothing written, and the refusal journaled.
use std::fs;

use serde_json::Value;

use crate::common::World;

/// The store's enclave id, as `anchor show --json` prints it.
fn enclave_id(w: &World, store: &str) -> String {
    let show = w.run(&["anchor", "show", "--store", store, "--json"]).ok();
    let id = show.json()["enclave_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 64, "{id}");
    // It is the journal key's keyid.
    assert_eq!(show.json()["journal"]["keyid"], Value::from(id.clone()));
    id
}

/// The store's journal records, parsed.
fn journal(w: &World, store: &str) -> Vec<Value> {
    w.run(&["journal", "show", "--store", store, "--json"])
        .ok()
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The state file without the journal head (every decision moves it).
fn state(w: &World, store: &str) -> Value {
    let text = fs::read_to_string(w.path(&format!("{store}/state.json"))).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v.as_object_mut().unwrap().remove("journal");
    v
}

/// A second store anchored to the same root, with the fixture's channels.
fn other_store(w: &World, store: &str) {
    w.run(&[
        "anchor",
        "init",
        "--channel",
        "default",
        "stable",
        "--store",
        store,
        "--root",
        "1.root.json",
    ])
    .ok();
}

#[test]
fn a_directed_bundle_is_imported_by_the_enclave_it_names_and_refused_by_another_with_the_same_root()
{
    let w = World::new();
    other_store(&w, "other");
    let (mine, theirs) = (enclave_id(&w, "store"), enclave_id(&w, "other"));
    assert_ne!(mine, theirs, "two stores, two enclave ids");
    w.pack("for-me.airlock", &["--sequence", "1", "--for", &mine])
        .ok();

    // inspect shows whom it is for.
    let i = w.run(&["inspect", "for-me.airlock", "--json"]).ok().json();
    assert_eq!(i["enclaves"], serde_json::json!([mine]));
    let text = w.run(&["inspect", "for-me.airlock"]).ok().stdout;
    assert!(
        text.contains(&format!("for        enclave {mine}")),
        "{text}"
    );

    // The other enclave: refused before anything is written, journaled.
    let before = state(&w, "other");
    for command in ["verify", "unpack"] {
        let mut args = vec![command, "for-me.airlock", "--store", "other", "--json"];
        if command == "unpack" {
            args.extend(["--to", "out-other"]);
        }
        let r = w.run(&args);
        assert_eq!(
            (r.code, r.error_code().as_str()),
            (1, "bundle-not-for-this-enclave"),
            "{}",
            r.stderr
        );
    }
    assert!(!w.path("out-other").exists(), "nothing unpacked");
    let leftovers: Vec<_> = fs::read_dir(w.tmp.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(".airlock-staging"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(state(&w, "other"), before, "the other store is unchanged");
    let last = journal(&w, "other").pop().unwrap();
    assert_eq!(last["event"], "unpack");
    assert_eq!(last["fields"]["outcome"], "refused");
    assert_eq!(
        last["fields"]["error"]["code"],
        "bundle-not-for-this-enclave"
    );
    assert_eq!(last["fields"]["manifest_authenticated"], true);

    // The enclave it names imports it.
    let u = w
        .run(&[
            "unpack",
            "for-me.airlock",
            "--store",
            "store",
            "--to",
            "out",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(u["enclaves"], serde_json::json!([mine]));
    assert!(w.path("out/bin/tool").exists());

    // Directed to both: both accept. Undirected: both accept.
    w.pack(
        "for-both.airlock",
        &[
            "--sequence",
            "2",
            "--for",
            &theirs,
            "--for",
            &mine,
            "--for",
            &mine,
        ],
    )
    .ok();
    let i = w
        .run(&["inspect", "for-both.airlock", "--json"])
        .ok()
        .json();
    let mut both = vec![mine.clone(), theirs.clone()];
    both.sort();
    assert_eq!(i["enclaves"], serde_json::json!(both));
    w.run(&["verify", "for-both.airlock", "--store", "other"])
        .ok();
    w.verify("for-both.airlock").ok();
    w.pack("for-any.airlock", &["--sequence", "3"]).ok();
    let i = w.run(&["inspect", "for-any.airlock", "--json"]).ok().json();
    assert_eq!(i["enclaves"], serde_json::json!([]));
    w.run(&["verify", "for-any.airlock", "--store", "other"])
        .ok();

    // An id that is not one is the operator's mistake; nothing is packed.
    let r = w.pack(
        "bad.airlock",
        &["--sequence", "4", "--for", "prod-1", "--json"],
    );
    assert_eq!((r.code, r.error_code().as_str()), (2, "usage"));
    assert!(!w.path("bad.airlock").exists());
}

#[test]
fn a_floor_refuses_older_sequences_even_on_a_fresh_store_and_only_goes_up() {
    let w = World::new();
    w.pack("four.airlock", &["--channel", "stable", "--sequence", "4"])
        .ok();
    w.pack("five.airlock", &["--channel", "stable", "--sequence", "5"])
        .ok();
    // Imported before the floor: refused after it, not even as a replay.
    w.unpack("four.airlock", "four").ok();
    let set = w
        .run(&[
            "anchor",
            "floor",
            "--store",
            "store",
            "--channel",
            "stable",
            "--sequence",
            "5",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(
        (set["floor"].as_u64(), set["previous"].clone()),
        (Some(5), Value::Null)
    );
    let before = state(&w, "store");
    let r = w.unpack_json("four.airlock", "again");
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "sequence-below-floor"),
        "{}",
        r.stderr
    );
    assert!(!w.path("again").exists());
    assert_eq!(state(&w, "store"), before);
    let last = journal(&w, "store").pop().unwrap();
    assert_eq!(
        (
            last["event"].as_str(),
            last["fields"]["error"]["code"].as_str()
        ),
        (Some("unpack"), Some("sequence-below-floor"))
    );

    // A fresh store that never saw sequence 5: the floor alone refuses 4.
    other_store(&w, "fresh");
    w.run(&[
        "anchor",
        "floor",
        "--store",
        "fresh",
        "--channel",
        "stable",
        "--sequence",
        "5",
    ])
    .ok();
    let r = w.run(&[
        "unpack",
        "four.airlock",
        "--store",
        "fresh",
        "--to",
        "fresh-four",
        "--json",
    ]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "sequence-below-floor")
    );
    assert!(!w.path("fresh-four").exists());
    // At the floor: accepted. Other channels: untouched by it.
    w.run(&[
        "unpack",
        "five.airlock",
        "--store",
        "fresh",
        "--to",
        "fresh-five",
    ])
    .ok();
    w.pack("default-1.airlock", &["--sequence", "1"]).ok();
    w.run(&["verify", "default-1.airlock", "--store", "fresh"])
        .ok();

    // Floors only go up: the same or a lower one is refused, nothing changes.
    let before = state(&w, "store");
    for n in ["5", "3"] {
        let r = w.run(&[
            "anchor",
            "floor",
            "--store",
            "store",
            "--channel",
            "stable",
            "--sequence",
            n,
            "--json",
        ]);
        assert_eq!((r.code, r.error_code().as_str()), (2, "floor-not-raised"));
    }
    assert_eq!(state(&w, "store"), before);
    let raised = w
        .run(&[
            "anchor",
            "floor",
            "--store",
            "store",
            "--channel",
            "stable",
            "--sequence",
            "9",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(raised["previous"].as_u64(), Some(5));
    let r = w.run(&[
        "anchor",
        "floor",
        "--store",
        "store",
        "--channel",
        "no/such",
        "--sequence",
        "1",
    ]);
    assert_eq!(r.code, 2);

    // Shown, and journaled as store.floor records.
    let show = w
        .run(&["anchor", "show", "--store", "store", "--json"])
        .ok()
        .json();
    assert_eq!(show["floors"], serde_json::json!({"stable": 9}));
    let text = w.run(&["anchor", "show", "--store", "store"]).ok().stdout;
    assert!(
        text.contains("floor      stable: refuses sequences below 9"),
        "{text}"
    );
    let floors: Vec<(u64, Value)> = journal(&w, "store")
        .into_iter()
        .filter(|r| r["event"] == "store.floor")
        .map(|r| {
            (
                r["fields"]["floor"].as_u64().unwrap(),
                r["fields"]["previous"].clone(),
            )
        })
        .collect();
    assert_eq!(floors, [(5, Value::Null), (9, Value::from(5))]);
    w.run(&["journal", "verify", "--store", "store"]).ok();
}
