//! End-to-end tests of the `airlock` binary, one test binary for all.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;
mod concurrency;
mod crafted;
mod determinism;
#[path = "../support/emulators.rs"]
mod emulators;
mod freshness;
mod images;
mod intoto;
mod intoto_vectors;
mod journal;
mod keytypes;
mod pkcs11;
mod publish;
mod rootcmd;
mod rotation;
mod roundtrip;
mod signatures;
mod tamper;
#[cfg(feature = "tpm")]
mod tpm;
mod tuf_vectors;
mod usage;
mod vectors;
mod volumes;
