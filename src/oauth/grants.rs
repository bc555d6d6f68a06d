//! The token endpoint's grants: authorization_code, refresh_token, password, client_credentials.

use std::net::IpAddr;

use serde::Deserialize;

use crate::config::GrantType;
use crate::connector::{Connector, ConnectorError, PasswordCheck};
use crate::identity::Identity;
use crate::oauth::Provider;
use crate::oauth::audit::{Checked, CredentialCheck};
use crate::oauth::client::Client;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::pkce;
use crate::oauth::request::TokenRequest;
use crate::oauth::scope::Scopes;
use crate::oauth::tokens::{Grant, Login, TokenResponse};
use crate::storage::StorageError;
use crate::storage::refresh::RefreshToken;
use crate::{secret, storage};

/// `/token` form parameters, as sent.
#[derive(Debug, Default, Deserialize)]
pub struct TokenParams {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub device_code: Option<String>,
    pub connector_id: Option<String>,
    pub subject_token: Option<String>,
    pub subject_token_type: Option<String>,
    pub requested_token_type: Option<String>,
}

/// Client credentials as presented: from HTTP Basic or from the form body.
#[derive(Debug, Default)]
pub struct ClientAuth {
    pub id: Option<String>,
    pub secret: Option<String>,
}

impl Provider {
    /// Authenticate the calling client (RFC 6749 2.3.1); one method per request.
    pub fn authenticate_client(
        &self,
        basic: Option<ClientAuth>,
        form_id: Option<&str>,
        form_secret: Option<&str>,
    ) -> Result<std::sync::Arc<Client>, OAuthError> {
        let auth = match basic {
            Some(b) => {
                if form_secret.is_some() {
                    return Err(OAuthError::invalid_request(
                        "use one client authentication method",
                    ));
                }
                if form_id.is_some_and(|f| Some(f) != b.id.as_deref()) {
                    return Err(OAuthError::invalid_client());
                }
                b
            }
            None => ClientAuth {
                id: form_id.map(String::from),
                secret: form_secret.map(String::from),
            },
        };
        let Some(id) = auth.id.as_deref().filter(|s| !s.is_empty()) else {
            return Err(OAuthError::invalid_client());
        };
        self.clients.authenticate(id, auth.secret.as_deref())
    }

    /// [`Provider::authenticate_client`] for a request from `addr`, with the failed-credential
    /// throttle: an address that keeps failing is refused before any secret is compared.
    /// A client id guessed at from many addresses is not slowed down, unlike a user name:
    /// that would let anyone slow a busy service down.
    pub async fn authenticate_client_from(
        &self,
        basic: Option<ClientAuth>,
        form_id: Option<&str>,
        form_secret: Option<&str>,
        addr: IpAddr,
    ) -> Result<std::sync::Arc<Client>, OAuthError> {
        let name = basic
            .as_ref()
            .and_then(|b| b.id.as_deref())
            .or(form_id)
            .map(|id| format!("client:{id}"))
            .unwrap_or_default();
        let now = self.clock.now();
        let id = name.strip_prefix("client:").unwrap_or_default().to_string();
        if self.throttle.check(now, &name, addr) == crate::throttle::Verdict::Locked {
            self.audit_client_auth(&id, addr, true).await;
            return Err(OAuthError::new(
                ErrorCode::InvalidClient,
                "too many failed attempts from this address; try again later",
            ));
        }
        let r = self.authenticate_client(basic, form_id, form_secret);
        if r.is_err() {
            self.throttle.failed(now, &name, addr);
            self.audit_client_auth(&id, addr, false).await;
        }
        r
    }

