//! The `type: ldap` connector config, in Dex's keys and meaning. Gantry adds a host list for
//! failover and two timeouts.

use crate::connector::ConnectorConfigError;
use serde::Deserialize;

/// `host` is one `host:port` (Dex) or a list tried in order (Gantry).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Hosts {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LdapConfig {
    pub host: Hosts,
    #[serde(default, rename = "insecureNoSSL")]
    pub insecure_no_ssl: bool,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    #[serde(default, rename = "startTLS")]
    pub start_tls: bool,
    #[serde(rename = "rootCA")]
    pub root_ca: Option<String>,
    /// Base64 of PEM, as Dex reads a `[]byte`.
    #[serde(rename = "rootCAData")]
    pub root_ca_data: Option<String>,
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
    #[serde(rename = "bindDN")]
    pub bind_dn: Option<String>,
    #[serde(rename = "bindPW")]
    pub bind_pw: Option<String>,
    pub username_prompt: Option<String>,
    pub user_search: UserSearch,
    #[serde(default)]
    pub group_search: Option<GroupSearch>,
    /// Gantry: connect timeout per host, a duration such as "5s".
    pub connect_timeout: Option<String>,
    /// Gantry: timeout of each LDAP operation.
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserSearch {
    #[serde(rename = "baseDN")]
    pub base_dn: String,
    #[serde(default)]
    pub filter: String,
    /// The attribute(s) the login name is matched against; Dex allows a comma-separated list.
    pub username: String,
    #[serde(default)]
    pub scope: Option<String>,
    pub id_attr: Option<String>,
    pub email_attr: Option<String>,
    pub name_attr: Option<String>,
    pub preferred_username_attr: Option<String>,
    pub email_suffix: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GroupSearch {
    #[serde(rename = "baseDN")]
    pub base_dn: String,
    #[serde(default)]
    pub filter: String,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub user_matchers: Vec<UserMatcher>,
    /// Dex's older single-matcher keys.
    pub user_attr: Option<String>,
    pub group_attr: Option<String>,
    pub recursion_group_attr: Option<String>,
    pub name_attr: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserMatcher {
    pub user_attr: String,
    pub group_attr: String,
    /// Follow groups that are members of groups, as Dex does: the attribute of a parent group
    /// that lists its member groups' DNs (`member`, `uniqueMember`). The parents of a found
    /// group are the groups whose `recursionGroupAttr` equals the found group's DN.
    pub recursion_group_attr: Option<String>,
}

impl LdapConfig {
    /// Parse and check a connector's `config` block.
    pub fn from_value(v: &serde_json::Value) -> Result<LdapConfig, ConnectorConfigError> {
        let c: LdapConfig = crate::connector::parse_config(v)?;
        if c.hosts().is_empty() {
            return Err(ConnectorConfigError::Rule(
                "config.host: at least one host is required",
            ));
        }
        if c.user_search.username.trim().is_empty() {
            return Err(ConnectorConfigError::Required("userSearch.username"));
        }
        for (key, scope) in [
            ("userSearch", &c.user_search.scope),
            (
                "groupSearch",
                &c.group_search.as_ref().and_then(|g| g.scope.clone()),
            ),
        ] {
            if let Some(s) = scope
                && !matches!(s.as_str(), "sub" | "one")
            {
                return Err(ConnectorConfigError::Value {
                    key: format!("{key}.scope"),
                    value: s.clone(),
                    problem: "expected sub or one",
                });
            }
        }
        if c.insecure_no_ssl && c.start_tls {
            return Err(ConnectorConfigError::Rule(
                "config: startTLS and insecureNoSSL exclude each other",
            ));
        }
        if c.client_cert.is_some() != c.client_key.is_some() {
            return Err(ConnectorConfigError::Rule(
                "config: clientCert and clientKey go together",
            ));
        }
        for (k, v) in [
            ("connectTimeout", &c.connect_timeout),
            ("timeout", &c.timeout),
        ] {
            if let Some(d) = v
                && crate::config::parse_duration(d).is_none()
            {
                return Err(ConnectorConfigError::Value {
                    key: k.to_string(),
                    value: d.clone(),
                    problem: "not a duration",
                });
            }
        }
        if let Some(g) = &c.group_search {
            if g.matchers().is_empty() {
                return Err(ConnectorConfigError::Rule(
                    "config.groupSearch: userMatchers (or userAttr and groupAttr) are required",
                ));
            }
            for m in g.matchers() {
                check_filter_attr("groupAttr", &m.group_attr)?;
                if let Some(r) = &m.recursion_group_attr {
                    check_filter_attr("recursionGroupAttr", r)?;
                    // Gantry once read `DN` here as "the found group's DN"; in Dex's meaning it
                    // would name an attribute no entry has, and nesting would silently stop.
                    if r.eq_ignore_ascii_case("DN") {
                        return Err(ConnectorConfigError::Rule(
                            "config.groupSearch.recursionGroupAttr `DN`: name the attribute \
                             of a parent group that lists its member groups (member, \
                             uniqueMember), as in Dex",
                        ));
                    }
                }
            }
        }
        Ok(c)
    }

    pub fn hosts(&self) -> Vec<String> {
        match &self.host {
            Hosts::One(h) => vec![h.clone()]
                .into_iter()
                .filter(|h| !h.is_empty())
                .collect(),
            Hosts::Many(v) => v.iter().filter(|h| !h.is_empty()).cloned().collect(),
        }
    }
}

/// An attribute that goes into a search filter as `(attr=value)`: an attribute description
/// (RFC 4512), so that no character of it can change the filter's structure.
fn check_filter_attr(key: &str, a: &str) -> Result<(), ConnectorConfigError> {
    let ok = !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | ';' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ConnectorConfigError::Value {
            key: format!("groupSearch.{key}"),
            value: a.to_string(),
            problem: "not an attribute name",
        })
    }
}

