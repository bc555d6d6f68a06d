//! Identity sources. Each turns credentials or a callback into one `Identity`.
//!
//! A password connector checks a username and password; a refresh hook re-validates the user
//! (still exists, groups now) whenever a refresh token is used. Connectors never see HTTP.

pub mod local;

use crate::identity::Identity;
use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The user no longer exists or may no longer log in.
    #[error("user is no longer valid")]
    UserGone,
    #[error("identity source unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A configured connector.
#[derive(Debug)]
pub enum Connector {
    Local(local::Local),
}

impl Connector {
    pub fn id(&self) -> &str {
        match self {
            Connector::Local(_) => "local",
        }
    }
    pub fn name(&self) -> &str {
        match self {
            Connector::Local(_) => "Email",
        }
    }
    /// The label of the username field on the password form.
    pub fn prompt(&self) -> &str {
        match self {
            Connector::Local(_) => "Email Address",
        }
    }
    pub fn is_password(&self) -> bool {
        matches!(self, Connector::Local(_))
    }

    /// Check a username and password; `Ok(None)` for wrong credentials.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<Identity>, ConnectorError> {
        if password.is_empty() || username.is_empty() {
            return Ok(None);
        }
        match self {
            Connector::Local(l) => l.login(username, password).await,
        }
    }

    /// Re-validate an identity on refresh.
    pub async fn refresh(&self, identity: &Identity) -> Result<Identity, ConnectorError> {
        match self {
            Connector::Local(l) => l.refresh(identity).await,
        }
    }
}
