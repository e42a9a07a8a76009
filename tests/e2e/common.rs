//! The shared fixture: a connected side (keys, root, artifacts, layout) and
//! a provisioned isolated-side file store, all made through the binary.
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// The fixed epoch fixtures pack with (2026-11-14T22:13:20Z).
pub const EPOCH: u64 = 1_794_694_400;

pub fn airlock_bin() -> &'static str {
    env!("CARGO_BIN_EXE_airlock")
}

/// The result of one run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Asserts success and returns self.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts exit `code` and that stderr's `error:` line contains `needle`.
    #[track_caller]
    pub fn fails(self, code: i32, needle: &str) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        let error = self
            .stderr
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or("");
        assert!(
            error.contains(needle),
            "expected error containing {needle:?}, got {:?}",
            self.stderr
        );
        assert!(
            self.stderr.lines().any(|l| l.starts_with("hint: ")),
            "no hint line: {}",
            self.stderr
        );
        self
    }

    /// The `--json` object on stdout.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    /// The first error code of a `--json` failure.
    pub fn error_code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

/// Runs the binary in `cwd` with `args`.
pub fn airlock_in(cwd: &Path, args: &[&str]) -> Run {
    airlock_in_env(cwd, args, &[])
}

/// [`airlock_in`] with extra environment variables (e.g. an empty `PATH`,
/// to show that airlock ran no command).
pub fn airlock_in_env(cwd: &Path, args: &[&str], env: &[(&str, &Path)]) -> Run {
    let mut cmd = Command::new(airlock_bin());
    cmd.current_dir(cwd)
        .args(args)
        .env_remove("AIRLOCK_STORE")
        .env_remove("SOURCE_DATE_EPOCH");
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run::from(cmd.output().unwrap())
}

/// The channels every test store allows.
pub const CHANNELS: [&str; 12] = [
    "default", "stable", "beta", "crafted", "vectors", "a", "b", "f", "r", "t", "x", "y",
];

/// `anchor init --channel CHANNELS… --store STORE --root ROOT EXTRA…`.
pub fn anchor_init_args<'a>(store: &'a str, root: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["anchor", "init", "--channel"];
    args.extend(CHANNELS);
    args.extend(["--store", store, "--root", root]);
    args.extend(extra);
    args
}

/// `root init` of the fixture's `1.root.json`: root key `keys/root.pub`,
/// targets key `keys/release.pub`, layout owner `keys/owner.pub`.
pub const ROOT_INIT: [&str; 12] = [
    "root",
    "init",
    "--layout-key",
    "keys/owner.pub",
    "--out",
    "1.root.json",
    "--root-key",
    "keys/root.pub",
    "--targets-key",
    "keys/release.pub",
    "--expires",
    "3650d",
];

/// `pack` of the fixture (`dist/`, `root.layout`, `links/`) into OUT with
/// the roots from ROOT, signed with KEYS, then EXTRA.
pub fn pack_args<'a>(
    out: &'a str,
    root: &'a str,
    keys: &[&'a str],
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec!["pack", "--out", out];
    args.extend(pack_inputs(&[root], keys, extra));
    args
}

/// The inputs of [`pack_args`] without `pack --out OUT`: `--root ROOTS…`,
/// the fixture's layout, owner key, links and artifacts, `--key KEYS…`,
/// then EXTRA.
pub fn pack_inputs<'a>(roots: &[&'a str], keys: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--root"];
    args.extend(roots);
    args.extend([
        "--layout",
        "root.layout",
        "--layout-key",
        "keys/owner.pub",
        "--links",
        "links",
        "--artifacts",
        "dist",
        "--key",
    ]);
    args.extend(keys);
    args.extend(extra);
    args
}

