//! The outbox of back-channel logout deliveries: one row per client of an ended session.
//!
//! A row is claimed before it is sent, by one statement that moves its `next_attempt_at`
//! past the attempt (a lease) and writes the claimant's token: two replicas asking at once
//! never both get a row (SQLite has one writer; on PostgreSQL the second `UPDATE` waits for the
//! first and then finds the row no longer due). Only the holder of the claim records how the
//! attempt ended, so a worker that stalled past its lease cannot overwrite a later attempt.

use sqlx::FromRow;

use super::{Db, Result};

/// A delivery to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLogoutDelivery {
    pub id: String,
    pub client_id: String,
    pub sid: String,
    pub subject: String,
    pub created_at: i64,
}

/// A queued delivery as stored.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct LogoutDelivery {
    pub id: String,
    pub client_id: String,
    pub sid: String,
    pub subject: String,
    pub created_at: i64,
    /// Attempts claimed so far, this one included once claimed.
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub delivered_at: Option<i64>,
    pub gave_up_at: Option<i64>,
    pub last_error: String,
}

/// How a claimed attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    Delivered { at: i64 },
    RetryAt { at: i64, error: String },
    GaveUp { at: i64, error: String },
}

/// The columns of [`LogoutDelivery`], for `SELECT` and `RETURNING`.
macro_rules! columns {
    () => {
        "id, client_id, sid, subject, created_at, attempts, next_attempt_at, delivered_at, \
         gave_up_at, last_error"
    };
}

impl Db {
    /// Queue deliveries, due at once; one per session and client (a second is dropped): how
    /// many were new.
    pub async fn queue_logout_deliveries(&self, rows: &[NewLogoutDelivery]) -> Result<u64> {
        let mut added = 0;
        let mut conn = self.write.acquire().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        for r in rows {
            added += sqlx::query(
                "INSERT INTO logout_deliveries (id, client_id, sid, subject, created_at, \
                 next_attempt_at) VALUES ($1, $2, $3, $4, $5, $5) \
                 ON CONFLICT (sid, client_id) DO NOTHING",
            )
            .bind(&r.id)
            .bind(&r.client_id)
            .bind(&r.sid)
            .bind(&r.subject)
            .bind(r.created_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Claim up to `limit` deliveries due at `now` until `until`, under `claim`; each comes
    /// back with its attempt counted.
    pub async fn claim_logout_deliveries(
        &self,
        now: i64,
        until: i64,
        claim: &str,
        limit: i64,
    ) -> Result<Vec<LogoutDelivery>> {
        // Every replica asks every second and almost always finds nothing: a read says so
        // without taking SQLite's one writer (an UPDATE that matches no row still would).
        let any: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM logout_deliveries WHERE delivered_at IS NULL AND gave_up_at IS NULL \
             AND next_attempt_at <= $1 LIMIT 1",
        )
        .bind(now)
        .fetch_optional(&self.read)
        .await?;
        if any.is_none() {
            return Ok(Vec::new());
        }
        // The outer conditions repeat the inner ones: PostgreSQL checks them again on a row
        // another claim changed while this one waited for it.
        const CLAIM: &str = concat!(
            "UPDATE logout_deliveries SET attempts = attempts + 1, next_attempt_at = $2, \
             claim = $3 WHERE id IN (SELECT id FROM logout_deliveries WHERE delivered_at IS NULL \
             AND gave_up_at IS NULL AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $4) \
             AND delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= $1 \
             RETURNING ",
            columns!()
        );
        Ok(sqlx::query_as::<_, LogoutDelivery>(CLAIM)
            .bind(now)
            .bind(until)
            .bind(claim)
            .bind(limit)
            .fetch_all(&self.write)
            .await?)
    }

    /// Record how the attempt claimed as `claim` ended; false when the claim is no longer
    /// held (its lease ran out and another worker took the row, or it was finished).
    pub async fn finish_logout_delivery(&self, id: &str, claim: &str, f: &Finish) -> Result<bool> {
        let q = match f {
            Finish::Delivered { at } => sqlx::query(
                "UPDATE logout_deliveries SET delivered_at = $3, last_error = '' \
                 WHERE id = $1 AND claim = $2 AND delivered_at IS NULL AND gave_up_at IS NULL",
            )
            .bind(id.to_string())
            .bind(claim.to_string())
            .bind(*at),
            Finish::RetryAt { at, error } => sqlx::query(
                "UPDATE logout_deliveries SET next_attempt_at = $3, last_error = $4 \
                 WHERE id = $1 AND claim = $2 AND delivered_at IS NULL AND gave_up_at IS NULL",
            )
            .bind(id.to_string())
            .bind(claim.to_string())
            .bind(*at)
            .bind(error.clone()),
            Finish::GaveUp { at, error } => sqlx::query(
                "UPDATE logout_deliveries SET gave_up_at = $3, last_error = $4 \
                 WHERE id = $1 AND claim = $2 AND delivered_at IS NULL AND gave_up_at IS NULL",
            )
            .bind(id.to_string())
            .bind(claim.to_string())
            .bind(*at)
            .bind(error.clone()),
        };
        Ok(q.execute(&self.write).await?.rows_affected() == 1)
    }

    /// Delete deliveries finished (delivered or given up) before `before`; how many.
    pub async fn prune_logout_deliveries(&self, before: i64) -> Result<u64> {
        Ok(sqlx::query(
            "DELETE FROM logout_deliveries WHERE delivered_at <= $1 OR gave_up_at <= $1",
        )
        .bind(before)
        .execute(&self.write)
        .await?
        .rows_affected())
    }

    /// Every delivery of a session, oldest first (for the admin and the tests).
    pub async fn logout_deliveries_of(&self, sid: &str) -> Result<Vec<LogoutDelivery>> {
        const OF_SESSION: &str = concat!(
            "SELECT ",
            columns!(),
            " FROM logout_deliveries WHERE sid = $1 ORDER BY created_at, client_id"
        );
        Ok(sqlx::query_as::<_, LogoutDelivery>(OF_SESSION)
            .bind(sid)
            .fetch_all(&self.read)
            .await?)
    }
}
