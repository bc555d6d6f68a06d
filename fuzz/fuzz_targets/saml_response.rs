//! cargo fuzz target `saml_response`: the body is in fuzz/harness.rs, shared with the replay test.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::saml_response(data));
