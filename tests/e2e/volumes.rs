//! Split bundles on removable media: `pack --split`, `split`, volumes read
//! as one stream by verify/unpack/inspect, every volume fault refused with
//! the volume named and nothing unpacked, volumes on read-only directories,
//! `volumes check`, and `unpack --prompt` for one drive and several media.
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::{World, airlock_bin, anchor_init_args, listing, pseudo_random, tree};

const MIB: u64 = 1 << 20;

/// The fixture plus a 3.5 MB artifact: about four 1 MiB volumes.
fn world() -> World {
    let w = World::new();
    w.write("dist/big.bin", &pseudo_random(3_500_000, 7));
    w
}

/// SPEC.md 11.4, written out again here: the header of a set of `n`
/// volumes signed by one key, and the least `n` whose slices hold `len`.
fn expected_plan(len: u64, size: u64) -> (u64, Vec<u64>) {
    let c = |x: u64| match x {
        0..24 => 1,
        24..256 => 2,
        256..65_536 => 3,
        _ => 5,
    };
    let reserve = |n: u64| 113 + c(n) + 56 * n + c(1) + 1104;
    let n = (1..).find(|n| n * (size - reserve(*n)) >= len).unwrap();
    let slice = size - reserve(n);
    let mut sizes = vec![slice; n as usize - 1];
    sizes.push(len - (n - 1) * slice);
    (reserve(n), sizes)
}

