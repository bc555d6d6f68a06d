//! The OpenID Connect / OAuth2 protocol core: authorization requests, grants, refresh
//! rotation, claims, introspection, revocation and logout. Knows nothing of HTTP.

pub mod allowed_connectors;
pub mod audit;
pub mod authorize;
pub mod backchannel;
pub mod client;
#[cfg(test)]
mod core_tests;
pub mod device;
pub mod error;
pub mod exchange;
pub mod grants;
pub mod inspect;
pub mod issuance;
pub mod logout;
pub mod pkce;
pub mod refresh;
pub mod request;
pub mod scope;
pub mod second_factor;
pub mod session;
pub mod tokens;
pub mod upstream;
pub mod verified;

use std::net::IpAddr;
use std::sync::Arc;

use crate::clock::SharedClock;
use crate::config::Expiry;
use crate::connector::Connector;
use crate::connector::set::Connectors;
use crate::keys::Keys;
use crate::metrics::Metrics;
use crate::throttle::{LoginThrottle, Verdict};
use client::Clients;

/// Everything the protocol needs, built once by `app::build`.
#[derive(Debug)]
pub struct Provider {
    /// The issuer URL exactly as configured (no trailing slash added).
    pub issuer: String,
    /// Codes, refresh families, devices and what requests leave behind.
    pub store: Arc<dyn crate::storage::store::ProtocolStore>,
    pub keys: Arc<Keys>,
    pub clients: Clients,
    pub connectors: Connectors,
    /// Seals what connectors keep of providers, and the secrets of admins' connectors.
    pub sealer: crate::seal::Sealer,
    pub clock: SharedClock,
    pub expiry: Expiry,
    /// Grant types the server allows.
    pub grants: Vec<crate::config::GrantType>,
    pub skip_approval: bool,
    pub always_show_login: bool,
    /// Dex's `oauth2.pkce`: PKCE for every client, and the methods accepted.
    pub pkce: crate::config::PkceConfig,
    pub password_connector: Option<String>,
    pub throttle: LoginThrottle,
    pub limits: Arc<crate::ratelimit::RateLimits>,
    pub metrics: Arc<Metrics>,
    /// Token counts for the admin pages, saved to the database every few seconds.
    pub issuance: issuance::Tally,
    /// The policy in force (the file's, or one an admin saved).
    pub policy: crate::policy::live::LivePolicy,
    /// Names of the configured clusters (policy explanations need them).
    pub clusters: Vec<String>,
    /// Each configured cluster's name and `clientID`: a login to that client is a login to
    /// that cluster, for second-factor requirements.
    pub cluster_clients: Vec<(String, String)>,
    /// `registry.loginClients`: a login to one of them may become a registry identity token
    /// (the registry exchanges their refresh tokens), so registry second-factor requirements
    /// apply to it.
    pub registry_clients: Vec<String>,
    /// Keys the digests of unknown logins in the audit trail (shared by every replica).
    pub audit_key: Vec<u8>,
    /// Dex master's `mfa`: the second factors logins must pass, and the users' factors.
    pub second_factors: crate::mfa::SecondFactors,
    /// Access tokens verified moments ago (introspection, userinfo, the registry).
    pub verified: verified::VerifiedTokens,
    /// Browser sessions (single sign-on), as configured.
    pub sessions: crate::config::SessionSettings,
}

impl Provider {
    pub fn connector(&self, id: &str) -> Option<Arc<Connector>> {
        self.connectors.get(id)
    }

    /// Every connector id: a policy name `id:...` naming one is qualified.
    pub fn connector_ids(&self) -> Vec<String> {
        self.connectors
            .all()
            .iter()
            .map(|c| c.id().to_string())
            .collect()
    }

    /// The policy's name for a user of `connector_id` (see [`Connector::policy_username`]);
    /// empty, matching no user rule, when that connector is gone.
    pub fn policy_user(
        &self,
        connector_id: &str,
        user_id: &str,
        preferred_username: &str,
    ) -> String {
        self.connector(connector_id)
            .map(|c| c.policy_username(user_id, preferred_username))
            .unwrap_or_default()
    }

    /// Whether a credential check for `name` from `addr` must be refused now; waits first when
    /// the name is being guessed from elsewhere (see [`crate::throttle`]).
    pub(crate) async fn credential_check_locked(&self, name: &str, addr: IpAddr) -> bool {
        self.wait_out(self.throttle.check(self.clock.now(), name, addr))
            .await
    }

    /// Carry out a throttle verdict: whether it refuses, after waiting out a slow-down.
    pub(crate) async fn wait_out(&self, verdict: Verdict) -> bool {
        match verdict {
            Verdict::Go => false,
            Verdict::Slow(wait) => {
                tokio::time::sleep(wait).await;
                false
            }
            Verdict::Locked => true,
        }
    }
}
