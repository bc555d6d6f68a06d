//! Logins waiting at an upstream provider, and deployment-wide generated settings.

use sqlx::FromRow;

use super::{Db, Result, StorageError};

/// What Gantry remembers between sending the browser upstream and its return.
#[derive(Debug, Clone, FromRow)]
pub struct UpstreamLogin {
    pub state_hash: String,
    pub request_id: String,
    pub connector_id: String,
    pub nonce: String,
    /// Empty when the upstream is not sent PKCE.
    pub code_verifier: String,
    pub browser_hash: String,
    pub expires_at: i64,
    /// JSON `Identity`, for a SAML login verified at the POST and waiting for the browser.
    pub identity: Option<String>,
}

impl Db {
    pub async fn create_upstream_login(&self, l: &UpstreamLogin) -> Result<()> {
        sqlx::query(
            "INSERT INTO upstream_logins (state_hash, request_id, connector_id, nonce, \
             code_verifier, browser_hash, expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7)",
        )
        .bind(&l.state_hash)
        .bind(&l.request_id)
        .bind(&l.connector_id)
        .bind(&l.nonce)
        .bind(&l.code_verifier)
        .bind(&l.browser_hash)
        .bind(l.expires_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Remove and return the pending login for a state hash; a state is good for one callback.
    pub async fn take_upstream_login(&self, state_hash: &str, now: i64) -> Result<UpstreamLogin> {
        let row = sqlx::query_as::<_, UpstreamLogin>(
            "SELECT * FROM upstream_logins WHERE state_hash = $1",
        )
        .bind(state_hash)
        .fetch_optional(&self.write)
        .await?
        .ok_or(StorageError::NotFound)?;
        let gone = sqlx::query("DELETE FROM upstream_logins WHERE state_hash = $1")
            .bind(state_hash)
            .execute(&self.write)
            .await?;
        // Another callback with the same state took it first.
        if gone.rows_affected() != 1 || row.expires_at <= now {
            return Err(StorageError::NotFound);
        }
        Ok(row)
    }

    /// The pending login for a state hash, left in place.
    pub async fn get_upstream_login(&self, state_hash: &str, now: i64) -> Result<UpstreamLogin> {
        sqlx::query_as::<_, UpstreamLogin>(
            "SELECT * FROM upstream_logins WHERE state_hash = $1 AND expires_at > $2",
        )
        .bind(state_hash)
        .bind(now)
        .fetch_optional(&self.write)
        .await?
        .ok_or(StorageError::NotFound)
    }

    /// Park a verified identity on a pending login; only once.
    pub async fn set_upstream_identity(&self, state_hash: &str, identity_json: &str) -> Result<()> {
        let done = sqlx::query(
            "UPDATE upstream_logins SET identity = $1 WHERE state_hash = $2 AND identity IS NULL",
        )
        .bind(identity_json)
        .bind(state_hash)
        .execute(&self.write)
        .await?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StorageError::NotFound)
        }
    }

    /// Remember an accepted assertion until `expires_at`; `false` if it was seen before.
    pub async fn first_use_of_assertion(&self, id_hash: &str, expires_at: i64) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO saml_assertions (id_hash, expires_at) VALUES ($1, $2) \
             ON CONFLICT (id_hash) DO NOTHING",
        )
        .bind(id_hash)
        .bind(expires_at)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The value stored under `name`, if any.
    pub async fn setting(&self, name: &str) -> Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(|(v,)| v))
    }

    /// Store `value` under `name`, replacing what was there.
    pub async fn put_setting(&self, name: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// The value stored under `name`, storing `fresh` first if there is none. Every replica
    /// gets the value of whichever stored it first.
    pub async fn setting_or_insert(&self, name: &str, fresh: &str) -> Result<String> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(fresh)
        .execute(&self.write)
        .await?;
        let (v,): (String,) = sqlx::query_as("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_one(&self.write)
            .await?;
        Ok(v)
    }
}
