//! TUF root metadata: a trusted root and carried roots applied to it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    airlock::fuzzing::tuf_roots(data);
});
