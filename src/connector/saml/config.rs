//! The `type: saml` connector config, in Dex's keys and meaning. Gantry adds `metadataURL` /
//! `metadataFile` (the IdP's certificate, SSO URL and entity ID from its metadata),
//! `maxSessionAge` (how long refresh tokens of a SAML login last), `clockSkew`, and
//! `insecureAllowSHA1` and `insecureAllowHTTP`.

use crate::connector::ConnectorConfigError;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SamlConfig {
    #[serde(rename = "ssoURL")]
    pub sso_url: Option<String>,
    /// A PEM file with the IdP's signing certificate(s).
    pub ca: Option<String>,
    /// Base64 of the PEM, as Dex reads a `[]byte`.
    pub ca_data: Option<String>,
    /// Gantry's entity ID (the Audience); the redirect URI when unset.
    pub entity_issuer: Option<String>,
    /// The IdP's entity ID (the Issuer); from metadata when unset there too, else unchecked.
    pub sso_issuer: Option<String>,
    #[serde(rename = "redirectURI")]
    pub redirect_uri: String,
    pub username_attr: String,
    pub email_attr: String,
    pub groups_attr: Option<String>,
    pub groups_delim: Option<String>,
    #[serde(default)]
    pub allowed_groups: Vec<String>,
    #[serde(default)]
    pub filter_groups: bool,
    #[serde(rename = "nameIDPolicyFormat")]
    pub name_id_policy_format: Option<String>,
    #[serde(default)]
    pub insecure_skip_signature_validation: bool,
    #[serde(rename = "metadataURL")]
    pub metadata_url: Option<String>,
    pub metadata_file: Option<String>,
    /// How long after the SAML login refresh tokens keep working (default 12h).
    pub max_session_age: Option<String>,
    /// Tolerated clock difference with the IdP (default 2m).
    pub clock_skew: Option<String>,
    #[serde(default, rename = "insecureAllowSHA1")]
    pub insecure_allow_sha1: bool,
    /// Gantry: fetch `metadataURL` over plain http from a host that is not loopback.
    #[serde(default, rename = "insecureAllowHTTP")]
    pub insecure_allow_http: bool,
}

impl SamlConfig {
    pub fn from_value(v: &serde_json::Value) -> Result<SamlConfig, ConnectorConfigError> {
        let c: SamlConfig = crate::connector::parse_config(v)?;
        if c.insecure_skip_signature_validation {
            // Not even in development: an unsigned login path is one config edit from production.
            return Err(ConnectorConfigError::Rule(
                "config.insecureSkipSignatureValidation is refused: Gantry never accepts unsigned \
                 SAML responses (sign test responses with xmlsec1 instead)",
            ));
        }
        url::Url::parse(&c.redirect_uri).map_err(|source| ConnectorConfigError::NotAUrl {
            key: "redirectURI".into(),
            source,
        })?;
        if c.sso_url.is_none() && c.metadata_url.is_none() && c.metadata_file.is_none() {
            return Err(ConnectorConfigError::Rule(
                "config: ssoURL, metadataURL or metadataFile is required",
            ));
        }
        if c.ca.is_none()
            && c.ca_data.is_none()
            && c.metadata_url.is_none()
            && c.metadata_file.is_none()
        {
            return Err(ConnectorConfigError::Rule(
                "config: ca, caData, metadataURL or metadataFile is required (the IdP's signing certificate)",
            ));
        }
        if let Some(u) = &c.metadata_url {
            crate::connector::plain_http::check("config.metadataURL", u, c.insecure_allow_http)?;
        }
        if let Some(u) = &c.sso_url {
            url::Url::parse(u).map_err(|source| ConnectorConfigError::NotAUrl {
                key: "ssoURL".into(),
                source,
            })?;
        }
        if c.username_attr.is_empty() || c.email_attr.is_empty() {
            return Err(ConnectorConfigError::Rule(
                "config.usernameAttr and config.emailAttr are required",
            ));
        }
        c.name_id_format()?;
        c.max_session_age()?;
        c.clock_skew()?;
        Ok(c)
    }

