//! The `type: google` connector config, in Dex's keys and meaning (connector/google/google.go).
//! Gantry adds `issuer` and `directoryURL` (Dex hard-codes Google's; a stand-in needs its own),
//! `timeout` and `insecureAllowHTTP`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::connector::ConnectorConfigError;
use crate::connector::plain_http;

/// Google's OpenID issuer, which Dex hard-codes.
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";
/// The Admin SDK's root, as Google's Go client names it.
pub const GOOGLE_DIRECTORY: &str = "https://admin.googleapis.com";
/// Dex's key of `domainToAdminEmail` for every domain without one of its own.
pub const ANY_DOMAIN: &str = "*";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GoogleConfig {
    #[serde(rename = "clientID")]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: String,
    #[serde(rename = "redirectURI")]
    pub redirect_uri: String,
    /// Dex's default: `profile` and `email` (after `openid`, always sent).
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub hosted_domains: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub service_account_file_path: String,
    /// Dex's deprecated form of `domainToAdminEmail: {"*": ...}`.
    #[serde(default, alias = "AdminEmail")]
    pub admin_email: String,
    #[serde(default, alias = "DomainToAdminEmail")]
    pub domain_to_admin_email: BTreeMap<String, String>,
    #[serde(default)]
    pub fetch_transitive_group_membership: bool,
    /// Sent as `prompt` with `access_type=offline`; Dex's default `consent`.
    pub prompt_type: Option<String>,
    /// Gantry: the OpenID issuer to log in at, for a stand-in of Google's (default Google's).
    pub issuer: Option<String>,
    /// Gantry: the Admin SDK's root URL, for a stand-in of Google's (default Google's).
    #[serde(rename = "directoryURL")]
    pub directory_url: Option<String>,
    /// Gantry: timeout of each call to Google, a duration such as "10s".
    pub timeout: Option<String>,
    /// Gantry: talk to `issuer`, `directoryURL` and the key's `token_uri` over plain http on a
    /// host that is not loopback.
    #[serde(default, rename = "insecureAllowHTTP")]
    pub insecure_allow_http: bool,
}

impl GoogleConfig {
    pub fn from_value(v: &serde_json::Value) -> Result<GoogleConfig, ConnectorConfigError> {
        let mut c: GoogleConfig = crate::connector::parse_config(v)?;
        if c.client_id.is_empty() {
            return Err(ConnectorConfigError::Required("clientID"));
        }
        url::Url::parse(&c.redirect_uri).map_err(|source| ConnectorConfigError::NotAUrl {
            key: "redirectURI".into(),
            source,
        })?;
        plain_http::check("config.issuer", &c.issuer(), c.insecure_allow_http)?;
        plain_http::check(
            "config.directoryURL",
            &c.directory_url(),
            c.insecure_allow_http,
        )?;
        if !c.admin_email.is_empty() {
            // Dex: the deprecated key is the wildcard's admin, over any `*` entry.
            c.domain_to_admin_email
                .insert(ANY_DOMAIN.into(), c.admin_email.clone());
        }
        if c.domain_to_admin_email.is_empty() && !c.service_account_file_path.is_empty() {
            return Err(ConnectorConfigError::Rule(
                "config.serviceAccountFilePath needs config.domainToAdminEmail: the directory \
                 service must act as a Google Workspace admin",
            ));
        }
        if !c.groups.is_empty() && c.domain_to_admin_email.is_empty() {
            // Dex ignores `groups` without the directory and lets everyone in: refuse rather
            // than fail open.
            return Err(ConnectorConfigError::Rule(
                "config.groups needs config.serviceAccountFilePath and config.domainToAdminEmail: \
                 Google tells a user's groups only through the Admin SDK",
            ));
        }
        if c.domain_to_admin_email.values().any(|a| !a.contains('@')) {
            return Err(ConnectorConfigError::Rule(
                "config.domainToAdminEmail: every value is the email address of an admin",
            ));
        }
        c.timeout()?;
        Ok(c)
    }

    pub fn timeout(&self) -> Result<std::time::Duration, ConnectorConfigError> {
        crate::connector::upstream::check_common(false, None, self.timeout.as_deref())
    }

    pub fn issuer(&self) -> String {
        self.issuer
            .clone()
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| GOOGLE_ISSUER.into())
    }

    pub fn directory_url(&self) -> String {
        self.directory_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .unwrap_or(GOOGLE_DIRECTORY)
            .trim_end_matches('/')
            .to_string()
    }

    /// The scopes asked of Google, as Dex asks them.
    pub fn scopes(&self) -> Vec<String> {
        let mut s = vec!["openid".to_string()];
        if self.scopes.is_empty() {
            s.extend(["profile".to_string(), "email".to_string()]);
        } else {
            s.extend(self.scopes.iter().cloned());
        }
        s
    }

    /// The block of the `oidc` connector this one logs in with.
    pub fn oidc(&self) -> serde_json::Value {
        let issuer = self.issuer();
        let mut v = serde_json::json!({
            "issuer": issuer,
            "clientID": self.client_id,
            "clientSecret": self.client_secret,
            "redirectURI": self.redirect_uri,
            "insecureAllowHTTP": self.insecure_allow_http,
        });
        if let Some(t) = &self.timeout {
            v["timeout"] = t.clone().into();
        }
        if issuer == GOOGLE_ISSUER {
            // Google's ID tokens may name their issuer without the scheme; Dex's verifier
            // (go-oidc) takes that form for Google alone.
            v["issuerAlias"] = "accounts.google.com".into();
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(extra: serde_json::Value) -> Result<GoogleConfig, String> {
        let mut c = json!({"clientID": "app", "clientSecret": "s",
                           "redirectURI": "https://id.example.com/callback"});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        GoogleConfig::from_value(&c).map_err(|e| e.to_string())
    }

    #[test]
    fn dex_defaults_and_the_deprecated_admin_email() {
        let c = cfg(json!({})).unwrap();
        assert_eq!(c.scopes(), ["openid", "profile", "email"]);
        assert_eq!(c.issuer(), GOOGLE_ISSUER);
        assert_eq!(c.oidc()["issuerAlias"], "accounts.google.com");
        let c = cfg(json!({"adminEmail": "root@example.com",
            "domainToAdminEmail": {"*": "other@example.com", "b.example": "boss@b.example"},
            "serviceAccountFilePath": "/k.json"}))
        .unwrap();
        assert_eq!(c.domain_to_admin_email["*"], "root@example.com");
        assert_eq!(c.domain_to_admin_email["b.example"], "boss@b.example");
    }

    #[test]
    fn mistakes_are_named() {
        for (extra, says) in [
            (
                json!({"serviceAccountFilePath": "/k.json"}),
                "domainToAdminEmail",
            ),
            (json!({"groups": ["a@example.com"]}), "config.groups"),
            (
                json!({"issuer": "http://accounts.example.com"}),
                "config.issuer",
            ),
            (
                json!({"directoryURL": "http://admin.example.com"}),
                "directoryURL",
            ),
            (
                json!({"domainToAdminEmail": {"*": "nobody"}, "serviceAccountFilePath": "/k"}),
                "domainToAdminEmail",
            ),
            (json!({"hostedDomain": ["x"]}), "hostedDomain"),
        ] {
            let e = cfg(extra.clone()).unwrap_err();
            assert!(e.contains(says), "{extra}: {e}");
        }
    }
}
