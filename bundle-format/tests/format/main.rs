//! Integration tests for the bundle format, built as one test binary.
//! Each module is named by the property it checks.

#![allow(clippy::unwrap_used)]

mod common;

mod canonical_encoding;
mod deterministic_writer;
mod frame_refusals;
mod manifest_refusals;
mod round_trip;
mod tar_refusals;
