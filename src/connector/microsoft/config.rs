//! The `type: microsoft` connector config, in Dex's keys and meaning
//! (connector/microsoft/microsoft.go). Gantry adds `timeout` and `insecureAllowHTTP`.

use serde::Deserialize;

use crate::connector::ConnectorConfigError;
use crate::connector::plain_http;
use crate::connector::upstream;

/// Tenants that are no organization: Dex reads no groups for them (Graph's group calls need a
/// directory to ask).
const NOT_AN_ORGANIZATION: [&str; 3] = ["common", "consumers", "organizations"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MicrosoftConfig {
    #[serde(rename = "clientID")]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: String,
    /// Dex: a file holding a federated client assertion instead of a secret. Refused for now.
    pub client_assertion: Option<String>,
    #[serde(rename = "redirectURI")]
    pub redirect_uri: String,
    /// `common` (Dex's default), `consumers`, `organizations`, or a tenant id or domain.
    #[serde(default)]
    pub tenant: String,
    #[serde(default)]
    pub only_security_groups: bool,
    /// Dex: a user must be in one of these (only for a tenant that is an organization).
    #[serde(default)]
    pub groups: Vec<String>,
    /// `name` (Dex's default) or `id`.
    #[serde(default)]
    pub group_name_format: String,
    #[serde(default)]
    pub use_groups_as_whitelist: bool,
    #[serde(default)]
    pub email_to_lowercase: bool,
    /// Dex: resolve group ids in batches of 1000, Graph's most per `getByIds` call.
    #[serde(default)]
    pub batch_group_lookups: bool,
    #[serde(rename = "apiURL")]
    pub api_url: Option<String>,
    #[serde(rename = "graphURL")]
    pub graph_url: Option<String>,
    /// Sent as `prompt` when set (Dex sends none by default).
    #[serde(default)]
    pub prompt_type: String,
    #[serde(default)]
    pub domain_hint: String,
    /// Dex's default: `user.read`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// `name`, `email`, `mailNickname` or `onPremisesSamAccountName`; unset leaves
    /// `preferred_username` empty.
    #[serde(default)]
    pub preferred_username_field: String,
    /// Gantry: timeout of each call to Microsoft, a duration such as "10s".
    pub timeout: Option<String>,
    /// Gantry: talk to `apiURL`/`graphURL` over plain http on a host that is not loopback.
    #[serde(default, rename = "insecureAllowHTTP")]
    pub insecure_allow_http: bool,
}

/// Group ids as Graph gives them, or resolved to display names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupNameFormat {
    Name,
    Id,
}

impl MicrosoftConfig {
    pub fn from_value(v: &serde_json::Value) -> Result<MicrosoftConfig, ConnectorConfigError> {
        let c: MicrosoftConfig = crate::connector::parse_config(v)?;
        if c.client_id.is_empty() {
            return Err(ConnectorConfigError::Required("clientID"));
        }
        if c.client_assertion.is_some() {
            return Err(ConnectorConfigError::Rule(
                "config.clientAssertion is not supported yet: use clientSecret",
            ));
        }
        url::Url::parse(&c.redirect_uri).map_err(|source| ConnectorConfigError::NotAUrl {
            key: "redirectURI".into(),
            source,
        })?;
        for (k, u) in [("apiURL", c.api_url()), ("graphURL", c.graph_url())] {
            plain_http::check(&format!("config.{k}"), &u, c.insecure_allow_http)?;
        }
        c.group_name_format()?;
        if !c.preferred_username_field.is_empty()
            && !matches!(
                c.preferred_username_field.as_str(),
                "name" | "email" | "mailNickname" | "onPremisesSamAccountName"
            )
        {
            return Err(ConnectorConfigError::Value {
                key: "preferredUsernameField".into(),
                value: c.preferred_username_field.clone(),
                problem: "expected name, email, mailNickname or onPremisesSamAccountName",
            });
        }
        if c.tenant.contains(['/', '?', '#']) {
            return Err(ConnectorConfigError::Value {
                key: "tenant".into(),
                value: c.tenant.clone(),
                problem: "a tenant id or domain, or common, consumers or organizations",
            });
        }
        if !c.groups.is_empty() && !c.is_org_tenant() {
            // Dex ignores `groups` here and lets everyone in: refuse rather than fail open.
            return Err(ConnectorConfigError::Rule(
                "config.groups needs config.tenant set to an organization's tenant id or domain: \
                 Microsoft lists no groups for common, consumers or organizations",
            ));
        }
        c.timeout()?;
        Ok(c)
    }

