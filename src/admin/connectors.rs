//! Connectors as an admin manages them: those of the config file are read-only; those created
//! here live in the database, their secrets (`bindPW`, `clientSecret`) sealed and never shown
//! again. Every replica rebuilds a connector when its row's version changes, and a change that
//! names the version it read lands only on that version (see `version`).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::AdminService;
use super::connector_secrets::secret_moves;
use super::version::{self, Precondition};
use super::{Admin, AdminError, check_id};
use crate::config::{ConnectorConfig, ConnectorKind};
use crate::connector::probe::Outcome;
use crate::connector::set::Dynamic;
use crate::connector::{Connector, secret_keys};
use crate::storage::connectors::ConnectorRow;

/// The connector types admins may create (Dex's names).
pub const KINDS: [&str; ConnectorKind::CONFIGURABLE.len()] = {
    let mut names = [""; ConnectorKind::CONFIGURABLE.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = ConnectorKind::CONFIGURABLE[i].as_str();
        i += 1;
    }
    names
};

/// A connector as the admin pages and API show it; its secrets only as set or not.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Connector)]
pub struct ConnectorView {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// "config" (read-only), "builtin" (the password database) or "database".
    #[schema(schema_with = view_sources)]
    pub source: &'static str,
    /// The config block without secrets.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    /// Each secret key of the type, and whether it has a value.
    #[schema(value_type = std::collections::BTreeMap<String, bool>)]
    pub secrets: serde_json::Map<String, serde_json::Value>,
    /// What a change expects (the API's ETag); none for the config file's and the built-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub version: Option<String>,
}

/// What a connector test found, in the fixed words of `connector::probe` (the cause of a
/// failure goes to the log, never here).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProbeResult {
    pub ok: bool,
    /// One of a fixed set: refused, timed out and any unexpected answer are all `unreachable`;
    /// the cause is in the server log.
    #[schema(schema_with = outcomes)]
    pub outcome: Outcome,
    pub facts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub error: Option<String>,
}

/// What an admin sends to create or change a connector. A secret key left out of `config`
/// keeps its stored value on a change that leaves where and how it is sent alone (see
/// `secret_stays_put`); `null` clears it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectorSpec {
    #[serde(rename = "type")]
    #[schema(schema_with = kinds)]
    pub kind: String,
    #[schema(min_length = 1, max_length = 128, pattern = "\\S")]
    pub name: String,
    /// The keys of Dex's connector config for the type; bindPW and clientSecret are write-only.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
}

/// The types of connector an admin can create.
pub fn kinds() -> utoipa::openapi::Object {
    super::one_of_strings(&KINDS)
}

fn view_sources() -> utoipa::openapi::Object {
    super::one_of_strings(&["config", "builtin", "database"])
}

