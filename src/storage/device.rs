//! Device authorization requests (RFC 8628).

use sqlx::FromRow;

use super::{Db, Result, StorageError};

#[derive(Debug, Clone, FromRow)]
pub struct DeviceRequest {
    pub device_code_hash: String,
    /// Normalised: upper case, no dash.
    pub user_code: String,
    pub client_id: String,
    pub scopes: String,
    /// pending, approved, denied or used.
    pub status: String,
    pub identity: Option<String>,
    /// When the approving user logged in (not when they approved).
    pub auth_time: Option<i64>,
    /// How the approving user logged in (RFC 8176 values, space-separated).
    pub amr: String,
    pub interval_secs: i64,
    pub last_poll_at: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    /// The address the device asked from, as Gantry determined it (trusted proxies believed);
    /// `None` for requests stored before it was recorded.
    pub requested_from: Option<String>,
}

impl Db {
    pub async fn create_device_request(&self, r: &DeviceRequest) -> Result<()> {
        sqlx::query(
            "INSERT INTO device_requests (device_code_hash, user_code, client_id, scopes, status, \
             identity, auth_time, interval_secs, last_poll_at, created_at, expires_at, \
             requested_from) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
        )
        .bind(&r.device_code_hash)
        .bind(&r.user_code)
        .bind(&r.client_id)
        .bind(&r.scopes)
        .bind(&r.status)
        .bind(&r.identity)
        .bind(r.auth_time)
        .bind(r.interval_secs)
        .bind(r.last_poll_at)
        .bind(r.created_at)
        .bind(r.expires_at)
        .bind(&r.requested_from)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub async fn device_by_code(&self, device_code_hash: &str) -> Result<DeviceRequest> {
        sqlx::query_as::<_, DeviceRequest>(
            "SELECT * FROM device_requests WHERE device_code_hash = $1",
        )
        .bind(device_code_hash)
        .fetch_optional(&self.write)
        .await?
        .ok_or(StorageError::NotFound)
    }

    /// A pending, unexpired request by its user code.
    pub async fn pending_device_by_user_code(
        &self,
        user_code: &str,
        now: i64,
    ) -> Result<DeviceRequest> {
        sqlx::query_as::<_, DeviceRequest>(
            "SELECT * FROM device_requests WHERE user_code = $1 AND status = 'pending' AND expires_at > $2",
        )
        .bind(user_code)
        .bind(now)
        .fetch_optional(&self.write)
        .await?
        .ok_or(StorageError::NotFound)
    }

    /// Record a poll; returns the previous poll time.
    pub async fn poll_device(&self, device_code_hash: &str, now: i64) -> Result<Option<i64>> {
        let prev = self.device_by_code(device_code_hash).await?.last_poll_at;
        sqlx::query("UPDATE device_requests SET last_poll_at = $1 WHERE device_code_hash = $2")
            .bind(now)
            .bind(device_code_hash)
            .execute(&self.write)
            .await?;
        Ok(prev)
    }

    /// Make a device that polled too fast wait `by` seconds longer from now on.
    pub async fn slow_device(&self, device_code_hash: &str, by: i64) -> Result<()> {
        sqlx::query(
            "UPDATE device_requests SET interval_secs = interval_secs + $1 \
             WHERE device_code_hash = $2",
        )
        .bind(by)
        .bind(device_code_hash)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Approve or deny a pending request; false if it was not pending.
    pub async fn decide_device(
        &self,
        device_code_hash: &str,
        approved: bool,
        identity: Option<&str>,
        (auth_time, amr): (i64, &str),
        now: i64,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE device_requests SET status = $1, identity = $2, auth_time = $5, amr = $6 \
             WHERE device_code_hash = $4 AND status = 'pending' AND expires_at > $3",
        )
        .bind(if approved { "approved" } else { "denied" })
        .bind(identity)
        .bind(now)
        .bind(device_code_hash)
        .bind(auth_time)
        .bind(amr)
        .execute(&self.write)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Mark an approved request used; false if another poll took it first.
    pub async fn consume_device(&self, device_code_hash: &str) -> Result<bool> {
        let r = sqlx::query("UPDATE device_requests SET status = 'used' WHERE device_code_hash = $1 AND status = 'approved'")
            .bind(device_code_hash)
            .execute(&self.write)
            .await?;
        Ok(r.rows_affected() == 1)
    }
}
