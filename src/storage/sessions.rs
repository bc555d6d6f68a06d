//! Browser sessions (single sign-on) and the clients each logged in to.

use sqlx::FromRow;

use super::{Db, Result, StorageError};

/// One signed-in browser. The cookie holds `id` and a secret; `secret_hash` is the secret's
/// SHA-256. `id` is public: it is the `sid` of the tokens issued in the session.
#[derive(Debug, Clone, FromRow)]
pub struct BrowserSession {
    pub id: String,
    pub secret_hash: String,
    pub connector_id: String,
    pub subject: String,
    /// JSON `Identity` as of the last login or connector check.
    pub identity: String,
    pub auth_time: i64,
    /// RFC 8176 values, space-separated.
    pub amr: String,
    pub mfa_time: Option<i64>,
    /// 1 when the cookie outlives the browser ("remember me").
    pub remember: i64,
    pub checked_at: i64,
    pub address: String,
    pub user_agent: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub idle_expires_at: i64,
    pub expires_at: i64,
}

impl BrowserSession {
    /// Why the session is over at `now`, or `None` while it stands.
    pub fn ended(&self, now: i64) -> Option<&'static str> {
        if now >= self.expires_at {
            Some("absolute lifetime")
        } else if now >= self.idle_expires_at {
            Some("idle timeout")
        } else {
            None
        }
    }
}

/// A client a session logged in to.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct SessionClient {
    pub session_id: String,
    pub client_id: String,
    pub authenticated_at: i64,
    /// 1 when the login came through another client's `ssoSharedWith`, not a login of its own.
    pub via_sso: i64,
    pub last_issued_at: i64,
    /// Space-separated scopes the user approved for the client in this session.
    pub scopes: String,
}

/// What a fresh login changes on a session it continues.
#[derive(Debug, Clone)]
pub struct SessionLogin<'a> {
    pub identity: &'a str,
    pub auth_time: i64,
    pub amr: &'a str,
    pub mfa_time: Option<i64>,
    pub remember: bool,
    pub address: &'a str,
    pub user_agent: &'a str,
    pub now: i64,
    pub idle_expires_at: i64,
}

impl Db {
    pub async fn create_browser_session(&self, s: &BrowserSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO browser_sessions (id, secret_hash, connector_id, subject, identity, \
             auth_time, amr, mfa_time, remember, checked_at, address, user_agent, created_at, \
             last_seen_at, idle_expires_at, expires_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)",
        )
        .bind(&s.id)
        .bind(&s.secret_hash)
        .bind(&s.connector_id)
        .bind(&s.subject)
        .bind(&s.identity)
        .bind(s.auth_time)
        .bind(&s.amr)
        .bind(s.mfa_time)
        .bind(s.remember)
        .bind(s.checked_at)
        .bind(&s.address)
        .bind(&s.user_agent)
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .bind(s.idle_expires_at)
        .bind(s.expires_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// From the writer: a session is read right after the login that made it, and a session
    /// just ended must not be found by a reader that has not caught up.
    pub async fn get_browser_session(&self, id: &str) -> Result<BrowserSession> {
        sqlx::query_as::<_, BrowserSession>("SELECT * FROM browser_sessions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.write)
            .await?
            .ok_or(StorageError::NotFound)
    }

    /// A request served from the session: it was seen now, and stays for another idle period.
    pub async fn touch_browser_session(
        &self,
        id: &str,
        now: i64,
        idle_expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE browser_sessions SET last_seen_at = $1, \
             idle_expires_at = CASE WHEN $2 < expires_at THEN $2 ELSE expires_at END \
             WHERE id = $3",
        )
        .bind(now)
        .bind(idle_expires_at)
        .bind(id)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// A fresh login of the same user in the browser that holds session `id`.
    pub async fn renew_browser_session(&self, id: &str, l: &SessionLogin<'_>) -> Result<()> {
        let done = sqlx::query(
            "UPDATE browser_sessions SET identity = $1, auth_time = $2, amr = $3, \
             mfa_time = COALESCE($4, mfa_time), remember = $5, checked_at = $6, address = $7, \
             user_agent = $8, last_seen_at = $6, \
             idle_expires_at = CASE WHEN $9 < expires_at THEN $9 ELSE expires_at END \
             WHERE id = $10",
        )
        .bind(l.identity)
        .bind(l.auth_time)
        .bind(l.amr)
        .bind(l.mfa_time)
        .bind(i64::from(l.remember))
        .bind(l.now)
        .bind(l.address)
        .bind(l.user_agent)
        .bind(l.idle_expires_at)
        .bind(id)
        .execute(&self.write)
        .await?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StorageError::NotFound)
        }
    }

