//! Editing the policy: a saved policy replaces the config file's whole (in the database, so
//! every replica loads it), until an admin goes back to the file's. A policy is compiled
//! before it is saved, and one that would take the saving admin's own rights is refused. A
//! save or reset that names the version it read lands only on that version (see `version`).

use serde::{Deserialize, Serialize};

use super::AdminService;
use super::version::{self, Precondition};
use super::{Admin, AdminError};
use crate::policy::live::version_of;
use crate::policy::{Policy, PolicyConfig, Subject};

/// The policy in force, as the admin pages and API show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = PolicyDocument)]
#[serde(deny_unknown_fields)]
pub struct PolicyView {
    /// "config" (the file's) or "database" (saved by an admin).
    #[schema(schema_with = source_read_only, required = false)]
    pub source: &'static str,
    #[schema(schema_with = policy_schema)]
    pub policy: PolicyConfig,
    /// What a change expects (the API's ETag): not part of the document, which is sent back.
    #[serde(skip)]
    pub version: String,
}

/// `source` is sent back as read, and ignored.
fn source_read_only() -> utoipa::openapi::Object {
    let mut o = super::config_or_database();
    o.read_only = Some(true);
    o
}

/// The `policy:` section of the config, as `PolicyConfig` reads it.
fn policy_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{AdditionalProperties, SchemaType};
    use utoipa::openapi::{ArrayBuilder, ObjectBuilder, Type};
    let strings = || ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String));
    let closed =
        || ObjectBuilder::new().additional_properties(Some(AdditionalProperties::FreeForm(false)));
    let registry = closed()
        .property("repositories", strings())
        .property("actions", strings())
        .property("catalog", ObjectBuilder::new().schema_type(Type::Boolean));
    let kubernetes = closed()
        .property("clusters", strings())
        .property("namespaces", strings())
        .property("roles", strings())
        .property("clusterRoles", strings());
    let rule = closed()
        .property("name", ObjectBuilder::new().schema_type(Type::String))
        .required("name")
        .property(
            "effect",
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                .enum_values(Some([
                    serde_json::Value::from("allow"),
                    "deny".into(),
                    serde_json::Value::Null,
                ])),
        )
        .property("groups", strings())
        .property("users", strings())
        .property("registry", ArrayBuilder::new().items(registry))
        .property("kubernetes", ArrayBuilder::new().items(kubernetes));
    let admins = closed()
        .property("groups", strings())
        .property("users", strings())
        .property("clients", strings());
    closed()
        .property("admins", admins)
        .property("rules", ArrayBuilder::new().items(rule))
        .build()
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
pub fn parse_yaml(text: &str) -> Result<PolicyConfig, serde_norway::Error> {
    if text.trim().is_empty() {
        return Ok(PolicyConfig::default());
    }
    if let Some(why) = crate::config::yaml_too_deep(text) {
        return Err(serde::de::Error::custom(why));
    }
    serde_norway::from_str(text)
}

impl AdminService {
    pub fn policy_view(&self) -> PolicyView {
        let p = self.core.policy.get();
        PolicyView {
            source: p.source,
            policy: p.config.clone(),
            version: p.version.clone(),
        }
    }

    fn compile(&self, c: &PolicyConfig) -> Result<Policy, AdminError> {
        Policy::compile(c, &self.core.clusters).map_err(|e| AdminError::BadRequest(e.to_string()))
    }

    /// Whether `admin` keeps admin rights under `p`: nobody saves themselves out.
    fn keeps_admin(&self, admin: &Admin, p: &Policy) -> bool {
        match &admin.client {
            Some(c) => p.admins.clients.contains(c),
            None => p.is_admin(&Subject {
                connector: &admin.connector,
                connectors: &self.core.connector_ids(),
                user: &admin.name,
                email: &admin.email,
                groups: &admin.groups,
            }),
        }
    }

    pub(super) async fn reload_policy(&self) -> Result<(), AdminError> {
        let stored = self.db.saved_policy().await?;
        let version = version_of(stored.as_deref(), &self.core.policy.file().config);
        let saved = match stored {
            None => None,
            Some(json) => {
                let parsed = serde_json::from_str::<PolicyConfig>(&json)
                    .map_err(|e| e.to_string())
                    .and_then(|c| {
                        Policy::compile(&c, &self.core.clusters)
                            .map(|p| (c, p))
                            .map_err(|e| e.to_string())
                    });
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
        self.core.policy.set(saved, version);
        Ok(())
    }

    /// Replace what is saved with `json` (`None`: go back to the file's), if `expect` holds
    /// for what is saved now. Without a precondition, a write that another got ahead of is
    /// tried again on what that one saved.
    async fn write_policy(
        &self,
        json: Option<&str>,
        expect: Option<&Precondition>,
    ) -> Result<(), AdminError> {
        for _ in 0..version::TRIES {
            let stored = self.db.saved_policy().await?;
            let current = version_of(stored.as_deref(), &self.core.policy.file().config);
            if !version::holds(expect, &current) {
                return Err(stale());
            }
            if self.db.save_policy(json, stored.as_deref()).await? {
                return Ok(());
            }
            if expect.is_some() {
                return Err(stale());
            }
        }
        Err(AdminError::Unavailable(
            "the policy kept changing while it was being saved".into(),
        ))
    }

    pub async fn save_policy(
        &self,
        admin: &Admin,
        config: PolicyConfig,
        expect: Option<&Precondition>,
    ) -> Result<PolicyView, AdminError> {
        let change = self.audit_change(admin, "policy.update", "policy").await?;
        let compiled = self.compile(&config)?;
        if !self.keeps_admin(admin, &compiled) {
            return Err(AdminError::Conflict(
                "admins: this policy would take away your own admin rights".into(),
            ));
        }
        let before = self.policy_view();
        let admin_clients = self.core.policy.get().compiled.admins.clients.clone();
        let json =
            serde_json::to_string(&config).map_err(|e| AdminError::Internal(e.to_string()))?;
        self.write_policy(Some(&json), expect).await?;
        self.changed().await?;
        self.end_tokens_of_dropped_clients(&admin_clients).await?;
        let after = self.policy_view();
        change
            .succeeded(serde_json::json!({ "before": before, "after": after }))
            .await;
        Ok(after)
    }

    /// Go back to the config file's policy.
    pub async fn reset_policy(
        &self,
        admin: &Admin,
        expect: Option<&Precondition>,
    ) -> Result<PolicyView, AdminError> {
        let change = self.audit_change(admin, "policy.reset", "policy").await?;
        if !self.keeps_admin(admin, &self.core.policy.file().compiled) {
            return Err(AdminError::Conflict(
                "admins: the config file's policy would take away your own admin rights".into(),
            ));
        }
        let before = self.policy_view();
        let admin_clients = self.core.policy.get().compiled.admins.clients.clone();
        self.write_policy(None, expect).await?;
        self.changed().await?;
        self.end_tokens_of_dropped_clients(&admin_clients).await?;
        let after = self.policy_view();
        change
            .succeeded(serde_json::json!({ "before": before, "after": after }))
            .await;
        Ok(after)
    }
}

fn stale() -> AdminError {
    AdminError::Stale("the policy was changed since the version this change expects".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editor_errors_say_where() {
        let e = parse_yaml("admins:\n  groups: [a]\nrules:\n  - nme: x\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("nme") && e.contains("line"), "{e}");
        assert!(parse_yaml("  ").unwrap().rules.is_empty());
    }
}
