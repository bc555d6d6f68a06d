//! Encryption at rest for upstream credentials (refresh tokens of upstream providers).
//!
//! AES-256-GCM under a key from `encryption.keys` in the config (the first seals, every one
//! opens, so keys rotate by prepending), or, when none is configured, under a key generated once
//! and kept in the database: that still keeps the tokens out of logs, dumps of single tables and
//! the JSON the admin API shows, but not from whoever holds the whole database.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use crate::secret;

const PREFIX: &str = "sealed1";

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
    pub fn new(raw: &[Vec<u8>]) -> Result<Sealer, String> {
        if raw.is_empty() {
            return Err("no encryption key".into());
        }
        let mut keys = Vec::new();
        for k in raw {
            let unbound = UnboundKey::new(&AES_256_GCM, k)
                .map_err(|_| "an encryption key must be 32 bytes".to_string())?;
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
    ) -> Result<Sealer, String> {
        let raw = if configured.is_empty() {
            let fresh = secret::b64(&secret::random_bytes(32));
            let stored = db
                .setting_or_insert("sealing-key", &fresh)
                .await
                .map_err(|e| e.to_string())?;
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
    pub fn decode_key(text: &str) -> Result<Vec<u8>, String> {
        use base64::Engine;
        let t = text.trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(t)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t))
            .map_err(|_| "an encryption key must be base64".to_string())?;
        if bytes.len() != 32 {
            return Err(format!(
                "an encryption key must be 32 bytes, this one is {}",
                bytes.len()
            ));
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
    fn keys_must_be_32_bytes_of_base64() {
        assert!(Sealer::decode_key("c2hvcnQ=").is_err());
        assert!(Sealer::decode_key("not base64!").is_err());
        let k = secret::b64(&[7u8; 32]);
        assert_eq!(Sealer::decode_key(&k).unwrap(), vec![7u8; 32]);
    }
}
