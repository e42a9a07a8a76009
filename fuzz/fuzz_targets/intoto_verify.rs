//! The in-toto verifier over a layout and links the target signs with the
//! test keys of tests/vectors/intoto/keys (see `airlock::fuzzing`).
#![no_main]

use std::sync::LazyLock;

use airlock::fuzzing::{IntotoKeys, intoto_verify};
use libfuzzer_sys::fuzz_target;

macro_rules! key {
    ($name:literal) => {
        include_str!(concat!(
            "../../tests/vectors/intoto/keys/",
            $name,
            ".test-only.pem"
        ))
    };
}

static KEYS: LazyLock<IntotoKeys> = LazyLock::new(|| {
    IntotoKeys::from_pems(
        key!("owner-ed25519"),
        &[
            key!("alice-ed25519"),
            key!("bob-ed25519"),
            key!("carol-ed25519"),
        ],
    )
    .expect("the test keys load")
});

fuzz_target!(|data: &[u8]| {
    intoto_verify(&KEYS, data);
});
