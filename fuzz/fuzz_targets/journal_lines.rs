//! Journal lines, parsed and chain-checked as `journal verify` does.
#![no_main]

use std::sync::LazyLock;

use airlock_hsm::{FileSigner, PublicKey, Signer};
use libfuzzer_sys::fuzz_target;

static KEY: LazyLock<PublicKey> =
    LazyLock::new(|| FileSigner::from_seed(&[7; 32]).public_key().clone());

fuzz_target!(|data: &[u8]| {
    airlock::fuzzing::journal_lines(&KEY, data);
});
