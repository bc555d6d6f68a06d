//! The authorization endpoint's protocol: validate `/auth`, log in, approve, issue a code.
//!
//! Until the client and redirect URI are known good, errors are shown to the user and never
//! redirected: a redirect to an unchecked URI is an open redirector.

use serde::Deserialize;

use crate::connector::{ConnectorError, PasswordCheck};
use crate::identity::Identity;
use crate::oauth::Provider;
use crate::oauth::allowed_connectors::{Entry, NO_CONNECTOR, NoEntry};
use crate::oauth::audit::{Checked, CredentialCheck};
use crate::oauth::device::DeviceConfirmation;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::pkce;
use crate::oauth::scope::Scopes;
use crate::oauth::session::{Browser, CookieChange};
use crate::secret;
use crate::storage::auth::{AuthCode, AuthRequest, LoggedIn};
use crate::storage::{StorageError, to_json};

const CODE_TTL: i64 = 600;

/// `/auth` query or form parameters, as sent.
#[derive(Debug, Default, Deserialize)]
pub struct AuthorizeParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub connector_id: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub id_token_hint: Option<String>,
    pub login_hint: Option<String>,
    pub acr_values: Option<String>,
}

/// A request's `prompt` (OpenID Connect Core 3.1.2.1).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

impl Prompt {
    /// `none` with anything else is an error; values Gantry does not know (`select_account`
    /// has no meaning with one account per browser) are ignored.
    pub fn parse(s: &str) -> Result<Prompt, OAuthError> {
        let mut p = Prompt::default();
        for v in s.split(' ').filter(|v| !v.is_empty()) {
            match v {
                "none" => p.none = true,
                "login" => p.login = true,
                "consent" => p.consent = true,
                _ => {}
            }
        }
        if p.none && (p.login || p.consent) {
            return Err(OAuthError::invalid_request(
                "prompt=none cannot be combined with other values",
            ));
        }
        Ok(p)
    }

    /// As stored on the request.
    fn stored(self) -> String {
        [
            (self.none, "none"),
            (self.login, "login"),
            (self.consent, "consent"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, v)| *v)
        .collect::<Vec<_>>()
        .join(" ")
    }
}

/// What a browser is told while Gantry's database is away.
pub const SIGN_IN_UNAVAILABLE: &str = "Sign-in is briefly unavailable. Try again in a few seconds.";

/// How an authorization error reaches the user.
#[derive(Debug)]
pub enum AuthorizeError {
    /// Shown on an error page: the redirect URI cannot be trusted, or there is none.
    Page {
        kind: Refusal,
        message: String,
    },
    /// Sent back to the client's checked redirect URI.
    Redirect(String),
    Internal(String),
}

/// What kind of failure an error page reports; the HTTP layer picks its status from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The request is malformed, unknown, expired or already used.
    Invalid,
    /// The login belongs to another browser.
    OtherBrowser,
    /// Too many unfinished logins from one network.
    TooMany,
    /// Gantry's database is not answering.
    Unavailable,
    /// The login names a connector that does not exist.
    NotFound,
    /// The request's client may not log in through the connector named.
    NotAllowed,
}

impl From<StorageError> for AuthorizeError {
    fn from(e: StorageError) -> Self {
        if e.is_unavailable() {
            tracing::error!(error = %e, "authorization: database unavailable");
            return AuthorizeError::Page {
                kind: Refusal::Unavailable,
                message: SIGN_IN_UNAVAILABLE.into(),
            };
        }
        AuthorizeError::Internal(e.to_string())
    }
}

/// Where the browser goes after a valid `/auth`.
#[derive(Debug)]
pub enum Next {
    Connector {
        request_id: String,
        connector_id: String,
    },
    /// The chooser, with the connectors the request's client may use.
    Choose {
        request_id: String,
        connectors: Vec<std::sync::Arc<crate::connector::Connector>>,
    },
    /// The browser's session logged the request in; the user is asked to approve it.
    Approve { request_id: String },
    /// The browser's session logged the request in and nothing needs asking.
    Finished(Finished),
    /// The browser's session logged the request in, and a second factor it has not given is
    /// due (a step-up).
    SecondFactor { request_id: String },
}

