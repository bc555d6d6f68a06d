//! The registry CA, one row shared by every replica.

use super::{Db, Result};

impl Db {
    /// `(key PKCS#8 DER, certificate DER)` of the registry CA, if one was made; the key sealed
    /// when `encryption.keys` is set (see `seal::KeySealing`).
    pub async fn registry_ca(&self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        Ok(
            sqlx::query_as("SELECT key_der, cert_der FROM registry_ca WHERE id = 1")
                .fetch_optional(&self.write)
                .await?,
        )
    }

    /// Store `new` as the CA's key if it still holds `old`; false when another replica
    /// changed it first.
    pub async fn replace_registry_ca_key(&self, old: &[u8], new: &[u8]) -> Result<bool> {
        Ok(
            sqlx::query("UPDATE registry_ca SET key_der = $1 WHERE id = 1 AND key_der = $2")
                .bind(new)
                .bind(old)
                .execute(&self.write)
                .await?
                .rows_affected()
                == 1,
        )
    }

    /// Store a CA unless another replica stored one first; read what won with `registry_ca`.
    pub async fn put_registry_ca_if_absent(
        &self,
        key_der: &[u8],
        cert_der: &[u8],
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO registry_ca (id, key_der, cert_der, created_at) VALUES (1, $1, $2, $3) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(key_der)
        .bind(cert_der)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(())
    }
}
