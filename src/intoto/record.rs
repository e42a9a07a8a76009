//! Recording evidence, as the reference `in-toto-run` does: hash materials
//! and products with SHA-256 under relative, normalized, `/`-separated
//! paths (directories walked, symlinked directories followed once,
//! exclude patterns, `--lstrip-paths`), and run the step's command,
//! keeping its return value (and, on request, its output) as byproducts.
use std::collections::HashSet;
use std::ffi::OsString;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::fnmatch::Pattern;
use super::model::{Artifacts, Digests};
use crate::json::Json;

/// The reference's default exclude patterns.
pub const DEFAULT_EXCLUDES: [&str; 4] = ["*.link*", ".git", "*.pyc", "*~"];

/// Why recording failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// An I/O error on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Paths or options that cannot be recorded.
    #[error("{0}")]
    Paths(String),
    /// The command could not be run.
    #[error("cannot run {command}: {reason}")]
    Command {
        /// The command.
        command: String,
        /// Why.
        reason: String,
    },
}

fn io(path: &Path, source: std::io::Error) -> RecordError {
    RecordError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Options for [`record_artifacts`].
#[derive(Debug, Clone, Default)]
pub struct RecordOptions {
    /// Exclude patterns (gitignore-style: a pattern without `/` matches any
    /// path component; one with `/` is anchored at the recorded path's
    /// start). Empty means [`DEFAULT_EXCLUDES`].
    pub excludes: Vec<String>,
    /// Prefixes removed from recorded paths (the first that matches).
    pub lstrip: Vec<String>,
}

/// Python's `posixpath.normpath`.
pub fn normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// `normpath(rel/name)` for a normalized `rel` and a directory entry's
/// `name` (never empty, `.`, `..`, nor with a `/`): only a `rel` of `.` or
/// `/` needs care, and no path is split and joined again per file.
fn child_path(rel: &str, name: &str) -> String {
    let child = match rel {
        "." => name.to_owned(),
        "/" => format!("/{name}"),
        _ => {
            let mut child = String::with_capacity(rel.len() + 1 + name.len());
            child.push_str(rel);
            child.push('/');
            child.push_str(name);
            child
        }
    };
    debug_assert_eq!(child, normpath(&format!("{rel}/{name}")));
    child
}

/// `--exclude` patterns, compiled once: compiling them again for every
/// path was a tenth of `record`'s instructions (docs/performance.md).
enum Exclude {
    /// A pattern without `/`: matches any one path component.
    Name(Pattern),
    /// A pattern with `/`: matches the first path components, one each.
    Anchored(Vec<Pattern>),
}

fn compile_excludes(patterns: &[String]) -> Vec<Exclude> {
    patterns
        .iter()
        .filter_map(|p| {
            let p = p.trim_end_matches('/');
            if p.is_empty() {
                None
            } else if p.contains('/') {
                Some(Exclude::Anchored(
                    p.trim_start_matches('/')
                        .split('/')
                        .map(Pattern::new)
                        .collect(),
                ))
            } else {
                Some(Exclude::Name(Pattern::new(p)))
            }
        })
        .collect()
}

fn excluded(path: &str, patterns: &[Exclude]) -> bool {
    let comps: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    patterns.iter().any(|p| match p {
        Exclude::Anchored(pc) => {
            comps.len() >= pc.len() && pc.iter().zip(&comps).all(|(pat, c)| pat.matches(c))
        }
        Exclude::Name(pat) => comps.iter().any(|c| pat.matches(c)),
    })
}

/// `excluded(child, patterns)` for `child` = `rel/name` (normalized), where
/// `rel` itself is not excluded: its components matched no name pattern,
/// so only `name` is matched against those (the walk's per-file cost was
/// every pattern against every component of every path).
fn excluded_child(child: &str, name: &str, patterns: &[Exclude]) -> bool {
    patterns.iter().any(|p| match p {
        Exclude::Anchored(pc) => {
            let mut comps = child.split('/').filter(|c| !c.is_empty() && *c != ".");
            pc.iter()
                .all(|pat| comps.next().is_some_and(|c| pat.matches(c)))
        }
        Exclude::Name(pat) => pat.matches(name),
    })
}

/// Whether the reference's default excludes leave `path` out of a link.
pub fn excluded_by_default(path: &str) -> bool {
    static DEFAULTS: std::sync::OnceLock<Vec<Exclude>> = std::sync::OnceLock::new();
    let defaults = DEFAULTS.get_or_init(|| {
        let patterns: Vec<String> = DEFAULT_EXCLUDES.iter().map(|s| (*s).to_owned()).collect();
        compile_excludes(&patterns)
    });
    excluded(path, defaults)
}

/// A hashing thread's state: its read buffer (allocating and zeroing 64 KiB
/// per file was most of `record`'s CPU time on small files), and the
/// directory it opened last. Files come in walk order, a directory's
/// together, and each is opened by its name in that directory: opening it
/// by its whole path made the kernel look up every component of every
/// path again (docs/performance.md).
struct Hasher {
    buf: Vec<u8>,
    dir: Option<(String, std::os::fd::OwnedFd)>,
}

impl Hasher {
    fn new() -> Hasher {
        Hasher {
            buf: vec![0u8; 64 << 10],
            dir: None,
        }
    }

    /// SHA-256 of the file `rel` under `base` (symbolic links followed, as
    /// opening it by its path would).
    fn hash(&mut self, base: &Path, rel: &str) -> Result<[u8; 32], RecordError> {
        use rustix::fs::{Mode, OFlags};
        let path = || base.join(rel);
        let (dir, name) = match rel.rsplit_once('/') {
            Some(("", name)) => ("/", name),
            Some(split) => split,
            None => (".", rel),
        };
        if self.dir.as_ref().is_none_or(|(d, _)| d != dir) {
            self.dir = rustix::fs::open(
                base.join(dir),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ok()
            .map(|fd| (dir.to_owned(), fd));
        }
        let file = match &self.dir {
            Some((_, fd)) => {
                rustix::fs::openat(fd, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
                    .map(std::fs::File::from)
                    .map_err(std::io::Error::from)
            }
            // A directory that cannot be opened: the file by its path, for
            // the error that gives.
            None => std::fs::File::open(path()),
        };
        let mut file = file.map_err(|e| io(&path(), e))?;
        let (sha256, _) = crate::fsutil::sha256_through(&mut file, &mut self.buf, &mut |_| ())
            .map_err(|e| io(&path(), e))?;
        Ok(sha256)
    }
}

struct Recorder<'a> {
    base: &'a Path,
    excludes: Vec<Exclude>,
    lstrip: &'a [String],
    /// Names as recorded, in walk order.
    names: Vec<String>,
    /// The names so far, for `--lstrip-paths` collisions.
    seen: HashSet<String>,
    /// Each file's path under `base`, in walk order: to be hashed.
    push: &'a mut dyn FnMut(String),
}

impl Recorder<'_> {
    fn add(&mut self, rel: &str) -> Result<(), RecordError> {
        let mut name = rel.replace('\\', "/");
        if let Some(p) = self.lstrip.iter().find(|p| name.starts_with(p.as_str())) {
            name = name[p.len()..].to_owned();
            if self.seen.contains(&name) {
                return Err(RecordError::Paths(format!(
                    "--lstrip-paths makes two artifacts both {}",
                    crate::excerpt(&name)
                )));
            }
        }
        if name.is_empty()
            || name.starts_with('/')
            || name
                .split('/')
                .any(|c| c == ".." || c == "." || c.is_empty())
        {
            return Err(RecordError::Paths(format!(
                "{} would be recorded as {}, which is not a relative normalized path",
                crate::excerpt(rel),
                crate::excerpt(&name)
            )));
        }
        if !self.lstrip.is_empty() {
            self.seen.insert(name.clone());
        }
        self.names.push(name);
        (self.push)(rel.to_owned());
        Ok(())
    }

    fn walk(&mut self, rel: &str, visited: &mut HashSet<OsString>) -> Result<(), RecordError> {
        let dir = self.base.join(rel);
        let canon = std::fs::canonicalize(&dir).map_err(|e| io(&dir, e))?;
        if !visited.insert(canon.into_os_string()) {
            return Ok(()); // a symlink cycle: each directory once
        }
        let mut entries: Vec<(String, std::fs::FileType)> = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(|e| io(&dir, e))? {
            let e = e.map_err(|e| io(&dir, e))?;
            // From the directory entry itself where the file system says
            // (no `stat` per file); `lstat` where it does not.
            let kind = e.file_type().map_err(|err| io(&e.path(), err))?;
            let name = e.file_name().into_string().map_err(|n| {
                RecordError::Paths(format!("{}: file name {n:?} is not UTF-8", dir.display()))
            })?;
            entries.push((name, kind));
        }
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (name, kind) in entries {
            let child = child_path(rel, &name);
            // `rel` passed `excluded` (here or in `record_artifacts`).
            if excluded_child(&child, &name, &self.excludes) {
                continue;
            }
            // Follows symlinks, as the reference's isfile/isdir do; broken
            // symlinks are skipped.
            let kind = if kind.is_symlink() {
                match std::fs::metadata(self.base.join(&child)) {
                    Ok(m) => m.file_type(),
                    Err(_) => continue,
                }
            } else {
                kind
            };
            if kind.is_dir() {
                self.walk(&child, visited)?;
            } else if kind.is_file() {
                self.add(&child)?;
            }
        }
        Ok(())
    }
}

/// Hashes `paths` (relative to `base`, as given on the command line): the
/// walk in order on this thread, the files' contents on the other cores as
/// the walk finds them, then on every core once it is done.
pub fn record_artifacts(
    base: &Path,
    paths: &[String],
    opts: &RecordOptions,
) -> Result<Artifacts, RecordError> {
    for (i, a) in opts.lstrip.iter().enumerate() {
        for b in &opts.lstrip[i + 1..] {
            if a.starts_with(b.as_str()) || b.starts_with(a.as_str()) {
                return Err(RecordError::Paths(format!(
                    "--lstrip-paths {} and {} overlap",
                    crate::excerpt(a),
                    crate::excerpt(b)
                )));
            }
        }
    }
    let excludes = if opts.excludes.is_empty() {
        compile_excludes(&DEFAULT_EXCLUDES.map(str::to_owned))
    } else {
        compile_excludes(&opts.excludes)
    };
    let mut names = Vec::new();
    let walk = |push: &mut dyn FnMut(String)| {
        let mut r = Recorder {
            base,
            excludes,
            lstrip: &opts.lstrip,
            names: Vec::new(),
            seen: HashSet::new(),
            push,
        };
        let mut visited = HashSet::new();
        for p in paths {
            let rel = normpath(p);
            if excluded(&rel, &r.excludes) {
                continue;
            }
            match std::fs::metadata(base.join(&rel)) {
                Ok(m) if m.is_dir() => r.walk(&rel, &mut visited)?,
                Ok(m) if m.is_file() => r.add(&rel)?,
                _ => {} // absent: skipped, as the reference does
            }
        }
        names = r.names;
        Ok(())
    };
    // An error of the walk comes first; then the first error in walk order.
    // A path listed twice keeps its last digest, as inserting into a map would.
    let digests =
        crate::par::map_as_produced(walk, Hasher::new, |h, rel: String| h.hash(base, &rel))?;
    names
        .into_iter()
        .zip(digests)
        .map(|(name, digest)| Ok((name, Digests::sha256(digest?))))
        .collect::<Result<Vec<_>, RecordError>>()
        .map(|entries| entries.into_iter().collect())
}

/// Copies the regular files of `src` into `dst` (for inspections).
pub fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let from = e.path();
        let to = dst.join(e.file_name());
        let m = std::fs::metadata(&from)?;
        if m.is_dir() {
            std::fs::create_dir(&to)?;
            copy_tree(&from, &to)?;
        } else if m.is_file() {
            std::fs::copy(&from, &to)?;
        }
    }
    Ok(())
}

