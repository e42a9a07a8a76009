//! Inspections evaluated faithfully without running anything
//! (docs/supply-chain.md, "Inspections").
//!
//! An inspection's link, in the reference, records the files in the
//! working directory before (materials) and after (products) its command
//! ran, and the verification fails when the command exits non-zero; the
//! inspections run one after another in the same directory. airlock does
//! not run commands by default: it recognizes the few command forms whose
//! effect it computes exactly, from the artifacts under verification and,
//! for an archive or a checksum file, from that artifact's bytes (read in
//! memory, nothing written), and refuses every other inspection
//! (`inspection-unevaluable`, naming it) rather than pretend a check passed
//! that did not run. The forms, exactly (docs/supply-chain.md has the
//! table):
//!
//! - `true`: materials = products = the files before it.
//! - `cmp [-s|--silent|--quiet] A B`: equal SHA-256 passes, different or
//!   missing fails (`inspection-failed`, cmp's exit 1 or 2).
//! - `tar` extracting one archive (`tar -xf A`, `-xzf`, `-xJf`, `--zstd
//!   -xf`, old-style `tar xzf A`, separate `-x -f A`, long options):
//!   products = the files before it with the archive's regular members
//!   added ([`archive`]); links, devices, absolute or `..` names and
//!   over-limit archives are refused (`inspection-archive-unsafe`).
//! - `sha256sum -c FILE` (`--check`, with `--strict`, `--quiet`, `--status`,
//!   `-w`/`--warn`): every listed file must exist with that SHA-256
//!   ([`checksums`]); materials = products.
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use sha2::{Digest, Sha256};

use super::IntotoError;
use super::model::{Artifacts, Digests};

pub mod archive;
pub mod checksums;
pub mod tap;

pub use archive::Compression;

/// How an inspection is evaluated: shown in the verdict and `--json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvaluatedBy {
    /// `true`, built in.
    True,
    /// `cmp`, built in.
    Cmp,
    /// `tar -x`, built in.
    Untar,
    /// `sha256sum -c`, built in.
    Sha256sum,
    /// The command ran (`--run-inspections`).
    Ran,
}

impl EvaluatedBy {
    /// `builtin:true`, `builtin:cmp`, `builtin:untar`, `builtin:sha256sum`
    /// or `ran`.
    pub fn as_str(self) -> &'static str {
        match self {
            EvaluatedBy::True => "builtin:true",
            EvaluatedBy::Cmp => "builtin:cmp",
            EvaluatedBy::Untar => "builtin:untar",
            EvaluatedBy::Sha256sum => "builtin:sha256sum",
            EvaluatedBy::Ran => "ran",
        }
    }
}

/// An inspection of an accepted supply chain: how it was evaluated and
/// its result (for the verdict line, `--json` and the enclave policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectionResult {
    /// The inspection's name (`STEP.KEYID8/NAME` inside a sublayout).
    pub name: String,
    /// How it was evaluated.
    pub evaluated_by: EvaluatedBy,
    /// Its result: `pass` (a failing inspection refuses the chain).
    pub result: &'static str,
}

/// How an inspection is (or would be) evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evaluator {
    /// `true`.
    True,
    /// `cmp A B` (any accepted option spelling).
    Cmp(String, String),
    /// `tar` extracting every member of one archive.
    Untar {
        /// The archive (a normalized relative path).
        archive: String,
        /// The decompression asked for.
        compression: Compression,
    },
    /// `sha256sum -c FILE`.
    Sha256sum {
        /// The checksum file (a normalized relative path).
        file: String,
    },
}

impl Evaluator {
    /// The evaluator's name in verdicts.
    pub fn by(&self) -> EvaluatedBy {
        match self {
            Evaluator::True => EvaluatedBy::True,
            Evaluator::Cmp(..) => EvaluatedBy::Cmp,
            Evaluator::Untar { .. } => EvaluatedBy::Untar,
            Evaluator::Sha256sum { .. } => EvaluatedBy::Sha256sum,
        }
    }

