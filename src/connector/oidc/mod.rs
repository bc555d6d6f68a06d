//! The `oidc` connector: log in through an upstream OpenID provider with the code flow, verify
//! its ID token, map its claims, and keep its refresh token (sealed) to re-check the user on
//! every Gantry refresh.
//!
//! The code flow, PKCE and the token endpoint are the `oauth2` crate's (`token_endpoint`),
//! token checks `openidconnect`'s with Gantry's around them (`keys::remote`); discovery,
//! userinfo and the Dex claim mapping are Gantry's (see `discovery` and `mapping` for why).

pub mod config;
mod discovery;
mod exchange;
mod mapping;
mod modifications;
mod verify;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use crate::connector::claims::{self, Claims};
use crate::connector::egress::{DenyList, Reach};
use crate::connector::probe::{self, Outcome, Probe};
use crate::connector::token_endpoint::TokenSet;
use crate::connector::upstream::{self, Http, UpstreamError};
use crate::connector::{Begin, ConnectorError};
use crate::identity::Identity;
use crate::keys::remote::{Expect, Kind};
use crate::seal::Sealer;
use crate::secret;
use config::OidcConfig;
use discovery::Provider;

/// Purpose bound into sealed connector data.
const SEAL_PURPOSE: &str = "oidc-connector-data";

#[derive(Debug)]
pub struct OidcConnector {
    id: String,
    cfg: OidcConfig,
    http: Http,
    sealer: Sealer,
    provider: RwLock<Option<Arc<Provider>>>,
}

/// Kept (sealed) with the login, for refresh. Its format is what older versions stored too.
#[derive(Debug, Serialize, Deserialize)]
struct Data {
    refresh_token: String,
    sub: String,
}

impl From<UpstreamError> for ConnectorError {
    fn from(e: UpstreamError) -> Self {
        match e {
            UpstreamError::Rejected(m) => ConnectorError::Rejected(m),
            UpstreamError::Unavailable(m) => ConnectorError::Unavailable(m),
            UpstreamError::Unreachable { detail, .. } => ConnectorError::Unavailable(detail),
        }
    }
}

impl OidcConnector {
    pub fn new(
        id: &str,
        cfg: OidcConfig,
        sealer: Sealer,
        deny: &DenyList,
    ) -> Result<OidcConnector, crate::connector::ConnectorConfigError> {
        let http = upstream::client(&cfg.root_cas, cfg.timeout()?, deny)?;
        Ok(OidcConnector {
            id: id.to_string(),
            cfg,
            http,
            sealer,
            provider: RwLock::new(None),
        })
    }

    pub fn allows_token_exchange(&self) -> bool {
        self.cfg.allow_token_exchange
    }

    /// The provider's metadata, discovering it first if that has not succeeded yet.
    async fn provider(&self) -> Result<Arc<Provider>, ConnectorError> {
        if let Some(p) = self.provider.read().await.clone() {
            return Ok(p);
        }
        let p = Arc::new(self.discover().await?);
        *self.provider.write().await = Some(p.clone());
        Ok(p)
    }

    /// Run discovery now; what the background retry calls until it succeeds.
    pub async fn warm_up(&self) -> Result<(), ConnectorError> {
        self.provider().await.map(|_| ())
    }

    async fn discover(&self) -> Result<Provider, ConnectorError> {
        let url = discovery::url(&self.cfg);
        let doc = upstream::get_json(&self.http, &url, None)
            .await
            .map_err(|e| match e {
                // A provider that answers with an error page now may answer later: retry.
                UpstreamError::Rejected(m) => ConnectorError::Unavailable(m),
                e => e.into(),
            })?;
        discovery::provider(&self.cfg, &url, doc)
    }

