//! Expiry, rollback and replay, each refused with its own error; `verify`
//! never changes the store.
use crate::common::World;

#[test]
fn expired_manifest_is_refused() {
    let w = World::new();
    // Packed at the fixture epoch (2026-11-14) with a one-day lifetime.
    w.pack("old.airlock", &["--expires", "1d"]).ok();
    let before = w.store_state();
    w.verify("old.airlock")
        .fails(1, "bundle expired at 2026-11-15T22:13:20Z");
    let r = w.run(&[
        "unpack",
        "old.airlock",
        "--store",
        "store",
        "--to",
        "out",
        "--json",
    ]);
    assert_eq!(r.error_code(), "bundle-expired");
    assert!(!w.path("out").exists());
    assert_eq!(w.store_state(), before);
    // --at back in the window accepts it, loudly.
    let r = w
        .run(&[
            "verify",
            "old.airlock",
            "--store",
            "store",
            "--at",
            "2026-11-15T00:00:00Z",
        ])
        .ok();
    assert!(
        r.stderr
            .contains("warning: --at overrides the verification time"),
        "{}",
        r.stderr
    );
}

#[test]
fn sequence_not_above_the_last_import_is_rollback() {
    let w = World::new();
    w.pack("s5.airlock", &["--channel", "stable", "--sequence", "5"])
        .ok();
    w.write("dist/new.txt", b"new\n");
    w.pack("s5b.airlock", &["--channel", "stable", "--sequence", "5"])
        .ok();
    w.pack("s4.airlock", &["--channel", "stable", "--sequence", "4"])
        .ok();
    w.pack("other.airlock", &["--channel", "beta", "--sequence", "1"])
        .ok();
    w.unpack("s5.airlock", "o1").ok();
    let before = w.store_state();
    w.verify("s4.airlock").fails(
        1,
        "rollback: sequence 4 on channel stable is not above the last accepted 5",
    );
    w.unpack("s5b.airlock", "o2")
        .fails(1, "rollback: sequence 5 on channel stable");
    assert!(!w.path("o2").exists());
    assert_eq!(w.store_state(), before);
    w.unpack("other.airlock", "o3").ok();
}

#[test]
fn the_same_bundle_twice_is_replay() {
    let w = World::new();
    w.pack("rel.airlock", &[]).ok();
    let before = w.store_state();
    w.verify("rel.airlock").ok();
    w.verify("rel.airlock").ok();
    assert_eq!(w.store_state(), before, "verify alone changes nothing");
    w.unpack("rel.airlock", "first").ok();
    let after = w.store_state();
    w.verify("rel.airlock").fails(1, "replay: bundle");
    let r = w.run(&[
        "unpack",
        "rel.airlock",
        "--store",
        "store",
        "--to",
        "second",
        "--json",
    ]);
    assert_eq!((r.code, r.error_code().as_str()), (1, "replay"));
    assert!(!w.path("second").exists());
    assert_eq!(w.store_state(), after);
}

#[test]
fn turning_the_clock_back_with_at_does_not_move_the_store_clock() {
    let w = World::new();
    w.pack("rel.airlock", &[]).ok();
    let r = w
        .run(&[
            "unpack",
            "rel.airlock",
            "--store",
            "store",
            "--to",
            "out",
            "--at",
            "2027-01-01T00:00:00Z",
            "--json",
        ])
        .ok();
    assert_eq!(r.json()["time"], "2027-01-01T00:00:00Z");
    let state: serde_json::Value = serde_json::from_str(&w.store_state()).unwrap();
    let latest = state["latest_time"].as_u64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        latest <= now + 5 && latest + 600 > now,
        "store clock follows the real clock, not --at"
    );
}
