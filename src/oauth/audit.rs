//! The audit trail: every credential check, every admin change, every refused admin call.
//!
//! Each event is a row of `audit_log` (the admin pages and API read it, kept for
//! `audit.retention`) and the same event as a log line on the `gantry::audit` target, which
//! `logger.format: json` makes one JSON object per line for a SIEM to collect.
//! Nothing secret is recorded: no password, token or code, and no login that names nobody (it
//! may be a password typed into the wrong field): such a login is recorded as a keyed digest,
//! so a spray of one name is still seen as one name.

use std::net::IpAddr;

use serde_json::json;

use crate::identity::Identity;
use crate::oauth::Provider;
use crate::storage::audit::NewAuditEvent;

/// What a credential check concluded.
#[derive(Debug, Clone, Copy)]
pub enum Checked<'a> {
    Accepted(&'a Identity),
    Refused {
        known_login: bool,
    },
    /// Refused before any check: too many failures from this address. Logged, not stored: a
    /// locked guesser who keeps trying would otherwise write a row per try.
    Throttled,
    /// The connector could not answer (directory down).
    Unavailable,
}

/// One credential check: who typed what, where, through which path.
#[derive(Debug, Clone, Copy)]
pub struct CredentialCheck<'a> {
    /// `form` (the login page), `password_grant`, `registry`.
    pub via: &'a str,
    pub connector: &'a str,
    /// The login as typed.
    pub login: &'a str,
    pub checked: Checked<'a>,
    pub address: IpAddr,
    pub client: Option<&'a str>,
}

/// How long a recorded login may be; longer is clipped.
const MAX_LOGIN: usize = 256;

impl Provider {
    /// Append an event to the audit trail. Best effort: a failed write is logged and never
    /// fails (or reveals anything to) the request that caused it. Admin changes go through
    /// `Provider::audit_change` instead, which refuses the change when it cannot be recorded.
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        outcome: &str,
        detail: serde_json::Value,
    ) {
        if let Err(e) = self
            .append_audit_event(actor, action, target, outcome, &detail)
            .await
        {
            tracing::error!(error = %e, action, "audit log write failed");
        }
    }

    /// Write one event (row, then log line); the row's id.
    pub(crate) async fn append_audit_event(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        outcome: &str,
        detail: &serde_json::Value,
    ) -> crate::storage::Result<i64> {
        let request_id = crate::request_scope::current();
        let detail = detail.to_string();
        log_event(actor, action, target, outcome, &detail, &request_id);
        self.store
            .append_audit(NewAuditEvent {
                at: self.clock.now(),
                actor,
                action,
                target,
                outcome,
                detail: &detail,
                request_id: &request_id,
            })
            .await
    }

    /// The name an event records for a typed login (see the module's comment).
    pub(crate) fn audit_login_name(&self, login: &str, known: bool) -> String {
        if known {
            // One user's events under one name, however they typed its case.
            return login
                .trim()
                .to_lowercase()
                .chars()
                .take(MAX_LOGIN)
                .collect();
        }
        let folded = login.trim().to_lowercase();
        let digest = crate::secret::hmac_b64(&self.audit_key, folded.as_bytes());
        format!("unknown-login:{}", digest.get(..16).unwrap_or(&digest))
    }

    /// Record a credential check (action `login`, target the connector).
    pub(crate) async fn audit_credentials(&self, c: CredentialCheck<'_>) {
        let (actor, outcome, mut detail) = match c.checked {
            Checked::Accepted(id) => (
                who(id).to_string(),
                "success",
                json!({ "subject": id.subject() }),
            ),
            Checked::Refused { known_login } => (
                self.audit_login_name(c.login, known_login),
                "failure",
                json!({}),
            ),
            Checked::Throttled => (
                self.audit_login_name(c.login, false),
                "throttled",
                json!({}),
            ),
            Checked::Unavailable => (self.audit_login_name(c.login, false), "error", json!({})),
        };
        detail["via"] = json!(c.via);
        detail["address"] = json!(c.address);
        if let Some(client) = c.client {
            detail["client"] = json!(client);
        }
        if matches!(c.checked, Checked::Throttled) {
            log_only(&actor, "login", c.connector, outcome, &detail);
            return;
        }
        self.audit(&actor, "login", c.connector, outcome, detail)
            .await;
    }
}

impl Provider {
    /// Record a refused client authentication (a wrong or missing secret, an unknown client).
    /// A client id that names no client is recorded as a digest, like an unknown login.
    /// `locked`: refused unchecked, the address having failed too often: logged, not stored.
    pub(crate) async fn audit_client_auth(&self, id: &str, address: IpAddr, locked: bool) {
        let known = !id.is_empty() && self.clients.get(id).is_some();
        let actor = match known {
            true => format!("client:{id}"),
            false => self.audit_login_name(id, false),
        };
        let outcome = if locked { "throttled" } else { "failure" };
        let detail = json!({ "address": address });
        if locked {
            log_only(&actor, "client.auth", "", outcome, &detail);
            return;
        }
        self.audit(&actor, "client.auth", "", outcome, detail).await;
    }
}

/// The name an accepted identity is recorded under: the email, else the login name.
pub(crate) fn who(id: &Identity) -> &str {
    if id.email.is_empty() {
        &id.username
    } else {
        &id.email
    }
}

/// An event of the current request that is logged and not stored (see where it is called for
/// why each is not worth a row).
pub(crate) fn log_only(
    actor: &str,
    action: &str,
    target: &str,
    outcome: &str,
    detail: &serde_json::Value,
) {
    let request_id = crate::request_scope::current();
    log_event(
        actor,
        action,
        target,
        outcome,
        &detail.to_string(),
        &request_id,
    );
}

/// The event as a log line, for whoever ships logs rather than reads the table.
pub(crate) fn log_event(
    actor: &str,
    action: &str,
    target: &str,
    outcome: &str,
    detail: &str,
    request_id: &str,
) {
    tracing::info!(
        target: "gantry::audit",
        actor,
        action,
        audit_target = target,
        outcome,
        detail = %detail,
        request_id = %request_id,
        "audit"
    );
}
