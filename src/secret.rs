//! Random values, hashes and constant-time comparison for everything secret.
//!
//! Codes, refresh tokens and client secrets are stored only as SHA-256 of a value with at least
//! 128 bits of entropy, so a plain digest (not a slow KDF) is enough, and lookups stay indexed.

use aws_lc_rs::{constant_time, digest, hmac, rand};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `n` random bytes from the operating system's CSPRNG.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    // The system RNG failing is not recoverable and must not yield predictable secrets.
    if rand::fill(&mut b).is_err() {
        std::process::abort();
    }
    b
}

/// A URL-safe random token carrying `bytes * 8` bits of entropy.
pub fn random_token(bytes: usize) -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(bytes))
}

/// SHA-256 of `value`, base64url; what the database stores instead of a secret.
pub fn hash_secret(value: &str) -> String {
    b64(digest::digest(&digest::SHA256, value.as_bytes()).as_ref())
}

/// HMAC-SHA256 of `msg` under `key`, base64url.
pub fn hmac_b64(key: &[u8], msg: &[u8]) -> String {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    b64(hmac::sign(&k, msg).as_ref())
}

/// Compare two secrets without leaking where they differ.
pub fn ct_eq(a: &str, b: &str) -> bool {
    constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

/// Compare two byte strings without leaking where they differ.
pub fn ct_eq_bytes(a: &[u8], b: &[u8]) -> bool {
    constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decode base64url without padding.
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

/// SHA-256 digest bytes.
pub fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_and_long() {
        let a = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32));
    }

    #[test]
    fn ct_eq_compares_content() {
        assert!(ct_eq("abc", "abc"));
        assert!(!ct_eq("abc", "abd"));
        assert!(!ct_eq("abc", "ab"));
    }
}
