//! Reading the audit trail a page at a time: the events of a filter and a time range on one
//! side of an event id, and the cursors to the pages beside it. The admin page and
//! `/api/v1/audit` both read it through here, so both check a request the same way.

use super::{AdminError, AdminService};
use crate::storage::audit::{AuditCursor, AuditEvent, AuditFilter};

/// The most events one page holds.
pub const MAX_PAGE: i64 = 500;

/// A page of the audit trail, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// `before` for the page of older events; none when no older event matches.
    pub older: Option<i64>,
    /// `after` for the page of newer events; none when no newer event matches.
    pub newer: Option<i64>,
}

/// Why a request for a page of the trail cannot be answered, in words for the one who asked.
fn check(filter: &AuditFilter, limit: i64) -> Result<(), AdminError> {
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(AdminError::BadRequest(format!(
            "limit: 1 to {MAX_PAGE} events a page"
        )));
    }
    if let (Some(since), Some(until)) = (filter.since, filter.until)
        && since >= until
    {
        return Err(AdminError::BadRequest(
            "the time range ends before it starts (or as it starts): its start must come before its end".into(),
        ));
    }
    Ok(())
}

impl AdminService {
    /// Up to `limit` events of `filter` next to `cursor`, and where the pages beside it start.
    pub async fn audit_page(
        &self,
        filter: &AuditFilter,
        cursor: AuditCursor,
        limit: i64,
    ) -> Result<AuditPage, AdminError> {
        check(filter, limit)?;
        // One event more than asked says whether there is another page that way.
        let mut events = self.db.list_audit(filter, cursor, limit + 1).await?;
        let more = events.len() as i64 > limit;
        let last = |events: &[AuditEvent]| events.last().map(|e| e.id);
        let (older, newer) = match cursor {
            // The newest page has nothing newer (until more is appended).
            AuditCursor::Newest => {
                events.truncate(limit as usize);
                (more.then(|| last(&events)).flatten(), None)
            }
            AuditCursor::Before(before) => {
                events.truncate(limit as usize);
                let edge = events
                    .first()
                    .map_or(before.saturating_sub(1).max(0), |e| e.id);
                let newer = self.any_beyond(filter, AuditCursor::After(edge)).await?;
                (more.then(|| last(&events)).flatten(), newer.then_some(edge))
            }
            AuditCursor::After(after) => {
                // Newest first: the extra event is the newest, beyond this page.
                if more {
                    events.remove(0);
                }
                let edge = last(&events).unwrap_or(after.saturating_add(1));
                let older = self.any_beyond(filter, AuditCursor::Before(edge)).await?;
                (
                    older.then_some(edge),
                    more.then(|| events.first().map(|e| e.id)).flatten(),
                )
            }
        };
        Ok(AuditPage {
            events,
            older,
            newer,
        })
    }

    /// Whether any event of `filter` lies beyond `cursor`.
    async fn any_beyond(
        &self,
        filter: &AuditFilter,
        cursor: AuditCursor,
    ) -> Result<bool, AdminError> {
        Ok(!self.db.list_audit(filter, cursor, 1).await?.is_empty())
    }
}
