//! Records what `airlock --version` reports beyond the crate version: the
//! commit it was built from (as of the last rebuild) and the optional
//! backends compiled in.
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=AIRLOCK_COMMIT={commit}");
    let tpm = std::env::var_os("CARGO_FEATURE_TPM").is_some();
    println!(
        "cargo:rustc-env=AIRLOCK_FEATURES={}",
        if tpm {
            "tpm pkcs11 file"
        } else {
            "pkcs11 file (no tpm)"
        }
    );
    // No rerun-if-changed: cargo then reruns this whenever a file of the
    // package changes, which is when the binary is rebuilt anyway.
}
