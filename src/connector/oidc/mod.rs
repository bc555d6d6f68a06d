//! The `oidc` connector: log in through an upstream OpenID provider with the code flow, verify
//! its ID token, map its claims, and keep its refresh token (sealed) to re-check the user on
//! every Gantry refresh.

pub mod config;
mod verify;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use crate::connector::claims::{self, Claims};
use crate::connector::egress::{DenyList, Reach};
use crate::connector::plain_http;
use crate::connector::probe::{self, Outcome, Probe};
use crate::connector::upstream::{self, Http, TokenEndpoint, UpstreamError};
use crate::connector::{Begin, ConnectorError};
use crate::identity::Identity;
use crate::seal::Sealer;
use crate::secret;
use config::OidcConfig;
use verify::{Expect, Jwks};

/// Purpose bound into sealed connector data.
const SEAL_PURPOSE: &str = "oidc-connector-data";

/// What discovery (plus overrides) says about the provider.
#[derive(Debug)]
struct Provider {
    issuer: String,
    authorization_endpoint: String,
    token: TokenEndpoint,
    userinfo_endpoint: Option<String>,
    /// RFC 7662, where the provider offers it: how an opaque access token is proved ours.
    introspection_endpoint: Option<String>,
    jwks: Jwks,
    algorithms: Vec<jsonwebtoken::Algorithm>,
    s256: bool,
    /// RFC 9207: the provider puts `iss` on every authorization response.
    iss_parameter: bool,
}

#[derive(Debug)]
pub struct OidcConnector {
    id: String,
    cfg: OidcConfig,
    http: Http,
    sealer: Sealer,
    provider: RwLock<Option<Arc<Provider>>>,
}

/// Kept (sealed) with the login, for refresh.
#[derive(Debug, Serialize, Deserialize)]
struct Data {
    refresh_token: String,
    sub: String,
}