/// A finished request: where the browser goes, and what its session cookie becomes.
#[derive(Debug)]
pub struct Finished {
    pub redirect: String,
    pub cookie: Option<CookieChange>,
}

impl Next {
    /// The next step of a stored request that logs in through `entry`.
    pub(crate) fn of(request_id: String, entry: Entry) -> Next {
        match entry {
            Entry::Connector(connector_id) => Next::Connector {
                request_id,
                connector_id,
            },
            Entry::Choose(connectors) => Next::Choose {
                request_id,
                connectors,
            },
        }
    }
}

/// Why a password login did not succeed.
#[derive(Debug)]
pub enum LoginError {
    /// The request expired or was already used.
    Expired,
    Throttled,
    BadCredentials,
    /// The identity source did not answer; the text is for the log.
    Unavailable(String),
    /// The provider refused the login or its answer failed a check; the text says which.
    Rejected(String),
    /// A provider's callback arrived in another browser than the one that left for it.
    WrongBrowser,
    /// Gantry's own database did not answer; the text is for the log.
    StorageUnavailable(String),
    Internal(String),
}

impl From<StorageError> for LoginError {
    fn from(e: StorageError) -> Self {
        if e.is_unavailable() {
            LoginError::StorageUnavailable(e.to_string())
        } else {
            LoginError::Internal(e.to_string())
        }
    }
}

impl From<ConnectorError> for LoginError {
    fn from(e: ConnectorError) -> Self {
        match e {
            ConnectorError::Storage(e) => e.into(),
            ConnectorError::Unavailable(cause) => LoginError::Unavailable(cause),
            ConnectorError::Rejected(why) => LoginError::Rejected(why),
            e => LoginError::Internal(e.to_string()),
        }
    }
}

/// The approval page's content.
#[derive(Debug)]
pub struct Approval {
    pub client_name: String,
    pub scopes: Vec<String>,
    pub username: String,
    /// Set when the login signs in a device: then the page is the device confirmation.
    pub device: Option<DeviceConfirmation>,
}

/// What follows a login: a question for the user, or (`skipApprovalScreen`, never for a
/// device) the finished request's redirect.
#[derive(Debug)]
pub enum ApprovalStep {
    Ask(Approval),
    Done(Finished),
    /// A second factor is due first (see `oauth::second_factor`).
    SecondFactor,
}

fn page(kind: Refusal, message: impl Into<String>) -> AuthorizeError {
    AuthorizeError::Page {
        kind,
        message: message.into(),
    }
}

/// `redirect_uri` with `params` appended to its query.
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in params {
                    if !v.is_empty() {
                        q.append_pair(k, v);
                    }
                }
            }
            u.to_string()
        }
        Err(_) => redirect_uri.to_string(),
    }
}

fn error_redirect(uri: &str, state: &str, e: &OAuthError) -> AuthorizeError {
    AuthorizeError::Redirect(redirect_with(
        uri,
        &[
            ("error", e.code.as_str()),
            ("error_description", &e.description),
            ("state", state),
        ],
    ))
}

impl Provider {
    /// Note the groups of a login for RBAC output; a failure only costs that.
    pub async fn remember_groups(&self, identity: &Identity) {
        if let Err(e) = self
            .store
            .record_groups(&identity.groups, self.clock.now())
            .await
        {
            tracing::warn!(error = %e, "could not record groups");
        }
    }

