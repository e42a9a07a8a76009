//! The enclave's policy file (TOML; CEL or Rego expressions).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    airlock::fuzzing::policy_file(data);
});
