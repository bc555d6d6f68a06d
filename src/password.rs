//! Password hashing: argon2id for everything Gantry writes; bcrypt accepted from Dex configs.
//!
//! Hashing is CPU-heavy: callers on async paths go through `verify_async`/`hash_async`, which
//! run on the blocking pool so one login never stalls the runtime.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Outcome of checking a password against a stored hash.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    /// Correct, and the stored hash is current.
    Ok,
    /// Correct, but stored as bcrypt: the caller should store this argon2id hash instead.
    OkRehash(String),
    Wrong,
}

/// Whether `hash` is a format Gantry can verify.
pub fn is_supported_hash(hash: &str) -> bool {
    is_bcrypt(hash) || PasswordHash::new(hash).is_ok_and(|h| h.algorithm.as_str() == "argon2id")
}

fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
}

/// Hash a password as an argon2id PHC string.
/// `hash` off the async threads: argon2id is slow on purpose.
pub async fn hash_async(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|e| e.to_string())?
}

pub fn hash(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Check a password; an empty password never matches.
pub fn verify(password: &str, stored: &str) -> Verified {
    if password.is_empty() {
        return Verified::Wrong;
    }
    if is_bcrypt(stored) {
        return match bcrypt::verify(password, stored) {
            Ok(true) => match hash(password) {
                Ok(h) => Verified::OkRehash(h),
                Err(_) => Verified::Ok,
            },
            _ => Verified::Wrong,
        };
    }
    match PasswordHash::new(stored) {
        Ok(h)
            if Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok() =>
        {
            Verified::Ok
        }
        _ => Verified::Wrong,
    }
}

/// `verify` on the blocking pool.
pub async fn verify_async(password: String, stored: String) -> Verified {
    tokio::task::spawn_blocking(move || verify(&password, &stored))
        .await
        .unwrap_or(Verified::Wrong)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_round_trip() {
        let h = hash("hunter2").unwrap_or_default();
        assert!(h.starts_with("$argon2id$"));
        assert!(is_supported_hash(&h));
        assert_eq!(verify("hunter2", &h), Verified::Ok);
        assert_eq!(verify("hunter3", &h), Verified::Wrong);
        assert_eq!(verify("", &h), Verified::Wrong);
    }

    #[test]
    fn bcrypt_from_dex_verifies_and_asks_for_rehash() {
        // Dex's example hash for "password".
        let h = "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W";
        assert!(is_supported_hash(h));
        assert!(
            matches!(verify("password", h), Verified::OkRehash(n) if n.starts_with("$argon2id$"))
        );
        assert_eq!(verify("wrong", h), Verified::Wrong);
    }

    #[test]
    fn unknown_hash_formats_are_refused() {
        assert!(!is_supported_hash("plaintext"));
        assert!(!is_supported_hash("$1$abc$def"));
    }
}
