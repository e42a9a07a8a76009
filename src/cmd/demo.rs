//! `demo`: the whole story on generated keys and a file store, printing each
//! step as the command an operator would type.
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use airlock_hsm::{FileSigner, Signer};

use crate::cli::{
    AtArg, JournalVerifyArgs, MetricsFileArg, PackArgs, PromptArg, RecordArgs, RootInitArgs,
    StoreArg, UnpackArgs, VerifyArgs,
};
use crate::cmd::Output;
use crate::cmd::{Outcome, anchor, intoto, journal, pack, root, unpack, verify};
use crate::error::{EXIT_REJECTED, Error};
use crate::json::Json;
use crate::keys::{key_object, keyid, obj};
use crate::timefmt::{format_utc, now};

struct Narrator {
    to_stderr: bool,
    step: u32,
}

impl Narrator {
    /// Prints one line of narration, made terminal-safe.
    fn say(&self, line: &str) {
        if self.to_stderr {
            crate::cmd::terminal::eprint_line(line);
        } else {
            crate::cmd::terminal::print_line(line);
        }
    }

    fn step(&mut self, title: &str, command: &str) {
        self.step += 1;
        self.say("");
        self.say(&format!("== {}. {title}", self.step));
        self.say(&format!("   $ {command}"));
    }

    fn outcome(&self, o: &Outcome) {
        for l in &o.lines {
            self.say(&format!("   {l}"));
        }
    }
}

/// `anchor show`'s outcome without the backend's notes (what it keeps where,
/// what it protects against): `anchor init` printed them in step 8 already,
/// and a story that says the same thing twice is not read twice.
fn without_backend_notes(mut o: Outcome) -> Outcome {
    let notes = |l: &String| l.starts_with("           ") && l.contains(':');
    let first = o.lines.iter().position(notes);
    o.lines.retain(|l| !notes(l));
    if let Some(i) = first {
        o.lines.insert(
            i,
            "           (what a file store keeps where and protects against: as in step 8)".into(),
        );
    }
    o
}

/// `bundle` with one bit of the firmware's data flipped, as someone would do
/// who knows the format: the payload frame decompressed, changed and
/// compressed again, so the copy is well-formed zstd and only the content
/// differs (flipping a byte of the compressed frame would only show zstd's
/// own checksum failing). The signed head frame is untouched.
fn tamper_artifact(bundle: &[u8], firmware: &[u8]) -> Result<Vec<u8>, Error> {
    let err = |e: &dyn std::fmt::Display| demo_err(&format!("tampering: {e}"));
    let head = zstd::zstd_safe::find_frame_compressed_size(bundle).map_err(|c| err(&c))?;
    let mut tar = zstd::decode_all(&bundle[head..]).map_err(|e| err(&e))?;
    let at = tar
        .windows(64)
        .position(|w| w == &firmware[..64])
        .ok_or_else(|| err(&"the firmware is not in the payload"))?;
    tar[at + 1000] ^= 0x01;
    let mut out = bundle[..head].to_vec();
    let mut enc = zstd::stream::write::Encoder::new(&mut out, 3).map_err(|e| err(&e))?;
    enc.include_checksum(true).map_err(|e| err(&e))?;
    enc.write_all(&tar).map_err(|e| err(&e))?;
    enc.finish().map_err(|e| err(&e))?;
    Ok(out)
}

fn demo_err(what: &str) -> Error {
    Error::DemoFailed(what.to_string())
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).map_err(|e| demo_err(&format!("{}: {e}", p.display())))?;
    }
    fs::write(path, bytes).map_err(|e| demo_err(&format!("{}: {e}", path.display())))
}

