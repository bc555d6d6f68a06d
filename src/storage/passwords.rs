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
            "INSERT INTO passwords (email, hash, username, user_id, groups_json, created_at) \
             VALUES ($1,$2,$3,$4,$5,$6)",
        )
        .bind(p.email.to_lowercase())
        .bind(&p.hash)
        .bind(&p.username)
        .bind(&p.user_id)
        .bind(&p.groups_json)
        .bind(p.created_at)
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

    /// Change what an admin may change of a user; `Ok(false)` if there is no such user.
    pub async fn update_password_row(
        &self,
        email: &str,
        hash: Option<&str>,
        groups_json: Option<&str>,
        disabled_at: Option<Option<i64>>,
    ) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM passwords WHERE email = $1")
            .bind(email.to_lowercase())
            .fetch_one(&mut *tx)
            .await?;
        let mut found = n == 1;
        if let Some(h) = hash {
            found &= sqlx::query("UPDATE passwords SET hash = $1 WHERE email = $2")
                .bind(h)
                .bind(email.to_lowercase())
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
        }
        if let Some(g) = groups_json {
            found &= sqlx::query("UPDATE passwords SET groups_json = $1 WHERE email = $2")
                .bind(g)
                .bind(email.to_lowercase())
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
        }
        if let Some(d) = disabled_at {
            found &= sqlx::query("UPDATE passwords SET disabled_at = $1 WHERE email = $2")
                .bind(d)
                .bind(email.to_lowercase())
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
        }
        if found {
            tx.commit().await?;
        }
        Ok(found)
    }

    pub async fn delete_password(&self, email: &str) -> Result<bool> {
        Ok(sqlx::query("DELETE FROM passwords WHERE email = $1")
            .bind(email.to_lowercase())
            .execute(&self.write)
            .await?
            .rows_affected()
            == 1)
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
