//! A PKCS#11 URI (RFC 7512), as given to --key and --store.
#![no_main]

use airlock_hsm::Pkcs11Uri;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = Pkcs11Uri::parse(s);
    }
});
