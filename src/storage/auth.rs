//! Authorization requests (the state of one browser login) and authorization codes.

use sqlx::FromRow;

use super::{Db, Result, StorageError};

/// A validated `/auth` request waiting for the user to log in and approve.
#[derive(Debug, Clone, FromRow)]
pub struct AuthRequest {
    pub id: String,
    pub client_id: String,
    pub redirect_uri: String,
    /// Space-separated.
    pub scopes: String,
    pub state: String,
    pub nonce: String,
    pub code_challenge: String,
    pub code_challenge_method: String,
    pub connector_id: Option<String>,
    /// JSON `Identity` once the user has logged in.
    pub identity: Option<String>,
    /// Hash of the CSRF cookie of the browser that logged in.
    pub browser_hash: Option<String>,
    pub logged_in_at: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// An issued authorization code, stored under the hash of the code.
#[derive(Debug, Clone, FromRow)]
pub struct AuthCode {
    pub code_hash: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: String,
    pub nonce: String,
    pub code_challenge: String,
    pub code_challenge_method: String,
    pub identity: String,
    pub auth_time: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub access_jti: Option<String>,
    pub access_expires_at: Option<i64>,
    pub refresh_family: Option<String>,
}

impl Db {
    pub async fn create_auth_request(&self, r: &AuthRequest) -> Result<()> {
        self.create_auth_request_from(r, None, 0).await.map(|_| ())
    }

    /// Store `r`, started from the address `client_key`, unless that address already has `cap`
    /// unfinished requests (0: no cap); false when it has.
    pub async fn create_auth_request_from(
        &self,
        r: &AuthRequest,
        client_key: Option<&str>,
        cap: u32,
    ) -> Result<bool> {
        // One statement: the count and the insert cannot interleave with another replica's
        // on SQLite; on PostgreSQL two racing inserts may both pass, exceeding the cap by the
        // number of replicas at most.
        let n = sqlx::query(
            "INSERT INTO auth_requests (id, client_id, redirect_uri, scopes, state, nonce, \
             code_challenge, code_challenge_method, connector_id, identity, browser_hash, \
             logged_in_at, created_at, expires_at, client_key) \
             SELECT $1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15 \
             WHERE $16 = 0 OR (SELECT COUNT(*) FROM auth_requests WHERE client_key = $15 \
             AND identity IS NULL AND expires_at > $13) < $16",
        )
        .bind(&r.id)
        .bind(&r.client_id)
        .bind(&r.redirect_uri)
        .bind(&r.scopes)
        .bind(&r.state)
        .bind(&r.nonce)
        .bind(&r.code_challenge)
        .bind(&r.code_challenge_method)
        .bind(&r.connector_id)
        .bind(&r.identity)
        .bind(&r.browser_hash)
        .bind(r.logged_in_at)
        .bind(r.created_at)
        .bind(r.expires_at)
        .bind(client_key)
        .bind(i64::from(cap))
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// The request if it exists and has not expired.
    pub async fn get_auth_request(&self, id: &str, now: i64) -> Result<AuthRequest> {
        sqlx::query_as::<_, AuthRequest>(
            "SELECT * FROM auth_requests WHERE id = $1 AND expires_at > $2",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&self.write)
        .await?
        .ok_or(StorageError::NotFound)
    }

    /// Record who logged in, and in which browser; only once per request.
    pub async fn set_auth_request_identity(
        &self,
        id: &str,
        connector_id: &str,
        identity_json: &str,
        browser_hash: &str,
        now: i64,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE auth_requests SET identity = $1, connector_id = $2, logged_in_at = $3, \
             browser_hash = $4 WHERE id = $5 AND identity IS NULL AND expires_at > $3",
        )
        .bind(identity_json)
        .bind(connector_id)
        .bind(now)
        .bind(browser_hash)
        .bind(id)
        .execute(&self.write)
        .await?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StorageError::NotFound)
        }
    }

    /// Delete the request and store the code in one transaction: a request yields one code.
    pub async fn exchange_request_for_code(&self, request_id: &str, c: &AuthCode) -> Result<()> {
        let mut conn = self.write.acquire().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let gone = sqlx::query("DELETE FROM auth_requests WHERE id = $1")
            .bind(request_id)
            .execute(&mut *tx)
            .await?;
        if gone.rows_affected() != 1 {
            return Err(StorageError::NotFound);
        }
        sqlx::query(
            "INSERT INTO auth_codes (code_hash, client_id, redirect_uri, scopes, nonce, \
             code_challenge, code_challenge_method, identity, auth_time, expires_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
        )
        .bind(&c.code_hash)
        .bind(&c.client_id)
        .bind(&c.redirect_uri)
        .bind(&c.scopes)
        .bind(&c.nonce)
        .bind(&c.code_challenge)
        .bind(&c.code_challenge_method)
        .bind(&c.identity)
        .bind(c.auth_time)
        .bind(c.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_auth_request(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM auth_requests WHERE id = $1")
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// From a reader: a code is committed before the browser is sent off with it; whether it
    /// is still unused is decided by the compare-and-set in `redeem_auth_code`.
    pub async fn get_auth_code(&self, code_hash: &str) -> Result<AuthCode> {
        sqlx::query_as::<_, AuthCode>("SELECT * FROM auth_codes WHERE code_hash = $1")
            .bind(code_hash)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StorageError::NotFound)
    }

    /// From the writer, for a decision that must see the latest write (a replay's revocation).
    pub async fn get_auth_code_fresh(&self, code_hash: &str) -> Result<AuthCode> {
        sqlx::query_as::<_, AuthCode>("SELECT * FROM auth_codes WHERE code_hash = $1")
            .bind(code_hash)
            .fetch_optional(&self.write)
            .await?
            .ok_or(StorageError::NotFound)
    }

    /// Mark a code used; false if it was used already (a replay).
    pub async fn claim_auth_code(&self, code_hash: &str, now: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE auth_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(code_hash)
        .execute(&self.write)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Mark a code used and record what it issued, in one compare-and-set, so that a replay
    /// can revoke it; false if the code was used already.
    pub async fn redeem_auth_code(
        &self,
        code_hash: &str,
        now: i64,
        access_jti: &str,
        access_expires_at: i64,
        refresh_family: Option<&str>,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE auth_codes SET used_at = $1, access_jti = $2, access_expires_at = $3, \
             refresh_family = $4 WHERE code_hash = $5 AND used_at IS NULL",
        )
        .bind(now)
        .bind(access_jti)
        .bind(access_expires_at)
        .bind(refresh_family)
        .bind(code_hash)
        .execute(&self.write)
        .await?;
        Ok(r.rows_affected() == 1)
    }
}
