//! Admin UI sessions, and the listing of live refresh-token families the admin pages show.

use sqlx::FromRow;

use super::{Db, Result, StorageError};

#[derive(Debug, Clone, FromRow)]
pub struct AdminSession {
    pub id_hash: String,
    pub subject: String,
    pub username: String,
    pub email: String,
    pub groups_json: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    /// JSON `Identity` as the connector last vouched for it ('' for a session that cannot be
    /// re-checked, which therefore ends).
    pub identity: String,
    /// When the connector last vouched for `identity`.
    pub checked_at: i64,
}

/// One live login: the newest token of a refresh family that is not revoked.
#[derive(Debug, Clone, FromRow)]
pub struct LiveFamily {
    pub family_id: String,
    pub client_id: String,
    pub subject: String,
    /// JSON `Identity`.
    pub identity: String,
    pub family_created_at: i64,
    pub last_used_at: i64,
}

impl Db {
    pub async fn create_admin_session(&self, s: &AdminSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO admin_sessions (id_hash, subject, username, email, groups_json, \
             created_at, last_seen_at, expires_at, identity, checked_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
        )
        .bind(&s.id_hash)
        .bind(&s.subject)
        .bind(&s.username)
        .bind(&s.email)
        .bind(&s.groups_json)
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .bind(s.expires_at)
        .bind(&s.identity)
        .bind(s.checked_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Keep what the connector just said of a session's user.
    pub async fn recheck_admin_session(
        &self,
        id_hash: &str,
        identity: &str,
        groups_json: &str,
        checked_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE admin_sessions SET identity = $2, groups_json = $3, checked_at = $4 \
             WHERE id_hash = $1",
        )
        .bind(id_hash)
        .bind(identity)
        .bind(groups_json)
        .bind(checked_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// End every admin session of one user; how many there were.
    pub async fn delete_admin_sessions_of(&self, subject: &str) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM admin_sessions WHERE subject = $1")
            .bind(subject)
            .execute(&self.write)
            .await?
            .rows_affected())
    }

    /// The session if it is neither expired nor idle past `idle_since`; its last use is moved
    /// to `now`.
    pub async fn use_admin_session(
        &self,
        id_hash: &str,
        now: i64,
        idle_since: i64,
    ) -> Result<AdminSession> {
        let done = sqlx::query(
            "UPDATE admin_sessions SET last_seen_at = $1 \
             WHERE id_hash = $2 AND expires_at > $1 AND last_seen_at > $3",
        )
        .bind(now)
        .bind(id_hash)
        .bind(idle_since)
        .execute(&self.write)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StorageError::NotFound);
        }
        sqlx::query_as::<_, AdminSession>("SELECT * FROM admin_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .fetch_optional(&self.write)
            .await?
            .ok_or(StorageError::NotFound)
    }

    pub async fn delete_admin_session(&self, id_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM admin_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Live logins, newest use first: `limit` of them after skipping `offset`.
    pub async fn live_families(&self, limit: i64, offset: i64) -> Result<Vec<LiveFamily>> {
        Ok(sqlx::query_as::<_, LiveFamily>(
            "SELECT family_id, client_id, subject, identity, family_created_at, last_used_at \
             FROM refresh_tokens WHERE revoked_at IS NULL AND rotated_at IS NULL \
             ORDER BY last_used_at DESC, family_id LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.read)
        .await?)
    }

    /// Revoke every family a user holds, with every client; how many tokens that ended.
    pub async fn revoke_refresh_of_user(&self, subject: &str, now: i64) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE subject = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(subject)
        .execute(&self.write)
        .await?
        .rows_affected())
    }

    /// Whether a family has a live token.
    pub async fn family_is_live(&self, family_id: &str) -> Result<bool> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NULL",
        )
        .bind(family_id)
        .fetch_one(&self.write)
        .await?;
        Ok(n > 0)
    }
}
