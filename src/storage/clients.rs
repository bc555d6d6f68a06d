//! Clients created by admins, and the generation stamp that tells every replica to reload
//! what admins change.

use sqlx::FromRow;

use super::{Db, Result};

#[derive(Debug, Clone, FromRow)]
pub struct ClientRow {
    pub id: String,
    pub secret_hash: Option<String>,
    pub name: String,
    /// JSON arrays.
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub trusted_peers: String,
    pub grant_types: String,
    pub public_client: i64,
    pub require_pkce: i64,
    /// A JSON array; empty, every connector.
    pub allowed_connectors: String,
    /// Where back-channel logout tokens go; none, the client is not told.
    pub backchannel_logout_uri: Option<String>,
    /// A JSON array, or NULL for `sessions.ssoSharedWithDefault`.
    pub sso_shared_with: Option<String>,
    /// `standalone` (or empty) or `session`.
    pub refresh_token_lifetime: String,
    /// Dex's `mfaChain`, a JSON array; `None`: `mfa.defaultMFAChain`.
    pub mfa_chain: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Replaced on every change: see `update_client_row`.
    pub version: String,
}

const GENERATION: &str = "admin-generation";

impl Db {
    pub async fn list_clients(&self) -> Result<Vec<ClientRow>> {
        Ok(
            sqlx::query_as::<_, ClientRow>("SELECT * FROM clients ORDER BY id")
                .fetch_all(&self.write)
                .await?,
        )
    }

    /// One client, as the writer sees it (a compare-and-set starts from the latest write).
    pub async fn get_client_fresh(&self, id: &str) -> Result<Option<ClientRow>> {
        Ok(
            sqlx::query_as::<_, ClientRow>("SELECT * FROM clients WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.write)
                .await?,
        )
    }

    /// Insert a client; `Ok(false)` when the id is taken.
    pub async fn insert_client(&self, c: &ClientRow) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO clients (id, secret_hash, name, redirect_uris, \
             post_logout_redirect_uris, trusted_peers, grant_types, public_client, require_pkce, \
             created_at, updated_at, version, allowed_connectors, sso_shared_with, \
             refresh_token_lifetime, mfa_chain, backchannel_logout_uri) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&c.id)
        .bind(&c.secret_hash)
        .bind(&c.name)
        .bind(&c.redirect_uris)
        .bind(&c.post_logout_redirect_uris)
        .bind(&c.trusted_peers)
        .bind(&c.grant_types)
        .bind(c.public_client)
        .bind(c.require_pkce)
        .bind(c.created_at)
        .bind(c.updated_at)
        .bind(&c.version)
        .bind(&c.allowed_connectors)
        .bind(&c.sso_shared_with)
        .bind(&c.refresh_token_lifetime)
        .bind(&c.mfa_chain)
        .bind(&c.backchannel_logout_uri)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replace a client's settings (and version) if its version is still `expected`;
    /// `Ok(false)` if it is gone or was changed since `expected` was read.
    pub async fn update_client_row(&self, c: &ClientRow, expected: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE clients SET secret_hash = $2, name = $3, redirect_uris = $4, \
             post_logout_redirect_uris = $5, trusted_peers = $6, grant_types = $7, \
             public_client = $8, require_pkce = $9, updated_at = $10, version = $11, \
             allowed_connectors = $13, sso_shared_with = $14, refresh_token_lifetime = $15, \
             mfa_chain = $16, backchannel_logout_uri = $17 WHERE id = $1 AND version = $12",
        )
        .bind(&c.id)
        .bind(&c.secret_hash)
        .bind(&c.name)
        .bind(&c.redirect_uris)
        .bind(&c.post_logout_redirect_uris)
        .bind(&c.trusted_peers)
        .bind(&c.grant_types)
        .bind(c.public_client)
        .bind(c.require_pkce)
        .bind(c.updated_at)
        .bind(&c.version)
        .bind(expected)
        .bind(&c.allowed_connectors)
        .bind(&c.sso_shared_with)
        .bind(&c.refresh_token_lifetime)
        .bind(&c.mfa_chain)
        .bind(&c.backchannel_logout_uri)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Delete a client if its version is still `expected` (any with `None`); `Ok(false)` if
    /// there is none or it was changed since.
    pub async fn delete_client(&self, id: &str, expected: Option<&str>) -> Result<bool> {
        let q = match expected {
            Some(v) => sqlx::query("DELETE FROM clients WHERE id = $1 AND version = $2")
                .bind(id.to_string())
                .bind(v.to_string()),
            None => sqlx::query("DELETE FROM clients WHERE id = $1").bind(id.to_string()),
        };
        Ok(q.execute(&self.write).await?.rows_affected() == 1)
    }

    /// The current generation stamp ("" before any admin change).
    pub async fn generation(&self) -> Result<String> {
        let v: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE name = $1")
            .bind(GENERATION)
            .fetch_optional(&self.write)
            .await?;
        Ok(v.map(|(v,)| v).unwrap_or_default())
    }

    /// Mark a change every replica must load.
    pub async fn bump_generation(&self, stamp: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(GENERATION)
        .bind(stamp)
        .execute(&self.write)
        .await?;
        Ok(())
    }
}

impl Db {
    /// Tokens of client `id` issued before `at` (seconds) no longer open the admin API: set when
    /// the client is created, its secret rotated, or it leaves the policy's admin clients. Never
    /// lowered.
    pub async fn raise_client_token_floor(&self, id: &str, at: i64) -> Result<()> {
        let name = format!("client-tokens-from:{id}");
        let at = at.to_string();
        // Text compares as numbers only at equal length: seconds since 1970 have 10 digits
        // until the year 2286.
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) \
             DO UPDATE SET value = excluded.value WHERE settings.value < excluded.value",
        )
        .bind(&name)
        .bind(&at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// See [`Db::raise_client_token_floor`]; 0 when never set.
    pub async fn client_token_floor(&self, id: &str) -> Result<i64> {
        let floor = self.setting(&format!("client-tokens-from:{id}")).await?;
        Ok(floor.and_then(|v| v.parse().ok()).unwrap_or(0))
    }
}
