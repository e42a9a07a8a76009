//! Any change to the bundle file is refused, and a refused unpack leaves no
//! destination behind.
use std::fs;

use crate::common::World;

fn flip(bytes: &[u8], pos: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[pos] ^= 0x01 << (pos % 8);
    b
}

#[test]
fn flipping_any_byte_is_refused() {
    let w = World::new();
    w.pack("rel.airlock", &[]).ok();
    let good = fs::read(w.path("rel.airlock")).unwrap();
    let len = good.len();
    // Dense at the start (frame header, manifest, signatures, metadata), then
    // spread evenly over the rest (artifacts), and the last bytes.
    let mut positions: Vec<usize> = (0..80).chain(80..400).step_by(3).collect();
    positions.extend((0..120).map(|i| 400 + i * (len - 420) / 120));
    positions.extend(len - 16..len);
    positions.sort();
    positions.dedup();
    assert!(positions.len() >= 200, "{} positions", positions.len());
    let before = w.store_state();
    for (i, &pos) in positions.iter().enumerate() {
        fs::write(w.path("bad.airlock"), flip(&good, pos)).unwrap();
        let r = w.verify("bad.airlock");
        assert_eq!(
            r.code, 1,
            "flip at {pos} of {len} not refused: {}{}",
            r.stdout, r.stderr
        );
        // unpack on a spread of them: nothing may appear.
        if i % 10 == 0 {
            let to = format!("out-{pos}");
            assert_eq!(
                w.unpack("bad.airlock", &to).code,
                1,
                "unpack, flip at {pos}"
            );
            assert!(
                !w.path(&to).exists(),
                "destination appeared after a refused unpack (flip at {pos})"
            );
        }
    }
    assert_eq!(w.store_state(), before);
}

#[test]
fn truncation_is_refused() {
    let w = World::new();
    w.pack("rel.airlock", &[]).ok();
    let good = fs::read(w.path("rel.airlock")).unwrap();
    for cut in [
        0,
        1,
        4,
        100,
        good.len() / 3,
        good.len() / 2,
        good.len() - 100,
        good.len() - 1,
    ] {
        fs::write(w.path("cut.airlock"), &good[..cut]).unwrap();
        let r = w.unpack_json("cut.airlock", "out");
        assert_eq!(r.code, 1, "cut at {cut}: {}", r.stderr);
        assert!(
            ["bundle-truncated", "bundle-compression", "tar-header"]
                .contains(&r.error_code().as_str()),
            "cut at {cut}: {}",
            r.error_code()
        );
        assert!(!w.path("out").exists());
    }
}

#[test]
fn appended_garbage_is_refused() {
    let w = World::new();
    w.pack("rel.airlock", &[]).ok();
    let good = fs::read(w.path("rel.airlock")).unwrap();
    for tail in [
        &b"\0"[..],
        b"garbage",
        &[0x28, 0xb5, 0x2f, 0xfd],
        &[0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0],
    ] {
        let mut bad = good.clone();
        bad.extend_from_slice(tail);
        fs::write(w.path("long.airlock"), bad).unwrap();
        let r = w.unpack_json("long.airlock", "out");
        assert_eq!(r.code, 1, "tail {tail:?}");
        assert_eq!(r.error_code(), "trailing-data", "tail {tail:?}");
        assert!(!w.path("out").exists());
    }
}
