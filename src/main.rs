//! The `airlock` binary: parse the command line, run the command, print the
//! outcome or the error (`error:` and `hint:` lines, or one JSON object), and
//! exit with the contract's code (all in [`airlock::cmd::entry`]).
//!
//! The one `unsafe` block of the workspace outside FFI crates is here:
//! setting an environment variable, which Rust 2024 marks unsafe because
//! another thread may read the environment at the same time. At the top of
//! `main` no other thread exists yet.
#![deny(unsafe_code)]

fn main() {
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