#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    jwks_uri: Option<String>,
    userinfo_endpoint: Option<String>,
    introspection_endpoint: Option<String>,
    #[serde(default)]
    id_token_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
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
    ) -> Result<OidcConnector, String> {
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

    fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.cfg.issuer.trim_end_matches('/')
        )
    }

    async fn discover(&self) -> Result<Provider, ConnectorError> {
        let url = self.discovery_url();
        let doc = upstream::get_json(&self.http, &url, None)
            .await
            .map_err(|e| match e {
                // A provider that answers with an error page now may answer later: retry.
                UpstreamError::Rejected(m) => ConnectorError::Unavailable(m),
                e => e.into(),
            })?;
        self.provider_from(&url, doc)
    }

    /// The provider a discovery document (from `url`) describes, if it is this issuer's and
    /// usable.
    fn provider_from(&self, url: &str, doc: serde_json::Value) -> Result<Provider, ConnectorError> {
        let d: Discovery = serde_json::from_value(doc)
            .map_err(|e| ConnectorError::Unavailable(format!("{url}: {e}")))?;
        // OIDC Discovery 4.3: the document must be for the issuer asked for.
        if !self.cfg.issuers().iter().any(|i| i == &d.issuer) {
            return Err(ConnectorError::Unavailable(format!(
                "{url} is for issuer `{}`, not `{}` (set issuerAlias if that is expected)",
                d.issuer, self.cfg.issuer
            )));
        }
        let o = &self.cfg.provider_discovery_overrides;
        let need = |v: Option<String>, what: &str| {
            v.filter(|s| !s.is_empty())
                .ok_or_else(|| ConnectorError::Unavailable(format!("{url} has no {what}")))
        };
        let post_auth = match self.cfg.basic_auth_unsupported {
            Some(b) => b,
            None => {
                let m = &d.token_endpoint_auth_methods_supported;
                !m.is_empty()
                    && !m.iter().any(|x| x == "client_secret_basic")
                    && m.iter().any(|x| x == "client_secret_post")
            }
        };
        // A discovery document may name other hosts; they must be as safe to fetch from as the
        // issuer: keys, tokens and claims come from there.
        // (An override replaces the document's value and was checked with the config.)
        for (what, u, overridden) in [
            ("jwks_uri", &d.jwks_uri, o.jwks_url.is_some()),
            ("token_endpoint", &d.token_endpoint, o.token_url.is_some()),
            ("userinfo_endpoint", &d.userinfo_endpoint, false),
            ("introspection_endpoint", &d.introspection_endpoint, false),
        ] {
            if let Some(u) = u.as_deref().filter(|u| !u.is_empty() && !overridden) {
                plain_http::check(&format!("{url}: {what}"), u, self.cfg.insecure_allow_http)
                    .map_err(ConnectorError::Unavailable)?;
            }
        }
        let algorithms = verify::algorithms(&d.id_token_signing_alg_values_supported);
        if algorithms.is_empty() {
            return Err(ConnectorError::Unavailable(format!(
                "{url}: the provider signs ID tokens only with algorithms Gantry refuses"
            )));
        }
        Ok(Provider {
            issuer: d.issuer,
            authorization_endpoint: need(
                o.auth_url.clone().or(d.authorization_endpoint),
                "authorization_endpoint",
            )?,
            token: TokenEndpoint {
                url: need(o.token_url.clone().or(d.token_endpoint), "token_endpoint")?,
                client_id: self.cfg.client_id.clone(),
                client_secret: self.cfg.client_secret.clone(),
                post_auth,
            },
            userinfo_endpoint: d.userinfo_endpoint,
            introspection_endpoint: d.introspection_endpoint,
            jwks: Jwks::new(need(o.jwks_url.clone().or(d.jwks_uri), "jwks_uri")?),
            algorithms,
            s256: d
                .code_challenge_methods_supported
                .iter()
                .any(|m| m == "S256"),
            iss_parameter: d.authorization_response_iss_parameter_supported,
        })
    }

    /// The admin's Test: discovery and the JWKS, now. Only a discovery document of this issuer
    /// earns an answer of its own; its issuer (the configured one, or an alias) is the one
    /// thing of it that is shown.
    pub async fn probe(&self) -> Probe {
        let url = self.discovery_url();
        let doc = match upstream::get_json(&self.http, &url, None).await {
            Ok(d) => d,
            Err(e) => return Probe::failed(e.reach().into(), e),
        };
        if !is_discovery(&doc) {
            return Probe::failed(
                Outcome::Unreachable,
                format!("{url}: not an OpenID discovery document"),
            );
        }
        let p = match self.provider_from(&url, doc) {
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
        let p = self.provider().await?;
        let nonce = secret::random_token(16);
        let mut u = url::Url::parse(&p.authorization_endpoint)
            .map_err(|e| ConnectorError::Unavailable(format!("authorization_endpoint: {e}")))?;
        let verifier;
        {
            let mut q = u.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.cfg.client_id)
                .append_pair("redirect_uri", &self.cfg.redirect_uri)
                .append_pair("scope", &self.cfg.scopes(offline).join(" "))
                .append_pair("state", state)
                .append_pair("nonce", &nonce);
            let method = self
                .cfg
                .pkce_challenge
                .as_deref()
                .or(p.s256.then_some("S256"));
            verifier = upstream::add_pkce(&mut q, method);
            let prompt = self.cfg.prompt_type.as_deref().unwrap_or("consent");
            if !prompt.is_empty() {
                q.append_pair("prompt", prompt);
            }
            if !self.cfg.acr_values.is_empty() {
                q.append_pair("acr_values", &self.cfg.acr_values.join(" "));
            }
        }
        Ok(Begin {
            url: u.to_string(),
            nonce,
            verifier,
        })
    }

    /// Finish a login from the provider's callback: `code`, and `iss` when the provider sent it.
    pub async fn finish(
        &self,
        code: &str,
        iss: Option<&str>,
        nonce: &str,
        verifier: &str,
    ) -> Result<Identity, ConnectorError> {
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
        let tokens = p
            .token
            .exchange_code(&self.http, code, &self.cfg.redirect_uri, verifier)
            .await?;
        let id_token = tokens
            .id_token
            .as_deref()
            .ok_or_else(|| ConnectorError::Rejected("the provider returned no ID token".into()))?;
        let mut c = self.verify(&p, id_token, Some(nonce)).await?;
        if self.cfg.get_user_info {
            self.merge_userinfo(&p, &tokens.access_token, &mut c)
                .await?;
        }
        let mut identity = self.identity(&c)?;
        identity.connector_data = tokens.refresh_token.map(|rt| self.seal(&rt, &c));
        Ok(identity)
    }

    async fn verify(
        &self,
        p: &Provider,
        token: &str,
        nonce: Option<&str>,
    ) -> Result<Claims, ConnectorError> {
        let issuers = self.cfg.issuers();
        Ok(p.jwks
            .verify(
                &self.http,
                token,
                &Expect {
                    issuers: &issuers,
                    client_id: &self.cfg.client_id,
                    nonce,
                    algorithms: &p.algorithms,
                },
            )
            .await?)
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

    /// Claims to an identity, as Dex's oidc connector maps them.
    fn identity(&self, c: &Claims) -> Result<Identity, ConnectorError> {
        let cfg = &self.cfg;
        let missing =
            |k: &str| ConnectorError::Rejected(format!("the provider sent no \"{k}\" claim"));
        let name_key = cfg.user_name_key.as_deref().unwrap_or("name");
        let username = claims::string(c, name_key).ok_or_else(|| missing(name_key))?;
        let mapped = |std: &str, alt: &Option<String>| -> (Option<String>, String) {
            let v = claims::string(c, std);
            match alt {
                Some(k) if v.is_none() || cfg.override_claim_mapping => {
                    (claims::string(c, k), k.clone())
                }
                _ => (v, std.to_string()),
            }
        };
        let (email, email_key) = mapped("email", &cfg.claim_mapping.email);
        if email.is_none() && cfg.has_email_scope() {
            return Err(missing(&email_key));
        }
        let email_verified = match claims::boolean(c, "email_verified") {
            Some(v) => v,
            None if cfg.insecure_skip_email_verified => true,
            None if cfg.has_email_scope() => return Err(missing("email_verified")),
            None => false,
        };
        let (preferred, _) = mapped("preferred_username", &cfg.claim_mapping.preferred_username);
        let mut groups = Vec::new();
        if cfg.insecure_enable_groups {
            let mut key = "groups".to_string();
            let mut found = claims::groups(c, &key).map_err(ConnectorError::Rejected)?;
            if let Some(k) = &cfg.claim_mapping.groups
                && (found.is_none() || cfg.override_claim_mapping)
            {
                key = k.clone();
                found = claims::groups(c, &key).map_err(ConnectorError::Rejected)?;
            }
            groups = found.unwrap_or_default();
            groups = claims::filter_allowed(groups, &cfg.allowed_groups).ok_or_else(|| {
                ConnectorError::Rejected(format!(
                    "user {username} is not in any of the allowed groups"
                ))
            })?;
        }
        if !cfg.hosted_domains.is_empty() {
            let hd = claims::string(c, "hd").unwrap_or_default();
            if !cfg.hosted_domains.contains(&hd) {
                return Err(ConnectorError::Rejected(format!(
                    "the account's domain `{hd}` is not allowed"
                )));
            }
        }
        let user_id = match cfg.user_id_key.as_deref() {
            None | Some("") => claims::string(c, "sub").ok_or_else(|| missing("sub"))?,
            Some(k) => claims::string(c, k).ok_or_else(|| missing(k))?,
        };
        Ok(Identity {
            user_id,
            username,
            preferred_username: preferred.unwrap_or_default(),
            email: email.unwrap_or_default(),
            email_verified,
            groups,
            connector_id: self.id.clone(),
            connector_data: None,
        })
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
        let tokens = match p.token.refresh(&self.http, &data.refresh_token).await {
            Ok(t) => t,
            Err(UpstreamError::Rejected(m)) => {
                tracing::info!(connector = %self.id, reason = %m, "upstream refused the refresh");
                return Err(ConnectorError::UserGone);
            }
            Err(e) => return Err(e.into()),
        };
        let mut c = match tokens.id_token.as_deref() {
            Some(t) => self.verify(&p, t, None).await?,
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
            self.merge_userinfo(&p, &tokens.access_token, &mut c)
                .await?;
        }
        if claims::string(&c, "sub").as_deref() != Some(data.sub.as_str()) {
            return Err(ConnectorError::Rejected(
                "the provider refreshed another user".into(),
            ));
        }
        let mut identity = self.identity(&c).map_err(|e| {
            tracing::info!(connector = %self.id, error = %e, "refreshed identity refused");
            ConnectorError::UserGone
        })?;
        identity.connector_data = Some(self.seal_sub(&tokens, &data));
        Ok(identity)
    }

    fn seal_sub(&self, tokens: &upstream::TokenSet, old: &Data) -> String {
        let data = Data {
            // Providers that do not rotate send no new refresh token: keep the old one.
            refresh_token: tokens
                .refresh_token
                .clone()
                .unwrap_or_else(|| old.refresh_token.clone()),
            sub: old.sub.clone(),
        };
        self.sealer
            .seal(SEAL_PURPOSE, &serde_json::to_vec(&data).unwrap_or_default())
    }

    /// RFC 8693: the identity an upstream ID token (or access token) proves.
    pub async fn token_identity(
        &self,
        token: &str,
        token_type: &str,
    ) -> Result<Identity, ConnectorError> {
        let p = self.provider().await?;
        let c = match token_type {
            "urn:ietf:params:oauth:token-type:id_token" => self.verify(&p, token, None).await?,
            "urn:ietf:params:oauth:token-type:access_token" => {
                self.access_token_claims(&p, token).await?
            }
            _ => {
                return Err(ConnectorError::Rejected(
                    "subject_token_type must be id_token or access_token".into(),
                ));
            }
        };
        self.identity(&c)
    }

    /// The claims behind an upstream access token, once the provider has proved the token was
    /// issued to this connector's `clientID`: a JWT access token whose signature, issuer and
    /// `aud` verify, or an opaque one that the provider's introspection says is active and
    /// ours. Userinfo alone proves only that the token is valid somewhere: any other
    /// application of the same provider could then trade its users' tokens for Gantry's.
    async fn access_token_claims(
        &self,
        p: &Provider,
        token: &str,
    ) -> Result<Claims, ConnectorError> {
        let proven: Claims = if token.split('.').count() == 3 {
            self.verify(p, token, None).await?
        } else if let Some(url) = p.introspection_endpoint.as_deref() {
            let answer = p.token.introspect(&self.http, url, token).await?;
            let Some(o) = answer.as_object() else {
                return Err(ConnectorError::Rejected(
                    "the introspection answer is not a JSON object".into(),
                ));
            };
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            introspected_for(o, &self.cfg.client_id, &self.cfg.issuers(), now)
                .map_err(ConnectorError::Rejected)?;
            o.clone()
        } else {
            return Err(ConnectorError::Rejected(
                "the provider cannot prove the access token was issued to this connector: it is \
                 no JWT and the provider offers no introspection endpoint"
                    .into(),
            ));
        };
        let Some(url) = p.userinfo_endpoint.as_deref() else {
            return Ok(proven);
        };
        let mut c = proven;
        self.merge_userinfo_from(url, token, &mut c).await?;
        Ok(c)
    }
}

