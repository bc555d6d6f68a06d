//! The audit log: append, and read back newest first with filters.

use serde::Serialize;
use sqlx::FromRow;

use super::{Db, Result};

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct AuditEvent {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    /// JSON; never holds a secret.
    pub detail: String,
    /// The request that caused it ('' for background tasks).
    pub request_id: String,
}

/// What to list: every filter is an exact match when set.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub since: Option<i64>,
}

/// An event to append.
#[derive(Debug, Clone, Copy)]
pub struct NewAuditEvent<'a> {
    pub at: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub outcome: &'a str,
    pub detail: &'a str,
    pub request_id: &'a str,
}

impl Db {
    /// Append an event; its id.
    pub async fn append_audit(&self, e: NewAuditEvent<'_>) -> Result<i64> {
        let NewAuditEvent {
            at,
            actor,
            action,
            target,
            outcome,
            detail,
            request_id,
        } = e;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO audit_log (at, actor, action, target, outcome, detail, request_id) \
             VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING id",
        )
        .bind(at)
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(outcome)
        .bind(detail)
        .bind(request_id)
        .fetch_one(&self.write)
        .await?;
        Ok(id)
    }

    /// Record how an event recorded as `started` ended.
    pub async fn finish_audit(&self, id: i64, outcome: &str, detail: &str) -> Result<()> {
        sqlx::query("UPDATE audit_log SET outcome = $1, detail = $2 WHERE id = $3")
            .bind(outcome)
            .bind(detail)
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Newest first; `before`: only events with a smaller id (the next page's cursor).
    pub async fn list_audit(
        &self,
        f: &AuditFilter,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEvent>> {
        // Unset filters bind values that match everything, so one statement serves all.
        Ok(sqlx::query_as::<_, AuditEvent>(
            "SELECT id, at, actor, action, target, outcome, detail, request_id FROM audit_log \
             WHERE ($1 = '' OR actor = $1) AND ($2 = '' OR action = $2) AND at >= $3 AND id < $4 \
             ORDER BY id DESC LIMIT $5",
        )
        .bind(f.actor.clone().unwrap_or_default())
        .bind(f.action.clone().unwrap_or_default())
        .bind(f.since.unwrap_or(0))
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.read)
        .await?)
    }

    /// How many events of `action` with `outcome` happened since `since`.
    pub async fn count_audit(&self, action: &str, outcome: &str, since: i64) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM audit_log WHERE action = $1 AND outcome = $2 AND at >= $3",
        )
        .bind(action)
        .bind(outcome)
        .bind(since)
        .fetch_one(&self.read)
        .await?;
        Ok(n)
    }
}