/// The words of `Outcome`, as it serializes.
fn outcomes() -> utoipa::openapi::Object {
    super::one_of_strings(&[
        "ok",
        "unreachable",
        "denied_network",
        "tls_failed",
        "not_openid_provider",
        "keys_unreadable",
        "client_refused",
        "bind_failed",
        "base_not_found",
        "search_failed",
    ])
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

fn purpose(id: &str) -> String {
    format!("connector-secrets:{id}")
}

/// The stored state of a connector being changed.
struct Previous {
    /// None for a stored `type` Gantry no longer builds: a change of type, then.
    kind: Option<ConnectorKind>,
    config: serde_json::Map<String, serde_json::Value>,
    secrets: serde_json::Map<String, serde_json::Value>,
}

/// Why a connector saved in the database cannot be built again.
#[derive(Debug, thiserror::Error)]
enum StoredConnectorError {
    #[error("stored config: {0}")]
    Config(serde_json::Error),
    #[error("its secrets do not open with the configured encryption keys")]
    Sealed,
    #[error("stored secrets: {0}")]
    Secrets(serde_json::Error),
    #[error("{0}")]
    Build(String),
}

impl AdminService {
    pub fn connector_views(&self) -> Vec<ConnectorView> {
        self.core
            .connectors
            .all()
            .iter()
            .map(|c| self.connector_view(c))
            .collect()
    }

    fn connector_view(&self, c: &Connector) -> ConnectorView {
        let source = if c.kind() == ConnectorKind::Local {
            "builtin"
        } else if self.core.connectors.is_static(c.id()) {
            "config"
        } else {
            "database"
        };
        ConnectorView {
            id: c.id().to_string(),
            name: c.name().to_string(),
            kind: c.kind().as_str(),
            source,
            config: c.shown_config().clone(),
            secrets: secret_keys(c.kind())
                .iter()
                .map(|k| {
                    let set = c.secrets_set().iter().any(|s| s == k);
                    ((*k).to_string(), serde_json::Value::Bool(set))
                })
                .collect(),
            version: self
                .core
                .connectors
                .dynamic()
                .iter()
                .find(|d| d.connector.id() == c.id())
                .map(|d| d.version.clone()),
        }
    }

    pub fn connector_view_of(&self, id: &str) -> Option<ConnectorView> {
        self.core.connector(id).map(|c| self.connector_view(&c))
    }

    /// Run a connector's test and audit it.
    pub async fn test_connector(&self, admin: &Admin, id: &str) -> Result<ProbeResult, AdminError> {
        let Some(c) = self.core.connector(id) else {
            return Err(AdminError::NotFound);
        };
        let p = c.probe(self.core.clock.now()).await;
        if let Some(cause) = &p.detail {
            tracing::warn!(connector = %id, outcome = ?p.outcome, cause = %cause, "connector test failed");
        }
        let r = ProbeResult {
            ok: p.ok(),
            outcome: p.outcome,
            error: (!p.ok()).then(|| p.outcome.says().to_string()),
            facts: p.facts,
        };
        self.core
            .audit(
                &admin.actor(),
                "connector.test",
                id,
                if r.ok { "success" } else { "failure" },
                serde_json::json!({ "outcome": r.outcome }),
            )
            .await;
        Ok(r)
    }

    /// Build this replica's database connectors, reusing those whose row did not change.
    pub(super) async fn reload_connectors(&self) -> Result<(), AdminError> {
        let rows = self.db.list_connectors().await?;
        let old = self.core.connectors.dynamic();
        let mut list = Vec::new();
        for r in rows {
            if let Some(d) = old
                .iter()
                .find(|d| d.connector.id() == r.id && d.version == r.version)
            {
                list.push(d.clone());
                continue;
            }
            match self.build_connector(&r) {
                Ok(c) => {
                    let c = Arc::new(c);
                    if c.is_callback() {
                        tokio::spawn(crate::connector::warm_up::warm_up(Arc::downgrade(&c)));
                    }
                    list.push(Dynamic {
                        version: r.version.clone(),
                        connector: c,
                    });
                }
                // Only a changed encryption key gets here: what was saved was built once.
                Err(e) => {
                    tracing::error!(connector = %r.id, error = %e, "database connector left out")
                }
            }
        }
        self.core.connectors.replace_dynamic(list);
        Ok(())
    }

    fn build_connector(&self, r: &ConnectorRow) -> Result<Connector, StoredConnectorError> {
        let mut config: serde_json::Value =
            serde_json::from_str(&r.config).map_err(StoredConnectorError::Config)?;
        let secrets = self
            .core
            .sealer
            .open(&purpose(&r.id), &r.secrets)
            .ok_or(StoredConnectorError::Sealed)?;
        let secrets: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&secrets).map_err(StoredConnectorError::Secrets)?;
        if let Some(o) = config.as_object_mut() {
            o.extend(secrets);
        }
        Connector::from_config(
            &ConnectorConfig {
                kind: r.kind.clone(),
                id: r.id.clone(),
                name: r.name.clone(),
                config,
                max_in_flight: None,
                grant_types: Vec::new(),
            },
            &self.core.sealer,
            &self.deny_networks,
        )
        .map_err(StoredConnectorError::Build)
    }

    /// Check a spec, fill in what Gantry knows (the callback URL), and split it into the row
    /// to store; `previous` is the connector being changed, whose secrets the spec may keep.
    fn connector_row(
        &self,
        id: &str,
        spec: &ConnectorSpec,
        previous: Option<Previous>,
        created_at: i64,
    ) -> Result<ConnectorRow, AdminError> {
        if let Some(m) = check_id(id) {
            return Err(AdminError::BadRequest(format!("id: {m}")));
        }
        let Some(kind) = ConnectorKind::parse(&spec.kind) else {
            return Err(AdminError::BadRequest(format!(
                "type: one of {}",
                KINDS.join(", ")
            )));
        };
        if !super::users::has_visible(&spec.name) || spec.name.chars().count() > 128 {
            return Err(AdminError::BadRequest(
                "name: a name of 1 to 128 characters".into(),
            ));
        }
        let Some(given) = spec.config.as_object() else {
            return Err(AdminError::BadRequest(
                "config: an object of the connector type's settings".into(),
            ));
        };
        let mut config = given.clone();
        if kind != ConnectorKind::Ldap && !config.contains_key("redirectURI") {
            config.insert(
                "redirectURI".into(),
                format!("{}/callback", self.core.issuer.trim_end_matches('/')).into(),
            );
        }
        let mut secrets = serde_json::Map::new();
        let mut carried = Vec::new();
        for k in secret_keys(kind) {
            match config.remove(*k) {
                Some(serde_json::Value::Null) => {}
                Some(v) => {
                    secrets.insert((*k).to_string(), v);
                }
                None => {
                    if let Some(v) = previous.as_ref().and_then(|p| p.secrets.get(*k)) {
                        secrets.insert((*k).to_string(), v.clone());
                        carried.push(*k);
                    }
                }
            }
        }
        if let Some(p) = previous.as_ref().filter(|_| !carried.is_empty()) {
            let moved = secret_moves(p.kind, &p.config, kind, &config);
            if !moved.is_empty() {
                return Err(AdminError::BadRequest(format!(
                    "config.{}: required again, because {} changed: a stored secret is kept \
                     only while the settings that decide where and how it is sent stay the same",
                    carried.join(", config."),
                    moved.join(", ")
                )));
            }
        }
        let mut full = config.clone();
        full.extend(secrets.clone());
        // Built once here so that what is saved is known to work as a config.
        Connector::from_config(
            &ConnectorConfig {
                kind: kind.as_str().to_string(),
                id: id.to_string(),
                name: spec.name.trim().to_string(),
                config: serde_json::Value::Object(full),
                max_in_flight: None,
                grant_types: Vec::new(),
            },
            &self.core.sealer,
            &self.deny_networks,
        )
        .map_err(AdminError::BadRequest)?;
        let now = self.core.clock.now();
        Ok(ConnectorRow {
            id: id.to_string(),
            kind: kind.as_str().to_string(),
            name: spec.name.trim().to_string(),
            config: serde_json::Value::Object(config).to_string(),
            secrets: self.core.sealer.seal(
                &purpose(id),
                serde_json::Value::Object(secrets).to_string().as_bytes(),
            ),
            version: version::fresh(),
            created_at: created_at.min(now),
            updated_at: now,
        })
    }

    fn read_only(&self, id: &str) -> Result<(), AdminError> {
        if id == "local" || self.core.connectors.is_static(id) {
            return Err(AdminError::Conflict(format!(
                "id: {id} is defined by the config file and is read-only here"
            )));
        }
        Ok(())
    }

    pub async fn create_connector(
        &self,
        admin: &Admin,
        id: &str,
        spec: &ConnectorSpec,
    ) -> Result<ConnectorView, AdminError> {
        let change = self.audit_change(admin, "connector.create", id).await?;
        self.read_only(id)?;
        let row = self.connector_row(id, spec, None, i64::MAX)?;
        if !self.db.insert_connector(&row).await? {
            return Err(AdminError::Conflict(format!("id: {id} already exists")));
        }
        self.changed().await?;
        let view = self.connector_view_of(id).ok_or(AdminError::NotFound)?;
        change
            .succeeded(serde_json::json!({ "after": audit_view(&view) }))
            .await;
        Ok(view)
    }

    /// Change a database connector, if `expect` holds for its version; secrets left out of
    /// the config stay as they were, if the change does not send them anywhere new.
    pub async fn update_connector(
        &self,
        admin: &Admin,
        id: &str,
        spec: &ConnectorSpec,
        expect: Option<&Precondition>,
    ) -> Result<ConnectorView, AdminError> {
        let change = self.audit_change(admin, "connector.update", id).await?;
        self.read_only(id)?;
        let before = self.connector_view_of(id);
        let mut written = false;
        for _ in 0..version::TRIES {
            let Some(old) = self.db.get_connector_fresh(id).await? else {
                return Err(AdminError::NotFound);
            };
            if !version::holds(expect, &old.version) {
                return Err(stale(id));
            }
            let previous = Previous {
                kind: ConnectorKind::parse(&old.kind),
                config: serde_json::from_str(&old.config).unwrap_or_default(),
                secrets: self
                    .core
                    .sealer
                    .open(&purpose(id), &old.secrets)
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .unwrap_or_default(),
            };
            // Built from the stored row just read: the secrets it keeps are that row's.
            let row = self.connector_row(id, spec, Some(previous), old.created_at)?;
            if self.db.update_connector_row(&row, &old.version).await? {
                written = true;
                break;
            }
            if expect.is_some() {
                return Err(stale(id));
            }
        }
        if !written {
            return Err(AdminError::Unavailable(format!(
                "connector {id} kept changing while it was being changed"
            )));
        }
        self.changed().await?;
        let view = self.connector_view_of(id).ok_or(AdminError::NotFound)?;
        change
            .succeeded(serde_json::json!({
                "before": before.as_ref().map(audit_view),
                "after": audit_view(&view),
                "secrets_changed": ConnectorKind::parse(&spec.kind).map_or(&[][..], secret_keys).iter()
                    .filter(|k| spec.config.get(**k).is_some()).collect::<Vec<_>>(),
            }))
            .await;
        Ok(view)
    }

    /// Delete a database connector, if `expect` holds for its version. Logins through it end
    /// at their next refresh.
    pub async fn delete_connector(
        &self,
        admin: &Admin,
        id: &str,
        expect: Option<&Precondition>,
    ) -> Result<(), AdminError> {
        let change = self.audit_change(admin, "connector.delete", id).await?;
        self.read_only(id)?;
        let before = self.connector_view_of(id);
        if let Some(p) = expect {
            let Some(old) = self.db.get_connector_fresh(id).await? else {
                return Err(AdminError::NotFound);
            };
            if !p.holds(&old.version) || !self.db.delete_connector(id, Some(&old.version)).await? {
                return Err(stale(id));
            }
        } else if !self.db.delete_connector(id, None).await? {
            return Err(AdminError::NotFound);
        }
        self.changed().await?;
        change
            .succeeded(serde_json::json!({ "before": before.as_ref().map(audit_view) }))
            .await;
        Ok(())
    }
}

