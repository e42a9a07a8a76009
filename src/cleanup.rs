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
                    // The lock is held to the end: a commit waiting in
                    // [`no_signal_cleanup`] never renames what is being
                    // removed.
                    let _held = remove_all();
                    std::process::exit(128 + sig);
                }
            });
    });
}

fn remove_all() -> std::sync::MutexGuard<'static, Vec<Target>> {
    let targets = lock();
    for t in targets.iter() {
        match t {
            Target::Tree(p) => {
                let _ = std::fs::remove_dir_all(p);
            }
            Target::Prefixed(dir, prefix) => {
                let Ok(entries) = std::fs::read_dir(dir) else {
                    continue;
                };
                for e in entries.flatten() {
                    if e.file_name()
                        .to_str()
                        .is_some_and(|n| n.starts_with(prefix.as_str()))
                    {
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            }
        }
    }
    targets
}

fn lock() -> std::sync::MutexGuard<'static, Vec<Target>> {
    TARGETS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Keeps the signal cleanup from running while it lives (it waits, then
/// runs): held by a commit across its last check and its rename, so a
/// signal either removes the staging directory before the commit looks at
/// it, or comes after the rename, never in between.
#[derive(Debug)]
pub struct NoSignalCleanup {
    _held: std::sync::MutexGuard<'static, Vec<Target>>,
}

/// See [`NoSignalCleanup`].
pub fn no_signal_cleanup() -> NoSignalCleanup {
    NoSignalCleanup { _held: lock() }
}

/// Removes its target on a signal for as long as it lives.
#[derive(Debug)]
pub struct Registered(Target);

impl Drop for Registered {
    fn drop(&mut self) {
        let mut t = lock();
        if let Some(i) = t.iter().position(|x| *x == self.0) {
            t.remove(i);
        }
    }
}

fn register(t: Target) -> Registered {
    install();
    lock().push(t.clone());
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
