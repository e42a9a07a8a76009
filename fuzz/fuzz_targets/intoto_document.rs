//! An in-toto layout, link or attestation file (Metablock or DSSE).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    airlock::fuzzing::intoto_document(data);
});
