//! Where signing keys and the rotation schedule are kept: the database, or the in-memory store
//! of the protocol core's unit tests. Each method is the `Db` method of the same name.

use async_trait::async_trait;

use crate::storage::keys::StoredKey;
use crate::storage::{Db, Result};

#[async_trait]
pub trait KeyStore: Send + Sync + std::fmt::Debug {
    /// All keys still published, newest first.
    async fn list_keys(&self, now: i64) -> Result<Vec<StoredKey>>;
    /// Every stored key, published or not: `(kid, private key as stored)`.
    async fn key_material(&self) -> Result<Vec<(String, Vec<u8>)>>;
    /// Store `new` for key `kid` if it still holds `old`; false when another replica changed it.
    async fn replace_key_material(&self, kid: &str, old: &[u8], new: &[u8]) -> Result<bool>;
    /// `(next_rotation, version)` of the rotation schedule, if any key was ever made.
    async fn rotation_state(&self) -> Result<Option<(i64, i64)>>;
    /// Add `key` as the successor of the newest key if the schedule is still at `version`;
    /// false when another replica rotated first (then nothing changed).
    async fn claim_rotation(
        &self,
        version: Option<i64>,
        key: &StoredKey,
        next_rotation: i64,
        remove_old_at: i64,
    ) -> Result<bool>;
}

#[async_trait]
impl KeyStore for Db {
    async fn list_keys(&self, now: i64) -> Result<Vec<StoredKey>> {
        Db::list_keys(self, now).await
    }

    async fn key_material(&self) -> Result<Vec<(String, Vec<u8>)>> {
        Db::key_material(self).await
    }

    async fn replace_key_material(&self, kid: &str, old: &[u8], new: &[u8]) -> Result<bool> {
        Db::replace_key_material(self, kid, old, new).await
    }

    async fn rotation_state(&self) -> Result<Option<(i64, i64)>> {
        Db::rotation_state(self).await
    }

    async fn claim_rotation(
        &self,
        version: Option<i64>,
        key: &StoredKey,
        next_rotation: i64,
        remove_old_at: i64,
    ) -> Result<bool> {
        Db::claim_rotation(self, version, key, next_rotation, remove_old_at).await
    }
}
