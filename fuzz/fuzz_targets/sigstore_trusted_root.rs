//! A Sigstore trusted_root.json.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    airlock::fuzzing::sigstore_trusted_root(data);
});
