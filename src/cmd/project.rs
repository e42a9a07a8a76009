//! The connected side's project file, `airlock.toml` (written by `airlock
//! init`): the flags `record` and `pack` would otherwise need every time.
//! A flag given on the command line wins over the file; the next sequence
//! on the channel comes from the file (never from the clock) and is written
//! back after a pack succeeds.
//!
//! ```toml
//! [pack]
//! out = "release-{sequence}.airlock"
//! key = ["keys/release.pem"]
//! root = ["1.root.json"]
//! layout = "root.layout"
//! layout_key = ["keys/owner.pub"]
//! links = "links"
//! artifacts = "dist"
//! channel = "stable"
//! expires = "30d"
//! sequence = 0      # the last sequence packed; pack uses the next one
//!
//! [record]
//! name = "build"
//! key = "keys/builder.pem"
//! out_dir = "links"
//! lstrip_paths = ["dist/"]
//! ```
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The project file's name, looked up in the current directory.
pub const PROJECT_FILE: &str = "airlock.toml";

/// Largest project file read.
const MAX_PROJECT_BYTES: u64 = 64 * 1024;

/// A flag's value(s) in the project file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// `--flag VALUE`.
    One(String),
    /// `--flag V1 V2 …`.
    Many(Vec<String>),
    /// A number (`sequence`).
    Number(u64),
}

/// `airlock.toml`: one table of flags per command.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// Flags of `airlock pack`, plus `sequence`: the last one packed.
    #[serde(default)]
    pub pack: BTreeMap<String, Value>,
    /// Flags of `airlock record`.
    #[serde(default)]
    pub record: BTreeMap<String, Value>,
}

/// Flags a project may set, per command: only values, never a switch that
/// weakens a check.
const PACK_FLAGS: &[&str] = &[
    "out",
    "key",
    "root",
    "layout",
    "layout_key",
    "links",
    "artifacts",
    "channel",
    "expires",
    "sequence",
    "attestation",
    "product_step",
    "level",
    "split",
];
const RECORD_FLAGS: &[&str] = &[
    "name",
    "key",
    "materials",
    "products",
    "out_dir",
    "exclude",
    "lstrip_paths",
    "base_path",
];

impl Project {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Project, Error> {
        let bytes = crate::fsutil::read_limited(path, MAX_PROJECT_BYTES, "a project file")?;
        let text = String::from_utf8(bytes).map_err(|_| bad(path, "it is not UTF-8".into()))?;
        let p: Project = toml::from_str(&text).map_err(|e| bad(path, e.to_string()))?;
        for (table, allowed, flags) in [
            ("pack", PACK_FLAGS, &p.pack),
            ("record", RECORD_FLAGS, &p.record),
        ] {
            if let Some(k) = flags.keys().find(|k| !allowed.contains(&k.as_str())) {
                return Err(bad(
                    path,
                    format!(
                        "[{table}] {k} is not a setting (allowed: {})",
                        allowed.join(", ")
                    ),
                ));
            }
        }
        if let Some(v) = p.pack.get("sequence")
            && !matches!(v, Value::Number(_))
        {
            return Err(bad(path, "[pack] sequence must be a number".into()));
        }
        Ok(p)
    }

    /// Writes the project file atomically.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let text = toml::to_string_pretty(self).map_err(|e| bad(path, e.to_string()))?;
        let text = format!(
            "# airlock project: `airlock record` and `airlock pack` take their flags from here;\n# a flag on the command line wins. [pack] sequence is the last one packed.\n{text}"
        );
        crate::fsutil::replace_file(path, text.as_bytes())
    }

    /// The last sequence packed on the channel.
    pub fn sequence(&self) -> u64 {
        match self.pack.get("sequence") {
            Some(Value::Number(n)) => *n,
            _ => 0,
        }
    }
}

fn bad(path: &Path, reason: String) -> Error {
    Error::usage(
        format!("{} is not a usable project file: {reason}", path.display()),
        "fix it, or run the command without a project file (from another directory)",
    )
}

/// A pack whose sequence came from the project: written back on success.
#[derive(Debug)]
pub struct PendingSequence {
    /// The project file.
    pub path: PathBuf,
    /// The sequence the pack used.
    pub sequence: u64,
}

