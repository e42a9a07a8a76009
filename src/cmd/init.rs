//! `init` (a connected-side project from nothing) and `layout new`.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use airlock_hsm::{FileSigner, PublicKey, Signer as _};

use crate::cli::{InitArgs, RootInitArgs};
use crate::cmd::project::{PROJECT_FILE, Project, Value};
use crate::cmd::{Outcome, intoto, root};
use crate::error::Error;
use crate::fsutil::{create_file, ensure_dir, ensure_parent};
use crate::intoto::scaffold::{NewStep, layout};
use crate::keys::{PKCS1V15_PREFIX, Scheme, keyid, load_public_key, load_signer, split_scheme};
use crate::timefmt::{now, parse_duration};

/// A key named on the command line: a `pkcs11:` URI or a file (a private
/// PEM, whose public half is used, or a public `.pub`).
fn public_key_of(spec: &str) -> Result<PublicKey, Error> {
    if split_scheme(spec).1.starts_with("pkcs11:") {
        return Ok(load_signer(spec)?.public_key().clone());
    }
    let path = Path::new(spec);
    load_public_key(path).or_else(|_| Ok(load_signer(spec)?.public_key().clone()))
}

/// The project's key `name`: the one given (its public half written as
/// `keys/NAME.pub`), or a new file pair `keys/NAME.pem` / `keys/NAME.pub`.
struct ProjectKey {
    /// What signs with it now (from the current directory).
    now: String,
    /// What signs with it from the project directory (the project file's
    /// value): a URI, an absolute path, or `keys/NAME.pem`.
    project: String,
    /// Its public key.
    public: PublicKey,
    /// `rsa-pkcs1v15-sha256:` when the key was given under that scheme (so
    /// its `.pub` file is named with it too), else empty.
    scheme_prefix: &'static str,
}

impl ProjectKey {
    /// Its `.pub` file `path`, named under the key's scheme.
    fn public_spec(&self, path: &Path) -> PathBuf {
        PathBuf::from(format!("{}{}", self.scheme_prefix, path.display()))
    }
}

fn project_key(dir: &Path, name: &str, given: Option<&str>) -> Result<ProjectKey, Error> {
    let prefix = dir.join("keys").join(name);
    match given {
        Some(spec) => {
            let public = public_key_of(spec)?;
            create_file(
                &prefix.with_extension("pub"),
                public.to_spki_pem().as_bytes(),
            )?;
            let (scheme, rest) = split_scheme(spec);
            let scheme_prefix = match scheme {
                Scheme::Default => "",
                Scheme::RsaPkcs1v15 => PKCS1V15_PREFIX,
            };
            let project = if rest.starts_with("pkcs11:") {
                spec.to_owned()
            } else {
                let path =
                    std::fs::canonicalize(rest).map_err(|e| Error::input(Path::new(rest), e))?;
                format!("{scheme_prefix}{}", path.display())
            };
            Ok(ProjectKey {
                now: spec.to_owned(),
                project,
                public,
                scheme_prefix,
            })
        }
        None => {
            let s = FileSigner::generate()?;
            s.write_pair(&prefix)?;
            Ok(ProjectKey {
                now: prefix.with_extension("pem").display().to_string(),
                project: format!("keys/{name}.pem"),
                public: s.public_key().clone(),
                scheme_prefix: "",
            })
        }
    }
}

