//! The `oauth` connector: a provider that speaks OAuth2 but not OpenID Connect (GitHub-like).
//! The code flow with state and PKCE (the `oauth2` crate's, in `token_endpoint`); the user is
//! whoever the userinfo URL says the access token belongs to. Keys and meaning are Dex's.

use crate::connector::ConnectorConfigError;
use serde::{Deserialize, Serialize};

use crate::connector::claims::{self, Claims};
use crate::connector::egress::DenyList;
use crate::connector::probe::{self, Outcome, Probe};
use crate::connector::token_endpoint::TokenEndpoint;
use crate::connector::upstream::{self, Http, UpstreamError};
use crate::connector::{Begin, ConnectorError};
use crate::identity::Identity;
use crate::seal::Sealer;

const SEAL_PURPOSE: &str = "oauth-connector-data";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OAuthConfig {
    #[serde(rename = "clientID")]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: String,
    #[serde(rename = "redirectURI")]
    pub redirect_uri: String,
    #[serde(rename = "tokenURL")]
    pub token_url: String,
    #[serde(rename = "authorizationURL")]
    pub authorization_url: String,
    #[serde(rename = "userInfoURL")]
    pub user_info_url: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default, rename = "rootCAs")]
    pub root_cas: Vec<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    #[serde(rename = "userIDKey")]
    pub user_id_key: Option<String>,
    #[serde(default)]
    pub claim_mapping: OAuthClaimMapping,
    /// Gantry: send credentials in the form instead of Basic (Dex autodetects).
    #[serde(default)]
    pub basic_auth_unsupported: bool,
    /// Gantry: "S256" or "plain" to send PKCE (many OAuth2 providers reject unknown params).
    pub pkce_challenge: Option<String>,
    /// Gantry: timeout of each call to the provider.
    pub timeout: Option<String>,
    /// Gantry: talk to a provider that is not loopback over plain http. Its unsigned userinfo
    /// answer is the identity: over http, anyone on the path can be anyone.
    #[serde(default, rename = "insecureAllowHTTP")]
    pub insecure_allow_http: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OAuthClaimMapping {
    pub user_name_key: Option<String>,
    pub preferred_username_key: Option<String>,
    pub groups_key: Option<String>,
    pub email_key: Option<String>,
    pub email_verified_key: Option<String>,
}

impl OAuthConfig {
    pub fn from_value(v: &serde_json::Value) -> Result<OAuthConfig, ConnectorConfigError> {
        let c: OAuthConfig = crate::connector::parse_config(v)?;
        for (k, u) in [
            ("tokenURL", &c.token_url),
            ("authorizationURL", &c.authorization_url),
            ("userInfoURL", &c.user_info_url),
            ("redirectURI", &c.redirect_uri),
        ] {
            url::Url::parse(u).map_err(|source| ConnectorConfigError::NotAUrl {
                key: k.to_string(),
                source,
            })?;
        }
        // The redirect URI is Gantry's own; the provider's endpoints carry the identity.
        for (k, u) in [
            ("tokenURL", &c.token_url),
            ("authorizationURL", &c.authorization_url),
            ("userInfoURL", &c.user_info_url),
        ] {
            crate::connector::plain_http::check(&format!("config.{k}"), u, c.insecure_allow_http)?;
        }
        if c.client_id.is_empty() {
            return Err(ConnectorConfigError::Required("clientID"));
        }
        c.timeout()?;
        Ok(c)
    }

    fn timeout(&self) -> Result<std::time::Duration, ConnectorConfigError> {
        upstream::check_common(
            self.insecure_skip_verify,
            self.pkce_challenge.as_deref(),
            self.timeout.as_deref(),
        )
    }
}

#[derive(Debug)]
pub struct OAuthConnector {
    id: String,
    cfg: OAuthConfig,
    http: Http,
    token: TokenEndpoint,
    sealer: Sealer,
}

#[derive(Debug, Serialize, Deserialize)]
struct Data {
    #[serde(default)]
    refresh_token: String,
    access_token: String,
    user_id: String,
}

impl OAuthConnector {
    pub fn new(
        id: &str,
        cfg: OAuthConfig,
        sealer: Sealer,
        deny: &DenyList,
    ) -> Result<OAuthConnector, ConnectorConfigError> {
        let http = upstream::client(&cfg.root_cas, cfg.timeout()?, deny)?;
        let token = TokenEndpoint::new(
            &cfg.authorization_url,
            &cfg.token_url,
            &cfg.client_id,
            &cfg.client_secret,
            &cfg.redirect_uri,
            cfg.basic_auth_unsupported,
        )?;
        Ok(OAuthConnector {
            id: id.to_string(),
            cfg,
            http,
            token,
            sealer,
        })
    }

    pub fn begin(&self, state: &str) -> Result<Begin, ConnectorError> {
        let a = self.token.authorize(
            state,
            &self.cfg.scopes,
            self.cfg.pkce_challenge.as_deref(),
            &[],
        );
        Ok(Begin {
            url: a.url,
            nonce: String::new(),
            verifier: a.verifier,
        })
    }

    /// The admin's Test: does the token endpoint answer as one, and take the client's
    /// credentials? (Nothing more can be checked without a user's login.)
    pub async fn probe(&self) -> Probe {
        match self.token.probe(&self.http).await {
            Ok(client_known) => {
                let facts = vec![
                    probe::transport_fact(&self.cfg.token_url),
                    "the token endpoint answered as OAuth2 (it refused a made-up code)".into(),
                ];
                if client_known {
                    Probe::passed(facts)
                } else {
                    Probe::failed(
                        Outcome::ClientRefused,
                        format!("{}: invalid_client", self.cfg.token_url),
                    )
                    .after(facts)
                }
            }
            Err(e) => Probe::failed(e.reach().into(), e),
        }
    }

