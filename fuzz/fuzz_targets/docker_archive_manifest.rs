//! `docker save`'s `manifest.json` (the image, its config and layer paths).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    airlock::fuzzing::docker_archive_manifest(data);
});