    /// The artifact whose bytes it reads, and how.
    pub fn need(&self) -> Option<Need> {
        match self {
            Evaluator::True | Evaluator::Cmp(..) => None,
            Evaluator::Untar {
                archive,
                compression,
            } => Some(Need {
                artifact: archive.clone(),
                read: ReadAs::Archive(*compression),
            }),
            Evaluator::Sha256sum { file } => Some(Need {
                artifact: file.clone(),
                read: ReadAs::Checksums,
            }),
        }
    }
}

/// How an artifact's bytes are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReadAs {
    /// As a tar archive, decompressed as asked.
    Archive(Compression),
    /// As a `sha256sum` checksum file.
    Checksums,
}

/// An artifact an evaluator must read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Need {
    /// Its path among the files under verification.
    pub artifact: String,
    /// How.
    pub read: ReadAs,
}

/// Why an artifact's content does not give an outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentError {
    /// The command would fail on it (a corrupt archive, say).
    Failed(String),
    /// What the command would do with it is not computed.
    Unevaluable(String),
    /// A crafted archive: links, devices, traversal, over a limit.
    Unsafe(String),
}

/// What an artifact's bytes say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// The archive's members.
    Archive(archive::Listing),
    /// The checksum file's lines.
    Checksums(checksums::Checksums),
}

/// An artifact read for a [`Need`]: the SHA-256 of the bytes read (to be
/// held to the artifact's digest) and what they say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// SHA-256 of every byte read.
    pub sha256: [u8; 32],
    /// The content, or why it gives no outcome.
    pub content: Result<Content, ContentError>,
}

struct Hashing<'a> {
    inner: &'a mut dyn Read,
    h: Sha256,
}

impl Read for Hashing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.h.update(&buf[..n]);
        Ok(n)
    }
}

/// Reads `r` (the whole artifact) for `read`.
pub fn read_content(read: ReadAs, r: &mut dyn Read) -> Reading {
    let mut hashing = Hashing {
        inner: r,
        h: Sha256::new(),
    };
    let content = match read {
        ReadAs::Archive(c) => {
            archive::list(&mut hashing, c, &archive::ArchiveLimits::default()).map(Content::Archive)
        }
        ReadAs::Checksums => checksums::parse(&mut hashing).map(Content::Checksums),
    };
    // The rest of the artifact, so that the digest covers all of it.
    let drained = std::io::copy(&mut hashing, &mut std::io::sink());
    let content = match (content, drained) {
        (Ok(_), Err(e)) => Err(ContentError::Failed(format!("cannot read it: {e}"))),
        (c, _) => c,
    };
    Reading {
        sha256: hashing.h.finalize().into(),
        content,
    }
}

/// The readings of the artifacts inspections need.
pub type Contents = BTreeMap<Need, Reading>;

/// A path as an inspection may name an artifact: relative, no `..`
/// components, not an option; `./` and repeated `/` are normalized.
fn artifact_arg(s: &str) -> Option<String> {
    let ok = !s.is_empty()
        && !s.starts_with('-')
        && !s.starts_with('/')
        && !s.split('/').any(|c| c == "..");
    let norm = super::record::normpath(s);
    (ok && norm != ".").then_some(norm)
}

