//! An OCI (or Docker schema 2) image manifest or index.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    airlock::fuzzing::oci_document(data);
});
