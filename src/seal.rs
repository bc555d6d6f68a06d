//! Encryption at rest for upstream credentials (refresh tokens of upstream providers,
//! connector secrets) and, when `encryption.keys` is set, for private keys (`KeySealing`).
//!
//! AES-256-GCM under a key from `encryption.keys` in the config (the first seals, every one
//! opens, so keys rotate by prepending), or, when none is configured, under a key generated once
//! and kept in the database: that still keeps the tokens out of logs, dumps of single tables and
//! the JSON the admin API shows, but not from whoever holds the whole database.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use crate::secret;

const PREFIX: &str = "sealed1";

/// Why a sealer could not be built, or a private key could not be sealed or opened. The texts
/// are what an operator reads at start-up (`encryption: ...`), so they say what to change.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("no encryption key")]
    NoKey,
    #[error("an encryption key must be base64")]
    NotBase64,
    #[error("an encryption key must be 32 bytes")]
    NotAesKey,
    #[error("an encryption key must be 32 bytes, this one is {0}")]
    WrongLength(usize),
    /// The key generated once and kept in the database could not be read or stored.
    #[error("{0}")]
    Storage(#[from] crate::storage::StorageError),
    #[error("could not seal the private key for {0}")]
    CannotSeal(String),
    #[error(
        "{what} is sealed with encryption key {id}, but encryption.keys is not set: \
         set it again to the keys it had"
    )]
    NoKeysSet { what: String, id: String },
    #[error(
        "{what} is sealed with encryption key {id}, which encryption.keys does not \
         hold: add that key back (rotate by putting a new key first; remove an old \
         one only after Gantry has started with the new one first)"
    )]
    KeyNotHeld { what: String, id: String },
    #[error("{what} does not open with encryption key {id}: the stored value was altered")]
    Altered { what: String, id: String },
}

/// Seals and opens short secrets; cheap to clone.
#[derive(Clone)]
pub struct Sealer {
    /// (key id, key); the first seals.
    keys: std::sync::Arc<Vec<(String, LessSafeKey)>>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl Sealer {
    /// From raw 32-byte keys; the first seals.
    pub fn new(raw: &[Vec<u8>]) -> Result<Sealer, SealError> {
        if raw.is_empty() {
            return Err(SealError::NoKey);
        }
        let mut keys = Vec::new();
        for k in raw {
            let unbound = UnboundKey::new(&AES_256_GCM, k).map_err(|_| SealError::NotAesKey)?;
            // The id names the key in each sealed value, so opening picks the right one.
            let id = secret::b64(&secret::sha256(k)[..6]);
            keys.push((id, LessSafeKey::new(unbound)));
        }
        Ok(Sealer {
            keys: std::sync::Arc::new(keys),
        })
    }

    /// A sealer under a random key, for checks that never keep what they seal (config
    /// validation).
    pub fn ephemeral() -> Sealer {
        Sealer::new(&[secret::random_bytes(32)]).unwrap_or(Sealer {
            keys: std::sync::Arc::new(Vec::new()),
        })
    }

    /// The sealer a deployment uses: the configured keys, or else the key generated once and
    /// kept in the database (shared by every replica).
    pub async fn for_deployment(
        configured: &[String],
        db: &crate::storage::Db,
    ) -> Result<Sealer, SealError> {
        let raw = if configured.is_empty() {
            let fresh = secret::b64(&secret::random_bytes(32));
            let stored = db.setting_or_insert("sealing-key", &fresh).await?;
            vec![Sealer::decode_key(&stored)?]
        } else {
            configured
                .iter()
                .map(|k| Sealer::decode_key(k))
                .collect::<Result<Vec<_>, _>>()?
        };
        Sealer::new(&raw)
    }

    /// Parse base64 (standard or URL-safe) keys of 32 bytes, as `openssl rand -base64 32` prints.
    pub fn decode_key(text: &str) -> Result<Vec<u8>, SealError> {
        use base64::Engine;
        let t = text.trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(t)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t))
            .map_err(|_| SealError::NotBase64)?;
        if bytes.len() != 32 {
            return Err(SealError::WrongLength(bytes.len()));
        }
        Ok(bytes)
    }

    /// `purpose` is bound into the ciphertext: a value sealed for one use does not open as
    /// another.
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> String {
        let Some((id, key)) = self.keys.first() else {
            return String::new();
        };
        let nonce_bytes = secret::random_bytes(NONCE_LEN);
        let mut nb = [0u8; NONCE_LEN];
        nb.copy_from_slice(&nonce_bytes);
        let mut data = plaintext.to_vec();
        if key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nb),
                Aad::from(purpose.as_bytes()),
                &mut data,
            )
            .is_err()
        {
            return String::new();
        }
        let mut out = nonce_bytes;
        out.extend_from_slice(&data);
        format!("{PREFIX}.{id}.{}", secret::b64(&out))
    }

    /// The id of the key that sealed `sealed`, if it is a sealed value.
    pub fn sealed_with(sealed: &str) -> Option<&str> {
        let mut parts = sealed.splitn(3, '.');
        (parts.next()? == PREFIX).then_some(())?;
        parts.next()
    }

    /// Whether one of these keys has id `id`.
    pub fn holds(&self, id: &str) -> bool {
        self.keys.iter().any(|(k, _)| k == id)
    }

    /// Whether `id` is the key that seals.
    pub fn seals_with(&self, id: &str) -> bool {
        self.keys.first().is_some_and(|(k, _)| k == id)
    }

    /// The plaintext, or `None` for a value that is not sealed by one of these keys for
    /// `purpose` (or was altered).
    pub fn open(&self, purpose: &str, sealed: &str) -> Option<Vec<u8>> {
        let mut parts = sealed.splitn(3, '.');
        if parts.next()? != PREFIX {
            return None;
        }
        let id = parts.next()?;
        let body = secret::b64_decode(parts.next()?)?;
        let (_, key) = self.keys.iter().find(|(k, _)| k == id)?;
        if body.len() < NONCE_LEN {
            return None;
        }
        let (n, ct) = body.split_at(NONCE_LEN);
        let mut nb = [0u8; NONCE_LEN];
        nb.copy_from_slice(n);
        let mut data = ct.to_vec();
        let plain = key
            .open_in_place(
                Nonce::assume_unique_for_key(nb),
                Aad::from(purpose.as_bytes()),
                &mut data,
            )
            .ok()?;
        Some(plain.to_vec())
    }
}

