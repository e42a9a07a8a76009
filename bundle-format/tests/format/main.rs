//! Integration tests for the bundle format, built as one test binary.
//! Each module is named by the property it checks.

#![allow(clippy::unwrap_used)]

mod common;

mod canonical_encoding;
mod canonical_headers;
mod delta_stream;
mod deterministic_writer;
mod frame_refusals;
mod head_frame;
mod images;
mod manifest_refusals;
mod payload_digest;
mod payload_frames;
mod round_trip;
mod single_byte_flips;
mod tar_refusals;
mod volumes;
