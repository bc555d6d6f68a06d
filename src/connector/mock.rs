//! Dex's `mockCallback` connector, so that Dex's own development config (`examples/
//! config-dev.yaml`) runs unchanged: a callback connector whose "provider" is Gantry's own
//! callback, logging anyone in as Dex's fixed user (Kilgore Trout) without a password. The
//! config check refuses it unless the issuer is on this machine.

use serde::Deserialize;

use crate::connector::{Begin, ConnectorConfigError, ConnectorError};
use crate::identity::Identity;

/// Dex's mock takes no keys; Gantry fills `redirectURI` from the issuer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockConfig {
    #[serde(rename = "redirectURI")]
    pub redirect_uri: Option<String>,
}

#[derive(Debug)]
pub struct MockCallback {
    id: String,
    callback: String,
}

impl MockCallback {
    pub fn new(id: &str, v: &serde_json::Value) -> Result<MockCallback, ConnectorConfigError> {
        let c: MockConfig = if v.is_null() {
            MockConfig::default()
        } else {
            crate::connector::parse_config(v)?
        };
        let callback = c
            .redirect_uri
            .ok_or(ConnectorConfigError::Required("redirectURI"))?;
        url::Url::parse(&callback).map_err(|source| ConnectorConfigError::NotAUrl {
            key: "redirectURI".into(),
            source,
        })?;
        Ok(MockCallback {
            id: id.to_string(),
            callback,
        })
    }

    /// Straight back to Gantry's callback, with the state Gantry bound to this login.
    pub fn begin(&self, state: &str) -> Result<Begin, ConnectorError> {
        let mut url =
            url::Url::parse(&self.callback).map_err(|e| ConnectorError::Rejected(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("code", "mock")
            .append_pair("state", state);
        Ok(Begin {
            url: url.into(),
            nonce: String::new(),
            verifier: String::new(),
        })
    }

    /// Dex's mock identity (connector/mock/connectortest.go).
    pub fn identity(&self) -> Identity {
        Identity {
            user_id: "0-385-28089-0".into(),
            username: "Kilgore Trout".into(),
            preferred_username: String::new(),
            email: "kilgore@kilgore.trout".into(),
            email_verified: true,
            groups: vec!["authors".into()],
            connector_id: self.id.clone(),
            connector_data: None,
        }
    }
}
