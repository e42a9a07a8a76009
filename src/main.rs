//! The `airlock` binary: parse the command line, run the command, print the
//! outcome or the error (`error:` and `hint:` lines, or one JSON object), and
//! exit with the contract's code (all in [`airlock::cmd::entry`]).
//!
//! The two `unsafe` blocks of the workspace outside FFI crates are here,
//! both run at the top of `main`, before any other thread exists: setting
//! an environment variable (which Rust 2024 marks unsafe because another
//! thread may read the environment at the same time), and one `mallopt`
//! call tuning glibc's allocator.
#![deny(unsafe_code)]

fn main() {
    tune_allocator();
    quiet_tpm_library();
    std::process::exit(airlock::cmd::entry(std::env::args_os().collect()));
}

/// tpm2-tss prints its own `WARNING:`/`ERROR:` lines on stderr (a TPM that
/// cannot be reached gives four of them) before airlock's `error:` and
/// `hint:` say the same thing with a way out. It reads its log levels from
/// `TSS2_LOG` when it first logs, and has no other switch: so unless the
/// operator set `TSS2_LOG` (to see them, e.g. `TSS2_LOG=all+debug`), it is
/// set to `all+none` here, before anything else runs.
#[cfg(feature = "tpm")]
#[allow(unsafe_code)]
fn quiet_tpm_library() {
    if std::env::var_os("TSS2_LOG").is_none() {
        // SAFETY: called first thing in `main`, before any thread is
        // started (by us or by a library), so nothing reads or writes the
        // environment concurrently.
        unsafe { std::env::set_var("TSS2_LOG", "all+none") };
    }
}

#[cfg(not(feature = "tpm"))]
fn quiet_tpm_library() {}

/// Fixes glibc's mmap threshold at its initial 128 KiB. By default glibc
/// raises it to the size of any mmap'd block freed (up to 32 MiB), after
/// which blocks of up to that size come from the heap and stay in the
/// process when freed: an import of 20,000 files, whose verifier frees a
/// few multi-megabyte buffers early, kept 47 MiB resident for a 23 MB
/// heap peak; with the threshold fixed, 33 MiB (docs/performance.md,
/// "Fourth round"). Large buffers are then always mapped and unmapped;
/// blocks below 128 KiB are unaffected.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn tune_allocator() {
    // SAFETY: mallopt only sets allocator parameters; called first thing in
    // `main`, before any thread is started, with a documented parameter
    // and value. Its result (0 on failure) leaves glibc's defaults, which
    // are correct, only larger.
    let _ = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024) };
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}
