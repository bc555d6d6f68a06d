//! The audit log: append, and read back newest first with filters, a page at a time.

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

/// What to list: every filter is an exact match when set; the times are a half-open range,
/// `since <= at < until`.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// Where a page of the audit log starts. Ids grow as events are appended, so a page is the
/// events on one side of an id: it reads the same rows however many are added meanwhile, and
/// costs the same on the thousandth page as on the first (OFFSET would read all the skipped).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum AuditCursor {
    /// The newest events.
    #[default]
    Newest,
    /// The events just older than this id.
    Before(i64),
    /// The events just newer than this id.
    After(i64),
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

/// Events of a filter older than an id, newest first; and newer than one, oldest first.
macro_rules! page_of_audit_log {
    ($id_and_order:literal) => {
        concat!(
            "SELECT id, at, actor, action, target, outcome, detail, request_id FROM audit_log \
             WHERE ($1 = '' OR actor = $1) AND ($2 = '' OR action = $2) AND at >= $3 \
             AND at < $4 AND ",
            $id_and_order,
            " LIMIT $6"
        )
    };
}
const OLDER: &str = page_of_audit_log!("id < $5 ORDER BY id DESC");
const NEWER: &str = page_of_audit_log!("id > $5 ORDER BY id ASC");

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

    /// Up to `limit` events of `f` next to `cursor`, newest first.
    pub async fn list_audit(
        &self,
        f: &AuditFilter,
        cursor: AuditCursor,
        limit: i64,
    ) -> Result<Vec<AuditEvent>> {
        // Unset filters bind values that match everything, so one statement serves all; the
        // events just newer than an id are the first ones counting up from it.
        let (newer, id) = match cursor {
            AuditCursor::Newest => (false, i64::MAX),
            AuditCursor::Before(id) => (false, id),
            AuditCursor::After(id) => (true, id),
        };
        let mut events = sqlx::query_as::<_, AuditEvent>(if newer { NEWER } else { OLDER })
            .bind(f.actor.clone().unwrap_or_default())
            .bind(f.action.clone().unwrap_or_default())
            .bind(f.since.unwrap_or(i64::MIN))
            .bind(f.until.unwrap_or(i64::MAX))
            .bind(id)
            .bind(limit)
            .fetch_all(&self.read)
            .await?;
        if newer {
            events.reverse();
        }
        Ok(events)
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
