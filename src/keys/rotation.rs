//! The key set in use, and its rotation on a schedule claimed through the database.
//!
//! A new key is published `lead` seconds before it starts signing, so that every replica (and
//! every verifier that caches the JWKS for less than that) knows it before the first token
//! signed with it exists. A retired key stays published until every token it signed expired.
//!
//! Private keys are stored sealed when `encryption.keys` is set (`KeySealing`); a stored key
//! the configured encryption keys cannot open stops the load, rather than being replaced.

use std::sync::{Arc, RwLock};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::signer::{Algorithm, SignError, SigningKey, VerifyError};
use crate::clock::SharedClock;
use crate::seal::{KeySealing, SealError};
use crate::storage::StorageError;
use crate::storage::keys::StoredKey;
use crate::storage::store::KeyStore;

/// Why the keys could not be loaded or rotated.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// A stored private key the configured encryption keys do not open (or could not seal).
    #[error("{0}")]
    Sealing(#[from] SealError),
}

/// A key Gantry made or stored that does not parse is corrupt storage.
impl From<SignError> for StorageError {
    fn from(e: SignError) -> Self {
        StorageError::Corrupt(e.to_string())
    }
}

/// What a signing key's sealed value is bound to: it opens only as the key of its own row.
fn purpose(kid: &str) -> String {
    format!("signing-key:{kid}")
}

/// A snapshot of every published key, newest first.
#[derive(Debug)]
pub struct KeySet {
    /// Each key with the time it starts signing and the time a successor took over.
    keys: Vec<(Arc<SigningKey>, i64, Option<i64>)>,
    /// When each key of `keys` (in the same order) was made.
    created: Vec<i64>,
    /// The JWKS document, rendered once per snapshot; serving it clones a reference.
    pub jwks: bytes::Bytes,
}

impl KeySet {
    /// The key that signs at `now`: active, and not yet replaced by a successor. Two keys of
    /// the same second are told apart by the retirement of the older one.
    pub fn signer_at(&self, now: i64) -> Option<&Arc<SigningKey>> {
        self.keys
            .iter()
            .find(|(_, from, retired)| *from <= now && retired.is_none_or(|r| r > now))
            .or_else(|| self.keys.iter().find(|(_, from, _)| *from <= now))
            .or(self.keys.last())
            .map(|(k, _, _)| k)
    }

    /// Every published key: (kid, algorithm, signs from, retired at), newest first.
    pub fn list(&self) -> Vec<(String, &'static str, i64, Option<i64>)> {
        self.keys
            .iter()
            .map(|(k, from, retired)| (k.kid.clone(), k.alg.as_str(), *from, *retired))
            .collect()
    }

    /// The signing key at `now` and since when it signs.
    pub fn signer_since(&self, now: i64) -> Option<(&Arc<SigningKey>, i64)> {
        let k = self.signer_at(now)?;
        self.keys
            .iter()
            .find(|(x, _, _)| x.kid == k.kid)
            .map(|(k, from, _)| (k, *from))
    }

    /// The signing key at `now`: its algorithm and when it was made.
    pub fn signer_made(&self, now: i64) -> Option<(&'static str, i64)> {
        let k = self.signer_at(now)?;
        let i = self.keys.iter().position(|(x, _, _)| x.kid == k.kid)?;
        Some((k.alg.as_str(), *self.created.get(i)?))
    }

    pub fn find(&self, kid: &str) -> Option<&Arc<SigningKey>> {
        self.keys.iter().map(|(k, _, _)| k).find(|k| k.kid == kid)
    }

    /// The algorithms of the published keys: both while a change of algorithm rolls over.
    pub fn algorithms(&self) -> Vec<&'static str> {
        let mut algs: Vec<&'static str> = Vec::new();
        for (k, _, _) in &self.keys {
            if !algs.contains(&k.alg.as_str()) {
                algs.push(k.alg.as_str());
            }
        }
        algs
    }
}

/// How keys rotate.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub alg: Algorithm,
    /// How long one key signs.
    pub period: i64,
    /// How long a retired key stays published: the longest lifetime of anything it signed.
    pub retain: i64,
    /// How long a new key is published before it signs.
    pub lead: i64,
}

/// Signing keys shared by every request; `refresh` rotates when due and reloads.
#[derive(Debug)]
pub struct Keys {
    db: Arc<dyn KeyStore>,
    clock: SharedClock,
    schedule: Schedule,
    sealing: KeySealing,
    set: RwLock<Arc<KeySet>>,
}

impl Keys {
    /// Load the keys, creating or rotating them when due; keys stored in clear (or under an
    /// encryption key that no longer seals first) are sealed again first.
    pub async fn load(
        db: Arc<dyn KeyStore>,
        clock: SharedClock,
        schedule: Schedule,
        sealing: KeySealing,
    ) -> Result<Keys, KeyError> {
        reseal(db.as_ref(), &sealing).await?;
        let set = Self::sync(db.as_ref(), clock.now(), schedule, &sealing).await?;
        Ok(Keys {
            db,
            clock,
            schedule,
            sealing,
            set: RwLock::new(Arc::new(set)),
        })
    }

    /// Rotate if due (at most one replica does) and reload what the database holds.
    pub async fn refresh(&self) -> Result<(), KeyError> {
        let set = Self::sync(
            self.db.as_ref(),
            self.clock.now(),
            self.schedule,
            &self.sealing,
        )
        .await?;
        if let Ok(mut g) = self.set.write() {
            *g = Arc::new(set);
        }
        Ok(())
    }