    /// Run one `/token` request for an authenticated client; `addr` is the client's address,
    /// which the password grant's failed-login throttle counts on.
    pub async fn token(
        &self,
        client: std::sync::Arc<Client>,
        p: TokenParams,
        addr: IpAddr,
    ) -> Result<TokenResponse, OAuthError> {
        let asked = p.grant_type.as_deref().unwrap_or_default();
        let r = self.run_grant(&client, asked, &p, addr).await;
        // A name the client made up is counted, logged and stored as one label, never as sent.
        let grant = GrantType::parse(asked).map_or("unsupported", GrantType::as_str);
        self.metrics.token(grant, r.is_ok());
        // One line per answer (the table keeps counts per hour: a row per token would cost a
        // database write on paths that need none). Never a token, only what identifies it.
        let (outcome, detail) = match &r {
            Ok(t) => (
                "issued",
                serde_json::json!({ "refresh": t.refresh_token.is_some() }),
            ),
            Err(e) => ("refused", serde_json::json!({ "error": e.code.as_str() })),
        };
        crate::oauth::audit::log_only(
            &format!("client:{}", client.id),
            "token.issue",
            grant,
            outcome,
            &detail,
        );
        self.issuance
            .record(self.clock.now(), grant, &client.id, r.is_ok());
        r
    }

