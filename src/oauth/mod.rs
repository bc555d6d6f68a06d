//! The OpenID Connect / OAuth2 protocol core: authorization requests, grants, refresh
//! rotation, claims, introspection, revocation and logout. Knows nothing of HTTP.

pub mod authorize;
pub mod client;
pub mod device;
pub mod error;
pub mod exchange;
pub mod grants;
pub mod inspect;
pub mod pkce;
pub mod refresh;
pub mod scope;
pub mod tokens;
pub mod upstream;

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::config::Expiry;
use crate::connector::Connector;
use crate::keys::Keys;
use crate::metrics::Metrics;
use crate::storage::Db;
use crate::throttle::LoginThrottle;
use client::Clients;

/// Everything the protocol needs, built once by `app::build`.
#[derive(Debug)]
pub struct Provider {
    /// The issuer URL exactly as configured (no trailing slash added).
    pub issuer: String,
    pub db: Db,
    pub keys: Arc<Keys>,
    pub clients: Clients,
    pub connectors: Vec<Connector>,
    pub clock: SharedClock,
    pub expiry: Expiry,
    /// Grant types the server allows.
    pub grants: Vec<String>,
    pub skip_approval: bool,
    pub always_show_login: bool,
    pub password_connector: Option<String>,
    pub throttle: LoginThrottle,
    pub metrics: Arc<Metrics>,
    pub policy: crate::policy::Policy,
    /// The policy as configured, for the admin pages.
    pub policy_config: crate::policy::PolicyConfig,
    /// Names of the configured clusters (policy explanations need them).
    pub clusters: Vec<String>,
    /// The admin-change stamp this replica last loaded.
    pub generation: std::sync::Mutex<String>,
    pub registry: crate::registry::Registry,
}

impl Provider {
    pub fn connector(&self, id: &str) -> Option<&Connector> {
        self.connectors.iter().find(|c| c.id() == id)
    }
}
