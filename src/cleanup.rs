//! Removing this process's temporary files when it is interrupted.
//!
//! `pack` writes its bundle to a hidden temporary file beside `--out`
//! (`.airlock-pack-PID-…`) and `unpack` stages into a hidden directory beside
//! `--to`; `Drop` removes them on every error, but not when a signal ends
//! the process. [`install`] starts a thread that, on SIGINT, SIGTERM or
//! SIGHUP, removes what is registered and exits with 128 + the signal. What
//! `kill -9` leaves is removed by the next `pack` into the same directory
//! (temporary files whose lock is free) and the next `unpack` beside the
//! same destination (staging directories whose lock is free).
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What to remove on a signal.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// A directory tree.
    Tree(PathBuf),
    /// Every entry of a directory whose name starts with a prefix.
    Prefixed(PathBuf, String),
}

static TARGETS: Mutex<Vec<Target>> = Mutex::new(Vec::new());

/// Starts the signal thread (once per process; later calls do nothing).
pub fn install() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            return;
        };
        let _ = std::thread::Builder::new()
            .name("airlock-cleanup".into())
            .spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    remove_all();
                    std::process::exit(128 + sig);
                }
            });
    });
}

fn remove_all() {
    let targets = match TARGETS.lock() {
        Ok(t) => t.clone(),
        Err(p) => p.into_inner().clone(),
    };
    for t in targets {
        match t {
            Target::Tree(p) => {
                let _ = std::fs::remove_dir_all(&p);
            }
            Target::Prefixed(dir, prefix) => {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for e in entries.flatten() {
                    if e.file_name()
                        .to_str()
                        .is_some_and(|n| n.starts_with(&prefix))
                    {
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            }
        }
    }
}

/// Removes its target on a signal for as long as it lives.
#[derive(Debug)]
pub struct Registered(Target);

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut t) = TARGETS.lock()
            && let Some(i) = t.iter().position(|x| *x == self.0)
        {
            t.remove(i);
        }
    }
}

fn register(t: Target) -> Registered {
    install();
    if let Ok(mut all) = TARGETS.lock() {
        all.push(t.clone());
    }
    Registered(t)
}

/// Removes the tree at `path` if a signal ends the process.
pub fn on_signal_remove_tree(path: &Path) -> Registered {
    register(Target::Tree(path.to_owned()))
}

/// Removes the files of `dir` whose names start with `prefix` if a signal
/// ends the process.
pub fn on_signal_remove_prefixed(dir: &Path, prefix: &str) -> Registered {
    register(Target::Prefixed(dir.to_owned(), prefix.to_owned()))
}