fn stale(id: &str) -> AdminError {
    AdminError::Stale(format!(
        "connector {id} was changed since the version this change expects"
    ))
}

fn audit_view(v: &ConnectorView) -> serde_json::Value {
    serde_json::json!({ "type": v.kind, "name": v.name, "config": v.config })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::without_secrets;

    #[test]
    fn the_api_document_names_every_probe_outcome_as_it_is_sent() {
        use Outcome::*;
        let all = [
            Ok,
            Unreachable,
            DeniedNetwork,
            TlsFailed,
            NotOpenidProvider,
            KeysUnreadable,
            ClientRefused,
            BindFailed,
            BaseNotFound,
            SearchFailed,
        ];
        // Exhaustive: a new outcome does not compile here until it is listed above.
        for o in all {
            match o {
                Ok | Unreachable | DeniedNetwork | TlsFailed | NotOpenidProvider
                | KeysUnreadable | ClientRefused | BindFailed | BaseNotFound | SearchFailed => {}
            }
        }
        let sent: Vec<serde_json::Value> = all
            .iter()
            .map(|o| serde_json::to_value(o).unwrap())
            .collect();
        let documented = serde_json::to_value(outcomes()).unwrap();
        assert_eq!(documented["enum"], serde_json::Value::Array(sent));
    }

    #[test]
    fn secrets_are_split_off_what_is_shown() {
        let (shown, set) = without_secrets(
            ConnectorKind::Ldap,
            &serde_json::json!({"host": "h", "bindPW": "pw", "bindDN": "cn=x"}),
        );
        assert_eq!(shown, serde_json::json!({"host": "h", "bindDN": "cn=x"}));
        assert_eq!(set, vec!["bindPW".to_string()]);
        let (_, set) = without_secrets(
            ConnectorKind::Oidc,
            &serde_json::json!({"clientSecret": ""}),
        );
        assert!(set.is_empty(), "an empty secret is not a set one");
    }

    #[test]
    fn connector_ids_stay_plain() {
        assert!(check_id("corp-ldap_2.x").is_none());
        for bad in ["", "a b", "a/b", "é", &"x".repeat(65)] {
            assert!(check_id(bad).is_some(), "{bad}");
        }
    }
}
