//! Faults that must not cost data: a staging directory swept or removed
//! from under an import, crash points (the `test-hooks` feature's named
//! points, airlock_hsm::fault), paths as long as the format allows.
use std::fs;
use std::path::Path;
use std::process::Command;

use crate::common::{Run, World, airlock_bin, listing, pack_args};
// What only the crash-point tests (the `test-hooks` feature) use.
use crate::crafted::Crafted;
#[cfg(feature = "test-hooks")]
use {
    crate::common::tree,
    std::os::unix::fs::OpenOptionsExt,
    std::process::{Child, Stdio},
};

/// A run of the binary held at a named pause point until dropped (or
/// [`Paused::finish`]ed).
#[cfg(feature = "test-hooks")]
pub struct Paused {
    child: Child,
    fifo: Option<fs::File>,
}

#[cfg(feature = "test-hooks")]
impl Paused {
    /// Starts `args` in `cwd` and waits until it reaches `point`; panics if
    /// it ends first.
    pub fn start(cwd: &Path, args: &[&str], point: &str) -> Paused {
        let fifo_path = cwd.join(format!(".pause-{point}"));
        let _ = fs::remove_file(&fifo_path);
        assert!(
            Command::new("mkfifo")
                .arg(&fifo_path)
                .status()
                .unwrap()
                .success()
        );
        let mut child = Command::new(airlock_bin())
            .current_dir(cwd)
            .args(args)
            .env_remove("AIRLOCK_STORE")
            .env(
                "AIRLOCK_TEST_PAUSE_AT",
                format!("{point}:{}", fifo_path.display()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Opening for writing without blocking succeeds once the process has
        // opened the FIFO for reading: it is then held at the point.
        let fifo = loop {
            match fs::OpenOptions::new()
                .write(true)
                .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
                .open(&fifo_path)
            {
                Ok(f) => break f,
                Err(_) => {
                    if let Some(status) = child.try_wait().unwrap() {
                        let out = child.wait_with_output().unwrap();
                        panic!(
                            "ended ({status}) before reaching {point}: {}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
        };
        fs::remove_file(&fifo_path).unwrap();
        Paused {
            child,
            fifo: Some(fifo),
        }
    }

    /// Sends it `signal` (`TERM`, `INT`, …) while it is held, and waits for
    /// its end — still held: releasing it first would let the paused thread
    /// go on (and create the next temporary file) while the signal's
    /// cleanup runs, which is not what a signal during that step does.
    pub fn signal(mut self, signal: &str) -> Run {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args([&format!("-{signal}"), &pid])
                .status()
                .unwrap()
                .success()
        );
        let out = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap())
            .wait_with_output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Lets it go on and waits for its end.
    pub fn finish(mut self) -> Run {
        self.fifo = None;
        let out = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap())
            .wait_with_output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

#[cfg(feature = "test-hooks")]
impl Drop for Paused {
    fn drop(&mut self) {
        self.fifo = None;
        let _ = self.child.wait();
    }
}

/// Runs the binary in `cwd` in a new PID namespace (its own /proc).
#[cfg(feature = "test-hooks")]
fn airlock_in_other_pid_namespace(cwd: &Path, args: &[&str]) -> Run {
    let out = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", airlock_bin()])
        .args(args)
        .current_dir(cwd)
        .env_remove("AIRLOCK_STORE")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn staging_dirs(dir: &Path) -> Vec<String> {
    listing(dir)
        .into_iter()
        .filter(|n| n.starts_with(".airlock-staging-") || n.starts_with(".airlock-undo-"))
        .collect()
}

#[cfg(feature = "test-hooks")]
#[test]
fn a_live_import_is_not_swept_by_an_unpack_in_another_pid_namespace() {
    let w = World::new();
    w.pack("rel.airlock", &[]).ok();
    // A second store, so the sweeping unpack does not wait for the first's
    // store lock (two containers, two stores, one shared incoming directory).
    w.run(&[
        "anchor",
        "init",
        "--store",
        "store2",
        "--root",
        "1.root.json",
        "--channel",
        "default",
    ])
    .ok();
    let held = Paused::start(
        w.tmp.path(),
        &["unpack", "rel.airlock", "--store", "store", "--to", "out"],
        "unpack-first-artifact-staged",
    );
    // The artifacts' staging directory and DEST.airlock-metadata's.
    assert_eq!(staging_dirs(w.tmp.path()).len(), 2);
    // Its process id does not exist in the new namespace: a sweep judging
    // by /proc removed the live staging directory.
    airlock_in_other_pid_namespace(
        w.tmp.path(),
        &["unpack", "rel.airlock", "--store", "store2", "--to", "out2"],
    )
    .ok();
    held.finish().ok();
    assert_eq!(tree(&w.path("out")), tree(&w.path("dist")));
    assert_eq!(tree(&w.path("out2")), tree(&w.path("dist")));
    assert!(staging_dirs(w.tmp.path()).is_empty());
}

#[cfg(feature = "test-hooks")]
#[test]
fn a_staging_directory_removed_during_an_unpack_places_nothing() {
    let w = World::new();
    w.pack("rel.airlock", &[]).ok();
    let before = w.store_state();
    let held = Paused::start(
        w.tmp.path(),
        &[
            "unpack",
            "rel.airlock",
            "--store",
            "store",
            "--to",
            "out",
            "--json",
        ],
        "unpack-first-artifact-staged",
    );
    let staging = staging_dirs(w.tmp.path());
    fs::remove_dir_all(w.path(&staging[0])).unwrap();
    let r = held.finish();
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (3, "staging-removed"),
        "{}",
        r.stderr
    );
    assert!(!w.path("out").exists(), "a partial tree was placed");
    assert_eq!(w.store_state(), before, "the import was recorded");
    assert!(staging_dirs(w.tmp.path()).is_empty());
}

#[test]
fn a_locked_staging_directory_is_left_alone_and_a_dead_ones_is_swept() {
    let w = World::new();
    w.pack("rel.airlock", &[]).ok();
    // As a killed unpack leaves it: nobody holds its lock.
    let stale = w.path(".airlock-staging-4294967-1");
    fs::create_dir_all(stale.join("bin")).unwrap();
    fs::write(stale.join("bin/half-written"), b"x").unwrap();
    let dead_undo = w.path(".airlock-undo-4294967");
    fs::create_dir(&dead_undo).unwrap();
    // A live one: its lock is held (here by this process, whose id is
    // irrelevant).
    let live = w.path(".airlock-staging-1-1");
    fs::create_dir(&live).unwrap();
    let lock = fs::File::open(&live).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
    w.unpack("rel.airlock", "out").ok();
    assert!(!stale.exists(), "stale staging directory was not removed");
    assert!(!dead_undo.exists(), "stale undo directory was not removed");
    assert!(
        live.exists(),
        "a locked staging directory must be left alone"
    );
    drop(lock);
    fs::remove_dir(&live).unwrap();
}

#[test]
fn a_4096_byte_path_is_unpacked() {
    let w = World::new();
    // "artifacts/" + 4086 bytes: the format's limit on the whole tar path,
    // in components of 250 bytes (under NAME_MAX).
    let mut path = String::new();
    while path.len() + 251 < 4086 {
        path.push_str(&format!("{}/", "d".repeat(250)));
    }
    path.push_str(&"f".repeat(4086 - path.len()));
    assert_eq!(format!("artifacts/{path}").len(), 4096);
    let b = Crafted::standard(&w)
        .artifact(&path, b"far down\n")
        .write(&w, "long.airlock");
    w.verify(&b).ok();
    // Under a destination whose own path is long too.
    let deep = w.path(&"p".repeat(200));
    fs::create_dir(&deep).unwrap();
    let to = deep.join("out");
    w.unpack(&b, to.to_str().unwrap()).ok();
    // Read back component by component (the full path is over PATH_MAX).
    let mut dir = fs::File::open(&to).unwrap();
    let parts: Vec<&str> = path.split('/').collect();
    for c in &parts[..parts.len() - 1] {
        let fd = rustix::fs::openat(
            &dir,
            *c,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        dir = fs::File::from(fd);
    }
    let fd = rustix::fs::openat(
        &dir,
        parts[parts.len() - 1],
        rustix::fs::OFlags::RDONLY,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut fs::File::from(fd), &mut got).unwrap();
    assert_eq!(got, b"far down\n");
    assert!(staging_dirs(&deep).is_empty());
}

/// Runs the binary in `cwd` with one more environment variable.
#[cfg(feature = "test-hooks")]
pub fn airlock_env(cwd: &Path, args: &[&str], var: (&str, &str)) -> Run {
    let out = Command::new(airlock_bin())
        .current_dir(cwd)
        .args(args)
        .env_remove("AIRLOCK_STORE")
        .env(var.0, var.1)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[cfg(feature = "test-hooks")]
#[test]
fn an_anchor_init_killed_at_any_step_can_be_run_again() {
    let w = World::new();
    w.pack("rel.airlock", &[]).ok();
    let init = [
        "anchor",
        "init",
        "--store",
        "store2",
        "--root",
        "1.root.json",
        "--channel",
        "default",
    ];
    // Between the journal key's two halves; after the journal's first
    // records and the state, before the configuration.
    for point in ["key-pair-after-private", "anchor-init-before-config"] {
        let _ = fs::remove_dir_all(w.path("store2"));
        let r = airlock_env(w.tmp.path(), &init, ("AIRLOCK_TEST_CRASH_AT", point));
        assert_eq!(r.code, 137, "{point} not reached: {}", r.stderr);
        w.run(&init).ok();
        w.run(&["anchor", "show", "--store", "store2"]).ok();
        w.run(&["journal", "verify", "--store", "store2"]).ok();
        w.run(&["verify", "rel.airlock", "--store", "store2"]).ok();
        assert!(!w.path("store2/init-in-progress").exists());
    }
}

#[cfg(feature = "test-hooks")]
#[test]
fn a_journal_recover_killed_at_any_step_can_be_run_again() {
    for point in [
        "journal-recover-before-append",
        "journal-recover-before-bind",
    ] {
        let w = World::new();
        w.pack("rel.airlock", &[]).ok();
        w.verify("rel.airlock").ok();
        // A torn last line, as a crash in the middle of a write leaves it.
        let path = w.path("store/journal.jsonl");
        let mut torn = fs::read(&path).unwrap();
        torn.extend_from_slice(b"{\"seq\":9,\"time\":\"20");
        fs::write(&path, &torn).unwrap();
        let recover = ["journal", "recover", "--store", "store"];
        let r = airlock_env(w.tmp.path(), &recover, ("AIRLOCK_TEST_CRASH_AT", point));
        assert_eq!(r.code, 137, "{point} not reached: {}", r.stderr);
        w.run(&recover).ok();
        w.run(&["journal", "verify", "--store", "store"]).ok();
        w.verify("rel.airlock").ok();
        w.run(&["journal", "verify", "--store", "store"]).ok();
    }
}

/// Runs the binary under `timeout`, so that a blocked read fails the test
/// instead of hanging it.
fn airlock_bounded(cwd: &Path, args: &[&str]) -> Run {
    let out = Command::new("timeout")
        .arg("120")
        .arg(airlock_bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("AIRLOCK_STORE")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn devices_and_fifos_are_refused_as_every_operator_file() {
    let w = World::new();
    w.pack("rel.airlock", &[]).ok();
    let fifo = w.path("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let fifo = fifo.to_str().unwrap().to_owned();
    let pin_uri = |f: &str| {
        format!(
            "pkcs11:token=t;object=o?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:{f}"
        )
    };
    for f in ["/dev/zero", fifo.as_str()] {
        let pack = |flag: &str| {
            let mut args = pack_args("x.airlock", "1.root.json", &["keys/release.pem"], &[]);
            let at = args.iter().position(|a| *a == flag).unwrap() + 1;
            args[at] = f;
            args.into_iter().map(str::to_owned).collect::<Vec<_>>()
        };
        let uri = pin_uri(f);
        let cases: Vec<Vec<String>> = vec![
            pack("--key"),
            pack("--layout-key"),
            pack("--layout"),
            pack("--root"),
            ["key", "id", f].map(str::to_owned).to_vec(),
            [
                "root",
                "init",
                "--out",
                "r.json",
                "--root-key",
                f,
                "--targets-key",
                "keys/release.pub",
                "--layout-key",
                "keys/owner.pub",
            ]
            .map(str::to_owned)
            .to_vec(),
            ["root", "sign", "1.root.json", "--key", f]
                .map(str::to_owned)
                .to_vec(),
            [
                "anchor",
                "init",
                "--store",
                "s2",
                "--root",
                f,
                "--channel",
                "default",
            ]
            .map(str::to_owned)
            .to_vec(),
            ["verify", f, "--store", "store"]
                .map(str::to_owned)
                .to_vec(),
            ["unpack", f, "--store", "store", "--to", "out"]
                .map(str::to_owned)
                .to_vec(),
            // The PIN file of a token key.
            ["root", "sign", "1.root.json", "--key", uri.as_str()]
                .map(str::to_owned)
                .to_vec(),
        ];
        for args in cases {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let r = airlock_bounded(w.tmp.path(), &args);
            assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
            assert!(
                r.stderr.contains("not a regular file"),
                "{args:?}: {}",
                r.stderr
            );
        }
    }
    assert!(!w.path("x.airlock").exists() && !w.path("out").exists());
    assert!(!w.path("s2/airlock-store.json").exists());
}

#[test]
fn a_held_store_lock_times_out_instead_of_blocking() {
    let w = World::new();
    w.pack("rel.airlock", &[]).ok();
    let lock = fs::File::open(w.path("store/lock")).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
    for args in [
        vec!["verify", "rel.airlock", "--store", "store"],
        vec!["unpack", "rel.airlock", "--store", "store", "--to", "out"],
        vec!["journal", "show", "--store", "store"],
        vec!["journal", "verify", "--store", "store"],
    ] {
        let mut args = args.clone();
        args.extend(["--lock-timeout", "1"]);
        airlock_bounded(w.tmp.path(), &args).fails(3, "stayed locked");
    }
    assert!(!w.path("out").exists());
    drop(lock);
    w.verify("rel.airlock").ok();
}

#[test]
fn a_write_protected_store_can_be_audited() {
    let w = World::new();
    w.pack("rel.airlock", &[]).ok();
    w.verify("rel.airlock").ok();
    let store = w.path("store");
    let store = store.to_str().unwrap();
    let script = format!(
        "mount --bind -o ro {store} {store} && touch {store}/probe 2>/dev/null && exit 99; \
         {bin} journal verify --store {store} && {bin} journal show --store {store}",
        bin = airlock_bin()
    );
    let out = Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .current_dir(w.tmp.path())
        .env_remove("AIRLOCK_STORE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("journal intact"));
}

fn pack_temps(dir: &Path) -> Vec<String> {
    listing(dir)
        .into_iter()
        .filter(|n| n.starts_with(".airlock-pack-"))
        .collect()
}

#[test]
fn pack_out_never_replaces_a_device_a_fifo_a_link_or_a_file_that_is_not_a_bundle() {
    let w = World::new();
    // A device node like /dev/null, made here so that nothing real is at risk.
    assert!(
        Command::new("mknod")
            .args([w.path("dev").to_str().unwrap(), "c", "1", "3"])
            .status()
            .unwrap()
            .success()
    );
    assert!(
        Command::new("mkfifo")
            .arg(w.path("fifo"))
            .status()
            .unwrap()
            .success()
    );
    std::os::unix::fs::symlink("1.root.json", w.path("link")).unwrap();
    fs::create_dir(w.path("dir")).unwrap();
    for out in ["dev", "fifo", "link", "dir"] {
        for extra in [&[][..], &["--force"][..]] {
            let r = w.pack(out, extra);
            assert_eq!(r.code, 2, "{out}: {}", r.stderr);
            assert!(r.stderr.contains("is not a regular file"), "{}", r.stderr);
            let r = w.pack(out, &[extra, &["--json"]].concat());
            assert_eq!(r.error_code(), "out-not-regular");
        }
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(
        fs::symlink_metadata(w.path("dev"))
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert!(
        fs::symlink_metadata(w.path("fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert!(
        fs::symlink_metadata(w.path("link"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // The store's journal is a regular file, but not a bundle.
    let journal = fs::read(w.path("store/journal.jsonl")).unwrap();
    let r = w.pack("store/journal.jsonl", &["--json"]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (2, "out-not-a-bundle"),
        "{}",
        r.stderr
    );
    assert_eq!(fs::read(w.path("store/journal.jsonl")).unwrap(), journal);
    // A bundle is replaced; a non-bundle only with --force.
    w.pack("rel.airlock", &[]).ok();
    w.pack("rel.airlock", &["--sequence", "9"]).ok();
    w.write("notes.txt", b"notes");
    w.pack("notes.txt", &["--force"]).ok();
    w.verify("notes.txt").ok();
    assert!(pack_temps(w.tmp.path()).is_empty());
}

#[test]
fn temporary_files_of_a_killed_pack_are_removed_by_the_next_and_a_live_ones_kept() {
    let w = World::new();
    w.write(".airlock-pack-4294967-abc", &[7u8; 4096]);
    w.write(".airlock-pack-4294967-split-1", &[7u8; 4096]);
    w.write(".airlock-pack-1-live", b"x");
    let live = fs::File::open(w.path(".airlock-pack-1-live")).unwrap();
    live.lock().unwrap();
    w.pack("rel.airlock", &[]).ok();
    assert_eq!(pack_temps(w.tmp.path()), [".airlock-pack-1-live"]);
}

#[cfg(feature = "test-hooks")]
#[test]
fn a_pack_or_unpack_ended_by_a_signal_leaves_no_temporary_files() {
    let w = World::new();
    for signal in ["TERM", "INT", "HUP"] {
        let args = pack_args("rel.airlock", "1.root.json", &["keys/release.pem"], &[]);
        let held = Paused::start(w.tmp.path(), &args, "pack-payload-written");
        assert_eq!(pack_temps(w.tmp.path()).len(), 1);
        let r = held.signal(signal);
        assert_ne!(r.code, 0);
        assert!(pack_temps(w.tmp.path()).is_empty(), "{signal}");
        assert!(!w.path("rel.airlock").exists());
    }
    w.pack("rel.airlock", &[]).ok();
    for signal in ["TERM", "INT"] {
        let held = Paused::start(
            w.tmp.path(),
            &["unpack", "rel.airlock", "--store", "store", "--to", "out"],
            "unpack-first-artifact-staged",
        );
        // The artifacts' staging directory and DEST.airlock-metadata's.
        assert_eq!(staging_dirs(w.tmp.path()).len(), 2);
        let r = held.signal(signal);
        assert_ne!(r.code, 0);
        assert!(staging_dirs(w.tmp.path()).is_empty(), "{signal}");
        assert!(!w.path("out").exists());
    }
}

#[cfg(feature = "test-hooks")]
#[test]
fn a_split_ended_by_a_signal_leaves_no_temporary_volumes_and_the_next_sweeps_a_killed_ones() {
    let w = World::new();
    w.pack("rel.airlock", &[]).ok();
    let args = [
        "split",
        "rel.airlock",
        "--size",
        "100000",
        "--key",
        "keys/release.pem",
        "--out",
        "vol.airlock",
    ];
    for signal in ["TERM", "INT"] {
        let held = Paused::start(w.tmp.path(), &args, "split-first-bytes-written");
        assert!(!pack_temps(w.tmp.path()).is_empty());
        let r = held.signal(signal);
        assert_ne!(r.code, 0);
        assert!(pack_temps(w.tmp.path()).is_empty(), "{signal}");
        assert!(!w.path("vol.airlock.001").exists());
    }
    // Killed (no cleanup can run): the next split sweeps what it left.
    let r = airlock_env(
        w.tmp.path(),
        &args,
        ("AIRLOCK_TEST_CRASH_AT", "split-first-bytes-written"),
    );
    assert_eq!(r.code, 137, "{}", r.stderr);
    assert!(!pack_temps(w.tmp.path()).is_empty());
    w.run(&args).ok();
    assert!(pack_temps(w.tmp.path()).is_empty());
    assert!(w.path("vol.airlock.001").exists());
}

#[test]
fn temporary_state_files_left_by_a_crash_are_removed_under_the_lock() {
    let w = World::new();
    w.pack("rel.airlock", &[]).ok();
    w.write("store/.state.json.tmp-4294967", b"{half");
    w.write("store/roots/.1.x.root.json.tmp-4294967", b"{half");
    w.verify("rel.airlock").ok();
    assert!(!w.path("store/.state.json.tmp-4294967").exists());
    assert!(!w.path("store/roots/.1.x.root.json.tmp-4294967").exists());
}

#[test]
fn unpack_refuses_a_destination_inside_the_store() {
    let w = World::new();
    w.pack("rel.airlock", &[]).ok();
    let before = listing(&w.path("store"));
    for to in ["store/out", "store/roots/out", "./store/../store/x"] {
        let r = w.unpack_json("rel.airlock", to);
        assert_eq!(
            (r.code, r.error_code().as_str()),
            (2, "destination-in-store"),
            "{to}: {}",
            r.stderr
        );
    }
    assert_eq!(listing(&w.path("store")), before);
}

#[test]
fn sequences_above_2_pow_53_minus_1_are_refused() {
    let w = World::new();
    w.pack("big.airlock", &["--sequence", "9007199254740992"])
        .fails(2, "above the largest allowed");
    assert!(!w.path("big.airlock").exists());
    w.pack("max.airlock", &["--sequence", "9007199254740991"])
        .ok();
    for sequence in [u64::MAX, 1 << 53] {
        let mut c = Crafted::standard(&w);
        c.sequence = sequence;
        let b = c.write(&w, "crafted.airlock");
        let before = w.store_state();
        let r = w.unpack_json(&b, "out");
        assert_eq!(
            (r.code, r.error_code().as_str()),
            (1, "sequence-out-of-range"),
            "{}",
            r.stderr
        );
        assert!(!w.path("out").exists());
        assert_eq!(w.store_state(), before);
    }
}

#[cfg(feature = "test-hooks")]
#[test]
fn journal_show_says_plainly_that_an_accepted_record_was_not_committed() {
    let w = World::new();
    w.pack("rel.airlock", &[]).ok();
    // Killed after the acceptance was journaled, before anything was placed
    // or the store recorded it.
    let r = airlock_env(
        w.tmp.path(),
        &["unpack", "rel.airlock", "--store", "store", "--to", "out"],
        ("AIRLOCK_TEST_CRASH_AT", "unpack-before-rename"),
    );
    assert_eq!(r.code, 137, "{}", r.stderr);
    assert!(!w.path("out").exists());
    let not_committed = |w: &World| {
        let s = w.run(&["journal", "show", "--store", "store"]).ok();
        s.stdout
            .lines()
            .filter(|l| l.contains(" unpack ") && l.contains("accepted"))
            .map(|l| l.contains("NOT COMMITTED"))
            .collect::<Vec<_>>()
    };
    assert_eq!(not_committed(&w), [true]);
    // Once recorded by the next command, and after a real import.
    w.unpack("rel.airlock", "out").ok();
    assert_eq!(not_committed(&w), [true, false]);
    assert!(staging_dirs(w.tmp.path()).is_empty());
}

#[cfg(feature = "test-hooks")]
#[test]
fn an_import_killed_between_its_ledger_append_and_its_commit_leaves_a_store_that_accepts_the_next()
{
    let w = World::new();
    for s in ["1", "2"] {
        w.pack(&format!("s{s}.airlock"), &["--sequence", s]).ok();
    }
    let r = airlock_env(
        w.tmp.path(),
        &["unpack", "s1.airlock", "--store", "store", "--to", "out"],
        ("AIRLOCK_TEST_CRASH_AT", "ledger-appended"),
    );
    assert_eq!(r.code, 137, "{}", r.stderr);
    // Its id is in the file, beyond what the state binds.
    assert_eq!(fs::read(w.path("store/ledger")).unwrap().len(), 33);
    let state: serde_json::Value = serde_json::from_str(&w.store_state()).unwrap();
    assert_eq!(state["ledger"]["ids"], 0);
    let r = w.unpack_json("s2.airlock", "o2").ok();
    let id = r.json()["bundle_id"].as_str().unwrap().to_owned();
    assert_eq!(
        fs::read_to_string(w.path("store/ledger")).unwrap(),
        format!("{id}\n")
    );
    let r = w.unpack_json("s2.airlock", "again");
    assert_eq!((r.code, r.error_code().as_str()), (1, "replay"));
    // The killed import was never accepted: below the last, not a replay.
    let r = w.unpack_json("s1.airlock", "again");
    assert_eq!((r.code, r.error_code().as_str()), (1, "rollback"));
}