    /// The admin's Test: discovery and the JWKS, now. Only a discovery document of this issuer
    /// earns an answer of its own; its issuer (the configured one, or an alias) is the one
    /// thing of it that is shown.
    pub async fn probe(&self) -> Probe {
        let url = discovery::url(&self.cfg);
        let doc = match upstream::get_json(&self.http, &url, None).await {
            Ok(d) => d,
            Err(e) => return Probe::failed(e.reach().into(), e),
        };
        if !discovery::is_discovery(&doc) {
            return Probe::failed(
                Outcome::Unreachable,
                format!("{url}: not an OpenID discovery document"),
            );
        }
        let p = match discovery::provider(&self.cfg, &url, doc) {
            Ok(p) => Arc::new(p),
            Err(e) => return Probe::failed(Outcome::NotOpenidProvider, e),
        };
        let mut facts = vec![
            probe::transport_fact(&url),
            format!(
                "OpenID provider, issuer {}",
                crate::printable::printable(&p.issuer)
            ),
        ];
        let keys = match p.jwks.refetch(&self.http).await {
            Ok(n) => n,
            Err(e) => {
                let outcome = match e.reach() {
                    Reach::Denied => Outcome::DeniedNetwork,
                    _ => Outcome::KeysUnreadable,
                };
                return Probe::failed(outcome, e).after(facts);
            }
        };
        facts.push(format!("{keys} signing key(s) in its JWKS"));
        let mut cached = self.provider.write().await;
        if cached.is_none() {
            *cached = Some(p);
        }
        Probe::passed(facts)
    }

    /// The URL that sends the browser to the provider, with a fresh nonce and PKCE verifier.
    pub async fn begin(&self, state: &str, offline: bool) -> Result<Begin, ConnectorError> {
        let acr = self.cfg.acr_values.join(" ");
        let mut extra = Vec::new();
        let prompt = self.cfg.prompt_type.as_deref().unwrap_or("consent");
        if !prompt.is_empty() {
            extra.push(("prompt", prompt));
        }
        if !acr.is_empty() {
            extra.push(("acr_values", acr.as_str()));
        }
        self.begin_with(state, &self.cfg.scopes(offline), &extra)
            .await
    }

    /// [`Self::begin`] with the scopes and extra parameters of a connector built on this one
    /// (Google's `access_type`, `hd`): a fresh nonce, and PKCE as the provider allows.
    pub async fn begin_with(
        &self,
        state: &str,
        scopes: &[String],
        extra: &[(&str, &str)],
    ) -> Result<Begin, ConnectorError> {
        let p = self.provider().await?;
        let nonce = secret::random_token(16);
        let method = self
            .cfg
            .pkce_challenge
            .as_deref()
            .or(p.s256.then_some("S256"));
        let mut all = vec![("nonce", nonce.as_str())];
        all.extend_from_slice(extra);
        let a = p.endpoint.authorize(state, scopes, method, &all);
        Ok(Begin {
            url: a.url,
            nonce,
            verifier: a.verifier,
        })
    }

    /// Finish a login from the provider's callback: `code`, and `iss` when the provider sent it.
    pub async fn finish(
        &self,
        code: &str,
        iss: Option<&str>,
        nonce: &str,
        verifier: &str,
    ) -> Result<(Identity, String), ConnectorError> {
        let (tokens, mut c) = self.exchange(code, iss, nonce, verifier).await?;
        // From the ID token, before userinfo: amr is about this authentication, and only the
        // signed token says so.
        let amr = crate::mfa::amr::from_upstream(c.get("amr"));
        if self.cfg.get_user_info {
            let p = self.provider().await?;
            self.merge_userinfo(&p, tokens.access_token(), &mut c)
                .await?;
        }
        let mut identity = mapping::identity(&self.cfg, &self.id, &c)?;
        identity.connector_data = tokens.refresh_token().map(|rt| self.seal(rt, &c));
        Ok((identity, amr))
    }

