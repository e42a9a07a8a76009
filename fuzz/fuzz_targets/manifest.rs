//! The manifest and signatures CBOR; what decodes must encode to the same
//! bytes (there is one canonical encoding), and the canonical reader reads
//! what ciborium reads.
#![no_main]

use airlock_bundle::{Limits, Manifest, Signatures};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    assert!(
        airlock_bundle::fuzzing::manifest_readers_agree(data),
        "the canonical reader and ciborium read a manifest differently"
    );
    let limits = Limits::default();
    if let Ok(m) = Manifest::decode(data, &limits) {
        assert_eq!(
            m.encode(),
            data,
            "a decoded manifest re-encodes differently"
        );
    }
    if let Ok(s) = Signatures::decode(data, &limits) {
        let again = Signatures::decode(&s.encode(), &limits).expect("re-encoded signatures decode");
        assert_eq!(again.encode(), s.encode());
    }
});
