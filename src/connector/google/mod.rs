//! The `google` connector, as Dex has it: OpenID Connect at Google (the `oidc` connector's
//! discovery, code flow and ID-token verification, reused), `hd` and `access_type=offline` on
//! the way out, `hostedDomains` on the way back, and groups from the Admin SDK Directory API
//! through a service account (see [`directory`]). The refresh token is kept sealed; a refresh
//! redeems it for a new ID token and reads the groups again.

pub mod config;
mod directory;

use serde::{Deserialize, Serialize};

use crate::connector::claims::{self, Claims};
use crate::connector::egress::DenyList;
use crate::connector::oidc::OidcConnector;
use crate::connector::oidc::config::OidcConfig;
use crate::connector::probe::Probe;
use crate::connector::upstream::{self, Http, UpstreamError};
use crate::connector::{Begin, ConnectorConfigError, ConnectorError, Scopes};
use crate::identity::Identity;
use crate::seal::Sealer;
use config::GoogleConfig;
use directory::Directory;

const SEAL_PURPOSE: &str = "google-connector-data";

#[derive(Debug)]
pub struct GoogleConnector {
    id: String,
    cfg: GoogleConfig,
    oidc: OidcConnector,
    /// Google's Admin SDK, when a service account is configured.
    directory: Option<Directory>,
    http: Http,
    sealer: Sealer,
}

/// Kept (sealed) with the login: Dex keeps the refresh token alone; the subject is kept too, so
/// that a refresh answered for another account is refused.
#[derive(Debug, Serialize, Deserialize)]
struct Data {
    refresh_token: String,
    sub: String,
}

impl GoogleConnector {
    pub fn new(
        id: &str,
        cfg: GoogleConfig,
        sealer: Sealer,
        deny: &DenyList,
    ) -> Result<GoogleConnector, ConnectorConfigError> {
        let oidc_cfg = OidcConfig::from_value(&cfg.oidc())?;
        let oidc = OidcConnector::new(id, oidc_cfg, sealer.clone(), deny)?;
        let http = upstream::client(&[], cfg.timeout()?, deny)?;
        let directory = if cfg.domain_to_admin_email.is_empty() {
            None
        } else {
            let path = match cfg.service_account_file_path.as_str() {
                // Dex falls back to Google's application default credentials; of those, Gantry
                // reads the key file that GOOGLE_APPLICATION_CREDENTIALS names.
                "" => std::env::var("GOOGLE_APPLICATION_CREDENTIALS").map_err(|_| {
                    ConnectorConfigError::Rule(
                        "config.domainToAdminEmail needs config.serviceAccountFilePath (or \
                         GOOGLE_APPLICATION_CREDENTIALS naming a service-account key file)",
                    )
                })?,
                p => p.to_string(),
            };
            Some(Directory::open(
                &path,
                cfg.domain_to_admin_email.clone(),
                &cfg.directory_url(),
                cfg.insecure_allow_http,
            )?)
        };
        Ok(GoogleConnector {
            id: id.to_string(),
            cfg,
            oidc,
            directory,
            http,
            sealer,
        })
    }

    pub async fn warm_up(&self) -> Result<(), ConnectorError> {
        self.oidc.warm_up().await
    }

    pub async fn probe(&self) -> Probe {
        self.oidc.probe().await
    }

    /// Dex's `LoginURL`: `hd` names the one hosted domain (`*` for several); with
    /// `offline_access`, `access_type=offline` and the `prompt` (Dex's default `consent`).
    pub async fn begin(&self, state: &str, scopes: Scopes) -> Result<Begin, ConnectorError> {
        let mut extra = Vec::new();
        match self.cfg.hosted_domains.as_slice() {
            [] => {}
            [one] => extra.push(("hd", one.as_str())),
            _ => extra.push(("hd", "*")),
        }
        if scopes.offline_access {
            extra.push(("access_type", "offline"));
            extra.push((
                "prompt",
                self.cfg.prompt_type.as_deref().unwrap_or("consent"),
            ));
        }
        self.oidc
            .begin_with(state, &self.cfg.scopes(), &extra)
            .await
    }

