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
    /// The browser session that logged this request in without a form, or that its login
    /// renewed.
    pub session_id: Option<String>,
    /// How the user logged in (RFC 8176 values, space-separated).
    pub amr: String,
    /// The request's `prompt`, `max_age`, `acr_values` and `login_hint`, as checked.
    pub prompt: String,
    pub max_age: Option<i64>,
    pub acr_values: String,
    pub login_hint: String,
    /// 1 when the user asked to be remembered beyond this browser session.
    pub remember: i64,
}

/// Who logged a request in, in which browser, and how.
#[derive(Debug, Clone, Copy)]
pub struct LoggedIn<'a> {
    pub connector_id: &'a str,
    /// JSON `Identity`.
    pub identity: &'a str,
    /// Hash of the CSRF cookie of the browser that logged in: only it may approve.
    pub browser_hash: &'a str,
    /// RFC 8176 values, space-separated.
    pub amr: &'a str,
    /// The "remember me" box; `None` keeps the request's default.
    pub remember: Option<bool>,
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
    pub session_id: Option<String>,
    pub amr: String,
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
             logged_in_at, created_at, expires_at, client_key, session_id, amr, prompt, max_age, \
             acr_values, login_hint, remember) \
             SELECT $1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$17,$18,$19,$20,$21,$22,$23 \
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
        .bind(&r.session_id)
        .bind(&r.amr)
        .bind(&r.prompt)
        .bind(r.max_age)
        .bind(&r.acr_values)
        .bind(&r.login_hint)
        .bind(r.remember)
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
        l: &LoggedIn<'_>,
        now: i64,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE auth_requests SET identity = $1, connector_id = $2, logged_in_at = $3, \
             browser_hash = $4, amr = $6, remember = COALESCE($7, remember) \
             WHERE id = $5 AND identity IS NULL AND expires_at > $3",
        )
        .bind(l.identity)
        .bind(l.connector_id)
        .bind(now)
        .bind(l.browser_hash)
        .bind(id)
        .bind(l.amr)
        .bind(l.remember.map(i64::from))
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
             code_challenge, code_challenge_method, identity, auth_time, expires_at, session_id, \
             amr) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
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
        .bind(&c.session_id)
        .bind(&c.amr)
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
        if let Some(d) = &self.direct {
            return d.auth_code(code_hash);
        }
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
        // Redemptions arriving together commit in one transaction, with the rotations.
        self.rotations
            .redeem(
                code_hash,
                now,
                (access_jti, access_expires_at),
                refresh_family,
            )
            .await
    }
}