/// `airlock init [DIR]`.
pub fn run(a: &InitArgs) -> Result<Outcome, Error> {
    let dir = &a.dir;
    let project_file = dir.join(PROJECT_FILE);
    if project_file.exists() {
        return Err(crate::fsutil::FsError::Exists {
            path: project_file,
            note: ": this directory is a project already; use `airlock record` and `airlock pack` in it, or give `airlock init` a new directory",
        }
        .into());
    }
    if !crate::cmd::anchor::is_channel_name(&a.channel) {
        return Err(Error::usage(
            format!("{} is not a channel name", crate::excerpt(&a.channel)),
            "a channel is 1 to 64 characters of A-Z a-z 0-9 . _ -",
        ));
    }
    ensure_dir(&dir.join("keys"))?;
    ensure_dir(&dir.join("links"))?;
    ensure_dir(&dir.join("dist"))?;
    let rel = |p: &str| dir.join(p);
    let root_key = project_key(dir, "root", a.root_key.as_deref())?;
    let release_key = project_key(dir, "release", a.release_key.as_deref())?;
    let owner_key = project_key(dir, "owner", a.owner_key.as_deref())?;
    let builder_key = project_key(dir, "builder", a.builder_key.as_deref())?;

    // The root: root key signs roots, release key signs bundles, owner key
    // signs layouts.
    root::init(&RootInitArgs {
        out: rel("1.root.json"),
        root_key: vec![root_key.public_spec(&rel("keys/root.pub"))],
        root_threshold: 1,
        targets_key: vec![release_key.public_spec(&rel("keys/release.pub"))],
        targets_threshold: 1,
        layout_key: vec![owner_key.public_spec(&rel("keys/owner.pub"))],
        layout_threshold: 1,
        expires: "365d".into(),
        root_version: 1,
    })?;
    root::sign(&rel("1.root.json"), &[root_key.now], None)?;

    // The layout: one step, `build`, whose products are the artifacts.
    let steps = [NewStep {
        name: "build".into(),
        keys: vec![builder_key.public],
        threshold: 1,
    }];
    let expires = now().saturating_add(365 * 86_400);
    let doc = layout(
        &steps,
        expires,
        "airlock init: one step, build, whose products are the bundle's artifacts",
    );
    create_file(&rel("root.layout"), doc.to_pretty().as_bytes())?;
    intoto::sign_layout(&rel("root.layout"), &[owner_key.now], false)?;

    let mut pack = BTreeMap::new();
    let one = |s: &str| Value::One(s.to_owned());
    let many = |s: &str| Value::Many(vec![s.to_owned()]);
    pack.insert("out".into(), one("release-{sequence}.airlock"));
    pack.insert("key".into(), many(&release_key.project));
    pack.insert("root".into(), many("1.root.json"));
    pack.insert("layout".into(), one("root.layout"));
    pack.insert(
        "layout_key".into(),
        many(&format!("{}keys/owner.pub", owner_key.scheme_prefix)),
    );
    pack.insert("links".into(), one("links"));
    pack.insert("artifacts".into(), one("dist"));
    pack.insert("channel".into(), one(&a.channel));
    pack.insert("expires".into(), one("30d"));
    pack.insert("sequence".into(), Value::Number(0));
    let mut record = BTreeMap::new();
    record.insert("name".into(), one("build"));
    record.insert("key".into(), one(&builder_key.project));
    record.insert("products".into(), many("dist"));
    record.insert("lstrip_paths".into(), many("dist/"));
    record.insert("out_dir".into(), one("links"));
    Project { pack, record }.save(&project_file)?;

    let mut o = Outcome::default();
    o.line(format!("project {} ready:", dir.display()));
    o.line("  keys/          root, release (signs bundles), owner (signs the layout), builder (records the build)");
    o.line("  1.root.json    TUF root, signed; the isolated side is provisioned with it");
    o.line("  root.layout    in-toto layout: one step `build` whose products are the artifacts");
    o.line(format!(
        "  {PROJECT_FILE}   the flags of `airlock record` and `airlock pack`"
    ));
    o.line("next: put the release in dist/, then `airlock record` (or `airlock record -- ./build.sh`) and `airlock pack`");
    o.line(format!(
        "isolated side, once: airlock anchor init --store STORE --root 1.root.json --channel {}",
        a.channel
    ));
    o.field("dir", dir.display().to_string())
        .field("project", project_file.display().to_string())
        .field("channel", a.channel.clone());
    Ok(o)
}

/// `airlock layout new --out FILE --step NAME=KEYS... [--expires D] [--key K]`.
pub fn layout_new(
    out: &Path,
    specs: &[String],
    expires: &str,
    keys: &[String],
) -> Result<Outcome, Error> {
    let mut steps: Vec<NewStep> = Vec::new();
    for spec in specs {
        let Some((name, list)) = spec.split_once('=') else {
            return Err(Error::usage(
                format!("--step {} is not NAME=KEY[,KEY...]", crate::excerpt(spec)),
                "e.g. --step build=keys/builder.pub",
            ));
        };
        if !crate::intoto::model::safe_name(name) || steps.iter().any(|s| s.name == name) {
            return Err(Error::usage(
                format!("{} cannot be a step name here", crate::excerpt(name)),
                "give each step a distinct plain name (no `/`)",
            ));
        }
        let keys = list
            .split(',')
            .filter(|k| !k.is_empty())
            .map(public_key_of)
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(Error::usage(
                format!("step {name} has no keys"),
                "e.g. --step build=keys/builder.pub",
            ));
        }
        steps.push(NewStep {
            name: name.to_owned(),
            keys,
            threshold: 1,
        });
    }
    let lifetime = parse_duration(expires).map_err(|e| Error::usage(e, "e.g. --expires 365d"))?;
    let doc = layout(
        &steps,
        now().saturating_add(lifetime),
        "written by airlock layout new",
    );
    ensure_parent(out)?;
    create_file(out, doc.to_pretty().as_bytes())?;
    let mut o = Outcome::default();
    o.line(format!(
        "wrote {} with {} step(s): {}",
        out.display(),
        steps.len(),
        steps
            .iter()
            .map(|s| format!(
                "{} ({})",
                s.name,
                s.keys
                    .iter()
                    .map(|k| keyid(k)[..16].to_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .collect::<Vec<_>>()
            .join(" -> ")
    ));
    if keys.is_empty() {
        o.line(format!(
            "unsigned: next, airlock layout sign {} --key OWNER-KEY",
            out.display()
        ));
    } else {
        let signed = intoto::sign_layout(out, keys, false)?;
        o.lines.extend(signed.lines);
    }
    o.field("file", out.display().to_string())
        .field(
            "steps",
            steps.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
        )
        .field("signed", !keys.is_empty());
    Ok(o)
}