    /// The NameIDPolicy Format URN; Dex's short names accepted.
    pub fn name_id_format(&self) -> Result<String, ConnectorConfigError> {
        Ok(match self.name_id_policy_format.as_deref() {
            None | Some("") | Some("persistent") => {
                "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into()
            }
            Some("transient") => "urn:oasis:names:tc:SAML:2.0:nameid-format:transient".into(),
            Some("emailAddress") => "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into(),
            Some("unspecified") => "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".into(),
            Some(u) if u.starts_with("urn:") => u.to_string(),
            Some(other) => return Err(ConnectorConfigError::NameIdFormat(other.to_string())),
        })
    }

    pub fn max_session_age(&self) -> Result<i64, ConnectorConfigError> {
        duration(self.max_session_age.as_deref(), 12 * 3600, "maxSessionAge")
    }

    pub fn clock_skew(&self) -> Result<i64, ConnectorConfigError> {
        duration(self.clock_skew.as_deref(), 120, "clockSkew")
    }

    /// Gantry's entity ID.
    pub fn entity_id(&self) -> &str {
        self.entity_issuer.as_deref().unwrap_or(&self.redirect_uri)
    }
}

fn duration(v: Option<&str>, default: i64, key: &str) -> Result<i64, ConnectorConfigError> {
    match v {
        None => Ok(default),
        Some(d) => crate::config::parse_duration(d)
            .map(|d| d.as_secs() as i64)
            .ok_or_else(|| ConnectorConfigError::Value {
                key: key.to_string(),
                value: d.to_string(),
                problem: "not a duration",
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_dex_saml_block_parses_and_mistakes_are_named() {
        let base = json!({"ssoURL": "https://idp.example.com/sso", "ca": "/etc/idp.pem",
            "redirectURI": "https://g.example.com/callback", "usernameAttr": "name",
            "emailAttr": "email", "groupsAttr": "groups", "groupsDelim": ",",
            "entityIssuer": "https://g.example.com/sp", "ssoIssuer": "https://idp.example.com",
            "nameIDPolicyFormat": "emailAddress", "allowedGroups": ["a"], "filterGroups": true});
        let c = SamlConfig::from_value(&base).unwrap();
        assert_eq!(c.entity_id(), "https://g.example.com/sp");
        assert!(c.name_id_format().unwrap().ends_with("emailAddress"));
        assert_eq!(c.max_session_age().unwrap(), 12 * 3600);
        let with = |k: &str, v: serde_json::Value| {
            let mut b = base.clone();
            b[k] = v;
            SamlConfig::from_value(&b).unwrap_err().to_string()
        };
        assert!(with("insecureSkipSignatureValidation", json!(true)).contains("refused"));
        assert!(with("nameIDPolicyFormat", json!("odd")).contains("odd"));
        assert!(with("ssoUrl", json!("x")).contains("ssoUrl"));
        assert!(with("maxSessionAge", json!("forever")).contains("maxSessionAge"));
        let mut no_cert = base.clone();
        no_cert.as_object_mut().unwrap().remove("ca");
        assert!(
            SamlConfig::from_value(&no_cert)
                .unwrap_err()
                .to_string()
                .contains("certificate")
        );
    }

    #[test]
    fn plain_http_metadata_needs_loopback_or_insecure_allow_http() {
        let cfg = |url: &str, flag: bool| {
            SamlConfig::from_value(&json!({"metadataURL": url, "insecureAllowHTTP": flag,
                "redirectURI": "https://g.example.com/callback", "usernameAttr": "name",
                "emailAttr": "email"}))
        };
        let e = cfg("http://idp.example.com/metadata", false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("config.metadataURL") && e.contains("insecureAllowHTTP"),
            "{e}"
        );
        cfg("http://idp.example.com/metadata", true).unwrap();
        cfg("https://idp.example.com/metadata", false).unwrap();
        cfg("http://127.0.0.1:8080/metadata", false).unwrap();
        cfg("http://localhost/metadata", false).unwrap();
    }
}
