//! Recovery codes: ten one-time codes a user keeps on paper for the day the phone is lost.
//!
//! Each carries 100 random bits (20 base32 letters, typed in groups of five), so a plain
//! SHA-256 is what is stored: no dictionary, and 2^100 digests are out of anyone's reach.
//! Only the digests are kept; the codes are shown once.

use crate::secret;

/// Codes issued at once.
pub const COUNT: usize = 10;
/// Letters of a code (5 bits each).
const LETTERS: usize = 20;
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A fresh code as the user sees it: `abcde-fghij-klmno-pqrst`.
pub fn new_code() -> String {
    let raw = secret::random_bytes(LETTERS);
    let mut out = String::with_capacity(LETTERS + 3);
    for (i, b) in raw.iter().enumerate() {
        if i > 0 && i % 5 == 0 {
            out.push('-');
        }
        out.push(char::from(ALPHABET[usize::from(b & 31)]));
    }
    out
}

/// A code as typed, in the one form that is hashed: lower case, without dashes or spaces.
/// `None` for what cannot be a code (checked before any lookup).
pub fn normalize(typed: &str) -> Option<String> {
    let s: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (s.len() == LETTERS && s.bytes().all(|b| ALPHABET.contains(&b))).then_some(s)
}

/// What is stored for a code.
pub fn digest(typed: &str) -> Option<String> {
    normalize(typed).map(|n| secret::hash_secret(&n))
}

/// Which of `stored` the code is, compared in constant time against every one.
pub fn find(stored: &[String], typed: &str) -> Option<String> {
    let d = digest(typed)?;
    let mut hit = None;
    for s in stored {
        if secret::ct_eq(s, &d) {
            hit = Some(s.clone());
        }
    }
    hit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_grouped_and_found_however_typed() {
        let a = new_code();
        let b = new_code();
        assert_ne!(a, b);
        assert_eq!(a.len(), 23);
        assert_eq!(a.matches('-').count(), 3);
        let stored = vec![digest(&b).unwrap(), digest(&a).unwrap()];
        let typed = format!("  {} ", a.to_uppercase().replace('-', " "));
        assert_eq!(find(&stored, &typed), digest(&a));
        assert_eq!(find(&stored, "abcde-fghij-klmno-pqrst"), None);
        assert_eq!(find(&stored, "123456"), None);
        assert_eq!(normalize("abcde-fghij-klmno-pqrs1"), None);
    }
}
