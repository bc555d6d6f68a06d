//! Identity sources. Each turns credentials or a callback into one `Identity`.
//!
//! A password connector checks a username and password; a refresh hook re-validates the user
//! (still exists, groups now) whenever a refresh token is used. Connectors never see HTTP.

pub mod ldap;
pub mod local;

use crate::identity::Identity;
use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The user no longer exists or may no longer log in.
    #[error("user is no longer valid")]
    UserGone,
    /// Several directory entries answer to one username.
    #[error("the username matches several entries")]
    Ambiguous,
    /// The identity source did not answer; the text is for logs.
    #[error("identity source unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

#[derive(Debug)]
enum Kind {
    Local(local::Local),
    Ldap(Box<ldap::LdapConnector>),
}

/// A configured connector.
#[derive(Debug)]
pub struct Connector {
    id: String,
    name: String,
    kind: Kind,
}

impl Connector {
    /// The built-in `local` connector.
    pub fn local(l: local::Local) -> Connector {
        Connector {
            id: "local".into(),
            name: "Email".into(),
            kind: Kind::Local(l),
        }
    }

    /// A connector from a `connectors` entry of the config.
    pub fn from_config(c: &crate::config::ConnectorConfig) -> Result<Connector, String> {
        let kind = match c.kind.as_str() {
            "ldap" => {
                let cfg = ldap::config::LdapConfig::from_value(&c.config)?;
                Kind::Ldap(Box::new(ldap::LdapConnector::new(&c.id, cfg)?))
            }
            other => return Err(format!("connector type `{other}` is not supported yet")),
        };
        Ok(Connector {
            id: c.id.clone(),
            name: c.name.clone(),
            kind,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The label of the username field on the password form.
    pub fn prompt(&self) -> &str {
        match &self.kind {
            Kind::Local(_) => "Email Address",
            Kind::Ldap(l) => l.prompt(),
        }
    }
    pub fn is_password(&self) -> bool {
        matches!(self.kind, Kind::Local(_) | Kind::Ldap(_))
    }

    /// Directory operations sent and connections opened so far, for connectors that talk to
    /// a directory.
    pub fn operations(&self) -> Option<(u64, u64)> {
        match &self.kind {
            Kind::Ldap(l) => Some(l.operations()),
            Kind::Local(_) => None,
        }
    }

    /// The groups this source can list (a directory can; a password list cannot).
    pub async fn list_groups(&self) -> Result<Vec<String>, ConnectorError> {
        match &self.kind {
            Kind::Ldap(l) => l.list_groups().await,
            Kind::Local(_) => Ok(Vec::new()),
        }
    }

    /// Check a username and password; `Ok(None)` for wrong credentials.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<Identity>, ConnectorError> {
        // An empty password must never reach a backend: for LDAP it is an anonymous bind.
        if password.is_empty() || username.is_empty() {
            return Ok(None);
        }
        let r = match &self.kind {
            Kind::Local(l) => l.login(username, password).await,
            Kind::Ldap(l) => l.login(username, password).await,
        };
        match r {
            // Several entries for one name is a directory problem, not a way in: a failed login.
            Err(ConnectorError::Ambiguous) => Ok(None),
            other => other,
        }
    }

    /// Re-validate an identity on refresh.
    pub async fn refresh(&self, identity: &Identity) -> Result<Identity, ConnectorError> {
        match &self.kind {
            Kind::Local(l) => l.refresh(identity).await,
            Kind::Ldap(l) => match l.refresh(identity).await {
                Err(ConnectorError::Ambiguous) => Err(ConnectorError::UserGone),
                other => other,
            },
        }
    }
}
