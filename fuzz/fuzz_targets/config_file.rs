//! cargo fuzz target `config_file`: the body is in fuzz/harness.rs, shared with the replay test.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::config_file(data));
