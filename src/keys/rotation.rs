//! The key set in use, and its rotation on a schedule claimed through the database.

use std::sync::{Arc, RwLock};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::signer::{Algorithm, SigningKey, VerifyError};
use crate::clock::SharedClock;
use crate::storage::keys::StoredKey;
use crate::storage::{Db, StorageError};

/// A snapshot: the key that signs now and every key still published.
#[derive(Debug)]
pub struct KeySet {
    pub signer: Arc<SigningKey>,
    pub published: Vec<Arc<SigningKey>>,
    /// The JWKS document, rendered once per snapshot.
    pub jwks: String,
}

/// Signing keys shared by every request; `refresh` rotates when due and reloads.
#[derive(Debug)]
pub struct Keys {
    db: Db,
    clock: SharedClock,
    alg: Algorithm,
    /// How long one key signs.
    period: i64,
    /// How long a retired key stays published: the longest lifetime of anything it signed.
    retain: i64,
    set: RwLock<Arc<KeySet>>,
}

impl Keys {
    /// Load the keys, creating or rotating them when due.
    pub async fn load(
        db: Db,
        clock: SharedClock,
        alg: Algorithm,
        period: i64,
        retain: i64,
    ) -> Result<Keys, StorageError> {
        let set = Self::sync(&db, clock.now(), alg, period, retain).await?;
        Ok(Keys {
            db,
            clock,
            alg,
            period,
            retain,
            set: RwLock::new(Arc::new(set)),
        })
    }

    /// Rotate if due (at most one replica does) and reload what the database holds.
    pub async fn refresh(&self) -> Result<(), StorageError> {
        let set = Self::sync(
            &self.db,
            self.clock.now(),
            self.alg,
            self.period,
            self.retain,
        )
        .await?;
        if let Ok(mut g) = self.set.write() {
            *g = Arc::new(set);
        }
        Ok(())
    }

    async fn sync(
        db: &Db,
        now: i64,
        alg: Algorithm,
        period: i64,
        retain: i64,
    ) -> Result<KeySet, StorageError> {
        // Bounded: each pass either finds the schedule current or loses/wins one claim.
        for _ in 0..3 {
            let state = db.rotation_state().await?;
            let stored = db.list_keys(now).await?;
            let current = stored.iter().find(|k| k.retired_at.is_none());
            let due = match (state, current) {
                (None, _) | (_, None) => true,
                (Some((next, _)), Some(cur)) => now >= next || cur.alg != alg.as_str(),
            };
            if !due {
                return build(stored);
            }
            let (key, der) = SigningKey::generate(alg).map_err(StorageError::Corrupt)?;
            let row = StoredKey {
                kid: key.kid.clone(),
                alg: alg.as_str().into(),
                private_der: der,
                created_at: now,
                retired_at: None,
                remove_at: None,
            };
            if db
                .claim_rotation(state.map(|s| s.1), &row, now + period, now + retain)
                .await?
            {
                tracing::info!(kid = %row.kid, alg = alg.as_str(), "rotated signing key");
            }
        }
        build(db.list_keys(now).await?)
    }

    /// The current snapshot.
    pub fn current(&self) -> Arc<KeySet> {
        match self.set.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Sign with the current key.
    pub fn sign<T: Serialize>(&self, claims: &T, typ: &str) -> Result<String, String> {
        self.current().signer.sign(claims, typ)
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
        let key = set
            .published
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(VerifyError::UnknownKey)?;
        key.verify(token, validation)
    }
}

fn build(stored: Vec<StoredKey>) -> Result<KeySet, StorageError> {
    let mut published = Vec::with_capacity(stored.len());
    let mut signer = None;
    for k in stored {
        let alg = Algorithm::parse(&k.alg).ok_or_else(|| {
            StorageError::Corrupt(format!("key {} has algorithm {}", k.kid, k.alg))
        })?;
        let parsed =
            Arc::new(SigningKey::from_pkcs8(alg, &k.private_der).map_err(StorageError::Corrupt)?);
        if k.retired_at.is_none() && signer.is_none() {
            signer = Some(parsed.clone());
        }
        published.push(parsed);
    }
    let signer = signer.ok_or_else(|| StorageError::Corrupt("no current signing key".into()))?;
    let keys: Vec<&serde_json::Value> = published.iter().map(|k| k.jwk()).collect();
    let jwks = serde_json::json!({ "keys": keys }).to_string();
    Ok(KeySet {
        signer,
        published,
        jwks,
    })
}
