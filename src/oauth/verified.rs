//! Access tokens verified moments ago. A resource server asks about the same token many times
//! (introspection, `/userinfo`, the registry taking it as a password): the signature is checked
//! once, and the revocation list is asked again only every [`RECHECK_SECS`].
//!
//! Keyed by the token's SHA-256, so only a token that passed every check is ever stored. An
//! entry lives until its token expires, and is dropped at once when this replica revokes the
//! token or its user's tokens; a revocation made on another replica is honoured here within
//! [`RECHECK_SECS`] (the README states it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::oauth::tokens::Claims;

/// How long a verified token is believed without asking the shared revocation list again.
pub const RECHECK_SECS: i64 = 2;
/// Entries kept at most: a resource server's working set, not every token ever seen.
const MAX_ENTRIES: usize = 10_000;

type Key = [u8; 32];

#[derive(Debug, Default)]
pub struct VerifiedTokens {
    map: Mutex<HashMap<Key, Entry>>,
}

#[derive(Debug)]
struct Entry {
    claims: Arc<Claims>,
    /// When the revocation list last said it was not revoked.
    checked_at: i64,
}

/// What the cache knows of a token.
#[derive(Debug)]
pub enum Known {
    /// Verified, and checked against the revocation list within [`RECHECK_SECS`].
    Fresh(Arc<Claims>),
    /// Verified; the revocation list is to be asked again.
    Recheck(Arc<Claims>),
    Unknown,
}

impl VerifiedTokens {
    pub fn key(token: &str) -> Key {
        let mut k = [0u8; 32];
        k.copy_from_slice(&crate::secret::sha256(token.as_bytes()));
        k
    }

    pub fn get(&self, key: &Key, now: i64) -> Known {
        let Ok(map) = self.map.lock() else {
            return Known::Unknown;
        };
        match map.get(key) {
            Some(e) if e.claims.exp > now && now - e.checked_at < RECHECK_SECS => {
                Known::Fresh(e.claims.clone())
            }
            Some(e) if e.claims.exp > now => Known::Recheck(e.claims.clone()),
            _ => Known::Unknown,
        }
    }

    /// Remember a token just verified and found unrevoked at `now`.
    pub fn put(&self, key: Key, claims: Arc<Claims>, now: i64) {
        let Ok(mut map) = self.map.lock() else {
            return;
        };
        if map.len() >= MAX_ENTRIES && !map.contains_key(&key) {
            map.retain(|_, e| e.claims.exp > now);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(
            key,
            Entry {
                claims,
                checked_at: now,
            },
        );
    }

    pub fn forget(&self, key: &Key) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(key);
        }
    }

    /// This replica revoked the token `jti`.
    pub fn forget_jti(&self, jti: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.retain(|_, e| e.claims.jti.as_deref() != Some(jti));
        }
    }

    /// This replica revoked every token of `subject`.
    pub fn forget_subject(&self, subject: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.retain(|_, e| e.claims.sub != subject);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(sub: &str, jti: &str, exp: i64) -> Arc<Claims> {
        let c: Claims = serde_json::from_value(serde_json::json!({
            "iss": "https://id", "sub": sub, "aud": "app", "exp": exp, "iat": 0, "jti": jti,
        }))
        .unwrap();
        Arc::new(c)
    }

    #[test]
    fn a_token_is_believed_for_the_recheck_time_then_asked_about_again_until_it_expires() {
        let v = VerifiedTokens::default();
        let k = VerifiedTokens::key("t1");
        assert!(matches!(v.get(&k, 100), Known::Unknown));
        v.put(k, claims("alice", "j1", 200), 100);
        assert!(matches!(v.get(&k, 100 + RECHECK_SECS - 1), Known::Fresh(_)));
        assert!(matches!(v.get(&k, 100 + RECHECK_SECS), Known::Recheck(_)));
        v.put(k, claims("alice", "j1", 200), 150);
        assert!(matches!(v.get(&k, 150), Known::Fresh(_)));
        assert!(matches!(v.get(&k, 200), Known::Unknown), "expired");
        assert!(matches!(
            v.get(&VerifiedTokens::key("t2"), 150),
            Known::Unknown
        ));
    }

    #[test]
    fn revoking_here_drops_the_token_or_all_of_its_users_at_once() {
        let v = VerifiedTokens::default();
        let (a, b, c) = (
            VerifiedTokens::key("a"),
            VerifiedTokens::key("b"),
            VerifiedTokens::key("c"),
        );
        v.put(a, claims("alice", "ja", 900), 100);
        v.put(b, claims("alice", "jb", 900), 100);
        v.put(c, claims("bob", "jc", 900), 100);
        v.forget_jti("ja");
        assert!(matches!(v.get(&a, 100), Known::Unknown));
        assert!(matches!(v.get(&b, 100), Known::Fresh(_)));
        v.forget_subject("alice");
        assert!(matches!(v.get(&b, 100), Known::Unknown));
        assert!(matches!(v.get(&c, 100), Known::Fresh(_)), "bob's stays");
    }

    #[test]
    fn the_cache_stays_bounded() {
        let v = VerifiedTokens::default();
        for i in 0..MAX_ENTRIES + 10 {
            v.put(
                VerifiedTokens::key(&i.to_string()),
                claims("u", &i.to_string(), 900),
                100,
            );
        }
        assert!(v.len() <= MAX_ENTRIES);
    }
}