/// Whether an RFC 7662 answer says the token is active and was issued to `client_id` (its
/// `client_id`, or its `aud`), by one of `issuers` when it names one, and is not past its
/// `exp` at `now` (a provider that answers from a cache may still call it active).
fn introspected_for(
    o: &serde_json::Map<String, serde_json::Value>,
    client_id: &str,
    issuers: &[String],
    now: i64,
) -> Result<(), String> {
    if o.get("active") != Some(&serde_json::Value::Bool(true)) {
        return Err("the provider says the access token is not active".into());
    }
    if let Some(exp) = o.get("exp") {
        match exp.as_i64() {
            Some(exp) if exp > now => {}
            Some(_) => return Err("the access token has expired".into()),
            None => return Err("the introspection answer's exp is not a number".into()),
        }
    }
    let aud_has = match o.get("aud") {
        Some(serde_json::Value::String(a)) => a == client_id,
        Some(serde_json::Value::Array(v)) => v.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    };
    if o.get("client_id").and_then(|c| c.as_str()) != Some(client_id) && !aud_has {
        return Err("the access token was issued to another client".into());
    }
    if let Some(iss) = o.get("iss")
        && !issuers.iter().any(|i| Some(i.as_str()) == iss.as_str())
    {
        return Err("the access token was issued by another issuer".into());
    }
    if o.get("sub")
        .and_then(|s| s.as_str())
        .is_none_or(str::is_empty)
    {
        return Err("the introspection answer names no subject".into());
    }
    Ok(())
}

