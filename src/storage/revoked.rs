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

    /// Whether the access token `jti` of `subject`, issued at `iat`, was revoked: by itself, or
    /// with every token of its user issued at or before the user's floor (one query).
    pub async fn is_access_revoked(&self, jti: &str, subject: &str, iat: i64) -> Result<bool> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM revoked_tokens WHERE jti = $1) \
                  + (SELECT COUNT(*) FROM settings WHERE name = $2 AND value >= $3)",
        )
        .bind(jti)
        .bind(subject_floor_name(subject))
        .bind(floor_text(iat))
        .fetch_one(&self.read)
        .await?;
        Ok(n > 0)
    }

    /// Refuse every access token of `subject` issued at or before `at` (Gantry's own checks:
    /// introspection, userinfo, the registry). Only ever raised.
    pub async fn raise_subject_token_floor(&self, subject: &str, at: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) \
             DO UPDATE SET value = excluded.value WHERE settings.value < excluded.value",
        )
        .bind(subject_floor_name(subject))
        .bind(floor_text(at))
        .execute(&self.write)
        .await?;
        Ok(())
    }
}

fn subject_floor_name(subject: &str) -> String {
    format!("subject-tokens-from:{subject}")
}

/// Seconds as text that compares as the numbers do: zero-padded to the width of i64's largest.
fn floor_text(secs: i64) -> String {
    format!("{:019}", secs.max(0))
}
