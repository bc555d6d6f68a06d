//! The `type: oidc` connector config, in Dex's keys and meaning. Gantry adds
//! `allowTokenExchange` (RFC 8693 logins with this provider's ID tokens), `timeout`, and
//! `insecureAllowHTTP`.

use crate::connector::ConnectorConfigError;
use std::time::Duration;

use serde::Deserialize;

use crate::connector::plain_http;

pub use super::modifications::ClaimModifications;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OidcConfig {
    pub issuer: String,
    /// The `iss` the provider actually puts in its tokens, when it differs from `issuer`.
    pub issuer_alias: Option<String>,
    #[serde(rename = "clientID")]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: String,
    #[serde(rename = "redirectURI")]
    pub redirect_uri: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub basic_auth_unsupported: Option<bool>,
    #[serde(default)]
    pub provider_discovery_overrides: DiscoveryOverrides,
    #[serde(default, rename = "rootCAs")]
    pub root_cas: Vec<String>,
    #[serde(default)]
    pub get_user_info: bool,
    #[serde(rename = "userIDKey")]
    pub user_id_key: Option<String>,
    pub user_name_key: Option<String>,
    #[serde(default)]
    pub insecure_skip_email_verified: bool,
    #[serde(default)]
    pub insecure_enable_groups: bool,
    #[serde(default)]
    pub allowed_groups: Vec<String>,
    #[serde(default)]
    pub hosted_domains: Vec<String>,
    #[serde(default)]
    pub acr_values: Vec<String>,
    /// Dex sends `prompt=consent` unless this says otherwise; "" sends none.
    pub prompt_type: Option<String>,
    /// "S256" or "plain"; unset means S256 when the provider advertises it.
    pub pkce_challenge: Option<String>,
    #[serde(default)]
    pub claim_mapping: ClaimMapping,
    #[serde(default)]
    pub override_claim_mapping: bool,
    #[serde(default)]
    pub claim_modifications: ClaimModifications,
    /// Dex's escape hatch; Gantry refuses it (use `rootCAs`).
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// Gantry: accept this provider's ID tokens at the token-exchange grant.
    #[serde(default)]
    pub allow_token_exchange: bool,
    /// Gantry: timeout of each call to the provider, a duration such as "10s".
    pub timeout: Option<String>,
    /// Gantry: fetch discovery and the JWKS over plain http from a host that is not loopback.
    #[serde(default, rename = "insecureAllowHTTP")]
    pub insecure_allow_http: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DiscoveryOverrides {
    #[serde(rename = "tokenURL")]
    pub token_url: Option<String>,
    #[serde(rename = "authURL")]
    pub auth_url: Option<String>,
    #[serde(rename = "jwksURL")]
    pub jwks_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimMapping {
    pub preferred_username: Option<String>,
    pub email: Option<String>,
    pub groups: Option<String>,
}

impl OidcConfig {
    pub fn from_value(v: &serde_json::Value) -> Result<OidcConfig, ConnectorConfigError> {
        let c: OidcConfig = crate::connector::parse_config(v)?;
        let issuer =
            url::Url::parse(&c.issuer).map_err(|source| ConnectorConfigError::NotAUrl {
                key: "issuer".into(),
                source,
            })?;
        if !matches!(issuer.scheme(), "https" | "http") {
            return Err(ConnectorConfigError::Rule(
                "config.issuer must be an http(s) URL",
            ));
        }
        plain_http::check("config.issuer", &c.issuer, c.insecure_allow_http)?;
        url::Url::parse(&c.redirect_uri).map_err(|source| ConnectorConfigError::NotAUrl {
            key: "redirectURI".into(),
            source,
        })?;
        if c.client_id.is_empty() {
            return Err(ConnectorConfigError::Required("clientID"));
        }
        if !c.allowed_groups.is_empty() && !c.insecure_enable_groups {
            return Err(ConnectorConfigError::Rule(
                "config.allowedGroups needs insecureEnableGroups: true (groups are not read otherwise)",
            ));
        }
        for (k, u) in [
            ("tokenURL", &c.provider_discovery_overrides.token_url),
            ("authURL", &c.provider_discovery_overrides.auth_url),
            ("jwksURL", &c.provider_discovery_overrides.jwks_url),
        ] {
            if let Some(u) = u {
                url::Url::parse(u).map_err(|source| ConnectorConfigError::NotAUrl {
                    key: format!("providerDiscoveryOverrides.{k}"),
                    source,
                })?;
                plain_http::check(
                    &format!("config.providerDiscoveryOverrides.{k}"),
                    u,
                    c.insecure_allow_http,
                )?;
            }
        }
        c.timeout()?;
        Ok(c)
    }

    pub fn timeout(&self) -> Result<Duration, ConnectorConfigError> {
        crate::connector::upstream::check_common(
            self.insecure_skip_verify,
            self.pkce_challenge.as_deref(),
            self.timeout.as_deref(),
        )
    }

    /// The scopes sent upstream: Dex's defaults when none are configured.
    pub fn scopes(&self, offline: bool) -> Vec<String> {
        let mut s = vec!["openid".to_string()];
        if self.scopes.is_empty() {
            s.extend(["profile".to_string(), "email".to_string()]);
        } else {
            s.extend(self.scopes.iter().filter(|x| *x != "openid").cloned());
        }
        if offline && !s.iter().any(|x| x == "offline_access") {
            s.push("offline_access".into());
        }
        s
    }

    /// Whether `email` is asked for, which makes `email` and `email_verified` required (Dex).
    pub fn has_email_scope(&self) -> bool {
        self.scopes(false).iter().any(|s| s == "email")
    }

    /// The issuers whose tokens are accepted.
    pub fn issuers(&self) -> Vec<String> {
        let mut v = vec![self.issuer.clone()];
        v.extend(self.issuer_alias.clone());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_dex_oidc_block_parses() {
        let c = OidcConfig::from_value(&json!({
            "issuer": "https://accounts.google.com",
            "clientID": "id", "clientSecret": "s",
            "redirectURI": "https://dex.example.com/callback",
            "scopes": ["profile", "email", "groups"],
            "basicAuthUnsupported": true,
            "providerDiscoveryOverrides": {"tokenURL": "https://t.example.com/token"},
            "getUserInfo": true, "userIDKey": "email", "userNameKey": "email",
            "insecureSkipEmailVerified": true, "insecureEnableGroups": true,
            "allowedGroups": ["admins"], "acrValues": ["mfa"], "promptType": "login",
            "claimMapping": {"preferred_username": "login", "email": "mail", "groups": "roles"},
            "overrideClaimMapping": true, "pkceChallenge": "S256", "hostedDomains": ["example.com"]
        }))
        .unwrap();
        assert_eq!(c.claim_mapping.groups.as_deref(), Some("roles"));
        assert_eq!(
            c.scopes(true),
            ["openid", "profile", "email", "groups", "offline_access"]
        );
        assert!(c.has_email_scope());
    }

    #[test]
    fn mistakes_are_named() {
        let base = json!({"issuer": "https://id.example.com", "clientID": "id",
                          "redirectURI": "https://g.example.com/callback"});
        let with = |k: &str, v: serde_json::Value| {
            let mut b = base.clone();
            b[k] = v;
            OidcConfig::from_value(&b).unwrap_err().to_string()
        };
        assert!(with("clientSecrett", json!("x")).contains("clientSecrett"));
        assert!(with("insecureSkipVerify", json!(true)).contains("rootCAs"));
        assert!(with("allowedGroups", json!(["a"])).contains("insecureEnableGroups"));
        assert!(with("pkceChallenge", json!("S512")).contains("S256"));
        assert!(with("timeout", json!("soon")).contains("timeout"));
        assert!(with("issuer", json!("ftp://x")).contains("issuer"));
        assert_eq!(
            OidcConfig::from_value(&base).unwrap().scopes(false),
            ["openid", "profile", "email"]
        );
    }

    #[test]
    fn plain_http_signing_material_needs_loopback_or_insecure_allow_http() {
        let cfg = |issuer: &str, jwks: &str, flag: bool| {
            OidcConfig::from_value(&json!({"issuer": issuer, "clientID": "id",
                "redirectURI": "https://g.example.com/callback", "insecureAllowHTTP": flag,
                "providerDiscoveryOverrides": {"jwksURL": jwks}}))
        };
        let e = cfg("http://id.example.com", "https://id.example.com/k", false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("config.issuer") && e.contains("insecureAllowHTTP"),
            "{e}"
        );
        let e = cfg("https://id.example.com", "http://keys.example.com/k", false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("providerDiscoveryOverrides.jwksURL") && e.contains("insecureAllowHTTP"),
            "{e}"
        );
        cfg("http://id.example.com", "http://keys.example.com/k", true).unwrap();
        cfg("http://localhost:5556/dex", "http://127.0.0.1:1/k", false).unwrap();
        cfg("http://[::1]:5556", "https://keys.example.com/k", false).unwrap();
    }
}
