//! The `gitlab` connector's config block: Dex's keys, checked as Dex's `Open` checks them.

use serde::Deserialize;

use crate::connector::ConnectorConfigError;
use crate::connector::upstream;

pub const GITLAB_COM: &str = "https://gitlab.com";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GitlabConfig {
    /// The GitLab instance; `https://gitlab.com` when empty or left out.
    #[serde(default, rename = "baseURL")]
    pub base_url: String,
    #[serde(rename = "clientID")]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: String,
    #[serde(rename = "redirectURI")]
    pub redirect_uri: String,
    /// Only members of one of these groups may log in, and only these groups are kept.
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default, rename = "useLoginAsID")]
    pub use_login_as_id: bool,
    /// Add `group:owner`, `group:maintainer`, `group:developer` beside each group.
    #[serde(default)]
    pub get_groups_permission: bool,
    /// Groups from `/api/v4/groups` (inherited memberships too) instead of userinfo.
    #[serde(default)]
    pub inherited_groups: bool,
    /// Base64 of a PEM bundle of CAs for `baseURL` (Dex's `[]byte` in JSON).
    #[serde(default, rename = "rootCAData")]
    pub root_ca_data: String,
    /// Gantry: timeout of each call to GitLab.
    pub timeout: Option<String>,
    /// Gantry: talk to a GitLab that is not loopback over plain http.
    #[serde(default, rename = "insecureAllowHTTP")]
    pub insecure_allow_http: bool,
}

impl GitlabConfig {
    pub fn from_value(v: &serde_json::Value) -> Result<GitlabConfig, ConnectorConfigError> {
        let mut c: GitlabConfig = crate::connector::parse_config(v)?;
        if c.base_url.is_empty() {
            c.base_url = GITLAB_COM.into();
        }
        c.base_url = c.base_url.trim_end_matches('/').to_string();
        if c.client_id.is_empty() {
            return Err(ConnectorConfigError::Required("clientID"));
        }
        for (k, u) in [("baseURL", &c.base_url), ("redirectURI", &c.redirect_uri)] {
            url::Url::parse(u).map_err(|source| ConnectorConfigError::NotAUrl {
                key: k.to_string(),
                source,
            })?;
        }
        crate::connector::plain_http::check("config.baseURL", &c.base_url, c.insecure_allow_http)?;
        if !c.root_ca_data.is_empty() {
            use base64::Engine;
            let pem = base64::engine::general_purpose::STANDARD
                .decode(c.root_ca_data.trim())
                .map_err(|_| ConnectorConfigError::Value {
                    key: "rootCAData".into(),
                    value: c.root_ca_data.chars().take(40).collect(),
                    problem: "gitlab: invalid rootCAData: expected base64 of a PEM bundle",
                })?;
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN") {
                return Err(ConnectorConfigError::Rule(
                    "gitlab: invalid rootCAData: it holds no PEM",
                ));
            }
        }
        c.timeout()?;
        Ok(c)
    }

    pub fn timeout(&self) -> Result<std::time::Duration, ConnectorConfigError> {
        upstream::check_common(false, None, self.timeout.as_deref())
    }

    /// Whether groups are read (and `openid` asked for): always with `groups`, else only
    /// when the client asked for groups (Dex's `groupsRequired`).
    pub fn groups_required(&self, groups_scope: bool) -> bool {
        !self.groups.is_empty() || groups_scope
    }

    /// The scopes asked of GitLab (Dex's).
    pub fn scopes(&self, groups_scope: bool) -> Vec<String> {
        let mut v = vec!["read_user".to_string()];
        if self.groups_required(groups_scope) {
            v.push("openid".into());
            if self.inherited_groups {
                v.push("read_api".into());
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(extra: serde_json::Value) -> Result<GitlabConfig, ConnectorConfigError> {
        let mut v = json!({"clientID": "c", "clientSecret": "s",
            "redirectURI": "https://id.example.com/dex/callback"});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        GitlabConfig::from_value(&v)
    }

    #[test]
    fn dexs_defaults_and_scopes_hold() {
        let c = cfg(json!({})).unwrap();
        assert_eq!(c.base_url, "https://gitlab.com");
        assert_eq!(c.scopes(false), ["read_user"]);
        assert_eq!(c.scopes(true), ["read_user", "openid"]);
        let c = cfg(
            json!({"baseURL": "https://git.example.com/", "groups": ["g"],
            "inheritedGroups": true}),
        )
        .unwrap();
        assert_eq!(c.base_url, "https://git.example.com");
        assert_eq!(c.scopes(false), ["read_user", "openid", "read_api"]);
        assert_eq!(cfg(json!({"baseURL": ""})).unwrap().base_url, GITLAB_COM);
        // Loopback may be plain http; another host only with the flag.
        assert!(cfg(json!({"baseURL": "http://127.0.0.1:8080"})).is_ok());
        assert!(
            cfg(json!({"baseURL": "http://git.example.com", "insecureAllowHTTP": true})).is_ok()
        );
        use base64::Engine;
        let pem = base64::engine::general_purpose::STANDARD
            .encode("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
        assert!(cfg(json!({ "rootCAData": pem })).is_ok());
        for (bad, says) in [
            (json!({"baseURL": "http://git.example.com"}), "plain http"),
            (json!({"baseURL": "git.example.com"}), "baseURL"),
            (
                json!({"rootCAData": "/etc/ssl/ca.pem"}),
                "invalid rootCAData",
            ),
            (json!({"rootCAData": "aGVsbG8="}), "no PEM"),
            (json!({"groups": "g"}), "groups"),
            (json!({"rootCAs": ["x"]}), "unknown key"),
            (json!({"clientID": ""}), "clientID"),
        ] {
            let e = cfg(bad.clone()).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
