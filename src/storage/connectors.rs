//! Connectors created by admins, and the policy an admin saved over the config file's.

use sqlx::FromRow;

use super::{Db, Result};

#[derive(Debug, Clone, FromRow)]
pub struct ConnectorRow {
    pub id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub name: String,
    /// JSON object without secrets.
    pub config: String,
    /// Sealed JSON object of the secret keys.
    pub secrets: String,
    pub version: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const POLICY: &str = "admin-policy";

impl Db {
    pub async fn list_connectors(&self) -> Result<Vec<ConnectorRow>> {
        Ok(
            sqlx::query_as::<_, ConnectorRow>("SELECT * FROM connectors ORDER BY id")
                .fetch_all(&self.write)
                .await?,
        )
    }

    /// Insert a connector; `Ok(false)` when the id is taken.
    pub async fn insert_connector(&self, c: &ConnectorRow) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO connectors (id, type, name, config, secrets, version, created_at, \
             updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&c.id)
        .bind(&c.kind)
        .bind(&c.name)
        .bind(&c.config)
        .bind(&c.secrets)
        .bind(&c.version)
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replace a connector (and its version) if its version is still `expected`; `Ok(false)`
    /// if it is gone or was changed since `expected` was read.
    pub async fn update_connector_row(&self, c: &ConnectorRow, expected: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE connectors SET type = $2, name = $3, config = $4, secrets = $5, \
             version = $6, updated_at = $7 WHERE id = $1 AND version = $8",
        )
        .bind(&c.id)
        .bind(&c.kind)
        .bind(&c.name)
        .bind(&c.config)
        .bind(&c.secrets)
        .bind(&c.version)
        .bind(c.updated_at)
        .bind(expected)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// One connector, as the writer sees it.
    pub async fn get_connector_fresh(&self, id: &str) -> Result<Option<ConnectorRow>> {
        Ok(
            sqlx::query_as::<_, ConnectorRow>("SELECT * FROM connectors WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.write)
                .await?,
        )
    }

    /// Delete a connector if its version is still `expected` (any with `None`); `Ok(false)`
    /// if there is none or it was changed since.
    pub async fn delete_connector(&self, id: &str, expected: Option<&str>) -> Result<bool> {
        let q = match expected {
            Some(v) => sqlx::query("DELETE FROM connectors WHERE id = $1 AND version = $2")
                .bind(id.to_string())
                .bind(v.to_string()),
            None => sqlx::query("DELETE FROM connectors WHERE id = $1").bind(id.to_string()),
        };
        Ok(q.execute(&self.write).await?.rows_affected() == 1)
    }

    /// The policy an admin saved (JSON), if any: it replaces the config file's.
    pub async fn saved_policy(&self) -> Result<Option<String>> {
        let v: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE name = $1")
            .bind(POLICY)
            .fetch_optional(&self.write)
            .await?;
        Ok(v.map(|(v,)| v))
    }

    /// Replace the saved policy with `json` (with `None`, go back to the config file's) if
    /// what is saved is still `expected` (`None`: nothing is saved); `Ok(false)` if it changed
    /// since `expected` was read. The stored text itself is compared: it is the version.
    pub async fn save_policy(&self, json: Option<&str>, expected: Option<&str>) -> Result<bool> {
        let done = match (json, expected) {
            (Some(j), Some(old)) => {
                sqlx::query("UPDATE settings SET value = $2 WHERE name = $1 AND value = $3")
                    .bind(POLICY)
                    .bind(j.to_string())
                    .bind(old.to_string())
                    .execute(&self.write)
                    .await?
            }
            (Some(j), None) => {
                sqlx::query(
                    "INSERT INTO settings (name, value) VALUES ($1, $2) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(POLICY)
                .bind(j.to_string())
                .execute(&self.write)
                .await?
            }
            (None, Some(old)) => {
                sqlx::query("DELETE FROM settings WHERE name = $1 AND value = $2")
                    .bind(POLICY)
                    .bind(old.to_string())
                    .execute(&self.write)
                    .await?
            }
            // Nothing saved, and nothing to save.
            (None, None) => return Ok(true),
        };
        Ok(done.rows_affected() == 1)
    }
}