    /// A second factor given inside a session that was already signed in (a step-up).
    pub async fn step_up_browser_session(&self, id: &str, amr: &str, mfa_time: i64) -> Result<()> {
        sqlx::query("UPDATE browser_sessions SET amr = $1, mfa_time = $2 WHERE id = $3")
            .bind(amr)
            .bind(mfa_time)
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// The connector vouched for the user again (a refresh hook): keep what it said.
    pub async fn recheck_browser_session(&self, id: &str, identity: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE browser_sessions SET identity = $1, checked_at = $2 WHERE id = $3")
            .bind(identity)
            .bind(now)
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Record that the session logged in to `c.client_id`; a later login keeps the first
    /// `authenticated_at` only when it came through SSO again.
    pub async fn put_session_client(&self, c: &SessionClient) -> Result<()> {
        sqlx::query(
            "INSERT INTO session_clients (session_id, client_id, authenticated_at, via_sso, \
             last_issued_at, scopes) VALUES ($1,$2,$3,$4,$5,$6) \
             ON CONFLICT (session_id, client_id) DO UPDATE SET \
             authenticated_at = excluded.authenticated_at, via_sso = excluded.via_sso, \
             last_issued_at = excluded.last_issued_at, scopes = excluded.scopes",
        )
        .bind(&c.session_id)
        .bind(&c.client_id)
        .bind(c.authenticated_at)
        .bind(c.via_sso)
        .bind(c.last_issued_at)
        .bind(&c.scopes)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub async fn session_clients(&self, session_id: &str) -> Result<Vec<SessionClient>> {
        Ok(sqlx::query_as::<_, SessionClient>(
            "SELECT * FROM session_clients WHERE session_id = $1 ORDER BY authenticated_at",
        )
        .bind(session_id)
        .fetch_all(&self.write)
        .await?)
    }

    /// End session `id`: the session and its clients, as they were, or `NotFound` when
    /// another request ended it first (only one caller announces an end).
    pub async fn end_browser_session(
        &self,
        id: &str,
    ) -> Result<(BrowserSession, Vec<SessionClient>)> {
        let mut conn = self.write.acquire().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let Some(s) =
            sqlx::query_as::<_, BrowserSession>("SELECT * FROM browser_sessions WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
        else {
            return Err(StorageError::NotFound);
        };
        let clients = sqlx::query_as::<_, SessionClient>(
            "SELECT * FROM session_clients WHERE session_id = $1 ORDER BY authenticated_at",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM session_clients WHERE session_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let gone = sqlx::query("DELETE FROM browser_sessions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if gone.rows_affected() != 1 {
            return Err(StorageError::NotFound);
        }
        tx.commit().await?;
        Ok((s, clients))
    }

    /// Sessions over at `now` (idle or absolute), at most `limit`: to be ended.
    pub async fn expired_browser_sessions(&self, now: i64, limit: i64) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM browser_sessions WHERE expires_at <= $1 OR idle_expires_at <= $1 \
             ORDER BY idle_expires_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Live sessions, the most recently used first.
    pub async fn live_browser_sessions(
        &self,
        now: i64,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<BrowserSession>> {
        Ok(sqlx::query_as::<_, BrowserSession>(
            "SELECT * FROM browser_sessions WHERE expires_at > $1 AND idle_expires_at > $1 \
             ORDER BY last_seen_at DESC, id LIMIT $2 OFFSET $3",
        )
        .bind(now)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.read)
        .await?)
    }

    /// The sessions of one user of one connector, newest first.
    pub async fn browser_sessions_of(
        &self,
        connector_id: &str,
        subject: &str,
    ) -> Result<Vec<BrowserSession>> {
        Ok(sqlx::query_as::<_, BrowserSession>(
            "SELECT * FROM browser_sessions WHERE connector_id = $1 AND subject = $2 \
             ORDER BY created_at DESC",
        )
        .bind(connector_id)
        .bind(subject)
        .fetch_all(&self.write)
        .await?)
    }
}