impl GroupSearch {
    /// The matchers, with Dex's older `userAttr`/`groupAttr` pair as one of them.
    pub fn matchers(&self) -> Vec<UserMatcher> {
        let mut m = self.user_matchers.clone();
        if let (Some(u), Some(g)) = (&self.user_attr, &self.group_attr) {
            m.push(UserMatcher {
                user_attr: u.clone(),
                group_attr: g.clone(),
                recursion_group_attr: self.recursion_group_attr.clone(),
            });
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dex_ldap_block_parses() {
        // Dex's documented example (connectors/ldap.md), config part.
        let y = r#"
host: ldap.example.com:636
insecureNoSSL: false
insecureSkipVerify: false
rootCA: /etc/dex/ldap.ca
bindDN: uid=serviceaccount,cn=users,dc=example,dc=com
bindPW: password
usernamePrompt: SSO Username
userSearch:
  baseDN: cn=users,dc=example,dc=com
  filter: "(objectClass=person)"
  username: uid
  idAttr: uid
  emailAttr: mail
  nameAttr: name
  preferredUsernameAttr: uid
groupSearch:
  baseDN: cn=groups,dc=freeipa,dc=example,dc=com
  filter: "(objectClass=group)"
  userMatchers:
  - userAttr: uid
    groupAttr: member
  nameAttr: name
"#;
        let v: serde_json::Value = serde_norway::from_str(y).unwrap();
        let c = LdapConfig::from_value(&v).unwrap();
        assert_eq!(c.hosts(), vec!["ldap.example.com:636"]);
        assert_eq!(c.group_search.unwrap().matchers().len(), 1);
    }

    fn with_group_search(gs: serde_json::Value) -> Result<LdapConfig, ConnectorConfigError> {
        LdapConfig::from_value(&serde_json::json!({
            "host": "h:1", "userSearch": {"baseDN": "x", "username": "uid"}, "groupSearch": gs
        }))
    }

    #[test]
    fn recursion_group_attr_is_read_where_dex_reads_it() {
        // Dex's nested-groups example: userMatchers[].recursionGroupAttr.
        let c = with_group_search(serde_json::json!({"baseDN": "g", "userMatchers": [
            {"userAttr": "DN", "groupAttr": "member", "recursionGroupAttr": "member"}
        ]}))
        .unwrap();
        let m = c.group_search.unwrap().matchers();
        assert_eq!(m[0].recursion_group_attr.as_deref(), Some("member"));
        // Dex's older top-level keys carry it too.
        let c = with_group_search(serde_json::json!({"baseDN": "g", "userAttr": "DN",
            "groupAttr": "uniqueMember", "recursionGroupAttr": "uniqueMember"}))
        .unwrap();
        let m = c.group_search.unwrap().matchers();
        assert_eq!(m[0].recursion_group_attr.as_deref(), Some("uniqueMember"));
    }

    #[test]
    fn recursion_group_attr_dn_and_non_attributes_are_refused() {
        for bad in ["DN", "dn", "member)(cn=*", "", "mem ber"] {
            let e = with_group_search(serde_json::json!({"baseDN": "g", "userMatchers": [
                {"userAttr": "DN", "groupAttr": "member", "recursionGroupAttr": bad}
            ]}))
            .unwrap_err()
            .to_string();
            assert!(e.contains("recursionGroupAttr"), "{bad}: {e}");
        }
        let e = with_group_search(serde_json::json!({"baseDN": "g", "userMatchers": [
            {"userAttr": "DN", "groupAttr": "member=*"}
        ]}))
        .unwrap_err()
        .to_string();
        assert!(e.contains("groupAttr"), "{e}");
    }

    #[test]
    fn mistakes_are_named() {
        let bad = serde_json::json!({"host": "h:1", "userSearch": {"baseDN": "x", "username": "uid", "scop": "sub"}});
        let e = LdapConfig::from_value(&bad).unwrap_err().to_string();
        assert!(e.contains("userSearch"), "{e}");
        let bad = serde_json::json!({"host": "h:1", "startTLS": true, "insecureNoSSL": true, "userSearch": {"baseDN": "x", "username": "uid"}});
        assert!(LdapConfig::from_value(&bad).is_err());
    }
}
