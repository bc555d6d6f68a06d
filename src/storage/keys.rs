//! Signing keys and the rotation claim that keeps replicas from rotating twice.

use sqlx::FromRow;

use super::{Db, Result};

#[derive(Debug, Clone, FromRow)]
pub struct StoredKey {
    pub kid: String,
    pub alg: String,
    /// PKCS#8 DER, or (with `encryption.keys`) that DER sealed: see `seal::KeySealing`.
    pub private_der: Vec<u8>,
    pub created_at: i64,
    /// When it starts signing; until then it is only published.
    pub active_from: i64,
    /// When a newer key took over; `None` for the newest key.
    pub retired_at: Option<i64>,
    /// When it leaves the JWKS: after every token it signed has expired.
    pub remove_at: Option<i64>,
}

impl Db {
    /// All keys still published, newest first.
    pub async fn list_keys(&self, now: i64) -> Result<Vec<StoredKey>> {
        Ok(sqlx::query_as::<_, StoredKey>(
            "SELECT * FROM signing_keys WHERE remove_at IS NULL OR remove_at > $1 \
             ORDER BY active_from DESC, created_at DESC, kid DESC",
        )
        .bind(now)
        .fetch_all(&self.write)
        .await?)
    }

    /// Every stored key, published or not: `(kid, private key as stored)`.
    pub async fn key_material(&self) -> Result<Vec<(String, Vec<u8>)>> {
        Ok(
            sqlx::query_as("SELECT kid, private_der FROM signing_keys ORDER BY kid")
                .fetch_all(&self.write)
                .await?,
        )
    }

    /// Store `new` for key `kid` if it still holds `old`; false when another replica changed
    /// it first.
    pub async fn replace_key_material(&self, kid: &str, old: &[u8], new: &[u8]) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE signing_keys SET private_der = $1 WHERE kid = $2 AND private_der = $3",
        )
        .bind(new)
        .bind(kid)
        .bind(old)
        .execute(&self.write)
        .await?
        .rows_affected()
            == 1)
    }

    /// `(next_rotation, version)` of the rotation schedule, if any key was ever made.
    pub async fn rotation_state(&self) -> Result<Option<(i64, i64)>> {
        Ok(
            sqlx::query_as("SELECT next_rotation, version FROM key_rotation WHERE id = 1")
                .fetch_optional(&self.write)
                .await?,
        )
    }

    /// Add `key` as the successor of the newest key if the schedule is still at `version`
    /// (`None`: never rotated): the old key retires when `key` becomes active and leaves the
    /// JWKS at `remove_old_at`. Returns false when another replica rotated first; then nothing
    /// changed.
    pub async fn claim_rotation(
        &self,
        version: Option<i64>,
        key: &StoredKey,
        next_rotation: i64,
        remove_old_at: i64,
    ) -> Result<bool> {
        let mut conn = self.write.acquire().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let claimed = match version {
            None => sqlx::query(
                "INSERT INTO key_rotation (id, next_rotation, version) VALUES (1, $1, 1) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(next_rotation)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
            Some(v) => sqlx::query(
                "UPDATE key_rotation SET next_rotation = $1, version = version + 1 \
                 WHERE id = 1 AND version = $2",
            )
            .bind(next_rotation)
            .bind(v)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
        };
        if claimed != 1 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE signing_keys SET retired_at = $1, remove_at = $2 WHERE retired_at IS NULL",
        )
        .bind(key.active_from)
        .bind(remove_old_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_der, created_at, active_from, \
             retired_at, remove_at) VALUES ($1, $2, $3, $4, $5, NULL, NULL)",
        )
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(&key.private_der)
        .bind(key.created_at)
        .bind(key.active_from)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
