//! The `github` connector's config block: Dex's keys, checked as Dex's `Open` checks them.

use serde::Deserialize;

use crate::connector::ConnectorConfigError;
use crate::connector::upstream;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GithubConfig {
    #[serde(rename = "clientID")]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: String,
    #[serde(rename = "redirectURI")]
    pub redirect_uri: String,
    /// Dex's legacy single organization: its teams become the groups (bare team names). Dex
    /// refuses nobody for it; `orgs` is the key that limits who may log in.
    #[serde(default)]
    pub org: String,
    #[serde(default)]
    pub orgs: Vec<Org>,
    /// GitHub Enterprise Server: `HOST` serves the login pages and `https://HOST/api/v3`.
    #[serde(default)]
    pub host_name: String,
    /// A CA for `hostName`: a file, base64 of a PEM, or a PEM.
    #[serde(default, rename = "rootCA")]
    pub root_ca: String,
    #[serde(default)]
    pub team_name_field: String,
    #[serde(default)]
    pub load_all_groups: bool,
    #[serde(default, rename = "useLoginAsID")]
    pub use_login_as_id: bool,
    #[serde(default)]
    pub preferred_email_domain: String,
    /// Gantry: timeout of each call to GitHub.
    pub timeout: Option<String>,
}

/// An organization whose members may log in; with `teams`, only members of one of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Org {
    pub name: String,
    #[serde(default)]
    pub teams: Vec<String>,
}

/// Which of a team's names its groups carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamNameField {
    Name,
    Slug,
    Both,
}

impl GithubConfig {
    pub fn from_value(v: &serde_json::Value) -> Result<GithubConfig, ConnectorConfigError> {
        let c: GithubConfig = crate::connector::parse_config(v)?;
        if c.client_id.is_empty() {
            return Err(ConnectorConfigError::Required("clientID"));
        }
        url::Url::parse(&c.redirect_uri).map_err(|source| ConnectorConfigError::NotAUrl {
            key: "redirectURI".into(),
            source,
        })?;
        if !c.org.is_empty() && !c.orgs.is_empty() {
            return Err(ConnectorConfigError::Rule(
                "github: cannot use both 'org' and 'orgs' fields simultaneously",
            ));
        }
        if let Some(o) = c.orgs.iter().find(|o| o.name.is_empty()) {
            return Err(ConnectorConfigError::Value {
                key: "orgs[].name".into(),
                value: o.name.clone(),
                problem: "an organization needs its name",
            });
        }
        if c.host_name.contains('/') {
            return Err(ConnectorConfigError::Value {
                key: "hostName".into(),
                value: c.host_name.clone(),
                problem: "a host name (and port), not a URL or path",
            });
        }
        if !c.host_name.is_empty() {
            url::Url::parse(&format!("https://{}/api/v3", c.host_name)).map_err(|source| {
                ConnectorConfigError::NotAUrl {
                    key: "hostName".into(),
                    source,
                }
            })?;
        }
        if !c.root_ca.is_empty() && c.host_name.is_empty() {
            return Err(ConnectorConfigError::Rule(
                "config.rootCA is only for GitHub Enterprise: it needs config.hostName",
            ));
        }
        c.team_name_field()?;
        if c.preferred_email_domain.ends_with('*') {
            return Err(ConnectorConfigError::Value {
                key: "preferredEmailDomain".into(),
                value: c.preferred_email_domain.clone(),
                problem: "a glob pattern cannot end with \"*\"",
            });
        }
        c.timeout()?;
        Ok(c)
    }

    pub fn team_name_field(&self) -> Result<TeamNameField, ConnectorConfigError> {
        match self.team_name_field.as_str() {
            "" | "name" => Ok(TeamNameField::Name),
            "slug" => Ok(TeamNameField::Slug),
            "both" => Ok(TeamNameField::Both),
            other => Err(ConnectorConfigError::Value {
                key: "teamNameField".into(),
                value: other.to_string(),
                problem: "expected name, slug or both",
            }),
        }
    }

    pub fn timeout(&self) -> Result<std::time::Duration, ConnectorConfigError> {
        upstream::check_common(false, None, self.timeout.as_deref())
    }

    /// Whether GitHub's `read:org` scope is asked for and groups are read: always with `orgs`
    /// or `org`, else only when the client asked for groups (Dex's `groupsRequired`).
    pub fn groups_required(&self, groups_scope: bool) -> bool {
        !self.orgs.is_empty() || !self.org.is_empty() || groups_scope
    }

    /// Where the browser logs in and the code is redeemed, and the API's base URL.
    pub fn endpoints(&self) -> (String, String, String) {
        if self.host_name.is_empty() {
            (
                "https://github.com/login/oauth/authorize".into(),
                "https://github.com/login/oauth/access_token".into(),
                "https://api.github.com".into(),
            )
        } else {
            let h = &self.host_name;
            (
                format!("https://{h}/login/oauth/authorize"),
                format!("https://{h}/login/oauth/access_token"),
                format!("https://{h}/api/v3"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(extra: serde_json::Value) -> Result<GithubConfig, ConnectorConfigError> {
        let mut v = json!({"clientID": "c", "clientSecret": "s",
            "redirectURI": "https://id.example.com/dex/callback"});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        GithubConfig::from_value(&v)
    }

    #[test]
    fn dexs_rules_for_the_keys_hold() {
        let c = cfg(json!({})).unwrap();
        assert_eq!(c.team_name_field().unwrap(), TeamNameField::Name);
        assert_eq!(c.endpoints().2, "https://api.github.com");
        assert!(!c.groups_required(false) && c.groups_required(true));

        let ghe = cfg(
            json!({"hostName": "git.example.com:8443", "rootCA": "/etc/ca.pem",
            "orgs": [{"name": "acme", "teams": ["red"]}], "teamNameField": "both"}),
        )
        .unwrap();
        assert_eq!(
            ghe.endpoints(),
            (
                "https://git.example.com:8443/login/oauth/authorize".into(),
                "https://git.example.com:8443/login/oauth/access_token".into(),
                "https://git.example.com:8443/api/v3".into()
            )
        );
        assert_eq!(ghe.team_name_field().unwrap(), TeamNameField::Both);
        assert!(ghe.groups_required(false));
        assert!(cfg(json!({"org": "acme"})).unwrap().groups_required(false));

        for (bad, says) in [
            (
                json!({"org": "a", "orgs": [{"name": "b"}]}),
                "both 'org' and 'orgs'",
            ),
            (json!({"hostName": "https://git.example.com"}), "hostName"),
            (json!({"rootCA": "/etc/ca.pem"}), "needs config.hostName"),
            (json!({"teamNameField": "id"}), "teamNameField"),
            (
                json!({"preferredEmailDomain": "example.*"}),
                "cannot end with",
            ),
            (
                json!({"orgs": [{"name": "a", "team": ["x"]}]}),
                "unknown key `team`",
            ),
            (json!({"orgs": [{"teams": ["x"]}]}), "name"),
            (json!({"clientID": ""}), "clientID"),
            (json!({"loadAllGroups": "yes"}), "loadAllGroups"),
            (json!({"insecureSkipVerify": true}), "unknown key"),
        ] {
            let e = cfg(bad.clone()).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