/// The demo's layout: `build` (builder) turns `src/` into `dist/`;
/// `package` (packager) signs off on exactly what `build` produced, with
/// paths relative to `dist/` — the bundle's artifacts.
fn demo_layout(builder: &dyn Signer, packager: &dyn Signer, expires: u64) -> Json {
    let strs = |v: &[&str]| Json::Arr(v.iter().map(|s| Json::Str((*s).into())).collect());
    let rules = |r: &[&[&str]]| Json::Arr(r.iter().map(|x| strs(x)).collect());
    let step = |name: &str, key: &dyn Signer, materials: Json, products: Json| {
        obj([
            ("_type", Json::Str("step".into())),
            ("name", Json::Str(name.into())),
            ("threshold", Json::Int(1)),
            ("pubkeys", strs(&[&keyid(key.public_key())])),
            ("expected_command", Json::Arr(vec![])),
            ("expected_materials", materials),
            ("expected_products", products),
        ])
    };
    let from_build: &[&str] = &[
        "MATCH", "*", "WITH", "PRODUCTS", "IN", "dist", "FROM", "build",
    ];
    obj([
        ("_type", Json::Str("layout".into())),
        ("expires", Json::Str(format_utc(expires))),
        (
            "readme",
            Json::Str("airlock demo: build, then package".into()),
        ),
        (
            "keys",
            Json::Obj(
                [
                    (
                        keyid(builder.public_key()),
                        key_object(builder.public_key()),
                    ),
                    (
                        keyid(packager.public_key()),
                        key_object(packager.public_key()),
                    ),
                ]
                .into(),
            ),
        ),
        (
            "steps",
            Json::Arr(vec![
                step(
                    "build",
                    builder,
                    rules(&[&["ALLOW", "src/*"], &["DISALLOW", "*"]]),
                    rules(&[&["CREATE", "dist/*"], &["DISALLOW", "*"]]),
                ),
                step(
                    "package",
                    packager,
                    rules(&[from_build, &["DISALLOW", "*"]]),
                    rules(&[from_build, &["DISALLOW", "*"]]),
                ),
            ]),
        ),
        ("inspect", Json::Arr(vec![])),
    ])
}

/// `verify BUNDLE --store STORE`, as the demo runs it.
fn verify_args(bundle: PathBuf, store: &Path) -> VerifyArgs {
    VerifyArgs {
        bundle,
        store: store_arg(store),
        at: AtArg::default(),
        prompt: PromptArg::default(),
        metrics_file: MetricsFileArg::default(),
        run_inspections: false,
    }
}

/// `unpack BUNDLE --store STORE --to TO`, as the demo runs it.
fn unpack_args(bundle: PathBuf, store: &Path, to: PathBuf) -> UnpackArgs {
    UnpackArgs {
        bundle,
        store: store_arg(store),
        to,
        at: AtArg::default(),
        prompt: PromptArg::default(),
        metrics_file: MetricsFileArg::default(),
        run_inspections: false,
    }
}

fn store_arg(p: &Path) -> StoreArg {
    StoreArg {
        path: crate::cli::StoreDir::new(&p.display().to_string()),
    }
}