    /// The provider's tokens for `code`, and the claims of its ID token once every check of
    /// the one verifier passed (the callback's `iss`, signature, issuer, audience, nonce).
    pub async fn exchange(
        &self,
        code: &str,
        iss: Option<&str>,
        nonce: &str,
        verifier: &str,
    ) -> Result<(TokenSet, Claims), ConnectorError> {
        let p = self.provider().await?;
        match iss {
            // RFC 9207: an authorization response from another issuer is a mix-up attack.
            Some(i) if i != p.issuer && !self.cfg.issuers().iter().any(|x| x == i) => {
                return Err(ConnectorError::Rejected(format!(
                    "the callback names issuer `{}`, not this provider",
                    i.chars().take(100).collect::<String>()
                )));
            }
            None if p.iss_parameter => {
                return Err(ConnectorError::Rejected(
                    "the callback lacks the iss parameter the provider promises".into(),
                ));
            }
            _ => {}
        }
        let tokens = p.endpoint.exchange_code(&self.http, code, verifier).await?;
        let id_token = tokens
            .id_token
            .as_deref()
            .ok_or_else(|| ConnectorError::Rejected("the provider returned no ID token".into()))?;
        let at = Some(tokens.access_token());
        let c = self
            .verify(&p, id_token, Some(nonce), at, Kind::IdToken)
            .await?;
        Ok((tokens, c))
    }

    /// Redeem `refresh_token`: the new tokens and the verified claims of the new ID token,
    /// which a connector built on this one requires (Google sends one on every refresh).
    /// The provider's refusal is [`UpstreamError::Rejected`], for the caller to end the login.
    pub async fn refresh_id_token(
        &self,
        refresh_token: &str,
    ) -> Result<(TokenSet, Claims), UpstreamError> {
        let p = self
            .provider()
            .await
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        let tokens = p.endpoint.refresh(&self.http, refresh_token).await?;
        let id_token = tokens
            .id_token
            .as_deref()
            .ok_or_else(|| UpstreamError::Rejected("no id_token in the refresh answer".into()))?;
        let at = Some(tokens.access_token());
        let c = self
            .verify(&p, id_token, None, at, Kind::IdToken)
            .await
            .map_err(|e| match e {
                ConnectorError::Unavailable(m) => UpstreamError::Unavailable(m),
                e => UpstreamError::Rejected(e.to_string()),
            })?;
        Ok((tokens, c))
    }

    /// Every upstream JWT, ID token or access token, through the one verifier.
    async fn verify(
        &self,
        p: &Provider,
        token: &str,
        nonce: Option<&str>,
        access_token: Option<&str>,
        kind: Kind,
    ) -> Result<Claims, ConnectorError> {
        let issuers = self.cfg.issuers();
        let expect = Expect {
            issuers: &issuers,
            audience: &self.cfg.client_id,
            nonce,
            access_token,
            algorithms: &p.algorithms,
            kind,
        };
        Ok(p.jwks.verify(&self.http, token, &expect).await?)
    }

    /// Userinfo claims over the ID token's; the `sub` must be the same user (OIDC Core 5.3.2).
    async fn merge_userinfo(
        &self,
        p: &Provider,
        access_token: &str,
        c: &mut Claims,
    ) -> Result<(), ConnectorError> {
        let url = p.userinfo_endpoint.as_deref().ok_or_else(|| {
            ConnectorError::Rejected("getUserInfo is set but the provider has no userinfo".into())
        })?;
        self.merge_userinfo_from(url, access_token, c).await
    }

    async fn merge_userinfo_from(
        &self,
        url: &str,
        access_token: &str,
        c: &mut Claims,
    ) -> Result<(), ConnectorError> {
        let ui = upstream::get_json(&self.http, url, Some(access_token)).await?;
        let Some(ui) = ui.as_object() else {
            return Err(ConnectorError::Rejected(
                "userinfo is not a JSON object".into(),
            ));
        };
        if ui.get("sub") != c.get("sub") {
            return Err(ConnectorError::Rejected(
                "userinfo describes another user than the ID token".into(),
            ));
        }
        for (k, v) in ui {
            c.insert(k.clone(), v.clone());
        }
        Ok(())
    }

