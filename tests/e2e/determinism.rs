//! Same inputs, keys and --source-date-epoch: byte-identical bundles, on any
//! number of threads.
use std::fs;

use crate::common::World;

#[test]
fn packing_twice_gives_identical_bytes() {
    let w = World::new();
    w.pack("a.airlock", &["--sequence", "3"]).ok();
    w.pack("b.airlock", &["--sequence", "3", "--threads", "1"])
        .ok();
    w.pack("c.airlock", &["--sequence", "3", "--threads", "4"])
        .ok();
    let a = fs::read(w.path("a.airlock")).unwrap();
    assert_eq!(a, fs::read(w.path("b.airlock")).unwrap());
    assert_eq!(a, fs::read(w.path("c.airlock")).unwrap());
    // A different epoch is a different bundle (and bundle id).
    w.pack_as(
        "d.airlock",
        &["keys/release.pem"],
        "1.root.json",
        &["--sequence", "3", "--source-date-epoch", "1794694401"],
    )
    .ok();
    assert_ne!(a, fs::read(w.path("d.airlock")).unwrap());
}