    async fn sync(
        db: &dyn KeyStore,
        now: i64,
        s: Schedule,
        sealing: &KeySealing,
    ) -> Result<KeySet, KeyError> {
        // Bounded: each pass either finds the schedule current or loses/wins one claim.
        for _ in 0..3 {
            let state = db.rotation_state().await?;
            let stored = db.list_keys(now).await?;
            let newest = stored.iter().find(|k| k.retired_at.is_none());
            let due = match (state, newest) {
                (None, _) | (_, None) => true,
                (Some((next, _)), Some(cur)) => now >= next || cur.alg != s.alg.as_str(),
            };
            if !due {
                return build(stored, sealing);
            }
            // The very first key signs at once: nobody can hold a token to verify yet.
            let starts = if newest.is_none() { now } else { now + s.lead };
            let (key, der) = SigningKey::generate(s.alg).map_err(StorageError::from)?;
            let row = StoredKey {
                kid: key.kid.clone(),
                alg: s.alg.as_str().into(),
                private_der: sealing.seal(&purpose(&key.kid), &der)?,
                created_at: now,
                active_from: starts,
                retired_at: None,
                remove_at: None,
            };
            // A replica that reloads late may sign with the old key for up to `lead` after it
            // retired; keep it published for that long too.
            let remove_old = starts + s.retain + s.lead;
            if db
                .claim_rotation(state.map(|st| st.1), &row, now + s.period, remove_old)
                .await?
            {
                tracing::info!(kid = %row.kid, alg = s.alg.as_str(), active_from = starts, "rotated signing key");
            }
        }
        build(db.list_keys(now).await?, sealing)
    }

    /// Rotate now, and let the new key sign at once: for a suspected key compromise, when
    /// waiting out the publication lead is worse than verifiers briefly missing the new key.
    pub async fn rotate_now(&self) -> Result<(), KeyError> {
        let now = self.clock.now();
        let s = self.schedule;
        for _ in 0..3 {
            let state = self.db.rotation_state().await?;
            let (key, der) = SigningKey::generate(s.alg).map_err(StorageError::from)?;
            let row = StoredKey {
                kid: key.kid.clone(),
                alg: s.alg.as_str().into(),
                private_der: self.sealing.seal(&purpose(&key.kid), &der)?,
                created_at: now,
                active_from: now,
                retired_at: None,
                remove_at: None,
            };
            if self
                .db
                .claim_rotation(
                    state.map(|st| st.1),
                    &row,
                    now + s.period,
                    now + s.retain + s.lead,
                )
                .await?
            {
                tracing::warn!(kid = %row.kid, "signing key rotated on demand");
                break;
            }
        }
        self.refresh().await
    }

    /// The current snapshot.
    pub fn current(&self) -> Arc<KeySet> {
        match self.set.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The key that signs now.
    pub fn signer(&self) -> Result<Arc<SigningKey>, SignError> {
        self.current()
            .signer_at(self.clock.now())
            .cloned()
            .ok_or(SignError::NoKey)
    }

    /// Sign with the key that signs now.
    pub fn sign<T: Serialize>(&self, claims: &T, typ: &str) -> Result<String, SignError> {
        self.signer()?.sign(claims, typ)
    }

    /// Verify with whichever published key the token's `kid` names.
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        validation: &jsonwebtoken::Validation,
    ) -> Result<T, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
        let set = self.current();
        let key = set.find(&kid).ok_or(VerifyError::UnknownKey)?;
        key.verify(token, validation)
    }
}

/// Seal again every stored key that `sealing` calls stale, each only if no other replica
/// changed it first.
async fn reseal(db: &dyn KeyStore, sealing: &KeySealing) -> Result<(), KeyError> {
    for (kid, stored) in db.key_material().await? {
        if !sealing.stale(&stored) {
            continue;
        }
        let der = sealing.open(&format!("signing key {kid}"), &purpose(&kid), &stored)?;
        let sealed = sealing.seal(&purpose(&kid), &der)?;
        if db.replace_key_material(&kid, &stored, &sealed).await? {
            tracing::info!(kid = %kid, "signing key sealed with the first of encryption.keys");
        }
    }
    Ok(())
}

fn build(stored: Vec<StoredKey>, sealing: &KeySealing) -> Result<KeySet, KeyError> {
    let mut keys = Vec::with_capacity(stored.len());
    let created = stored.iter().map(|k| k.created_at).collect();
    for k in stored {
        let alg = Algorithm::parse(&k.alg).ok_or_else(|| {
            StorageError::Corrupt(format!("key {} has algorithm {}", k.kid, k.alg))
        })?;
        let der = sealing.open(
            &format!("signing key {}", k.kid),
            &purpose(&k.kid),
            &k.private_der,
        )?;
        let parsed = SigningKey::from_pkcs8(alg, &der).map_err(StorageError::from)?;
        keys.push((Arc::new(parsed), k.active_from, k.retired_at));
    }
    if keys.is_empty() {
        return Err(StorageError::Corrupt("no signing key".into()).into());
    }
    let jwks: Vec<&serde_json::Value> = keys.iter().map(|(k, _, _)| k.jwk()).collect();
    let jwks = bytes::Bytes::from(serde_json::json!({ "keys": jwks }).to_string());
    Ok(KeySet {
        keys,
        created,
        jwks,
    })
}