/// The volume files of `base` in `dir`, in order.
fn volumes(dir: &Path, base: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = listing(dir)
        .into_iter()
        .filter(|n| {
            n.strip_prefix(base)
                .and_then(|r| r.strip_prefix('.'))
                .is_some_and(|d| d.len() == 3 && d.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|n| dir.join(n))
        .collect();
    v.sort();
    v
}

/// Packs `rel.airlock` in 1 MiB volumes; returns them.
fn pack_split(w: &World) -> Vec<PathBuf> {
    w.pack("rel.airlock", &["--split", "1MiB"]).ok();
    let v = volumes(w.tmp.path(), "rel.airlock");
    assert!(v.len() >= 4, "{} volumes", v.len());
    v
}

fn name(p: &Path) -> &str {
    p.file_name().unwrap().to_str().unwrap()
}

/// Runs `unpack` of the first volume; asserts exit 1, the error code, that
/// the message names `volume`, that nothing was unpacked and that the store
/// is unchanged. `verify` must agree.
fn refused(w: &World, code: &str, volume: &str) {
    let before = w.store_state();
    for cmd in ["verify", "unpack"] {
        let mut args = vec![cmd, "rel.airlock.001", "--store", "store", "--json"];
        if cmd == "unpack" {
            args.extend(["--to", "out"]);
        }
        let r = w.run(&args);
        assert_eq!(r.code, 1, "{cmd}: {}{}", r.stdout, r.stderr);
        assert_eq!(r.error_code(), code, "{cmd}: {}", r.stdout);
        let e = &r.json()["errors"][0];
        let msg = e["message"].as_str().unwrap();
        assert!(
            msg.contains(volume),
            "{cmd}: {msg:?} does not name {volume}"
        );
        assert!(e["hint"].as_str().unwrap().len() > 10);
        assert!(!w.path("out").exists(), "{cmd} left a destination");
        // The text form: one error line naming the volume, one hint line.
        args.retain(|a| *a != "--json");
        w.run(&args).fails(1, volume);
    }
    assert!(!w.path("out").exists());
    assert_eq!(w.store_state(), before, "the store changed");
    assert_eq!(
        listing(w.tmp.path())
            .iter()
            .filter(|n| n.contains("staging"))
            .count(),
        0
    );
}

#[test]
fn pack_split_round_trip_over_several_volumes() {
    let w = world();
    w.pack("single.airlock", &[]).ok();
    let single = fs::read(w.path("single.airlock")).unwrap();
    let v = pack_split(&w);
    assert!(
        !w.path("rel.airlock").exists(),
        "no single file with --split"
    );
    assert!(
        listing(w.tmp.path())
            .iter()
            .all(|n| !n.starts_with(".airlock")),
        "temporary files left: {:?}",
        listing(w.tmp.path())
    );

    // Count and sizes exactly as SPEC.md 11.4 says.
    let (header, sizes) = expected_plan(single.len() as u64, MIB);
    assert_eq!(v.len(), sizes.len());
    let mut joined = Vec::new();
    for (k, p) in v.iter().enumerate() {
        assert_eq!(name(p), format!("rel.airlock.{:03}", k + 1));
        let bytes = fs::read(p).unwrap();
        assert_eq!(bytes.len() as u64, header + sizes[k], "volume {}", k + 1);
        assert!(bytes.len() as u64 <= MIB);
        if k + 1 < v.len() {
            assert_eq!(bytes.len() as u64, MIB, "all but the last are full");
        }
        joined.extend_from_slice(&bytes[header as usize..]);
    }
    assert_eq!(joined, single, "the slices are the bundle, byte for byte");

    let j = w
        .run(&["verify", "rel.airlock.001", "--store", "store", "--json"])
        .ok()
        .json();
    assert_eq!(j["artifacts"], 6);
    w.unpack("rel.airlock.001", "out").ok();
    assert_eq!(tree(&w.path("out")), tree(&w.path("dist")));

    let j = w.run(&["inspect", "rel.airlock.001", "--json"]).ok().json();
    assert_eq!(j["volumes"].as_array().unwrap().len(), v.len());
    assert_eq!(j["volume_header_len"], header);
    let text = w.run(&["inspect", "rel.airlock.001"]).ok().stdout;
    assert!(text.contains(&format!("volumes    {} ", v.len())), "{text}");
}

#[test]
fn split_command_makes_the_same_volumes_as_pack() {
    let w = world();
    w.pack("single.airlock", &[]).ok();
    let packed = pack_split(&w);
    let r = w
        .run(&[
            "split",
            "single.airlock",
            "--size",
            "1MiB",
            "--key",
            "keys/release.pem",
            "--out",
            "copy.airlock",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(r["volumes"].as_array().unwrap().len(), packed.len());
    let copies = volumes(w.tmp.path(), "copy.airlock");
    assert_eq!(copies.len(), packed.len());
    for (a, b) in packed.iter().zip(&copies) {
        assert_eq!(fs::read(a).unwrap(), fs::read(b).unwrap(), "{}", name(b));
    }
    assert!(w.path("single.airlock").exists(), "split keeps the bundle");
    // Default names: beside the bundle.
    w.run(&[
        "split",
        "single.airlock",
        "--size",
        "2MB",
        "--key",
        "keys/release.pem",
    ])
    .ok();
    let v = volumes(w.tmp.path(), "single.airlock");
    assert_eq!(v.len(), 2);
    let r = w
        .run(&[
            "split",
            "single.airlock",
            "--size",
            "fat32",
            "--key",
            "keys/release.pem",
            "--out",
            "one.airlock",
        ])
        .ok();
    assert!(
        r.stdout.contains("split single.airlock into 1 volume\n"),
        "{}",
        r.stdout
    );
    w.verify("single.airlock.001").ok();
    // A key that is not a targets key cannot sign the index.
    w.run(&[
        "split",
        "single.airlock",
        "--size",
        "1MiB",
        "--key",
        "keys/owner.pem",
    ])
    .fails(2, "cannot sign this bundle's volume index");
}

#[test]
fn a_missing_volume_is_refused_by_name() {
    let w = world();
    let v = pack_split(&w);
    fs::remove_file(&v[2]).unwrap();
    refused(&w, "volume-missing", &format!("volume 3 of {}", v.len()));
}

#[test]
fn an_extra_volume_is_refused_by_name() {
    let w = world();
    let v = pack_split(&w);
    let extra = format!("rel.airlock.{:03}", v.len() + 1);
    fs::copy(&v[1], w.path(&extra)).unwrap();
    refused(&w, "volume-extra", &extra);
}

#[test]
fn reordered_volumes_are_refused_by_name() {
    let w = world();
    let v = pack_split(&w);
    fs::rename(&v[1], w.path("swap")).unwrap();
    fs::rename(&v[2], &v[1]).unwrap();
    fs::rename(w.path("swap"), &v[2]).unwrap();
    refused(
        &w,
        "volume-out-of-order",
        &format!("volume 2 of {} is out of order", v.len()),
    );
}

#[test]
fn a_truncated_volume_is_refused_by_name() {
    let w = world();
    let v = pack_split(&w);
    let good = fs::read(&v[2]).unwrap();
    fs::write(&v[2], &good[..good.len() - 4096]).unwrap();
    refused(
        &w,
        "volume-truncated",
        &format!("volume 3 of {} is truncated", v.len()),
    );
}

#[test]
fn a_corrupted_volume_is_refused_by_name() {
    let w = world();
    let v = pack_split(&w);
    let n = v.len();
    // In the middle of volume 3's slice (compressed artifact data).
    let good = fs::read(&v[2]).unwrap();
    let mut bad = good.clone();
    bad[good.len() / 2] ^= 0x10;
    fs::write(&v[2], &bad).unwrap();
    refused(&w, "volume-corrupt", &format!("volume 3 of {n} is corrupt"));
    fs::write(&v[2], &good).unwrap();
    // The last byte of the last volume (the end of the payload frame).
    let good = fs::read(&v[n - 1]).unwrap();
    let mut bad = good.clone();
    *bad.last_mut().unwrap() ^= 0x01;
    fs::write(&v[n - 1], &bad).unwrap();
    refused(
        &w,
        "volume-corrupt",
        &format!("volume {n} of {n} is corrupt"),
    );
    fs::write(&v[n - 1], &good).unwrap();
    // Volume 1, in the payload after the head.
    let good = fs::read(&v[0]).unwrap();
    let mut bad = good.clone();
    bad[good.len() - 1000] ^= 0x04;
    fs::write(&v[0], &bad).unwrap();
    refused(&w, "volume-corrupt", &format!("volume 1 of {n} is corrupt"));
    // Volume 1's signature bytes, as a line-ending conversion damages them:
    // still named as volume 1 (by its name), not taken for a bundle file.
    let mut bad = good.clone();
    bad.splice(12..14, [b'\n']);
    fs::write(&v[0], &bad).unwrap();
    refused(&w, "volume-corrupt", "volume 1 is corrupt");
    fs::write(&v[0], &good).unwrap();
    // Volume 2's header (its copy of the index) differs from volume 1's.
    let good = fs::read(&v[1]).unwrap();
    let mut bad = good.clone();
    bad[40] ^= 0x01;
    fs::write(&v[1], &bad).unwrap();
    refused(&w, "volume-corrupt", &format!("volume 2 of {n} is corrupt"));
    fs::write(&v[1], &good).unwrap();
    w.verify("rel.airlock.001").ok();
}

#[test]
fn an_edited_first_volume_header_is_the_volumes_fault() {
    let w = world();
    let v = pack_split(&w);
    let n = v.len();
    let good = fs::read(&v[0]).unwrap();
    // The carrier edits volume 1's number field (SPEC.md 11.2, bytes
    // 20..24) to say 2: the file still carries volume 1's slice, so it is
    // a corrupt volume 1 (exit 1), not an operator who gave volume 2.
    let mut bad = good.clone();
    bad[20..24].copy_from_slice(&2u32.to_be_bytes());
    fs::write(&v[0], &bad).unwrap();
    refused(&w, "volume-corrupt", &format!("volume 1 of {n} is corrupt"));
    fs::write(&v[0], &good).unwrap();
    // Volume 2 under volume 1's name (and back): out of order, exit 1.
    fs::rename(&v[0], w.path("swap")).unwrap();
    fs::rename(&v[1], &v[0]).unwrap();
    fs::rename(w.path("swap"), &v[1]).unwrap();
    refused(
        &w,
        "volume-out-of-order",
        &format!("volume 1 of {n} is out of order"),
    );
    // An intact later volume under a name without a number is the
    // operator's mistake (exit 2), as a later volume given by its own name.
    fs::copy(&v[0], w.path("loose-volume")).unwrap();
    w.verify("loose-volume").fails(2, "holds volume 2");
    let mut bad = fs::read(&v[1]).unwrap();
    bad[20..24].copy_from_slice(&2u32.to_be_bytes());
    fs::write(w.path("loose-volume"), &bad).unwrap();
    let r = w.run(&["verify", "loose-volume", "--store", "store", "--json"]);
    assert_eq!((r.code, r.error_code().as_str()), (1, "volume-corrupt"));
}

#[test]
fn a_volume_of_another_bundle_is_refused_by_name() {
    let w = world();
    let v = pack_split(&w);
    w.pack("other.airlock", &["--split", "1MiB", "--sequence", "99"])
        .ok();
    fs::copy(w.path("other.airlock.003"), &v[2]).unwrap();
    refused(
        &w,
        "volume-foreign",
        &format!("volume 3 of {} is from another bundle", v.len()),
    );
}

/// Offset and length of the index in a volume header (SPEC.md 11.2).
fn index_range(volume: &[u8]) -> std::ops::Range<usize> {
    let len = u32::from_be_bytes(volume[24..28].try_into().unwrap()) as usize;
    28..28 + len
}

#[test]
fn a_forged_volume_index_is_refused() {
    let w = world();
    let v = pack_split(&w);
    // Change volume 3's digest in the index of every volume, consistently,
    // and volume 3 to match: only the index signature can tell.
    let mut three = fs::read(&v[2]).unwrap();
    let slice_start = u32::from_be_bytes(three[16..20].try_into().unwrap()) as usize;
    three[slice_start + 10] ^= 0xff;
    let digest: [u8; 32] = {
        use sha2::{Digest, Sha256};
        Sha256::digest(&three[slice_start..]).into()
    };
    for (k, p) in v.iter().enumerate() {
        let mut b = if k == 2 {
            three.clone()
        } else {
            fs::read(p).unwrap()
        };
        let r = index_range(&b);
        // The third volume entry's digest: the 32 bytes after its "sha256" key.
        let idx = &b[r.clone()];
        let key = b"\x66sha256\x58\x20";
        let at = idx
            .windows(key.len())
            .enumerate()
            .filter(|(_, w)| w == key)
            .nth(2)
            .unwrap()
            .0
            + key.len();
        b[r.start + at..r.start + at + 32].copy_from_slice(&digest);
        fs::write(p, &b).unwrap();
    }
    refused(&w, "signature-invalid", "volume index signature");
}

#[test]
fn volumes_on_a_read_only_directory_verify_and_unpack() {
    let w = world();
    let v = pack_split(&w);
    // The "medium": a directory and files without write permission. The
    // suite runs as root in CI, where modes do not stop writes, so the test
    // also checks that nothing appeared in the directory and that every
    // file is unchanged, bytes and mtime.
    let media = w.path("media");
    fs::create_dir(&media).unwrap();
    for p in &v {
        fs::rename(p, media.join(name(p))).unwrap();
    }
    let snapshot = || {
        listing(&media)
            .into_iter()
            .map(|n| {
                let p = media.join(&n);
                let m = fs::metadata(&p).unwrap();
                (
                    n,
                    fs::read(&p).unwrap(),
                    m.mtime(),
                    m.mtime_nsec(),
                    m.mode(),
                )
            })
            .collect::<Vec<_>>()
    };
    for p in listing(&media) {
        fs::set_permissions(media.join(p), fs::Permissions::from_mode(0o444)).unwrap();
    }
    fs::set_permissions(&media, fs::Permissions::from_mode(0o555)).unwrap();
    let dir_mtime = |m: fs::Metadata| (m.mtime(), m.mtime_nsec());
    let dir_before = dir_mtime(fs::metadata(&media).unwrap());
    let before = snapshot();

    w.verify("media/rel.airlock.001").ok();
    w.run(&["inspect", "media/rel.airlock.001"]).ok();
    w.run(&[
        "volumes",
        "check",
        "media/rel.airlock.001",
        "media/rel.airlock.002",
        "--store",
        "store",
    ])
    .ok();
    w.unpack("media/rel.airlock.001", "out").ok();
    assert_eq!(tree(&w.path("out")), tree(&w.path("dist")));

    assert_eq!(snapshot(), before, "the volumes or their directory changed");
    assert_eq!(dir_mtime(fs::metadata(&media).unwrap()), dir_before);
    fs::set_permissions(&media, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn volumes_check_passes_good_volumes_and_names_bad_ones() {
    let w = world();
    let v = pack_split(&w);
    let n = v.len();
    let all: Vec<&str> = v.iter().map(|p| name(p)).collect();
    let mut args = vec!["volumes", "check"];
    args.extend(&all);
    args.extend(["--store", "store", "--json"]);
    let j = w.run(&args).ok().json();
    assert_eq!(j["authenticated"], true);
    assert_eq!(j["count"], n);
    assert_eq!(j["checked"].as_array().unwrap().len(), n);
    assert_eq!(j["unchecked"].as_array().unwrap().len(), 0);

    // One volume alone, as a single-port transfer checks it: authenticated
    // against the anchored root.
    let j = w
        .run(&["volumes", "check", all[2], "--store", "store", "--json"])
        .ok()
        .json();
    assert_eq!(j["authenticated"], true);
    assert_eq!(j["unchecked"].as_array().unwrap().len(), n - 1);
    // Any order: volume 1 may come after others.
    let j = w
        .run(&[
            "volumes", "check", all[2], all[0], "--store", "store", "--json",
        ])
        .ok()
        .json();
    assert_eq!(j["authenticated"], true);
    // Without a store: checked against the carried index, and said so.
    let r = w.run(&["volumes", "check", all[1]]).ok();
    assert!(r.stdout.contains("UNAUTHENTICATED"), "{}", r.stdout);

    // A damaged volume 2 is named; the others still pass.
    let good = fs::read(&v[1]).unwrap();
    let mut bad = good.clone();
    bad[good.len() - 7] ^= 0x80;
    fs::write(&v[1], &bad).unwrap();
    let mut args = vec!["volumes", "check"];
    args.extend(&all);
    args.extend(["--store", "store"]);
    let r = w
        .run(&args)
        .fails(1, &format!("volume 2 of {n} is corrupt"));
    assert!(
        r.stderr
            .contains(&format!("volume 3 of {n}  rel.airlock.003  ok")),
        "{}",
        r.stderr
    );
    let mut json = args.clone();
    json.push("--json");
    assert_eq!(w.run(&json).error_code(), "volume-corrupt");
    fs::write(&v[1], &good).unwrap();

    // A file whose name says 2 but which holds volume 3.
    fs::copy(&v[2], w.path("moved.airlock.002")).unwrap();
    let r = w.run(&["volumes", "check", "moved.airlock.002", "--json"]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "volume-out-of-order")
    );
    // A truncated one.
    fs::write(w.path("cut.airlock.003"), &fs::read(&v[2]).unwrap()[..5000]).unwrap();
    let r = w.run(&["volumes", "check", "cut.airlock.003", "--json"]);
    assert_eq!((r.code, r.error_code().as_str()), (1, "volume-truncated"));
    // A forged index fails authentication even for a single volume.
    let mut b = fs::read(&v[2]).unwrap();
    let r = index_range(&b);
    b[r.end - 1] ^= 0x01;
    fs::write(w.path("forged.airlock.003"), &b).unwrap();
    let r = w.run(&[
        "volumes",
        "check",
        "forged.airlock.003",
        "--store",
        "store",
        "--json",
    ]);
    assert_eq!((r.code, r.error_code().as_str()), (1, "signature-invalid"));
    // A path that is not there is the operator's mistake.
    w.run(&["volumes", "check", "nothing.airlock.001"])
        .fails(2, "nothing.airlock.001");
}

/// Drives `unpack --prompt` like an operator with one drive: `drive/` holds
/// one medium at a time; at each prompt the test swaps in the volume asked
/// for, or types where it is.
#[test]
fn unpack_prompt_asks_for_each_volume_in_turn() {
    let w = world();
    let v = pack_split(&w);
    let n = v.len();
    let (drive, shelf) = (w.path("drive"), w.path("shelf"));
    fs::create_dir(&drive).unwrap();
    fs::create_dir(&shelf).unwrap();
    for p in &v {
        fs::rename(p, shelf.join(name(p))).unwrap();
    }
    fs::rename(shelf.join("rel.airlock.001"), drive.join("rel.airlock.001")).unwrap();

    let mut child = Command::new(airlock_bin())
        .current_dir(w.tmp.path())
        .args([
            "unpack",
            "drive/rel.airlock.001",
            "--store",
            "store",
            "--to",
            "out",
            "--prompt",
        ])
        .env_remove("AIRLOCK_STORE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut asked = Vec::new();
    let mut in_drive = 1;
    for line in stderr.lines() {
        let line = line.unwrap();
        let Some(rest) = line.strip_prefix("volume ") else {
            continue;
        };
        if !line.contains("not found at") {
            continue;
        }
        let k: usize = rest.split(' ').next().unwrap().parse().unwrap();
        assert!(
            line.ends_with(&format!("of {n} not found at drive/rel.airlock.{k:03}")),
            "{line}"
        );
        asked.push(k);
        if k < n {
            // Swap the medium: take the last one out, put this one in.
            let out = format!("rel.airlock.{in_drive:03}");
            fs::rename(drive.join(&out), shelf.join(&out)).unwrap();
            let want = format!("rel.airlock.{k:03}");
            fs::rename(shelf.join(&want), drive.join(&want)).unwrap();
            in_drive = k;
            writeln!(stdin,).unwrap();
        } else {
            // The last one: say where it is instead.
            writeln!(stdin, "{}", shelf.display()).unwrap();
        }
    }
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "unpack --prompt failed; asked for {asked:?}"
    );
    assert_eq!(asked, (2..=n).collect::<Vec<_>>());
    assert_eq!(tree(&w.path("out")), tree(&w.path("dist")));
}

#[test]
fn unpack_prompt_gives_up_when_no_volume_comes() {
    let w = world();
    let v = pack_split(&w);
    let shelf = w.path("shelf");
    fs::create_dir(&shelf).unwrap();
    fs::rename(&v[1], shelf.join(name(&v[1]))).unwrap();
    let out = Command::new(airlock_bin())
        .current_dir(w.tmp.path())
        .args([
            "unpack",
            "rel.airlock.001",
            "--store",
            "store",
            "--to",
            "out",
            "--prompt",
            "--json",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["errors"][0]["code"], "volume-missing");
    assert!(String::from_utf8_lossy(&out.stderr).contains("volume 2 of"));
    assert!(!w.path("out").exists());
}

#[test]
fn split_sizes_are_checked_before_anything_is_written() {
    let w = world();
    let before = listing(w.tmp.path());
    w.pack("rel.airlock", &["--split", "4G"])
        .fails(2, "ambiguous");
    // Too small for the head: refused before any artifact is read.
    w.pack("rel.airlock", &["--split", "2kB"])
        .fails(2, "use at least");
    // Big enough for the head, too small for the bundle: refused once the
    // bundle's size is known, leaving nothing behind.
    let r = w.pack("rel.airlock", &["--split", "10kB", "--json"]);
    assert_eq!((r.code, r.error_code().as_str()), (2, "split-size"));
    assert_eq!(listing(w.tmp.path()), before, "something was left");
    // 4GiB is accepted, with a warning that it does not fit FAT32.
    let r = w.pack("rel.airlock", &["--split", "4GiB"]).ok();
    assert!(r.stderr.contains("use fat32"), "{}", r.stderr);
    assert_eq!(volumes(w.tmp.path(), "rel.airlock").len(), 1);
    // One volume is said as one (not "rel.airlock.001 … rel.airlock.001 (1 volumes").
    assert!(
        r.stdout.contains("packed rel.airlock.001 (1 volume, "),
        "{}",
        r.stdout
    );
    // A later volume given where the first is needed: named, exit 2.
    pack_split(&w);
    let r = w.verify("rel.airlock.002").fails(2, "holds volume 2");
    assert!(
        r.stderr
            .contains("hint: give the first volume, rel.airlock.001"),
        "{}",
        r.stderr
    );
}

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// The committed volume vectors (tests/vectors/volumes, made by
/// scripts/gen-bundle-vectors.sh): each set gets the verdict its name states.
#[test]
fn every_volume_vector_gets_its_verdict() {
    let w = World::bare();
    let root = vectors().join("bundle/1.root.json");
    w.run(&anchor_init_args("store", root.to_str().unwrap(), &[]))
        .ok();
    let mut sets: Vec<PathBuf> = fs::read_dir(vectors().join("volumes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    sets.sort();
    assert!(sets.len() >= 8, "{sets:?}");
    for set in &sets {
        let set_name = name(set);
        let first = set.join("minimal.airlock.001");
        let r = w.run(&[
            "verify",
            first.to_str().unwrap(),
            "--store",
            "store",
            "--json",
        ]);
        if set_name.starts_with("pass_") {
            assert_eq!(r.code, 0, "{set_name}: {}", r.stderr);
        } else {
            let code = set_name
                .trim_start_matches("fail_")
                .split('_')
                .next()
                .unwrap();
            assert_eq!(
                (r.code, r.error_code().as_str()),
                (1, code),
                "{set_name}: {}",
                r.stdout
            );
        }
    }
}

/// Splitting the committed pass bundle again gives the committed volumes,
/// byte for byte: the volume format cannot change by accident.
#[test]
fn splitting_the_pass_vector_reproduces_the_pass_volumes() {
    let w = World::bare();
    let bundle = vectors().join("bundle/pass_minimal.airlock");
    let key = vectors().join("bundle/keys/release.pem");
    w.run(&[
        "split",
        bundle.to_str().unwrap(),
        "--size",
        "11600",
        "--key",
        key.to_str().unwrap(),
        "--out",
        "minimal.airlock",
    ])
    .ok();
    let committed = vectors().join("volumes/pass_two_volumes");
    assert_eq!(
        listing(&committed),
        listing(w.tmp.path())
            .into_iter()
            .filter(|n| n.starts_with("minimal"))
            .collect::<Vec<_>>()
    );
    for n in listing(&committed) {
        assert!(
            fs::read(committed.join(&n)).unwrap() == fs::read(w.path(&n)).unwrap(),
            "{n} differs from the committed vector: the volume format changed \
             (regenerate with scripts/gen-bundle-vectors.sh only if that was intended)"
        );
    }
}