/// Inserts the project's flags for `record` and `pack` right after the
/// command name, for every flag the command line does not give itself.
/// Other commands, and a directory without `airlock.toml`, are left alone.
pub fn expand_args(
    args: Vec<OsString>,
    dir: &Path,
) -> Result<(Vec<OsString>, Option<PendingSequence>), Error> {
    let Some(pos) = args
        .iter()
        .skip(1)
        .position(|a| a == "pack" || a == "record")
        .map(|p| p + 1)
    else {
        return Ok((args, None));
    };
    // Only the command word itself: `--out pack` is a value, not a command.
    if args[1..pos]
        .iter()
        .any(|a| !a.to_string_lossy().starts_with('-'))
    {
        return Ok((args, None));
    }
    let path = dir.join(PROJECT_FILE);
    if !path.exists() {
        return Ok((args, None));
    }
    let project = Project::load(&path)?;
    let command = args[pos].to_string_lossy().into_owned();
    let table = if command == "pack" {
        &project.pack
    } else {
        &project.record
    };
    // What the command line gives itself (before a `--` command).
    let given: Vec<String> = args[pos + 1..]
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .take_while(|a| a != "--")
        .filter_map(|a| {
            a.strip_prefix("--")
                .map(|f| f.split('=').next().unwrap_or("").replace('-', "_"))
        })
        .collect();
    let mut pending = None;
    let next = project.sequence().saturating_add(1);
    let mut extra: Vec<OsString> = Vec::new();
    for (key, value) in table {
        if given.contains(key) {
            continue;
        }
        let values: Vec<String> = match (key.as_str(), value) {
            ("sequence", _) => {
                pending = Some(PendingSequence {
                    path: path.clone(),
                    sequence: next,
                });
                vec![next.to_string()]
            }
            (_, Value::One(s)) => vec![s.replace("{sequence}", &next.to_string())],
            (_, Value::Many(v)) => v.clone(),
            (_, Value::Number(n)) => vec![n.to_string()],
        };
        extra.push(format!("--{}", key.replace('_', "-")).into());
        extra.extend(values.into_iter().map(OsString::from));
    }
    // A --sequence of the operator's own is remembered too, so the next
    // pack from the project goes on above it.
    if command == "pack" && table.contains_key("sequence") && given.iter().any(|g| g == "sequence")
    {
        let rest: Vec<String> = args[pos + 1..]
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let value = rest.iter().enumerate().find_map(|(i, a)| {
            a.strip_prefix("--sequence=")
                .map(str::to_owned)
                .or_else(|| {
                    (a == "--sequence")
                        .then(|| rest.get(i + 1).cloned())
                        .flatten()
                })
        });
        if let Some(n) = value.and_then(|v| v.parse::<u64>().ok()) {
            pending = Some(PendingSequence {
                path: path.clone(),
                sequence: n,
            });
        }
    }
    let mut out = args[..=pos].to_vec();
    out.extend(extra);
    out.extend(args[pos + 1..].iter().cloned());
    Ok((out, pending))
}

/// Records the sequence of a successful pack in the project file.
pub fn commit_sequence(p: &PendingSequence) -> Result<(), Error> {
    let mut project = Project::load(&p.path)?;
    if p.sequence > project.sequence() {
        project
            .pack
            .insert("sequence".into(), Value::Number(p.sequence));
        project.save(&p.path)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<OsString> {
        s.iter().map(OsString::from).collect()
    }

    fn project(dir: &Path, text: &str) {
        std::fs::write(dir.join(PROJECT_FILE), text).unwrap();
    }

    #[test]
    fn flags_on_the_command_line_win_and_the_sequence_comes_from_the_file() {
        let d = tempfile::tempdir().unwrap();
        project(
            d.path(),
            "[pack]\nkey = [\"k.pem\"]\nchannel = \"stable\"\nout = \"rel-{sequence}.airlock\"\nsequence = 41\n",
        );
        let (got, pending) = expand_args(
            args(&[
                "airlock",
                "--json",
                "pack",
                "--channel",
                "beta",
                "--artifacts",
                "dist",
            ]),
            d.path(),
        )
        .unwrap();
        assert_eq!(
            got,
            args(&[
                "airlock",
                "--json",
                "pack",
                "--key",
                "k.pem",
                "--out",
                "rel-42.airlock",
                "--sequence",
                "42",
                "--channel",
                "beta",
                "--artifacts",
                "dist"
            ])
        );
        let pending = pending.unwrap();
        assert_eq!(pending.sequence, 42);
        commit_sequence(&pending).unwrap();
        assert_eq!(
            Project::load(&d.path().join(PROJECT_FILE))
                .unwrap()
                .sequence(),
            42
        );
        // An explicit --sequence is the operator's: it is used as given, and
        // remembered only when it is above the file's.
        let (got, pending) =
            expand_args(args(&["airlock", "pack", "--sequence", "7"]), d.path()).unwrap();
        assert!(!got[3..].contains(&OsString::from("43")));
        commit_sequence(&pending.unwrap()).unwrap();
        assert_eq!(
            Project::load(&d.path().join(PROJECT_FILE))
                .unwrap()
                .sequence(),
            42
        );
        let (_, pending) =
            expand_args(args(&["airlock", "pack", "--sequence=50"]), d.path()).unwrap();
        commit_sequence(&pending.unwrap()).unwrap();
        assert_eq!(
            Project::load(&d.path().join(PROJECT_FILE))
                .unwrap()
                .sequence(),
            50
        );
    }

    #[test]
    fn other_commands_and_unknown_settings() {
        let d = tempfile::tempdir().unwrap();
        project(d.path(), "[pack]\nkey = [\"k.pem\"]\n");
        let a = args(&["airlock", "verify", "x", "--store", "s"]);
        assert_eq!(expand_args(a.clone(), d.path()).unwrap().0, a);
        project(d.path(), "[pack]\nat = \"2020-01-01T00:00:00Z\"\n");
        assert!(expand_args(args(&["airlock", "pack"]), d.path()).is_err());
        project(d.path(), "[unpack]\nto = \"x\"\n");
        assert!(expand_args(args(&["airlock", "pack"]), d.path()).is_err());
    }
}
