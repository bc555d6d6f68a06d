//! Local users kept in the database (`enablePasswordDB`) and argon2id upgrades of config hashes.

use sqlx::FromRow;

use super::{Db, Result};

#[derive(Debug, Clone, FromRow)]
pub struct PasswordRow {
    pub email: String,
    pub hash: String,
    pub username: String,
    pub user_id: String,
    pub groups_json: String,
    pub created_at: i64,
    /// Set while an admin has the user disabled.
    pub disabled_at: Option<i64>,
    /// Replaced on every admin change (not on a hash upgrade at login): see
    /// `update_password_row`.
    pub version: String,
}

impl Db {
    /// Emails are compared case-insensitively, as Dex does.
    pub async fn get_password(&self, email: &str) -> Result<Option<PasswordRow>> {
        Ok(
            sqlx::query_as::<_, PasswordRow>("SELECT * FROM passwords WHERE email = $1")
                .bind(email.to_lowercase())
                .fetch_optional(&self.read)
                .await?,
        )
    }

    pub async fn create_password(&self, p: &PasswordRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO passwords (email, hash, username, user_id, groups_json, created_at, \
             version) VALUES ($1,$2,$3,$4,$5,$6,$7)",
        )
        .bind(p.email.to_lowercase())
        .bind(&p.hash)
        .bind(&p.username)
        .bind(&p.user_id)
        .bind(&p.groups_json)
        .bind(p.created_at)
        .bind(&p.version)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Database users by email, `limit` after skipping `offset`.
    pub async fn list_passwords(&self, limit: i64, offset: i64) -> Result<Vec<PasswordRow>> {
        Ok(sqlx::query_as::<_, PasswordRow>(
            "SELECT * FROM passwords ORDER BY email LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.read)
        .await?)
    }

    /// The user as the writer sees it: a decision about to be written (a compare-and-set on
    /// its version) must start from the latest write, not from a reader that may lag.
    pub async fn get_password_fresh(&self, email: &str) -> Result<Option<PasswordRow>> {
        Ok(
            sqlx::query_as::<_, PasswordRow>("SELECT * FROM passwords WHERE email = $1")
                .bind(email.to_lowercase())
                .fetch_optional(&self.write)
                .await?,
        )
    }

    /// Change what an admin may change of a user, if its version is still `expected`; it
    /// becomes `version`. `Ok(false)` if the user is gone or was changed since `expected`
    /// was read: of two writers that read the same version, one wins and the other learns it.
    pub async fn update_password_row(
        &self,
        email: &str,
        hash: Option<&str>,
        groups_json: Option<&str>,
        disabled_at: Option<Option<i64>>,
        expected: &str,
        version: &str,
    ) -> Result<bool> {
        let email = email.to_lowercase();
        let mut conn = self.write.acquire().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        // The compare-and-set comes first: it holds the row until the commit, so a second
        // writer's own compare waits for it and then finds another version.
        let claimed =
            sqlx::query("UPDATE passwords SET version = $1 WHERE email = $2 AND version = $3")
                .bind(version)
                .bind(&email)
                .bind(expected)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
        if !claimed {
            return Ok(false);
        }
        if let Some(h) = hash {
            sqlx::query("UPDATE passwords SET hash = $1 WHERE email = $2")
                .bind(h)
                .bind(&email)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(g) = groups_json {
            sqlx::query("UPDATE passwords SET groups_json = $1 WHERE email = $2")
                .bind(g)
                .bind(&email)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(d) = disabled_at {
            sqlx::query("UPDATE passwords SET disabled_at = $1 WHERE email = $2")
                .bind(d)
                .bind(&email)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Delete a user, if its version is still `expected` (any version with `None`); `Ok(false)`
    /// if there is no such user or it was changed since.
    pub async fn delete_password(&self, email: &str, expected: Option<&str>) -> Result<bool> {
        let q = match expected {
            Some(v) => sqlx::query("DELETE FROM passwords WHERE email = $1 AND version = $2")
                .bind(email.to_lowercase())
                .bind(v.to_string()),
            None => {
                sqlx::query("DELETE FROM passwords WHERE email = $1").bind(email.to_lowercase())
            }
        };
        Ok(q.execute(&self.write).await?.rows_affected() == 1)
    }

    /// Replace a hash only if it is still the one that was verified.
    pub async fn upgrade_password_hash(&self, email: &str, old: &str, new: &str) -> Result<()> {
        sqlx::query("UPDATE passwords SET hash = $1 WHERE email = $2 AND hash = $3")
            .bind(new)
            .bind(email.to_lowercase())
            .bind(old)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// The argon2id replacement of a config hash, if the config still holds that hash.
    pub async fn get_password_upgrade(
        &self,
        email: &str,
        source_digest: &str,
    ) -> Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT hash FROM password_upgrades WHERE email = $1 AND source_digest = $2",
        )
        .bind(email.to_lowercase())
        .bind(source_digest)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|r| r.0))
    }

    pub async fn put_password_upgrade(
        &self,
        email: &str,
        source_digest: &str,
        hash: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO password_upgrades (email, source_digest, hash) VALUES ($1, $2, $3) \
             ON CONFLICT (email) DO UPDATE SET source_digest = excluded.source_digest, \
             hash = excluded.hash",
        )
        .bind(email.to_lowercase())
        .bind(source_digest)
        .bind(hash)
        .execute(&self.write)
        .await?;
        Ok(())
    }
}