    /// The grant's answer, or why the request is refused before any grant runs.
    async fn run_grant(
        &self,
        client: &Client,
        asked: &str,
        p: &TokenParams,
        addr: IpAddr,
    ) -> Result<TokenResponse, OAuthError> {
        if asked.is_empty() {
            return Err(OAuthError::invalid_request("grant_type is required"));
        }
        let Some(grant) = GrantType::parse(asked).filter(|g| self.grants.contains(g)) else {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("unsupported grant_type {asked}"),
            ));
        };
        if !client.grant_allowed(grant, &self.grants) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                format!("client may not use {grant}"),
            ));
        }
        // Without a connector to ask, the password grant is not on, whatever the form holds.
        let password_connector = match grant {
            GrantType::Password => Some(self.password_connector_in_use()?),
            _ => None,
        };
        // Before any password is looked at: a refused connector is no oracle for it.
        if password_connector
            .as_ref()
            .is_some_and(|c| !client.connector_allowed(c.id()))
        {
            return Err(crate::oauth::allowed_connectors::not_allowed());
        }
        match TokenRequest::parse(grant, p)? {
            TokenRequest::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                self.code_grant(client, code, redirect_uri, code_verifier)
                    .await
            }
            TokenRequest::RefreshToken {
                refresh_token,
                scope,
            } => self.refresh_grant(client, refresh_token, scope).await,
            TokenRequest::Password {
                username,
                password,
                scope,
            } => {
                let Some(conn) = password_connector else {
                    return Err(OAuthError::server("password grant without a connector"));
                };
                self.password_grant(client, &conn, username, password, scope, addr)
                    .await
            }
            TokenRequest::ClientCredentials { scope } => {
                self.client_credentials_grant(client, scope).await
            }
            TokenRequest::DeviceCode { device_code } => {
                self.device_grant(client, device_code).await
            }
            TokenRequest::TokenExchange(x) => self.token_exchange(client, x).await,
        }
    }

    /// `oauth2.passwordConnector`, while that connector exists.
    fn password_connector_in_use(&self) -> Result<std::sync::Arc<Connector>, OAuthError> {
        self.password_connector
            .as_deref()
            .and_then(|id| self.connector(id))
            .ok_or_else(|| {
                OAuthError::new(
                    ErrorCode::UnsupportedGrantType,
                    "no password connector is configured",
                )
            })
    }

    /// An admin client's tokens issued in or before the second its secret was rotated (or it
    /// was deleted or left the admin clients) are refused by the admin API, since `iat` counts
    /// whole seconds; a token asked for in that same second is issued once the second is over,
    /// so it is never one of them. At most a second's wait, and only for admin clients.
    async fn wait_past_token_floor(&self, client_id: &str) -> Result<(), OAuthError> {
        if !self
            .policy
            .get()
            .compiled
            .admins
            .clients
            .iter()
            .any(|c| c == client_id)
        {
            return Ok(());
        }
        let floor = self.store.client_token_floor(client_id).await?;
        if self.clock.now() <= floor {
            let into_second = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let rest = 1_000_000_000u32.saturating_sub(into_second);
            tokio::time::sleep(std::time::Duration::from_nanos(u64::from(rest) + 1_000_000)).await;
        }
        Ok(())
    }

    async fn code_grant(
        &self,
        client: &Client,
        code: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let hash = secret::hash_secret(code);
        let row = match self.store.get_auth_code(&hash).await {
            Ok(r) => r,
            Err(StorageError::NotFound) => {
                return Err(OAuthError::invalid_grant("invalid or expired code"));
            }
            Err(e) => return Err(e.into()),
        };
        if row.client_id != client.id {
            return Err(OAuthError::invalid_grant(
                "code was issued to another client",
            ));
        }
        let now = self.clock.now();
        if row.used_at.is_some() {
            return Err(self.code_replayed(client, &hash, now).await);
        }
        // A request that fails a check below still spends the code: it was presented once.
        let hash_ref = hash.as_str();
        let refused = |why: &'static str| async move {
            match self.store.claim_auth_code(hash_ref, now).await {
                Ok(_) => OAuthError::invalid_grant(why),
                Err(e) => e.into(),
            }
        };
        if row.expires_at <= now {
            return Err(refused("invalid or expired code").await);
        }
        if redirect_uri != Some(row.redirect_uri.as_str()) {
            return Err(refused("redirect_uri does not match the authorization request").await);
        }
        match (row.code_challenge.is_empty(), code_verifier) {
            (true, None) => {}
            (true, Some(_)) => {
                return Err(refused("code_verifier sent but no code_challenge was").await);
            }
            (false, None) => return Err(refused("code_verifier is required").await),
            (false, Some(v)) => {
                if !pkce::verify(&row.code_challenge, &row.code_challenge_method, v) {
                    return Err(refused("code_verifier does not match").await);
                }
            }
        }
        let identity: Identity = storage::from_json(&row.identity)?;
        let scopes = Scopes::stored(&row.scopes);
        // Tokens are made first and the code is spent with a record of them in one write; the
        // refresh family is stored only once the code is ours.
        let (minted, family) = self.mint_login(
            client,
            &identity,
            &scopes,
            Login {
                nonce: &row.nonce,
                auth_time: row.auth_time,
                sid: row.session_id.as_deref(),
                amr: &row.amr,
            },
        )?;
        let family_id = family.as_ref().map(|f| f.family_id.as_str());
        if !self
            .store
            .redeem_auth_code(&hash, now, &minted.access_jti, minted.access_exp, family_id)
            .await?
        {
            return Err(self.code_replayed(client, &hash, now).await);
        }
        if let Some(f) = &family {
            self.store.create_refresh_token(f).await?;
        }
        Ok(minted.response)
    }

    /// A replayed code: whatever it issued may be in an attacker's hands (RFC 6749 4.1.2).
    async fn code_replayed(&self, client: &Client, hash: &str, now: i64) -> OAuthError {
        let revoke = async {
            let row = self.store.get_auth_code_fresh(hash).await?;
            if let Some(jti) = &row.access_jti {
                let until = row.access_expires_at.unwrap_or(now + self.expiry.id_tokens);
                self.revoke_access_token(jti, until).await?;
            }
            if let Some(fam) = &row.refresh_family {
                self.store.revoke_refresh_family(fam, now).await?;
            }
            Ok::<_, StorageError>(row.refresh_family)
        };
        let family = match revoke.await {
            Ok(family) => family,
            Err(e) => return e.into(),
        };
        tracing::warn!(client = %client.id, "authorization code reused; revoked what it issued");
        self.audit(
            "",
            "code.replay",
            &client.id,
            "revoked",
            serde_json::json!({
                "family": family,
                "reason": "a spent authorization code was presented again",
            }),
        )
        .await;
        OAuthError::invalid_grant("code was already used")
    }

    /// Tokens for a fresh login, with a new refresh family when offline access was granted
    /// and the client may refresh; the family id too, for revocation bookkeeping.
    pub(crate) async fn login_tokens(
        &self,
        client: &Client,
        identity: &Identity,
        scopes: &Scopes,
        login: Login<'_>,
    ) -> Result<(crate::oauth::tokens::Minted, Option<String>), OAuthError> {
        let (minted, family) = self.mint_login(client, identity, scopes, login)?;
        let id = match family {
            Some(f) => {
                self.store.create_refresh_token(&f).await?;
                Some(f.family_id)
            }
            None => None,
        };
        Ok((minted, id))
    }

    /// `login_tokens` without storing: the refresh family's first row is returned to store.
    fn mint_login(
        &self,
        client: &Client,
        identity: &Identity,
        scopes: &Scopes,
        login: Login<'_>,
    ) -> Result<(crate::oauth::tokens::Minted, Option<RefreshToken>), OAuthError> {
        let (refresh, family) = if scopes.has("offline_access")
            && client.grant_allowed(GrantType::RefreshToken, &self.grants)
        {
            let (token, row) = self.refresh_family_row(&client.id, identity, scopes, login)?;
            (Some(token), Some(row))
        } else {
            (None, None)
        };
        let minted = self.mint(Grant {
            client_id: &client.id,
            identity,
            scopes,
            login,
            refresh_token: refresh,
            client_only: false,
        })?;
        Ok((minted, family))
    }

    async fn password_grant(
        &self,
        client: &Client,
        conn: &Connector,
        user: &str,
        pass: &str,
        scope: Option<&str>,
        addr: IpAddr,
    ) -> Result<TokenResponse, OAuthError> {
        let scopes = Scopes::parse(scope.unwrap_or("openid"), client, &self.clients)?;
        let check = |checked| CredentialCheck {
            via: "password_grant",
            connector: conn.id(),
            login: user,
            checked,
            address: addr,
            client: Some(&client.id),
        };
        if self.credential_check_locked(user, addr).await {
            self.audit_credentials(check(Checked::Throttled)).await;
            return Err(OAuthError::invalid_grant(
                "too many failed logins from this address; try again later",
            ));
        }
        let now = self.clock.now();
        let identity = match conn.login(user, pass).await {
            Ok(PasswordCheck::Accepted(i)) => i,
            Ok(PasswordCheck::Refused { known_login }) => {
                self.throttle.failed(now, user, addr);
                self.metrics.login(conn.id(), "failure");
                self.audit_credentials(check(Checked::Refused { known_login }))
                    .await;
                return Err(OAuthError::invalid_grant("invalid username or password"));
            }
            Err(e) => {
                if matches!(e, ConnectorError::Unavailable(_)) {
                    self.audit_credentials(check(Checked::Unavailable)).await;
                }
                return Err(e.into());
            }
        };
        self.throttle.succeeded(user, addr);
        self.metrics.login(conn.id(), "success");
        self.audit_credentials(check(Checked::Accepted(&identity)))
            .await;
        self.remember_groups(&identity).await;
        self.no_factor_due(&client.id, &scopes.peers, "pwd", &identity)
            .await?;
        Ok(self
            .login_tokens(client, &identity, &scopes, Login::plain(now, "pwd"))
            .await?
            .0
            .response)
    }

    async fn client_credentials_grant(
        &self,
        client: &Client,
        scope: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        if client.public {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "public clients cannot use client_credentials",
            ));
        }
        self.wait_past_token_floor(&client.id).await?;
        let scopes = Scopes::parse(scope.unwrap_or_default(), client, &self.clients)?;
        if scopes.has("offline_access") {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                "offline_access is not available to client_credentials",
            ));
        }
        let identity = Identity {
            user_id: client.id.clone(),
            username: client.name.clone(),
            ..Default::default()
        };
        Ok(self
            .mint(Grant {
                client_id: &client.id,
                identity: &identity,
                scopes: &scopes,
                login: Login::plain(self.clock.now(), ""),
                refresh_token: None,
                client_only: true,
            })?
            .response)
    }
}
