#![no_main]
// Placeholder: the target is written by the change that builds its module.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|_data: &[u8]| {});
