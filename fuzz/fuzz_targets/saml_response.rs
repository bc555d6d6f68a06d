//! The SAML response parser and verifier on arbitrary bytes: it must answer every input with
//! Ok or Err, never panic, never hang. The key is the one the seed corpus is signed with, so
//! mutations of real signed responses reach the digest and signature code.
#![no_main]

use gantry::connector::saml::dsig::IdpKey;
use gantry::connector::saml::response::{Expect, verify};
use libfuzzer_sys::fuzz_target;

const CERT: &[u8] = include_bytes!("../corpus-key/idp.crt");

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(keys) = IdpKey::from_pem(CERT) else {
        return;
    };
    let expect = Expect {
        audience: "http://127.0.0.1:5556/dex/callback",
        acs: "http://127.0.0.1:5556/dex/callback",
        issuer: Some("http://idp.test/metadata"),
        in_response_to: "_req_42",
        // Inside the seed responses' validity window, so whole verifications succeed too.
        now: 1_795_990_000,
        skew: 10 * 365 * 86_400,
        allow_sha1: false,
    };
    let _ = verify(text, &keys, &expect);
});
