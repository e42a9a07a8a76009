//! Expiry, rollback and replay, each refused with its own error; `verify`
//! never changes the store.
use crate::common::World;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn expired_manifest_is_refused() {
    let w = World::new();
    let created = now();
    let sde = created.to_string();
    w.pack_as(
        "day.airlock",
        &["keys/release.pem"],
        "1.root.json",
        &["--source-date-epoch", &sde, "--expires", "1d"],
    )
    .ok();
    let expires = airlock::timefmt::format_utc(created + 86_400);
    let later = airlock::timefmt::format_utc(created + 2 * 86_400);
    let before = w.store_state();
    let r = w.run(&["verify", "day.airlock", "--store", "store", "--at", &later]);
    r.fails(1, &format!("bundle expired at {expires}"));
    let r = w.run(&[
        "unpack",
        "day.airlock",
        "--store",
        "store",
        "--to",
        "out",
        "--at",
        &later,
        "--json",
    ]);
    assert_eq!((r.code, r.error_code().as_str()), (1, "bundle-expired"));
    assert!(!w.path("out").exists());
    assert_eq!(w.store_state(), before);
    w.verify("day.airlock").ok();
}

#[test]
fn pack_refuses_a_bundle_that_would_arrive_expired() {
    let w = World::new();
    // SOURCE_DATE_EPOCH far in the past (as some build shells set it).
    w.pack_as(
        "old.airlock",
        &["keys/release.pem"],
        "1.root.json",
        &["--source-date-epoch", "315532800", "--expires", "30d"],
    )
    .fails(
        2,
        "the bundle would expire at 1980-01-31T00:00:00Z, which has already passed",
    );
    assert!(!w.path("old.airlock").exists());
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
    let r = w.unpack_json("rel.airlock", "second");
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
    assert_eq!(
        state["latest_time"].as_u64().unwrap(),
        crate::common::EPOCH,
        "the store clock moves only to the signed creation time, never to --at or the system clock"
    );
}
