//! Editing the policy: a saved policy replaces the config file's whole (in the database, so
//! every replica loads it), until an admin goes back to the file's. A policy is compiled
//! before it is saved, and one that would take the saving admin's own rights is refused.

use serde::{Deserialize, Serialize};

use super::{Admin, AdminError};
use crate::oauth::Provider;
use crate::policy::{Policy, PolicyConfig, Subject};

/// The policy in force, as the admin pages and API show it.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyView {
    /// "config" (the file's) or "database" (saved by an admin).
    pub source: &'static str,
    pub policy: PolicyConfig,
}

/// What an admin sends to replace the policy; `source` (as read) is ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyPut {
    pub policy: PolicyConfig,
    #[serde(default)]
    pub source: Option<String>,
}

/// Parse the YAML of the policy editor; errors say where.
pub fn parse_yaml(text: &str) -> Result<PolicyConfig, String> {
    if text.trim().is_empty() {
        return Ok(PolicyConfig::default());
    }
    serde_norway::from_str(text).map_err(|e| e.to_string())
}

impl Provider {
    pub fn policy_view(&self) -> PolicyView {
        let p = self.policy.get();
        PolicyView {
            source: p.source,
            policy: p.config.clone(),
        }
    }

    fn compile(&self, c: &PolicyConfig) -> Result<Policy, AdminError> {
        Policy::compile(c, &self.clusters).map_err(AdminError::BadRequest)
    }

    /// Whether `admin` keeps admin rights under `p`: nobody saves themselves out.
    fn keeps_admin(&self, admin: &Admin, p: &Policy) -> bool {
        match &admin.client {
            Some(c) => p.admins.clients.contains(c),
            None => p.is_admin(&Subject {
                connector: &admin.connector,
                connectors: &self.connector_ids(),
                user: &admin.name,
                email: &admin.email,
                groups: &admin.groups,
            }),
        }
    }

    pub(super) async fn reload_policy(&self) -> Result<(), AdminError> {
        let saved = match self.db.saved_policy().await? {
            None => None,
            Some(json) => {
                let parsed = serde_json::from_str::<PolicyConfig>(&json)
                    .map_err(|e| e.to_string())
                    .and_then(|c| Policy::compile(&c, &self.clusters).map(|p| (c, p)));
                match parsed {
                    Ok(x) => Some(x),
                    // Saved against other clusters (the config changed since): the file's
                    // policy serves until an admin saves a fitting one.
                    Err(e) => {
                        tracing::error!(error = %e, "saved policy does not compile; using the config file's");
                        None
                    }
                }
            }
        };
        self.policy.set(saved);
        Ok(())
    }

    pub async fn save_policy(
        &self,
        admin: &Admin,
        config: PolicyConfig,
    ) -> Result<PolicyView, AdminError> {
        let compiled = self.compile(&config)?;
        if !self.keeps_admin(admin, &compiled) {
            return Err(AdminError::Conflict(
                "admins: this policy would take away your own admin rights".into(),
            ));
        }
        let before = self.policy_view();
        let json =
            serde_json::to_string(&config).map_err(|e| AdminError::Internal(e.to_string()))?;
        self.db.save_policy(Some(&json)).await?;
        self.changed().await?;
        let after = self.policy_view();
        self.audit(
            &admin.actor(),
            "policy.update",
            "policy",
            "success",
            serde_json::json!({ "before": before, "after": after }),
        )
        .await;
        Ok(after)
    }

    /// Go back to the config file's policy.
    pub async fn reset_policy(&self, admin: &Admin) -> Result<PolicyView, AdminError> {
        if !self.keeps_admin(admin, &self.policy.file().compiled) {
            return Err(AdminError::Conflict(
                "admins: the config file's policy would take away your own admin rights".into(),
            ));
        }
        let before = self.policy_view();
        self.db.save_policy(None).await?;
        self.changed().await?;
        let after = self.policy_view();
        self.audit(
            &admin.actor(),
            "policy.reset",
            "policy",
            "success",
            serde_json::json!({ "before": before, "after": after }),
        )
        .await;
        Ok(after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editor_errors_say_where() {
        let e = parse_yaml("admins:\n  groups: [a]\nrules:\n  - nme: x\n").unwrap_err();
        assert!(e.contains("nme") && e.contains("line"), "{e}");
        assert!(parse_yaml("  ").unwrap().rules.is_empty());
    }
}
