//! End-to-end tests of the `airlock` binary, one test binary for all.
#![allow(clippy::unwrap_used, missing_docs)]

mod attestations;
mod codes;
mod common;
mod concurrency;
mod corpus;
mod crafted;
mod delta;
mod determinism;
mod directed;
#[path = "../support/emulators.rs"]
mod emulators;
mod faults;
mod first_hour;
mod freshness;
mod gate;
mod help_examples;
mod images;
mod import_graph;
mod inspections;
mod intoto;
mod intoto_vectors;
mod journal;
mod json_doc;
mod keytypes;
mod ledger;
mod monitoring;
mod names;
mod pkcs11;
mod publish;
mod publish_refusals;
mod publish_stream;
mod pull;
#[cfg(feature = "tpm")]
mod quote;
mod readme;
mod resume;
mod rootcmd;
mod rotation;
mod roundtrip;
mod runbooks;
mod signatures;
mod sigstore;
mod spec_writer;
mod tamper;
mod terminal;
mod token_interop;
#[cfg(feature = "tpm")]
mod tpm;
mod trust_chain;
mod tuf_vectors;
mod usage;
mod vectors;
mod volumes;