fn same_tree(a: &Path, b: &Path) -> Result<bool, Error> {
    let list = |d: &Path| {
        crate::walk::walk_tree(d)
            .map(|v| v.into_iter().map(|f| (f.rel, f.file)).collect::<Vec<_>>())
    };
    let (la, lb) = (list(a)?, list(b)?);
    if la.len() != lb.len() {
        return Ok(false);
    }
    for ((ra, fa), (rb, fb)) in la.iter().zip(&lb) {
        let read = |p: &PathBuf| fs::read(p).map_err(|e| demo_err(&e.to_string()));
        if ra != rb || read(fa)? != read(fb)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `airlock demo [--dir DIR]`.
pub fn run(dir: Option<&Path>, output: Output) -> Result<Outcome, Error> {
    let tmp;
    let base: PathBuf = match dir {
        Some(d) => {
            fs::create_dir_all(d).map_err(|e| demo_err(&e.to_string()))?;
            if fs::read_dir(d)
                .map_err(|e| demo_err(&e.to_string()))?
                .next()
                .is_some()
            {
                return Err(Error::usage(
                    format!("{} is not empty", d.display()),
                    "give --dir a new or empty directory",
                ));
            }
            d.to_owned()
        }
        None => {
            tmp = tempfile::Builder::new()
                .prefix("airlock-demo-")
                .tempdir()
                .map_err(|e| demo_err(&e.to_string()))?;
            tmp.path().to_owned()
        }
    };
    let mut n = Narrator {
        to_stderr: !output.shows_progress(),
        step: 0,
    };
    n.say(&format!("airlock demo in {}", base.display()));
    connected_side(&mut n, &base)?;
    isolated_side(&mut n, &base)?;
    let show = |p: &Path| p.display().to_string();

    let mut o = Outcome::default();
    o.line("");
    o.line("demo complete: accepted the signed bundle; refused the tampered copy, the insider's bundle and the replay; the journal records each decision.");
    if dir.is_none() {
        o.line("(the temporary directory is removed, with the metrics file and the report; use --dir DIR to keep the files)");
    }
    o.field("dir", show(&base)).field("steps", n.step);
    Ok(o)
}

/// The demo's connected side: keys, root, layout, links, the signed
/// bundle, and the two bundles the supply chain refuses (a tampered copy,
/// an insider's rogue bundle).
fn connected_side(n: &mut Narrator, base: &Path) -> Result<(), Error> {
    let p = |s: &str| base.join(s);
    let show = |p: &Path| p.display().to_string();

    // Connected side.
    n.step(
        "Connected side: generate keys (root, release, layout owner, builder, packager)",
        "airlock keygen --out keys/root   # and keys/release, keys/owner, keys/builder, keys/packager",
    );
    fs::create_dir_all(p("keys")).map_err(|e| demo_err(&e.to_string()))?;
    let mut signers = Vec::new();
    for name in ["root", "release", "owner", "builder", "packager"] {
        let s = FileSigner::generate()?;
        s.write_pair(&p(&format!("keys/{name}")))?;
        n.say(&format!("   {name:<8} keyid {}", keyid(s.public_key())));
        signers.push(s);
    }

    n.step(
        "Write the TUF root: root key signs roots, release key signs bundles, owner key signs layouts",
        "airlock root init --out 1.root.json --root-key keys/root.pub --targets-key keys/release.pub --layout-key keys/owner.pub && airlock root sign 1.root.json --key keys/root.pem",
    );
    root::init(&RootInitArgs {
        out: p("1.root.json"),
        root_key: vec![p("keys/root.pub")],
        root_threshold: 1,
        targets_key: vec![p("keys/release.pub")],
        targets_threshold: 1,
        layout_key: vec![p("keys/owner.pub")],
        layout_threshold: 1,
        expires: "365d".into(),
        root_version: 1,
    })?;
    n.outcome(&root::sign(
        &p("1.root.json"),
        &[show(&p("keys/root.pem"))],
        None,
    )?);

    n.step(
        "The supply chain: the layout owner writes and signs the layout",
        "airlock layout sign root.layout --key keys/owner.pem",
    );
    let layout = demo_layout(&signers[3], &signers[4], now() + 365 * 86_400);
    write(&p("root.layout"), layout.to_pretty().as_bytes())?;
    n.outcome(&intoto::sign_layout(
        &p("root.layout"),
        &[show(&p("keys/owner.pem"))],
        false,
    )?);
    n.say("   steps: build (builder: src/ -> dist/), package (packager: exactly what build made)");

    n.step(
        "Step `build`: the builder compiles src/ into dist/ and records it",
        "airlock record --name build --key keys/builder.pem --materials src --products dist --out-dir links",
    );
    write(&p("src/controller.c"), b"int main(void) { return 0; }\n")?;
    write(&p("src/defaults.toml"), b"[controller]\nwatchdog = true\n")?;
    let mut firmware = Vec::with_capacity(512 * 1024);
    let mut x: u32 = 0x2545_f491;
    while firmware.len() < 512 * 1024 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        firmware.extend_from_slice(&x.to_le_bytes()[..1 + (x % 4) as usize]);
    }
    write(&p("dist/firmware/controller.bin"), &firmware)?;
    write(
        &p("dist/README.txt"),
        b"Controller firmware 4.2.0 for the isolated fleet.\n",
    )?;
    write(
        &p("dist/config/defaults.toml"),
        b"[controller]\nwatchdog = true\n",
    )?;
    fs::create_dir_all(p("links")).map_err(|e| demo_err(&e.to_string()))?;
    let record_args =
        |name: &str, key: &str, materials: &str, products: &str, lstrip: Vec<String>| RecordArgs {
            name: name.into(),
            key: show(&p(key)),
            materials: vec![materials.into()],
            products: vec![products.into()],
            image: vec![],
            platform: vec![],
            registry_conn: Default::default(),
            dsse: false,
            out_dir: p("links"),
            exclude: vec![],
            lstrip_paths: lstrip,
            base_path: Some(base.to_owned()),
            record_streams: false,
            timeout: None,
            command: vec![],
        };
    n.outcome(&intoto::record(&record_args(
        "build",
        "keys/builder.pem",
        "src",
        "dist",
        vec![],
    ))?);
    n.say("   dist/: firmware/controller.bin (512 KiB), README.txt, config/defaults.toml");

    n.step(
        "Step `package`: the packager checks dist/ and records it, paths relative to dist/",
        "airlock record --name package --key keys/packager.pem --materials dist --products dist --lstrip-paths dist/ --dsse --out-dir links",
    );
    let mut package = record_args(
        "package",
        "keys/packager.pem",
        "dist",
        "dist",
        vec!["dist/".into()],
    );
    package.dsse = true;
    n.outcome(&intoto::record(&package)?);

    n.step(
        "Pack and sign the bundle",
        "airlock pack --out release.airlock --key keys/release.pem --root 1.root.json --layout root.layout --layout-key keys/owner.pub --links links --artifacts dist --channel stable --sequence 1",
    );
    let pack_args = PackArgs {
        out: p("release.airlock"),
        force: false,
        key: vec![show(&p("keys/release.pem"))],
        root: vec![p("1.root.json")],
        layout: p("root.layout"),
        layout_key: vec![p("keys/owner.pub")],
        links: p("links"),
        artifacts: Some(p("dist")),
        image: Vec::new(),
        platform: Vec::new(),
        registry_conn: Default::default(),
        channel: "stable".into(),
        sequence: Some(1),
        expires: "30d".into(),
        split: None,
        attestation: vec![],
        source_date_epoch: None,
        product_step: None,
        level: 3,
        threads: None,
        posix_names: false,
        base: None,
        run_inspections: false,
        for_enclave: Vec::new(),
    };
    n.outcome(&pack::run(&pack_args, Output::Quiet)?);

    n.step(
        "An insider with the release key packs modified firmware",
        "airlock pack ... --artifacts dist-evil   # refused: the chain does not hold",
    );
    fs::create_dir_all(p("dist-evil")).map_err(|e| demo_err(&e.to_string()))?;
    crate::intoto::record::copy_tree(&p("dist"), &p("dist-evil"))
        .map_err(|e| demo_err(&e.to_string()))?;
    let mut evil = firmware.clone();
    evil[1000] ^= 0x01;
    write(&p("dist-evil/firmware/controller.bin"), &evil)?;
    let evil_args = PackArgs {
        out: p("evil.airlock"),
        artifacts: Some(p("dist-evil")),
        image: Vec::new(),
        platform: Vec::new(),
        sequence: Some(2),
        product_step: Some("package".into()),
        ..pack_args.clone()
    };
    match pack::run(&evil_args, Output::Quiet) {
        Err(e) if e.exit_code() == EXIT_REJECTED => n.say(&format!("   REFUSED (exit 1): {e}")),
        Err(e) => return Err(e),
        Ok(_) => return Err(demo_err("pack accepted a broken supply chain")),
    }
    n.say("   (so the demo builds that bundle with the chain check switched off, as a rogue tool would)");
    pack::run_without_chain_check(&evil_args, Output::Quiet)?;
    Ok(())
}

/// The demo's isolated side: the trust store, the accepted bundle, the
/// refusals, the journal, the metrics and the report.
fn isolated_side(n: &mut Narrator, base: &Path) -> Result<(), Error> {
    let p = |s: &str| base.join(s);
    let show = |p: &Path| p.display().to_string();
    // Isolated side.
    n.step(
        "Isolated side: provision the trust store with the root (file store)",
        "airlock anchor init --store store --root 1.root.json --channel stable",
    );
    n.outcome(&anchor::init_with(
        &p("store"),
        &p("1.root.json"),
        anchor::InitOptions {
            channels: &["stable".to_owned()],
            ..anchor::InitOptions::default()
        },
    )?);

    n.step(
        "Verify the bundle (changes nothing in the store)",
        "airlock verify release.airlock --store store",
    );
    n.outcome(&verify::run(
        &verify_args(p("release.airlock"), &p("store")),
        Output::Quiet,
    )?);

    n.step(
        "A tampered copy: one bit of the firmware flipped (the payload re-compressed)",
        "airlock verify tampered.airlock --store store",
    );
    write(
        &p("tampered.airlock"),
        &tamper_artifact(
            &fs::read(p("release.airlock")).map_err(|e| demo_err(&e.to_string()))?,
            &fs::read(p("dist/firmware/controller.bin")).map_err(|e| demo_err(&e.to_string()))?,
        )?,
    )?;
    let tampered = verify::run(
        &verify_args(p("tampered.airlock"), &p("store")),
        Output::Quiet,
    );
    match tampered {
        Err(e) if e.exit_code() == EXIT_REJECTED && e.code() != "replay" => {
            n.say(&format!("   REJECTED (exit 1): {e}"))
        }
        Err(e) => return Err(e),
        Ok(_) => return Err(demo_err("the tampered bundle was accepted")),
    }

    n.step(
        "The insider's bundle: signed by the release key, but not what the supply chain produced",
        "airlock verify evil.airlock --store store",
    );
    match verify::run(&verify_args(p("evil.airlock"), &p("store")), Output::Quiet) {
        Err(crate::error::Error::Intoto(e)) => {
            n.say(&format!("   REJECTED by the in-toto check (exit 1): {e}"))
        }
        Err(e) => return Err(e),
        Ok(_) => return Err(demo_err("the insider's bundle was accepted")),
    }

    n.step(
        "Unpack: verify again while extracting, then place atomically",
        "airlock unpack release.airlock --store store --to incoming/release-1",
    );
    fs::create_dir_all(p("incoming")).map_err(|e| demo_err(&e.to_string()))?;
    n.outcome(&unpack::run(
        &unpack_args(p("release.airlock"), &p("store"), p("incoming/release-1")),
        Output::Quiet,
    )?);
    if !same_tree(&p("dist"), &p("incoming/release-1"))? {
        return Err(demo_err("the unpacked tree differs from dist/"));
    }
    n.say("   the unpacked tree equals dist/ byte for byte");

    n.step(
        "A replay: the same bundle unpacked a second time",
        "airlock unpack release.airlock --store store --to incoming/again",
    );
    match unpack::run(
        &unpack_args(p("release.airlock"), &p("store"), p("incoming/again")),
        Output::Quiet,
    ) {
        Err(e) if e.code() == "replay" => n.say(&format!("   REJECTED (exit 1): {e}")),
        Err(e) => return Err(e),
        Ok(_) => return Err(demo_err("the replayed bundle was accepted")),
    }
    if p("incoming/again").exists() {
        return Err(demo_err("a refused unpack left its destination behind"));
    }
    n.say("   incoming/again was never created");

    n.step("The store afterwards", "airlock anchor show --store store");
    n.outcome(&without_backend_notes(anchor::show(&p("store"))?));

    n.step(
        "The audit journal: every decision above, signed and hash-chained",
        "airlock journal show --store store && airlock journal verify --store store",
    );
    journal::show_records(&p("store"), &journal::Filter::default(), false, &mut |l| {
        n.say(&format!("   {l}"))
    })?;
    n.outcome(&journal::verify(&JournalVerifyArgs {
        store: Some(crate::cli::StoreDir::new(&show(&p("store")))),
        export: None,
        key: None,
    })?);

    n.step(
        "What operators and auditors look at: the metrics file and the HTML audit report",
        "airlock metrics --store store --out airlock.prom && airlock journal report --store store --out report.html",
    );
    let (snapshot, _) =
        crate::journal::metrics::write(&p("store"), Some(&p("airlock.prom")), &crate::cmd::warn)?;
    if let Err(e) = snapshot.journal {
        return Err(e.into());
    }
    n.say(&format!(
        "   metrics (Prometheus text format): {}",
        show(&p("airlock.prom"))
    ));
    let report = crate::journal::report::write(
        crate::journal::report::Source::Store(&p("store")),
        &p("report.html"),
    )?;
    if let Some(e) = report.verdict {
        return Err(e);
    }
    n.say(&format!(
        "   audit report (open it in a browser, print it to PDF): {}",
        show(&p("report.html"))
    ));
    Ok(())
}
