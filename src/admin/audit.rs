//! Admin changes are recorded before they are made.
//!
//! The event is written first, as `started`: when it cannot be written the change is refused
//! (503), so no change goes unrecorded. It becomes `success` once the change is made, or
//! `failure` when the change is refused or fails. An event left `started` means the process
//! stopped, or lost its database, in between: the object must be checked. Writing the change and
//! its event in one transaction would close that window, at the price of every storage write
//! taking a transaction; the window leaves a trace instead of a gap, which is what an auditor
//! needs.

use serde_json::json;

use super::AdminService;
use super::{Admin, AdminError};
use crate::oauth::audit::log_event;
use crate::storage::Db;

/// An admin change under way; `succeeded` records its end, dropping it records a failure.
#[derive(Debug)]
pub(crate) struct Change {
    db: Db,
    id: i64,
    actor: String,
    action: String,
    target: String,
    /// Kept: a failure is recorded from a task of its own, outside the request.
    request_id: String,
    done: bool,
}

impl AdminService {
    /// Record that `admin` starts `action` on `target`; refuses when that cannot be recorded.
    pub(crate) async fn audit_change(
        &self,
        admin: &Admin,
        action: &str,
        target: &str,
    ) -> Result<Change, AdminError> {
        let actor = admin.actor();
        let request_id = crate::request_scope::current();
        let id = self
            .db
            .append_audit(crate::storage::audit::NewAuditEvent {
                at: self.core.clock.now(),
                actor: &actor,
                action,
                target,
                outcome: "started",
                detail: "{}",
                request_id: &request_id,
            })
            .await
            .map_err(|e| {
                tracing::error!(error = %e, action, "audit log write failed: change refused");
                AdminError::Unavailable(format!("the audit log cannot be written: {e}"))
            })?;
        Ok(Change {
            db: self.db.clone(),
            id,
            actor,
            action: action.into(),
            target: target.into(),
            request_id,
            done: false,
        })
    }
}

impl Change {
    pub async fn succeeded(mut self, detail: serde_json::Value) {
        self.done = true;
        let e = Ended {
            id: self.id,
            actor: &self.actor,
            action: &self.action,
            target: &self.target,
            request_id: &self.request_id,
        };
        finish(&self.db, e, "success", detail).await;
    }
}

impl Drop for Change {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (db, id) = (self.db.clone(), self.id);
        let (actor, action, target, request_id) = (
            std::mem::take(&mut self.actor),
            std::mem::take(&mut self.action),
            std::mem::take(&mut self.target),
            std::mem::take(&mut self.request_id),
        );
        rt.spawn(async move {
            let e = Ended {
                id,
                actor: &actor,
                action: &action,
                target: &target,
                request_id: &request_id,
            };
            finish(&db, e, "failure", json!({})).await;
        });
    }
}

/// The event a change started.
struct Ended<'a> {
    id: i64,
    actor: &'a str,
    action: &'a str,
    target: &'a str,
    request_id: &'a str,
}

async fn finish(db: &Db, e: Ended<'_>, outcome: &str, detail: serde_json::Value) {
    let detail = detail.to_string();
    log_event(e.actor, e.action, e.target, outcome, &detail, e.request_id);
    if let Err(err) = db.finish_audit(e.id, outcome, &detail).await {
        tracing::error!(error = %err, action = e.action, id = e.id, "audit log: the change's outcome was not recorded");
    }
}