/// The words that run a command without network access: a new network
/// namespace (`unshare --net`; a user namespace mapping the caller to
/// itself when not root).
pub fn offline_prefix() -> Vec<String> {
    let mut p = vec!["unshare".to_owned(), "--net".to_owned()];
    if !rustix::process::geteuid().is_root() {
        p.push("--map-current-user".to_owned());
    }
    p.push("--".to_owned());
    p
}

/// Whether commands can be run without network access here
/// ([`offline_prefix`]), or why not.
pub fn check_offline() -> Result<(), String> {
    let mut probe = offline_prefix();
    probe.push("true".to_owned());
    let dir = std::env::temp_dir();
    match run_command(&probe, &dir, Some(Duration::from_secs(10)), Streams::Record) {
        Ok(o) if o.return_value == 0 => Ok(()),
        Ok(o) => Err(format!(
            "`{}` exited with {}: {}",
            probe.join(" "),
            o.return_value,
            o.stderr.trim()
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// What a command did.
#[derive(Debug, Clone)]
pub struct CommandOutcome {
    /// Exit code (negative signal number if killed).
    pub return_value: i64,
    /// Captured stdout (empty unless recorded).
    pub stdout: String,
    /// Captured stderr (empty unless recorded).
    pub stderr: String,
}

impl CommandOutcome {
    /// The `byproducts` object of a link.
    pub fn byproducts(&self) -> Json {
        crate::keys::obj([
            ("return-value", Json::Int(i128::from(self.return_value))),
            ("stderr", Json::Str(self.stderr.clone())),
            ("stdout", Json::Str(self.stdout.clone())),
        ])
    }
}

/// What becomes of a command's standard output and error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streams {
    /// Captured, for the link's `byproducts`.
    Record,
    /// Sent to /dev/null.
    Discard,
}

/// Runs `command` in `cwd`; kills it after `timeout`.
pub fn run_command(
    command: &[String],
    cwd: &Path,
    timeout: Option<Duration>,
    streams: Streams,
) -> Result<CommandOutcome, RecordError> {
    let record_streams = streams == Streams::Record;
    let shown = format!("{command:?}");
    let Some((program, args)) = command.split_first() else {
        return Err(RecordError::Command {
            command: shown,
            reason: "the command is empty".into(),
        });
    };
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(cwd).stdin(Stdio::null());
    if record_streams {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    } else {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
    }
    let mut child = cmd.spawn().map_err(|e| RecordError::Command {
        command: shown.clone(),
        reason: e.to_string(),
    })?;
    let readers = if record_streams {
        let mut out = child.stdout.take();
        let mut err = child.stderr.take();
        let a = std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(o) = out.as_mut() {
                let _ = o.read_to_end(&mut s);
            }
            s
        });
        let b = std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(o) = err.as_mut() {
                let _ = o.read_to_end(&mut s);
            }
            s
        });
        Some((a, b))
    } else {
        None
    };
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| RecordError::Command {
            command: shown.clone(),
            reason: e.to_string(),
        })? {
            break status;
        }
        if timeout.is_some_and(|t| start.elapsed() > t) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(RecordError::Command {
                command: shown,
                reason: format!(
                    "timed out after {} s",
                    timeout.map(|t| t.as_secs()).unwrap_or_default()
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (stdout, stderr) = match readers {
        Some((a, b)) => (
            String::from_utf8_lossy(&a.join().unwrap_or_default()).into_owned(),
            String::from_utf8_lossy(&b.join().unwrap_or_default()).into_owned(),
        ),
        None => (String::new(), String::new()),
    };
    use std::os::unix::process::ExitStatusExt;
    let return_value = status
        .code()
        .map(i64::from)
        .or_else(|| status.signal().map(|s| -i64::from(s)))
        .unwrap_or(-1);
    Ok(CommandOutcome {
        return_value,
        stdout,
        stderr,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn normpath_like_python() {
        for (i, o) in [
            ("", "."),
            (".", "."),
            ("./a//b/", "a/b"),
            ("a/../b", "b"),
            ("../a", "../a"),
            ("/../a", "/a"),
            ("a/./b/..", "a"),
        ] {
            assert_eq!(normpath(i), o, "{i}");
        }
    }

    #[test]
    fn a_child_path_is_its_normalized_join() {
        for rel in [".", "/", "a", "a/b", "..", "../x", "/x", "x.y"] {
            let rel = normpath(rel);
            for name in ["f", "f.txt", "..f", ".g", "é"] {
                assert_eq!(child_path(&rel, name), normpath(&format!("{rel}/{name}")));
            }
        }
    }

    #[test]
    fn a_child_is_excluded_as_its_whole_path_would_be() {
        let patterns = compile_excludes(
            &[
                "*.link*", ".git", "*.pyc", "*~", "a/b*/c", "/top", "x/", "d?r",
            ]
            .map(str::to_owned),
        );
        let parents = [
            ".", "", "..", "../up", "a", "a/b1", "a/bz/q", "/abs/p", "top2", "dir0",
        ];
        let names = [
            "c", "f.link", "keep.txt", ".git", "x", "top", "m.pyc~", "dar", "b2",
        ];
        for rel in parents {
            let rel = normpath(rel);
            if excluded(&rel, &patterns) {
                continue;
            }
            for name in names {
                let child = normpath(&format!("{rel}/{name}"));
                assert_eq!(
                    excluded_child(&child, name, &patterns),
                    excluded(&child, &patterns),
                    "{child}"
                );
            }
        }
    }

    #[test]
    fn each_file_is_hashed_by_its_name_in_its_directory_as_by_its_path() {
        // Files at the top, in nested and in symlinked directories, through
        // a symlink, by a path given absolute, and the same directory's
        // files on both sides of another's: each digest is its content's.
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("t/x/y")).unwrap();
        std::fs::create_dir_all(root.join("t/z")).unwrap();
        for (i, f) in ["top", "t/a", "t/x/b", "t/x/y/c", "t/z/d", "t/zz"]
            .iter()
            .enumerate()
        {
            std::fs::write(root.join(f), format!("content {i}")).unwrap();
        }
        std::os::unix::fs::symlink("x/y", root.join("t/linked")).unwrap();
        std::os::unix::fs::symlink("z/d", root.join("t/e")).unwrap();
        let got =
            record_artifacts(root, &["top".into(), "t".into()], &RecordOptions::default()).unwrap();
        let sha = |f: &str| {
            use sha2::Digest as _;
            hex::encode(sha2::Sha256::digest(std::fs::read(root.join(f)).unwrap()))
        };
        let want = [
            ("top", "top"),
            ("t/a", "t/a"),
            ("t/e", "t/z/d"),
            ("t/linked/c", "t/x/y/c"),
            ("t/x/b", "t/x/b"),
            // (t/x/y was walked as t/linked: each directory once.)
            ("t/z/d", "t/z/d"),
            ("t/zz", "t/zz"),
        ];
        assert_eq!(
            got.len(),
            want.len(),
            "{:?}",
            got.keys().collect::<Vec<_>>()
        );
        for (name, file) in want {
            assert_eq!(
                got.get(name).unwrap().get("sha256").unwrap(),
                sha(file),
                "{name}"
            );
        }
        let opts = RecordOptions {
            lstrip: vec![format!("{}/", root.display())],
            ..Default::default()
        };
        let abs = root.join("t/x/b").display().to_string();
        let got = record_artifacts(Path::new("."), &[abs], &opts).unwrap();
        assert_eq!(
            got.get("t/x/b").unwrap().get("sha256").unwrap(),
            sha("t/x/b")
        );
        // A file that is gone, and one in a directory that is gone: the
        // error names the whole path either way.
        let mut h = Hasher::new();
        for rel in ["t/x/gone", "t/gone/f"] {
            let e = h.hash(root, rel).unwrap_err().to_string();
            assert!(e.starts_with(&root.join(rel).display().to_string()), "{e}");
        }
    }

    #[test]
    fn records_relative_paths_with_excludes_and_lstrip() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("src/.git")).unwrap();
        std::fs::write(d.path().join("src/a.c"), b"a").unwrap();
        std::fs::write(d.path().join("src/a.pyc"), b"x").unwrap();
        std::fs::write(d.path().join("src/.git/HEAD"), b"x").unwrap();
        std::fs::write(d.path().join("src/b.link"), b"x").unwrap();
        let got = record_artifacts(d.path(), &["src".into()], &RecordOptions::default()).unwrap();
        assert_eq!(got.keys().collect::<Vec<_>>(), ["src/a.c"]);
        let opts = RecordOptions {
            lstrip: vec!["src/".into()],
            ..Default::default()
        };
        let got = record_artifacts(d.path(), &["./src/".into()], &opts).unwrap();
        assert_eq!(got.keys().collect::<Vec<_>>(), ["a.c"]);
        assert_eq!(
            got.get("a.c").unwrap().get("sha256").unwrap(),
            "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
        );
        let bad = RecordOptions {
            lstrip: vec!["src/".into(), "src/a".into()],
            ..Default::default()
        };
        assert!(record_artifacts(d.path(), &["src".into()], &bad).is_err());
    }

    #[test]
    fn many_files_are_hashed_while_walked_and_a_walk_error_still_wins() {
        use sha2::{Digest, Sha256};
        let d = tempfile::tempdir().unwrap();
        for dir in ["a", "b"] {
            std::fs::create_dir(d.path().join(dir)).unwrap();
        }
        // Several batches of files handed to the hashing threads before
        // the walk reaches `b`.
        for i in 0..200 {
            std::fs::write(d.path().join(format!("a/f{i:03}")), format!("file {i}")).unwrap();
        }
        std::fs::write(d.path().join("b/f150"), b"other").unwrap();
        let got = record_artifacts(d.path(), &[".".into()], &RecordOptions::default()).unwrap();
        assert_eq!(got.len(), 201);
        for (path, content) in [
            ("a/f000", "file 0"),
            ("a/f199", "file 199"),
            ("b/f150", "other"),
        ] {
            assert_eq!(
                got.get(path).unwrap().get("sha256").unwrap(),
                hex::encode(Sha256::digest(content)),
                "{path}"
            );
        }
        let collide = RecordOptions {
            lstrip: vec!["a/".into(), "b/".into()],
            ..Default::default()
        };
        let err = record_artifacts(d.path(), &[".".into()], &collide).unwrap_err();
        assert!(
            err.to_string()
                .contains("makes two artifacts both \"f150\""),
            "{err}"
        );
    }

    #[test]
    fn command_return_value_and_timeout() {
        let d = tempfile::tempdir().unwrap();
        let o = run_command(
            &["sh".into(), "-c".into(), "echo hi; exit 3".into()],
            d.path(),
            None,
            Streams::Record,
        )
        .unwrap();
        assert_eq!((o.return_value, o.stdout.as_str()), (3, "hi\n"));
        let e = run_command(
            &["sleep".into(), "5".into()],
            d.path(),
            Some(Duration::from_millis(200)),
            Streams::Discard,
        )
        .unwrap_err();
        assert!(e.to_string().contains("timed out"), "{e}");
    }
}