/// `tar` options that extract one whole archive, as GNU tar parses them:
/// an old-style first word (`xzf`: each `f` takes the next word), dash
/// clusters (`-xzf A`, `-xfA`, `-x -f A`) and the long options
/// `--extract`/`--get`, `--file[=]A`, `--gzip`/`--gunzip`/`--ungzip`,
/// `--xz`, `--zstd`, `--verbose`. Anything else (member names, `-C`,
/// `--to-stdout`, abbreviations, …) is not evaluated.
fn classify_tar(args: &[&str]) -> Result<Evaluator, String> {
    let mut extract = false;
    let mut file: Option<String> = None;
    let mut compression: Option<Compression> = None;
    let mut words = args.iter().copied().peekable();
    let not = |what: &str| format!("`tar` with {what} is not evaluated");
    let mut set_compression = |c: Compression| match compression {
        Some(prev) if prev != c => Err("`tar` with two compression options fails".to_owned()),
        _ => {
            compression = Some(c);
            Ok(())
        }
    };
    let mut first = true;
    while let Some(w) = words.next() {
        let old_style = first && !w.starts_with('-');
        first = false;
        if let Some(long) = w.strip_prefix("--") {
            let (opt, value) = match long.split_once('=') {
                Some((o, v)) => (o, Some(v)),
                None => (long, None),
            };
            match (opt, value) {
                ("extract" | "get", None) => extract = true,
                ("file", v) => {
                    let v = match v {
                        Some(v) => v,
                        None => words.next().ok_or("`tar --file` needs an archive")?,
                    };
                    if file.replace(v.to_owned()).is_some() {
                        return Err(not("two archives"));
                    }
                }
                ("gzip" | "gunzip" | "ungzip", None) => set_compression(Compression::Gzip)?,
                ("xz", None) => set_compression(Compression::Xz)?,
                ("zstd", None) => set_compression(Compression::Zstd)?,
                ("verbose", None) => {}
                _ => return Err(not(&format!("option {}", crate::excerpt(w)))),
            }
            continue;
        }
        let cluster = match (old_style, w.strip_prefix('-')) {
            (true, _) => w,
            (false, Some(c)) if !c.is_empty() => c,
            _ => return Err(not("member names or other operands")),
        };
        for (i, c) in cluster.char_indices() {
            match c {
                'x' => extract = true,
                'v' => {}
                'z' => set_compression(Compression::Gzip)?,
                'J' => set_compression(Compression::Xz)?,
                'f' => {
                    let rest = &cluster[i + 1..];
                    let v = if old_style || rest.is_empty() {
                        words.next().ok_or("`tar -f` needs an archive")?
                    } else {
                        rest
                    };
                    if file.replace(v.to_owned()).is_some() {
                        return Err(not("two archives"));
                    }
                    if !old_style && !rest.is_empty() {
                        break;
                    }
                }
                other => return Err(not(&format!("option `{other}`"))),
            }
        }
    }
    if !extract {
        return Err(not("no `-x`"));
    }
    let Some(file) = file else {
        return Err(not("no `-f ARCHIVE`"));
    };
    let archive = artifact_arg(&file)
        .ok_or("`tar -f` takes the relative path of an artifact under verification")?;
    Ok(Evaluator::Untar {
        archive,
        compression: compression.unwrap_or(Compression::Detect),
    })
}

/// `sha256sum -c FILE` in GNU coreutils' spellings.
fn classify_sha256sum(args: &[&str]) -> Result<Evaluator, String> {
    let mut check = false;
    let mut files = Vec::new();
    for w in args {
        match *w {
            "-c" | "--check" => check = true,
            "--strict" | "--quiet" | "--status" | "-w" | "--warn" => {}
            w if w.starts_with('-') => {
                return Err(format!(
                    "`sha256sum` with option {} is not evaluated",
                    crate::excerpt(w)
                ));
            }
            w => files.push(w),
        }
    }
    match (check, files.as_slice()) {
        (true, [f]) => Ok(Evaluator::Sha256sum {
            file: artifact_arg(f).ok_or(
                "`sha256sum -c` takes the relative path of an artifact under verification",
            )?,
        }),
        (false, _) => Err("only `sha256sum -c FILE` is evaluated".into()),
        _ => Err("`sha256sum -c` is evaluated with exactly one checksum file".into()),
    }
}

/// The evaluator for `run`, or why there is none.
pub fn classify(run: &[String]) -> Result<Evaluator, String> {
    let args: Vec<&str> = run.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["true"] => Ok(Evaluator::True),
        ["cmp", a, b] | ["cmp", "-s" | "--silent" | "--quiet", a, b] => {
            match (artifact_arg(a), artifact_arg(b)) {
                (Some(a), Some(b)) => Ok(Evaluator::Cmp(a, b)),
                _ => Err("`cmp` takes two relative artifact paths".to_owned()),
            }
        }
        ["tar", rest @ ..] => classify_tar(rest),
        ["sha256sum", rest @ ..] => classify_sha256sum(rest),
        [] => Err("the inspection has no command".to_owned()),
        _ => Err(
            "airlock evaluates only `true`, `cmp`, `tar -x` of one archive and `sha256sum -c` without running them"
                .to_owned(),
        ),
    }
}

/// The evaluator for inspection `name`, or `inspection-unevaluable`.
pub fn evaluator(name: &str, run: &[String]) -> Result<Evaluator, IntotoError> {
    classify(run).map_err(|reason| IntotoError::InspectionUnevaluable {
        name: name.to_owned(),
        command: run.join(" "),
        reason,
    })
}