/// How private keys (the signing keys, the registry CA's) are kept in the database: sealed under
/// `encryption.keys` when those are set, so that a copy of the database alone signs nothing;
/// in clear when they are not (whoever holds the database then holds the keys). A key kept in
/// clear before `encryption.keys` was set still reads, and `stale` tells its loader to seal it.
/// A sealed key that the configured keys do not open is an error, never a fresh key: tokens
/// signed before would stop verifying, and a forgotten encryption key must be noticed.
#[derive(Debug, Clone)]
pub struct KeySealing {
    sealer: Option<Sealer>,
}

impl KeySealing {
    /// Keys in clear: no `encryption.keys`.
    pub fn clear() -> KeySealing {
        KeySealing { sealer: None }
    }

    /// From `encryption.keys` (base64 of 32 bytes each; the first seals).
    pub fn from_config(keys: &[String]) -> Result<KeySealing, SealError> {
        if keys.is_empty() {
            return Ok(KeySealing::clear());
        }
        let raw = keys
            .iter()
            .map(|k| Sealer::decode_key(k))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(KeySealing {
            sealer: Some(Sealer::new(&raw)?),
        })
    }

    /// What to store for the private key `der` (PKCS#8 DER), bound to `purpose`.
    pub fn seal(&self, purpose: &str, der: &[u8]) -> Result<Vec<u8>, SealError> {
        let Some(s) = &self.sealer else {
            return Ok(der.to_vec());
        };
        let sealed = s.seal(purpose, der);
        if sealed.is_empty() {
            return Err(SealError::CannotSeal(purpose.to_string()));
        }
        Ok(sealed.into_bytes())
    }

