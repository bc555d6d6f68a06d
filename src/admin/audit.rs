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

use super::{Admin, AdminError};
use crate::oauth::Provider;
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
    done: bool,
}

impl Provider {
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
                at: self.clock.now(),
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
            done: false,
        })
    }
}

impl Change {
    pub async fn succeeded(mut self, detail: serde_json::Value) {
        self.done = true;
        finish(
            &self.db,
            self.id,
            &self.actor,
            &self.action,
            &self.target,
            "success",
            detail,
        )
        .await;
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
        let (actor, action, target) = (
            std::mem::take(&mut self.actor),
            std::mem::take(&mut self.action),
            std::mem::take(&mut self.target),
        );
        rt.spawn(async move {
            finish(&db, id, &actor, &action, &target, "failure", json!({})).await;
        });
    }
}

async fn finish(
    db: &Db,
    id: i64,
    actor: &str,
    action: &str,
    target: &str,
    outcome: &str,
    detail: serde_json::Value,
) {
    let detail = detail.to_string();
    log_event(
        actor,
        action,
        target,
        outcome,
        &detail,
        &crate::request_scope::current(),
    );
    if let Err(e) = db.finish_audit(id, outcome, &detail).await {
        tracing::error!(error = %e, action, id, "audit log: the change's outcome was not recorded");
    }
}
