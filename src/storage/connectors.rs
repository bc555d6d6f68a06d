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

    /// Insert (`must_exist` false; `Ok(false)` when the id is taken) or update (`must_exist`
    /// true; `Ok(false)` when there is none).
    pub async fn put_connector(&self, c: &ConnectorRow, must_exist: bool) -> Result<bool> {
        let done = if must_exist {
            sqlx::query(
                "UPDATE connectors SET type = $2, name = $3, config = $4, secrets = $5, \
                 version = $6, updated_at = $7 WHERE id = $1",
            )
            .bind(&c.id)
            .bind(&c.kind)
            .bind(&c.name)
            .bind(&c.config)
            .bind(&c.secrets)
            .bind(&c.version)
            .bind(c.updated_at)
            .execute(&self.write)
            .await?
        } else {
            sqlx::query(
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
            .await?
        };
        Ok(done.rows_affected() == 1)
    }

    pub async fn delete_connector(&self, id: &str) -> Result<bool> {
        Ok(sqlx::query("DELETE FROM connectors WHERE id = $1")
            .bind(id)
            .execute(&self.write)
            .await?
            .rows_affected()
            == 1)
    }

    /// The policy an admin saved (JSON), if any: it replaces the config file's.
    pub async fn saved_policy(&self) -> Result<Option<String>> {
        let v: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE name = $1")
            .bind(POLICY)
            .fetch_optional(&self.write)
            .await?;
        Ok(v.map(|(v,)| v))
    }

    /// Save a policy (JSON), or with `None` go back to the config file's.
    pub async fn save_policy(&self, json: Option<&str>) -> Result<()> {
        match json {
            Some(j) => {
                sqlx::query(
                    "INSERT INTO settings (name, value) VALUES ($1, $2) \
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                )
                .bind(POLICY)
                .bind(j)
                .execute(&self.write)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM settings WHERE name = $1")
                    .bind(POLICY)
                    .execute(&self.write)
                    .await?;
            }
        }
        Ok(())
    }
}