    pub async fn finish(&self, code: &str, verifier: &str) -> Result<Identity, ConnectorError> {
        let tokens = self.token.exchange_code(&self.http, code, verifier).await?;
        let c = self.userinfo(tokens.access_token()).await?;
        let mut identity = self.identity(&c)?;
        identity.connector_data = Some(self.seal(&Data {
            refresh_token: tokens.refresh_token().unwrap_or_default().to_string(),
            access_token: tokens.access_token().to_string(),
            user_id: identity.user_id.clone(),
        }));
        Ok(identity)
    }

    async fn userinfo(&self, access_token: &str) -> Result<Claims, ConnectorError> {
        match upstream::get_json(&self.http, &self.cfg.user_info_url, Some(access_token)).await? {
            serde_json::Value::Object(o) => Ok(o),
            _ => Err(ConnectorError::Rejected(
                "userinfo is not a JSON object".into(),
            )),
        }
    }

    fn seal(&self, d: &Data) -> String {
        self.sealer
            .seal(SEAL_PURPOSE, &serde_json::to_vec(d).unwrap_or_default())
    }

    fn identity(&self, c: &Claims) -> Result<Identity, ConnectorError> {
        let m = &self.cfg.claim_mapping;
        let key = |k: &Option<String>, d: &'static str| k.clone().unwrap_or_else(|| d.to_string());
        let id_key = self.cfg.user_id_key.clone().unwrap_or_else(|| "id".into());
        let user_id = claims::string(c, &id_key)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                ConnectorError::Rejected(format!("userinfo has no \"{id_key}\" (userIDKey)"))
            })?;
        let groups_key = key(&m.groups_key, "groups");
        let groups = claims::groups(c, &groups_key)
            .map_err(|e| ConnectorError::Rejected(e.to_string()))?
            .unwrap_or_default();
        Ok(Identity {
            user_id,
            username: claims::string(c, &key(&m.user_name_key, "user_name")).unwrap_or_default(),
            preferred_username: claims::string(
                c,
                &key(&m.preferred_username_key, "preferred_username"),
            )
            .unwrap_or_default(),
            email: claims::string(c, &key(&m.email_key, "email")).unwrap_or_default(),
            email_verified: claims::boolean(c, &key(&m.email_verified_key, "email_verified"))
                .unwrap_or(false),
            groups,
            connector_id: self.id.clone(),
            connector_data: None,
        })
    }

    /// With a refresh token, refresh upstream; without, reuse the access token while it lasts.
    /// Either way userinfo must still know the same user.
    pub async fn refresh(&self, old: &Identity) -> Result<Identity, ConnectorError> {
        let mut data: Data = old
            .connector_data
            .as_deref()
            .and_then(|s| self.sealer.open(SEAL_PURPOSE, s))
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(ConnectorError::UserGone)?;
        if !data.refresh_token.is_empty() {
            match self.token.refresh(&self.http, &data.refresh_token).await {
                Ok(t) => {
                    data.access_token = t.access_token().to_string();
                    if let Some(rt) = t.refresh_token() {
                        data.refresh_token = rt.to_string();
                    }
                }
                Err(UpstreamError::Rejected(m)) => {
                    tracing::info!(connector = %self.id, reason = %m, "upstream refused the refresh");
                    return Err(ConnectorError::UserGone);
                }
                Err(e) => return Err(e.into()),
            }
        }
        let c = match self.userinfo(&data.access_token).await {
            Ok(c) => c,
            Err(ConnectorError::Rejected(m)) => {
                tracing::info!(connector = %self.id, reason = %m, "userinfo refused on refresh");
                return Err(ConnectorError::UserGone);
            }
            Err(e) => return Err(e),
        };
        let mut identity = self.identity(&c).map_err(|_| ConnectorError::UserGone)?;
        if identity.user_id != data.user_id {
            return Err(ConnectorError::UserGone);
        }
        identity.connector_data = Some(self.seal(&data));
        Ok(identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_user_id_is_no_user_id() {
        let cfg = OAuthConfig::from_value(&serde_json::json!({
            "clientID": "g", "clientSecret": "s",
            "redirectURI": "https://g.example.com/callback",
            "tokenURL": "https://p.example.com/token",
            "authorizationURL": "https://p.example.com/auth",
            "userInfoURL": "https://p.example.com/user",
        }))
        .unwrap();
        let sealer = Sealer::new(&[crate::secret::random_bytes(32)]).unwrap();
        let c = OAuthConnector::new("oa", cfg, sealer, &DenyList::default()).unwrap();
        let claims = |id: serde_json::Value| {
            serde_json::json!({"id": id, "user_name": "n"})
                .as_object()
                .cloned()
                .unwrap()
        };
        assert_eq!(c.identity(&claims("7".into())).unwrap().user_id, "7");
        for nobody in [serde_json::json!(""), serde_json::Value::Null] {
            let e = c.identity(&claims(nobody.clone())).unwrap_err();
            assert!(
                e.to_string().contains("userinfo has no \"id\""),
                "{nobody}: {e}"
            );
        }
    }

    #[test]
    fn a_claim_mapping_with_nothing_under_it_loads_as_left_out() {
        // What `claimMapping:` with its children commented out is after YAML.
        let cfg = OAuthConfig::from_value(&serde_json::json!({
            "clientID": "g", "clientSecret": "s",
            "redirectURI": "https://g.example.com/callback",
            "tokenURL": "https://p.example.com/token",
            "authorizationURL": "https://p.example.com/auth",
            "userInfoURL": "https://p.example.com/user",
            "claimMapping": null,
        }))
        .unwrap();
        assert!(cfg.claim_mapping.groups_key.is_none());
    }
}
