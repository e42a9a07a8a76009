//! A bundle, read end to end as `verify` reads it: manifest and signatures,
//! every metadata entry, then every artifact streamed and digest-checked.
//! The reader checks no signatures (the caller does, and this target
//! accepts any), so the fuzzer reaches the payload.
#![no_main]

use std::io::{self, Cursor};

use airlock_bundle::{BundleReader, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = BundleReader::open(Cursor::new(data.to_vec()), Limits::default()) else {
        return;
    };
    let _ = reader.signatures();
    loop {
        match reader.next_metadata() {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => return,
        }
    }
    let Ok(mut payload) = reader.into_payload() else {
        return;
    };
    while let Ok(Some(_)) = payload.next_artifact() {
        if payload.copy_to(&mut io::sink()).is_err() {
            return;
        }
    }
});