    fn seal(&self, refresh_token: &str, c: &Claims) -> String {
        let data = Data {
            refresh_token: refresh_token.to_string(),
            sub: claims::string(c, "sub").unwrap_or_default(),
        };
        let json = serde_json::to_vec(&data).unwrap_or_default();
        self.sealer.seal(SEAL_PURPOSE, &json)
    }

    /// Refresh upstream: a provider that refuses ends the Gantry session; its fresh claims
    /// (groups) replace the old ones.
    pub async fn refresh(&self, old: &Identity) -> Result<Identity, ConnectorError> {
        let data: Data = old
            .connector_data
            .as_deref()
            .and_then(|s| self.sealer.open(SEAL_PURPOSE, s))
            .and_then(|b| serde_json::from_slice(&b).ok())
            // Fail closed: without the upstream's word, the user is not re-checked.
            .ok_or(ConnectorError::UserGone)?;
        let p = self.provider().await?;
        let tokens = match p.endpoint.refresh(&self.http, &data.refresh_token).await {
            Ok(t) => t,
            Err(UpstreamError::Rejected(m)) => {
                tracing::info!(connector = %self.id, reason = %m, "upstream refused the refresh");
                return Err(ConnectorError::UserGone);
            }
            Err(e) => return Err(e.into()),
        };
        let mut c = match tokens.id_token.as_deref() {
            Some(t) => {
                let at = Some(tokens.access_token());
                self.verify(&p, t, None, at, Kind::IdToken).await?
            }
            None => Claims::new(),
        };
        if c.is_empty() || self.cfg.get_user_info {
            if p.userinfo_endpoint.is_none() {
                // Nothing fresh to read: the provider vouched for the session, keep the claims.
                let mut same = old.clone();
                same.connector_data = Some(self.seal_sub(&tokens, &data));
                return Ok(same);
            }
            if c.is_empty() {
                c.insert("sub".into(), data.sub.clone().into());
            }
            self.merge_userinfo(&p, tokens.access_token(), &mut c)
                .await?;
        }
        if claims::string(&c, "sub").as_deref() != Some(data.sub.as_str()) {
            return Err(ConnectorError::Rejected(
                "the provider refreshed another user".into(),
            ));
        }
        let mut identity = mapping::identity(&self.cfg, &self.id, &c).map_err(|e| {
            tracing::info!(connector = %self.id, error = %e, "refreshed identity refused");
            ConnectorError::UserGone
        })?;
        identity.connector_data = Some(self.seal_sub(&tokens, &data));
        Ok(identity)
    }

    fn seal_sub(&self, tokens: &TokenSet, old: &Data) -> String {
        let data = Data {
            // Providers that do not rotate send no new refresh token: keep the old one.
            refresh_token: tokens
                .refresh_token()
                .unwrap_or(&old.refresh_token)
                .to_string(),
            sub: old.sub.clone(),
        };
        self.sealer
            .seal(SEAL_PURPOSE, &serde_json::to_vec(&data).unwrap_or_default())
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn connector(extra: serde_json::Value) -> OidcConnector {
        let mut cfg = json!({"issuer": "https://id.example.com", "clientID": "g",
                             "redirectURI": "https://g.example.com/callback"});
        for (k, v) in extra.as_object().unwrap() {
            cfg[k] = v.clone();
        }
        OidcConnector::new(
            "sso",
            OidcConfig::from_value(&cfg).unwrap(),
            Sealer::ephemeral(),
            &DenyList::default(),
        )
        .unwrap()
    }

    #[test]
    fn refresh_without_sealed_data_fails_closed() {
        let c = connector(json!({}));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for data in [
            None,
            Some("sealed1.x.y".to_string()),
            Some("plain".to_string()),
        ] {
            let old = Identity {
                connector_data: data,
                ..Default::default()
            };
            assert!(matches!(
                rt.block_on(c.refresh(&old)),
                Err(ConnectorError::UserGone)
            ));
        }
    }
}
