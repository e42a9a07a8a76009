//! A volume header (fixed fields, index, signatures, padding) read from the
//! start of a volume file.
#![no_main]

use airlock_bundle::{Limits, fuzzing};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = fuzzing::volume_header(data, &Limits::default()) {
        let _ = h.entry();
        let _ = h.index.total_file_len();
        let _ = h.index.bundle_len();
    }
});
