//! Revoked access tokens (JWTs), by `jti`, kept until they would have expired anyway.

use super::{Db, Result};

impl Db {
    pub async fn revoke_jti(&self, jti: &str, expires_at: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) \
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(expires_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub async fn is_jti_revoked(&self, jti: &str) -> Result<bool> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT jti FROM revoked_tokens WHERE jti = $1")
                .bind(jti)
                .fetch_optional(&self.read)
                .await?;
        Ok(row.is_some())
    }
}
