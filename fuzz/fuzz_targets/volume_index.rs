//! The signed volume index CBOR.
#![no_main]

use airlock_bundle::{Limits, VolumeIndex};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(i) = VolumeIndex::decode(data, &Limits::default()) {
        let _ = i.total_file_len();
        let _ = i.bundle_len();
        for n in 1..=i.count().min(1000) {
            let _ = i.file_len(n);
        }
        let again =
            VolumeIndex::decode(&i.encode(), &Limits::default()).expect("re-encoded index decodes");
        assert_eq!(again.encode(), i.encode());
    }
});
