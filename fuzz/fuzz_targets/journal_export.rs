//! A journal export, checked as `journal verify --export` checks it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    airlock::fuzzing::journal_export(data);
});
