//! Garbage collection of expired rows. Safe to run on every replica at once (each statement
//! deletes only what no request can use any more), but one replica per interval does it: the
//! interval is claimed as a lease in the database.

use super::{Db, Result};

/// How many rows one sweep removed, by table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub auth_requests: u64,
    pub auth_codes: u64,
    pub refresh_tokens: u64,
    pub revoked_tokens: u64,
    pub signing_keys: u64,
    pub device_requests: u64,
    pub upstream_logins: u64,
    pub saml_assertions: u64,
    pub admin_sessions: u64,
    pub browser_sessions: u64,
    pub audit_log: u64,
    pub token_counts: u64,
}

/// How long what the sweeper deletes may live: refresh tokens (0 = unlimited) and the audit
/// trail.
#[derive(Debug, Clone, Copy)]
pub struct SweepLimits {
    pub absolute_lifetime: i64,
    pub valid_if_not_used_for: i64,
    pub audit_retention: i64,
}

/// Revoked families are kept this long so their replay is still recognised and refused.
const REVOKED_RETENTION: i64 = 24 * 3600;

impl Db {
    /// Claim the job `name` until `until` if nobody holds it at `now`: true for exactly one
    /// of the replicas asking in the same period.
    pub async fn claim_lease(&self, name: &str, now: i64, until: i64) -> Result<bool> {
        let n = sqlx::query(
            "INSERT INTO leases (name, until) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET until = excluded.until WHERE leases.until <= $3",
        )
        .bind(name)
        .bind(until)
        .bind(now)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    pub async fn sweep(&self, now: i64, limits: SweepLimits) -> Result<Swept> {
        let exec = |sql: &'static str, a: i64| {
            let pool = self.write.clone();
            async move {
                Ok::<u64, sqlx::Error>(
                    sqlx::query(sql)
                        .bind(a)
                        .execute(&pool)
                        .await?
                        .rows_affected(),
                )
            }
        };
        let mut s = Swept {
            auth_requests: exec("DELETE FROM auth_requests WHERE expires_at <= $1", now).await?,
            // A used code is kept while what it issued lives, so its replay can still revoke that.
            auth_codes: exec(
                "DELETE FROM auth_codes WHERE expires_at <= $1 \
                 AND (access_expires_at IS NULL OR access_expires_at <= $1)",
                now,
            )
            .await?,
            refresh_tokens: exec(
                "DELETE FROM refresh_tokens WHERE revoked_at IS NOT NULL AND revoked_at <= $1",
                now - REVOKED_RETENTION,
            )
            .await?,
            revoked_tokens: exec("DELETE FROM revoked_tokens WHERE expires_at <= $1", now).await?,
            signing_keys: exec(
                "DELETE FROM signing_keys WHERE remove_at IS NOT NULL AND remove_at <= $1",
                now,
            )
            .await?,
            device_requests: exec("DELETE FROM device_requests WHERE expires_at <= $1", now)
                .await?,
            upstream_logins: exec("DELETE FROM upstream_logins WHERE expires_at <= $1", now)
                .await?,
            saml_assertions: exec("DELETE FROM saml_assertions WHERE expires_at <= $1", now)
                .await?,
            admin_sessions: exec("DELETE FROM admin_sessions WHERE expires_at <= $1", now).await?,
            // An hour late: ending an expired session tells its clients (the back-channel
            // task does it within a minute); this only removes what nobody ended.
            browser_sessions: exec(
                "DELETE FROM browser_sessions WHERE expires_at <= $1 OR idle_expires_at <= $1",
                now - 3600,
            )
            .await?,
            audit_log: exec(
                "DELETE FROM audit_log WHERE at <= $1",
                now - limits.audit_retention,
            )
            .await?,
            token_counts: exec(
                "DELETE FROM token_counts WHERE hour <= $1",
                now - limits.audit_retention,
            )
            .await?,
        };
        exec(
            "DELETE FROM session_clients WHERE last_issued_at <= $1 \
             AND session_id NOT IN (SELECT id FROM browser_sessions)",
            now,
        )
        .await?;
        if limits.absolute_lifetime > 0 {
            s.refresh_tokens += exec(
                "DELETE FROM refresh_tokens WHERE family_created_at <= $1",
                now - limits.absolute_lifetime,
            )
            .await?;
        }
        if limits.valid_if_not_used_for > 0 {
            // Whole families only: a family is idle when its newest token is idle.
            s.refresh_tokens += exec(
                "DELETE FROM refresh_tokens WHERE family_id IN (SELECT family_id FROM \
                 refresh_tokens GROUP BY family_id HAVING MAX(last_used_at) <= $1)",
                now - limits.valid_if_not_used_for,
            )
            .await?;
        }
        Ok(s)
    }
}
