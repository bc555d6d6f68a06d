//! Why a connector's `config` block cannot make a connector. Each message names the key to fix,
//! as the operator reads it at start-up, in `check-config` and in the admin API.

use super::ldap::TlsSetupError;
use super::plain_http::UrlError;
use super::saml::SamlSetupError;
use super::token_endpoint::EndpointError;
use super::upstream::ClientError;

#[derive(Debug, thiserror::Error)]
pub enum ConnectorConfigError {
    /// The block does not deserialize; `path` is the key path (`.userSearch.baseDN`) or empty.
    #[error("config{path}: {message}")]
    Shape { path: String, message: String },
    #[error("config.{0} is required")]
    Required(&'static str),
    #[error("config.{key}: {source}")]
    NotAUrl {
        key: String,
        source: url::ParseError,
    },
    /// A value outside what the key takes; `problem` says what it takes.
    #[error("config.{key} `{value}`: {problem}")]
    Value {
        key: String,
        value: String,
        problem: &'static str,
    },
    /// A rule between keys, or a setting Gantry refuses: the whole message.
    #[error("{0}")]
    Rule(&'static str),
    #[error("config.nameIDPolicyFormat `{0}` is not known")]
    NameIdFormat(String),
    #[error("{0}")]
    Url(#[from] UrlError),
    #[error("config: {0}")]
    Endpoint(#[from] EndpointError),
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("{0}")]
    LdapTls(#[from] TlsSetupError),
    #[error("{0}")]
    Saml(#[from] SamlSetupError),
    #[error("{0}")]
    Unsupported(#[from] crate::config::UnsupportedKind),
}

impl ConnectorConfigError {
    /// The key of the block the problem is about (`userSearch.baseDN`), when it names one.
    pub fn key(&self) -> Option<String> {
        match self {
            ConnectorConfigError::Shape { path, .. } => {
                Some(path.trim_start_matches('.').to_string()).filter(|p| !p.is_empty())
            }
            ConnectorConfigError::Required(k) => Some((*k).to_string()),
            ConnectorConfigError::NotAUrl { key, .. } | ConnectorConfigError::Value { key, .. } => {
                Some(key.clone())
            }
            ConnectorConfigError::NameIdFormat(_) => Some("nameIDPolicyFormat".into()),
            _ => None,
        }
    }
}

/// A setting read again at login time (checked at start, so not expected to fail there) refuses
/// that login, as a bad answer from the identity source would.
impl From<ConnectorConfigError> for super::ConnectorError {
    fn from(e: ConnectorConfigError) -> Self {
        super::ConnectorError::Rejected(e.to_string())
    }
}
