//! Refresh tokens: one row per issued token, grouped in families (one per login).

use sqlx::FromRow;

use super::{Db, Dialect, Result, StorageError};

#[derive(Debug, Clone, FromRow)]
pub struct RefreshToken {
    /// Public half of the token; the secret half is stored only as `secret_hash`.
    pub id: String,
    pub family_id: String,
    pub secret_hash: String,
    pub client_id: String,
    pub subject: String,
    pub scopes: String,
    pub nonce: String,
    pub identity: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub last_used_at: i64,
    pub family_created_at: i64,
    pub rotated_at: Option<i64>,
    pub successor_id: Option<String>,
    pub revoked_at: Option<i64>,
    /// The browser session the login was made in (the tokens' `sid`).
    pub session_id: Option<String>,
    /// How the user logged in (RFC 8176 values, space-separated).
    pub amr: String,
}

impl Db {
    pub async fn create_refresh_token(&self, t: &RefreshToken) -> Result<()> {
        insert(&self.write, self.dialect, &[t]).await
    }

    /// Read from a reader: a rotation is committed before its caller hears of it, so a
    /// reader always sees the token a client was given, and the writer stays free for writes.
    pub async fn get_refresh_token(&self, id: &str) -> Result<RefreshToken> {
        if let Some(d) = &self.direct {
            return d.refresh_token(id);
        }
        sqlx::query_as::<_, RefreshToken>("SELECT * FROM refresh_tokens WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StorageError::NotFound)
    }

    /// Replace `old_id` by `next` if nobody rotated it first; false when another request won.
    /// Rotations arriving together commit in one transaction (see `rotations`).
    pub async fn rotate_refresh_token(
        &self,
        old_id: &str,
        next: &RefreshToken,
        now: i64,
    ) -> Result<bool> {
        self.rotations.rotate(old_id, next, now).await
    }

    /// Note a use without rotating (rotation disabled).
    pub async fn touch_refresh_token(&self, id: &str, identity: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE refresh_tokens SET last_used_at = $1, identity = $2 WHERE id = $3")
            .bind(now)
            .bind(identity)
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub async fn revoke_refresh_family(&self, family_id: &str, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(family_id)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Revoke every family a user holds with one client (logout).
    pub async fn revoke_refresh_for_subject(
        &self,
        client_id: &str,
        subject: &str,
        now: i64,
    ) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 \
             WHERE client_id = $2 AND subject = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(client_id)
        .bind(subject)
        .execute(&self.write)
        .await?;
        Ok(r.rows_affected())
    }
}

/// The columns of a refresh token, in the order [`bind`] binds them.
pub(super) const COLUMNS: &str = "id, family_id, secret_hash, client_id, subject, scopes, nonce, \
     identity, auth_time, created_at, last_used_at, family_created_at, rotated_at, successor_id, \
     revoked_at, session_id, amr";

/// Bind `t`'s values in [`COLUMNS`] order.
pub(super) fn bind<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    t: &'q RefreshToken,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    q.bind(&t.id)
        .bind(&t.family_id)
        .bind(&t.secret_hash)
        .bind(&t.client_id)
        .bind(&t.subject)
        .bind(&t.scopes)
        .bind(&t.nonce)
        .bind(&t.identity)
        .bind(t.auth_time)
        .bind(t.created_at)
        .bind(t.last_used_at)
        .bind(t.family_created_at)
        .bind(t.rotated_at)
        .bind(&t.successor_id)
        .bind(t.revoked_at)
        .bind(&t.session_id)
        .bind(&t.amr)
}

/// Insert tokens in one statement (one row for a login, a batch's successors for rotations).
pub(super) async fn insert<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    ex: E,
    dialect: Dialect,
    tokens: &[&RefreshToken],
) -> Result<()> {
    let rows = super::rotations::values(dialect, tokens.len(), 17);
    let sql = format!("INSERT INTO refresh_tokens ({COLUMNS}) VALUES {rows}");
    // Built from placeholders only: every value is bound.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for t in tokens {
        q = bind(q, t);
    }
    q.execute(ex).await?;
    Ok(())
}