/// A layout step for [`World::write_layout`]: name, functionary key name,
/// material rules, product rules.
pub type Step<'a> = (&'a str, &'a str, &'a [&'a [&'a str]], &'a [&'a [&'a str]]);

/// A connected side and an isolated side in one temporary directory.
pub struct World {
    pub tmp: TempDir,
}

impl World {
    /// Keys `root`, `release` (targets), `owner` (layout); a signed root;
    /// an artifact tree in `dist/`; a layout; an empty `links/`; a store
    /// provisioned with the root.
    pub fn new() -> World {
        let w = World::bare();
        for k in ["root", "release", "owner", "builder"] {
            w.run(&["keygen", "--out", &format!("keys/{k}")]).ok();
        }
        w.sign_root();
        w.write("dist/bin/tool", &pseudo_random(300_000, 1));
        w.write("dist/README.md", b"# release\n");
        w.write("dist/share/a/b/c/deep.txt", b"deep\n");
        w.write("dist/empty.dat", b"");
        w.write(
            &format!("dist/long/{}/file.txt", "x".repeat(120)),
            b"long path\n",
        );
        w.write_layout(&[("build", "builder", &[], &[&["ALLOW", "*"]])]);
        fs::create_dir_all(w.path("links")).unwrap();
        w.record_build().ok();
        w.anchor_store();
        w
    }

    /// Writes `root.layout` with `steps` — (name, functionary key, material
    /// rules, product rules) — expiring in 2099, signed by `keys/owner.pem`.
    pub fn write_layout(&self, steps: &[Step]) {
        self.write_layout_expiring(steps, "2099-01-01T00:00:00Z", "e2e fixture");
    }

    /// [`World::write_layout`] with its own `expires` and `readme`.
    pub fn write_layout_expiring(&self, steps: &[Step], expires: &str, readme: &str) {
        use airlock::json::Json;
        use airlock::keys::{key_object, keyid, load_public_key, obj};
        let strs = |v: &[&str]| Json::Arr(v.iter().map(|s| Json::Str((*s).into())).collect());
        let rules = |r: &[&[&str]]| Json::Arr(r.iter().map(|x| strs(x)).collect());
        let mut keys = std::collections::BTreeMap::new();
        let mut js = Vec::new();
        for (name, key, materials, products) in steps {
            let pk = load_public_key(&self.path(&format!("keys/{key}.pub"))).unwrap();
            let id = keyid(&pk);
            keys.insert(id.clone(), key_object(&pk));
            js.push(obj([
                ("_type", Json::Str("step".into())),
                ("name", Json::Str((*name).into())),
                ("threshold", Json::Int(1)),
                ("pubkeys", Json::Arr(vec![Json::Str(id)])),
                ("expected_command", Json::Arr(vec![])),
                ("expected_materials", rules(materials)),
                ("expected_products", rules(products)),
            ]));
        }
        let layout = obj([
            ("_type", Json::Str("layout".into())),
            ("expires", Json::Str(expires.into())),
            ("readme", Json::Str(readme.into())),
            ("keys", Json::Obj(keys)),
            ("steps", Json::Arr(js)),
            ("inspect", Json::Arr(vec![])),
        ]);
        self.write("root.layout", layout.to_pretty().as_bytes());
        self.run(&["layout", "sign", "root.layout", "--key", "keys/owner.pem"])
            .ok();
    }

    /// Records step `build` (key `builder`): the products are `dist/`'s
    /// files, paths relative to `dist/`.
    pub fn record_build(&self) -> Run {
        self.run(&[
            "record",
            "--name",
            "build",
            "--key",
            "keys/builder.pem",
            "--products",
            "dist",
            "--lstrip-paths",
            "dist/",
            "--exclude",
            "__none__",
            "--out-dir",
            "links",
        ])
    }

    /// Just the temporary directory, with `keys/`.
    pub fn bare() -> World {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("keys")).unwrap();
        World { tmp }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    pub fn write(&self, rel: &str, bytes: &[u8]) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    }

    pub fn run(&self, args: &[&str]) -> Run {
        airlock_in(self.tmp.path(), args)
    }

    /// `pack` with the fixture's inputs plus `extra` flags, signed by the
    /// release key, at the fixture epoch.
    pub fn pack(&self, out: &str, extra: &[&str]) -> Run {
        let epoch = EPOCH.to_string();
        let mut args = vec!["--source-date-epoch", epoch.as_str()];
        if !extra.contains(&"--expires") {
            args.extend(["--expires", "36500d"]);
        }
        args.extend(extra);
        self.pack_as(out, &["keys/release.pem"], "1.root.json", &args)
    }

    /// `pack` of `dist/` with the fixture's layout and links, signed by
    /// `keys` against `root`, plus `extra` flags. The build step is recorded
    /// again first, as a release pipeline would after changing `dist/`.
    pub fn pack_as(&self, out: &str, keys: &[&str], root: &str, extra: &[&str]) -> Run {
        self.record_build();
        self.pack_raw(out, keys, root, extra)
    }

    /// [`World::pack_as`] without recording the build step again.
    pub fn pack_raw(&self, out: &str, keys: &[&str], root: &str, extra: &[&str]) -> Run {
        self.run(&pack_args(out, root, keys, extra))
    }

    /// `root sign ROOT --key KEYS… EXTRA…`.
    pub fn root_sign(&self, root: &str, keys: &[&str], extra: &[&str]) -> Run {
        let mut args = vec!["root", "sign", root, "--key"];
        args.extend(keys);
        args.extend(extra);
        self.run(&args)
    }

    /// `root verify --trusted TRUSTED ARGS…` (the newer roots, flags).
    pub fn root_verify(&self, trusted: &str, args: &[&str]) -> Run {
        let mut all = vec!["root", "verify", "--trusted", trusted];
        all.extend(args);
        self.run(&all)
    }

    /// `1.root.json` ([`ROOT_INIT`]), signed with `keys/root.pem`.
    pub fn sign_root(&self) {
        self.run(&ROOT_INIT).ok();
        self.root_sign("1.root.json", &["keys/root.pem"], &[]).ok();
    }

    /// The store `store`, anchored in `1.root.json`, allowing [`CHANNELS`].
    pub fn anchor_store(&self) {
        self.run(&anchor_init_args("store", "1.root.json", &[]))
            .ok();
    }

    pub fn verify(&self, bundle: &str) -> Run {
        self.run(&["verify", bundle, "--store", "store"])
    }

    pub fn unpack(&self, bundle: &str, to: &str) -> Run {
        self.run(&["unpack", bundle, "--store", "store", "--to", to])
    }

    /// [`World::unpack`] with `--json`.
    pub fn unpack_json(&self, bundle: &str, to: &str) -> Run {
        self.run(&["unpack", bundle, "--store", "store", "--to", to, "--json"])
    }

    /// Asserts the receipt `out.receipt.dsse.json` verifies with the
    /// journal key of `store` (its SubjectPublicKeyInfo, from record 1,
    /// written as PEM to `pem`) and names that key's keyid.
    #[track_caller]
    pub fn assert_receipt_signed_by_journal_key(&self, store: &str, pem: &str) {
        let journal = fs::read_to_string(self.path(&format!("{store}/journal.jsonl"))).unwrap();
        let first: serde_json::Value =
            serde_json::from_str(journal.lines().next().unwrap()).unwrap();
        let spki = first["fields"]["journal_key"]["spki"].as_str().unwrap();
        let body: Vec<String> = spki
            .as_bytes()
            .chunks(64)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        self.write(
            pem,
            format!(
                "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
                body.join("\n")
            )
            .as_bytes(),
        );
        let v = self
            .run(&[
                "receipt",
                "verify",
                "out.receipt.dsse.json",
                "--key",
                pem,
                "--json",
            ])
            .ok();
        assert_eq!(v.json()["keyid"], first["fields"]["journal_key"]["keyid"]);
    }

    /// The store's state file without the journal head, for "unchanged"
    /// assertions (every decision moves the head: it is journaled).
    pub fn store_state(&self) -> String {
        let text = fs::read_to_string(self.path("store/state.json")).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v.as_object_mut().unwrap().remove("journal");
        v.to_string()
    }
}

