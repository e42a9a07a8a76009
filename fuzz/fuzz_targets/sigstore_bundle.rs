//! A Sigstore bundle, verified against the production trusted root of
//! tests/vectors/sigstore (see `airlock::fuzzing::sigstore_bundle`).
#![no_main]

use std::sync::LazyLock;

use airlock::fuzzing::SigstoreRoot;
use libfuzzer_sys::fuzz_target;

static ROOT: LazyLock<SigstoreRoot> = LazyLock::new(|| {
    SigstoreRoot::parse(include_bytes!(
        "../../tests/vectors/sigstore/trusted_root.production.json"
    ))
    .expect("the vector trusted root parses")
});

fuzz_target!(|data: &[u8]| {
    airlock::fuzzing::sigstore_bundle(&ROOT, data);
});