/// Whether `doc` is an OpenID discovery document at all: an issuer, and an authorization
/// endpoint or the response types (OpenID Connect Discovery 3 requires all three; a provider
/// Gantry can log in through has at least the first two). Test must not tell any other JSON
/// from no answer.
fn is_discovery(doc: &serde_json::Value) -> bool {
    doc.get("issuer").is_some_and(|i| i.is_string())
        && (doc
            .get("authorization_endpoint")
            .is_some_and(|a| a.is_string())
            || doc
                .get("response_types_supported")
                .is_some_and(|r| r.is_array()))
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

    fn claims(v: serde_json::Value) -> Claims {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn only_a_discovery_document_counts_as_one() {
        assert!(is_discovery(&json!({"issuer": "https://id.example.com",
            "authorization_endpoint": "https://id.example.com/auth"})));
        assert!(is_discovery(
            &json!({"issuer": "x", "response_types_supported": ["code"]})
        ));
        for other in [
            json!({"issuer": "https://id.example.com"}),
            json!({"issuer": 1, "authorization_endpoint": "x"}),
            json!({"error": "x", "keys": []}),
            json!(["issuer"]),
        ] {
            assert!(!is_discovery(&other), "{other}");
        }
    }

    #[test]
    fn introspection_must_name_this_client_and_issuer() {
        let iss = vec!["https://id.example.com".to_string()];
        let now = 1_800_000_000;
        let ok = |v: serde_json::Value| introspected_for(v.as_object().unwrap(), "g", &iss, now);
        assert!(ok(json!({"active": true, "client_id": "g", "sub": "u"})).is_ok());
        assert!(ok(json!({"active": true, "aud": ["x", "g"], "sub": "u"})).is_ok());
        assert!(
            ok(json!({"active": true, "client_id": "wiki", "sub": "u"}))
                .unwrap_err()
                .contains("another client")
        );
        assert!(ok(json!({"active": true, "sub": "u"})).is_err());
        assert!(ok(json!({"active": false, "client_id": "g", "sub": "u"})).is_err());
        assert!(ok(json!({"active": "true", "client_id": "g", "sub": "u"})).is_err());
        assert!(ok(json!({"active": true, "client_id": "g"})).is_err());
        assert!(ok(json!({"active": true, "client_id": "g", "sub": "u", "exp": now + 60})).is_ok());
        assert!(
            ok(json!({"active": true, "client_id": "g", "sub": "u", "exp": now - 1}))
                .unwrap_err()
                .contains("expired")
        );
        assert!(ok(json!({"active": true, "client_id": "g", "sub": "u", "exp": "soon"})).is_err());
        assert!(
            ok(json!({"active": true, "client_id": "g", "sub": "u", "iss": "https://evil"}))
                .is_err()
        );
    }

    #[test]
    fn claims_map_as_dex_maps_them() {
        let c = claims(
            json!({"sub": "s1", "name": "Ann", "email": "a@x", "email_verified": true,
                              "preferred_username": "ann", "login": "ann.l", "mail": "ann@mail",
                              "groups": ["g1"], "roles": ["r1"], "oid": "o-1"}),
        );
        let plain = connector(json!({})).identity(&c).unwrap();
        assert_eq!(
            (
                plain.user_id.as_str(),
                plain.username.as_str(),
                plain.email.as_str()
            ),
            ("s1", "Ann", "a@x")
        );
        assert!(
            plain.groups.is_empty(),
            "groups only with insecureEnableGroups"
        );

        // claimMapping fills in only what is missing...
        let mapped = connector(json!({"insecureEnableGroups": true, "userIDKey": "oid",
            "claimMapping": {"preferred_username": "login", "email": "mail", "groups": "roles"}}))
        .identity(&c)
        .unwrap();
        assert_eq!(mapped.user_id, "o-1");
        assert_eq!(mapped.preferred_username, "ann");
        assert_eq!(mapped.email, "a@x");
        assert_eq!(mapped.groups, ["g1"]);
        // ...unless overrideClaimMapping says it wins.
        let over = connector(
            json!({"insecureEnableGroups": true, "overrideClaimMapping": true,
            "claimMapping": {"preferred_username": "login", "email": "mail", "groups": "roles"}}),
        )
        .identity(&c)
        .unwrap();
        assert_eq!(
            (over.preferred_username.as_str(), over.email.as_str()),
            ("ann.l", "ann@mail")
        );
        assert_eq!(over.groups, ["r1"]);
    }

    #[test]
    fn missing_email_facts_fail_unless_allowed() {
        let no_verified = claims(json!({"sub": "s", "name": "n", "email": "a@x"}));
        let e = connector(json!({})).identity(&no_verified).unwrap_err();
        assert!(e.to_string().contains("email_verified"), "{e}");
        let ok = connector(json!({"insecureSkipEmailVerified": true}))
            .identity(&no_verified)
            .unwrap();
        assert!(ok.email_verified);
        // Without the email scope, neither is required.
        let no_email = claims(json!({"sub": "s", "name": "n"}));
        assert!(
            connector(json!({"scopes": ["profile"]}))
                .identity(&no_email)
                .is_ok()
        );
        let e = connector(json!({})).identity(&no_email).unwrap_err();
        assert!(e.to_string().contains("\"email\""), "{e}");
        let e = connector(json!({"userNameKey": "upn"}))
            .identity(&no_verified)
            .unwrap_err();
        assert!(e.to_string().contains("upn"), "{e}");
    }

    #[test]
    fn allowed_groups_and_hosted_domains_gate_the_login() {
        let c = claims(
            json!({"sub": "s", "name": "n", "email": "a@x", "email_verified": true,
                              "groups": ["dev", "ops"], "hd": "example.com"}),
        );
        let kept = connector(json!({"insecureEnableGroups": true, "allowedGroups": ["ops"]}))
            .identity(&c)
            .unwrap();
        assert_eq!(kept.groups, ["ops"]);
        assert!(
            connector(json!({"insecureEnableGroups": true, "allowedGroups": ["admins"]}))
                .identity(&c)
                .is_err()
        );
        assert!(
            connector(json!({"hostedDomains": ["example.com"]}))
                .identity(&c)
                .is_ok()
        );
        assert!(
            connector(json!({"hostedDomains": ["other.com"]}))
                .identity(&c)
                .is_err()
        );
        let bad_groups = claims(json!({"sub": "s", "name": "n", "email": "a@x",
                                       "email_verified": true, "groups": [1, 2]}));
        assert!(
            connector(json!({"insecureEnableGroups": true}))
                .identity(&bad_groups)
                .is_err(),
            "a malformed groups claim is an error, not no groups"
        );
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