    pub async fn finish(
        &self,
        code: &str,
        iss: Option<&str>,
        nonce: &str,
        verifier: &str,
        scopes: Scopes,
    ) -> Result<Identity, ConnectorError> {
        let (tokens, c) = self
            .oidc
            .exchange(code, iss, nonce, verifier)
            .await
            .map_err(|e| e.while_("google"))?;
        let mut identity = self.identity(&c, "", scopes).await?;
        identity.connector_data = tokens.refresh_token().map(|rt| {
            self.seal(&Data {
                refresh_token: rt.to_string(),
                sub: identity.user_id.clone(),
            })
        });
        Ok(identity)
    }

    /// Dex's `createIdentity`: the ID token's claims, `hostedDomains` enforced, and the groups
    /// from the directory. `old_name`: the name to keep when Google leaves `name` out.
    async fn identity(
        &self,
        c: &Claims,
        old_name: &str,
        scopes: Scopes,
    ) -> Result<Identity, ConnectorError> {
        let sub = claims::string(c, "sub")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ConnectorError::Rejected("google: the ID token has no sub".into()))?;
        let username = claims::string(c, "name")
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| old_name.to_string());
        let email = claims::string(c, "email").unwrap_or_default();
        if !self.cfg.hosted_domains.is_empty() {
            let hd = claims::string(c, "hd").unwrap_or_default();
            if !self.cfg.hosted_domains.contains(&hd) {
                return Err(ConnectorError::Rejected(format!(
                    "google: the account's domain `{}` is not one of the allowed hosted domains",
                    crate::printable::printable(&hd)
                )));
            }
        }
        let mut groups = Vec::new();
        // Dex reads groups for the groups scope alone; `groups` set in the config is a gate,
        // enforced whatever the client asked.
        if let Some(d) = &self.directory
            && (scopes.groups || !self.cfg.groups.is_empty())
        {
            let now = crate::keys::remote::unix_now();
            groups = d
                .groups(
                    &self.http,
                    &email,
                    self.cfg.fetch_transitive_group_membership,
                    now,
                )
                .await
                .map_err(|e| ConnectorError::from(e).while_("google: could not retrieve groups"))?;
            groups = claims::filter_allowed(groups, &self.cfg.groups).ok_or_else(|| {
                ConnectorError::Rejected(format!(
                    "google: user {} is not in any of the required groups",
                    crate::printable::printable(&username)
                ))
            })?;
        }
        Ok(Identity {
            user_id: sub,
            username,
            preferred_username: String::new(),
            email,
            email_verified: claims::boolean(c, "email_verified").unwrap_or(false),
            groups,
            connector_id: self.id.clone(),
            connector_data: None,
        })
    }

    fn seal(&self, d: &Data) -> String {
        self.sealer
            .seal(SEAL_PURPOSE, &serde_json::to_vec(d).unwrap_or_default())
    }

    /// Dex's `Refresh`: redeem the refresh token for a new ID token and build the identity
    /// again. Google refusing the token, or any check failing, ends the Gantry session.
    pub async fn refresh(
        &self,
        old: &Identity,
        scopes: Scopes,
    ) -> Result<Identity, ConnectorError> {
        let data: Data = old
            .connector_data
            .as_deref()
            .and_then(|s| self.sealer.open(SEAL_PURPOSE, s))
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(ConnectorError::UserGone)?;
        let (tokens, c) = match self.oidc.refresh_id_token(&data.refresh_token).await {
            Ok(x) => x,
            Err(UpstreamError::Rejected(m)) => {
                tracing::info!(connector = %self.id, reason = %m, "upstream refused the refresh");
                return Err(ConnectorError::UserGone);
            }
            Err(e) => return Err(e.into()),
        };
        let mut identity = self
            .identity(&c, &old.username, scopes)
            .await
            .map_err(|e| e.on_refresh(&self.id))?;
        if identity.user_id != data.sub {
            tracing::info!(connector = %self.id, "Google refreshed another account");
            return Err(ConnectorError::UserGone);
        }
        identity.connector_data = Some(
            self.seal(&Data {
                refresh_token: tokens
                    .refresh_token()
                    .unwrap_or(&data.refresh_token)
                    .to_string(),
                sub: data.sub,
            }),
        );
        Ok(identity)
    }
}