    /// The private key (PKCS#8 DER) of a stored value; `what` names it in the error.
    pub fn open(&self, what: &str, purpose: &str, stored: &[u8]) -> Result<Vec<u8>, SealError> {
        let Some(id) = sealed_id(stored) else {
            return Ok(stored.to_vec());
        };
        let (what, id) = (what.to_string(), id.to_string());
        let Some(s) = &self.sealer else {
            return Err(SealError::NoKeysSet { what, id });
        };
        if !s.holds(&id) {
            return Err(SealError::KeyNotHeld { what, id });
        }
        let text = std::str::from_utf8(stored).unwrap_or_default();
        s.open(purpose, text).ok_or(SealError::Altered { what, id })
    }

    /// Whether a stored value should be sealed again: kept in clear while keys are set, or
    /// sealed with a configured key that no longer seals first.
    pub fn stale(&self, stored: &[u8]) -> bool {
        match (&self.sealer, sealed_id(stored)) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(s), Some(id)) => s.holds(id) && !s.seals_with(id),
        }
    }
}

/// The encryption key id of a sealed stored value; `None` for clear DER (which begins with a
/// SEQUENCE byte, never with the sealed prefix).
fn sealed_id(stored: &[u8]) -> Option<&str> {
    Sealer::sealed_with(std::str::from_utf8(stored.get(..64.min(stored.len()))?).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_purpose() {
        let a = Sealer::new(&[vec![1u8; 32]]).unwrap();
        let b = Sealer::new(&[vec![2u8; 32]]).unwrap();
        let s = a.seal("upstream", b"refresh-token");
        assert!(!s.contains("refresh-token"));
        assert_eq!(a.open("upstream", &s).unwrap(), b"refresh-token");
        assert!(a.open("other", &s).is_none(), "purpose is bound");
        assert!(b.open("upstream", &s).is_none(), "another key");
        let mut tampered = s.clone();
        tampered.pop();
        tampered.push(if s.ends_with('A') { 'B' } else { 'A' });
        assert!(a.open("upstream", &tampered).is_none());
        // Rotation: a new first key seals, the old one still opens.
        let rotated = Sealer::new(&[vec![2u8; 32], vec![1u8; 32]]).unwrap();
        assert_eq!(rotated.open("upstream", &s).unwrap(), b"refresh-token");
        assert!(
            a.open("upstream", &rotated.seal("upstream", b"x"))
                .is_none()
        );
    }

    #[test]
    fn private_keys_are_sealed_when_keys_are_set_and_never_opened_without_them() {
        let k1 = secret::b64(&[1u8; 32]);
        let k2 = secret::b64(&[2u8; 32]);
        let der = [0x30u8, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13];
        let clear = KeySealing::clear();
        assert_eq!(clear.seal("signing-key:a", &der).unwrap(), der);
        let one = KeySealing::from_config(std::slice::from_ref(&k1)).unwrap();
        assert!(one.stale(&der), "a clear key is sealed at the next start");
        let sealed = one.seal("signing-key:a", &der).unwrap();
        assert!(sealed.starts_with(b"sealed1.") && !one.stale(&sealed));
        assert_eq!(one.open("key a", "signing-key:a", &sealed).unwrap(), der);
        assert!(
            one.open("key a", "signing-key:b", &sealed).is_err(),
            "bound to its row"
        );
        assert_eq!(
            one.open("key a", "x", &der).unwrap(),
            der,
            "clear rows still read"
        );
        let e = clear
            .open("key a", "signing-key:a", &sealed)
            .unwrap_err()
            .to_string();
        assert!(e.contains("encryption.keys is not set"), "{e}");
        let other = KeySealing::from_config(std::slice::from_ref(&k2)).unwrap();
        let e = other
            .open("key a", "signing-key:a", &sealed)
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not hold"), "{e}");
        let rotated = KeySealing::from_config(&[k2, k1]).unwrap();
        assert!(
            rotated.stale(&sealed),
            "sealed again under the new first key"
        );
        assert_eq!(
            rotated.open("key a", "signing-key:a", &sealed).unwrap(),
            der
        );
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(Sealer::decode_key("c2hvcnQ=").is_err());
        assert!(Sealer::decode_key("not base64!").is_err());
        let k = secret::b64(&[7u8; 32]);
        assert_eq!(Sealer::decode_key(&k).unwrap(), vec![7u8; 32]);
    }
}
