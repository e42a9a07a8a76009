//! airlock: carry software across an air gap and prove, on the isolated
//! side, that what arrived is exactly what an authorized supply chain
//! produced.
//!
//! The library is in layers that point one way (`scripts/import-graph.py`
//! checks it):
//!
//! - the command line: [`cli`] (the contract, clap) and [`cmd`] (one module
//!   per command: flags, printing, progress bars, prompts). Only these parse
//!   flags, draw and print to stderr; the layers below return warnings as
//!   data or hand them to the command's `warn`;
//! - application services: the pack pipeline (`pack`), the isolated-side
//!   verifier (`verifier`), delta bundles' bases (`delta`), the enclave policy and receipts (`gate`),
//!   staging (`staging`), split bundles (`volumes`),
//!   the store's anchor (`trust_anchor`), journal decisions and exports
//!   ([`journal`]), and the application [`Error`], which maps every layer's
//!   error to an exit code, a stable code and one hint;
//! - the domain: strict and canonical JSON ([`json`]), keys and keyids
//!   ([`keys`]), TUF roots ([`tuf`]), in-toto ([`intoto`]), the trust policy
//!   (`policy`), container images ([`oci`]), each with its own error type;
//! - the crates: the container format (`airlock-bundle`), keys and trust
//!   stores (`airlock-hsm`).
//!
//! Modules that nothing outside the crate uses are private.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cleanup;
pub mod cli;
pub mod cmd;
mod delta;
pub mod error;
mod fsutil;
#[doc(hidden)]
pub mod fuzzing;
mod gate;
pub mod intoto;
pub mod journal;
pub mod json;
pub mod keys;
pub mod oci;
mod pack;
mod par;
mod policy;
mod progress;
mod publish;
mod sigstore;
mod staging;
pub mod timefmt;
mod trust_anchor;
pub mod tuf;
mod verifier;
mod volumes;
mod walk;

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
