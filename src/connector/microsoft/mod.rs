//! The `microsoft` connector, as Dex has it: the OAuth2 code flow at Microsoft's identity
//! platform (`{apiURL}/{tenant}/oauth2/v2.0/...`), the user from Microsoft Graph's `/me`, and
//! groups from Graph's `getMemberGroups` and `directoryObjects/getByIds` (see [`graph`]).
//!
//! Groups always come from Graph, never from a token: a token carries at most some 200 groups
//! and then only an "overage" pointer to Graph, so Dex asks Graph every time, and so does
//! Gantry. The access and refresh tokens are kept sealed; a refresh re-reads the user and the
//! groups, and a user Graph no longer knows, or no longer in an allowed group, is gone.

pub mod config;
mod graph;

use serde::{Deserialize, Serialize};

use crate::connector::egress::DenyList;
use crate::connector::probe::{self, Outcome, Probe};
use crate::connector::token_endpoint::TokenEndpoint;
use crate::connector::upstream::{self, Http, UpstreamError};
use crate::connector::{Begin, ConnectorConfigError, ConnectorError, Scopes};
use crate::identity::Identity;
use crate::seal::Sealer;
use config::{GroupNameFormat, MicrosoftConfig};

const SEAL_PURPOSE: &str = "microsoft-connector-data";

/// An access token this close to its end is refreshed first: Graph must not see it expire
/// between the check and the call.
const EXPIRY_MARGIN: i64 = 30;

#[derive(Debug)]
pub struct MicrosoftConnector {
    id: String,
    cfg: MicrosoftConfig,
    names: GroupNameFormat,
    graph: url::Url,
    http: Http,
    token: TokenEndpoint,
    token_url: String,
    sealer: Sealer,
}

/// Kept (sealed) with the login, for refresh: Dex's `connectorData`, and the user it is for.
#[derive(Debug, Serialize, Deserialize)]
struct Data {
    access_token: String,
    #[serde(default)]
    refresh_token: String,
    /// Unix seconds; 0 when Microsoft did not say.
    #[serde(default)]
    expiry: i64,
    user_id: String,
}

impl MicrosoftConnector {
    pub fn new(
        id: &str,
        cfg: MicrosoftConfig,
        sealer: Sealer,
        deny: &DenyList,
    ) -> Result<MicrosoftConnector, ConnectorConfigError> {
        let http = upstream::client(&[], cfg.timeout()?, deny)?;
        let base = format!("{}/{}/oauth2/v2.0", cfg.api_url(), cfg.tenant());
        let token_url = format!("{base}/token");
        let token = TokenEndpoint::new(
            &format!("{base}/authorize"),
            &token_url,
            &cfg.client_id,
            &cfg.client_secret,
            &cfg.redirect_uri,
            // Microsoft takes the secret in the form (client_secret_post), as Go's oauth2 sends
            // it to an endpoint whose style it has not learned yet.
            true,
        )?;
        let graph = url::Url::parse(&format!("{}/", cfg.graph_url())).map_err(|source| {
            ConnectorConfigError::NotAUrl {
                key: "graphURL".into(),
                source,
            }
        })?;
        Ok(MicrosoftConnector {
            id: id.to_string(),
            names: cfg.group_name_format()?,
            cfg,
            graph,
            http,
            token,
            token_url,
            sealer,
        })
    }

    pub fn begin(&self, state: &str, scopes: Scopes) -> Result<Begin, ConnectorError> {
        let mut extra = Vec::new();
        if !self.cfg.prompt_type.is_empty() {
            extra.push(("prompt", self.cfg.prompt_type.as_str()));
        }
        if !self.cfg.domain_hint.is_empty() {
            extra.push(("domain_hint", self.cfg.domain_hint.as_str()));
        }
        let a = self.token.authorize(
            state,
            &self.cfg.scopes(scopes.groups, scopes.offline_access),
            Some("S256"),
            &extra,
        );
        Ok(Begin {
            url: a.url,
            nonce: String::new(),
            verifier: a.verifier,
        })
    }