    /// Validate an authorization request and store it.
    /// Check an authorization request and store it; `from` is the browser's address, whose
    /// unfinished logins are capped.
    pub async fn start_authorization(
        &self,
        p: AuthorizeParams,
        browser: &Browser,
    ) -> Result<Next, AuthorizeError> {
        let from = browser.address;
        let client_id = p.client_id.as_deref().unwrap_or_default();
        let Some(client) = self.clients.get(client_id) else {
            return Err(page(
                Refusal::Invalid,
                "Unknown client: the application that sent you here is not registered.",
            ));
        };
        let Some(redirect_uri) = p.redirect_uri.as_deref().filter(|s| !s.is_empty()) else {
            return Err(page(Refusal::Invalid, "The request has no redirect_uri."));
        };
        if !client.redirect_allowed(redirect_uri) {
            return Err(page(
                Refusal::Invalid,
                "The redirect_uri is not registered for this client.",
            ));
        }
        let state = p.state.clone().unwrap_or_default();
        let fail = |e: OAuthError| error_redirect(redirect_uri, &state, &e);
        if [
            &p.state,
            &p.nonce,
            &p.scope,
            &p.code_challenge,
            &p.login_hint,
            &p.acr_values,
            &p.max_age,
        ]
        .iter()
        .any(|v| v.as_ref().is_some_and(|s| s.len() > 2048))
            || p.id_token_hint.as_ref().is_some_and(|h| h.len() > 16384)
        {
            return Err(fail(OAuthError::invalid_request("a parameter is too long")));
        }
        match p.response_type.as_deref() {
            Some("code") => {}
            None | Some("") => {
                return Err(fail(OAuthError::invalid_request(
                    "response_type is required",
                )));
            }
            Some(_) => {
                return Err(fail(OAuthError::new(
                    ErrorCode::UnsupportedResponseType,
                    "only response_type=code is supported",
                )));
            }
        }
        if !client.grant_allowed(crate::config::GrantType::AuthorizationCode, &self.grants) {
            return Err(fail(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "client may not use the authorization code grant",
            )));
        }
        let scopes = Scopes::parse(
            p.scope.as_deref().unwrap_or_default(),
            &client,
            &self.clients,
        )
        .map_err(fail)?;
        if !scopes.has("openid") {
            return Err(fail(OAuthError::new(
                ErrorCode::InvalidScope,
                "the openid scope is required",
            )));
        }
        let challenge = p.code_challenge.clone().unwrap_or_default();
        let offered = self.pkce.methods();
        let method = match (challenge.is_empty(), p.code_challenge_method.as_deref()) {
            (true, _) => String::new(),
            // RFC 7636: no method means plain.
            (false, m)
                if pkce::method_supported(m.unwrap_or("plain"))
                    && offered.contains(&m.unwrap_or("plain")) =>
            {
                m.unwrap_or("plain").to_string()
            }
            (false, _) => {
                return Err(fail(OAuthError::invalid_request(format!(
                    "code_challenge_method must be {}",
                    offered.join(" or ")
                ))));
            }
        };
        if !challenge.is_empty() && !(43..=128).contains(&challenge.len()) {
            return Err(fail(OAuthError::invalid_request(
                "code_challenge has the wrong length",
            )));
        }
        if challenge.is_empty() && (client.require_pkce || self.pkce.enforce) {
            return Err(fail(OAuthError::invalid_request(
                "this client must use PKCE (code_challenge)",
            )));
        }
        let prompt = Prompt::parse(p.prompt.as_deref().unwrap_or_default()).map_err(fail)?;
        let max_age = match p.max_age.as_deref().filter(|m| !m.is_empty()) {
            None => None,
            Some(m) => Some(m.parse::<u32>().map(i64::from).map_err(|_| {
                fail(OAuthError::invalid_request(
                    "max_age must be a whole number of seconds",
                ))
            })?),
        };
        // Whose session the client expects; an expired ID token still says (Core 3.1.2.1).
        let hinted = match p.id_token_hint.as_deref().filter(|h| !h.is_empty()) {
            None => None,
            Some(h) => Some(self.hint_subject(h).ok_or_else(|| {
                fail(OAuthError::invalid_request(
                    "id_token_hint is not an ID token this server issued",
                ))
            })?),
        };
        let entry = match self.entry(&client, p.connector_id.as_deref()) {
            Ok(e) => e,
            Err(NoEntry::Unknown) => {
                return Err(fail(OAuthError::invalid_request("unknown connector_id")));
            }
            Err(NoEntry::NotAllowed) => {
                return Err(fail(OAuthError::invalid_request(
                    "connector not allowed for this client",
                )));
            }
            Err(NoEntry::NoneLeft) => return Err(page(Refusal::Invalid, NO_CONNECTOR)),
        };
        let connector_id = match &entry {
            Entry::Connector(id) => Some(id.clone()),
            Entry::Choose(_) => None,
        };
        let now = self.clock.now();
        let mut req = AuthRequest {
            id: secret::random_token(24),
            client_id: client.id.clone(),
            redirect_uri: redirect_uri.to_string(),
            scopes: scopes.joined(),
            state: state.clone(),
            nonce: p.nonce.unwrap_or_default(),
            code_challenge: challenge,
            code_challenge_method: method,
            connector_id: connector_id.clone(),
            identity: None,
            browser_hash: None,
            logged_in_at: None,
            created_at: now,
            expires_at: now + self.expiry.auth_requests,
            session_id: None,
            amr: String::new(),
            prompt: prompt.stored(),
            max_age,
            acr_values: p.acr_values.unwrap_or_default(),
            login_hint: p.login_hint.unwrap_or_default(),
            remember: i64::from(self.sessions.remember_me_checked_by_default),
        };
        if !prompt.login
            && let Some(next) = self
                .log_in_from_session(&mut req, &client, &entry, hinted.as_deref(), browser)
                .await?
        {
            return match next {
                Next::Approve { .. } if prompt.none => {
                    self.store.delete_auth_request(&req.id).await?;
                    Err(fail(OAuthError::new(
                        ErrorCode::ConsentRequired,
                        "the user has not approved this client in this session",
                    )))
                }
                // Dex: an MFA step under prompt=none is interaction_required.
                Next::SecondFactor { .. } if prompt.none => {
                    self.store.delete_auth_request(&req.id).await?;
                    Err(fail(OAuthError::new(
                        ErrorCode::InteractionRequired,
                        "a second factor is required, which needs a page",
                    )))
                }
                next => Ok(next),
            };
        }
        if prompt.none {
            return Err(fail(OAuthError::new(
                ErrorCode::LoginRequired,
                "no signed-in session can answer this request without a page",
            )));
        }
        let key = from.map(|ip| crate::ratelimit::address_key(ip).to_string());
        let cap = self.limits.pending_logins_per_address();
        if !self
            .store
            .create_auth_request_from(&req, key.as_deref(), cap)
            .await?
        {
            tracing::warn!(address = ?from, cap, "login refused: too many unfinished logins from one address");
            return Err(page(
                Refusal::TooMany,
                "Too many logins were started from your network and not finished. Finish or \
                 close the open ones, or try again later.",
            ));
        }
        Ok(Next::of(req.id, entry))
    }

    /// A pending request, or an error page if it expired.
    pub async fn pending_request(&self, id: &str) -> Result<AuthRequest, AuthorizeError> {
        match self.store.get_auth_request(id, self.clock.now()).await {
            // A request the browser's session logged in lives only as long as that session:
            // a page left open must not mint tokens after logout or an admin's sign-out.
            Ok(r) if r.session_id.is_some() => {
                let sid = r.session_id.as_deref().unwrap_or_default();
                let live = match self.store.get_browser_session(sid).await {
                    Ok(s) => s.ended(self.clock.now()).is_none(),
                    Err(StorageError::NotFound) => false,
                    Err(e) => return Err(e.into()),
                };
                if live {
                    return Ok(r);
                }
                self.store.delete_auth_request(&r.id).await?;
                Err(page(
                    Refusal::Invalid,
                    "Your sign-in ended (you signed out, or it expired) before this login was \
                     finished. Go back to the application and start again.",
                ))
            }
            Ok(r) => Ok(r),
            Err(StorageError::NotFound) => Err(page(
                Refusal::Invalid,
                "This login request has expired or was already used. Go back to the application and start again.",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// The connector a pending request's login page logs in through: one that exists and that
    /// the request may use (see [`Provider::may_log_in_with`]).
    pub async fn login_connector(
        &self,
        request_id: &str,
        connector_id: &str,
    ) -> Result<std::sync::Arc<crate::connector::Connector>, AuthorizeError> {
        let req = self.pending_request(request_id).await?;
        let Some(conn) = self.connector(connector_id) else {
            return Err(page(Refusal::NotFound, "Unknown login method."));
        };
        self.may_log_in_with(&req, connector_id).map_err(|why| {
            page(
                Refusal::NotAllowed,
                format!("You cannot log in here: {why}."),
            )
        })?;
        Ok(conn)
    }

    /// Check a password for a pending request and record who logged in, and in which browser
    /// (`browser`: a secret only that browser holds, its CSRF cookie).
    pub async fn password_login(
        &self,
        request_id: &str,
        connector_id: &str,
        username: &str,
        password: &str,
        browser: &Browser,
        remember: Option<bool>,
    ) -> Result<(), LoginError> {
        let addr = browser
            .address
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let now = self.clock.now();
        let req = match self.store.get_auth_request(request_id, now).await {
            Ok(r) if r.identity.is_none() => r,
            Ok(_) | Err(StorageError::NotFound) => return Err(LoginError::Expired),
            Err(e) => return Err(e.into()),
        };
        let Some(conn) = self.connector(connector_id).filter(|c| c.is_password()) else {
            return Err(LoginError::Expired);
        };
        // Before the password is looked at: a refused connector is no oracle for it.
        self.may_log_in_with(&req, connector_id)
            .map_err(|why| LoginError::Rejected(why.into()))?;
        let check = |checked| CredentialCheck {
            via: "form",
            connector: connector_id,
            login: username,
            checked,
            address: addr,
            client: Some(&req.client_id),
        };
        if self.credential_check_locked(username, addr).await {
            self.metrics.login(connector_id, "throttled");
            self.audit_credentials(check(Checked::Throttled)).await;
            return Err(LoginError::Throttled);
        }
        let identity = match conn.login(username, password).await {
            Ok(PasswordCheck::Accepted(i)) => i,
            Ok(PasswordCheck::Refused { known_login }) => {
                self.throttle.failed(now, username, addr);
                self.metrics.login(connector_id, "failure");
                self.audit_credentials(check(Checked::Refused { known_login }))
                    .await;
                return Err(LoginError::BadCredentials);
            }
            Err(ConnectorError::Unavailable(cause)) => {
                self.metrics.login(connector_id, "unavailable");
                self.audit_credentials(check(Checked::Unavailable)).await;
                return Err(LoginError::Unavailable(cause));
            }
            Err(e) => return Err(e.into()),
        };
        self.throttle.succeeded(username, addr);
        self.metrics.login(connector_id, "success");
        self.audit_credentials(check(Checked::Accepted(&identity)))
            .await;
        self.remember_groups(&identity).await;
        let json = to_json(&identity)?;
        let browser_hash = secret::hash_secret(&browser.csrf);
        match self
            .store
            .set_auth_request_identity(
                &req.id,
                &LoggedIn {
                    connector_id,
                    identity: &json,
                    browser_hash: &browser_hash,
                    amr: "pwd",
                    remember,
                },
                now,
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(StorageError::NotFound) => Err(LoginError::Expired),
            Err(e) => Err(e.into()),
        }
    }

    /// What follows the login of a request whose user logged in in this browser: the approval
    /// page, or with `skipApprovalScreen` the finished request. A device's login always asks.
    /// The admin UI never asks: it is Gantry itself, and its one redirect URI is Gantry's own
    /// callback, so there is no third party to consent to.
    pub async fn approval(
        &self,
        request_id: &str,
        browser: &Browser,
    ) -> Result<ApprovalStep, AuthorizeError> {
        let req = self.pending_request(request_id).await?;
        let identity = logged_in(&req, &browser.csrf)?;
        if self.second_factor_due(&req, &identity).await?.is_some() {
            return Ok(ApprovalStep::SecondFactor);
        }
        let device = self.device_confirmation(&req).await.transpose()?;
        let first_party = req.client_id == crate::config::ADMIN_CLIENT;
        let asked_consent = req.prompt.split(' ').any(|p| p == "consent");
        let settled = first_party
            || (!asked_consent && (self.skip_approval || self.consent_remembered(&req).await?));
        if settled && device.is_none() {
            return self
                .decide(&req, identity, true, browser)
                .await
                .map(ApprovalStep::Done);
        }
        let client_name = self
            .clients
            .get(&req.client_id)
            .map(|c| c.name.clone())
            .unwrap_or_default();
        Ok(ApprovalStep::Ask(Approval {
            client_name,
            scopes: Scopes::stored(&req.scopes).list,
            username: identity.username,
            device,
        }))
    }

    /// Finish a request: a code on approval, `access_denied` otherwise. Returns the redirect.
    /// Only the browser that logged in may finish: otherwise whoever learns the request id could
    /// take the victim's code into their own session at the client.
    pub async fn finish(
        &self,
        request_id: &str,
        approved: bool,
        browser: &Browser,
    ) -> Result<Finished, AuthorizeError> {
        let req = self.pending_request(request_id).await?;
        let identity = logged_in(&req, &browser.csrf)?;
        self.decide(&req, identity, approved, browser).await
    }

    /// Record the decision on a request its user logged in to.
    async fn decide(
        &self,
        req: &AuthRequest,
        identity: Identity,
        approved: bool,
        browser: &Browser,
    ) -> Result<Finished, AuthorizeError> {
        // Whatever page was skipped: no code (nor device) without the second factor due.
        if approved && self.second_factor_due(req, &identity).await?.is_some() {
            return Err(page(
                Refusal::NotAllowed,
                "This login needs a second factor first. Go back to the application and start again.",
            ));
        }
        if let Some(done) = self.finish_device(req, &identity, approved).await {
            return done.map(|redirect| Finished {
                redirect,
                cookie: None,
            });
        }
        if !approved {
            self.store.delete_auth_request(&req.id).await?;
            let e = OAuthError::new(ErrorCode::AccessDenied, "the user denied the request");
            return Err(error_redirect(&req.redirect_uri, &req.state, &e));
        }
        let kept = self
            .keep_session(req, &identity, browser, &req.scopes)
            .await?;
        let (session_id, cookie) = kept.map_or((None, None), |(sid, c)| (Some(sid), c));
        let code = secret::random_token(32);
        let row = AuthCode {
            code_hash: secret::hash_secret(&code),
            client_id: req.client_id.clone(),
            redirect_uri: req.redirect_uri.clone(),
            scopes: req.scopes.clone(),
            nonce: req.nonce.clone(),
            code_challenge: req.code_challenge.clone(),
            code_challenge_method: req.code_challenge_method.clone(),
            identity: to_json(&identity)?,
            auth_time: req.logged_in_at.unwrap_or(req.created_at),
            expires_at: self.clock.now() + CODE_TTL,
            used_at: None,
            access_jti: None,
            access_expires_at: None,
            refresh_family: None,
            session_id,
            amr: req.amr.clone(),
        };
        match self.store.exchange_request_for_code(&req.id, &row).await {
            Ok(()) => {}
            Err(StorageError::NotFound) => {
                return Err(page(
                    Refusal::Invalid,
                    "This login request was already used.",
                ));
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Finished {
            redirect: redirect_with(&req.redirect_uri, &[("code", &code), ("state", &req.state)]),
            cookie,
        })
    }

    /// Log `req` in from the browser's session when one may: it is live, the client accepts
    /// its connector (and the request names no other), the client is one it logged in to or
    /// shares, `max_age` is not exceeded, an `id_token_hint` names its user, and the
    /// connector still vouches for that user. Then the request is stored logged in and the
    /// approval decides what follows; `None` leaves the request to a login page.
    pub(crate) async fn log_in_from_session(
        &self,
        req: &mut AuthRequest,
        client: &crate::oauth::client::Client,
        entry: &Entry,
        hinted: Option<&str>,
        browser: &Browser,
    ) -> Result<Option<Next>, AuthorizeError> {
        let Some(s) = self.live_session(browser).await? else {
            return Ok(None);
        };
        if matches!(entry, Entry::Connector(id) if *id != s.connector_id)
            || hinted.is_some_and(|sub| sub != s.subject)
            // max_age=0 always logs in again: no session is younger than zero seconds.
            || req
                .max_age
                .is_some_and(|m| self.clock.now() - s.auth_time >= m)
            || browser.csrf.is_empty()
            || self.connector(&s.connector_id).is_none()
            || self.reuse_for(&s, client).await?.is_none()
        {
            return Ok(None);
        }
        let Some(identity) = self.session_user(&s).await? else {
            return Ok(None);
        };
        req.identity = Some(to_json(&identity)?);
        req.connector_id = Some(s.connector_id.clone());
        req.browser_hash = Some(secret::hash_secret(&browser.csrf));
        req.logged_in_at = Some(s.auth_time);
        req.session_id = Some(s.id.clone());
        req.amr = s.amr.clone();
        req.remember = s.remember;
        self.store.create_auth_request_from(req, None, 0).await?;
        self.remember_groups(&identity).await;
        Ok(Some(match self.approval(&req.id, browser).await? {
            ApprovalStep::Done(f) => Next::Finished(f),
            ApprovalStep::Ask(_) => Next::Approve {
                request_id: req.id.clone(),
            },
            ApprovalStep::SecondFactor => Next::SecondFactor {
                request_id: req.id.clone(),
            },
        }))
    }

    /// Whether the user approved the request's client for at least its scopes earlier in the
    /// session that logged it in.
    async fn consent_remembered(&self, req: &AuthRequest) -> Result<bool, StorageError> {
        let Some(sid) = &req.session_id else {
            return Ok(false);
        };
        let states = self.store.session_clients(sid).await?;
        let Some(state) = states.iter().find(|c| c.client_id == req.client_id) else {
            return Ok(false);
        };
        let approved: Vec<&str> = state.scopes.split(' ').collect();
        Ok(req
            .scopes
            .split(' ')
            .filter(|s| !s.is_empty())
            .all(|s| approved.contains(&s)))
    }

    /// The subject of an ID token this server signed, expired or not.
    fn hint_subject(&self, token: &str) -> Option<String> {
        // An access token is signed by the same keys: it is no ID token.
        let typ = jsonwebtoken::decode_header(token).ok()?.typ;
        if typ.is_some_and(|t| t.eq_ignore_ascii_case("at+jwt")) {
            return None;
        }
        self.keys
            .verify::<crate::oauth::tokens::Claims>(token, &self.validation(false))
            .ok()
            .map(|c| c.sub)
    }
}

pub(crate) fn logged_in(req: &AuthRequest, browser: &str) -> Result<Identity, AuthorizeError> {
    let (Some(json), Some(bound)) = (req.identity.as_deref(), req.browser_hash.as_deref()) else {
        return Err(page(
            Refusal::Invalid,
            "You have not logged in for this request yet.",
        ));
    };
    if browser.is_empty() || !secret::ct_eq(bound, &secret::hash_secret(browser)) {
        return Err(page(
            Refusal::OtherBrowser,
            "This login was completed in another browser. Start again from the application.",
        ));
    }
    serde_json::from_str(json).map_err(|e| AuthorizeError::Internal(e.to_string()))
}