    pub fn timeout(&self) -> Result<std::time::Duration, ConnectorConfigError> {
        upstream::check_common(false, None, self.timeout.as_deref())
    }

    pub fn tenant(&self) -> &str {
        if self.tenant.is_empty() {
            "common"
        } else {
            &self.tenant
        }
    }

    pub fn is_org_tenant(&self) -> bool {
        !NOT_AN_ORGANIZATION.contains(&self.tenant())
    }

    pub fn api_url(&self) -> String {
        self.api_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .unwrap_or("https://login.microsoftonline.com")
            .trim_end_matches('/')
            .to_string()
    }

    pub fn graph_url(&self) -> String {
        self.graph_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .unwrap_or("https://graph.microsoft.com")
            .trim_end_matches('/')
            .to_string()
    }

    pub fn group_name_format(&self) -> Result<GroupNameFormat, ConnectorConfigError> {
        match self.group_name_format.as_str() {
            "" | "name" => Ok(GroupNameFormat::Name),
            "id" => Ok(GroupNameFormat::Id),
            other => Err(ConnectorConfigError::Value {
                key: "groupNameFormat".into(),
                value: other.to_string(),
                problem: "expected name or id",
            }),
        }
    }

    /// Dex's `groupsRequired`: groups are read when the config names some or the client asks
    /// for them, and only from an organization's tenant.
    pub fn groups_required(&self, groups_scope: bool) -> bool {
        (!self.groups.is_empty() || groups_scope) && self.is_org_tenant()
    }

    /// The scopes asked of Microsoft, as Dex asks them.
    pub fn scopes(&self, groups_scope: bool, offline: bool) -> Vec<String> {
        let mut s = if self.scopes.is_empty() {
            vec!["user.read".to_string()]
        } else {
            self.scopes.clone()
        };
        if self.groups_required(groups_scope) {
            s.push("directory.read.all".into());
        }
        if offline {
            s.push("offline_access".into());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(extra: serde_json::Value) -> Result<MicrosoftConfig, String> {
        let mut c = json!({"clientID": "app", "clientSecret": "s",
                           "redirectURI": "https://id.example.com/callback"});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        MicrosoftConfig::from_value(&c).map_err(|e| e.to_string())
    }

    #[test]
    fn dex_defaults_and_scopes() {
        let c = cfg(json!({})).unwrap();
        assert_eq!(c.tenant(), "common");
        assert_eq!(c.api_url(), "https://login.microsoftonline.com");
        assert_eq!(c.graph_url(), "https://graph.microsoft.com");
        assert_eq!(c.group_name_format().unwrap(), GroupNameFormat::Name);
        assert!(!c.groups_required(true), "no groups from the common tenant");
        assert_eq!(c.scopes(true, true), ["user.read", "offline_access"]);
        let org = cfg(
            json!({"tenant": "example.onmicrosoft.com", "scopes": ["openid", "email"],
                             "graphURL": "https://graph.microsoft.us/"}),
        )
        .unwrap();
        assert_eq!(org.graph_url(), "https://graph.microsoft.us");
        assert_eq!(org.scopes(false, false), ["openid", "email"]);
        assert_eq!(
            org.scopes(true, false),
            ["openid", "email", "directory.read.all"]
        );
    }

    #[test]
    fn mistakes_are_named() {
        for (extra, says) in [
            (json!({"groupNameFormat": "upn"}), "groupNameFormat"),
            (
                json!({"preferredUsernameField": "upn"}),
                "preferredUsernameField",
            ),
            (json!({"groups": ["devs"]}), "config.tenant"),
            (
                json!({"groups": ["devs"], "tenant": "organizations"}),
                "config.tenant",
            ),
            (json!({"graphURL": "http://graph.example.com"}), "graphURL"),
            (
                json!({"clientAssertion": "/var/run/token"}),
                "clientAssertion",
            ),
            (json!({"tenant": "x/../y"}), "tenant"),
            (json!({"tennant": "x"}), "tennant"),
        ] {
            let e = cfg(extra.clone()).unwrap_err();
            assert!(e.contains(says), "{extra}: {e}");
        }
        cfg(json!({"groups": ["devs"], "tenant": "myorg.onmicrosoft.com"})).unwrap();
        cfg(json!({"apiURL": "http://127.0.0.1:9", "graphURL": "http://localhost:9"})).unwrap();
    }
}