/// What evaluating an inspection gave.
#[derive(Debug)]
pub enum Outcome {
    /// It passed, leaving these files (its products).
    Passed(Artifacts),
    /// It reads an artifact not read yet.
    Needs(Need),
}

fn sha256_of(a: &Artifacts, path: &str) -> Option<String> {
    a.get(path)
        .and_then(|d| d.get("sha256").map(|h| h.into_owned()))
}

/// Evaluates inspection `name` (command `run`, evaluator `ev`) over the
/// files `before` it, reading artifacts through `read`
/// (`Ok(None)`: not read yet).
pub fn evaluate(
    name: &str,
    run: &[String],
    ev: &Evaluator,
    before: &Artifacts,
    read: &dyn Fn(&Need) -> Result<Option<Reading>, IntotoError>,
) -> Result<Outcome, IntotoError> {
    let failed = |reason: String| IntotoError::InspectionFailed {
        name: name.to_owned(),
        reason,
    };
    let unevaluable = |reason: String| IntotoError::InspectionUnevaluable {
        name: name.to_owned(),
        command: run.join(" "),
        reason,
    };
    let from_content = |e: ContentError| match e {
        ContentError::Failed(r) => failed(r),
        ContentError::Unevaluable(r) => unevaluable(r),
        ContentError::Unsafe(reason) => IntotoError::InspectionArchiveUnsafe {
            name: name.to_owned(),
            reason,
        },
    };
    // The content of the artifact `ev` reads, as it is now.
    let content = |need: Need| -> Result<Result<Content, Need>, IntotoError> {
        let Some(want) = sha256_of(before, &need.artifact) else {
            return Err(failed(format!(
                "{}: no such file (the command fails)",
                crate::excerpt(&need.artifact)
            )));
        };
        let Some(reading) = read(&need)? else {
            return Ok(Err(need));
        };
        if hex::encode(reading.sha256) != want {
            return Err(unevaluable(format!(
                "{} is read as an earlier inspection left it, which is not evaluated",
                crate::excerpt(&need.artifact)
            )));
        }
        reading.content.map(Ok).map_err(from_content)
    };
    match ev {
        Evaluator::True => Ok(Outcome::Passed(before.clone())),
        Evaluator::Cmp(a, b) => {
            let digest = |p: &str| {
                sha256_of(before, p)
                    .ok_or_else(|| failed(format!("cmp: {p}: no such artifact (cmp exits 2)")))
            };
            if digest(a)? == digest(b)? {
                Ok(Outcome::Passed(before.clone()))
            } else {
                Err(failed(format!("cmp: {a} and {b} differ (cmp exits 1)")))
            }
        }
        Evaluator::Sha256sum { .. } | Evaluator::Untar { .. } => {
            let Some(need) = ev.need() else {
                return Err(IntotoError::Internal("an evaluator without a need".into()));
            };
            match content(need)? {
                Err(need) => Ok(Outcome::Needs(need)),
                Ok(Content::Checksums(lines)) => {
                    check_sums(&lines, before, &failed, &unevaluable)?;
                    Ok(Outcome::Passed(before.clone()))
                }
                Ok(Content::Archive(listing)) => extract(&listing, before)
                    .map(Outcome::Passed)
                    .map_err(from_content),
            }
        }
    }
}

