//! Named crash and pause points for the crash-consistency tests.
//!
//! Compiled to nothing unless the `test-hooks` feature is on (the test gate
//! builds with `--all-features`; release builds never have it). With the
//! feature, two environment variables drive them:
//!
//! - `AIRLOCK_TEST_CRASH_AT=NAME`: the process exits at once (status 137, no
//!   destructors, no cleanup) when it reaches point `NAME`, as `kill -9`
//!   there would leave things.
//! - `AIRLOCK_TEST_PAUSE_AT=NAME:FIFO`: at point `NAME` the process opens
//!   `FIFO` for reading and waits for end of file, so a test can act while it
//!   is held there (the test's open for writing returns once it is).

/// A point where a crash test may stop the process.
#[inline]
pub fn point(name: &str) {
    #[cfg(feature = "test-hooks")]
    {
        if std::env::var("AIRLOCK_TEST_CRASH_AT").is_ok_and(|v| v == name) {
            std::process::exit(137);
        }
        if let Ok(v) = std::env::var("AIRLOCK_TEST_PAUSE_AT")
            && let Some((at, fifo)) = v.split_once(':')
            && at == name
            && let Ok(mut f) = std::fs::File::open(fifo)
        {
            let _ = std::io::copy(&mut f, &mut std::io::sink());
        }
    }
    #[cfg(not(feature = "test-hooks"))]
    let _ = name;
}

/// The point `PREFIX-N` (the `n`-th of a repeated step, e.g. the n-th
/// artifact staged): formatted only when the `test-hooks` feature is on.
#[inline]
pub fn point_n(prefix: &str, n: usize) {
    #[cfg(feature = "test-hooks")]
    point(&format!("{prefix}-{n}"));
    #[cfg(not(feature = "test-hooks"))]
    let _ = (prefix, n);
}