    pub async fn finish(
        &self,
        code: &str,
        verifier: &str,
        scopes: Scopes,
        now: i64,
    ) -> Result<Identity, ConnectorError> {
        let tokens = self
            .token
            .exchange_code(&self.http, code, verifier)
            .await
            .map_err(|e| ConnectorError::from(e).while_("microsoft: get token"))?;
        let at = tokens.access_token();
        let mut identity = self.identity(at, scopes).await?;
        identity.connector_data = Some(
            self.seal(&Data {
                access_token: at.to_string(),
                refresh_token: tokens.refresh_token().unwrap_or_default().to_string(),
                expiry: tokens
                    .expires_in_secs()
                    .map_or(0, |s| now.saturating_add(s)),
                user_id: identity.user_id.clone(),
            }),
        );
        Ok(identity)
    }

    /// The user behind `access_token`, with groups when Dex would read them.
    async fn identity(
        &self,
        access_token: &str,
        scopes: Scopes,
    ) -> Result<Identity, ConnectorError> {
        let g = graph::Graph::new(&self.http, &self.graph, access_token);
        let user = g
            .me()
            .await
            .map_err(|e| ConnectorError::from(e).while_("microsoft: get user"))?;
        if user.id.is_empty() {
            return Err(ConnectorError::Rejected(
                "microsoft: Graph named no user id".into(),
            ));
        }
        let email = if self.cfg.email_to_lowercase {
            user.user_principal_name.to_lowercase()
        } else {
            user.user_principal_name.clone()
        };
        let preferred = match self.cfg.preferred_username_field.as_str() {
            "name" => user.display_name.clone(),
            "email" => email.clone(),
            "mailNickname" => user.mail_nickname.clone(),
            "onPremisesSamAccountName" => user.on_premises_sam_account_name.clone(),
            _ => String::new(),
        };
        let groups = if self.cfg.groups_required(scopes.groups) {
            self.groups(&g, &user.id).await?
        } else {
            Vec::new()
        };
        Ok(Identity {
            user_id: user.id,
            username: user.display_name,
            preferred_username: preferred,
            email,
            // Dex: Microsoft's user principal name is vouched for by the directory.
            email_verified: true,
            groups,
            connector_id: self.id.clone(),
            connector_data: None,
        })
    }

    /// Dex's `getGroups`: every group (or security group) of the user, by name or id; a user
    /// in none of `groups` is refused, and `useGroupsAsWhitelist` keeps only those.
    async fn groups(
        &self,
        g: &graph::Graph<'_>,
        user_id: &str,
    ) -> Result<Vec<String>, ConnectorError> {
        let ids = g
            .member_groups(self.cfg.only_security_groups)
            .await
            .map_err(|e| ConnectorError::from(e).while_("microsoft: get groups"))?;
        let all = match self.names {
            GroupNameFormat::Id => ids,
            GroupNameFormat::Name => {
                let batch = if self.cfg.batch_group_lookups {
                    graph::MAX_IDS_PER_LOOKUP
                } else {
                    usize::MAX
                };
                g.group_names(&ids, batch)
                    .await
                    .map_err(|e| ConnectorError::from(e).while_("microsoft: get groups"))?
            }
        };
        let allowed = &self.cfg.groups;
        let kept: Vec<String> = all
            .iter()
            .filter(|x| allowed.contains(x))
            .cloned()
            .collect();
        if !allowed.is_empty() && kept.is_empty() {
            return Err(ConnectorError::Rejected(format!(
                "user {user_id} is not in any of the required groups"
            )));
        }
        Ok(if self.cfg.use_groups_as_whitelist {
            kept
        } else {
            all
        })
    }

    fn seal(&self, d: &Data) -> String {
        self.sealer
            .seal(SEAL_PURPOSE, &serde_json::to_vec(d).unwrap_or_default())
    }