/// Deterministic, poorly compressible bytes.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Every regular file under `dir` as (relative path, bytes, mode), sorted.
pub fn tree(dir: &Path) -> Vec<(String, Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else {
                assert!(ft.is_file(), "{} is not a regular file", e.path().display());
                let rel = e
                    .path()
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let mode = e.metadata().unwrap().permissions().mode() & 0o7777;
                out.push((rel, fs::read(e.path()).unwrap(), mode));
            }
        }
    }
    out.sort();
    out
}

/// Directory entries of `dir` (names), sorted — to show nothing stray was left.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The cases of a reference-vector directory, named for their verdict
/// (`pass_*`, `fail_<code>_*`, `stricter_fail_<code>_*`): (case directory,
/// expected exit, expected error code), sorted. A case is a directory
/// holding `marker`.
pub fn verdict_cases(dir: &Path, marker: &str) -> Vec<(PathBuf, i32, String)> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if !path.join(marker).is_file() {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let (exit, code) = if name.starts_with("pass_") {
            (0, String::new())
        } else {
            let rest = name
                .strip_prefix("stricter_fail_")
                .or_else(|| name.strip_prefix("fail_"))
                .unwrap_or_else(|| panic!("{name}: a case is pass_, fail_ or stricter_fail_"));
            (1, rest.split('_').next().unwrap().to_owned())
        };
        out.push((path, exit, code));
    }
    out.sort();
    out
}
