//! Logins through a callback connector: send the browser to the provider with a state bound
//! to the stored authorization request and to this browser, and take the provider's answer.

use crate::connector::ConnectorError;
use crate::oauth::Provider;
use crate::oauth::authorize::LoginError;
use crate::oauth::scope::Scopes;
use crate::secret;
use crate::storage::upstream::UpstreamLogin;
use crate::storage::{StorageError, to_json};

/// What a provider's callback carries.
#[derive(Debug, Default, serde::Deserialize)]
pub struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<String>,
    /// RFC 9207.
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// The first `n` characters, for text that came from outside.
fn clip(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

impl Provider {
    /// The provider URL to send the browser to. `browser`: the browser's CSRF cookie, which the
    /// callback must present again.
    pub async fn begin_upstream(
        &self,
        request_id: &str,
        connector_id: &str,
        browser: &str,
    ) -> Result<String, LoginError> {
        let now = self.clock.now();
        let req = match self.store.get_auth_request(request_id, now).await {
            Ok(r) if r.identity.is_none() => r,
            Ok(_) | Err(StorageError::NotFound) => return Err(LoginError::Expired),
            Err(e) => return Err(LoginError::from(e)),
        };
        let Some(conn) = self.connector(connector_id).filter(|c| c.is_callback()) else {
            return Err(LoginError::Expired);
        };
        self.may_log_in_with(&req, connector_id)
            .map_err(|why| LoginError::Rejected(why.into()))?;
        let state = secret::random_token(24);
        let scopes = Scopes::stored(&req.scopes).connector();
        let begin = match conn.begin(&state, scopes, now).await {
            Ok(b) => b,
            Err(ConnectorError::Unavailable(cause)) => {
                self.metrics.login(connector_id, "unavailable");
                return Err(LoginError::Unavailable(cause));
            }
            Err(e) => return Err(LoginError::from(e)),
        };
        self.store
            .create_upstream_login(&UpstreamLogin {
                state_hash: secret::hash_secret(&state),
                request_id: req.id.clone(),
                connector_id: connector_id.to_string(),
                nonce: begin.nonce,
                code_verifier: begin.verifier,
                browser_hash: secret::hash_secret(browser),
                expires_at: req.expires_at,
                identity: None,
            })
            .await
            .map_err(LoginError::from)?;
        Ok(begin.url)
    }

    /// Take a provider's callback; the authorization request id on success, so the browser
    /// goes on to approval. Nothing is recorded unless every check passes.
    pub async fn finish_upstream(
        &self,
        p: &CallbackParams,
        browser: &str,
    ) -> Result<String, LoginError> {
        let r = self.finish_upstream_checked(p, browser).await;
        self.audit_refusal(&r, "callback").await;
        r
    }

    async fn audit_refusal<T>(&self, r: &Result<T, LoginError>, target: &str) {
        if let Err(LoginError::Rejected(why)) = r {
            self.audit(
                "",
                "login",
                target,
                "failure",
                serde_json::json!({ "reason": why }),
            )
            .await;
        }
    }

    async fn finish_upstream_checked(
        &self,
        p: &CallbackParams,
        browser: &str,
    ) -> Result<String, LoginError> {
        let now = self.clock.now();
        let Some(state) = p
            .state
            .as_deref()
            .filter(|s| !s.is_empty() && s.len() <= 256)
        else {
            return Err(LoginError::Rejected(
                "the provider's answer carries no state".into(),
            ));
        };
        let pending = match self
            .store
            .take_upstream_login(&secret::hash_secret(state), now)
            .await
        {
            Ok(l) => l,
            Err(StorageError::NotFound) => return Err(LoginError::Expired),
            Err(e) => return Err(LoginError::from(e)),
        };
        if browser.is_empty()
            || !secret::ct_eq(&pending.browser_hash, &secret::hash_secret(browser))
        {
            return Err(LoginError::WrongBrowser);
        }
        let cid = pending.connector_id.as_str();
        let fail = |why: String| {
            self.metrics.login(cid, "failure");
            tracing::warn!(connector = %cid, reason = %why, "upstream login refused");
            LoginError::Rejected(why)
        };
        if let Some(e) = p.error.as_deref() {
            let desc = p
                .error_description
                .as_deref()
                .map(|d| format!(": {}", clip(d, 200)))
                .unwrap_or_default();
            return Err(fail(format!(
                "the identity provider answered {}{desc}",
                clip(e, 64)
            )));
        }
        let Some(conn) = self.connector(cid).filter(|c| c.is_callback()) else {
            return Err(LoginError::Expired);
        };
        if conn.saml().is_some() {
            // The identity was verified at the POST and parked; this GET proves the browser.
            let Some(json) = pending.identity.as_deref() else {
                return Err(fail("the identity provider's answer never arrived".into()));
            };
            let identity: crate::identity::Identity =
                crate::storage::from_json(json).map_err(LoginError::from)?;
            return self.record_upstream(&pending, &identity, "", now).await;
        }
        let Some(code) = p
            .code
            .as_deref()
            .filter(|c| !c.is_empty() && c.len() <= 4096)
        else {
            return Err(fail("the provider's answer carries no code".into()));
        };
        // What the client asked for decides what some providers are asked (GitHub's groups).
        let scopes = match self.store.get_auth_request(&pending.request_id, now).await {
            Ok(r) => Scopes::stored(&r.scopes).connector(),
            Err(StorageError::NotFound) => return Err(LoginError::Expired),
            Err(e) => return Err(LoginError::from(e)),
        };
        let (identity, amr) = match conn
            .finish(
                code,
                p.iss.as_deref(),
                &pending.nonce,
                &pending.code_verifier,
                scopes,
                now,
            )
            .await
        {
            Ok(i) => i,
            Err(ConnectorError::Unavailable(cause)) => {
                self.metrics.login(cid, "unavailable");
                return Err(LoginError::Unavailable(cause));
            }
            Err(ConnectorError::Rejected(why)) => return Err(fail(why)),
            Err(e) => return Err(LoginError::from(e)),
        };
        self.record_upstream(&pending, &identity, &amr, now).await
    }

    /// `amr`: what the provider said of how the user proved it (stored form).
    async fn record_upstream(
        &self,
        pending: &UpstreamLogin,
        identity: &crate::identity::Identity,
        amr: &str,
        now: i64,
    ) -> Result<String, LoginError> {
        let cid = pending.connector_id.as_str();
        self.metrics.login(cid, "success");
        let who = if identity.email.is_empty() {
            &identity.username
        } else {
            &identity.email
        };
        self.audit(who, "login", cid, "success", serde_json::json!({}))
            .await;
        self.remember_groups(identity).await;
        let json = to_json(identity).map_err(LoginError::from)?;
        match self
            .store
            .set_auth_request_identity(
                &pending.request_id,
                &crate::storage::auth::LoggedIn {
                    connector_id: cid,
                    identity: &json,
                    browser_hash: &pending.browser_hash,
                    amr,
                    remember: None,
                },
                now,
            )
            .await
        {
            Ok(()) => Ok(pending.request_id.clone()),
            Err(StorageError::NotFound) => Err(LoginError::Expired),
            Err(e) => Err(LoginError::from(e)),
        }
    }

    /// Take a SAML IdP's POSTed response for the login `relay_state` names. The IdP's POST is
    /// cross-site, so the browser's cookie does not come with it: the verified identity is
    /// parked on the pending login, and the caller redirects the browser to the GET callback,
    /// which checks the cookie. The connector id on success, for that redirect.
    pub async fn saml_post(
        &self,
        relay_state: &str,
        saml_response: &str,
    ) -> Result<String, LoginError> {
        let r = self.saml_post_checked(relay_state, saml_response).await;
        self.audit_refusal(&r, "saml").await;
        r
    }

    async fn saml_post_checked(
        &self,
        relay_state: &str,
        saml_response: &str,
    ) -> Result<String, LoginError> {
        let now = self.clock.now();
        if relay_state.is_empty() || relay_state.len() > 256 {
            return Err(LoginError::Rejected(
                "the identity provider's answer carries no RelayState (IdP-initiated logins are not accepted)"
                    .into(),
            ));
        }
        let state_hash = secret::hash_secret(relay_state);
        let pending = match self.store.get_upstream_login(&state_hash, now).await {
            Ok(l) if l.identity.is_none() => l,
            Ok(_) | Err(StorageError::NotFound) => return Err(LoginError::Expired),
            Err(e) => return Err(LoginError::from(e)),
        };
        let cid = pending.connector_id.as_str();
        let Some(conn) = self.connector(cid).filter(|c| c.saml().is_some()) else {
            return Err(LoginError::Expired);
        };
        let fail = |why: String| {
            self.metrics.login(cid, "failure");
            tracing::warn!(connector = %cid, reason = %why, "SAML login refused");
            LoginError::Rejected(why)
        };
        let login = match conn
            .finish_saml_post(saml_response, &pending.nonce, now)
            .await
        {
            Ok(l) => l,
            Err(ConnectorError::Rejected(why)) => return Err(fail(why)),
            Err(ConnectorError::Unavailable(cause)) => return Err(LoginError::Unavailable(cause)),
            Err(e) => return Err(LoginError::from(e)),
        };
        if !self
            .store
            .first_use_of_assertion(&login.replay_key, login.valid_until)
            .await
            .map_err(LoginError::from)?
        {
            return Err(fail("this assertion was already used".into()));
        }
        let json = to_json(&login.identity).map_err(LoginError::from)?;
        match self.store.set_upstream_identity(&state_hash, &json).await {
            Ok(()) => Ok(cid.to_string()),
            Err(StorageError::NotFound) => Err(LoginError::Expired),
            Err(e) => Err(LoginError::from(e)),
        }
    }
}
