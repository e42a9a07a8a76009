//! airlock: carry software across an air gap and prove, on the isolated
//! side, that what arrived is exactly what an authorized supply chain
//! produced.
//!
//! The binary is a thin layer over this library: [`cli`] defines the
//! command-line contract, [`cmd`] holds one module per command, and the rest
//! are the pieces those commands share — strict JSON and canonical JSON
//! ([`json`]), keys and keyids ([`keys`]), TUF root metadata ([`tuf`]), the
//! trust policy ([`policy`]), the isolated-side verifier ([`verifier`]) and
//! staging ([`staging`]). The container format lives in `airlock-bundle`,
//! keys and trust stores in `airlock-hsm`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cleanup;
pub mod cli;
pub mod cmd;
pub mod error;
pub mod fsutil;
#[doc(hidden)]
pub mod fuzzing;
pub mod intoto;
pub mod journal;
pub mod json;
pub mod keys;
pub mod oci;
pub mod policy;
pub mod progress;
pub mod sigstore;
pub mod staging;
pub mod timefmt;
pub mod trust_anchor;
pub mod tuf;
pub mod verifier;
pub mod volumes;
pub mod walk;

pub use error::Error;

/// A bounded, escaped excerpt of an untrusted string for error messages.
pub fn excerpt(s: &str) -> String {
    const MAX: usize = 96;
    let escaped: String = s.escape_debug().collect();
    if escaped.chars().count() > MAX {
        let cut: String = escaped.chars().take(MAX).collect();
        format!("\"{cut}…\"")
    } else {
        format!("\"{escaped}\"")
    }
}