fn check_sums(
    lines: &checksums::Checksums,
    before: &Artifacts,
    failed: &dyn Fn(String) -> IntotoError,
    unevaluable: &dyn Fn(String) -> IntotoError,
) -> Result<(), IntotoError> {
    if lines.is_empty() {
        return Err(failed(
            "sha256sum: no properly formatted checksum lines found (exit 1)".into(),
        ));
    }
    for (file, want) in lines {
        let Some(path) = artifact_arg(file) else {
            return Err(unevaluable(format!(
                "the checksum file names {}, outside the files under verification",
                crate::excerpt(file)
            )));
        };
        match sha256_of(before, &path) {
            None => {
                return Err(failed(format!(
                    "sha256sum: {}: FAILED open or read (exit 1)",
                    crate::excerpt(file)
                )));
            }
            Some(got) if &got != want => {
                return Err(failed(format!(
                    "sha256sum: {}: FAILED (exit 1)",
                    crate::excerpt(file)
                )));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The files after extracting `listing` over `before`, as in-toto records
/// them (default excludes applied to the members); a member that would
/// replace a directory with a file or the other way round is refused.
fn extract(listing: &archive::Listing, before: &Artifacts) -> Result<Artifacts, ContentError> {
    let mut dirs: BTreeSet<&str> = listing.dirs.iter().map(String::as_str).collect();
    let files: Vec<&str> = before
        .iter()
        .map(|(p, _)| p)
        .chain(listing.files.keys().map(String::as_str))
        .collect();
    for f in files.iter().copied() {
        let mut at = 0;
        while let Some(i) = f[at..].find('/') {
            dirs.insert(&f[..at + i]);
            at += i + 1;
        }
    }
    if let Some(clash) = files.iter().find(|f| dirs.contains(*f)) {
        return Err(ContentError::Unsafe(format!(
            "{} would be both a file and a directory",
            crate::excerpt(clash)
        )));
    }
    let mut after: BTreeMap<String, Digests> = before
        .iter()
        .map(|(p, d)| (p.to_owned(), d.clone()))
        .collect();
    for (path, digest) in &listing.files {
        if !super::record::excluded_by_default(path) {
            after.insert(path.clone(), Digests::sha256(*digest));
        }
    }
    Ok(after.into_iter().collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// docs/supply-chain.md: a member that would make a path both a file
    /// and a directory — among the members, or with the files under
    /// verification — is refused as unsafe, whichever comes first; a file
    /// beside a directory of another name is not.
    #[test]
    fn a_path_both_file_and_directory_is_refused() {
        let d = Digests::sha256([7; 32]);
        let listing = |files: &[&str], dirs: &[&str]| archive::Listing {
            files: files.iter().map(|f| ((*f).to_owned(), [7; 32])).collect(),
            dirs: dirs.iter().map(|f| (*f).to_owned()).collect(),
        };
        let before = |files: &[&str]| -> Artifacts {
            files.iter().map(|f| ((*f).to_owned(), d.clone())).collect()
        };
        for (members, dirs, existing) in [
            (&["a"][..], &["a"][..], &[][..]),
            (&["a", "a/b"][..], &[][..], &[][..]),
            (&["a/b"][..], &[][..], &["a"][..]),
            (&["a"][..], &[][..], &["a/b"][..]),
            (&[][..], &["x/y"][..], &["x/y"][..]),
        ] {
            let got = extract(&listing(members, dirs), &before(existing));
            assert!(
                matches!(got, Err(ContentError::Unsafe(ref m)) if m.contains("both a file and a directory")),
                "{members:?} {dirs:?} {existing:?}: {got:?}"
            );
        }
        let ok = extract(&listing(&["a", "b/c"], &["b", "d"]), &before(&["e/f"])).unwrap();
        assert_eq!(ok.len(), 3);
    }

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_owned()).collect()
    }

    fn untar(archive: &str, compression: Compression) -> Evaluator {
        Evaluator::Untar {
            archive: archive.into(),
            compression,
        }
    }

    #[test]
    fn only_the_documented_forms_are_evaluated() {
        assert_eq!(classify(&v(&["true"])), Ok(Evaluator::True));
        assert_eq!(
            classify(&v(&["cmp", "-s", "a", "b/c"])),
            Ok(Evaluator::Cmp("a".into(), "b/c".into()))
        );
        for (run, want) in [
            (
                &["tar", "-xzf", "app.tar.gz"][..],
                untar("app.tar.gz", Compression::Gzip),
            ),
            (
                &["tar", "xzf", "./app.tgz"],
                untar("app.tgz", Compression::Gzip),
            ),
            (&["tar", "xfz", "a.tgz"], untar("a.tgz", Compression::Gzip)),
            (
                &["tar", "-xf", "a.tar"],
                untar("a.tar", Compression::Detect),
            ),
            (
                &["tar", "-x", "-f", "a.tar"],
                untar("a.tar", Compression::Detect),
            ),
            (&["tar", "-xJf", "a.txz"], untar("a.txz", Compression::Xz)),
            (
                &["tar", "--zstd", "-xf", "a.tzst"],
                untar("a.tzst", Compression::Zstd),
            ),
            (
                &["tar", "-xvf", "a.tar", "-z"],
                untar("a.tar", Compression::Gzip),
            ),
            (
                &["tar", "--extract", "--file=a.tar"],
                untar("a.tar", Compression::Detect),
            ),
            (&["tar", "-xfa.tar"], untar("a.tar", Compression::Detect)),
            (
                &["sha256sum", "-c", "SHA256SUMS"],
                Evaluator::Sha256sum {
                    file: "SHA256SUMS".into(),
                },
            ),
            (
                &["sha256sum", "--strict", "--check", "d/S"],
                Evaluator::Sha256sum { file: "d/S".into() },
            ),
        ] {
            assert_eq!(classify(&v(run)), Ok(want), "{run:?}");
        }
        for bad in [
            &["tar", "-xzf", "app.tar.gz", "src/main.c"][..],
            &["tar", "-xzf", "app.tar.gz", "-C", "out"],
            &["tar", "-tzf", "app.tar.gz"],
            &["tar", "-xzf", "/abs.tgz"],
            &["tar", "-xzf", "../up.tgz"],
            &["tar", "-xzf", "-"],
            &["tar", "-xjf", "a.tbz"],
            &["tar", "-xzJf", "a"],
            &["tar", "--ext", "-f", "a"],
            &["tar", "-xz"],
            &["sha256sum", "-c"],
            &["sha256sum", "-c", "A", "B"],
            &["sha256sum", "A"],
            &["sha256sum", "--ignore-missing", "-c", "A"],
            &["cmp", "/etc/passwd", "a"],
            &["cmp", "a", "../b"],
            &["cmp", "-l", "a", "b"],
            &["true", "x"],
            &["sh", "-c", "true"],
            &[],
        ] {
            assert!(classify(&v(bad)).is_err(), "{bad:?}");
        }
    }

    fn never(_: &Need) -> Result<Option<Reading>, IntotoError> {
        Ok(None)
    }

    fn eval(run: &[&str], arts: &Artifacts) -> Result<Outcome, IntotoError> {
        let run = v(run);
        let ev = evaluator("i", &run)?;
        evaluate("i", &run, &ev, arts, &never)
    }

    #[test]
    fn cmp_compares_digests() {
        let arts: Artifacts = [
            ("a".to_owned(), Digests::sha256([1; 32])),
            ("b".to_owned(), Digests::sha256([1; 32])),
            ("c".to_owned(), Digests::sha256([2; 32])),
        ]
        .into_iter()
        .collect();
        assert!(eval(&["cmp", "a", "b"], &arts).is_ok());
        let e = eval(&["cmp", "a", "c"], &arts).unwrap_err();
        assert_eq!(e.code(), "inspection-failed");
        let e = eval(&["cmp", "a", "zz"], &arts).unwrap_err();
        assert_eq!(e.code(), "inspection-failed");
        let e = eval(&["tar", "tf", "a"], &arts).unwrap_err();
        assert_eq!(e.code(), "inspection-unevaluable");
        // The archive's bytes not read yet: pending.
        assert!(matches!(
            eval(&["tar", "xf", "a"], &arts).unwrap(),
            Outcome::Needs(_)
        ));
        // A missing archive fails as tar would.
        assert_eq!(
            eval(&["tar", "xf", "zz"], &arts).unwrap_err().code(),
            "inspection-failed"
        );
    }

    #[test]
    fn members_that_replace_directories_are_refused() {
        let arts: Artifacts = [("a".to_owned(), Digests::sha256([1; 32]))]
            .into_iter()
            .collect();
        let listing = archive::Listing {
            files: [("a/b".to_owned(), [2; 32])].into(),
            dirs: Default::default(),
        };
        assert!(matches!(
            extract(&listing, &arts),
            Err(ContentError::Unsafe(_))
        ));
        let listing = archive::Listing {
            files: [
                ("x/y".to_owned(), [2; 32]),
                ("x/z.link".to_owned(), [3; 32]),
            ]
            .into(),
            dirs: ["x".to_owned()].into(),
        };
        let after = extract(&listing, &arts).unwrap();
        assert_eq!(after.keys().collect::<Vec<_>>(), ["a", "x/y"]);
    }
}
