//! The registry CA, one row shared by every replica.

use super::{Db, Result};

impl Db {
    /// `(key PKCS#8 DER, certificate DER)` of the registry CA, if one was made.
    pub async fn registry_ca(&self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        Ok(
            sqlx::query_as("SELECT key_der, cert_der FROM registry_ca WHERE id = 1")
                .fetch_optional(&self.write)
                .await?,
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