    /// Refresh: the access token is refreshed when it is (nearly) spent, as Dex's token source
    /// does; then the user and groups are read again. Microsoft refusing the refresh token, or
    /// Graph refusing the user, ends the Gantry session.
    pub async fn refresh(
        &self,
        old: &Identity,
        scopes: Scopes,
        now: i64,
    ) -> Result<Identity, ConnectorError> {
        let mut data: Data = old
            .connector_data
            .as_deref()
            .and_then(|s| self.sealer.open(SEAL_PURPOSE, s))
            .and_then(|b| serde_json::from_slice(&b).ok())
            // Fail closed: without Microsoft's word the user is not re-checked.
            .ok_or(ConnectorError::UserGone)?;
        if data.expiry != 0 && data.expiry - EXPIRY_MARGIN <= now {
            if data.refresh_token.is_empty() {
                return Err(ConnectorError::UserGone);
            }
            let t = match self.token.refresh(&self.http, &data.refresh_token).await {
                Ok(t) => t,
                Err(UpstreamError::Rejected(m)) => {
                    tracing::info!(connector = %self.id, reason = %m, "upstream refused the refresh");
                    return Err(ConnectorError::UserGone);
                }
                Err(e) => return Err(e.into()),
            };
            data.access_token = t.access_token().to_string();
            if let Some(rt) = t.refresh_token() {
                data.refresh_token = rt.to_string();
            }
            data.expiry = t.expires_in_secs().map_or(0, |s| now.saturating_add(s));
        }
        let mut identity = self
            .identity(&data.access_token, scopes)
            .await
            .map_err(|e| e.on_refresh(&self.id))?;
        if identity.user_id != data.user_id {
            tracing::info!(connector = %self.id, "Graph answered the refresh for another user");
            return Err(ConnectorError::UserGone);
        }
        identity.connector_data = Some(self.seal(&data));
        Ok(identity)
    }

    /// The admin's Test: does the tenant's token endpoint answer as one, and take the client's
    /// credentials? (Graph cannot be asked without a user's login.)
    pub async fn probe(&self) -> Probe {
        match self.token.probe(&self.http).await {
            Ok(client_known) => {
                let facts = vec![
                    probe::transport_fact(&self.token_url),
                    format!(
                        "the tenant `{}` token endpoint answered as OAuth2 (it refused a made-up code)",
                        crate::printable::printable(self.cfg.tenant())
                    ),
                ];
                if client_known {
                    Probe::passed(facts)
                } else {
                    Probe::failed(
                        Outcome::ClientRefused,
                        format!("{}: invalid_client", self.token_url),
                    )
                    .after(facts)
                }
            }
            Err(e) => Probe::failed(e.reach().into(), e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connector(extra: serde_json::Value) -> MicrosoftConnector {
        let mut c = serde_json::json!({"clientID": "app", "clientSecret": "s",
            "redirectURI": "https://id.example.com/callback"});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        MicrosoftConnector::new(
            "ms",
            MicrosoftConfig::from_value(&c).unwrap(),
            Sealer::ephemeral(),
            &DenyList::default(),
        )
        .unwrap()
    }

    fn params(url: &str) -> std::collections::HashMap<String, String> {
        url::Url::parse(url)
            .unwrap()
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn the_login_url_is_dexs_for_the_tenant_with_prompt_and_domain_hint() {
        let c = connector(serde_json::json!({"tenant": "example.onmicrosoft.com",
            "promptType": "select_account", "domainHint": "example.com"}));
        let b = c
            .begin(
                "st",
                Scopes {
                    offline_access: true,
                    groups: true,
                },
            )
            .unwrap();
        assert!(
            b.url.starts_with(
                "https://login.microsoftonline.com/example.onmicrosoft.com/oauth2/v2.0/authorize?"
            ),
            "{}",
            b.url
        );
        let q = params(&b.url);
        assert_eq!(q["scope"], "user.read directory.read.all offline_access");
        assert_eq!(q["prompt"], "select_account");
        assert_eq!(q["domain_hint"], "example.com");
        assert_eq!(q["state"], "st");
        let plain = connector(serde_json::json!({}))
            .begin("st", Scopes::default())
            .unwrap();
        let q = params(&plain.url);
        assert_eq!(q["scope"], "user.read");
        assert!(!q.contains_key("prompt") && !q.contains_key("domain_hint"));
    }

    #[test]
    fn refresh_without_sealed_data_fails_closed() {
        let c = connector(serde_json::json!({}));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for data in [None, Some("sealed1.x.y".to_string())] {
            let old = Identity {
                connector_data: data,
                ..Default::default()
            };
            assert!(matches!(
                rt.block_on(c.refresh(&old, Scopes::default(), 0)),
                Err(ConnectorError::UserGone)
            ));
        }
    }
}
